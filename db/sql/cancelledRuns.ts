import type { Queryable } from "../pool.ts";

/**
 * Which of `runIds` are really cancelled (status `cancelled`). The worker asks before it aborts
 * a step on a `NOTIFY everruns:cancel`: anyone who can connect may send that notification, so it
 * is only a hint (see worker/liveness.ts). One primary-key probe per id; the ids must be UUIDs.
 */
export async function cancelledRuns(db: Queryable, runIds: readonly string[]): Promise<string[]> {
  if (runIds.length === 0) return [];
  const { rows } = await db.query<{ id: string }>("select id::text as id from everruns.runs where id = any($1::uuid[]) and status = 'cancelled'", [runIds]);
  return rows.map((row) => row.id);
}
