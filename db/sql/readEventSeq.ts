import type { Queryable } from "../pool.ts";

/**
 * The seq of the last event appended to a run (runs.event_seq), or null when the run does not
 * exist. Cheaper than max(seq) and moved in the same transaction as the events. (The events hub's
 * read: everruns_private.run_event_seq, as readRunEvents.)
 */
export async function readEventSeq(db: Queryable, runId: string): Promise<number | null> {
  const { rows } = await db.query<{ event_seq: number }>("select everruns_private.run_event_seq($1) as event_seq", [runId]);
  return rows[0]?.event_seq ?? null;
}
