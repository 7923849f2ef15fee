// Scaling: many concurrent runs over 1, 2 and 4 spawned `everruns worker` processes: steps/s and
// step-to-step latency (run_steps: started_at of step n+1 minus finished_at of step n, both from
// the database clock), each on a fresh database.
import { createPool } from "../../db/pool.ts";
import { benchStepTimings } from "../../db/sql/benchStepTimings.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { spawnWorkerProcess, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { countIn, createAgent, FINISHED, insertRuns } from "../harness/runs.ts";
import { until } from "../harness/wait.ts";
import { echoChainConfig } from "./ratio.ts";

export interface ScalingOptions {
  serverUrl: string;
  /** worker process counts to measure, e.g. [1, 2, 4] */
  workers: number[];
  /** concurrent runs, all inserted at once */
  runs: number;
  /** steps per run (an odd number: tool turns + the final answer) */
  steps: number;
  /** per worker process */
  concurrency: number;
  log: (line: string) => void;
}

export interface ScalingRow {
  workers: number;
  runs: number;
  steps: number;
  seconds: number;
  stepsPerSec: number;
  /** ms between a step's commit and the next step's begin, from run_steps */
  gapP50: number;
  gapP99: number;
  /** ms a step took from begin to commit (no provider latency: engine and database only) */
  stepP50: number;
}

async function scalingRow(serverUrl: string, workerCount: number, runs: number, opts: ScalingOptions): Promise<ScalingRow> {
  return withScratchDatabase(serverUrl, "everruns_bench", async (url) => {
    const pool = createPool(url, "everruns-bench", 2);
    const workers: WorkerProcess[] = [];
    try {
      const agent = await createAgent(pool, "bench-scaling", echoChainConfig(opts.steps));
      for (let i = 0; i < workerCount; i++) workers.push(await spawnWorkerProcess(url, opts.concurrency));
      const ids = await insertRuns(pool, agent, runs, "bench");
      await until(
        "the bench runs to finish",
        async () => {
          if (countIn(await runStatusCounts(pool, ids), FINISHED) === ids.length) return true;
          for (const w of workers) if (!w.alive()) throw new Error(`a bench worker died:\n${w.output().slice(-2000)}`);
          return false;
        },
        Infinity,
        100,
      );
      // Everything from the database clock: first insert to last commit, and the gaps between steps.
      const f = await benchStepTimings(pool, ids);
      if (f.failed > 0) throw new Error(`${f.failed} bench run(s) did not succeed`);
      return {
        workers: workerCount,
        runs,
        steps: f.steps,
        seconds: f.seconds,
        stepsPerSec: f.steps / f.seconds,
        gapP50: f.gap_p50,
        gapP99: f.gap_p99,
        stepP50: f.step_p50,
      };
    } finally {
      await stopAll(workers, 15_000);
      await pool.end();
    }
  });
}

/**
 * Many concurrent runs over 1, 2, 4... spawned worker processes, each on a fresh database. Each
 * worker count is measured twice: saturated (opts.runs runs, more than there are slots: the
 * throughput, and a step→next-step gap that is mostly the wait in the queue) and light (half as
 * many runs as slots: the gap is the engine's own latency from one step to the next).
 */
export async function runScaling(opts: ScalingOptions): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  opts.log(`scaling: runs of ${opts.steps} steps (echo tool turns), worker processes with concurrency ${opts.concurrency} each, a fresh database per row`);
  for (const n of opts.workers) {
    for (const runs of [opts.runs, Math.max(1, Math.floor((n * opts.concurrency) / 2))]) {
      const row = await scalingRow(opts.serverUrl, n, runs, opts);
      rows.push(row);
      opts.log(`  ${n} worker process(es), ${runs} runs: ${row.steps} steps in ${row.seconds.toFixed(1)} s = ${row.stepsPerSec.toFixed(0)} steps/s`);
    }
  }
  opts.log("");
  opts.log("| worker processes | concurrency each | concurrent runs | steps | steps/s | step→next step p50 | p99 | step (begin→commit) p50 |");
  opts.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    opts.log(
      `| ${r.workers} | ${opts.concurrency} | ${r.runs} | ${r.steps} | ${r.stepsPerSec.toFixed(0)} | ${r.gapP50.toFixed(1)} ms | ${r.gapP99.toFixed(1)} ms | ${r.stepP50.toFixed(1)} ms |`,
    );
  }
  return rows;
}
