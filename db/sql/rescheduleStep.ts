import type { Pool } from "../pool.ts";
import type { AgUiEvent } from "./appendEvents.ts";
import type { JobRef } from "./commitStep.ts";

/**
 * Hands step `seq` back to the queue uncommitted (everruns_private.reschedule_step): after a
 * transient failure (countError, with a backoff delay) or when the worker shuts down. `job`, the
 * job the attempt runs in, is released first if a sweeper freed it (see enqueue_step).
 * Returns false when this attempt had already been fenced out.
 */
export async function rescheduleStep(
  pool: Pool,
  runId: string,
  seq: number,
  attempt: number,
  delayMs: number,
  countError: boolean,
  events: AgUiEvent[],
  job?: JobRef,
): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>("select everruns_private.reschedule_step($1, $2, $3, $4, $5, $6, $7) as ok", [
    runId,
    seq,
    attempt,
    Math.round(delayMs),
    countError,
    JSON.stringify(events),
    job ? JSON.stringify(job) : null,
  ]);
  return rows[0]!.ok;
}
