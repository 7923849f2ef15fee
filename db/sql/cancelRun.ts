import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * Cancels a run (everruns.cancel_run): the worker running it aborts its LLM or tool call within a
 * second. True when this call cancelled it, false when it had already finished.
 */
export async function cancelRun(db: Queryable, runId: string): Promise<boolean> {
  try {
    const { rows } = await db.query<{ cancelled: boolean }>("select everruns.cancel_run($1) as cancelled", [runId]);
    return rows[0]!.cancelled;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
