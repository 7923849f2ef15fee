// Per-step cost: the Everruns engine next to a bare graphile-worker chain, in the same process, on
// the same database, in the same run, alternating (the machines are shared and noisy: only the
// ratio means much). Bare chain: each step is one job that, in one transaction, inserts a row
// and add_job()s the next step. Everruns: a scripted agent whose turns call the zero-latency
// `echo` tool, so each step is the engine and the database alone: commit_step_and_begin_next
// (checkpoint, events, the job handed to the next step, which begins) with inline chaining, or
// begin_step + commit_step (next job) with it off.
import { Logger, run } from "graphile-worker";
import { createPool, withTransaction, type Pool } from "../../db/pool.ts";
import { benchChainStep } from "../../db/sql/benchChainStep.ts";
import { benchCreateChainTable } from "../../db/sql/benchCreateChainTable.ts";
import { benchStartChains } from "../../db/sql/benchStartChains.ts";
import { countRunSteps } from "../../db/sql/countRunSteps.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../../worker/main.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { countIn, createAgent, FINISHED, insertRuns, RunUpdates } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";

export interface BenchOptions {
  serverUrl: string;
  steps: number;
  chains: number[];
  repeat: number;
  concurrency: number;
  log: (line: string) => void;
}

export interface BenchRow {
  chains: number;
  bareStepsPerSec: number;
  /** with the worker's defaults: each commit begins the run's next step in the same transaction */
  everrunsStepsPerSec: number;
  /** Everruns' time per step divided by the bare chain's */
  ratio: number;
  /** with inline chaining off (WORKER_INLINE_CHAIN_MS=0): every step is its own job */
  unchainedStepsPerSec: number;
  unchainedRatio: number;
}

const silent = new Logger(() => (level, message) => {
  if (level === "error") console.error(message);
});

/** A scripted agent of about `steps` steps: turns that each call `echo` (an LLM step and a tool step), then the answer. */
export function echoChainConfig(steps: number): Record<string, unknown> {
  const turns = Math.max(1, Math.floor((steps - 1) / 2));
  return {
    provider: "scripted",
    tools: ["echo"],
    max_steps: steps + 10,
    script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
  };
}

async function bareChain(url: string, pool: Pool, chains: number, steps: number, concurrency: number): Promise<number> {
  const workerPool = createPool(url, "everruns-bench-bare", concurrency + 2);
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  let finished = 0;
  const runner = await run({
    pgPool: workerPool,
    concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: silent,
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    taskList: {
      chain_step: async (payload) => {
        const { chain, n } = payload as { chain: number; n: number };
        await withTransaction(workerPool, (client) => benchChainStep(client, chain, n, steps));
        if (n === steps && ++finished === chains) resolveDone();
      },
    },
  });
  const t0 = performance.now();
  await benchStartChains(pool, chains);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await runner.stop();
  await workerPool.end();
  return (chains * steps) / seconds;
}

/**
 * `chains` runs of the echo agent of about `steps` steps each, on a worker of this process
 * (started and stopped here) connected to `url`; the committed steps per second, start to finish.
 */
export async function everrunsChain(url: string, pool: Pool, chains: number, steps: number, concurrency: number, inlineChainMs?: number): Promise<number> {
  const agent = await createAgent(pool, "bench", echoChainConfig(steps));
  const worker = await startWorker({ databaseUrl: url, concurrency, shutdownTimeoutMs: 5000, inlineChainMs, log: consoleLogger("[bench]", "warn") });
  const updates = await RunUpdates.listen(url);
  const t0 = performance.now();
  const ids = await insertRuns(pool, agent, chains, "bench");
  await until(
    "the bench runs to finish",
    async () => countIn(await runStatusCounts(pool, ids), FINISHED) === ids.length,
    Infinity,
    () => updates.next(200),
  );
  const seconds = (performance.now() - t0) / 1000;
  await updates.close();
  await worker.stop();
  const failed = ids.length - ((await runStatusCounts(pool, ids)).succeeded ?? 0);
  if (failed > 0) throw new Error(`${failed} bench run(s) did not succeed`);
  return (await countRunSteps(pool, ids)) / seconds;
}

export async function runBench(opts: BenchOptions): Promise<BenchRow[]> {
  return withScratchDatabase(opts.serverUrl, "everruns_bench", async (url) => {
    const pool = createPool(url, "everruns-bench", 4);
    try {
      await benchCreateChainTable(pool);
      opts.log(await machineLine(pool));
      opts.log(
        `settings: ${opts.steps} steps per chain, concurrency ${opts.concurrency}, medians over ${opts.repeat} repetitions of the three in turn (ratios per repetition)`,
      );
      // warm up both paths (connections, plans, JIT)
      await bareChain(url, pool, 1, 20, opts.concurrency);
      await everrunsChain(url, pool, 1, 21, opts.concurrency);
      await everrunsChain(url, pool, 1, 21, opts.concurrency, 0);
      const rows: BenchRow[] = [];
      for (const chains of opts.chains) {
        const bare: number[] = [];
        const ours: number[] = [];
        const unchained: number[] = [];
        for (let i = 0; i < opts.repeat; i++) {
          bare.push(await bareChain(url, pool, chains, opts.steps, opts.concurrency));
          ours.push(await everrunsChain(url, pool, chains, opts.steps, opts.concurrency));
          unchained.push(await everrunsChain(url, pool, chains, opts.steps, opts.concurrency, 0));
          opts.log(
            `  chains=${chains} rep ${i + 1}: bare ${bare.at(-1)!.toFixed(0)} steps/s, everruns ${ours.at(-1)!.toFixed(0)} steps/s, ` +
              `everruns without inline chaining ${unchained.at(-1)!.toFixed(0)} steps/s`,
          );
        }
        // the ratio of each repetition's runs, then their median: a shared machine's load drifts
        // between repetitions (another test file, another tenant), much less within one
        rows.push({
          chains,
          bareStepsPerSec: median(bare),
          everrunsStepsPerSec: median(ours),
          ratio: median(bare.map((b, i) => b / ours[i]!)),
          unchainedStepsPerSec: median(unchained),
          unchainedRatio: median(bare.map((b, i) => b / unchained[i]!)),
        });
      }
      opts.log("");
      opts.log(
        "| chains | bare graphile-worker chain (steps/s) | Everruns (steps/s) | Everruns time per step ÷ bare | inline chaining off (steps/s) | ÷ bare |",
      );
      opts.log("|---:|---:|---:|---:|---:|---:|");
      for (const r of rows) {
        opts.log(
          `| ${r.chains} | ${r.bareStepsPerSec.toFixed(0)} | ${r.everrunsStepsPerSec.toFixed(0)} | ${r.ratio.toFixed(2)}× | ` +
            `${r.unchainedStepsPerSec.toFixed(0)} | ${r.unchainedRatio.toFixed(2)}× |`,
        );
      }
      return rows;
    } finally {
      await pool.end();
    }
  });
}
