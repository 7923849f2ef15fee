// Why a run waits (everruns.explain_queue, 000023): whether it is admitted, what holds it back
// (its workspace's max_running_runs, or every worker slot taken), its place among its
// workspace's waiting runs, and an estimate of its wait.
import { fromDatabaseError, NotFoundError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export interface QueueExplanation {
  runId: string;
  status: string;
  admitted: boolean;
  /** null: not waiting for admission; "max_running_runs", "capacity" (every worker slot taken) or "next". */
  heldBy: string | null;
  /** 1 = next of its workspace; null when not waiting for admission. */
  position: number | null;
  priority: number;
  /** Its workspace's active runs (holding a worker slot or due to). */
  workspaceActive: number;
  maxRunningRuns: number | null;
  weight: number;
  /** Worker slots over all workspaces (the live workers' capacity, or min_window while none runs). */
  slots: number;
  slotsTaken: number;
  /** Its position over the rate its workspace's runs ended at over the last 5 minutes (null: none ended). */
  estimatedWaitSeconds: number | null;
  message: string;
}

interface ExplanationRow {
  run_id: string;
  status: string;
  admitted: boolean;
  held_by: string | null;
  position: string | null;
  priority: number;
  workspace_active: string;
  max_running_runs: number | null;
  weight: number;
  slots: string;
  slots_taken: string;
  estimated_wait_seconds: number | null;
  message: string;
}

/**
 * Where the run stands in the queue, or null for a run that does not exist or that the caller
 * may not see. The run is looked up through everruns.runs first (row-level security hides
 * another workspace's runs from the API's roles), so an unknown run answers no row instead of
 * raising EV005 in the caller's transaction (a GraphQL request's other fields share it);
 * explain_queue asserts the workspace again.
 */
export async function explainQueue(db: Queryable, runId: string): Promise<QueueExplanation | null> {
  try {
    const { rows } = await db.query<ExplanationRow>(
      `select q.*
         from everruns.runs r
        cross join lateral everruns.explain_queue(r.id) q
        where r.id = $1`,
      [runId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      runId: row.run_id,
      status: row.status,
      admitted: row.admitted,
      heldBy: row.held_by,
      position: row.position === null ? null : Number(row.position),
      priority: row.priority,
      workspaceActive: Number(row.workspace_active),
      maxRunningRuns: row.max_running_runs,
      weight: row.weight,
      slots: Number(row.slots),
      slotsTaken: Number(row.slots_taken),
      estimatedWaitSeconds: row.estimated_wait_seconds,
      message: row.message,
    };
  } catch (error) {
    const mapped = fromDatabaseError(error);
    if (mapped instanceof NotFoundError) return null;
    throw mapped;
  }
}
