import type { Queryable } from "../pool.ts";

/** A run that should progress and does not. */
export interface StuckRun {
  runId: string;
  agentName: string | null;
  status: string;
  /** "no_job": nothing will advance it (repair_orphaned_runs gives it one within ~5 s while a worker runs); "stalled": its step began longer ago than the threshold and wrote nothing since */
  reason: string;
  step: number;
  attempt: number;
  /** since when it has not progressed */
  since: string;
}

/**
 * The caller's unfinished runs (runs_status_created_idx) that are stuck: running with a step
 * begun more than `stalledSeconds` ago and no event since, or without a runnable job for more
 * than 5 s (graphile-worker's public `jobs` view, one key probe per run). Oldest first.
 */
export async function readStuckRuns(db: Queryable, stalledSeconds: number, first: number): Promise<StuckRun[]> {
  const { rows } = await db.query<StuckRun>(
    `with open as (
       select r.*,
              not exists (select from graphile_worker.jobs j
                           where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts) as no_job,
              greatest(r.step_started_at,
                       (select e.created_at from everruns.run_events e where e.run_id = r.id order by e.seq desc limit 1)) as progressed_at
         from everruns.runs r
        where r.status in ('queued', 'running', 'waiting')
          -- a run waiting for a slot has no job by design (explain_queue says why it waits)
          and not (r.status = 'queued' and r.admitted_at is null)
     )
     select o.id as "runId", a.name as "agentName", o.status,
            case when o.no_job then 'no_job' else 'stalled' end as "reason",
            o.step_cursor as "step", o.step_attempt as "attempt",
            case when o.no_job then o.updated_at else o.progressed_at end as "since"
       from open o
       left join everruns.agents a on a.id = o.agent_id
      where (o.no_job and o.updated_at < now() - interval '5 seconds')
         or (o.status = 'running' and o.step_started_at is not null
             and o.progressed_at < now() - make_interval(secs => $1))
      order by 7, 1
      limit $2`,
    [stalledSeconds, first],
  );
  return rows.map((r) => ({ ...r, since: new Date(r.since).toISOString() }));
}
