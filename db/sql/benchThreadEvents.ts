import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ThreadEventSchema = z.object({
  run_id: z.string().uuid(),
  /** the activation's status: pending, started, failed */
  activation_status: z.string(),
  /** the run's status; null while the event is pending (its run not inserted yet) */
  run_status: z.string().nullable(),
  /** epoch ms, database clock */
  arrived_ms: z.coerce.number(),
  started_ms: z.coerce.number().nullable(),
  finished_ms: z.coerce.number().nullable(),
  /** activation created_at → started_at: ~0 when the event's own trigger() call inserted its run */
  queued_ms: z.coerce.number().nullable(),
});
export type ThreadEvent = z.infer<typeof ThreadEventSchema>;

/**
 * `everruns bench --only always-on`: the events of an agent's long-lived thread `key` in arrival
 * order (everruns.activations' order), each with its run's status and times (epoch ms).
 */
export async function benchThreadEvents(db: Queryable, agentId: string, key: string): Promise<ThreadEvent[]> {
  const { rows } = await db.query(
    `select a.run_id, a.status as activation_status, r.status as run_status,
            extract(epoch from a.created_at) * 1000 as arrived_ms,
            extract(epoch from r.started_at) * 1000 as started_ms,
            extract(epoch from r.finished_at) * 1000 as finished_ms,
            extract(epoch from (a.started_at - a.created_at)) * 1000 as queued_ms
       from everruns.threads t
       join everruns.activations a on a.thread_id = t.id
       left join everruns.runs r on r.id = a.run_id
      where t.agent_id = $1 and t.key = $2
      order by a.created_at, a.id`,
    [agentId, key],
  );
  return z.array(ThreadEventSchema).parse(rows);
}
