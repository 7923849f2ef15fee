// Read-only aggregates for the operations dashboard of the console (web/): runs by status,
// throughput and step latency over time, tokens and cost per agent per day, live workers and
// the step queue. Everything is computed by the database, on the database clock: windows are
// given in seconds back from now(), never as client timestamps.
//
// Why these queries are cheap enough to run on every change a dashboard sees: everything starts
// from runs_created_idx (created_at desc), never from a scan of runs or run_steps.
// - Runs started in the window: an index range.
// - Runs finished in the window: runs has no index on finished_at (nor on updated_at, which
//   every step bumps: keeping it unindexed keeps those updates HOT), so finishes are looked for
//   among runs created up to FINISH_LOOKBACK before the window; a run that took longer than
//   that to finish is not counted. An index on finished_at (set once per run, so it costs no
//   HOT update) would make this exact.
// - Step latency: the steps of runs created in the window, by their primary key.
// - Runs awaiting an answer: runs_interrupted_idx (interrupted and not continued).
// - graphile-worker's jobs table only holds jobs not yet done: it stays small.
// The worker and job tables are internal (everruns_private, graphile_worker) and stay out of
// the GraphQL schema; only these aggregates are exposed (and no type is named after them: a
// live worker is a `StepRunner`, the job queue a `QueueDepth`).
import { loadOneWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import { each } from "postgraphile/grafast";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import type { Queryable } from "../sql/queryable.ts";

const raw = (client: PgClient) => (client as NodePostgresPgClient).rawClient as Queryable;

const MAX_WINDOW_SECONDS = 90 * 24 * 3600;
/** How long before a window a run that finishes inside it may have been created. */
const FINISH_LOOKBACK = "1 day";
const MAX_BUCKETS = 1000;

function windowSeconds(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 60 || n > MAX_WINDOW_SECONDS) {
    throw new ValidationError(`windowSeconds must be a whole number of seconds from 60 to ${MAX_WINDOW_SECONDS} (90 days), got ${String(value)}`);
  }
  return n;
}

function bucketSeconds(value: unknown, window: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 10) throw new ValidationError(`bucketSeconds must be a whole number of seconds ≥ 10, got ${String(value)}`);
  if (window / n > MAX_BUCKETS) throw new ValidationError(`windowSeconds / bucketSeconds must be at most ${MAX_BUCKETS} buckets, got ${Math.ceil(window / n)}`);
  return n;
}

export interface RunStatusCount {
  status: string;
  count: number;
}

export async function readRunStatusCounts(db: Queryable, window: number): Promise<RunStatusCount[]> {
  const { rows } = await db.query<RunStatusCount>(
    `select status, count(*)::int as count
       from everruns.runs
      where created_at >= now() - make_interval(secs => $1)
      group by status
      order by status`,
    [window],
  );
  return rows;
}

// Interrupted runs no continuation has answered yet (an answered run keeps its status and
// gains continued_by): runs_interrupted_idx holds exactly these, oldest first.
export async function countAwaitingAnswer(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "select count(*)::int as n from everruns.runs where status = 'interrupted' and continued_by is null",
  );
  return rows[0]!.n;
}

export async function readAwaitingAnswer(db: Queryable, first: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from everruns.runs
      where status = 'interrupted' and continued_by is null
      order by created_at, id
      limit $1`,
    [first],
  );
  return rows.map((r) => r.id);
}

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

/** Every bucket of the window, empty ones included, oldest first. */
export async function readThroughput(db: Queryable, window: number, bucket: number): Promise<ThroughputBucket[]> {
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
       -- wait steps measure how long a run waited, not how long work took: left out
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
    [window, bucket],
  );
  return rows.map((r) => ({ ...r, start: new Date(r.start).toISOString() }));
}

export interface AgentDailyUsage {
  day: string;
  agentId: string;
  agentName: string;
  runs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** Per agent and UTC day the runs started, over the last `days` days (today included). */
export async function readAgentDailyUsage(db: Queryable, days: number): Promise<AgentDailyUsage[]> {
  const { rows } = await db.query<AgentDailyUsage>(
    `select to_char(date_trunc('day', r.created_at at time zone 'UTC'), 'YYYY-MM-DD') as "day",
            r.agent_id as "agentId",
            a.name as "agentName",
            count(*)::int as "runs",
            coalesce(sum((r.usage ->> 'input_tokens')::float8), 0) as "inputTokens",
            coalesce(sum((r.usage ->> 'output_tokens')::float8), 0) as "outputTokens",
            round(coalesce(sum((r.usage ->> 'cost_usd')::numeric), 0), 6)::float8 as "costUsd"
       from everruns.runs r
       join everruns.agents a on a.id = r.agent_id
      where r.created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - make_interval(days => $1 - 1)
      group by 1, 2, 3
      order by 1, 3`,
    [days],
  );
  return rows;
}

export interface StepRunner {
  poolId: string;
  hostname: string;
  pid: number;
  concurrency: number;
  startedAt: string;
  runningJobs: number;
}

export async function readLiveWorkers(db: Queryable): Promise<StepRunner[]> {
  const { rows } = await db.query<StepRunner>(
    `select w.pool_id as "poolId", w.hostname, w.pid, w.concurrency, w.started_at as "startedAt",
            (select count(*) from graphile_worker._private_jobs j where j.locked_by = w.pool_id)::int as "runningJobs"
       from everruns_private.live_workers w
      order by w.started_at, w.pool_id`,
  );
  return rows.map((r) => ({ ...r, startedAt: new Date(r.startedAt).toISOString() }));
}

export interface QueueDepth {
  ready: number;
  scheduled: number;
  running: number;
  oldestReadyAgeMs: number | null;
}

export async function readQueueDepth(db: Queryable): Promise<QueueDepth> {
  const { rows } = await db.query<QueueDepth>(
    `select count(*) filter (where j.is_available and j.run_at <= now())::int as "ready",
            count(*) filter (where j.is_available and j.run_at > now())::int as "scheduled",
            count(*) filter (where j.locked_at is not null)::int as "running",
            round(extract(epoch from now() - min(j.run_at) filter (where j.is_available and j.run_at <= now())) * 1000)::float8 as "oldestReadyAgeMs"
       from graphile_worker._private_jobs j`,
  );
  return rows[0]!;
}

export const DashboardPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("DashboardPlugin: the everruns.runs resource is missing (is the everruns schema exposed?)");
  const executor = runs.executor;
  /** One read per request; the lookups of a batch are answered one by one (there is one per field). */
  const load = <A, T>(spec: Parameters<typeof loadOneWithPgClient>[1], read: (db: Queryable, args: A) => Promise<T>) =>
    loadOneWithPgClient(executor, spec, async (client, lookups) => Promise.all(lookups.map((args) => read(raw(client), args as A))));
  return {
    typeDefs: /* GraphQL */ `
      "How many runs created in the window have this status now."
      type RunStatusCount {
        status: String!
        count: Int!
      }
      "One time bucket of the dashboard's charts."
      type ThroughputBucket {
        "The bucket's start (it lasts bucketSeconds)."
        start: Datetime!
        "Runs created in the bucket."
        started: Int!
        "Runs that finished in the bucket, by outcome (among runs created up to a day before the window)."
        succeeded: Int!
        failed: Int!
        cancelled: Int!
        interrupted: Int!
        "Steps committed in the bucket by runs started in the window (waits excluded)."
        steps: Int!
        "Median duration of those steps, in ms (null when there were none)."
        stepP50Ms: Float
        "95th percentile duration of those steps, in ms."
        stepP95Ms: Float
      }
      "Tokens and cost of one agent's runs started on one UTC day."
      type AgentDailyUsage {
        "YYYY-MM-DD (UTC)."
        day: String!
        agentId: UUID!
        agentName: String!
        runs: Int!
        inputTokens: Float!
        outputTokens: Float!
        costUsd: Float!
      }
      "A worker process (a pool of step runners) whose liveness connection is open."
      type StepRunner {
        poolId: String!
        hostname: String!
        pid: Int!
        concurrency: Int!
        startedAt: Datetime!
        "Step jobs this worker holds right now."
        runningJobs: Int!
      }
      "The step queue (graphile-worker jobs not done yet)."
      type QueueDepth {
        "Jobs due now and waiting for a free worker."
        ready: Int!
        "Jobs due later: retries with backoff, timers, wait timeouts."
        scheduled: Int!
        "Jobs a worker holds."
        running: Int!
        "How long the oldest ready job has been due, in ms (null when none is ready)."
        oldestReadyAgeMs: Float
      }
      extend type Query {
        "Runs created in the last windowSeconds, counted by their current status."
        runStatusCounts(windowSeconds: Int!): [RunStatusCount!]!
        "Runs started and finished, and step latency, per bucket over the last windowSeconds (oldest first, empty buckets included)."
        runThroughput(windowSeconds: Int!, bucketSeconds: Int!): [ThroughputBucket!]!
        "Tokens and cost per agent per UTC day, for runs started in the last \`days\` days (today included)."
        agentDailyUsage(days: Int!): [AgentDailyUsage!]!
        "Worker processes alive right now, and what each holds."
        liveWorkers: [StepRunner!]!
        "The depth of the step queue right now."
        queueDepth: QueueDepth!
        "Interrupted runs waiting for an answer (no continuation run answered them yet), oldest first."
        runsAwaitingAnswer(first: Int = 100): [Run!]!
        "How many interrupted runs are waiting for an answer."
        runsAwaitingAnswerCount: Int!
      }
    `,
    objects: {
      Query: {
        plans: {
          runStatusCounts(_, fieldArgs) {
            return load({ windowSeconds: fieldArgs.getRaw("windowSeconds") }, (db, args: { windowSeconds: unknown }) =>
              readRunStatusCounts(db, windowSeconds(args.windowSeconds)),
            );
          },
          runThroughput(_, fieldArgs) {
            return load(
              { windowSeconds: fieldArgs.getRaw("windowSeconds"), bucketSeconds: fieldArgs.getRaw("bucketSeconds") },
              (db, args: { windowSeconds: unknown; bucketSeconds: unknown }) => {
                const window = windowSeconds(args.windowSeconds);
                return readThroughput(db, window, bucketSeconds(args.bucketSeconds, window));
              },
            );
          },
          agentDailyUsage(_, fieldArgs) {
            return load({ days: fieldArgs.getRaw("days") }, (db, args: { days: unknown }) => {
              const days = Number(args.days);
              if (!Number.isInteger(days) || days < 1 || days > 90) throw new ValidationError(`days must be a whole number from 1 to 90, got ${String(args.days)}`);
              return readAgentDailyUsage(db, days);
            });
          },
          liveWorkers() {
            return load({}, (db) => readLiveWorkers(db));
          },
          queueDepth() {
            return load({}, (db) => readQueueDepth(db));
          },
          runsAwaitingAnswer(_, fieldArgs) {
            const $ids = load({ first: fieldArgs.getRaw("first") }, (db, args: { first: unknown }) => {
              const first = args.first == null ? 100 : Number(args.first);
              if (!Number.isInteger(first) || first < 1 || first > 1000) throw new ValidationError(`first must be a whole number from 1 to 1000, got ${String(args.first)}`);
              return readAwaitingAnswer(db, first);
            });
            return each($ids, ($id) => runs.get({ id: $id }));
          },
          runsAwaitingAnswerCount() {
            return load({}, (db) => countAwaitingAnswer(db));
          },
        },
      },
    },
  };
});
