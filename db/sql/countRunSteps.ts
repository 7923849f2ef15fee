import type { Queryable } from "../pool.ts";

/** The committed steps of these runs, in all. */
export async function countRunSteps(db: Queryable, runIds: string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from everruns.run_steps where run_id = any($1)", [runIds]);
  return rows[0]!.n;
}
