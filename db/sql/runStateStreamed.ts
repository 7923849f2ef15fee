import type { Queryable } from "../pool.ts";

/**
 * Whether a run's event log holds a STATE_SNAPSHOT or STATE_DELTA yet (000030): a run begun on a
 * worker of an earlier release has none, and its first state change must then be a snapshot.
 */
export async function runStateStreamed(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query<{ streamed: boolean }>(
    "select exists (select from everruns.run_events e where e.run_id = $1 and e.type in ('STATE_SNAPSHOT', 'STATE_DELTA')) as streamed",
    [runId],
  );
  return rows[0]?.streamed === true;
}
