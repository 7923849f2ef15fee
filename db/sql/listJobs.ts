import type { Queryable } from "../pool.ts";

export interface JobRow {
  id: string;
  key: string | null;
  task_identifier: string;
  run_at: Date;
  locked_at: Date | null;
  locked_by: string | null;
}

/** Every job in the queue, from graphile-worker's public jobs view (the payload left out). */
export async function listJobs(db: Queryable): Promise<JobRow[]> {
  const { rows } = await db.query<JobRow>("select id::text, key, task_identifier, run_at, locked_at, locked_by from graphile_worker.jobs order by id");
  return rows;
}
