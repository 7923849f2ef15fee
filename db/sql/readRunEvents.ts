import type { Queryable } from "../pool.ts";

/** One event of a run's AG-UI log, as stored. */
export interface RunEventRow {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

/** Up to `limit` events of a run after `afterSeq`, in order (a range of the primary key). */
export async function readRunEvents(db: Queryable, runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]> {
  const { rows } = await db.query<RunEventRow>("select seq, type, event from everruns.run_events where run_id = $1 and seq > $2 order by seq limit $3", [
    runId,
    afterSeq,
    limit,
  ]);
  return rows;
}
