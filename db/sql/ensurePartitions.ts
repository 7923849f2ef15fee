import type { Queryable } from "../pool.ts";

/** What one call of everruns_private.ensure_partitions did (000038). */
export interface PartitionsEnsured {
  /** partitions created (a month's two together) */
  created: number;
  /** months skipped because a parent or its DEFAULT partition was busy: the next call tries again */
  skipped: number;
  /** months that get no partitions because a DEFAULT partition already holds rows of them */
  heldByDefault: number;
}

/**
 * Creates the monthly partitions of run_events and run_steps from `now`'s month (the database
 * clock when null) through `monthsAhead` months later (everruns_private.ensure_partitions, 000038),
 * in the caller's transaction, if it takes the maintenance lock (one worker at a time); null when
 * another worker holds the lock. The transaction's statements time out after 30 s.
 */
export async function ensurePartitions(db: Queryable, now: Date | null, monthsAhead: number): Promise<PartitionsEnsured | null> {
  await db.query("set local statement_timeout = '30s'");
  const { rows: lock } = await db.query<{ mine: boolean }>("select pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('everruns:maintenance')) as mine");
  if (!lock[0]!.mine) return null;
  const { rows } = await db.query<{ created: number; skipped: number; held_by_default: number }>(
    "select created, skipped, held_by_default from everruns_private.ensure_partitions(coalesce($1::timestamptz, now()), $2::int)",
    [now, monthsAhead],
  );
  const row = rows[0]!;
  return { created: row.created, skipped: row.skipped, heldByDefault: row.held_by_default };
}
