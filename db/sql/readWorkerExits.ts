import type { Queryable } from "../pool.ts";

/** A worker pool that stopped or died. */
export interface WorkerExit {
  poolId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: string;
  exitedAt: string;
  /** true: its liveness connection was gone and another worker's sweep freed its jobs */
  crashed: boolean;
  /** the caller's runs whose in-progress step the sweep freed */
  freedRunIds: string[];
}

/** Exits of the last `seconds` (kept 7 days), newest first (everruns_private.ops_worker_exits, 000014). */
export async function readWorkerExits(db: Queryable, seconds: number, limit: number): Promise<WorkerExit[]> {
  const { rows } = await db.query<WorkerExit>(
    `select pool_id as "poolId", hostname, pid, concurrency, started_at as "startedAt", exited_at as "exitedAt",
            crashed, freed_runs as "freedRunIds"
       from everruns_private.ops_worker_exits($1, $2)`,
    [seconds, limit],
  );
  return rows.map((r) => ({ ...r, startedAt: new Date(r.startedAt).toISOString(), exitedAt: new Date(r.exitedAt).toISOString() }));
}
