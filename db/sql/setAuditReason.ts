import { textProblem } from "../../lib/storable-json.ts";
import { ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** The longest reason an operator may give for an action (the audit triggers keep 500 characters: 000015). */
export const MAX_REASON_CHARS = 500;

/**
 * Sets the operator's reason for what the rest of this transaction does (`everruns.reason`,
 * transaction-local like `everruns.actor`): the audit triggers of cancel_run, resume_run,
 * send_event and rerun_run record it as details.reason (000015). Must run inside the
 * transaction of the action; null or blank sets nothing.
 */
export async function setAuditReason(db: Queryable, reason: string | null | undefined): Promise<void> {
  const trimmed = (reason ?? "").trim();
  if (trimmed === "") return;
  if (trimmed.length > MAX_REASON_CHARS) {
    throw new ValidationError(`the reason is ${trimmed.length} characters; the limit is ${MAX_REASON_CHARS}. Shorten it.`, { code: "limit_exceeded" });
  }
  const problem = textProblem(trimmed);
  if (problem) throw new ValidationError(`invalid reason: ${problem}`);
  await db.query("select set_config('everruns.reason', $1, true)", [trimmed]);
}
