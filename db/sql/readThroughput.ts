import type { Queryable } from "../pool.ts";

export interface ThroughputBucket {
  start: string;
  started: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  interrupted: number;
  steps: number;
  stepP50Ms: number | null;
  stepP95Ms: number | null;
}

/** How long before a window a run that finishes inside it may have been created. */
const FINISH_LOOKBACK = "1 day";

/**
 * Runs started and finished, and step latency, per `bucketSeconds` over the last `windowSeconds`:
 * every bucket, empty ones included, oldest first. Buckets are cut on the database clock.
 *
 * Everything starts from runs_created_idx, never from a scan of runs or run_steps:
 * - started: an index range;
 * - finished: runs has no index on finished_at (nor on updated_at, which every step bumps:
 *   keeping it unindexed keeps those updates HOT), so finishes are looked for among runs created
 *   up to FINISH_LOOKBACK before the window; a run that took longer to finish is not counted;
 * - step latency: the steps of runs created in the window, by their primary key. Wait steps
 *   measure how long a run waited, not how long work took: left out.
 */
export async function readThroughput(db: Queryable, windowSeconds: number, bucketSeconds: number): Promise<ThroughputBucket[]> {
  const { rows } = await db.query<ThroughputBucket>(
    `with params as (
       select now() - make_interval(secs => $1) as since, $2::double precision as width
     ),
     buckets as (
       select generate_series(
                to_timestamp(floor(extract(epoch from p.since) / p.width) * p.width),
                now(),
                make_interval(secs => p.width)) as start
       from params p
     ),
     started as (
       select to_timestamp(floor(extract(epoch from r.created_at) / p.width) * p.width) as start, count(*)::int as n
         from everruns.runs r, params p
        where r.created_at >= p.since
        group by 1
     ),
     finished as (
       select to_timestamp(floor(extract(epoch from r.finished_at) / p.width) * p.width) as start,
              count(*) filter (where r.status = 'succeeded')::int as succeeded,
              count(*) filter (where r.status = 'failed')::int as failed,
              count(*) filter (where r.status = 'cancelled')::int as cancelled,
              count(*) filter (where r.status = 'interrupted')::int as interrupted
         from everruns.runs r, params p
        where r.created_at >= p.since - interval '${FINISH_LOOKBACK}' and r.finished_at >= p.since
        group by 1
     ),
     steps as (
       select to_timestamp(floor(extract(epoch from s.finished_at) / p.width) * p.width) as start,
              count(*)::int as n,
              percentile_cont(0.5) within group (order by s.duration_ms) as p50,
              percentile_cont(0.95) within group (order by s.duration_ms) as p95
         from everruns.runs r
         join everruns.run_steps s on s.run_id = r.id
         cross join params p
        where r.created_at >= p.since and s.kind <> 'wait'
        group by 1
     )
     select b.start as "start",
            coalesce(st.n, 0) as "started",
            coalesce(f.succeeded, 0) as "succeeded",
            coalesce(f.failed, 0) as "failed",
            coalesce(f.cancelled, 0) as "cancelled",
            coalesce(f.interrupted, 0) as "interrupted",
            coalesce(s.n, 0) as "steps",
            round(s.p50::numeric, 1)::float8 as "stepP50Ms",
            round(s.p95::numeric, 1)::float8 as "stepP95Ms"
       from buckets b
       left join started st on st.start = b.start
       left join finished f on f.start = b.start
       left join steps s on s.start = b.start
      order by b.start`,
    [windowSeconds, bucketSeconds],
  );
  return rows.map((r) => ({ ...r, start: new Date(r.start).toISOString() }));
}
