import type { Queryable } from "../pool.ts";

/**
 * The database clock, as text that casts back to timestamptz exactly. On the LISTEN connection it
 * doubles as the liveness probe: the time it answers is when the connection was last known alive.
 */
export async function databaseNow(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ now: string }>("select now()::text as now");
  return rows[0]!.now;
}
