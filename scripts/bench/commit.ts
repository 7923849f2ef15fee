// Step commits per second with and without NOTIFY in the step transaction (issue 23, 000017).
//
// Postgres holds one database-wide lock from a transaction's NOTIFY until after its commit's WAL
// flush, so NOTIFY-ing commits cannot group-commit. This measures the engine's hot path (inline
// chaining: append_events of the step's live events, then commit_step_and_begin_next, which
// commits the step and begins the next one in the job the worker holds) with N concurrent
// committers, each holding a real graphile-worker job of its own run, in three variants measured
// in the same process on the same database, alternating:
//   (a) notify   today: the notifications go out with each commit
//   (b) deferred the statements defer them and a worker/notifier.ts Notifier sends them batched
//   (c) none     deferred and never sent: the no-notify baseline
// One LISTEN connection is open on both channels throughout (as the API's is), and pg_locks is
// sampled for waiters on the notify lock (locktype object, classid pg_database).
//
//   ./node_modules/.bin/node scripts/bench/commit.ts [--committers 1,10,40] [--seconds 3] [--rounds 1] [--events 3] [--window-ms 5]
// (DATABASE_URL: the server to make the throwaway database on; default the local one)
import { EventEmitter } from "node:events";
import pg from "pg";
import { Logger, run, type Runner } from "graphile-worker";
import { createPool, type Pool } from "../../db/pool.ts";
import { appendEvents, type AgUiEvent } from "../../db/sql/appendEvents.ts";
import { beginStep, type BegunStep } from "../../db/sql/beginStep.ts";
import { commitStepAndBeginNext, type JobRef, type StepRecord } from "../../db/sql/commitStep.ts";
import type { Notification } from "../../db/sql/deferredNotifications.ts";
import { listen } from "../../db/sql/listen.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { Notifier } from "../../worker/notifier.ts";
import { parseFlags } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { createAgent, insertRuns } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";

export type Variant = "notify" | "deferred" | "none";
const VARIANTS: Variant[] = ["notify", "deferred", "none"];

export interface CommitBenchOptions {
  serverUrl: string;
  committers: number[];
  /** measured seconds per cell (committers × variant × round) */
  seconds: number;
  rounds: number;
  /** live events appended per step (plus STEP_STARTED / STEP_FINISHED) */
  events: number;
  windowMs: number;
  log: (line: string) => void;
}

export interface CommitBenchRow {
  committers: number;
  /** step commits per second, median over the rounds */
  perSec: Record<Variant, number>;
  /** the most sessions seen waiting on the notify lock in one pg_locks sample */
  maxLockWaits: Record<Variant, number>;
  /** notifications the LISTEN connection received per step commit */
  heardPerCommit: Record<Variant, number>;
  /** Notifier sends per second (deferred) */
  notifierBatchesPerSec: number;
}

/** One measured cell: which variant, how many committers, until when. */
interface Cell {
  variant: Variant;
  runs: Set<string>;
  /** resolves once `runs` holds the cell's runs (a job may be taken before the insert returns) */
  inserted: Promise<void>;
  ready: number;
  go: Promise<void>;
  start: () => void;
  deadline: number;
  commits: number;
  done: number;
  error: unknown;
}

const STEP: StepRecord = { kind: "llm", name: "bench", status: "succeeded", input: { messages: 1 }, output: { text: "ok" } };

function stepEvents(seq: number, n: number): { live: AgUiEvent[]; final: AgUiEvent[] } {
  const name = `step ${seq}: llm bench`;
  const id = `m${seq}`;
  return {
    live: [
      { type: "STEP_STARTED", stepName: name },
      { type: "TEXT_MESSAGE_START", messageId: id, role: "assistant" },
      ...Array.from({ length: n }, (_, i) => ({ type: "TEXT_MESSAGE_CONTENT", messageId: id, delta: `chunk ${i} ` })),
    ],
    final: [
      { type: "TEXT_MESSAGE_END", messageId: id },
      { type: "STEP_FINISHED", stepName: name },
    ],
  };
}

/**
 * One committer: the step loop of a worker that holds the run's job, for as long as the cell lasts.
 * Each iteration is one step: its live events (append_events), then its commit with the next
 * step begun (commit_step_and_begin_next).
 */
async function committer(pool: Pool, notifier: Notifier, cell: Cell, runId: string, job: JobRef, events: number): Promise<void> {
  const defer = cell.variant !== "notify";
  const hand = (list: Notification[]) => {
    if (cell.variant === "deferred") notifier.add(list);
  };
  const first = await beginStep(pool, runId, { deferNotifications: defer });
  hand(first.notifications);
  let begun: BegunStep | null = first.begun;
  cell.ready++;
  await cell.go;
  while (performance.now() < cell.deadline) {
    if (!begun) throw new Error(`run ${runId}: the commit did not begin the next step inline (job not held?)`);
    const { run: r } = begun;
    const { live, final } = stepEvents(r.step_cursor, events);
    const appended = await appendEvents(pool, r.id, r.step_cursor, r.step_attempt, live, { deferNotifications: defer });
    hand(appended.notifications);
    const committed = await commitStepAndBeginNext(pool, begun, STEP, final, job, { deferNotifications: defer });
    hand(committed.notifications);
    if (!committed.committed) throw new Error(`run ${runId}: lost the fence at step ${r.step_cursor}`);
    cell.commits++;
    begun = committed.next;
  }
}

/**
 * Sessions of this database waiting on the notify lock right now (SQL kept here: a bench's own
 * probe of pg_locks). The lock is a shared object's (database 0): it is one for the whole
 * cluster, so sessions of other databases queue on it too; only ours are counted.
 */
async function notifyLockWaits(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'object' and l.classid = 'pg_database'::regclass and not l.granted and a.datname = current_database()`,
  );
  return rows[0]!.n;
}

export async function runCommitBench(opts: CommitBenchOptions): Promise<CommitBenchRow[]> {
  return withScratchDatabase(opts.serverUrl, "everruns_bench_commit", async (url) => {
    const maxCommitters = Math.max(...opts.committers);
    const admin = createPool(url, "everruns-bench", 4);
    const stepPool = createPool(url, "everruns-bench-steps", maxCommitters + 2);
    const runnerPool = createPool(url, "everruns-bench-runner", 8);
    const listener = new pg.Client({ connectionString: url });
    const prober = new pg.Client({ connectionString: url });
    const notifier = new Notifier({ pool: stepPool, log: consoleLogger("[bench notifier]", "warn"), windowMs: opts.windowMs });
    let heard = 0;
    let cell: Cell | null = null;
    let runner: Runner | null = null;
    try {
      opts.log(await machineLine(admin));
      await listener.connect();
      listener.on("notification", () => heard++);
      await listen(listener, ["everruns:events", "everruns:runs"]);
      await prober.connect();
      const agent = await createAgent(admin, "bench-commit", { provider: "scripted", script: [{ text: "ok" }] });
      // A real graphile-worker pool takes each run's job and holds it while its committer runs, so
      // every commit is the inline-chaining one (no add_job, whose own NOTIFY is not ours to defer).
      const events = new EventEmitter();
      runner = await run({
        pgPool: runnerPool,
        concurrency: maxCommitters,
        noHandleSignals: true,
        pollInterval: 50,
        events,
        logger: new Logger(() => (level, message) => {
          if (level === "error") console.error(message);
        }),
        preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
        taskList: {
          run_step: async (payload, helpers) => {
            const runId = (payload as { run_id: string }).run_id;
            const c = cell;
            if (!c) return;
            await c.inserted;
            if (!c.runs.has(runId)) return; // a run of another cell: nothing to do
            const job = { id: String(helpers.job.id), locked_by: helpers.job.locked_by! };
            try {
              await committer(stepPool, notifier, c, runId, job, opts.events);
            } catch (error) {
              c.error ??= error;
            } finally {
              c.done++;
            }
          },
        },
      });

      const measure = async (variant: Variant, n: number) => {
        let start = () => {};
        const go = new Promise<void>((resolve) => (start = resolve));
        let insertedNow = () => {};
        const inserted = new Promise<void>((resolve) => (insertedNow = resolve));
        const c: Cell = { variant, runs: new Set(), inserted, ready: 0, go, start, deadline: Infinity, commits: 0, done: 0, error: null };
        cell = c;
        try {
          for (const id of await insertRuns(admin, agent, n, "bench")) c.runs.add(id);
        } finally {
          insertedNow();
        }
        await until(`${n} committers to hold their jobs`, () => Promise.resolve(c.ready + c.done >= n), 60_000, 5);
        await notifier.flush();
        await sleep(50);
        const heard0 = heard;
        const batches0 = notifier.stats.batches;
        let maxWaits = 0;
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            maxWaits = Math.max(maxWaits, await notifyLockWaits(prober));
            await sleep(2);
          }
        })();
        const t0 = performance.now();
        c.deadline = t0 + opts.seconds * 1000;
        c.start();
        await until(`the ${variant} cell to end`, () => Promise.resolve(c.done >= n), opts.seconds * 1000 + 60_000, 5);
        const elapsed = (performance.now() - t0) / 1000;
        await notifier.flush();
        sampling = false;
        await sampler;
        await sleep(50); // the last notifications reach the listener
        if (c.error) throw c.error instanceof Error ? c.error : new Error(`a committer failed: ${JSON.stringify(c.error)}`);
        return {
          perSec: c.commits / elapsed,
          maxWaits,
          heardPerCommit: c.commits > 0 ? (heard - heard0) / c.commits : 0,
          batchesPerSec: (notifier.stats.batches - batches0) / elapsed,
        };
      };

      opts.log(
        `settings: ${opts.seconds} s per cell, ${opts.rounds} round(s), ${opts.events + 4} events per step (append_events + commit_step_and_begin_next), ` +
          `notifier window ${opts.windowMs} ms; variants alternate`,
      );
      await measure("notify", 1); // warm up (connections, plans)
      const rows: CommitBenchRow[] = [];
      for (const n of opts.committers) {
        const got: Record<Variant, Array<Awaited<ReturnType<typeof measure>>>> = { notify: [], deferred: [], none: [] };
        for (let round = 0; round < opts.rounds; round++) {
          // rotate the order so no variant always runs first (or on a warmer cache)
          for (let k = 0; k < VARIANTS.length; k++) {
            const variant = VARIANTS[(k + round + n) % VARIANTS.length]!;
            const m = await measure(variant, n);
            got[variant].push(m);
            opts.log(
              `  committers=${n} round ${round + 1} ${variant}: ${m.perSec.toFixed(0)} commits/s, notify-lock waiters max ${m.maxWaits}, ` +
                `${m.heardPerCommit.toFixed(2)} notifications heard per commit`,
            );
          }
        }
        const pick = <K extends "perSec" | "maxWaits" | "heardPerCommit">(v: Variant, key: K) => got[v].map((m) => m[key]);
        rows.push({
          committers: n,
          perSec: { notify: median(pick("notify", "perSec")), deferred: median(pick("deferred", "perSec")), none: median(pick("none", "perSec")) },
          maxLockWaits: {
            notify: Math.max(...pick("notify", "maxWaits")),
            deferred: Math.max(...pick("deferred", "maxWaits")),
            none: Math.max(...pick("none", "maxWaits")),
          },
          heardPerCommit: {
            notify: median(pick("notify", "heardPerCommit")),
            deferred: median(pick("deferred", "heardPerCommit")),
            none: median(pick("none", "heardPerCommit")),
          },
          notifierBatchesPerSec: median(got.deferred.map((m) => m.batchesPerSec)),
        });
      }
      opts.log("");
      opts.log(
        "| committers | (a) notify in txn (commits/s) | (b) deferred + Notifier | (c) no notify | b ÷ c | b ÷ a | notify-lock waiters max a / b / c | heard per commit a / b | Notifier sends/s |",
      );
      opts.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (const r of rows) {
        opts.log(
          `| ${r.committers} | ${r.perSec.notify.toFixed(0)} | ${r.perSec.deferred.toFixed(0)} | ${r.perSec.none.toFixed(0)} | ` +
            `${((100 * r.perSec.deferred) / r.perSec.none).toFixed(0)}% | ${(r.perSec.deferred / r.perSec.notify).toFixed(2)}× | ` +
            `${r.maxLockWaits.notify} / ${r.maxLockWaits.deferred} / ${r.maxLockWaits.none} | ` +
            `${r.heardPerCommit.notify.toFixed(2)} / ${r.heardPerCommit.deferred.toFixed(2)} | ${r.notifierBatchesPerSec.toFixed(0)} |`,
        );
      }
      return rows;
    } finally {
      cell = null;
      await runner?.stop();
      await notifier.stop();
      await listener.end().catch(() => undefined);
      await prober.end().catch(() => undefined);
      await stepPool.end();
      await runnerPool.end();
      await admin.end();
    }
  });
}

export const COMMIT_BENCH_USAGE = `node scripts/bench/commit.ts [--committers 1,10,40] [--seconds 3] [--rounds 1] [--events 3] [--window-ms 5]
  step commits/s with the notifications (a) sent in the commit, (b) deferred and sent by a
  Notifier, (c) deferred and not sent; DATABASE_URL names the server (a throwaway database is used)`;

if (process.argv[1]?.endsWith("scripts/bench/commit.ts")) {
  const flags = parseFlags(
    process.argv.slice(2),
    {
      committers: { type: "ints", default: [1, 10, 40], min: 1, max: 80 },
      seconds: { type: "number", default: 3, min: 0.2, max: 600 },
      rounds: { type: "int", default: 1, min: 1, max: 100 },
      events: { type: "int", default: 3, min: 0, max: 1000 },
      "window-ms": { type: "number", default: 5, min: 0, max: 10_000 },
    },
    COMMIT_BENCH_USAGE,
    console.log,
  );
  if (flags) {
    await runCommitBench({
      serverUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
      committers: flags.committers,
      seconds: flags.seconds,
      rounds: flags.rounds,
      events: flags.events,
      windowMs: flags["window-ms"],
      log: console.log,
    });
  }
}
