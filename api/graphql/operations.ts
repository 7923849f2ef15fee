// The console's navigation (issue 13, point 11): the threads list, and the Workers & queue page
// (live workers and the steps they run, worker exits and the jobs a crash freed, the queue over
// time, waiting runs' deadlines, stuck runs). Read-only; any key may read them, each scoped to
// its workspace: runs, threads and steps under row-level security, the engine's tables through
// the security-definer readers of 000014. Workers serve every workspace, so every key sees that
// they exist, but only admins see their hosts and pids (as liveWorkers in dashboard.ts).
// workspaceLimits (issue 14): the caller's workspace's admission limits and usage, through the
// definer reader of 000022 (the limits table is private; administrators set it with the CLI),
// with 000023's running limit, weight, daily quotas (and today's usage), dedicated and
// admission usage; explainQueue: why one of the caller's
// runs waits (everruns.explain_queue), null for a run it cannot see.
import { loadOneWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import { context } from "postgraphile/grafast";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import { roleAllows } from "../../lib/api-key.ts";
import type { Auth } from "../auth.ts";
import type { Queryable } from "../../db/pool.ts";
import { listThreadSummaries } from "../../db/sql/listThreadSummaries.ts";
import { readQueueHistory } from "../../db/sql/readQueueHistory.ts";
import { readScheduledTimers } from "../../db/sql/readScheduledTimers.ts";
import { readStuckRuns } from "../../db/sql/readStuckRuns.ts";
import { readWorkerExits } from "../../db/sql/readWorkerExits.ts";
import { readWorkerStatuses } from "../../db/sql/readWorkerStatuses.ts";
import { readWorkspaceLimits } from "../../db/sql/workspaceLimits.ts";
import { explainQueue } from "../../db/sql/explainQueue.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

/** A whole number within [min, max], or a message naming the argument and its range. */
function whole(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value == null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ValidationError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

// fail closed: no key (only the schema export runs without one) sees no host or pid
const isAdmin = (auth: Auth | null) => auth != null && roleAllows(auth.role, "admin");
const MAX_WINDOW_SECONDS = 7 * 24 * 3600; // what 000014 keeps

export const OperationsPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("OperationsPlugin: the everruns.runs resource is missing (is the everruns schema exposed?)");
  const executor = runs.executor;
  const load = <A, T>(spec: Parameters<typeof loadOneWithPgClient>[1], read: (db: Queryable, args: A) => Promise<T>) =>
    loadOneWithPgClient(executor, spec, async (client, lookups) => Promise.all(lookups.map((args) => read(raw(client), args as A))));
  return {
    typeDefs: /* GraphQL */ `
      "A thread (a conversation) with its latest run."
      type ThreadSummary {
        threadId: UUID!
        agentId: UUID
        agentName: String
        createdAt: Datetime!
        "The latest change of the thread or of its latest run."
        lastActivityAt: Datetime!
        runCount: Int!
        latestRunId: UUID
        latestRunStatus: String
        "The thread's first user message (at most 160 characters)."
        title: String
      }
      "One page of threads, newest activity first."
      type ThreadSummaryPage {
        nodes: [ThreadSummary!]!
        hasNextPage: Boolean!
      }
      "A step a worker runs right now (only the caller's workspace's)."
      type WorkerStep {
        runId: UUID!
        agentName: String
        status: String!
        "The step the run's cursor names."
        step: Int!
        attempt: Int!
        "When the step began (null between taking the job and beginning it)."
        stepStartedAt: Datetime
        "When the worker took the job."
        lockedAt: Datetime!
      }
      "A live worker process (a pool of step runners)."
      type WorkerStatus {
        poolId: String!
        "The worker's host (admin keys only; null for others)."
        hostname: String
        "The worker's process id (admin keys only; null for others)."
        pid: Int
        concurrency: Int!
        startedAt: Datetime!
        "The last activity of its liveness connection (it checks for dead workers every 200 ms)."
        lastSeenAt: Datetime!
        "The steps of the caller's workspace it runs now."
        steps: [WorkerStep!]!
      }
      "A worker pool that stopped, or died and had its jobs freed by another worker's sweep."
      type WorkerExit {
        poolId: String!
        "Admin keys only; null for others."
        hostname: String
        "Admin keys only; null for others."
        pid: Int
        concurrency: Int!
        startedAt: Datetime!
        exitedAt: Datetime!
        "true: its liveness connection was gone and its jobs were freed; false: a clean stop."
        crashed: Boolean!
        "The caller's runs whose in-progress step the sweep freed (they begin again on another worker)."
        freedRunIds: [UUID!]!
      }
      "The caller's step queue in one time bucket (the deepest of its 5-second samples)."
      type QueueSample {
        start: Datetime!
        ready: Int!
        scheduled: Int!
        running: Int!
        oldestReadyAgeMs: Float
      }
      "A waiting run and what wakes it."
      type ScheduledTimer {
        runId: UUID!
        agentName: String
        "timer (a sleep) or event (waiting for a sendEvent, with a timeout)."
        kind: String!
        eventName: String
        "When it wakes (timer) or stops waiting (event timeout)."
        until: Datetime
        since: Datetime!
      }
      "A run that should progress and does not."
      type StuckRun {
        runId: UUID!
        agentName: String
        status: String!
        "no_job: nothing will advance it (workers repair that within ~5 s; if it stays, is any worker running?); stalled: its step began longer ago than the threshold and wrote no event since."
        reason: String!
        step: Int!
        attempt: Int!
        since: Datetime!
      }
      "The caller's workspace's admission limits (null: unlimited) and usage now. Administrators change them with \`everruns workspaces limits <workspace> --max-queued-runs N --runs-per-minute N --max-running-runs N --weight N --max-tokens-per-day N --max-cost-usd-per-day X --dedicated|--shared\`."
      type WorkspaceLimits {
        workspaceId: UUID!
        workspaceName: String!
        "At most this many runs queued at once (null: unlimited); a run beyond it is refused (workspace_limit)."
        maxQueuedRuns: Int
        "Runs admitted per minute, in bursts of up to this many (null: unlimited)."
        runsPerMinute: Int
        "At most this many runs active (holding a worker slot or due to) at once (null: unlimited); more wait queued."
        maxRunningRuns: Int
        "Fair share: worker slots go to workspaces in proportion to their weight (1..1000, default 1)."
        weight: Int!
        "Quota: input + output tokens of its LLM steps per UTC day (null: none; a whole number, up to 10^15). Over it, new LLM steps wait (type quota) until the next UTC midnight or until the quota is raised."
        maxTokensPerDay: Float
        "Quota: cost of its LLM steps per UTC day in USD (null: none); as maxTokensPerDay."
        maxCostUsdPerDay: Float
        "Only workers started for the workspace (\`everruns worker --workspace <name>\`) run its steps; shared workers never take them."
        dedicated: Boolean!
        "The workspace's queued runs now (admitted or waiting for a slot)."
        queuedRuns: Int!
        "Queued runs not admitted yet: waiting for a worker slot."
        pendingRuns: Int!
        "Runs holding a worker slot or due to (what maxRunningRuns counts)."
        activeRuns: Int!
        "When the longest-waiting pending run was created (null: none waits)."
        oldestPendingAt: Datetime
        "Input + output tokens of its LLM steps today (UTC), counted while a quota is set (null: no quota)."
        tokensToday: Float
        "Cost of its LLM steps today (UTC) in USD, counted while a quota is set (null: no quota)."
        costUsdToday: Float
        "The runs the runsPerMinute bucket would admit at once now (null: unlimited)."
        tokens: Int
        "When an administrator last changed the limits (null: never set)."
        updatedAt: Datetime
      }
      "Where a run stands in the queue and what holds it back."
      type QueueExplanation {
        runId: UUID!
        status: String!
        "Whether the run has been given a worker slot."
        admitted: Boolean!
        "What holds it back: max_running_runs (its workspace is at that limit), capacity (every worker slot is taken: fair share decides who is next), next (a slot is free: it is being admitted); null when not waiting for admission."
        heldBy: String
        "1 = next of its workspace; null when not waiting for admission."
        position: Int
        "Higher first within its workspace (-1000..1000): admitted as if queued that many minutes earlier."
        priority: Int!
        "The workspace's active runs (holding a worker slot or due to)."
        workspaceActive: Int!
        "The workspace's max_running_runs (null: unlimited)."
        maxRunningRuns: Int
        "The workspace's fair-share weight."
        weight: Int!
        "Worker slots over all workspaces: the live workers' capacity."
        slots: Int!
        "Worker slots taken now, over all workspaces."
        slotsTaken: Int!
        "Its position over the rate its workspace's runs ended at over the last 5 minutes (null: none ended)."
        estimatedWaitSeconds: Float
        "The explanation in words."
        message: String!
      }
      extend type Query {
        "The caller's workspace's admission limits and usage (null only without an API key)."
        workspaceLimits: WorkspaceLimits
        "Why one of the caller's runs waits: what holds it back, its place in its workspace's queue, an estimate (null: no such run)."
        explainQueue(runId: UUID!): QueueExplanation
        "Threads, newest activity first: first (1-200) from offset (0-10000), optionally of one agent."
        threadSummaries(first: Int = 50, offset: Int = 0, agentId: UUID): ThreadSummaryPage!
        "Live workers, and the steps of the caller's workspace each runs."
        workerStatuses: [WorkerStatus!]!
        "Workers that stopped or died in the last windowSeconds (60 s to 7 days), newest first."
        workerExits(windowSeconds: Int = 86400, first: Int = 50): [WorkerExit!]!
        "The caller's step queue over the last windowSeconds (60 s to 7 days) per bucketSeconds (at most 500 buckets), oldest first."
        queueHistory(windowSeconds: Int = 3600, bucketSeconds: Int = 60): [QueueSample!]!
        "Waiting runs, soonest deadline first."
        scheduledTimers(first: Int = 100): [ScheduledTimer!]!
        "Runs with no job, or running a step that wrote nothing for stalledSeconds (10 s to 1 day); oldest first."
        stuckRuns(stalledSeconds: Int = 300, first: Int = 100): [StuckRun!]!
      }
    `,
    objects: {
      Query: {
        plans: {
          threadSummaries(_, fieldArgs) {
            return load(
              { first: fieldArgs.getRaw("first"), offset: fieldArgs.getRaw("offset"), agentId: fieldArgs.getRaw("agentId") },
              (db, args: { first: unknown; offset: unknown; agentId: unknown }) =>
                listThreadSummaries(
                  db,
                  whole("first", args.first, 1, 200, 50),
                  whole("offset", args.offset, 0, 10_000, 0),
                  typeof args.agentId === "string" ? args.agentId : null,
                ),
            );
          },
          workerStatuses() {
            return load({ auth: context().get("everrunsAuth") }, async (db, args: { auth: Auth | null }) => {
              const workers = await readWorkerStatuses(db);
              return isAdmin(args.auth) ? workers : workers.map((w) => ({ ...w, hostname: null, pid: null }));
            });
          },
          workerExits(_, fieldArgs) {
            return load(
              { auth: context().get("everrunsAuth"), windowSeconds: fieldArgs.getRaw("windowSeconds"), first: fieldArgs.getRaw("first") },
              async (db, args: { auth: Auth | null; windowSeconds: unknown; first: unknown }) => {
                const exits = await readWorkerExits(
                  db,
                  whole("windowSeconds", args.windowSeconds, 60, MAX_WINDOW_SECONDS, 86400),
                  whole("first", args.first, 1, 500, 50),
                );
                return isAdmin(args.auth) ? exits : exits.map((e) => ({ ...e, hostname: null, pid: null }));
              },
            );
          },
          queueHistory(_, fieldArgs) {
            return load(
              { windowSeconds: fieldArgs.getRaw("windowSeconds"), bucketSeconds: fieldArgs.getRaw("bucketSeconds") },
              (db, args: { windowSeconds: unknown; bucketSeconds: unknown }) => {
                const window = whole("windowSeconds", args.windowSeconds, 60, MAX_WINDOW_SECONDS, 3600);
                const bucket = whole("bucketSeconds", args.bucketSeconds, 5, MAX_WINDOW_SECONDS, 60);
                if (window / bucket > 500)
                  throw new ValidationError(`windowSeconds / bucketSeconds must be at most 500 buckets, got ${Math.ceil(window / bucket)}`);
                return readQueueHistory(db, window, bucket);
              },
            );
          },
          scheduledTimers(_, fieldArgs) {
            return load({ first: fieldArgs.getRaw("first") }, (db, args: { first: unknown }) =>
              readScheduledTimers(db, whole("first", args.first, 1, 1000, 100)),
            );
          },
          workspaceLimits() {
            // a constant spec: one read per request, whoever asks (the workspace is the transaction's)
            return load({}, (db) => readWorkspaceLimits(db));
          },
          explainQueue(_, fieldArgs) {
            // an unknown run, or another workspace's (row-level security hides it): null, as runById
            return load({ runId: fieldArgs.getRaw("runId") }, (db, args: { runId: unknown }) =>
              typeof args.runId === "string" ? explainQueue(db, args.runId) : Promise.resolve(null),
            );
          },
          stuckRuns(_, fieldArgs) {
            return load(
              { stalledSeconds: fieldArgs.getRaw("stalledSeconds"), first: fieldArgs.getRaw("first") },
              (db, args: { stalledSeconds: unknown; first: unknown }) =>
                readStuckRuns(db, whole("stalledSeconds", args.stalledSeconds, 10, 86400, 300), whole("first", args.first, 1, 1000, 100)),
            );
          },
        },
      },
    },
  };
});
