import type { Queryable } from "../pool.ts";
import { RUN_OF_JOB } from "./readQueueDepth.ts";

/** A worker process (a pool of step runners) whose liveness connection is open. */
export interface StepRunner {
  poolId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: string;
  runningJobs: number;
}

/**
 * The live workers (everruns_private.live_workers) and how many jobs each holds right now.
 * Jobs are read through graphile-worker's public view `graphile_worker.jobs`, never its private
 * tables: the view is its stable interface. The queue only holds jobs not done yet, so it stays small.
 * A worker serves every workspace; `runningJobs` counts only the jobs of runs the caller can see.
 */
export async function readLiveWorkers(db: Queryable): Promise<StepRunner[]> {
  const { rows } = await db.query<StepRunner>(
    `select w.pool_id as "poolId", w.hostname, w.pid, w.concurrency, w.started_at as "startedAt",
            (select count(*) from graphile_worker.jobs jobs
              where jobs.locked_by = w.pool_id and exists (select from everruns.runs r where r.id = ${RUN_OF_JOB}))::int as "runningJobs"
       from everruns_private.live_workers w
      order by w.started_at, w.pool_id`,
  );
  return rows.map((r) => ({ ...r, startedAt: new Date(r.startedAt).toISOString() }));
}
