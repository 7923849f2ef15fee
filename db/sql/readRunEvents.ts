import type { Queryable } from "../pool.ts";

/** One event of a run's AG-UI log, as stored. */
export interface RunEventRow {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

/**
 * Up to `limit` events of a run after `afterSeq`, in order (a range of the primary key). Through
 * everruns_private.run_events_after (000006): the API's events hub reads for subscribers it
 * authorised when they subscribed, on a connection acting for no workspace.
 */
export async function readRunEvents(db: Queryable, runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]> {
  const { rows } = await db.query<RunEventRow>("select seq, type, event from everruns_private.run_events_after($1, $2, $3)", [runId, afterSeq, limit]);
  return rows;
}
