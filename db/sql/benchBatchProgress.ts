import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

const count = z.coerce.number().int().min(0);
const BatchProgressSchema = z.object({
  total: count,
  queued: count,
  running: count,
  succeeded: count,
  failed: count,
  cancelled: count,
  items_per_minute: z.coerce.number().nullable(),
  eta_seconds: z.coerce.number().nullable(),
});
export type BenchBatchProgress = z.infer<typeof BatchProgressSchema>;

/** `everruns bench --only batch`: everruns.batch_progress(id) — the batch's counters (summed shards), items/min and ETA. */
export async function benchBatchProgress(db: Queryable, batchId: string): Promise<BenchBatchProgress> {
  try {
    const { rows } = await db.query(
      "select total, queued, running, succeeded, failed, cancelled, items_per_minute, eta_seconds from everruns.batch_progress($1)",
      [batchId],
    );
    return BatchProgressSchema.parse(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
