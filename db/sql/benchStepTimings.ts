import type { Queryable } from "../pool.ts";

export interface StepTimings {
  steps: number;
  /** runs that did not succeed */
  failed: number;
  /** from the first run's creation to the last step's commit */
  seconds: number;
  /** ms from a step's commit to the begin of the run's next step */
  gap_p50: number;
  gap_p99: number;
  /** ms from a step's begin to its commit */
  step_p50: number;
}

/** Throughput and step-to-step latency of these runs, all from the database clock (run_steps). */
export async function benchStepTimings(db: Queryable, runIds: string[]): Promise<StepTimings> {
  const { rows } = await db.query<StepTimings>(
    `with s as (select * from everruns.run_steps where run_id = any($1)),
          gaps as (select extract(epoch from (b.started_at - a.finished_at)) * 1000 as ms
                   from s a join s b on b.run_id = a.run_id and b.seq = a.seq + 1)
     select (select count(*)::int from s) as steps,
            (select count(*)::int from everruns.runs where id = any($1) and status <> 'succeeded') as failed,
            (select extract(epoch from (max(finished_at) - (select min(created_at) from everruns.runs where id = any($1)))) from s) as seconds,
            (select percentile_cont(0.5) within group (order by ms) from gaps) as gap_p50,
            (select percentile_cont(0.99) within group (order by ms) from gaps) as gap_p99,
            (select percentile_cont(0.5) within group (order by duration_ms) from s) as step_p50`,
    [runIds],
  );
  return rows[0]!;
}
