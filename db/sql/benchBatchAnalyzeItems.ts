import type { Queryable } from "../pool.ts";

/** Refreshes the planner's statistics of batch_items (after a bulk insert, as autovacuum would in time). */
export async function benchAnalyzeBatchItems(db: Queryable): Promise<void> {
  await db.query("analyze everruns.batch_items");
}
