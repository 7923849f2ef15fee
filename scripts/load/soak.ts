// A worker process's resident memory over a few thousand steps: RSS half way and at the end, and
// the slope over the second half.
import { createPool } from "../../db/pool.ts";
import { countRunSteps } from "../../db/sql/countRunSteps.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { sleep } from "../../lib/sleep.ts";
import { rssKiB } from "../harness/machine.ts";
import { spawnWorkerProcess, type WorkerProcess } from "../harness/processes.ts";
import { countIn, createAgent, FINISHED, insertRuns } from "../harness/runs.ts";
import { slope } from "../harness/stats.ts";
import { checkRuns, type LoadCommon } from "./checks.ts";

export interface MemorySoakOptions extends LoadCommon {
  /** steps to run through the one worker process */
  steps: number;
  concurrency: number;
  sampleMs?: number;
  /** Cap the worker's V8 old space (--max-old-space-size, MiB): a worker whose live data grew
   *  with the steps it ran would die of it; one that only caches a working set keeps going. */
  heapLimitMb?: number;
}

export interface MemorySoakReport {
  steps: number;
  wallMs: number;
  samples: Array<{ ms: number; steps: number; rssKiB: number }>;
  /** RSS once half of the steps had run (warm), and at the end */
  warmRssKiB: number;
  endRssKiB: number;
  maxRssKiB: number;
  /** least-squares slope of RSS over steps in the second half, in KiB per 1,000 steps */
  slopeKiBPer1000Steps: number;
  problems: string[];
}

export async function memorySoak(opts: MemorySoakOptions): Promise<MemorySoakReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let worker: WorkerProcess | null = null;
  try {
    // 20 tool turns + the answer: 41 steps per run, with a streamed text in every turn
    const turns = 20;
    const perRun = 2 * turns + 1;
    const agent = await createAgent(pool, "load-soak", {
      provider: "scripted",
      tools: ["echo"],
      max_steps: 100,
      script: [
        ...Array.from({ length: turns }, (_, i) => ({
          text: `Turn ${i}: ${"some words ".repeat(10)}`,
          tool_calls: [{ name: "echo", arguments: { i, pad: "x".repeat(200) } }],
        })),
        { text: "Finished." },
      ],
    });
    worker = await spawnWorkerProcess(
      opts.databaseUrl,
      opts.concurrency,
      opts.heapLimitMb ? { env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=${opts.heapLimitMb}`.trim() } } : {},
    );
    const runs = Math.ceil(opts.steps / perRun);
    const t0 = performance.now();
    const samples: MemorySoakReport["samples"] = [];
    // keep 2x concurrency runs in flight, so the worker is busy throughout
    const ids: string[] = [];
    let started = 0;
    for (;;) {
      const active = ids.length - countIn(await runStatusCounts(pool, ids), FINISHED);
      const steps = await countRunSteps(pool, ids);
      const rss = rssKiB(worker.pid);
      if (rss !== null) samples.push({ ms: performance.now() - t0, steps, rssKiB: rss });
      if (started >= runs && active === 0) break;
      if (!worker.alive()) {
        problems.push(`the soak worker died:\n${worker.output().slice(-2000)}`);
        break;
      }
      const want = Math.min(runs - started, 2 * opts.concurrency - active);
      if (want > 0) {
        ids.push(...(await insertRuns(pool, agent, want, "soak")));
        started += want;
      }
      await sleep(opts.sampleMs ?? 250);
    }
    const wallMs = performance.now() - t0;
    const steps = await checkRuns(pool, ids, perRun, problems, "soak");
    const total = samples.at(-1)?.steps ?? 0;
    const warm = samples.filter((s) => s.steps >= total / 2);
    const warmRssKiB = warm[0]?.rssKiB ?? NaN;
    const endRssKiB = samples.at(-1)?.rssKiB ?? NaN;
    const slopeKiBPer1000Steps = slope(warm.map((s) => [s.steps, s.rssKiB])) * 1000;
    const report: MemorySoakReport = {
      steps,
      wallMs,
      samples,
      warmRssKiB,
      endRssKiB,
      maxRssKiB: Math.max(...samples.map((s) => s.rssKiB)),
      slopeKiBPer1000Steps,
      problems,
    };
    opts.log(
      `memory soak: ${steps} steps through one worker process (concurrency ${opts.concurrency}${opts.heapLimitMb ? `, old space capped at ${opts.heapLimitMb} MiB` : ""}) in ${(wallMs / 1000).toFixed(1)} s; ` +
        `RSS ${(warmRssKiB / 1024).toFixed(0)} MiB half way, ${(endRssKiB / 1024).toFixed(0)} MiB at the end, ` +
        `max ${(report.maxRssKiB / 1024).toFixed(0)} MiB; slope over the second half ${slopeKiBPer1000Steps.toFixed(0)} KiB per 1,000 steps (${samples.length} samples)`,
    );
    return report;
  } finally {
    await worker?.stop(15_000);
    await pool.end();
  }
}
