// Worker liveness and crash recovery (see everruns_private.workers in the baseline migration):
// each runs on the worker's dedicated liveness connection.
import type { Queryable } from "../pool.ts";

/**
 * Registers this connection as the liveness of worker pool `poolId`: the pool is alive while it
 * lasts. With `workspaceId` (everruns worker --workspace) the pool is that dedicated workspace's:
 * its slots count for it, not for the shared fair-share window (000023); without it, the 4-argument
 * form every shared pool has always called.
 */
export async function registerWorker(db: Queryable, poolId: string, hostname: string, pid: number, concurrency: number, workspaceId?: string): Promise<void> {
  if (workspaceId === undefined) {
    await db.query("select everruns_private.register_worker($1, $2, $3, $4)", [poolId, hostname, pid, concurrency]);
  } else {
    await db.query("select everruns_private.register_worker($1, $2, $3, $4, $5::uuid)", [poolId, hostname, pid, concurrency, workspaceId]);
  }
}

/** A clean stop, after the pool's last completion. */
export async function deregisterWorker(db: Queryable, poolId: string): Promise<void> {
  await db.query("select everruns_private.deregister_worker($1)", [poolId]);
}

/** Frees the jobs of pools whose liveness connection is gone; returns those pools. */
export async function sweepDeadWorkers(db: Queryable, graceMs: number): Promise<string[]> {
  const { rows } = await db.query<{ freed: string[] }>("select everruns_private.sweep_dead_workers($1) as freed", [graceMs]);
  return rows[0]?.freed ?? [];
}

/** Gives a job to every run that should progress and has none; returns how many. */
export async function repairOrphanedRuns(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select everruns_private.repair_orphaned_runs() as n");
  return rows[0]!.n;
}
