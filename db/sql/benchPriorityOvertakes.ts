import { z } from "zod";
import type { Queryable } from "../pool.ts";

const OvertakesSchema = z.object({
  waitMs: z.coerce.number().nullable(),
  admittedBefore: z.number().int().min(0),
  startedBefore: z.number().int().min(0),
});
export type PriorityOvertakes = z.infer<typeof OvertakesSchema>;

/**
 * `everruns bench --only fairness`: a run's wait (created → its first step's start; null while it
 * has not started) and the other runs of its workspace that went ahead of it meanwhile: admitted
 * after it was created and before it was admitted, and started after it was created and before it
 * started (the database clock).
 */
export async function benchPriorityOvertakes(db: Queryable, runId: string): Promise<PriorityOvertakes> {
  const { rows } = await db.query(
    `select extract(epoch from (h.started_at - h.created_at)) * 1000 as "waitMs",
            (select count(*)::int from everruns.runs r
              where r.workspace_id = h.workspace_id and r.id <> h.id
                and r.admitted_at > h.created_at and r.admitted_at < coalesce(h.admitted_at, 'infinity')) as "admittedBefore",
            (select count(*)::int from everruns.runs r
              where r.workspace_id = h.workspace_id and r.id <> h.id
                and r.started_at > h.created_at and r.started_at < coalesce(h.started_at, 'infinity')) as "startedBefore"
       from everruns.runs h where h.id = $1`,
    [runId],
  );
  return OvertakesSchema.parse(rows[0]);
}
