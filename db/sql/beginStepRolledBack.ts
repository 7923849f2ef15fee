import type { Queryable } from "../pool.ts";

/**
 * Calls the real everruns_private.begin_step on a run's current step in a transaction that is
 * rolled back, so nothing changes (to time it). `client` must be one connection, not a pool.
 */
export async function beginStepRolledBack(client: Queryable, runId: string): Promise<void> {
  await client.query("begin");
  try {
    await client.query("select everruns_private.begin_step($1)", [runId]);
  } finally {
    await client.query("rollback");
  }
}
