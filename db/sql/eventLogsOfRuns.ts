import type { Queryable } from "../pool.ts";

export interface StoredEvent {
  run_id: string;
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

/** The stored AG-UI event logs of these runs, by run id, each in seq order (runs without events are absent). */
export async function eventLogsOfRuns(db: Queryable, runIds: string[]): Promise<Map<string, StoredEvent[]>> {
  const { rows } = await db.query<StoredEvent>("select run_id, seq, type, event from everruns.run_events where run_id = any($1) order by run_id, seq", [
    runIds,
  ]);
  const logs = new Map<string, StoredEvent[]>();
  for (const e of rows) {
    let list = logs.get(e.run_id);
    if (!list) logs.set(e.run_id, (list = []));
    list.push(e);
  }
  return logs;
}
