import type { Queryable } from "../pool.ts";
import type { BatchResultsCursor } from "./batchResults.ts";

export interface BatchResultsState {
  /** The batch has ended and none of its items is queued or running (an ended batch's queued items are cancelled by the sweep, in chunks). */
  settled: boolean;
  /** Some finished item lies past the cursor, visible to batch_results or not yet (an older transaction still open). */
  pending: boolean;
}

/**
 * Whether a follower of the batch's results is done: once `settled` and not `pending`, no result
 * will ever come past the cursor (unless someone retries the batch's items: a new follow then).
 * Unknown batch: null. Both probes are index scans (batch_items_status_idx, batch_items_results_idx).
 */
export async function readBatchResultsState(db: Queryable, batchId: string, after: BatchResultsCursor | null): Promise<BatchResultsState | null> {
  const { rows } = await db.query<BatchResultsState>(
    `select b.finished_at is not null
              and not exists (select from everruns.batch_items i where i.batch_id = b.id and i.status = 'queued')
              and not exists (select from everruns.batch_items i where i.batch_id = b.id and i.status = 'running') as settled,
            exists (select from everruns.batch_items i
                     where i.batch_id = b.id and i.result_xid is not null
                       and ($2::xid8 is null or (i.result_xid, i.id) > ($2::xid8, $3::uuid))) as pending
       from everruns.batches b where b.id = $1`,
    [batchId, after?.xid ?? null, after?.id ?? null],
  );
  return rows[0] ?? null;
}
