// `everruns bench`: what a step costs and how far the engine scales, measured on one database.
//
// 1. Per-step cost: the Everruns engine next to a bare graphile-worker chain, in the same
//    process, on the same database, in the same run, alternating (the machines are shared and
//    noisy: only the ratio means much). Bare chain: each step is one job that, in one
//    transaction, inserts a row and add_job()s the next step. Everruns: a scripted agent whose
//    turns call the zero-latency `echo` tool, so each step is the engine and the database alone:
//    commit_step_and_begin_next (checkpoint, events, the job handed to the next step, which
//    begins) with inline chaining, or begin_step + commit_step (next job) with it off.
// 2. Scaling: many concurrent runs over 1, 2 and 4 spawned `everruns worker` processes: steps/s
//    and step-to-step latency (run_steps: started_at of step n+1 minus finished_at of step n,
//    both from the database clock), each on a fresh database.
// 3. Resume latency after kill -9 (--kills N): see measureResumeLatency in scripts/chaos.ts.
import { randomBytes } from "node:crypto";
import os from "node:os";
import { parseArgs } from "node:util";
import pg from "pg";
import { Logger, run } from "graphile-worker";
import { migrate } from "../db/migrate.ts";
import { ConfigError } from "../db/errors.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { consoleLogger } from "../lib/logger.ts";
import { startWorker } from "../worker/main.ts";
import { measureResumeLatency } from "./chaos.ts";
import { machineLine, scratchDatabase, spawnWorkerProcess, type WorkerProcess } from "./fleet.ts";

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

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function withBenchDatabase<T>(serverUrl: string, fn: (url: string, pool: Pool) => Promise<T>): Promise<T> {
  const name = `everruns_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), "everruns-bench", 4);
  try {
    await migrate(pool);
    await pool.query("create table public.bench_chain (id bigserial primary key, chain int not null, n int not null)");
    return await fn(url.toString(), pool);
  } finally {
    await pool.end();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
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
        const client = await workerPool.connect();
        try {
          await client.query("begin");
          await client.query("insert into public.bench_chain (chain, n) values ($1, $2)", [chain, n]);
          if (n < steps) await client.query("select graphile_worker.add_job('chain_step', json_build_object('chain', $1::int, 'n', $2::int))", [chain, n + 1]);
          await client.query("commit");
        } catch (error) {
          await client.query("rollback");
          throw error;
        } finally {
          client.release();
        }
        if (n === steps && ++finished === chains) resolveDone();
      },
    },
  });
  const t0 = performance.now();
  await pool.query("select graphile_worker.add_job('chain_step', json_build_object('chain', c, 'n', 1)) from generate_series(1, $1) c", [chains]);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await runner.stop();
  await workerPool.end();
  return (chains * steps) / seconds;
}

async function everrunsChain(url: string, pool: Pool, chains: number, steps: number, concurrency: number, inlineChainMs?: number): Promise<number> {
  // one LLM turn + one tool step per script turn, plus the final answer
  const turns = Math.max(1, Math.floor((steps - 1) / 2));
  const config = {
    provider: "scripted",
    tools: ["echo"],
    max_steps: steps + 10,
    script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
  };
  const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
    `bench-${randomBytes(4).toString("hex")}`,
    JSON.stringify(config),
  ]);
  const worker = await startWorker({ databaseUrl: url, concurrency, shutdownTimeoutMs: 5000, inlineChainMs, log: consoleLogger("[bench]", "warn") });
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  await listener.query('listen "everruns:runs"');
  const t0 = performance.now();
  const inserted = await pool.query<{ id: string }>(
    "insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id",
    [rows[0]!.id, JSON.stringify({ messages: [{ role: "user", content: "bench" }] }), chains],
  );
  const ids = inserted.rows.map((r) => r.id);
  for (;;) {
    const { rows: left } = await pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.runs where id = any($1) and status not in ('succeeded', 'failed', 'cancelled')",
      [ids],
    );
    if (left[0]!.n === 0) break;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        listener.off("notification", wake);
        resolve();
      };
      const t = setTimeout(wake, 200);
      listener.on("notification", wake);
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  await listener.end();
  await worker.stop();
  const { rows: counted } = await pool.query<{ steps: number; failed: number }>(
    "select (select count(*)::int from everruns.run_steps where run_id = any($1)) as steps, (select count(*)::int from everruns.runs where id = any($1) and status <> 'succeeded') as failed",
    [ids],
  );
  if (counted[0]!.failed > 0) throw new Error(`${counted[0]!.failed} bench run(s) did not succeed`);
  return counted[0]!.steps / seconds;
}

export async function runBench(opts: BenchOptions): Promise<BenchRow[]> {
  return withBenchDatabase(opts.serverUrl, async (url, pool) => {
    const version = (await pool.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]!.v;
    opts.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; node ${process.version}; postgres ${version}`);
    opts.log(`settings: ${opts.steps} steps per chain, concurrency ${opts.concurrency}, best-of-median over ${opts.repeat} alternating repetitions`);
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
      const b = median(bare);
      const e = median(ours);
      const u = median(unchained);
      rows.push({ chains, bareStepsPerSec: b, everrunsStepsPerSec: e, ratio: b / e, unchainedStepsPerSec: u, unchainedRatio: b / u });
    }
    opts.log("");
    opts.log("| chains | bare graphile-worker chain (steps/s) | Everruns (steps/s) | Everruns time per step ÷ bare | inline chaining off (steps/s) | ÷ bare |");
    opts.log("|---:|---:|---:|---:|---:|---:|");
    for (const r of rows) {
      opts.log(
        `| ${r.chains} | ${r.bareStepsPerSec.toFixed(0)} | ${r.everrunsStepsPerSec.toFixed(0)} | ${r.ratio.toFixed(2)}× | ` +
          `${r.unchainedStepsPerSec.toFixed(0)} | ${r.unchainedRatio.toFixed(2)}× |`,
      );
    }
    return rows;
  });
}

// ─── scaling over worker processes ──────────────────────────────────────────────────────────

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
  const db = await scratchDatabase(serverUrl, "everruns_bench");
  const pool = createPool(db.url, "everruns-bench", 2);
  const workers: WorkerProcess[] = [];
  try {
    const turns = Math.max(1, Math.floor((opts.steps - 1) / 2));
    const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
      "bench-scaling",
      JSON.stringify({
        provider: "scripted",
        tools: ["echo"],
        max_steps: opts.steps + 10,
        script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
      }),
    ]);
    for (let i = 0; i < workerCount; i++) workers.push(await spawnWorkerProcess(db.url, opts.concurrency));
    const inserted = await pool.query<{ id: string }>(
      "insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id",
      [rows[0]!.id, JSON.stringify({ messages: [{ role: "user", content: "bench" }] }), runs],
    );
    const ids = inserted.rows.map((r) => r.id);
    for (;;) {
      const { rows: left } = await pool.query<{ n: number }>(
        "select count(*)::int as n from everruns.runs where id = any($1) and status not in ('succeeded', 'failed', 'cancelled')",
        [ids],
      );
      if (left[0]!.n === 0) break;
      for (const w of workers) if (!w.alive()) throw new Error(`a bench worker died:\n${w.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Everything from the database clock: first insert to last commit, and the gaps between steps.
    const { rows: figures } = await pool.query<{ steps: number; failed: number; seconds: number; gap_p50: number; gap_p99: number; step_p50: number }>(
      `with s as (select * from everruns.run_steps where run_id = any($1)),
            gaps as (select extract(epoch from (b.started_at - a.finished_at)) * 1000 as ms
                     from s a join s b on b.run_id = a.run_id and b.seq = a.seq + 1)
       select (select count(*)::int from s) as steps,
              (select count(*)::int from everruns.runs where id = any($1) and status <> 'succeeded') as failed,
              (select extract(epoch from (max(finished_at) - (select min(created_at) from everruns.runs where id = any($1)))) from s) as seconds,
              (select percentile_cont(0.5) within group (order by ms) from gaps) as gap_p50,
              (select percentile_cont(0.99) within group (order by ms) from gaps) as gap_p99,
              (select percentile_cont(0.5) within group (order by duration_ms) from s) as step_p50`,
      [ids],
    );
    const f = figures[0]!;
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
    await Promise.all(workers.map((w) => w.stop(15_000)));
    await pool.end();
    await db.drop();
  }
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
    opts.log(`| ${r.workers} | ${opts.concurrency} | ${r.runs} | ${r.steps} | ${r.stepsPerSec.toFixed(0)} | ${r.gapP50.toFixed(1)} ms | ${r.gapP99.toFixed(1)} ms | ${r.stepP50.toFixed(1)} ms |`);
  }
  return rows;
}

// ─── the command ────────────────────────────────────────────────────────────────────────────

export const BENCH_USAGE = `everruns bench [--steps 200] [--chains 1,10] [--repeat 3] [--concurrency 10]
               [--workers 1,2,4] [--runs 200] [--run-steps 21] [--kills 20] [--only ratio,scaling,resume]
  ratio     per-step cost next to a bare graphile-worker chain, with inline chaining (the default)
            and without it (--steps, --chains, --repeat, --concurrency)
  scaling   --runs concurrent runs of --run-steps steps over --workers spawned worker processes
  resume    resume latency after --kills kill -9s of worker processes (p50/p99/max)`;

/**
 * `everruns bench [flags]` against the Postgres server of databaseUrl (each part uses throwaway
 * databases on it). Returns the exit code.
 */
export async function benchCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const parse = () =>
    parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h", default: false },
        steps: { type: "string", default: "200" },
        chains: { type: "string", default: "1,10" },
        repeat: { type: "string", default: "3" },
        concurrency: { type: "string", default: "10" },
        workers: { type: "string", default: "1,2,4" },
        runs: { type: "string", default: "200" },
        "run-steps": { type: "string", default: "21" },
        kills: { type: "string", default: "20" },
        only: { type: "string", default: "ratio,scaling,resume" },
      },
    });
  let values: ReturnType<typeof parse>["values"];
  try {
    ({ values } = parse());
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${BENCH_USAGE}`);
  }
  if (values.help) {
    log(BENCH_USAGE);
    return 0;
  }
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got ${v}`);
    return n;
  };
  const list = (name: string, v: string, max: number) => v.split(",").map((c) => int(name, c.trim(), 1, max));
  const parts = new Set(values.only.split(",").map((p) => p.trim()));
  for (const p of parts) if (!["ratio", "scaling", "resume"].includes(p)) throw new ConfigError(`--only takes ratio, scaling, resume; got ${p}`);
  const concurrency = int("concurrency", values.concurrency, 1, 1000);

  const probe = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  try {
    log(await machineLine(probe));
  } finally {
    await probe.end();
  }
  if (parts.has("ratio")) {
    await runBench({
      serverUrl: databaseUrl,
      steps: int("steps", values.steps, 1, 100_000),
      chains: list("chains", values.chains, 10_000),
      repeat: int("repeat", values.repeat, 1, 100),
      concurrency,
      log,
    });
    log("");
  }
  if (parts.has("scaling")) {
    await runScaling({
      serverUrl: databaseUrl,
      workers: list("workers", values.workers, 64),
      runs: int("runs", values.runs, 1, 100_000),
      steps: int("run-steps", values["run-steps"], 1, 10_000),
      concurrency,
      log,
    });
    log("");
  }
  if (parts.has("resume")) {
    const kills = int("kills", values.kills, 1, 10_000);
    const db = await scratchDatabase(databaseUrl, "everruns_bench");
    try {
      await measureResumeLatency({ databaseUrl: db.url, kills, workers: 2, concurrency: 4, log });
    } finally {
      await db.drop();
    }
  }
  return 0;
}
