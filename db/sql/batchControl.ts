import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** The controls of a batch, each an everruns function of 000025 that returns the batch's row. */
export const BATCH_CONTROLS = ["start", "pause", "resume", "cancel"] as const;
export type BatchControl = (typeof BATCH_CONTROLS)[number];

// Fixed texts, one per control: the action picks a statement, it never becomes SQL text.
const STATEMENTS: Record<BatchControl, string> = {
  start: "select status from everruns.start_batch($1)",
  pause: "select status from everruns.pause_batch($1)",
  resume: "select status from everruns.resume_batch($1)",
  cancel: "select status from everruns.cancel_batch($1)",
};

/**
 * Starts, pauses, resumes or cancels a batch; returns its new status. An unknown batch (another
 * workspace's included) is a NotFoundError; a control the batch's state does not allow (EV008:
 * starting a started batch, resuming one that is not paused) a ValidationError `conflict` (409).
 */
export async function controlBatch(db: Queryable, action: BatchControl, batchId: string): Promise<string> {
  try {
    const { rows } = await db.query<{ status: string }>(STATEMENTS[action], [batchId]);
    return rows[0]!.status;
  } catch (error) {
    throw batchStateError(error);
  }
}

/** fromDatabaseError, but a batch in the wrong state (EV008) is a conflict, not an invalid resume of a run. */
export function batchStateError(error: unknown): unknown {
  const e = error as { code?: string; message?: string; hint?: string } | null;
  if (e?.code === "EV008") {
    return new ValidationError(e.hint ? `${e.message} (${e.hint})` : (e.message ?? "the batch's state does not allow this"), {
      cause: error,
      code: "conflict",
    });
  }
  return fromDatabaseError(error);
}
