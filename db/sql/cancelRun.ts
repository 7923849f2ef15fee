import { fromDatabaseError } from "../errors.ts";
import type { Pool } from "../pool.ts";

/** Cancels a run (everruns.cancel_run). True when this call cancelled it, false when it had already finished. */
export async function cancelRun(pool: Pool, runId: string): Promise<boolean> {
  try {
    const { rows } = await pool.query<{ cancelled: boolean }>("select everruns.cancel_run($1) as cancelled", [runId]);
    return rows[0]!.cancelled;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
