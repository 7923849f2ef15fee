import type { Queryable } from "../pool.ts";

/** A waiting run and what wakes it. */
export interface ScheduledTimer {
  runId: string;
  agentName: string | null;
  /** "timer" (a sleep) or "event" (wait_for_event, with a timeout) */
  kind: string;
  /** the event it waits for (kind "event") */
  eventName: string | null;
  /** when the run wakes (a timer) or gives up waiting (an event's timeout) */
  until: string | null;
  since: string;
}

/**
 * The caller's waiting runs, soonest deadline first (runs_status_created_idx finds them; the
 * waiting runs of a workspace are few: each holds one scheduled job).
 */
export async function readScheduledTimers(db: Queryable, first: number): Promise<ScheduledTimer[]> {
  const { rows } = await db.query<ScheduledTimer>(
    `select r.id as "runId", a.name as "agentName", coalesce(r.waiting ->> 'type', 'timer') as "kind",
            r.waiting ->> 'name' as "eventName", (r.waiting ->> 'until')::timestamptz as "until", r.updated_at as "since"
       from everruns.runs r
       left join everruns.agents a on a.id = r.agent_id
      where r.status = 'waiting'
      order by (r.waiting ->> 'until')::timestamptz nulls last, r.id
      limit $1`,
    [first],
  );
  return rows.map((r) => ({ ...r, until: r.until == null ? null : new Date(r.until).toISOString(), since: new Date(r.since).toISOString() }));
}
