// N runs started at once all complete, nothing lost: wall time and steps/s.
import { createPool } from "../../db/pool.ts";
import { jobCensus } from "../../db/sql/jobCensus.ts";
import { runDurations } from "../../db/sql/runDurations.ts";
import { spawnWorkerProcesses, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { createAgent, FINISHED, insertRuns, waitForRuns } from "../harness/runs.ts";
import { percentile } from "../harness/stats.ts";
import { checkRuns, type LoadCommon } from "./checks.ts";

export interface ConcurrentRunsOptions extends LoadCommon {
  runs: number;
  workers: number;
  concurrency: number;
  timeoutMs?: number;
}

export interface ConcurrentRunsReport {
  runs: number;
  succeeded: number;
  steps: number;
  expectedSteps: number;
  wallMs: number;
  stepsPerSec: number;
  /** created → finished of each run */
  runLatencyMs: { p50: number; p99: number; max: number };
  jobsLeft: number;
  problems: string[];
}

/** N runs (LLM turn → echo tool → final answer: 3 steps each) inserted at once; all must land. */
export async function concurrentRuns(opts: ConcurrentRunsOptions): Promise<ConcurrentRunsReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  try {
    const agent = await createAgent(pool, "load-concurrent", {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "Echoing.", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "Done." }],
    });
    workers = await spawnWorkerProcesses(opts.databaseUrl, opts.workers, opts.concurrency);
    const t0 = performance.now();
    const ids = await insertRuns(pool, agent, opts.runs);
    const counts = await waitForRuns(pool, ids, FINISHED, opts.timeoutMs ?? 600_000, problems, "concurrent runs");
    const wallMs = performance.now() - t0;
    if ((counts.succeeded ?? 0) !== opts.runs) problems.push(`concurrent runs: ${JSON.stringify(counts)} of ${opts.runs}`);
    const steps = await checkRuns(pool, ids, 3, problems, "concurrent runs");
    const ms = await runDurations(pool, ids);
    await stopAll(workers);
    workers = [];
    const { jobs } = await jobCensus(pool);
    if (jobs > 0) problems.push(`concurrent runs: ${jobs} job(s) left after every run finished`);
    const report: ConcurrentRunsReport = {
      runs: opts.runs,
      succeeded: counts.succeeded ?? 0,
      steps,
      expectedSteps: opts.runs * 3,
      wallMs,
      stepsPerSec: steps / (wallMs / 1000),
      runLatencyMs: { p50: percentile(ms, 50), p99: percentile(ms, 99), max: Math.max(...ms) },
      jobsLeft: jobs,
      problems,
    };
    opts.log(
      `concurrent runs: ${report.succeeded}/${report.runs} succeeded, ${report.steps}/${report.expectedSteps} steps in ${(wallMs / 1000).toFixed(1)} s ` +
        `= ${report.stepsPerSec.toFixed(0)} steps/s (${opts.workers} worker processes x concurrency ${opts.concurrency}); ` +
        `run created→finished p50 ${report.runLatencyMs.p50.toFixed(0)} ms, p99 ${report.runLatencyMs.p99.toFixed(0)} ms; ${report.jobsLeft} jobs left`,
    );
    return report;
  } finally {
    await stopAll(workers);
    await pool.end();
  }
}
