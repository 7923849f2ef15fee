import type { Queryable } from "../pool.ts";

/**
 * How many interrupted runs no continuation has answered yet (an answered run keeps its status
 * and gains continued_by): runs_interrupted_idx holds exactly these.
 */
export async function countAwaitingAnswer(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select count(*)::int as n from everruns.runs where status = 'interrupted' and continued_by is null");
  return rows[0]!.n;
}
