import type { Queryable } from "../pool.ts";

/** `everruns bench --only event-log`: the planner's statistics after a bulk fill, as autovacuum would refresh them in time (partitions included). */
export async function benchEventLogAnalyze(db: Queryable): Promise<void> {
  await db.query("analyze everruns.runs, everruns.threads, everruns.run_events, everruns.run_steps");
}
