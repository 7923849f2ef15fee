// `everruns bench --only inflight-kill` (scripts/bench/inflight.ts): how fast the runs a killed
// worker was running went on, from the database clock.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const LatencyRowSchema = z.object({
  /** null: the sweeper never freed the attempt's job */
  freed_ms: z.number().nullable(),
  /** null: no other pool began a later attempt of the run */
  resumed_ms: z.number().nullable(),
});

export interface ResumeLatencies {
  /** runs whose attempt the kill interrupted */
  interrupted: number;
  /** ms from the kill to the sweeper freeing the job, of each interrupted run whose job was freed */
  freed: number[];
  /** ms from the kill to the run's next attempt on another pool, of each interrupted run that resumed */
  resumed: number[];
}

/**
 * Per run that the dead pool was running at killedAt (a databaseNow() value): ms from killedAt to
 * the sweeper freeing the attempt's job (detection: the engine's own part), and to the first later
 * attempt of that run (the interrupted step again, or the next one when its commit raced the kill)
 * begun by another pool (resume: detection plus the wait for a free slot of the survivor).
 */
export async function benchResumeLatencies(db: Queryable, runIds: string[], deadPool: string, killedAt: string): Promise<ResumeLatencies> {
  const { rows } = await db.query(
    `with hit as (
       select distinct on (a.run_id) a.run_id, a.seq, a.attempt, a.freed_at from everruns.run_attempts a
       where a.run_id = any($1) and a.pool_id = $2 and a.started_at <= $3::timestamptz
         and a.outcome is distinct from 'committed' and (a.ended_at is null or a.ended_at >= $3::timestamptz)
       order by a.run_id, a.seq, a.attempt)
     select extract(epoch from (h.freed_at - $3::timestamptz)) * 1000 as freed_ms,
            extract(epoch from (
              (select min(b.started_at) from everruns.run_attempts b
               where b.run_id = h.run_id and b.pool_id <> $2 and (b.seq, b.attempt) > (h.seq, h.attempt)) - $3::timestamptz)) * 1000 as resumed_ms
     from hit h`,
    [runIds, deadPool, killedAt],
  );
  const parsed = z.array(LatencyRowSchema).parse(rows);
  const present = (v: number | null): v is number => v !== null;
  return {
    interrupted: parsed.length,
    freed: parsed.map((r) => r.freed_ms).filter(present),
    resumed: parsed.map((r) => r.resumed_ms).filter(present),
  };
}
