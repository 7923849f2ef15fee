// A worker process: a graphile-worker pool running `run_step` and `deliver_notification` (or, for a
// dedicated workspace, `run_step:<workspace id>` alone), a liveness connection with its crash
// sweeper, the schedule ticker (worker/schedule-ticker.ts), and a shutdown that loses no completion.
import { EventEmitter } from "node:events";
import { Logger as WorkerLogger, run, type Runner, type WorkerPool } from "graphile-worker";
import { createPool, dbTimeouts, describeTimeout, isUuid, poolWaits, type Pool, type PoolClient } from "../db/pool.ts";
import { checkConnectionBudget } from "../db/connection-budget.ts";
import { loadConnectionBudgetEnv, loadMetricsEnv } from "../db/env.ts";
import { Cancellations } from "./cancellations.ts";
import { HistoryCache } from "./history-cache.ts";
import { Liveness } from "./liveness.ts";
import { Notifier } from "./notifier.ts";
import type { Logger } from "../lib/logger.ts";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import { sleep } from "../lib/sleep.ts";
import { ConfigError, isConnectionError } from "../db/errors.ts";
import { connectClient } from "../db/connection-target.ts";
import { isWritable } from "../db/sql/ping.ts";
import { lazyProviders } from "./providers/registry.ts";
import { DEFAULT_COMMIT_RETRY_MS, makeRunStepTask, type EngineContext } from "./tasks/run_step.ts";
import { builtinTools } from "./tools/registry.ts";
import { httpMaxResponseBytesFromEnv } from "./tools/http.ts";
import { SecretResolver } from "./secrets.ts";
import { LazyMcpConnections, McpTools } from "./mcp/tools.ts";
import { SECRET_KEY_ENV, secretKeyFromEnv } from "../lib/secret-box.ts";
import { countSecretImports, sealSecretImports } from "../db/sql/secretImports.ts";
import { checkSchemaVersion } from "../db/migrate.ts";
import { makeDeliverNotificationTask, notifyMaxInFlightFromEnv, type NotificationsInFlight } from "./tasks/deliver_notification.ts";
import { ScheduleTicker, SCHEDULES_CHANNEL, schedulerFromEnv } from "./schedule-ticker.ts";
import { Maintenance, maintenanceIntervalFromEnv } from "./maintenance.ts";
import { listen } from "../db/sql/listen.ts";
import { WorkerMetrics } from "./metrics.ts";
import { TracingConfigError, tracingConfigFromEnv, type TracingConfig } from "../lib/tracing/config.ts";

export interface WorkerOptions {
  databaseUrl: string;
  /**
   * A direct connection to the same database when databaseUrl goes through a transaction-mode
   * pooler (DATABASE_DIRECT_URL): the liveness connection (with its LISTENs), the schema check and
   * the reconnect probe use it; the pool runs no named prepared statements.
   */
  directDatabaseUrl?: string;
  /** Steps run at once (--max-in-flight): each waits for its LLM or tool call holding no connection. */
  concurrency: number;
  /** Connections the pool may hold for steps' begins and commits, job fetches and completions (--db-connections); default 10. */
  dbConnections?: number;
  /** Connections of max_connections to leave to other clients (default EVERRUNS_DB_RESERVED_CONNECTIONS): see db/connection-budget.ts. */
  reservedConnections?: number;
  /** On stop, how long in-flight steps may run before they are aborted and handed back. */
  shutdownTimeoutMs: number;
  log: Logger;
  /** How long one job may run its run's steps back to back (see EngineContext); default 1000, 0: off. */
  inlineChainMs?: number;
  /** How long a finished step retries its commit while the database is unreachable; default DEFAULT_COMMIT_RETRY_MS (run_step.ts). */
  commitRetryMs?: number;
  crashPoint?: EngineContext["crashPoint"];
  /** OpenTelemetry traces (worker/trace-export.ts): default from the OTEL_* variables (lib/tracing/config.ts); null: off. */
  tracing?: TracingConfig | null;
  /**
   * The dedicated workspace this pool serves (everruns worker --workspace; 000023): it takes only
   * that workspace's step jobs (task `run_step:<workspace id>`, which shared pools never take) and
   * registers its slots as that workspace's. Unset: a shared pool (task `run_step`).
   */
  workspaceId?: string;
  /**
   * Run the schedule ticker (issue 16; every worker ticks every schedule, dedicated ones included:
   * the schedule's row lock makes each tick one worker's). Default: EVERRUNS_SCHEDULER, on unless
   * "off"; tests that do not want schedules fired say false.
   */
  scheduler?: boolean;
  /** ms between the ticker's ticks when no notification wakes it (default EVERRUNS_SCHEDULE_TICK_MS, 1000). */
  scheduleTickMs?: number;
  /**
   * Notification deliveries this process sends at once, over its pools (default
   * EVERRUNS_NOTIFY_MAX_IN_FLIGHT, 10): each may hold a slot up to 15 s, and the slots are the
   * steps' too. A shared pool only: a dedicated one takes no notification jobs.
   */
  notifyMaxInFlight?: number;
  /** Measure this pool's steps for /metrics (worker/metrics.ts; lib/metrics/registry.ts); default true. */
  metrics?: boolean;
}

/** The graphile-worker task of the step jobs a pool takes (everruns_private.step_task). */
export function stepTask(workspaceId: string | undefined): string {
  return workspaceId === undefined ? "run_step" : `run_step:${workspaceId}`;
}

/**
 * A job's chaining budget while every slot is busy. Measured (everruns bench --only inflight,
 * 2,000 runs of 3 one-second LLM calls on 500 slots): 1 s sent every step of a 1 s call back
 * through the queue (an add_job, a fetch and a completion per step: about twice the database's
 * CPU per step) and took 22.8 s; 10 s, 16.2 s. A newly queued run waits at most about this long
 * for a slot to come free.
 */
const DEFAULT_INLINE_CHAIN_MS = 10_000;
export const DEFAULT_DB_CONNECTIONS = 10;
/** Of --db-connections, graphile-worker's job fetches and completions and the notifier's sends; the rest are the steps'. */
export const CONTROL_CONNECTIONS = 2;
/** The fewest --db-connections: the control connections and one for steps. */
export const MIN_DB_CONNECTIONS = CONTROL_CONNECTIONS + 1;

/** The steps' share of --db-connections. */
function stepConnections(dbConnections: number): number {
  return Math.max(1, dbConnections - CONTROL_CONNECTIONS);
}

export interface WorkerHandle {
  poolId: string;
  /** Graceful stop: take no new jobs, let in-flight steps finish or hand them back, flush completions. */
  stop(): Promise<void>;
  /** Resolves when the pool stops by itself (a fatal error) or after stop(). */
  promise: Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const opts = withWorkspace(options);
  // The environment is checked before anything starts: an invalid value stops the worker now,
  // naming the variable, not at a run's first http tool call (a ConfigError).
  httpMaxResponseBytesFromEnv();
  const secretKey = secretKeyFromEnv();
  const schedulerEnv = schedulerFromEnv();
  const maintenanceIntervalMs = maintenanceIntervalFromEnv();
  const tracing = opts.tracing !== undefined ? opts.tracing : tracingFromEnv();
  const scheduler: SchedulerSettings = {
    enabled: opts.scheduler ?? schedulerEnv.enabled,
    tickMs: opts.scheduleTickMs ?? schedulerEnv.tickMs,
  };
  const notifyMaxInFlight = opts.notifyMaxInFlight ?? notifyMaxInFlightFromEnv();
  if (!Number.isInteger(notifyMaxInFlight) || notifyMaxInFlight < 1) {
    throw new ConfigError(`notifyMaxInFlight must be a whole number of deliveries of at least 1, got ${notifyMaxInFlight}`);
  }
  // A schema this code does not know (not migrated yet, or migrated by a newer release) stops the
  // worker now, saying what to do (db/migrate.ts): one query on a connection of its own.
  await checkSchemaVersion(directUrl(opts), { warn: (line) => opts.log.warn(line) });
  // A worker whose connections would not fit beside every other Everruns process's and the
  // reserve for other clients refuses to start, naming the numbers (before, an idle worker could
  // take every connection the server allows). Behind a pooler only its direct connection counts.
  const dbConnections = opts.dbConnections ?? DEFAULT_DB_CONNECTIONS;
  if (!Number.isInteger(dbConnections) || dbConnections < MIN_DB_CONNECTIONS) {
    throw new ConfigError(
      `dbConnections must be a whole number of at least ${MIN_DB_CONNECTIONS} (${CONTROL_CONNECTIONS} for jobs and notifications, the rest for steps), got ${dbConnections}`,
    );
  }
  const budget = await checkConnectionBudget({
    databaseUrl: directUrl(opts),
    who: "worker",
    wanted: opts.directDatabaseUrl === undefined ? dbConnections + 2 : 1,
    reserved: opts.reservedConnections ?? loadConnectionBudgetEnv().EVERRUNS_DB_RESERVED_CONNECTIONS,
    connectTimeoutMs: dbTimeouts().connectMs,
  });
  opts.log.info(budget.summary);
  for (const warning of budget.warnings) opts.log.warn(warning);
  // What outlives a database outage: the caches, and the in-flight steps' cancellation handles.
  const shared: Shared = {
    cancellations: new Cancellations(),
    histories: new HistoryCache(),
    configs: new Map(),
    providers: lazyProviders(),
    tools: builtinTools(),
    secretKey,
    inFlight: { running: 0, max: opts.concurrency },
    notifications: { running: 0, max: notifyMaxInFlight },
    scheduler,
    maintenanceIntervalMs,
    // MCP servers' connections (and stdio servers' processes) outlive a database outage too
    mcp: new LazyMcpConnections(opts.log),
    tracing,
  };
  let current = await startGeneration(opts, shared);
  void sealSecretImportsOnStart(current.pool, secretKey, opts.log); // after ready: a restart after a crash does not wait for it

  let stopRequested = false;
  const wake = new AbortController(); // ends a reconnect wait at once on stop()
  let stopping: Promise<void> | null = null;
  /** Stops of pools replaced after an outage, still finishing in the background. */
  const retiring = new Set<Promise<void>>();

  // The supervisor: a runner whose pool lost the database (or that ended by itself because of
  // it) is replaced, once the database answers again, by a new one with a new pool id and
  // liveness registration. The old pool stops in the background meanwhile: its in-flight steps
  // may still commit once the database is back (run_step.ts, commitWhenBack). Once it has
  // stopped, or OLD_POOL_GRACE_MS after the database is back, it is deregistered and the
  // sweepers (the new pool's included) free whatever jobs it still holds.
  const supervise = async (): Promise<void> => {
    while (true) {
      const ended = await Promise.race([
        current.runner.promise.then(
          () => null,
          (error: unknown) => error ?? new Error("graphile-worker failed without an error"),
        ),
        current.lost,
      ]);
      if (stopRequested) return;
      const gen = current;
      const reason = gen.outage ?? connectionErrorIn(ended) ?? (await probe(directUrl(opts)));
      if (!reason) {
        const error =
          ended instanceof Error ? ended : new Error(ended === null ? "graphile-worker stopped by itself" : `graphile-worker failed: ${describe(ended)}`);
        opts.log.error(`worker pool ${gen.poolId} failed: ${error.message}`);
        await stopGeneration(gen, opts);
        throw error;
      }
      const since = performance.now();
      opts.log.warn(`database unreachable (${reason.message}): worker pool ${gen.poolId} takes no new jobs; reconnecting with backoff`);
      const old = stopGeneration(gen, opts);
      retiring.add(old);
      void old.finally(() => retiring.delete(old));
      for (let failures = 1; ; failures++) {
        if (stopRequested) return;
        if (!(await probe(directUrl(opts)))) {
          if (!(await settlesWithin(old, OLD_POOL_GRACE_MS))) {
            opts.log.warn(
              `worker pool ${gen.poolId} is still stopping ${OLD_POOL_GRACE_MS / 1000} s after the database came back: deregistering it, so that the jobs it holds are freed`,
            );
            await gen.liveness.stop();
          }
          try {
            const next = await startGeneration(opts, shared);
            current = next;
            if (stopRequested) {
              await stopGeneration(next, opts);
              return;
            }
            break;
          } catch (error) {
            if (!isConnectionError(error)) {
              opts.log.error(`worker pool could not be restarted after the database outage: ${(error as Error).message}`);
              throw error;
            }
          }
        }
        await sleep(backoffMs(RECONNECT_BACKOFF, failures), wake.signal).catch(() => undefined);
      }
      const seconds = ((performance.now() - since) / 1000).toFixed(1);
      opts.log.info(`database back after ${seconds} s: worker pool ${current.poolId} replaces ${gen.poolId}`);
    }
  };
  const promise = supervise();
  promise.catch(() => undefined); // the caller awaits it; a stop() alone must not leave it unhandled

  const stop = () =>
    (stopping ??= (async () => {
      stopRequested = true;
      wake.abort();
      await stopGeneration(current, opts);
      await Promise.all(retiring);
      await promise.catch(() => undefined);
      await shared.mcp.close();
    })());

  return {
    get poolId() {
      return current.poolId;
    },
    stop,
    promise,
  };
}

/** The options with workspaceId checked and in lower case, as step_task writes it in the task name; ConfigError when it is no uuid. */
function withWorkspace(opts: WorkerOptions): WorkerOptions {
  if (opts.workspaceId === undefined) return opts;
  if (!isUuid(opts.workspaceId)) {
    throw new ConfigError(`workspaceId must be a workspace's id (a uuid: everruns workspaces list shows them), got ${JSON.stringify(opts.workspaceId)}`);
  }
  return { ...opts, workspaceId: opts.workspaceId.toLowerCase() };
}

/** How long a pool replaced after an outage may go on stopping once the database is back. */
const OLD_POOL_GRACE_MS = 5_000;

/** True when `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/** How long past the shutdown timeout graphile-worker may take to record its last completions. */
const RUNNER_STOP_GRACE_MS = 15_000;

/** Delays between reconnect tries while the database is unreachable. */
const RECONNECT_BACKOFF: BackoffPolicy = { initial_delay_ms: 250, max_delay_ms: 2_000, multiplier: 2 };

interface Shared {
  cancellations: Cancellations;
  histories: HistoryCache;
  configs: NonNullable<EngineContext["configs"]>;
  providers: EngineContext["providers"];
  tools: EngineContext["tools"];
  secretKey: Buffer | undefined;
  /** Steps running in this process, over every pool (one replaced after an outage may still finish some). */
  inFlight: NonNullable<EngineContext["inFlight"]>;
  /** Notification deliveries sending in this process, over every pool (the cap is per process). */
  notifications: NotificationsInFlight;
  scheduler: SchedulerSettings;
  /** partitions ahead and retention (worker/maintenance.ts): ms between rounds */
  maintenanceIntervalMs: number;
  mcp: LazyMcpConnections;
  /** OpenTelemetry traces' configuration; null: off (no tracing work at all) */
  tracing: TracingConfig | null;
}

interface SchedulerSettings {
  enabled: boolean;
  tickMs: number;
}

/** Where the worker's session-bound connections go: the direct URL behind a pooler, else databaseUrl. */
function directUrl(opts: WorkerOptions): string {
  return opts.directDatabaseUrl ?? opts.databaseUrl;
}

const LOCAL_QUEUE_FROM = 32;

/**
 * Jobs graphile-worker fetches (and locks) at once into its local queue and hands out in-process,
 * so that a thousand slots do not each poll the database: a tenth of the slots, up to 200; -1
 * (off: each slot polls) for LOCAL_QUEUE_FROM slots or fewer, where polling costs little. The
 * local queue locks jobs it cannot start yet (an operator sees the worker holding them), and a
 * larger batch would keep jobs from another worker that sits idle.
 */
export function localQueueSize(maxInFlight: number): number {
  return maxInFlight <= LOCAL_QUEUE_FROM ? -1 : Math.min(200, Math.ceil(maxInFlight / 10));
}

/** One graphile-worker runner with its pool and liveness registration; replaced after an outage. */
interface Generation {
  poolId: string;
  /** the steps' connections */
  pool: Pool;
  /** graphile-worker's (job fetches, completions, its LISTEN) and the notifier's */
  controlPool: Pool;
  notifier: Notifier;
  runner: Runner;
  liveness: Liveness;
  /** this generation's schedule ticker (null: EVERRUNS_SCHEDULER=off); one per process, as one generation runs at a time */
  ticker: ScheduleTicker | null;
  /** this generation's maintenance rounds (worker/maintenance.ts) */
  maintenance?: Maintenance;
  /** this generation's span exporter (worker/trace-export.ts); absent when tracing is off */
  traces?: { start(): void; stop(): Promise<void> } | null;
  /** Set when the runner was stopped because its pool reported a lost database connection. */
  outage: Error | null;
  /** Resolves with `outage` once it is set. */
  lost: Promise<Error>;
  stopping: Promise<void> | null;
}

async function startGeneration(opts: WorkerOptions, shared: Shared): Promise<Generation> {
  const dbConnections = opts.dbConnections ?? DEFAULT_DB_CONNECTIONS;
  // One more than the steps' connections: graphile-worker's LISTEN client is taken from this pool
  // and held. The slots never hold one while they wait on an LLM or a tool; a burst of commits
  // waits for a free connection rather than opening more.
  const pooled = opts.directDatabaseUrl !== undefined;
  // Two pools out of the --db-connections budget. The steps' (begins, event writes, commits) may
  // have a thousand slots queueing for it in a burst; graphile-worker's job fetches and
  // completions and the notifier's sends are short and must not queue behind that (a completion
  // graphile-worker cannot record within the connect timeout stops its whole pool). The control
  // pool holds one more: graphile-worker's LISTEN client, taken from it for good.
  const pool = createPool(opts.databaseUrl, "everruns-worker", stepConnections(dbConnections), { pooled, log: opts.log });
  const controlPool = createPool(opts.databaseUrl, "everruns-worker-control", CONTROL_CONNECTIONS + 1, { pooled, log: opts.log });
  const draining = new AbortController();
  // this pool's step commits notify listeners through it, after they commit (000017)
  const notifier = new Notifier({ pool: controlPool, log: opts.log });
  const ctx: EngineContext = {
    pool,
    notifier,
    // each provider's implementation (and SDK) is imported on its first call
    providers: shared.providers,
    tools: shared.tools,
    cancellations: shared.cancellations,
    histories: shared.histories,
    configs: shared.configs,
    log: opts.log,
    inlineChainMs: opts.inlineChainMs ?? DEFAULT_INLINE_CHAIN_MS,
    ...(opts.commitRetryMs !== undefined && { commitRetryMs: opts.commitRetryMs }),
    draining: draining.signal,
    crashPoint: opts.crashPoint,
    // EVERRUNS_SECRET_KEY: only workers decrypt; without it a run that refers to a secret fails saying so
    secrets: new SecretResolver({ db: pool, key: shared.secretKey }),
    inFlight: shared.inFlight,
    mcp: new McpTools(pool, shared.mcp, opts.log, { secretKey: shared.secretKey }),
    ...(opts.metrics !== false && { metrics: new WorkerMetrics(pool, { maxLabelValues: loadMetricsEnv().METRICS_MAX_LABEL_VALUES }) }),
  };
  // OpenTelemetry traces, loaded only when configured: told of each commit, exported off the steps' path
  const traces = shared.tracing ? await (await import("./trace-export.ts")).TraceExport.create({ pool, log: opts.log, config: shared.tracing }) : null;
  if (traces) ctx.traces = traces;

  // The ticker's transactions go on the steps' pool: short, and never in the way of
  // graphile-worker's completions on the control pool.
  const ticker = shared.scheduler.enabled ? new ScheduleTicker({ pool, log: opts.log, tickMs: shared.scheduler.tickMs }) : null;

  const events = new EventEmitter();
  let poolId = "";
  let workerPool: WorkerPool | null = null;
  let gen: Generation | null = null;
  events.on("pool:create", (event: { workerPool: WorkerPool }) => {
    workerPool = event.workerPool;
    poolId = event.workerPool.id;
  });
  // From the start of a shutdown on, steps are no longer chained inline: each in-flight job
  // ends with the step it is running.
  events.on("pool:gracefulShutdown", () => draining.abort());
  events.on("pool:forcefulShutdown", () => draining.abort());
  // The pool lost the database (its LISTEN connection, or fetching a job): stop taking jobs; the
  // supervisor in startWorker reconnects and starts a new runner.
  let reportLost: (reason: Error) => void = () => undefined;
  const lostDatabase = new Promise<Error>((resolve) => (reportLost = resolve));
  const lost = ({ error }: { error?: unknown }) => {
    const reason = connectionErrorIn(error);
    if (!reason || !gen || gen.outage || gen.stopping) return;
    gen.outage = reason;
    reportLost(reason);
    void gen.runner.stop().catch(() => undefined);
  };
  events.on("pool:listen:error", lost);
  events.on("worker:getJob:error", lost);
  events.on("worker:fatalError", lost);
  // a job's completion or failure could not be recorded: the job stays locked by this pool, and
  // only this pool's end (its liveness deregistered) lets the sweepers free it
  events.on("pool:fatalError", lost);
  // The ticker's wake-ups (schedule changes, schedule runs' ends) come on graphile-worker's LISTEN
  // connection, which the worker keeps anyway: no connection of its own. graphile-worker hands it
  // over in pool:listen:success (again after each reconnect) and passes on every notification it
  // hears. Behind a transaction-mode pooler that connection hears nothing: the ticker then runs on
  // its period alone.
  if (ticker && !pooled) {
    events.on("pool:listen:success", ({ client }: { client: PoolClient }) => {
      // after graphile-worker's own LISTEN, which it sends right after this event: a client runs
      // one query at a time, and queueing a second behind a busy one is deprecated in pg
      client.once("drain", () => {
        listen(client, [SCHEDULES_CHANNEL]).catch((error: unknown) =>
          opts.log.warn(`could not LISTEN on ${SCHEDULES_CHANNEL} (the schedule ticker runs on its period): ${(error as Error).message}`),
        );
      });
    });
    events.on("pool:listen:notification", ({ message }: { message: { channel: string } }) => {
      if (message.channel === SCHEDULES_CHANNEL) ticker.wake();
    });
  }

  let runner: Runner;
  try {
    runner = await run({
      pgPool: controlPool,
      concurrency: opts.concurrency,
      noHandleSignals: true,
      // NOTIFY wakes workers at once; polling only catches what a notification missed.
      pollInterval: 1000,
      gracefulShutdownAbortTimeout: opts.shutdownTimeoutMs,
      // a dedicated pool takes only its workspace's jobs; a shared one never takes those.
      // deliver_notification: shared pools only. A dedicated pool's slots are its workspace's
      // steps', and a delivery (of any workspace: the job names none) may hold one up to 15 s.
      taskList: {
        [stepTask(opts.workspaceId)]: makeRunStepTask(ctx),
        ...(opts.workspaceId === undefined && {
          deliver_notification: makeDeliverNotificationTask({
            pool,
            secretKey: shared.secretKey,
            log: opts.log,
            inFlight: shared.notifications,
          }),
        }),
      },
      logger: workerLogger(opts.log),
      events,
      preset: {
        worker: {
          // Batched completion: graphile-worker's shutdown awaits a batch's flush, but not a
          // single fire-and-forget completion (those were lost on stop: a finished job stayed
          // locked for 4 hours and ran again). Completions of one tick go in one statement.
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          // jobs fetched in batches by the pool, not polled for by each of the slots
          localQueue: { size: localQueueSize(opts.concurrency) },
          // a transaction-mode pooler hands each statement to any server connection
          preparedStatements: opts.directDatabaseUrl === undefined,
        },
      },
    });
  } catch (error) {
    await notifier.stop();
    await Promise.all([endPool(pool), endPool(controlPool)]);
    throw error;
  }
  if (!poolId) throw new Error("graphile-worker did not report its pool id");

  const nudge = workerPool as WorkerPool | null;
  const liveness = new Liveness({
    databaseUrl: directUrl(opts),
    // Behind a pooler graphile-worker's own LISTEN (through it) hears nothing: the liveness
    // connection listens for new jobs instead and nudges the pool.
    ...(opts.directDatabaseUrl !== undefined && nudge && { onJobsAdded: (count: number) => nudge.nudge(count) }),
    poolId,
    concurrency: opts.concurrency,
    ...(opts.workspaceId !== undefined && { workspaceId: opts.workspaceId }),
    log: opts.log,
    onCancel: (runId) => {
      if (shared.cancellations.cancel(runId) > 0) opts.log.info(`aborted the in-flight step of cancelled run ${runId}`);
    },
  });
  try {
    await liveness.ready;
  } catch (error) {
    await runner.stop().catch(() => undefined);
    await liveness.stop();
    await notifier.stop();
    await Promise.all([endPool(pool), endPool(controlPool)]);
    throw error;
  }
  gen = { poolId, pool, controlPool, notifier, runner, liveness, ticker, outage: null, lost: lostDatabase, stopping: null };
  gen.traces = traces;
  // partitions ahead and retention: short transactions on the steps' pool, one worker at a time
  gen.maintenance = new Maintenance({ pool, log: opts.log, intervalMs: shared.maintenanceIntervalMs });
  gen.maintenance.start();
  ticker?.start();
  traces?.start();
  opts.log.info(
    `worker pool ${poolId} started${opts.workspaceId === undefined ? "" : ` for dedicated workspace ${opts.workspaceId} only`} (max in flight ${opts.concurrency}, ${opts.workspaceId === undefined ? `notifications at most ${shared.notifications.max} at once` : "no notifications"}, db connections ${dbConnections} + 1 LISTEN + 1 liveness${opts.directDatabaseUrl ? ", through a pooler" : ""}, ${ticker ? `schedule ticker every ${shared.scheduler.tickMs} ms` : "no schedule ticker"}, pid ${process.pid})`,
  );
  return gen;
}

/** Graceful stop: take no new jobs, let in-flight steps finish or hand them back, flush completions. */
function stopGeneration(gen: Generation, opts: WorkerOptions): Promise<void> {
  const { log, shutdownTimeoutMs } = opts;
  return (gen.stopping ??= (async () => {
    log.info(`worker pool ${gen.poolId} stopping: finishing in-flight steps (up to ${shutdownTimeoutMs} ms)`);
    // no new tick; the one in flight ends its transaction before the pool ends
    const tickerStopped = gen.ticker?.stop().catch(() => undefined);
    const maintenanceStopped = gen.maintenance?.stop().catch(() => undefined);
    const stopped = (async () => {
      try {
        await gen.runner.stop();
      } catch (error) {
        // a runner that already ended (after an outage) says so here: nothing left to stop
        if (!gen.outage) log.debug(`graphile-worker stopped with an error: ${(error as Error).message}`);
      }
      await gen.runner.promise.catch(() => undefined);
    })();
    // Bounded: a runner that cannot finish its shutdown (a completion it cannot record after an
    // outage) must not keep this pool registered as alive, holding its jobs locked for ever. A
    // step still running in it is fenced out at its commit once the sweepers free its job.
    const limitMs = shutdownTimeoutMs + RUNNER_STOP_GRACE_MS + (opts.commitRetryMs ?? DEFAULT_COMMIT_RETRY_MS);
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([stopped.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), limitMs)))]);
    clearTimeout(timer);
    if (late) log.warn(`worker pool ${gen.poolId}: graphile-worker did not stop within ${limitMs} ms; deregistering it anyway (the sweepers free its jobs)`);
    // Only now: until the completions above are flushed, this pool's jobs must stay protected.
    await gen.liveness.stop();
    // the last commits' spans, alongside the rest (bounded: stop() sends for 4 s at most; what an
    // endpoint that does not answer leaves, the sweep of a running worker sends later)
    const tracesStopped = settlesWithin(gen.traces?.stop() ?? Promise.resolve(), 5_000);
    // the last commits' notifications (bounded: after an outage a send may fail, and is dropped)
    await settlesWithin(gen.notifier.stop(), 5_000);
    await settlesWithin(tickerStopped ?? Promise.resolve(), 10_000);
    await settlesWithin(maintenanceStopped ?? Promise.resolve(), 10_000);
    await tracesStopped;
    const waits = poolWaits(gen.pool);
    await Promise.all([endPool(gen.pool), endPool(gen.controlPool)]);
    const { sent, batches, dropped } = gen.notifier.stats;
    log.info(
      `worker pool ${gen.poolId} stopped (notifications: ${sent} sent in ${batches} batches, ${dropped} dropped` +
        (waits ? `; waits for a connection: ${waits.slow} over 1 s, longest ${Math.round(waits.maxMs)} ms)` : ")"),
    );
  })());
}

/** pool.end(), bounded: after an outage a client may never say goodbye. */
async function endPool(pool: Pool): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([pool.end().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
  clearTimeout(timer);
}

/** The connection error in `error`, its causes or its aggregated errors; null when none. */
function connectionErrorIn(error: unknown, depth = 0): Error | null {
  if (!error || depth > 5) return null;
  if (isConnectionError(error)) return error instanceof Error ? error : new Error(describe(error));
  const e = error as { cause?: unknown; errors?: unknown };
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = connectionErrorIn(inner, depth + 1);
      if (found) return found;
    }
  }
  return e.cause !== undefined && e.cause !== error ? connectionErrorIn(e.cause, depth + 1) : null;
}

/** A thrown value that is not an Error, as text. */
function describe(value: unknown): string {
  const message = (value as { message?: unknown } | null)?.message;
  if (typeof message === "string") return message;
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

/**
 * null when a new connection (to the writable host of a multi-host URL) answers and accepts
 * writes; the error otherwise. A standby answering under the primary's name (a failover under
 * way) is not back yet: the new pool would only fail its first job.
 */
async function probe(databaseUrl: string): Promise<Error | null> {
  let client: Awaited<ReturnType<typeof connectClient>> | undefined;
  try {
    client = await connectClient(databaseUrl, { connectionTimeoutMillis: 3_000 });
    if (!(await isWritable(client))) return new Error("the database answers read-only (a standby, or a failover under way)");
    return null;
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Seals the credentials migration 000007 took out of old agent configs, when this worker has the key. */
async function sealSecretImportsOnStart(pool: Pool, key: Buffer | undefined, log: Logger): Promise<void> {
  try {
    if (!key) {
      const waiting = await countSecretImports(pool);
      if (waiting > 0) log.warn(`${waiting} credential(s) taken out of agent configs wait to be sealed as secrets: start a worker with ${SECRET_KEY_ENV}`);
      return;
    }
    const sealed = await sealSecretImports(pool, key);
    if (sealed > 0) log.info(`sealed ${sealed} credential(s) taken out of agent configs as secrets (everruns secrets list shows them)`);
  } catch (error) {
    log.warn(`could not seal the credentials taken out of agent configs: ${(error as Error).message}`);
  }
}

function workerLogger(log: Logger): WorkerLogger {
  return new WorkerLogger(() => (level, message, meta) => {
    // a job that failed on one of our database timeouts: say which, and what sets it
    const timeout = describeTimeout((meta as { error?: unknown } | undefined)?.error);
    if (timeout) log.warn(timeout);
    // graphile-worker logs every completed job at info: that is our debug.
    if (level === "error") log.error(`graphile-worker: ${message}`);
    else if (level === "warning") log.warn(`graphile-worker: ${message}`);
    else log.debug(`graphile-worker: ${message}`);
  });
}

/** The OTEL_* variables' tracing configuration (lib/tracing/config.ts); a ConfigError naming the variable when one is unusable. */
function tracingFromEnv(): TracingConfig | null {
  try {
    return tracingConfigFromEnv(process.env, "everruns-worker");
  } catch (error) {
    if (error instanceof TracingConfigError) throw new ConfigError(`tracing: ${error.message}`);
    throw error;
  }
}
