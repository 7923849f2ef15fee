import type { Queryable } from "../pool.ts";

export interface ParkedCensus {
  waiting: number;
  interrupted: number;
  /** queued or running */
  running: number;
  jobs: number;
  futureJobs: number;
  lockedJobs: number;
  /** interrupted runs that still have a job under their key */
  interruptedWithJob: number;
  /** worker pool connections running a query */
  workerConnectionsActive: number;
}

/** What parked runs hold: their statuses, the queue's jobs (graphile-worker's public view), busy worker connections. */
export async function loadParkedCensus(db: Queryable, runIds: string[]): Promise<ParkedCensus> {
  const { rows } = await db.query<ParkedCensus>(
    `select
       (select count(*)::int from everruns.runs where id = any($1) and status = 'waiting') as waiting,
       (select count(*)::int from everruns.runs where id = any($1) and status = 'interrupted') as interrupted,
       (select count(*)::int from everruns.runs where id = any($1) and status in ('queued', 'running')) as running,
       (select count(*)::int from graphile_worker.jobs) as jobs,
       (select count(*)::int from graphile_worker.jobs where run_at > now()) as "futureJobs",
       (select count(*)::int from graphile_worker.jobs where locked_at is not null) as "lockedJobs",
       (select count(*)::int from everruns.runs r where r.id = any($1) and r.status = 'interrupted'
          and exists (select 1 from graphile_worker.jobs j where j.key = 'run:' || r.id::text)) as "interruptedWithJob",
       (select count(*)::int from pg_stat_activity where datname = current_database()
          and application_name = 'everruns-worker' and state = 'active') as "workerConnectionsActive"`,
    [runIds],
  );
  return rows[0]!;
}
