import type { Queryable } from "../pool.ts";

/** What one unit of retention did (everruns_private.apply_retention, 000038). */
export interface RetentionUnit {
  runs_expired: number;
  rows_deleted: number;
  partitions_dropped: number;
}

/**
 * One unit of retention in the caller's transaction, if it takes the maintenance lock (one worker
 * at a time): drops one past month whose runs all expired, or expires up to `batch` runs holding
 * about `maxRows` events and steps together (at least one run). Null when another worker holds the
 * lock. `now` null: the database clock. The transaction's statements time out after 30 s.
 */
export async function applyRetention(db: Queryable, now: Date | null, batch: number, maxRows: number): Promise<RetentionUnit | null> {
  await db.query("set local statement_timeout = '30s'");
  const { rows: lock } = await db.query<{ mine: boolean }>("select pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('everruns:maintenance')) as mine");
  if (!lock[0]!.mine) return null;
  const { rows } = await db.query<{ runs_expired: number; rows_deleted: string; partitions_dropped: number }>(
    "select runs_expired, rows_deleted, partitions_dropped from everruns_private.apply_retention(coalesce($1::timestamptz, now()), $2::int, $3::int)",
    [now, batch, maxRows],
  );
  const row = rows[0]!;
  return { runs_expired: row.runs_expired, rows_deleted: Number(row.rows_deleted), partitions_dropped: row.partitions_dropped };
}
