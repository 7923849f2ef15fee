import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * Reruns a failed or cancelled run (everruns.rerun_run, 000015): a new run on the same thread
 * with the same agent version and input, linked by rerun_of, audited as run.rerun on the
 * original. Returns the new run's id. An unknown run (or another workspace's) is NotFoundError;
 * a run that is not failed or cancelled, or a continuation, ValidationError.
 */
export async function rerunRun(db: Queryable, runId: string): Promise<string> {
  try {
    const { rows } = await db.query<{ id: string }>("select everruns.rerun_run($1) as id", [runId]);
    return rows[0]!.id;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
