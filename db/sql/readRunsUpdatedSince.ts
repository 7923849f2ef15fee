import type { Queryable } from "../pool.ts";

/**
 * Runs whose row changed at or after `since` (a database timestamp), less a second of slack for
 * transactions that began before it and committed after; newest first, at most `limit`.
 * Only used after the LISTEN connection was lost, so a scan of runs (updated_at is unindexed, to
 * keep the per-step updates HOT) is acceptable.
 */
export async function readRunsUpdatedSince(db: Queryable, since: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    "select id from everruns.runs where updated_at >= $1::timestamptz - interval '1 second' order by updated_at desc limit $2",
    [since, limit],
  );
  return rows.map((r) => r.id);
}
