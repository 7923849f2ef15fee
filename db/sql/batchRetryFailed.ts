import type { Queryable } from "../pool.ts";
import { batchStateError } from "./batchControl.ts";

/** everruns.retry_failed_items refuses more at once (000025). */
export const MAX_RETRY_CUSTOM_IDS = 100_000;

/**
 * Queues the batch's failed items again (those of `customIds` only, when given; cancelled ones
 * too with `includeCancelled`), keeping their custom_id; an ended batch runs again. Returns how
 * many were re-queued (everruns.retry_failed_items, audited as batch.retried).
 */
export async function retryFailedItems(db: Queryable, batchId: string, customIds: string[] | null, includeCancelled: boolean): Promise<number> {
  try {
    const { rows } = await db.query<{ n: number }>("select everruns.retry_failed_items($1, $2::text[], $3) as n", [batchId, customIds, includeCancelled]);
    return rows[0]!.n;
  } catch (error) {
    throw batchStateError(error);
  }
}
