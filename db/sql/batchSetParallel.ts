import type { Queryable } from "../pool.ts";
import { batchStateError } from "./batchControl.ts";

/**
 * Sets how many items of the batch may be in flight at once (everruns.set_batch_parallel):
 * raising it releases queued items at once, lowering it lets running ones finish. Returns the
 * batch's status.
 */
export async function setBatchParallel(db: Queryable, batchId: string, maxParallel: number): Promise<string> {
  try {
    const { rows } = await db.query<{ status: string }>("select status from everruns.set_batch_parallel($1, $2)", [batchId, maxParallel]);
    return rows[0]!.status;
  } catch (error) {
    throw batchStateError(error);
  }
}
