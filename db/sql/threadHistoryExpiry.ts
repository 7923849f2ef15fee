// Whether a thread's history is whole: a new run on a thread sees the inputs and steps of its
// earlier runs (everruns_private.run_history, 000016), and retention (000038) removes a finished
// run's steps but keeps its input. A run continuing such a thread would see the expired runs'
// questions without their answers; the AG-UI endpoint refuses that (api/agui.ts).
import type { Queryable } from "../pool.ts";

export interface ThreadHistoryExpiry {
  /** How many of the thread's runs whose history a new run would read have expired. */
  expiredRuns: number;
  /** When the latest of them expired. */
  lastExpiredAt: Date;
  /** The workspace's retention now (null: keep forever). */
  retentionDays: number | null;
}

/**
 * The expired runs among those a new run on `threadId` would read, or null when there are none.
 * The runs a rerun replaced wholly (no step kept: rerun_from_seq null) are no part of the history
 * (run_history's `kept`), so their expiry does not count.
 */
export async function threadHistoryExpiry(db: Queryable, threadId: string): Promise<ThreadHistoryExpiry | null> {
  const { rows } = await db.query<{ expired_runs: number; last_expired_at: Date; retention_days: number | null }>(
    `with runs as (
       select r.id, r.workspace_id, r.created_at, r.rerun_of, r.rerun_from_seq, r.history_expired_at
         from everruns.runs r where r.thread_id = $1
     ), replaced as (
       select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
         from runs x where x.rerun_of is not null
        order by x.rerun_of, x.created_at desc, x.id desc
     )
     select count(*)::int as expired_runs, max(r.history_expired_at) as last_expired_at, w.retention_days
       from runs r
       left join replaced p on p.id = r.id
       join everruns.workspaces w on w.id = r.workspace_id
      where r.history_expired_at is not null and (p.id is null or p.keep_to_seq is not null)
      group by w.id, w.retention_days`,
    [threadId],
  );
  const row = rows[0];
  return row ? { expiredRuns: row.expired_runs, lastExpiredAt: new Date(row.last_expired_at), retentionDays: row.retention_days } : null;
}
