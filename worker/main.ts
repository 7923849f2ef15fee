// A worker process: a graphile-worker pool running `run_step`, a liveness connection with its
// crash sweeper, and a shutdown that loses no completion.
import { EventEmitter } from "node:events";
import { Logger as WorkerLogger, run, type Runner } from "graphile-worker";
import { createPool, type Pool } from "../db/pool.ts";
import { Cancellations } from "./cancellations.ts";
import { HistoryCache } from "./history-cache.ts";
import { Liveness } from "./liveness.ts";
import type { Logger } from "../lib/logger.ts";
import { lazyProviders } from "./providers/registry.ts";
import { makeRunStepTask, type EngineContext } from "./tasks/run_step.ts";
import { builtinTools } from "./tools/registry.ts";
import { httpMaxResponseBytesFromEnv } from "./tools/http.ts";
import { SecretResolver } from "./secrets.ts";
import { SECRET_KEY_ENV, secretKeyFromEnv } from "../lib/secret-box.ts";
import { countSecretImports, sealSecretImports } from "../db/sql/secretImports.ts";

export interface WorkerOptions {
  databaseUrl: string;
  concurrency: number;
  /** On stop, how long in-flight steps may run before they are aborted and handed back. */
  shutdownTimeoutMs: number;
  log: Logger;
  /** How long one job may run its run's steps back to back (see EngineContext); default 1000, 0: off. */
  inlineChainMs?: number;
  crashPoint?: EngineContext["crashPoint"];
}

const DEFAULT_INLINE_CHAIN_MS = 1000;

export interface WorkerHandle {
  poolId: string;
  /** Graceful stop: take no new jobs, let in-flight steps finish or hand them back, flush completions. */
  stop(): Promise<void>;
  /** Resolves when the pool stops by itself (a fatal error) or after stop(). */
  promise: Promise<void>;
}

export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  // The environment is checked before anything starts: an invalid value stops the worker now,
  // naming the variable, not at a run's first http tool call (a ConfigError).
  httpMaxResponseBytesFromEnv();
  const pool = createPool(opts.databaseUrl, "everruns-worker", opts.concurrency + 2);
  const cancellations = new Cancellations();
  const draining = new AbortController();
  const secretKey = secretKeyFromEnv();
  const ctx: EngineContext = {
    pool,
    // each provider's implementation (and SDK) is imported on its first call
    providers: lazyProviders(),
    tools: builtinTools(),
    cancellations,
    histories: new HistoryCache(),
    configs: new Map(),
    log: opts.log,
    inlineChainMs: opts.inlineChainMs ?? DEFAULT_INLINE_CHAIN_MS,
    draining: draining.signal,
    crashPoint: opts.crashPoint,
    // EVERRUNS_SECRET_KEY: only workers decrypt; without it a run that refers to a secret fails saying so
    secrets: new SecretResolver({ db: pool, key: secretKey }),
  };

  const events = new EventEmitter();
  let poolId = "";
  events.on("pool:create", ({ workerPool }: { workerPool: { id: string } }) => {
    poolId = workerPool.id;
  });
  // From the start of a shutdown on, steps are no longer chained inline: each in-flight job
  // ends with the step it is running.
  events.on("pool:gracefulShutdown", () => draining.abort());
  events.on("pool:forcefulShutdown", () => draining.abort());

  const runner: Runner = await run({
    pgPool: pool,
    concurrency: opts.concurrency,
    noHandleSignals: true,
    // NOTIFY wakes workers at once; polling only catches what a notification missed.
    pollInterval: 1000,
    gracefulShutdownAbortTimeout: opts.shutdownTimeoutMs,
    taskList: { run_step: makeRunStepTask(ctx) },
    logger: workerLogger(opts.log),
    events,
    preset: {
      // Batched completion: graphile-worker's shutdown awaits a batch's flush, but not a
      // single fire-and-forget completion (those were lost on stop: a finished job stayed locked for 4 hours and ran again).
      worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 },
    },
  });
  if (!poolId) throw new Error("graphile-worker did not report its pool id");

  const liveness = new Liveness({
    databaseUrl: opts.databaseUrl,
    poolId,
    concurrency: opts.concurrency,
    log: opts.log,
    onCancel: (runId) => {
      if (cancellations.cancel(runId) > 0) opts.log.info(`aborted the in-flight step of cancelled run ${runId}`);
    },
  });
  await liveness.ready;
  opts.log.info(`worker pool ${poolId} started (concurrency ${opts.concurrency}, pid ${process.pid})`);
  void sealSecretImportsOnStart(pool, secretKey, opts.log); // after ready: a restart after a crash does not wait for it

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      opts.log.info(`worker pool ${poolId} stopping: finishing in-flight steps (up to ${opts.shutdownTimeoutMs} ms)`);
      try {
        await runner.stop();
      } catch (error) {
        opts.log.warn(`graphile-worker stopped with an error: ${(error as Error).message}`);
      }
      // Only now: until the completions above are flushed, this pool's jobs must stay protected.
      await liveness.stop();
      await pool.end();
      opts.log.info(`worker pool ${poolId} stopped`);
    })());

  const promise = runner.promise.then(
    () => stop(),
    async (error: Error) => {
      opts.log.error(`worker pool ${poolId} failed: ${error.message}`);
      await stop();
      throw error;
    },
  );
  return { poolId, stop, promise };
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
  return new WorkerLogger(() => (level, message) => {
    // graphile-worker logs every completed job at info: that is our debug.
    if (level === "error") log.error(`graphile-worker: ${message}`);
    else if (level === "warning") log.warn(`graphile-worker: ${message}`);
    else log.debug(`graphile-worker: ${message}`);
  });
}
