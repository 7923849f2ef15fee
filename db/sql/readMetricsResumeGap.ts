// The worker's resume-after-crash metric (worker/metrics.ts): how long a step whose previous
// attempt died with its worker waited to begin again.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const GapSchema = z.object({ gap_s: z.number().nullable() });

/**
 * Seconds from the death of the attempt before (run, seq, attempt) being detected (the sweeper
 * freed its job: run_attempts.freed_at) to this attempt's start, both on the database clock; null
 * when the attempt before did not end with its worker's death (a retry, a hand-back, a fence).
 */
export async function readMetricsResumeGap(db: Queryable, runId: string, seq: number, attempt: number): Promise<number | null> {
  const { rows } = await db.query(
    `select extract(epoch from (cur.started_at - coalesce(prev.freed_at, prev.ended_at, prev.last_event_at, prev.started_at)))::float8 as gap_s
       from everruns.run_attempts cur
       join lateral (select p.* from everruns.run_attempts p
                      where p.run_id = cur.run_id and (p.seq, p.attempt) < (cur.seq, cur.attempt)
                      order by p.seq desc, p.attempt desc limit 1) prev on prev.outcome = 'worker_died'
      where cur.run_id = $1 and cur.seq = $2 and cur.attempt = $3`,
    [runId, seq, attempt],
  );
  return rows[0] ? GapSchema.parse(rows[0]).gap_s : null;
}
