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
 */
export async function readQueueDepth(db: Queryable): Promise<QueueDepth> {
  const { rows } = await db.query<QueueDepth>(
    `with j as (
       select run_at, locked_at, (locked_at is null and attempts < max_attempts) as available
         from graphile_worker.jobs
     )
     select count(*) filter (where available and run_at <= now())::int as "ready",
            count(*) filter (where available and run_at > now())::int as "scheduled",
            count(*) filter (where locked_at is not null)::int as "running",
            round(extract(epoch from now() - min(run_at) filter (where available and run_at <= now())) * 1000)::float8 as "oldestReadyAgeMs"
       from j`,
  );
  return rows[0]!;
}
