// Resume latency after kill -9, measured on its own (no other chaos).
import { createPool } from "../../db/pool.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { stepsInFlight, type InFlightStep } from "../../db/sql/stepsInFlight.ts";
import { sleep } from "../../lib/sleep.ts";
import { spawnWorkerProcess, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { ResumeWatcher } from "../harness/resume-watcher.ts";
import { createAgent, insertRuns } from "../harness/runs.ts";
import { summarize } from "../harness/stats.ts";

export interface ResumeLatencyOptions {
  databaseUrl: string;
  kills: number;
  /** worker processes (at least 2: a survivor takes the killed steps over) */
  workers: number;
  concurrency: number;
  log: (line: string) => void;
}

/**
 * Worker processes run steps that hold them (simulate_work, 1.5 s each) at half their
 * concurrency, so a survivor always has room; every ~2 s the owner of a step in flight is
 * kill -9'd (and replaced), and each interrupted step is timed until its next attempt begins on
 * another worker.
 */
export async function measureResumeLatency(opts: ResumeLatencyOptions): Promise<{ perStep: number[]; perKill: number[]; kills: number }> {
  const pool = createPool(opts.databaseUrl, "everruns-chaos", 4);
  const workers: WorkerProcess[] = [];
  try {
    const agent = await createAgent(pool, "resume-latency", {
      provider: "scripted",
      tools: ["simulate_work"],
      max_steps: 2000,
      script: Array.from({ length: 500 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] })),
    });
    for (let i = 0; i < Math.max(2, opts.workers); i++) workers.push(await spawnWorkerProcess(opts.databaseUrl, opts.concurrency));
    const runs = Math.max(1, Math.floor((workers.length * opts.concurrency) / 2));
    const started = await insertRuns(pool, agent, runs, "hold the workers");
    const watcher = await new ResumeWatcher(opts.databaseUrl).start();
    let kills = 0;
    while (kills < opts.kills) {
      await sleep(1500 + Math.random() * 1000);
      // a worker with a step well under way (begun, not about to commit)
      let victim: { w: WorkerProcess; i: number; steps: InFlightStep[] } | null = null;
      for (const i of workers.map((_, i) => i).sort(() => Math.random() - 0.5)) {
        const steps = await stepsInFlight(pool, workers[i]!.poolId);
        if (steps.length > 0) {
          victim = { w: workers[i]!, i, steps };
          break;
        }
      }
      if (!victim) continue;
      victim.w.child.kill("SIGKILL");
      watcher.watch(victim.steps, ++kills, performance.now());
      await victim.w.exited;
      workers[victim.i] = await spawnWorkerProcess(opts.databaseUrl, opts.concurrency);
    }
    const result = await watcher.stop(pool);
    for (const id of started) await cancelRun(pool, id);
    opts.log(
      `resume after kill -9 (${kills} kills, ${workers.length} workers x concurrency ${opts.concurrency}, half busy): per interrupted step ${summarize(result.perStep)}; first step per kill ${summarize(result.perKill)}`,
    );
    return { ...result, kills };
  } finally {
    await stopAll(workers, 10_000);
    await pool.end();
  }
}
