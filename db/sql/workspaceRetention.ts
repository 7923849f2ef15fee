// A workspace's retention (000038): how many days a finished run keeps its events and steps
// (null: forever, the default; 1..36500). After that, retention removes them and sets the run's
// history_expired_at; the run row stays as its summary. Set by administrators (the CLI, on the
// owner's connection: everruns workspaces limits <workspace> --retention-days N|none), through
// everruns.set_workspace_retention, which checks the range and audits the change
// (workspace.retention_set); no API role may call it, like the admission limits. Every key of
// the workspace reads it (GraphQL Workspace.retentionDays).
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** The range everruns.workspaces.retention_days accepts (000038). */
export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 36500;

/** The workspace's retention in days (null: keep forever, or no such workspace). */
export async function workspaceRetentionOf(db: Queryable, workspaceId: string): Promise<number | null> {
  const { rows } = await db.query<{ retention_days: number | null }>("select retention_days from everruns.workspaces where id = $1", [workspaceId]);
  return rows[0]?.retention_days ?? null;
}

/**
 * Sets the workspace's retention in days (null: keep forever) and returns it as stored.
 * NotFoundError (EV005) for an unknown workspace, ValidationError for a value out of range.
 */
export async function setWorkspaceRetention(db: Queryable, workspaceId: string, days: number | null): Promise<number | null> {
  try {
    const { rows } = await db.query<{ retention_days: number | null }>("select (everruns.set_workspace_retention($1, $2)).retention_days", [workspaceId, days]);
    return rows[0]?.retention_days ?? null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
