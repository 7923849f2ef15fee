// A real graphile-worker pool that takes `run_step` jobs and holds them, so a test can act as
// the worker that runs them: call the engine's SQL functions with the job's {id, locked_by}
// and see what the database does. Jobs are taken and locked by graphile-worker itself, never by
// writing its tables. Concurrency 1: while it holds a job it takes no other (nor the same one
// again after force_unlock_workers frees it).
import { EventEmitter } from "node:events";
import { Logger, run, type Runner } from "graphile-worker";
import { createPool } from "../pool.ts";
import { waitFor } from "./helpers.ts";

export interface HeldJob {
  runId: string;
  /** as the engine passes it to commit_step & co. */
  ref: { id: string; locked_by: string };
}

export interface JobHolder {
  poolId: string;
  /** Waits until the holder has taken the job of `runId`. */
  take(runId: string): Promise<HeldJob>;
  /** Lets the held task end (graphile-worker then completes its job). */
  release(): void;
  stop(): Promise<void>;
}

export async function startJobHolder(databaseUrl: string): Promise<JobHolder> {
  const pool = createPool(databaseUrl, "everruns-test-holder", 3);
  const events = new EventEmitter();
  let poolId = "";
  events.on("pool:create", ({ workerPool }: { workerPool: { id: string } }) => (poolId = workerPool.id));
  let held: HeldJob | null = null;
  let release: (() => void) | null = null;
  const runner: Runner = await run({
    pgPool: pool,
    concurrency: 1,
    noHandleSignals: true,
    pollInterval: 50,
    events,
    logger: new Logger(() => () => {}),
    taskList: {
      run_step: async (payload, helpers) => {
        held = { runId: (payload as { run_id: string }).run_id, ref: { id: String(helpers.job.id), locked_by: helpers.job.locked_by! } };
        await new Promise<void>((resolve) => (release = resolve));
        held = null;
      },
    },
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  });
  return {
    poolId,
    take: (runId) => waitFor(`the holder to take the job of run ${runId}`, () => (held?.runId === runId ? held : null), 10_000),
    release: () => release?.(),
    async stop() {
      release?.();
      await runner.stop();
      await pool.end();
    },
  };
}
