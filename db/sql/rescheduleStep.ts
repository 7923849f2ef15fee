import { z } from "zod";
import type { Queryable } from "../pool.ts";
import type { AgUiEvent } from "./appendEvents.ts";
import type { JobRef } from "./commitStep.ts";
import { deferringStatement, parseNotifications, type StepStatementOptions, type WithNotifications } from "./deferredNotifications.ts";

const RescheduledSchema = z.object({ rescheduled: z.boolean(), job_held: z.boolean().optional() });

const RESCHEDULE_CALL = "everruns_private.reschedule_step($1, $2, $3, $4, $5, $6, $7)";
const RESCHEDULE = `select ${RESCHEDULE_CALL} as result`;
const RESCHEDULE_DEFERRED = deferringStatement(RESCHEDULE_CALL);

/**
 * Hands step `seq` back to the queue uncommitted (everruns_private.reschedule_step): after a
 * transient failure (countError, with a backoff delay) or when the worker shuts down.
 * `rescheduled` is false when this attempt had already been fenced out; `jobHeld` false when the
 * worker no longer holds `job` and must not complete it. `notifications`: what the transaction
 * would have sent, when `opts.deferNotifications` (deferredNotifications.ts); else none.
 */
export async function rescheduleStep(
  db: Queryable,
  runId: string,
  seq: number,
  attempt: number,
  delayMs: number,
  countError: boolean,
  events: AgUiEvent[],
  job?: JobRef,
  opts?: StepStatementOptions,
): Promise<{ rescheduled: boolean; jobHeld: boolean } & WithNotifications> {
  const { rows } = await db.query<{ result: unknown; notifications?: string | null }>(opts?.deferNotifications ? RESCHEDULE_DEFERRED : RESCHEDULE, [
    runId,
    seq,
    attempt,
    Math.round(delayMs),
    countError,
    JSON.stringify(events),
    job ? JSON.stringify(job) : null,
  ]);
  const result = RescheduledSchema.parse(rows[0]!.result);
  return { rescheduled: result.rescheduled, jobHeld: result.job_held ?? true, notifications: parseNotifications(rows[0]!.notifications) };
}
