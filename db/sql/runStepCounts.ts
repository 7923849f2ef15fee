import type { Queryable } from "../pool.ts";

export interface RunStepCount {
  run_id: string;
  /** committed steps */
  n: number;
  /** the highest committed seq */
  max: number;
}

/** Per run (of those with any): how many steps are committed and the highest seq. */
export async function runStepCounts(db: Queryable, runIds: string[]): Promise<RunStepCount[]> {
  const { rows } = await db.query<RunStepCount>(
    "select run_id, count(*)::int as n, max(seq) as max from everruns.run_steps where run_id = any($1) group by 1",
    [runIds],
  );
  return rows;
}
