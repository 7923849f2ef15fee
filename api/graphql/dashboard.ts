// Read-only aggregates for the operations dashboard of the console (web/): runs by status,
// throughput and step latency over time, tokens and cost per agent per day, live workers and
// the step queue. Everything is computed by the database, on the database clock: windows are
// given in seconds back from now(), never as client timestamps. The queries live in db/sql/
// (one file each, with why they are cheap enough to run on every change a dashboard sees).
//
// The worker and job tables are internal (everruns_private, graphile_worker) and stay out of
// the GraphQL schema; only these aggregates are exposed (and no type is named after them: a
// live worker is a `StepRunner`, the job queue a `QueueDepth`).
import { loadOneWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import { context, each } from "postgraphile/grafast";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import { roleAllows } from "../../lib/api-key.ts";
import type { Auth } from "../auth.ts";
import type { Queryable } from "../../db/pool.ts";
import { countAwaitingAnswer } from "../../db/sql/countAwaitingAnswer.ts";
import { readAgentDailyUsage } from "../../db/sql/readAgentDailyUsage.ts";
import { readAwaitingAnswer } from "../../db/sql/readAwaitingAnswer.ts";
import { readLiveWorkers } from "../../db/sql/readLiveWorkers.ts";
import { readQueueDepth } from "../../db/sql/readQueueDepth.ts";
import { readRunStatusCounts } from "../../db/sql/readRunStatusCounts.ts";
import { readThroughput } from "../../db/sql/readThroughput.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

const MAX_WINDOW_SECONDS = 90 * 24 * 3600;
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
        "The part of inputTokens read from the provider's prompt cache (billed at the cheaper cached rate)."
        cacheReadTokens: Float!
        "The part of inputTokens written to the provider's prompt cache."
        cacheWriteTokens: Float!
        "The part of outputTokens spent on reasoning (thinking)."
        reasoningTokens: Float!
        costUsd: Float!
      }
      "A worker process (a pool of step runners) whose liveness connection is open."
      type StepRunner {
        poolId: String!
        "The worker's host (admin keys only; null for others)."
        hostname: String
        "The worker's process id (admin keys only; null for others)."
        pid: Int
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
              if (!Number.isInteger(days) || days < 1 || days > 90)
                throw new ValidationError(`days must be a whole number from 1 to 90, got ${String(args.days)}`);
              return readAgentDailyUsage(db, days);
            });
          },
          liveWorkers() {
            // host names and pids map the deployment: admins only
            return load({ auth: context().get("everrunsAuth") }, async (db, args: { auth: Auth | null }) => {
              const workers = await readLiveWorkers(db);
              if (args.auth && roleAllows(args.auth.role, "admin")) return workers;
              return workers.map((w) => ({ ...w, hostname: null, pid: null }));
            });
          },
          queueDepth() {
            return load({}, (db) => readQueueDepth(db));
          },
          runsAwaitingAnswer(_, fieldArgs) {
            const $ids = load({ first: fieldArgs.getRaw("first") }, (db, args: { first: unknown }) => {
              const first = args.first == null ? 100 : Number(args.first);
              if (!Number.isInteger(first) || first < 1 || first > 1000)
                throw new ValidationError(`first must be a whole number from 1 to 1000, got ${String(args.first)}`);
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
