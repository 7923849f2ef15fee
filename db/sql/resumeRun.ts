import { describeStorableProblem, findStorableProblem } from "../../lib/storable-json.ts";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * Answers an interrupted run's interrupts (everruns.resume_run); returns the id of the run that
 * continues the work on the same thread. Calling it again with the same answers returns the same
 * continuation, so a retried request is harmless. Answers Postgres cannot store (NUL, too deep)
 * are refused before JSON.stringify, naming the field.
 */
export async function resumeRun(db: Queryable, runId: string, resume: unknown[]): Promise<string> {
  const problem = findStorableProblem(resume, "resume");
  if (problem) throw new ValidationError(`invalid resume: ${describeStorableProblem(problem)}`, { code: "invalid_resume" });
  try {
    const { rows } = await db.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [runId, JSON.stringify(resume)]);
    return rows[0]!.id;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
