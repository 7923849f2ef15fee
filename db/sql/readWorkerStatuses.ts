import type { Queryable } from "../pool.ts";
import { RUN_OF_JOB } from "./readQueueDepth.ts";

/** A step a worker runs right now (of the caller's workspace only). */
export interface WorkerStep {
  runId: string;
  agentName: string | null;
  status: string;
  /** the step the run's cursor names (its seq once committed) */
  step: number;
  attempt: number;
  /** when the step began (null between taking the job and beginning it) */
  stepStartedAt: string | null;
  /** when the worker took the job */
  lockedAt: string;
}

/** A live worker process and the caller's steps it runs. */
export interface WorkerStatus {
  poolId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: string;
  /** the last statement of its liveness connection (it sweeps every 200 ms) */
  lastSeenAt: string;
  steps: WorkerStep[];
}

const iso = (v: string | Date | null) => (v == null ? null : new Date(v).toISOString());

/**
 * The live workers (everruns_private.ops_live_workers: security definer, pg_stat_activity of
 * another role is hidden from the API's) and the jobs each holds, read through graphile-worker's
 * public `jobs` view joined to the runs the caller may see (row-level security): a worker serves
 * every workspace, and another workspace's steps never show.
 */
export async function readWorkerStatuses(db: Queryable): Promise<WorkerStatus[]> {
  const workers = await db.query<Omit<WorkerStatus, "steps">>(
    `select pool_id as "poolId", hostname, pid, concurrency, started_at as "startedAt", last_seen_at as "lastSeenAt"
       from everruns_private.ops_live_workers()`,
  );
  const steps = await db.query<WorkerStep & { poolId: string }>(
    `select jobs.locked_by as "poolId", r.id as "runId", a.name as "agentName", r.status, r.step_cursor as "step",
            r.step_attempt as "attempt", r.step_started_at as "stepStartedAt", jobs.locked_at as "lockedAt"
       from graphile_worker.jobs jobs
       join everruns.runs r on r.id = ${RUN_OF_JOB}
       left join everruns.agents a on a.id = r.agent_id
      where jobs.locked_by is not null
      order by jobs.locked_at, r.id`,
  );
  return workers.rows.map((w) => ({
    ...w,
    startedAt: iso(w.startedAt)!,
    lastSeenAt: iso(w.lastSeenAt)!,
    steps: steps.rows
      .filter((s) => s.poolId === w.poolId)
      .map(({ poolId: _pool, ...s }) => ({ ...s, stepStartedAt: iso(s.stepStartedAt), lockedAt: iso(s.lockedAt)! })),
  }));
}
