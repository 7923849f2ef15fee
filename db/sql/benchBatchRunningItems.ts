import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only batch`: a batch's items in flight now, counted (batch_items_running_idx),
 * not read from its counters: what max_parallel bounds, checked independently of them.
 */
export async function benchBatchRunningItems(db: Queryable, batchId: string): Promise<number> {
  const { rows } = await db.query("select count(*)::int as n from everruns.batch_items where batch_id = $1 and status = 'running'", [batchId]);
  return z.object({ n: z.number().int().min(0) }).parse(rows[0]).n;
}
