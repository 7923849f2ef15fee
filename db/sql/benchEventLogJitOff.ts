import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only event-log`: JIT compilation off for the rest of the caller's transaction
 * (apply_retention's planner estimates pass jit_above_cost: compiling costs more than the query).
 */
export async function benchEventLogJitOff(db: Queryable): Promise<void> {
  await db.query("set local jit = off");
}
