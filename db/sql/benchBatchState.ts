import { z } from "zod";
import type { Queryable } from "../pool.ts";

const BatchStateSchema = z.object({
  status: z.string(),
  ended: z.boolean(),
});
export type BenchBatchState = z.infer<typeof BatchStateSchema>;

/** `everruns bench --only batch`: a batch's status, and whether it has ended (finished_at set). */
export async function benchBatchState(db: Queryable, batchId: string): Promise<BenchBatchState> {
  const { rows } = await db.query("select status, finished_at is not null as ended from everruns.batches where id = $1", [batchId]);
  if (rows.length === 0) throw new Error(`batch ${batchId} not found`);
  return BatchStateSchema.parse(rows[0]);
}
