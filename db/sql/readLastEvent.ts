import type { Queryable } from "../pool.ts";

/** The last event of a run's log (seq and type), or null when it has none yet. */
export async function readLastEvent(db: Queryable, runId: string): Promise<{ seq: number; type: string } | null> {
  const { rows } = await db.query<{ seq: number; type: string }>("select seq, type from everruns_private.run_last_event($1)", [runId]);
  return rows[0] ?? null;
}
