import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only batch` (throughput): vacuums what a round leaves dead (the index entries
 * of admitted runs and released items, which the next round's admission scans would walk) and
 * refreshes statistics, so that every round starts from the same state whatever ran before it.
 */
export async function benchVacuumRunTables(db: Queryable): Promise<void> {
  await db.query("vacuum (analyze) everruns.runs, everruns.batch_items, everruns.threads, everruns.run_steps, everruns.run_events, everruns.run_attempts");
}
