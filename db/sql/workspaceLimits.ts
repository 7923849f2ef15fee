// A workspace's admission limits (000021): max_queued_runs and runs_per_minute, null meaning
// unlimited. Reading and setting any workspace's are administrators' operations (the CLI, on the
// owner's connection: granted to no API or worker role); the API reads only the caller's own
// (readWorkspaceLimits, 000022).
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export interface WorkspaceLimits {
  workspaceId: string;
  workspaceName: string;
  maxQueuedRuns: number | null;
  runsPerMinute: number | null;
  /** Usage now: the workspace's queued runs. */
  queuedRuns: number;
  /** Usage now: the runs its runs_per_minute bucket would admit at once (null: unlimited). */
  tokens: number | null;
  /** When the limits last changed (null: never set). */
  updatedAt: string | null;
}

interface LimitsRow {
  workspace_id: string;
  workspace_name: string;
  max_queued_runs: number | null;
  runs_per_minute: number | null;
  queued_runs: string;
  tokens: number | null;
  updated_at: Date | null;
}

function toLimits(row: LimitsRow): WorkspaceLimits {
  return {
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    maxQueuedRuns: row.max_queued_runs,
    runsPerMinute: row.runs_per_minute,
    queuedRuns: Number(row.queued_runs),
    tokens: row.tokens === null ? null : Math.floor(row.tokens),
    updatedAt: row.updated_at ? new Date(row.updated_at).toISOString() : null,
  };
}

/** The workspace's limits and usage; NotFoundError (EV005) for an unknown workspace. */
export async function workspaceLimitsOf(db: Queryable, workspaceId: string): Promise<WorkspaceLimits> {
  try {
    const { rows } = await db.query<LimitsRow>("select * from everruns_private.workspace_limits_of($1)", [workspaceId]);
    return toLimits(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Sets both limits (null: unlimited), audited as workspace.limits_set; returns the limits and usage after. */
export async function setWorkspaceLimits(
  db: Queryable,
  workspaceId: string,
  limits: { maxQueuedRuns: number | null; runsPerMinute: number | null },
): Promise<WorkspaceLimits> {
  try {
    const { rows } = await db.query<LimitsRow>("select * from everruns_private.set_workspace_limits($1, $2, $3)", [
      workspaceId,
      limits.maxQueuedRuns,
      limits.runsPerMinute,
    ]);
    return toLimits(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** The caller's workspace's limits and usage (everruns_private.ops_workspace_limits, 000022); null: no workspace. */
export async function readWorkspaceLimits(db: Queryable): Promise<WorkspaceLimits | null> {
  const { rows } = await db.query<LimitsRow>("select * from everruns_private.ops_workspace_limits()");
  return rows[0] ? toLimits(rows[0]) : null;
}
