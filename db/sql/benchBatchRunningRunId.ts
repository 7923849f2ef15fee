import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only batch`: the run of one of a batch's items in flight (null: none). */
export async function benchBatchRunningRunId(db: Queryable, batchId: string): Promise<string | null> {
  const { rows } = await db.query("select run_id from everruns.batch_items where batch_id = $1 and status = 'running' limit 1", [batchId]);
  return rows.length === 0 ? null : z.object({ run_id: z.string().uuid() }).parse(rows[0]).run_id;
}
