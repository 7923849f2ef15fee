import type { Queryable } from "./queryable.ts";

export interface RunEventRow {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

/** Events that end a run's stream: nothing follows them (DESIGN.md, Events). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(["RUN_FINISHED", "RUN_ERROR"]);

/** Up to `limit` events of a run after `afterSeq`, in order (the primary key serves it). */
export async function readRunEvents(db: Queryable, runId: string, afterSeq: number, limit: number): Promise<RunEventRow[]> {
  const { rows } = await db.query<RunEventRow>(
    "select seq, type, event from everruns.run_events where run_id = $1 and seq > $2 order by seq limit $3",
    [runId, afterSeq, limit],
  );
  return rows;
}

/** The last event of a run's log, or null when it has none yet. */
export async function readLastEvent(db: Queryable, runId: string): Promise<{ seq: number; type: string } | null> {
  const { rows } = await db.query<{ seq: number; type: string }>(
    "select seq, type from everruns.run_events where run_id = $1 order by seq desc limit 1",
    [runId],
  );
  return rows[0] ?? null;
}

/** The seq of the last event appended to a run, or null when the run does not exist. */
export async function readEventSeq(db: Queryable, runId: string): Promise<number | null> {
  const { rows } = await db.query<{ event_seq: number }>("select event_seq from everruns.runs where id = $1", [runId]);
  return rows[0]?.event_seq ?? null;
}

/**
 * Runs whose row changed at or after `since` (a database timestamp), less a second of slack for
 * transactions that began before it and committed after; newest first, at most `limit`.
 * Only used after the LISTEN connection was lost, so a scan of runs is acceptable.
 */
export async function readRunsUpdatedSince(db: Queryable, since: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    "select id from everruns.runs where updated_at >= $1::timestamptz - interval '1 second' order by updated_at desc limit $2",
    [since, limit],
  );
  return rows.map((r) => r.id);
}
