// `everruns bench`: the per-step cost of the Everruns engine next to a bare graphile-worker
// chain, measured in the same process, on the same database, in the same run, alternating
// (the machines are shared and noisy: only the ratio means much).
//
// Bare chain: each step is one job that, in one transaction, inserts a row and add_job()s the
// next step. Everruns: a scripted agent whose turns call the zero-latency `echo` tool, so each
// step is begin_step + commit_step (checkpoint, events, next job) with no provider latency.
import { randomBytes } from "node:crypto";
import os from "node:os";
import pg from "pg";
import { Logger, run } from "graphile-worker";
import { migrate } from "../db/migrate.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { consoleLogger } from "../worker/logger.ts";
import { startWorker } from "../worker/main.ts";

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
  everrunsStepsPerSec: number;
  /** Everruns' time per step divided by the bare chain's */
  ratio: number;
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

async function everrunsChain(url: string, pool: Pool, chains: number, steps: number, concurrency: number): Promise<number> {
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
  const worker = await startWorker({ databaseUrl: url, concurrency, shutdownTimeoutMs: 5000, log: consoleLogger("[bench]", "warn") });
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
      const t = setTimeout(resolve, 200);
      listener.once("notification", () => {
        clearTimeout(t);
        resolve();
      });
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
    const version = (await pool.query<{ v: string }>("show server_version")).rows[0]!.v;
    opts.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; node ${process.version}; postgres ${version}`);
    opts.log(`settings: ${opts.steps} steps per chain, concurrency ${opts.concurrency}, best-of-median over ${opts.repeat} alternating repetitions`);
    // warm up both paths (connections, plans, JIT)
    await bareChain(url, pool, 1, 20, opts.concurrency);
    await everrunsChain(url, pool, 1, 21, opts.concurrency);
    const rows: BenchRow[] = [];
    for (const chains of opts.chains) {
      const bare: number[] = [];
      const ours: number[] = [];
      for (let i = 0; i < opts.repeat; i++) {
        bare.push(await bareChain(url, pool, chains, opts.steps, opts.concurrency));
        ours.push(await everrunsChain(url, pool, chains, opts.steps, opts.concurrency));
        opts.log(`  chains=${chains} rep ${i + 1}: bare ${bare.at(-1)!.toFixed(0)} steps/s, everruns ${ours.at(-1)!.toFixed(0)} steps/s`);
      }
      const b = median(bare);
      const e = median(ours);
      rows.push({ chains, bareStepsPerSec: b, everrunsStepsPerSec: e, ratio: b / e });
    }
    opts.log("");
    opts.log("| chains | bare graphile-worker chain (steps/s) | Everruns (steps/s) | Everruns time per step ÷ bare |");
    opts.log("|---:|---:|---:|---:|");
    for (const r of rows) {
      opts.log(`| ${r.chains} | ${r.bareStepsPerSec.toFixed(0)} | ${r.everrunsStepsPerSec.toFixed(0)} | ${r.ratio.toFixed(2)}× |`);
    }
    return rows;
  });
}
