import type { Queryable } from "../pool.ts";

export interface JobCensus {
  jobs: number;
  /** due later (a timer, an event's timeout) */
  future: number;
  locked: number;
}

/** How many jobs there are, how many are due later and how many are locked (graphile-worker's public jobs view). */
export async function jobCensus(db: Queryable): Promise<JobCensus> {
  const { rows } = await db.query<JobCensus>(
    `select count(*)::int as jobs, (count(*) filter (where run_at > now()))::int as future,
            (count(*) filter (where locked_at is not null))::int as locked
     from graphile_worker.jobs`,
  );
  return rows[0]!;
}
