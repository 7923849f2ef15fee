import type { Queryable } from "../pool.ts";
import type { WorkspaceLimits } from "./workspaceLimits.ts";

/** The caller's workspace's limits and usage (everruns_private.ops_workspace_limits, 000022); null: no workspace. */
export async function readWorkspaceLimits(db: Queryable): Promise<WorkspaceLimits | null> {
  const { rows } = await db.query<{
    workspace_id: string;
    workspace_name: string;
    max_queued_runs: number | null;
    runs_per_minute: number | null;
    queued_runs: string;
    tokens: number | null;
    updated_at: Date | null;
  }>("select * from everruns_private.ops_workspace_limits()");
  const row = rows[0];
  if (!row) return null;
  return {
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    maxQueuedRuns: row.max_queued_runs,
    runsPerMinute: row.runs_per_minute,
    queuedRuns: Number(row.queued_runs),
    // whole runs: a fraction of a token admits nothing
    tokens: row.tokens === null ? null : Math.floor(row.tokens),
    updatedAt: row.updated_at ? new Date(row.updated_at).toISOString() : null,
  };
}
