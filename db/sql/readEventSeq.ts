import type { Queryable } from "../pool.ts";

/**
 * The seq of the last event appended to a run (runs.event_seq), or null when the run does not
 * exist. Cheaper than max(seq) and moved in the same transaction as the events.
 */
export async function readEventSeq(db: Queryable, runId: string): Promise<number | null> {
  const { rows } = await db.query<{ event_seq: number }>("select event_seq from everruns.runs where id = $1", [runId]);
  return rows[0]?.event_seq ?? null;
}
