import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ThroughputSchema = z.object({
  runs: z.number().int().min(0),
  finished: z.number().int().min(0),
  seconds: z.coerce.number().nullable(),
});
export type BatchRunsThroughput = z.infer<typeof ThroughputSchema>;

/**
 * `everruns bench --only batch`: the runs of a batch, how many finished, and the seconds from the
 * first one's creation (start_batch) to the last one's end, from the database clock: the same
 * measure as benchRunsThroughput's of independent runs.
 */
export async function benchBatchRunsThroughput(db: Queryable, batchId: string): Promise<BatchRunsThroughput> {
  const { rows } = await db.query(
    `select count(*)::int as runs, count(finished_at)::int as finished,
            extract(epoch from (max(finished_at) - min(created_at))) as seconds
       from everruns.runs where batch_id = $1`,
    [batchId],
  );
  return ThroughputSchema.parse(rows[0]);
}
