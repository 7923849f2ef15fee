import type { Queryable } from "../pool.ts";

/** Refreshes the planner's statistics of run_steps (after a bulk fill). */
export async function analyzeRunSteps(db: Queryable): Promise<void> {
  await db.query("analyze everruns.run_steps");
}
