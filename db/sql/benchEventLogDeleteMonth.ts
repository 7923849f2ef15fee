import type { Pool } from "../pool.ts";

/**
 * `everruns bench --only event-log`, the baseline of dropping a month: DELETE of the events and
 * steps of the runs created in [from, to) (one partition each, pruned by the key), in one
 * transaction; returns the rows deleted.
 */
export async function benchEventLogDeleteMonth(pool: Pool, from: string, to: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const events = await client.query("delete from everruns.run_events where run_created_at >= $1::timestamptz and run_created_at < $2::timestamptz", [
      from,
      to,
    ]);
    const steps = await client.query("delete from everruns.run_steps where run_created_at >= $1::timestamptz and run_created_at < $2::timestamptz", [from, to]);
    await client.query("commit");
    return (events.rowCount ?? 0) + (steps.rowCount ?? 0);
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
