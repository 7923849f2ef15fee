import type { Queryable } from "../pool.ts";

/**
 * Gives a run a fresh job instead of running its step in a job taken again after a crash
 * (everruns_private.requeue_run, db/migrations/000005): a job's attempts, and so its failure
 * backoff, never grow with the crashes it survived.
 */
export async function requeueRun(db: Queryable, runId: string): Promise<void> {
  await db.query("select everruns_private.requeue_run($1)", [runId]);
}
