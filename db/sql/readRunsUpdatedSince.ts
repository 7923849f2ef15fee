import type { Queryable } from "../pool.ts";

/**
 * Runs whose row changed at or after `since` (a database timestamp), less a second of slack for
 * transactions that began before it and committed after; newest first, at most `limit`.
 * Only used after the LISTEN connection was lost, so a scan of runs (updated_at is unindexed, to
 * keep the per-step updates HOT) is acceptable.
 */
export async function readRunsUpdatedSince(db: Queryable, since: string, limit: number): Promise<{ id: string; workspace_id: string }[]> {
  const { rows } = await db.query<{ id: string; workspace_id: string }>("select id, workspace_id from everruns_private.runs_updated_since($1, $2)", [
    since,
    limit,
  ]);
  return rows;
}
