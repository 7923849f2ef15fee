import type { Queryable } from "../pool.ts";

/** Runs that should progress (admitted and queued, running, waiting) but have no job under their key `run:<run id>`. */
export async function strandedRuns(db: Queryable): Promise<Array<{ id: string; status: string }>> {
  const { rows } = await db.query<{ id: string; status: string }>(
    `select r.id, r.status from everruns.runs r
     where r.status in ('queued', 'running', 'waiting')
       and not (r.status = 'queued' and r.admitted_at is null)
       and not exists (select 1 from graphile_worker.jobs j where j.key = 'run:' || r.id::text)`,
  );
  return rows;
}
