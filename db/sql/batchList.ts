import type { Queryable } from "../pool.ts";
import { BATCH_VIEW_COLUMNS, type BatchView } from "./batchGet.ts";

export interface ListBatchesOptions {
  /** At most this many, newest first. */
  limit: number;
  /** Only batches in this status. */
  status?: string | null;
}

/**
 * The workspace's batches (row-level security), newest first, with their progress: one index
 * scan of batches_workspace_created_idx and a sum of each batch's counter shards (at most 16 rows
 * per batch), so a page costs the same whatever the number of items.
 */
export async function listBatches(db: Queryable, options: ListBatchesOptions): Promise<BatchView[]> {
  const { rows } = await db.query<BatchView>(
    `select ${BATCH_VIEW_COLUMNS} from everruns.batches b
      where $2::text is null or b.status = $2
      order by b.created_at desc, b.id desc
      limit $1`,
    [options.limit, options.status ?? null],
  );
  return rows;
}
