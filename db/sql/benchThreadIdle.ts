import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ThreadIdleSchema = z.object({
  active: z.number().int().min(0),
  pending: z.number().int().min(0),
  thread_jobs: z.number().int().min(0),
  locked_jobs: z.number().int().min(0),
});
export type ThreadIdle = z.infer<typeof ThreadIdleSchema>;

/**
 * `everruns bench --only always-on`: what an agent's long-lived thread `key` holds now: its runs
 * queued, running or waiting, its pending events, the graphile-worker jobs of its runs (the public
 * jobs view, `run:<id>` keys), and the locked jobs of the whole database (the worker slots busy).
 */
export async function benchThreadIdle(db: Queryable, agentId: string, key: string): Promise<ThreadIdle> {
  const { rows } = await db.query(
    `with t as (select id from everruns.threads where agent_id = $1 and key = $2)
     select (select count(*)::int from everruns.runs r
              where r.thread_id in (select id from t) and r.status in ('queued', 'running', 'waiting')) as active,
            (select count(*)::int from everruns.activations a
              where a.thread_id in (select id from t) and a.status = 'pending') as pending,
            (select count(*)::int from graphile_worker.jobs j join everruns.runs r on j.key = 'run:' || r.id::text
              where r.thread_id in (select id from t)) as thread_jobs,
            (select count(*)::int from graphile_worker.jobs j where j.locked_at is not null) as locked_jobs`,
    [agentId, key],
  );
  return ThreadIdleSchema.parse(rows[0]);
}
