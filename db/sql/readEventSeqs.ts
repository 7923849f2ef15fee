import type { Queryable } from "../pool.ts";

/** Where a run's event log ends: runs.event_seq, null when the run does not exist. */
export interface RunEventSeq {
  id: string;
  event_seq: number | null;
}

/**
 * runs.event_seq of many runs in one query, and the database clock of that query: the events
 * hub's periodic catch-up (api/events-hub.ts) reads every open feed's log end with it, one query
 * per tick whatever the number of feeds and clients.
 *
 * Why not `select … from everruns.runs where id = any($1)`: the hub reads on the API's pool outside
 * any request, as a role acting for no workspace, and row-level security (forced on runs) would
 * show it no row at all. everruns_private.run_event_seq is the security-definer read granted to
 * everruns_api for exactly this (000006, as readEventSeq), so no new grant or migration is needed;
 * each call is one primary-key lookup. `now()` is the query's transaction start: every run whose
 * row changed after it is seen by the next tick's readRunsUpdatedSince(now).
 */
export async function readEventSeqs(db: Queryable, runIds: readonly string[]): Promise<{ now: string; seqs: RunEventSeq[] }> {
  const { rows } = await db.query<{ now: string; seqs: RunEventSeq[] }>(
    `select now()::text as now,
            coalesce((select json_agg(json_build_object('id', ids.id, 'event_seq', everruns_private.run_event_seq(ids.id)))
                        from unnest($1::uuid[]) as ids(id)), '[]') as seqs`,
    [runIds],
  );
  return rows[0]!;
}
