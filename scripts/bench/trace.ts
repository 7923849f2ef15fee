// Per-step cost of OpenTelemetry traces (docs/observability.md, "Traces"): the echo chain of the
// ratio bench (a scripted agent whose turns call the zero-latency `echo` tool: each step is the
// engine and the database alone, the worst case for any per-step overhead) on a worker of this
// process with tracing off, and on, exporting over OTLP/HTTP (http/protobuf, the default, or
// http/json) to a receiver in this process, alternating in the same run. With tracing on every
// commit hands its run to the exporter, which claims, reads and sends the runs' new spans in one
// batch every 200 ms and moves their markers (worker/trace-export.ts); the sweep runs too.
// Besides steps/s, this process's CPU time per step (the worker, the receiver and the bench's own
// polling: the same in both modes but for the export) and the OTLP requests per 100 steps: on a
// shared machine the wall-clock ratio is noisy, the CPU ratio much less; requests near one per step
// would mean the export runs per step instead of per flush.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchMarkTracesExported } from "../../db/sql/benchMarkTracesExported.ts";
import { countRunSteps } from "../../db/sql/countRunSteps.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { consoleLogger } from "../../lib/logger.ts";
import type { OtlpProtocol, TracingConfig } from "../../lib/tracing/config.ts";
import { startWorker } from "../../worker/main.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { countIn, createAgent, FINISHED, insertRuns, RunUpdates } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";
import { echoChainConfig } from "./ratio.ts";

export interface TraceBenchOptions {
  serverUrl: string;
  steps: number;
  chains: number[];
  repeat: number;
  concurrency: number;
  protocol: OtlpProtocol;
  log: (line: string) => void;
}

export interface TraceBenchRow {
  chains: number;
  offStepsPerSec: number;
  onStepsPerSec: number;
  /** time per step with tracing on ÷ off: the median of the repetitions' ratios */
  ratio: number;
  /** this process's CPU time per step with tracing on ÷ off: the median of the repetitions' ratios */
  cpuRatio: number;
  /** this process's CPU time per step (ms), tracing off and on */
  offCpuMsPerStep: number;
  onCpuMsPerStep: number;
  /** OTLP requests per 100 steps with tracing on */
  requestsPer100Steps: number;
}

interface ChainResult {
  stepsPerSec: number;
  /** this process's CPU time (user + system) per step, in ms, from the runs' insert to their end */
  cpuMsPerStep: number;
  steps: number;
  /** the chain's runs */
  ids: string[];
}

/** An OTLP/HTTP endpoint that takes anything: requests and bytes counted. */
async function sink(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on("data", (c: Buffer) => (bytes += c.length));
    req.on("end", () => {
      requests++;
      res
        .writeHead(200, { "content-type": String(req.headers["content-type"] ?? "application/x-protobuf") })
        .end(req.headers["content-type"] === "application/json" ? "{}" : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    requests: () => requests,
    bytes: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function chain(url: string, pool: Pool, chains: number, steps: number, concurrency: number, tracing: TracingConfig | null): Promise<ChainResult> {
  const agent = await createAgent(pool, "bench", echoChainConfig(steps));
  const worker = await startWorker({
    databaseUrl: url,
    concurrency,
    shutdownTimeoutMs: 5000,
    tracing,
    scheduler: false,
    log: consoleLogger("[bench]", "warn"),
  });
  const updates = await RunUpdates.listen(url);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const ids = await insertRuns(pool, agent, chains, "bench");
  await until(
    "the bench runs to finish",
    async () => countIn(await runStatusCounts(pool, ids), FINISHED) === ids.length,
    Infinity,
    () => updates.next(200),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await updates.close();
  await worker.stop(); // with tracing: sends what is pending
  const failed = ids.length - ((await runStatusCounts(pool, ids)).succeeded ?? 0);
  if (failed > 0) throw new Error(`${failed} bench run(s) did not succeed`);
  const done = await countRunSteps(pool, ids);
  // runs with tracing off are not the tracing-on side's to export (its sweep would)
  if (!tracing) await benchMarkTracesExported(pool, ids);
  return { stepsPerSec: done / seconds, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / done, steps: done, ids };
}

export async function runTraceBench(opts: TraceBenchOptions): Promise<TraceBenchRow[]> {
  const receiver = await sink();
  try {
    return await withScratchDatabase(opts.serverUrl, "everruns_bench", async (url) => {
      const pool = createPool(url, "everruns-bench", 4);
      try {
        opts.log(await machineLine(pool));
        const tracing: TracingConfig = { protocol: opts.protocol, url: receiver.url, genAiLatest: false, serviceName: "everruns-bench" };
        opts.log(
          `trace: ${opts.steps} steps per chain, concurrency ${opts.concurrency}, tracing off vs on (OTLP ${opts.protocol} to a receiver in this process), ` +
            `medians of ${opts.repeat} repetitions (a pair each, in alternating order; ratios per pair)`,
        );
        await chain(url, pool, 1, 21, opts.concurrency, null); // warm up both paths
        const traced = (await chain(url, pool, 1, 21, opts.concurrency, tracing)).ids;
        const rows: TraceBenchRow[] = [];
        for (const chains of opts.chains) {
          const off: ChainResult[] = [];
          const on: ChainResult[] = [];
          const requestsBefore = receiver.requests();
          for (let i = 0; i < opts.repeat; i++) {
            // off first, then on first: neither mode always runs on the warmer database
            if (i % 2 === 0) off.push(await chain(url, pool, chains, opts.steps, opts.concurrency, null));
            on.push(await chain(url, pool, chains, opts.steps, opts.concurrency, tracing));
            if (i % 2 === 1) off.push(await chain(url, pool, chains, opts.steps, opts.concurrency, null));
            opts.log(
              `  chains=${chains} rep ${i + 1}: tracing off ${off.at(-1)!.stepsPerSec.toFixed(0)} steps/s (${off.at(-1)!.cpuMsPerStep.toFixed(2)} ms CPU/step), ` +
                `on ${on.at(-1)!.stepsPerSec.toFixed(0)} steps/s (${on.at(-1)!.cpuMsPerStep.toFixed(2)} ms CPU/step)`,
            );
          }
          traced.push(...on.flatMap((r) => r.ids));
          const o = median(off.map((r) => r.stepsPerSec));
          const t = median(on.map((r) => r.stepsPerSec));
          const onSteps = on.reduce((n, r) => n + r.steps, 0);
          // the ratios of each repetition's pair, then their median: the machine's drift between
          // repetitions (a shared host) cancels within a pair
          rows.push({
            chains,
            offStepsPerSec: o,
            onStepsPerSec: t,
            ratio: median(off.map((r, i) => r.stepsPerSec / on[i]!.stepsPerSec)),
            offCpuMsPerStep: median(off.map((r) => r.cpuMsPerStep)),
            onCpuMsPerStep: median(on.map((r) => r.cpuMsPerStep)),
            cpuRatio: median(on.map((r, i) => r.cpuMsPerStep / off[i]!.cpuMsPerStep)),
            requestsPer100Steps: ((receiver.requests() - requestsBefore) * 100) / onSteps,
          });
        }
        const { rows: exported } = await pool.query<{ runs: number; steps: number }>(
          "select count(*)::int as runs, coalesce(sum(exported_through_seq), 0)::int as steps from everruns_private.trace_exports where root_exported and run_id = any($1::uuid[])",
          [traced],
        );
        opts.log("");
        opts.log(
          "| chains | tracing off (steps/s) | tracing on (steps/s) | time per step, on ÷ off (median of pairs) | process CPU per step, off / on (ms) | CPU per step, on ÷ off (median of pairs) | OTLP requests per 100 steps |",
        );
        opts.log("|---:|---:|---:|---:|---:|---:|---:|");
        for (const r of rows) {
          opts.log(
            `| ${r.chains} | ${r.offStepsPerSec.toFixed(0)} | ${r.onStepsPerSec.toFixed(0)} | ${r.ratio.toFixed(3)}× | ` +
              `${r.offCpuMsPerStep.toFixed(3)} / ${r.onCpuMsPerStep.toFixed(3)} | ${r.cpuRatio.toFixed(3)}× | ${r.requestsPer100Steps.toFixed(1)} |`,
          );
        }
        opts.log(
          `exported: ${exported[0]!.runs} of ${traced.length} traced runs' traces complete (${exported[0]!.steps} steps), ${receiver.requests()} OTLP requests, ${(receiver.bytes() / 1024).toFixed(0)} KiB`,
        );
        return rows;
      } finally {
        await pool.end();
      }
    });
  } finally {
    await receiver.close();
  }
}
