import { ValidationError, fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * Reruns a failed or cancelled run (everruns.rerun_run, 000015/000016): a new run on the same
 * thread with the same agent version and input, linked by rerun_of, audited as run.rerun on the
 * original, that replaces the original in the thread's history. With `fromStep`, the new run
 * continues from the original's committed step `fromStep` (its input and steps up to that one,
 * then an LLM call); only the thread's latest run can be rerun so. Returns the new run's id. An
 * unknown run (or another workspace's) is NotFoundError; a run that is not failed or cancelled,
 * a continuation, a run already rerun, or a step it does not have, ValidationError.
 */
export async function rerunRun(db: Queryable, runId: string, fromStep: number | null = null): Promise<string> {
  if (fromStep !== null && (!Number.isSafeInteger(fromStep) || fromStep < 0)) {
    throw new ValidationError(`the step to rerun from must be a step number (0 or more), got ${String(fromStep)}`);
  }
  try {
    const { rows } = await db.query<{ id: string }>("select everruns.rerun_run($1::uuid, $2::int) as id", [runId, fromStep]);
    return rows[0]!.id;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
