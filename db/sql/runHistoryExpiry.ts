// A finished run whose events and steps retention removed (000038: runs.history_expired_at, set
// when its workspace's retention_days dropped them): when, and under which retention. The run row
// stays as its summary (status, input, output, usage); its event log and steps are gone, so every
// reader of them (GET /api/runs/:id/events, the AG-UI replay, everruns events) says so with
// historyExpiredMessage instead of an empty log.
import type { Queryable } from "../pool.ts";

export interface HistoryExpiry {
  /** When retention removed the run's events and steps. */
  expiredAt: Date;
  /** The workspace's retention now (null: keep forever; it may have changed since). */
  retentionDays: number | null;
}

/**
 * The run's expiry, or null while its history is kept (or for no such run: the caller has
 * already looked the run up in its workspace). Under the API's role, row-level security confines
 * it to the key's workspace as for getRun.
 */
export async function runHistoryExpiry(db: Queryable, runId: string): Promise<HistoryExpiry | null> {
  const { rows } = await db.query<{ history_expired_at: Date; retention_days: number | null }>(
    `select r.history_expired_at, w.retention_days
       from everruns.runs r join everruns.workspaces w on w.id = r.workspace_id
      where r.id = $1 and r.history_expired_at is not null`,
    [runId],
  );
  const row = rows[0];
  return row ? { expiredAt: new Date(row.history_expired_at), retentionDays: row.retention_days } : null;
}

/** "a retention of 30 days", or what the workspace has now when retention is off. */
export function describeRetention(retentionDays: number | null): string {
  if (retentionDays === null) return "its workspace's retention (now off: runs finished since are kept)";
  return `its workspace's retention of ${retentionDays} day${retentionDays === 1 ? "" : "s"}`;
}

/**
 * What a reader of an expired run's events is told (HTTP 410 history_expired, and the CLI): when
 * and why, and that the summary is still there.
 */
export function historyExpiredMessage(runId: string, expiry: HistoryExpiry): string {
  return (
    `the events and steps of run ${runId} expired on ${expiry.expiredAt.toISOString()} under ${describeRetention(expiry.retentionDays)}; ` +
    `the run's summary (status, input, output, usage) is still available: GET /api/runs/${runId}`
  );
}

/**
 * What a stream of a run's events ends with when retention removed them after the stream was
 * opened (its expiry checked) and before its replay read them: the next request says when.
 */
export function historyExpiredWhileOpening(runId: string): string {
  return (
    `the events and steps of run ${runId} expired under its workspace's retention as this stream opened; ` +
    `the run's summary (status, input, output, usage) is still available: GET /api/runs/${runId}`
  );
}
