import type { Queryable } from "../pool.ts";

/** How many of these runs are in each status. */
export async function runStatusCounts(db: Queryable, runIds: string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>("select status, count(*)::int as n from everruns.runs where id = any($1) group by 1", [
    runIds,
  ]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
