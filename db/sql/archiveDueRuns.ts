// The runs whose events and steps the next maintenance round may remove (000038): what to
// archive (everruns archive) before it does. Counted with retention's own rule,
// everruns_private.history_expirable at the database clock, so it follows the clock retention
// counts from (an interrupted run: when it was continued). Administrators only (the owner's
// connection, like everruns workspaces limits): history_expirable is no API role's.
import type { Queryable } from "../pool.ts";

export interface DueRuns {
  /** finished runs past the workspace's retention whose history is still there */
  runs: number;
  /** the earliest finished_at among them (null: none) */
  oldestFinishedAt: Date | null;
}

/**
 * The workspace's runs that retention may expire now, under the retention_days the caller's
 * transaction sees (read after setting it: the new value). No retention: none.
 */
export async function archiveDueRuns(db: Queryable, workspaceId: string): Promise<DueRuns> {
  const { rows } = await db.query<{ runs: number; oldest: Date | null }>(
    `select count(*)::int as runs, min(r.finished_at) as oldest
       from everruns.workspaces w
       join everruns.runs r on r.workspace_id = w.id
      where w.id = $1 and w.retention_days is not null
        and r.history_expired_at is null
        -- finished_at is never later than retention's clock: only these may be past it
        and r.finished_at < now() - make_interval(days => w.retention_days)
        and everruns_private.history_expirable(r, now())`,
    [workspaceId],
  );
  const row = rows[0]!;
  return { runs: row.runs, oldestFinishedAt: row.oldest === null ? null : new Date(row.oldest) };
}
