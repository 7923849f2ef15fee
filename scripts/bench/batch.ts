// Batch pipelines (issue 15; db/migrations/000025_batches.sql), measured:
//
//   create      a batch of --batch-create-items' largest count of items through COPY (the SQL way
//               in), and through the REST JSONL endpoint (`POST /api/batches?start=false`, its body
//               streamed from a generator) at each count, a fresh API process each: wall time, and
//               the API's RSS before, at its most during the upload (VmRSS sampled every 50 ms)
//               and VmHWM after: the growth must not follow the item count
//   throughput  --batch-items one-step scripted items at max_parallel --batch-parallel next to as
//               many independent runs inserted by one statement, the same in-process worker, in
//               alternating order (batch then runs, runs then batch): items/s of each (from the
//               first run's creation to the last one's end, database clock) and the ratio; the
//               batch's items in flight counted every 50 ms (the most seen must be ≤ max_parallel)
//   cost        with no worker: the item-end transaction (an item's run ended as its last commit does:
//               the item finishes and the next is released, commit included), everruns.batch_progress
//               and one everruns.batch_results page, at a batch of the smallest --batch-cost-sizes
//               and at one of the largest (its items inserted by insert ... select), then at the
//               small one again (drift): medians and the ratio (flat: ≈ 1)
//   chaos       --batch-chaos-items scripted items (each step a 100 ms LLM call; 500 ms --quick) at max_parallel
//               --batch-parallel with a results_table, over --batch-chaos-workers worker
//               processes, one kill -9'd (and replaced) every --batch-chaos-kill-ms, the API kill -9'd
//               and restarted once; its results followed through the cursor all along, in SQL
//               (everruns.batch_results) and through the REST JSONL (GET /api/batches/:id/results):
//               every item exactly once in each and in the results table, the counters equal to a
//               recount, the ETA finite and not negative in every sample while items remained
//
// Only counts, invariants and ratios are meant to be compared: the machine is shared and noisy.
import { Readable } from "node:stream";
import { freePort } from "../../lib/free-port.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchAnalyzeBatchItems } from "../../db/sql/benchBatchAnalyzeItems.ts";
import { benchCopyBatchItems, type BenchCopyItem } from "../../db/sql/benchBatchCopyItems.ts";
import { benchCreateBatch } from "../../db/sql/benchBatchCreate.ts";
import { benchInsertBatchItems } from "../../db/sql/benchBatchInsertItems.ts";
import { benchBatchRecount } from "../../db/sql/benchBatchRecount.ts";
import { BENCH_RESULTS_TABLE, benchCreateResultsTable } from "../../db/sql/benchBatchResultsTable.ts";
import { benchResultsTableCounts, type ResultsTableCounts } from "../../db/sql/benchBatchResultsTableCounts.ts";
import { benchBatchRunningItems } from "../../db/sql/benchBatchRunningItems.ts";
import { benchBatchFinishRun } from "../../db/sql/benchBatchFinishRun.ts";
import { benchVacuumRunTables } from "../../db/sql/benchVacuumRunTables.ts";
import { controlBatch } from "../../db/sql/batchControl.ts";
import { getBatch, type BatchProgress, type BatchView } from "../../db/sql/batchGet.ts";
import { parseBatchResultsCursor, readBatchResults, type BatchResultsCursor } from "../../db/sql/batchResults.ts";
import { benchBatchRunningRunId } from "../../db/sql/benchBatchRunningRunId.ts";
import { benchBatchRunsThroughput } from "../../db/sql/benchBatchRunsThroughput.ts";
import { benchInsertRuns } from "../../db/sql/benchInsertRuns.ts";
import { benchRunsThroughput } from "../../db/sql/benchRunsThroughput.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { z } from "zod";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { peakRssMiB, rssKiB } from "../harness/machine.ts";
import { spawnApiProcess, spawnWorkerProcess, stopAll, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import { countIn, createAgent, FINISHED } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";

export const BATCH_PARTS = ["create", "throughput", "cost", "chaos"] as const;
type BatchPart = (typeof BATCH_PARTS)[number];

// Sizes without a default here: --quick picks small ones, else those of the issue (BATCH_SIZES).
export const BATCH_FLAGS = {
  quick: { type: "boolean" },
  "batch-parts": { type: "choices", default: BATCH_PARTS, choices: BATCH_PARTS },
  "batch-create-items": { type: "ints", default: [], min: 1, max: 10_000_000 },
  "batch-items": { type: "int", min: 1, max: 1_000_000 },
  "batch-parallel": { type: "int", default: 50, min: 1, max: 10_000 },
  "batch-cost-sizes": { type: "ints", default: [], min: 1, max: 10_000_000 },
  "batch-cost-repeat": { type: "int", min: 1, max: 100_000 },
  "batch-chaos-items": { type: "int", min: 1, max: 1_000_000 },
  "batch-chaos-workers": { type: "int", default: 2, min: 2, max: 16 },
  "batch-chaos-kill-ms": { type: "int", min: 100, max: 600_000 },
  "batch-timeout-s": { type: "int", default: 900, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

const BATCH_SIZES = {
  full: {
    createItems: [10_000, 100_000],
    items: 20_000,
    costSizes: [1000, 1_000_000],
    costRepeat: 200,
    chaosItems: 5000,
    chaosKillMs: 3000,
    chaosDelayMs: 100,
  },
  quick: { createItems: [200, 2000], items: 300, costSizes: [100, 3000], costRepeat: 20, chaosItems: 400, chaosKillMs: 1000, chaosDelayMs: 500 },
};

export const BATCH_USAGE = `  batch     batch pipelines (000025); --batch-parts create,throughput,cost,chaos; --quick: small counts
            (a smoke test), else those of issue 15:
            create: a batch of the largest --batch-create-items (10000,100000) through COPY, and
            through POST /api/batches (JSONL streamed from a generator, a fresh API process per count)
            at each count: wall time, the API's RSS before, its most while uploading and VmHWM after
            throughput: --batch-items (20000) one-step scripted items at max_parallel --batch-parallel
            (50) next to as many independent runs, one in-process worker of --concurrency slots,
            alternating order: items/s each and the ratio (target ≥ 0.90); items in flight counted
            every 50 ms (the most seen ≤ max_parallel)
            cost: no worker; the item-end transaction (an item's run ended as its last commit does, which releases
            the next), batch_progress and a batch_results page at batches of --batch-cost-sizes
            (1000,1000000) items, --batch-cost-repeat (200) each: medians and the ratio (≈ 1)
            chaos: --batch-chaos-items (5000) items of a 100 ms LLM call (500 --quick), a results_table,
            --batch-chaos-workers (2) worker processes, one kill -9'd every --batch-chaos-kill-ms
            (3000), the API restarted once: every item once in batch_results, the REST results and
            the results table; counters = a recount; the ETA finite and ≥ 0 while items remained
            Each wait gives up after --batch-timeout-s (900) and reports what it reached.`;

export interface BatchOptions {
  serverUrl: string;
  parts: ReadonlySet<BatchPart>;
  quick: boolean;
  createItems: number[];
  items: number;
  maxParallel: number;
  /** slots of the in-process worker of the throughput part (--concurrency, as the other benches) */
  concurrency: number;
  costSizes: number[];
  costRepeat: number;
  chaosItems: number;
  chaosWorkers: number;
  chaosKillMs: number;
  /** the chaos items' LLM call, ms: long enough that kills find steps in flight */
  chaosDelayMs: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** BatchOptions from the parsed BATCH_FLAGS (and --concurrency). */
export function batchOptionsFromFlags(
  serverUrl: string,
  flags: Flags<typeof BATCH_FLAGS> & { concurrency: number },
  log: (line: string) => void,
): BatchOptions {
  const sizes = flags.quick ? BATCH_SIZES.quick : BATCH_SIZES.full;
  const sorted = (values: number[], fallback: number[]) => [...new Set(values.length > 0 ? values : fallback)].sort((a, b) => a - b);
  return {
    serverUrl,
    parts: flags["batch-parts"] as ReadonlySet<BatchPart>,
    quick: flags.quick,
    createItems: sorted(flags["batch-create-items"], sizes.createItems),
    items: flags["batch-items"] ?? sizes.items,
    maxParallel: flags["batch-parallel"],
    concurrency: flags.concurrency,
    costSizes: sorted(flags["batch-cost-sizes"], sizes.costSizes),
    costRepeat: flags["batch-cost-repeat"] ?? sizes.costRepeat,
    chaosItems: flags["batch-chaos-items"] ?? sizes.chaosItems,
    chaosWorkers: flags["batch-chaos-workers"],
    chaosKillMs: flags["batch-chaos-kill-ms"] ?? sizes.chaosKillMs,
    chaosDelayMs: sizes.chaosDelayMs,
    timeoutMs: flags["batch-timeout-s"] * 1000,
    log,
  };
}

export interface CreateRow {
  via: "COPY" | "REST";
  items: number;
  seconds: number;
  /** REST only: the API process's RSS, MiB */
  rssBeforeMiB?: number | null;
  rssMaxMiB?: number | null;
  hwmAfterMiB?: number | null;
}

export interface CreateResult {
  rows: CreateRow[];
  /** why the REST rows are missing, when they are */
  restSkipped: string | null;
}

export interface ThroughputRound {
  kind: "batch" | "runs";
  items: number;
  finished: number;
  succeeded: number;
  itemsPerSec: number;
  /** batch rounds: items in flight, sampled every 50 ms */
  samples?: number;
  maxRunning?: number;
}

export interface ThroughputResult {
  maxParallel: number;
  rounds: ThroughputRound[];
  /** batch ÷ runs items/s, per pair of rounds */
  ratios: number[];
  /** sum of the batch rounds' items/s ÷ the runs rounds' (ABBA: cancels a linear drift) */
  abba: number;
}

export interface CostRow {
  label: string;
  items: number;
  /** medians, ms */
  itemEndMs: number;
  progressMs: number;
  resultsPageMs: number;
  /** rows of the results page (median): up to 100 */
  pageRows: number;
}

export interface ChaosResult {
  items: number;
  kills: number;
  apiRestarts: number;
  status: string;
  /** everruns.batch_results paged through the cursor */
  sqlResults: { rows: number; distinct: number; duplicates: number };
  /** GET /api/batches/:id/results paged through its cursor; null when the API has no such route */
  restResults: { rows: number; distinct: number; duplicates: number; failedRequests: number } | null;
  restSkipped: string | null;
  resultsTable: ResultsTableCounts;
  progress: BatchProgress;
  recount: Record<string, number>;
  countersMatch: boolean;
  etaSamples: number;
  etaNull: number;
  etaBad: number;
  etaMin: number | null;
  etaMax: number | null;
  seconds: number;
}

export interface BatchResult {
  create: CreateResult | null;
  throughput: ThroughputResult | null;
  cost: CostRow[];
  chaos: ChaosResult | null;
}

const ONE_STEP = { provider: "scripted", script: [{ text: "ok" }] };
const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const silentWorker = () => consoleLogger("[batch bench worker]", "warn");

/** Runs fn on a fresh database with a pool of `connections` (no statement timeout: bulk inserts of a million rows). */
function onFreshDatabase<T>(serverUrl: string, connections: number, fn: (url: string, pool: Pool) => Promise<T>): Promise<T> {
  return withScratchDatabase(serverUrl, "everruns_bench_batch", async (url) => {
    const pool = createPool(url, "everruns-bench", connections, { timeouts: { statementMs: 0 } });
    try {
      return await fn(url, pool);
    } finally {
      await pool.end();
    }
  });
}

/** n items of a batch in chunks of at most 100,000 rows (each its own statement). */
async function insertItems(pool: Pool, batchId: string, n: number): Promise<void> {
  const CHUNK = 100_000;
  for (let done = 0; done < n; done += CHUNK) {
    const want = Math.min(CHUNK, n - done);
    const got = await benchInsertBatchItems(pool, batchId, want, done + 1);
    if (got !== want) throw new Error(`inserted ${got} batch items, expected ${want}`);
  }
}

/** The batch (its status, finished_at, progress); it exists: the bench made it. */
async function batchOf(pool: Pool, batchId: string): Promise<BatchView> {
  const batch = await getBatch(pool, batchId);
  if (!batch) throw new Error(`batch ${batchId} not found`);
  return batch;
}

/** Polls until the batch has ended (finished_at set) or the deadline; returns its status. */
async function waitBatchEnded(pool: Pool, batchId: string, timeoutMs: number): Promise<{ status: string; ended: boolean }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const batch = await batchOf(pool, batchId);
    const state = { status: batch.status, ended: batch.finished_at !== null };
    if (state.ended || performance.now() > deadline) return state;
    await sleep(200);
  }
}

/** A loop that calls fn every everyMs until stopped; an error of fn goes to onError (the first few), never thrown. */
function every(everyMs: number, fn: () => Promise<void>, onError?: (error: Error) => void): { stop(): Promise<void>; errors(): number } {
  let running = true;
  let errors = 0;
  const loop = (async () => {
    while (running) {
      try {
        await fn();
      } catch (error) {
        if (++errors <= 3) onError?.(error as Error);
      }
      if (running) await sleep(everyMs);
    }
  })();
  return {
    stop: () => {
      running = false;
      return loop;
    },
    errors: () => errors,
  };
}

// --- creation ----------------------------------------------------------------------------------

function* copyItems(n: number): Generator<BenchCopyItem> {
  for (let i = 1; i <= n; i++) yield { customId: `item-${i}`, input: { messages: [{ role: "user", content: `item ${i}` }] } };
}

/** The JSONL body of n items, in chunks of about 64 KiB, generated as it is sent. */
function* jsonlBody(n: number): Generator<Uint8Array> {
  let chunk = "";
  for (let i = 1; i <= n; i++) {
    chunk += `${JSON.stringify({ custom_id: `item-${i}`, input: { messages: [{ role: "user", content: `item ${i}` }] } })}\n`;
    if (chunk.length >= 65_536) {
      yield Buffer.from(chunk);
      chunk = "";
    }
  }
  if (chunk.length > 0) yield Buffer.from(chunk);
}

const CreatedSchema = z.object({ id: z.string().uuid(), status: z.string(), items: z.number().int() });

/** POST /api/batches?agent=…&start=false with n items; the answer, or the status and text of a refusal. */
async function postBatch(api: ApiProcess, agentId: string, n: number): Promise<{ ok: true; items: number } | { ok: false; status: number; text: string }> {
  const response = await api.fetch(`${api.url}/api/batches?agent=${encodeURIComponent(agentId)}&start=false&name=bench-${n}`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: Readable.from(jsonlBody(n)),
    duplex: "half",
  });
  const text = await response.text();
  if (response.status !== 201) return { ok: false, status: response.status, text: text.slice(0, 500) };
  return { ok: true, items: CreatedSchema.parse(JSON.parse(text)).items };
}

async function runCreate(opts: BatchOptions): Promise<CreateResult> {
  const largest = opts.createItems[opts.createItems.length - 1]!;
  opts.log(
    `batch create: ${largest} items through COPY; ${opts.createItems.join(" and ")} items through POST /api/batches (JSONL streamed from a generator, ` +
      `a fresh API process each, its RSS sampled every 50 ms)`,
  );
  return onFreshDatabase(opts.serverUrl, 2, async (url, pool) => {
    const agentId = await createAgent(pool, "bench-batch-create", ONE_STEP);
    const rows: CreateRow[] = [];
    // COPY: one statement, its own transaction, commit included
    const batchId = await benchCreateBatch(pool, { agentId, maxParallel: opts.maxParallel, name: "bench-copy" });
    const client = await pool.connect();
    try {
      const t0 = performance.now();
      const copied = await benchCopyBatchItems(client, batchId, copyItems(largest));
      const seconds = (performance.now() - t0) / 1000;
      if (copied !== largest) throw new Error(`COPY wrote ${copied} items, expected ${largest}`);
      rows.push({ via: "COPY", items: largest, seconds });
      opts.log(`  COPY ${largest} items: ${fmt(seconds, 2)} s (${fmt(largest / seconds)} items/s)`);
    } finally {
      client.release();
    }

    let restSkipped: string | null = null;
    for (const n of opts.createItems) {
      const api = await spawnApiProcess(url, await freePort());
      try {
        // warm-up: the route's modules and plans, the pool's connections
        const warm = await postBatch(api, agentId, 100);
        if (!warm.ok) {
          restSkipped = `POST /api/batches answered ${warm.status}: ${warm.text}`;
          opts.log(`  REST: skipped, ${restSkipped}; the API's last lines:\n${api.output().slice(-1500)}`);
          break;
        }
        await sleep(500);
        const rssBeforeMiB = (rssKiB(api.pid) ?? NaN) / 1024;
        // sampled at the start, every 50 ms and at the end: a short upload may fall between two ticks
        let rssMaxKiB = rssKiB(api.pid) ?? 0;
        const sample = () => (rssMaxKiB = Math.max(rssMaxKiB, rssKiB(api.pid) ?? 0));
        const sampler = setInterval(sample, 50);
        const t0 = performance.now();
        let created: Awaited<ReturnType<typeof postBatch>>;
        try {
          created = await postBatch(api, agentId, n);
        } finally {
          clearInterval(sampler);
          sample();
        }
        const seconds = (performance.now() - t0) / 1000;
        if (!created.ok) throw new Error(`POST /api/batches of ${n} items answered ${created.status}: ${created.text}`);
        if (created.items !== n) throw new Error(`POST /api/batches of ${n} items created ${created.items}`);
        const row: CreateRow = { via: "REST", items: n, seconds, rssBeforeMiB, rssMaxMiB: rssMaxKiB / 1024, hwmAfterMiB: peakRssMiB(api.pid) };
        rows.push(row);
        opts.log(
          `  REST ${n} items: ${fmt(seconds, 2)} s (${fmt(n / seconds)} items/s); API RSS before ${fmt(row.rssBeforeMiB)} MiB, ` +
            `at most ${fmt(row.rssMaxMiB)} MiB while uploading (+${fmt(row.rssMaxMiB! - row.rssBeforeMiB!)} MiB), VmHWM after ${fmt(row.hwmAfterMiB)} MiB`,
        );
      } finally {
        await api.stop(10_000);
      }
    }
    const rest = rows.filter((r) => r.via === "REST");
    if (rest.length > 1) {
      const [a, b] = [rest[0]!, rest[rest.length - 1]!];
      opts.log(
        `  REST ${b.items} ÷ ${a.items} items: time ${fmt(b.seconds / a.seconds, 1)}×, RSS at most ${fmt(b.rssMaxMiB! / a.rssMaxMiB!, 2)}×, ` +
          `growth while uploading ${fmt(b.rssMaxMiB! - b.rssBeforeMiB!)} MiB vs ${fmt(a.rssMaxMiB! - a.rssBeforeMiB!)} MiB`,
      );
    }
    return { rows, restSkipped };
  });
}

// --- throughput --------------------------------------------------------------------------------

async function batchRound(pool: Pool, sampler: Pool, agentId: string, n: number, maxParallel: number, timeoutMs: number): Promise<ThroughputRound> {
  const batchId = await benchCreateBatch(pool, { agentId, maxParallel, name: `bench-throughput-${n}` });
  await insertItems(pool, batchId, n);
  let samples = 0;
  let maxRunning = 0;
  let samplerError: Error | null = null;
  const sampling = every(
    50,
    async () => {
      const running = await benchBatchRunningItems(sampler, batchId);
      samples++;
      maxRunning = Math.max(maxRunning, running);
    },
    (e) => (samplerError ??= e),
  );
  try {
    await controlBatch(pool, "start", batchId);
    await waitBatchEnded(pool, batchId, timeoutMs);
  } finally {
    await sampling.stop();
  }
  if (samplerError) throw new Error(`batch throughput: counting the items in flight failed: ${(samplerError as Error).message}`);
  const t = await benchBatchRunsThroughput(pool, batchId);
  const recount = await benchBatchRecount(pool, batchId);
  return {
    kind: "batch",
    items: n,
    finished: t.finished,
    succeeded: recount.succeeded ?? 0,
    itemsPerSec: t.seconds ? t.finished / t.seconds : NaN,
    samples,
    maxRunning,
  };
}

async function runsRound(pool: Pool, agentId: string, n: number, timeoutMs: number): Promise<ThroughputRound> {
  const ids = await benchInsertRuns(pool, agentId, n, "independent"); // one statement
  const deadline = performance.now() + timeoutMs;
  let counts = await runStatusCounts(pool, ids);
  while (countIn(counts, FINISHED) < ids.length && performance.now() < deadline) {
    await sleep(500);
    counts = await runStatusCounts(pool, ids);
  }
  const t = await benchRunsThroughput(pool, ids);
  return { kind: "runs", items: n, finished: t.finished, succeeded: counts.succeeded ?? 0, itemsPerSec: t.seconds ? t.finished / t.seconds : NaN };
}

async function runThroughput(opts: BatchOptions): Promise<ThroughputResult> {
  opts.log(
    `batch throughput: ${opts.items} one-step scripted items at max_parallel ${opts.maxParallel} next to ${opts.items} independent runs inserted by one statement; ` +
      `one in-process worker × ${opts.concurrency} slots; batch/runs then runs/batch; items in flight counted every 50 ms`,
  );
  return onFreshDatabase(opts.serverUrl, 3, async (url, pool) => {
    const sampler = createPool(url, "everruns-bench-sampler", 1);
    const agentId = await createAgent(pool, "bench-batch-throughput", ONE_STEP);
    const { startWorker } = await import("../../worker/main.ts");
    const worker = await startWorker({ databaseUrl: url, concurrency: opts.concurrency, shutdownTimeoutMs: 5000, log: silentWorker() });
    try {
      // warm-up of both paths (connections, plans, JIT)
      await batchRound(pool, sampler, agentId, Math.min(100, opts.items), opts.maxParallel, opts.timeoutMs);
      await runsRound(pool, agentId, Math.min(100, opts.items), opts.timeoutMs);
      const rounds: ThroughputRound[] = [];
      for (const order of [
        ["batch", "runs"],
        ["runs", "batch"],
      ] as const) {
        for (const kind of order) {
          await benchVacuumRunTables(pool);
          const r =
            kind === "batch"
              ? await batchRound(pool, sampler, agentId, opts.items, opts.maxParallel, opts.timeoutMs)
              : await runsRound(pool, agentId, opts.items, opts.timeoutMs);
          rounds.push(r);
          opts.log(
            `  ${kind === "batch" ? `batch (max_parallel ${opts.maxParallel})` : "independent runs"}: ${r.finished} of ${r.items} finished, ${r.succeeded} succeeded, ` +
              `${fmt(r.itemsPerSec, 1)} items/s` +
              (kind === "batch" ? `; ${r.samples} samples of the items in flight, at most ${r.maxRunning}` : ""),
          );
        }
      }
      const batches = rounds.filter((r) => r.kind === "batch");
      const runs = rounds.filter((r) => r.kind === "runs");
      const ratios = batches.map((b, i) => b.itemsPerSec / runs[i]!.itemsPerSec);
      // the rounds ran batch, runs, runs, batch (ABBA): the sums cancel a drift of the machine or
      // of the database (it grows by every round) that is linear in time, where each pair does not
      const sum = (rs: ThroughputRound[]) => rs.reduce((a, r) => a + r.itemsPerSec, 0);
      const abba = sum(batches) / sum(runs);
      opts.log(`  batch ÷ independent runs: ${ratios.map((r) => fmt(r, 2)).join(", ")} per pair; ${fmt(abba, 2)} over the ABBA sequence (target ≥ 0.90)`);
      return { maxParallel: opts.maxParallel, rounds, ratios, abba };
    } finally {
      await worker.stop();
      await sampler.end();
    }
  });
}

// --- admission and progress cost ---------------------------------------------------------------

const COST_WARMUP = 5;

/** Medians of the item-end transaction, batch_progress and a results page on this batch (repeat each, after a warm-up). */
async function measureCost(pool: Pool, batchId: string, repeat: number): Promise<Omit<CostRow, "label" | "items">> {
  const itemEnds: number[] = [];
  for (let i = 0; i < repeat + COST_WARMUP; i++) {
    const runId = await benchBatchRunningRunId(pool, batchId);
    if (!runId) throw new Error(`batch cost: batch ${batchId} has no item in flight to end (too few items for --batch-cost-repeat ${repeat}?)`);
    const t0 = performance.now();
    if (!(await benchBatchFinishRun(pool, runId))) throw new Error(`batch cost: the run ${runId} had already ended`);
    if (i >= COST_WARMUP) itemEnds.push(performance.now() - t0);
  }
  // a result shows once older than every transaction open in the database (batch_results takes
  // only those below everruns_private.results_horizon)
  const deadline = performance.now() + 120_000;
  while ((await readBatchResults(pool, batchId, null, 100)).length === 0) {
    if (performance.now() > deadline) throw new Error(`batch cost: batch ${batchId} shows no results 120 s after ${repeat + COST_WARMUP} items ended`);
    await sleep(100);
  }
  const progress: number[] = [];
  const pages: number[] = [];
  const pageRows: number[] = [];
  for (let i = 0; i < repeat + COST_WARMUP; i++) {
    let t0 = performance.now();
    await batchOf(pool, batchId);
    if (i >= COST_WARMUP) progress.push(performance.now() - t0);
    t0 = performance.now();
    const page = await readBatchResults(pool, batchId, null, 100);
    if (i >= COST_WARMUP) pages.push(performance.now() - t0);
    if (i >= COST_WARMUP) pageRows.push(page.length);
  }
  return { itemEndMs: median(itemEnds), progressMs: median(progress), resultsPageMs: median(pages), pageRows: median(pageRows) };
}

async function runCost(opts: BatchOptions): Promise<CostRow[]> {
  const small = opts.costSizes[0]!;
  const large = opts.costSizes[opts.costSizes.length - 1]!;
  opts.log(
    `batch cost: no worker; batches of ${small} and ${large} items (max_parallel ${opts.maxParallel}), ${opts.costRepeat} item ends (an item's run ended as its last commit does: ` +
      `the item finishes, the next is released, commit included), batch_progress calls and results pages of 100 each; medians`,
  );
  const need = opts.costRepeat + COST_WARMUP + opts.maxParallel;
  if (small < need) throw new Error(`batch cost: a batch of ${small} items is too small for ${opts.costRepeat} item ends: give it at least ${need} items`);
  return onFreshDatabase(opts.serverUrl, 1, async (_url, pool) => {
    const agentId = await createAgent(pool, "bench-batch-cost", ONE_STEP);
    const rows: CostRow[] = [];
    const measure = async (label: string, batchId: string, items: number) => {
      const row = { label, items, ...(await measureCost(pool, batchId, opts.costRepeat)) };
      rows.push(row);
      opts.log(
        `  ${label}: item end ${fmt(row.itemEndMs, 2)} ms, batch_progress ${fmt(row.progressMs, 2)} ms, results page ${fmt(row.resultsPageMs, 2)} ms (${row.pageRows} rows)`,
      );
    };
    const smallId = await benchCreateBatch(pool, { agentId, maxParallel: opts.maxParallel, name: "bench-cost-small" });
    await insertItems(pool, smallId, small);
    await controlBatch(pool, "start", smallId);
    await benchAnalyzeBatchItems(pool);
    await measure(`batch of ${small} items (${small} in the table)`, smallId, small);

    const largeId = await benchCreateBatch(pool, { agentId, maxParallel: opts.maxParallel, name: "bench-cost-large" });
    const t0 = performance.now();
    await insertItems(pool, largeId, large);
    const insertSeconds = (performance.now() - t0) / 1000;
    opts.log(`  ${large} items inserted by insert ... select in ${fmt(insertSeconds, 1)} s (${fmt(large / insertSeconds)} items/s)`);
    await controlBatch(pool, "start", largeId);
    await benchAnalyzeBatchItems(pool);
    await measure(`batch of ${large} items`, largeId, large);

    const againId = await benchCreateBatch(pool, { agentId, maxParallel: opts.maxParallel, name: "bench-cost-small-again" });
    await insertItems(pool, againId, small);
    await controlBatch(pool, "start", againId);
    await measure(`batch of ${small} items (${large + 2 * small} in the table)`, againId, small);

    const [first, big, again] = rows as [CostRow, CostRow, CostRow];
    const base = (k: "itemEndMs" | "progressMs" | "resultsPageMs") => (first[k] + again[k]) / 2;
    opts.log(
      `  ${large} ÷ ${small} items (the small one's mean of before and after): item end ${fmt(big.itemEndMs / base("itemEndMs"), 2)}×, ` +
        `batch_progress ${fmt(big.progressMs / base("progressMs"), 2)}×, results page ${fmt(big.resultsPageMs / base("resultsPageMs"), 2)}× (target ≈ 1×)`,
    );
    return rows;
  });
}

// --- chaos -------------------------------------------------------------------------------------

const RestResultSchema = z.object({ custom_id: z.string(), cursor: z.string() }).passthrough();

/** Follows a batch's results through a cursor: fetchPage returns the rows after it (and moves it). */
class ResultsFollower {
  readonly seen: string[] = [];
  failedRequests = 0;
  private readonly fetchPage: () => Promise<string[]>;
  constructor(fetchPage: () => Promise<string[]>) {
    this.fetchPage = fetchPage;
  }

  /** Pages until a page comes back empty; a failed request is counted, not thrown. */
  async drain(): Promise<void> {
    for (;;) {
      let ids: string[];
      try {
        ids = await this.fetchPage();
      } catch {
        this.failedRequests++;
        return;
      }
      this.seen.push(...ids);
      if (ids.length === 0) return;
    }
  }

  summary(): { rows: number; distinct: number; duplicates: number } {
    const distinct = new Set(this.seen).size;
    return { rows: this.seen.length, distinct, duplicates: this.seen.length - distinct };
  }
}

function sqlFollower(pool: Pool, batchId: string): ResultsFollower {
  let cursor: BatchResultsCursor | null = null;
  return new ResultsFollower(async () => {
    const rows = await readBatchResults(pool, batchId, cursor, 1000);
    const last = rows[rows.length - 1];
    if (last) cursor = parseBatchResultsCursor(last.cursor);
    return rows.map((r) => r.custom_id);
  });
}

/** A follower of GET /api/batches/:id/results through whichever API process is current. */
function restFollower(api: () => ApiProcess, batchId: string): ResultsFollower {
  let cursor: string | null = null;
  return new ResultsFollower(async () => {
    const a = api();
    const response = await a.fetch(`${a.url}/api/batches/${batchId}/results?limit=1000${cursor ? `&after=${encodeURIComponent(cursor)}` : ""}`);
    if (response.status !== 200) throw new Error(`GET results answered ${response.status}`);
    const ids: string[] = [];
    // the whole page is read before the cursor moves: a page cut off by a restart is fetched again
    let last: string | null = null;
    for (const line of (await response.text()).split("\n")) {
      if (line.trim() === "") continue;
      const row = RestResultSchema.parse(JSON.parse(line));
      ids.push(row.custom_id);
      last = row.cursor;
    }
    if (last) cursor = last;
    return ids;
  });
}

async function runChaos(opts: BatchOptions): Promise<ChaosResult> {
  const n = opts.chaosItems;
  const slots = Math.ceil(opts.maxParallel / opts.chaosWorkers);
  opts.log(
    `batch chaos: ${n} items of a ${opts.chaosDelayMs} ms LLM call at max_parallel ${opts.maxParallel} with a results_table; ${opts.chaosWorkers} worker processes × ${slots} slots, ` +
      `one kill -9'd and replaced every ${opts.chaosKillMs} ms; the API kill -9'd and restarted once; results followed in SQL and REST`,
  );
  return onFreshDatabase(opts.serverUrl, 3, async (url, pool) => {
    const agentId = await createAgent(pool, "bench-batch-chaos", { provider: "scripted", script: [{ text: "ok", delay_ms: opts.chaosDelayMs }] });
    await benchCreateResultsTable(pool);
    const batchId = await benchCreateBatch(pool, { agentId, maxParallel: opts.maxParallel, name: "bench-chaos", resultsTable: BENCH_RESULTS_TABLE });
    await insertItems(pool, batchId, n);
    let api = await spawnApiProcess(url, await freePort());
    const workers: WorkerProcess[] = await Promise.all(Array.from({ length: opts.chaosWorkers }, () => spawnWorkerProcess(url, slots)));
    const sql = sqlFollower(pool, batchId);
    const rest = restFollower(() => api, batchId);
    let restSkipped: string | null = null;
    const probe = await api.fetch(`${api.url}/api/batches/${batchId}/results?limit=1`);
    await probe.body?.cancel();
    if (probe.status === 404 || probe.status === 405) restSkipped = `GET /api/batches/:id/results answered ${probe.status}`;

    let kills = 0;
    let apiRestarts = 0;
    let etaSamples = 0;
    let etaNull = 0;
    let etaBad = 0;
    let etaMin = Infinity;
    let etaMax = -Infinity;
    const loops: Array<ReturnType<typeof every>> = [];
    const t0 = performance.now();
    try {
      await controlBatch(pool, "start", batchId);
      loops.push(every(300, () => sql.drain()));
      if (!restSkipped) loops.push(every(300, () => rest.drain()));
      loops.push(
        every(
          500,
          async () => {
            const p = (await batchOf(pool, batchId)).progress;
            if (p.queued + p.running === 0) return;
            etaSamples++;
            if (p.eta_seconds === null) etaNull++;
            else if (!Number.isFinite(p.eta_seconds) || p.eta_seconds < 0) etaBad++;
            else {
              etaMin = Math.min(etaMin, p.eta_seconds);
              etaMax = Math.max(etaMax, p.eta_seconds);
            }
            // the API restart, once, with about a third of the items done
            if (apiRestarts === 0 && p.succeeded + p.failed + p.cancelled >= n / 3) {
              apiRestarts++;
              await api.kill9();
              api = await spawnApiProcess(url, await freePort());
            }
          },
          (e) => opts.log(`  (progress sampler or API restart: ${e.message})`),
        ),
      );
      loops.push(
        every(
          opts.chaosKillMs,
          async () => {
            if (performance.now() - t0 < opts.chaosKillMs) return; // the first kill after one interval
            const i = Math.floor(Math.random() * workers.length);
            await workers[i]!.kill9();
            kills++;
            workers[i] = await spawnWorkerProcess(url, slots);
          },
          (e) => opts.log(`  (a worker kill or respawn: ${e.message})`),
        ),
      );
      const end = await waitBatchEnded(pool, batchId, opts.timeoutMs);
      if (!end.ended) opts.log(`  NOT ENDED after ${opts.timeoutMs / 1000} s (status ${end.status}); the figures are of what was reached`);
    } finally {
      for (const l of loops) await l.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    try {
      // the last results: a result is given only once older than every open transaction of the database
      const deadline = performance.now() + 120_000;
      while ((sql.summary().distinct < n || (!restSkipped && rest.summary().distinct < n)) && performance.now() < deadline) {
        await sql.drain();
        if (!restSkipped) await rest.drain();
        await sleep(200);
      }
      const { status, progress } = await batchOf(pool, batchId);
      const recount = await benchBatchRecount(pool, batchId);
      const counted = (s: string) => recount[s] ?? 0;
      const countersMatch =
        progress.total === Object.values(recount).reduce((a, b) => a + b, 0) &&
        (["queued", "running", "succeeded", "failed", "cancelled"] as const).every((s) => progress[s] === counted(s));
      const resultsTable = await benchResultsTableCounts(pool, batchId);
      const r: ChaosResult = {
        items: n,
        kills,
        apiRestarts,
        status,
        sqlResults: sql.summary(),
        restResults: restSkipped ? null : { ...rest.summary(), failedRequests: rest.failedRequests },
        restSkipped,
        resultsTable,
        progress,
        recount,
        countersMatch,
        etaSamples,
        etaNull,
        etaBad,
        etaMin: Number.isFinite(etaMin) ? etaMin : null,
        etaMax: Number.isFinite(etaMax) ? etaMax : null,
        seconds,
      };
      opts.log(
        `  batch ${status} after ${fmt(seconds, 1)} s; ${kills} workers kill -9'd, the API restarted ${apiRestarts} time(s); recount ${JSON.stringify(recount)}`,
      );
      opts.log(
        `  SQL results (batch_results through the cursor): ${r.sqlResults.rows} rows, ${r.sqlResults.distinct} distinct custom_ids, ${r.sqlResults.duplicates} duplicates`,
      );
      opts.log(
        r.restResults
          ? `  REST results (GET /api/batches/:id/results through the cursor): ${r.restResults.rows} rows, ${r.restResults.distinct} distinct custom_ids, ` +
              `${r.restResults.duplicates} duplicates (${r.restResults.failedRequests} requests failed across the restart)`
          : `  REST results: skipped, ${restSkipped}`,
      );
      opts.log(
        `  results table: ${resultsTable.rows} rows, ${resultsTable.distinct} distinct custom_ids, ${resultsTable.duplicated} custom_ids more than once`,
      );
      opts.log(
        `  counters ${countersMatch ? "equal" : "DIFFER FROM"} the recount: total ${progress.total}, queued ${progress.queued}, running ${progress.running}, ` +
          `succeeded ${progress.succeeded}, failed ${progress.failed}, cancelled ${progress.cancelled}`,
      );
      opts.log(
        `  ETA: ${etaSamples} samples while items remained, ${etaBad} not finite or negative, ${etaNull} not yet known (null); ` +
          `from ${fmt(r.etaMin, 1)} s to ${fmt(r.etaMax, 1)} s`,
      );
      return r;
    } finally {
      await api.stop(10_000);
      await stopAll(workers, 15_000);
    }
  });
}

// --- all of it ---------------------------------------------------------------------------------

/** The parts opts.parts names, each on fresh databases of opts.serverUrl, then a summary table. */
export async function runBatchBench(opts: BatchOptions): Promise<BatchResult> {
  const result: BatchResult = { create: null, throughput: null, cost: [], chaos: null };
  if (opts.parts.has("create")) result.create = await runCreate(opts);
  if (opts.parts.has("throughput")) result.throughput = await runThroughput(opts);
  if (opts.parts.has("cost")) result.cost = await runCost(opts);
  if (opts.parts.has("chaos")) result.chaos = await runChaos(opts);

  opts.log("");
  opts.log("| batch | figures | target |");
  opts.log("|---|---|---|");
  for (const r of result.create?.rows ?? []) {
    opts.log(
      r.via === "COPY"
        ? `| create ${r.items} items, COPY | ${fmt(r.seconds, 2)} s (${fmt(r.items / r.seconds)} items/s) | < 10 s |`
        : `| create ${r.items} items, REST JSONL | ${fmt(r.seconds, 2)} s (${fmt(r.items / r.seconds)} items/s); API RSS ${fmt(r.rssBeforeMiB)} → at most ${fmt(r.rssMaxMiB)} MiB (VmHWM ${fmt(r.hwmAfterMiB)} MiB) | < 10 s, RSS flat |`,
    );
  }
  if (result.create?.restSkipped) opts.log(`| create, REST JSONL | skipped: ${result.create.restSkipped} | |`);
  const t = result.throughput;
  if (t) {
    const batches = t.rounds.filter((r) => r.kind === "batch");
    const runs = t.rounds.filter((r) => r.kind === "runs");
    opts.log(
      `| throughput, ${batches[0]?.items} items | batch ${batches.map((r) => fmt(r.itemsPerSec, 1)).join(" / ")} items/s, runs ${runs.map((r) => fmt(r.itemsPerSec, 1)).join(" / ")} items/s; ratio ${t.ratios.map((r) => fmt(r, 2)).join(" / ")} per pair, ${fmt(t.abba, 2)} over ABBA | ≥ 0.90 |`,
    );
    opts.log(
      `| parallelism, max_parallel ${t.maxParallel} | at most ${Math.max(...batches.map((r) => r.maxRunning ?? 0))} in flight over ${batches.reduce((a, r) => a + (r.samples ?? 0), 0)} samples | ≤ ${t.maxParallel} |`,
    );
  }
  if (result.cost.length === 3) {
    const [first, big, again] = result.cost as [CostRow, CostRow, CostRow];
    const ratio = (k: "itemEndMs" | "progressMs" | "resultsPageMs") => fmt(big[k] / ((first[k] + again[k]) / 2), 2);
    opts.log(
      `| cost, ${first.items} vs ${big.items} items | item end ${fmt(first.itemEndMs, 2)} / ${fmt(big.itemEndMs, 2)} / ${fmt(again.itemEndMs, 2)} ms, ` +
        `batch_progress ${fmt(first.progressMs, 2)} / ${fmt(big.progressMs, 2)} / ${fmt(again.progressMs, 2)} ms, results page ${fmt(first.resultsPageMs, 2)} / ${fmt(big.resultsPageMs, 2)} / ${fmt(again.resultsPageMs, 2)} ms; ` +
        `ratio ${ratio("itemEndMs")}× / ${ratio("progressMs")}× / ${ratio("resultsPageMs")}× | ≈ 1× |`,
    );
  }
  const c = result.chaos;
  if (c) {
    opts.log(
      `| chaos, ${c.items} items, ${c.kills} kill -9s, ${c.apiRestarts} API restart | ${c.status} in ${fmt(c.seconds, 1)} s; SQL results ${c.sqlResults.distinct} distinct / ${c.sqlResults.duplicates} duplicates; ` +
        `REST results ${c.restResults ? `${c.restResults.distinct} distinct / ${c.restResults.duplicates} duplicates` : "skipped"}; ` +
        `results table ${c.resultsTable.rows} rows / ${c.resultsTable.duplicated} duplicated; counters ${c.countersMatch ? "=" : "≠"} recount; ` +
        `ETA ${c.etaBad} bad of ${c.etaSamples} | every item once, counters = recount, 0 bad |`,
    );
  }
  return result;
}
