// Recovery after a database restart: a Postgres cluster this benchmark owns (embedded binaries)
// is stopped `-m immediate` (every connection drops, as in a crash) while a worker process runs
// steps, kept down for --down-ms, and started again, --restarts times. Measured from the moment
// the server accepts connections again: a bare client's first `select 1` (the baseline: what no
// worker can beat) and the next step the worker commits. The worker process is never restarted.
import { createPool } from "../../db/pool.ts";
import { countRunSteps } from "../../db/sql/countRunSteps.ts";
import { ping } from "../../db/sql/ping.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { sleep } from "../../lib/sleep.ts";
import { spawnWorkerProcess, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { createAgent, insertRuns } from "../harness/runs.ts";
import { percentile } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";
import { startThrowawayCluster } from "../harness/throwaway-cluster.ts";

export interface OutageRecoveryOptions {
  restarts: number;
  downMs: number;
  log: (line: string) => void;
}

export interface OutageRecovery {
  /** per restart: ms from the server being back to a bare client's first answer */
  baseline: number[];
  /** per restart: ms from the server being back to the worker's next committed step */
  recovery: number[];
  workerExited: boolean;
}

const RUNS = 4;

export async function measureOutageRecovery(opts: OutageRecoveryOptions): Promise<OutageRecovery> {
  const cluster = await startThrowawayCluster();
  let worker: WorkerProcess | undefined;
  const baseline: number[] = [];
  const recovery: number[] = [];
  try {
    let pool = createPool(cluster.url, "everruns-bench", 2);
    const agent = await createAgent(pool, "outage", {
      provider: "scripted",
      tools: ["simulate_work"],
      max_steps: 2000,
      script: Array.from({ length: 900 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 50 } }] })),
    });
    const runs = await insertRuns(pool, agent, RUNS, "steps through restarts");
    worker = await spawnWorkerProcess(cluster.url, RUNS);
    await until("the runs to be under way", () => countRunSteps(pool, runs).then((n) => n > RUNS * 4), 60_000, 10);
    await pool.end();

    for (let i = 0; i < opts.restarts; i++) {
      await cluster.stopImmediate();
      await sleep(opts.downMs);
      await cluster.start();
      const back = performance.now();
      pool = createPool(cluster.url, "everruns-bench", 2);
      try {
        await ping(pool);
        baseline.push(performance.now() - back);
        const before = await countRunSteps(pool, runs);
        // a query may still meet a connection the restart dropped: that counts as "not yet"
        await until(
          "the next committed step",
          () =>
            countRunSteps(pool, runs).then(
              (n) => n > before,
              () => false,
            ),
          60_000,
          10,
        );
        recovery.push(performance.now() - back);
        // let it run a while between restarts
        await sleep(500);
        if (!worker.alive()) break;
      } finally {
        await pool.end();
      }
    }
    pool = createPool(cluster.url, "everruns-bench", 2);
    try {
      const counts = await runStatusCounts(pool, runs);
      if ((counts.running ?? 0) + (counts.queued ?? 0) !== RUNS)
        throw new Error(`a run ended during the benchmark: ${JSON.stringify(counts)}\n${worker.output()}`);
    } finally {
      await pool.end();
    }
    const workerExited = !worker.alive();
    report(opts, { baseline, recovery, workerExited });
    return { baseline, recovery, workerExited };
  } finally {
    await stopAll([worker]);
    await cluster.destroy();
  }
}

function report(opts: OutageRecoveryOptions, r: OutageRecovery): void {
  const fmt = (values: number[]) => `p50 ${percentile(values, 50).toFixed(0)} ms, max ${Math.max(...values).toFixed(0)} ms`;
  opts.log(`database restarts: ${r.recovery.length} x ${opts.downMs} ms down (pg_ctl stop -m immediate), one worker process (${RUNS} runs)`);
  opts.log(`  server back -> bare client answers   ${fmt(r.baseline)}`);
  opts.log(`  server back -> next committed step   ${fmt(r.recovery)}`);
  opts.log(
    `  ratio (recovery / bare client, p50)  ${(percentile(r.recovery, 50) / Math.max(1, percentile(r.baseline, 50))).toFixed(1)}x; worker process ${r.workerExited ? "EXITED" : "still running, never restarted"}`,
  );
}
