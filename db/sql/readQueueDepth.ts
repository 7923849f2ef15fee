import type { Queryable } from "../pool.ts";

/** The step queue: graphile-worker jobs not done yet. */
export interface QueueDepth {
  /** due now, waiting for a free worker */
  ready: number;
  /** due later: retries with backoff, timers, wait timeouts */
  scheduled: number;
  /** held by a worker */
  running: number;
  /** how long the oldest ready job has been due, in ms (null when none is ready) */
  oldestReadyAgeMs: number | null;
}

/**
 * The depth of the step queue right now, through graphile-worker's public view
 * `graphile_worker.jobs`. A job is available when no worker holds it and it has attempts left
 * (graphile-worker's own definition); a job that used up its attempts counts nowhere.
 *
 * Only the jobs of runs the caller can see count (a step job's key is `run:<run id>`; the runs
 * lookup is under row-level security): an API request sees its workspace's queue, an
 * administrator's connection all of it. The queue holds only jobs not done yet: one primary-key
 * probe per job.
 */
/** The run id of a step job (`run:<uuid>`), null for any other job. */
export const RUN_OF_JOB = "case when jobs.key ~ '^run:[0-9a-f-]{36}$' then substr(jobs.key, 5)::uuid end";

export async function readQueueDepth(db: Queryable): Promise<QueueDepth> {
  const { rows } = await db.query<QueueDepth>(
    `with j as (
       select run_at, locked_at, (locked_at is null and attempts < max_attempts) as available
         from graphile_worker.jobs jobs
        where exists (select from everruns.runs r where r.id = ${RUN_OF_JOB})
     )
     select count(*) filter (where available and run_at <= now())::int as "ready",
            count(*) filter (where available and run_at > now())::int as "scheduled",
            count(*) filter (where locked_at is not null)::int as "running",
            round(extract(epoch from now() - min(run_at) filter (where available and run_at <= now())) * 1000)::float8 as "oldestReadyAgeMs"
       from j`,
  );
  return rows[0]!;
}
