import type { Queryable } from "../pool.ts";

/** Refreshes the planner's statistics of runs (after a bulk insert, as autovacuum would in time). */
export async function benchAnalyzeRuns(db: Queryable): Promise<void> {
  await db.query("analyze everruns.runs");
}
