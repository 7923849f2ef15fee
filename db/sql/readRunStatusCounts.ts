import type { Queryable } from "../pool.ts";

export interface RunStatusCount {
  status: string;
  count: number;
}

/**
 * Runs created in the last `windowSeconds` (database clock), counted by their status now.
 * An index range of runs_created_idx.
 */
export async function readRunStatusCounts(db: Queryable, windowSeconds: number): Promise<RunStatusCount[]> {
  const { rows } = await db.query<RunStatusCount>(
    `select status, count(*)::int as count
       from everruns.runs
      where created_at >= now() - make_interval(secs => $1)
      group by status
      order by status`,
    [windowSeconds],
  );
  return rows;
}
