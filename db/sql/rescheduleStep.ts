import { z } from "zod";
import type { Queryable } from "../pool.ts";
import type { AgUiEvent } from "./appendEvents.ts";
import type { JobRef } from "./commitStep.ts";

const RescheduledSchema = z.object({ rescheduled: z.boolean(), job_held: z.boolean().optional() });

/**
 * Hands step `seq` back to the queue uncommitted (everruns_private.reschedule_step): after a
 * transient failure (countError, with a backoff delay) or when the worker shuts down.
 * `rescheduled` is false when this attempt had already been fenced out; `jobHeld` false when the
 * worker no longer holds `job` and must not complete it.
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
): Promise<{ rescheduled: boolean; jobHeld: boolean }> {
  const { rows } = await db.query<{ result: unknown }>("select everruns_private.reschedule_step($1, $2, $3, $4, $5, $6, $7) as result", [
    runId,
    seq,
    attempt,
    Math.round(delayMs),
    countError,
    JSON.stringify(events),
    job ? JSON.stringify(job) : null,
  ]);
  const result = RescheduledSchema.parse(rows[0]!.result);
  return { rescheduled: result.rescheduled, jobHeld: result.job_held ?? true };
}
