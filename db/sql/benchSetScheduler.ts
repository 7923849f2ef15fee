import type { Queryable } from "../pool.ts";

/** `everruns bench --only fairness`: fair share across workspaces on, or off (FIFO) (everruns_private.set_scheduler, 000023). */
export async function benchSetScheduler(db: Queryable, fair: boolean): Promise<void> {
  await db.query("select everruns_private.set_scheduler($1)", [fair]);
}
