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
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createClient as createGraphqlWsClient, type Client as GraphqlWsClient } from "graphql-ws";
import pg from "pg";
import { Logger, run, type Runner } from "graphile-worker";
import { createPool, type Pool } from "../../db/pool.ts";
import { appendEvents, type AgUiEvent } from "../../db/sql/appendEvents.ts";
import { beginStep, type BegunStep } from "../../db/sql/beginStep.ts";
import { benchNotifyLockWaits } from "../../db/sql/benchNotifyLockWaits.ts";
import { commitStepAndBeginNext, type JobRef, type StepRecord } from "../../db/sql/commitStep.ts";
import type { Notification } from "../../db/sql/deferredNotifications.ts";
import { listen } from "../../db/sql/listen.ts";
import { readEventSeq } from "../../db/sql/readEventSeq.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { sseMessages } from "../../client/index.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { Notifier } from "../../worker/notifier.ts";
import type { FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { machineLine } from "../harness/machine.ts";
import { createAgent, insertRuns } from "../harness/runs.ts";
import { median, percentile } from "../harness/stats.ts";
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
 * A real graphile-worker pool whose run_step task hands each run's job to `hold` and keeps it
 * locked until `hold` resolves, so every commit of the bench is the inline-chaining one (no
 * add_job, whose own NOTIFY is not ours to defer).
 */
async function holdStepJobs(pgPool: Pool, concurrency: number, hold: (runId: string, job: JobRef) => Promise<void>): Promise<Runner> {
  return run({
    pgPool,
    concurrency,
    noHandleSignals: true,
    pollInterval: 50,
    events: new EventEmitter(),
    logger: new Logger(() => (level, message) => {
      if (level === "error") console.error(message);
    }),
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    taskList: {
      run_step: async (payload, helpers) => {
        await hold((payload as { run_id: string }).run_id, { id: String(helpers.job.id), locked_by: helpers.job.locked_by! });
      },
    },
  });
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
      runner = await holdStepJobs(runnerPool, maxCommitters, async (runId, job) => {
        const c = cell;
        if (!c) return;
        await c.inserted;
        if (!c.runs.has(runId)) return; // a run of another cell: nothing to do
        try {
          await committer(stepPool, notifier, c, runId, job, opts.events);
        } catch (error) {
          c.error ??= error;
        } finally {
          c.done++;
        }
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
            maxWaits = Math.max(maxWaits, await benchNotifyLockWaits(prober));
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

// ---------------------------------------------------------------------------------------------
// Latency: commit → live client (issue 23's target: p50 under 20 ms, no event ever missed).
//
// An API in this process (api/server.ts, port 0) serves --latency-runs runs, each followed by one
// SSE client (GET /api/runs/:id/events) and the first --latency-graphql of them by a GraphQL
// runEvents subscription too (graphql-ws). Each run's job is held by a real graphile-worker pool;
// --latency-committers committers take the runs in turn and run their steps through the real
// statements (append_events, then commit_step_and_begin_next), in variant (a) notify and (b)
// deferred + Notifier, alternating, in the same process and database:
//   paced  a steady --latency-rate steps/s over all committers until every run has
//          --latency-events events: the latency of a quiet system
//   load   the committers flat out for --latency-load-seconds (as in the throughput cells): the
//          honest figure, since a busy worker is when latency matters
// The bench records, per run and seq, when the statement that wrote the event returned (a step's
// live events: append_events; the rest: the commit); each client records when each seq arrived
// (performance.now(), one clock: everything is in this process). Latency = arrival − return, so
// it includes the API's read and send and this process's event loop, which the committers share:
// the loop's delay is printed beside the figures. A LISTEN connection of the bench's own records
// when each seq was announced: commit → LISTEN is the notification's part (the Notifier's window
// and send, or nothing), the rest the API's. Every client must see every seq of its run
// exactly once (it subscribes from the start of the log): missed and duplicates are counted.
// Nothing is gated on time: the figures are printed.

export interface CommitLatencyOptions {
  serverUrl: string;
  /** runs per phase, each with one SSE client */
  runs: number;
  /** of those, how many also have a GraphQL subscription */
  graphql: number;
  committers: number;
  /** paced phases: events per run (whole steps, so a little more) */
  events: number;
  /** paced phases: steps per second over all committers */
  rate: number;
  /** load phases: seconds flat out */
  loadSeconds: number;
  rounds: number;
  /** live content events per step (plus STEP_STARTED, TEXT_MESSAGE_START/END, STEP_FINISHED) */
  stepEvents: number;
  windowMs: number;
  log: (line: string) => void;
}

export type Pace = "paced" | "load";

export interface LatencyFigures {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface CommitLatencyRow {
  pace: Pace;
  variant: "notify" | "deferred";
  /** step commits per second reached, median over the rounds */
  stepsPerSec: number;
  /** commit → this bench's LISTEN connection hearing the seq announced (no API in the way) */
  heard: LatencyFigures;
  sse: LatencyFigures;
  graphql: LatencyFigures;
  /** (client, seq) pairs of the run's log never received, over every client and round */
  missed: number;
  /** (client, seq) pairs received more than once */
  duplicates: number;
  /** the events hub's catch-up ticks that found a feed behind (a hint missed or late) */
  hubCatchUps: number;
  /** this process's event loop delay, p99 over the phases (ms) */
  loopDelayP99: number;
}

/** When each seq of one run was committed, as seen by the bench (the statement's return). */
class CommitTimes {
  readonly at = new Map<number, number>();
  /** the highest seq whose time is known */
  private known: number;
  /** the return time of the last commit, whose events' seqs are learnt from the next append */
  private commitAt: number | null = null;

  constructor(startSeq: number) {
    this.known = startSeq;
  }

  /** append_events of `count` events returned `last` at `t`. */
  appended(last: number, count: number, t: number): void {
    this.upTo(last - count, this.commitAt);
    this.upTo(last, t);
    this.commitAt = null;
  }

  committed(t: number): void {
    this.commitAt = t;
  }

  /** The run's log ends at `last`: what follows the last append is the last commit's. */
  finish(last: number): void {
    this.upTo(last, this.commitAt);
  }

  private upTo(seq: number, t: number | null): void {
    for (let s = this.known + 1; s <= seq; s++) if (t !== null) this.at.set(s, t);
    this.known = Math.max(this.known, seq);
  }
}

/** What one client received: seq → arrival times. */
class Arrivals {
  readonly at = new Map<number, number[]>();
  max = 0;
  record(seq: number): void {
    const t = performance.now();
    const list = this.at.get(seq);
    if (list) list.push(t);
    else this.at.set(seq, [t]);
    this.max = Math.max(this.max, seq);
  }
}

/** One run of a latency phase: the job the runner holds for it, its step in flight, its clients. */
interface LatencyRun {
  id: string;
  job: JobRef;
  begun: BegunStep | null;
  times: CommitTimes | null;
  steps: number;
  /** when this bench's own LISTEN connection heard each seq announced (the database's part of the latency) */
  heard: Arrivals;
  sse: Arrivals;
  graphql: Arrivals | null;
}

interface LatencyPhase {
  variant: "notify" | "deferred";
  ids: Set<string>;
  inserted: Promise<void>;
  held: LatencyRun[];
  /** resolves when the runner may let the jobs go */
  release: Promise<void>;
  /** the first failure of a task beginning a run's step */
  error: unknown;
}

const RUN_EVENTS_SUBSCRIPTION = "subscription ($runId: UUID!) { runEvents(runId: $runId, after: 0) { seq } }";

/** Reads a run's SSE stream into `arrivals` until `signal` aborts; throws on anything else. */
async function followSse(apiUrl: string, key: string, runId: string, arrivals: Arrivals, signal: AbortSignal): Promise<void> {
  try {
    const res = await fetch(`${apiUrl}/api/runs/${runId}/events`, { headers: { accept: "text/event-stream", authorization: `Bearer ${key}` }, signal });
    if (!res.ok || !res.body) throw new Error(`GET /api/runs/${runId}/events answered HTTP ${res.status}: ${await res.text()}`);
    for await (const message of sseMessages(res.body)) {
      const seq = Number(message.id);
      if (Number.isInteger(seq)) arrivals.record(seq);
    }
    if (!signal.aborted) throw new Error(`the SSE stream of run ${runId} ended before the bench closed it`);
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
}

/** A thrown value as an Error (graphql-ws hands its sinks close events and GraphQL error lists). */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(`a client failed: ${JSON.stringify(value)}`);
}

function figures(values: number[]): LatencyFigures {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN, n: 0 };
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  return { p50: percentile(values, 50), p99: percentile(values, 99), max, n: values.length };
}

const ms = (v: number) => (Number.isNaN(v) ? "–" : v.toFixed(1));

export async function runCommitLatencyBench(opts: CommitLatencyOptions): Promise<CommitLatencyRow[]> {
  return withScratchDatabase(opts.serverUrl, "everruns_bench_latency", async (url) => {
    const admin = createPool(url, "everruns-bench", 4);
    const stepPool = createPool(url, "everruns-bench-steps", opts.committers + 2);
    const runnerPool = createPool(url, "everruns-bench-runner", 8);
    // as worker/main.ts does: the sends go through graphile-worker's (control) pool, not the
    // steps' one, so they never queue behind the committers' statements
    const notifier = new Notifier({ pool: runnerPool, log: consoleLogger("[bench notifier]", "warn"), windowMs: opts.windowMs });
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    let phase: LatencyPhase | null = null;
    let runner: Runner | null = null;
    let api: ApiHandle | null = null;
    let ws: GraphqlWsClient | null = null;
    // The runs of the phase by id: this bench's LISTEN connection records when each seq was
    // announced, splitting the latency into the notification's part and the API's.
    let listening = new Map<string, LatencyRun>();
    const listener = new pg.Client({ connectionString: url });
    try {
      opts.log(await machineLine(admin));
      await listener.connect();
      listener.on("notification", ({ payload }) => {
        const colon = payload?.lastIndexOf(":") ?? -1;
        const r = colon > 0 ? listening.get(payload!.slice(0, colon)) : undefined;
        const seq = Number(payload!.slice(colon + 1));
        // "<run>:<last seq>" announces every seq up to it (the Notifier keeps the highest only)
        if (r && Number.isInteger(seq)) for (let s = r.heard.max + 1; s <= seq; s++) r.heard.record(s);
      });
      await listen(listener, ["everruns:events"]);
      const { key } = await createApiKey(admin, { name: "bench-latency", role: "admin", workspaceId: null });
      api = await startApi({
        databaseUrl: url,
        port: 0,
        log: consoleLogger("[bench api]", "warn"),
        graphiql: false,
        rateLimits: { perMinute: 0, burst: 0, authFailuresPerMinute: 0 }, // one key opens every stream
      });
      const apiUrl = api.url;
      ws = createGraphqlWsClient({
        url: `${apiUrl.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${key}` },
      });
      const agent = await createAgent(admin, "bench-latency", { provider: "scripted", script: [{ text: "ok" }] });
      runner = await holdStepJobs(runnerPool, opts.runs, async (runId, job) => {
        const p = phase;
        if (!p) return;
        await p.inserted;
        if (!p.ids.has(runId)) return;
        try {
          const first = await beginStep(stepPool, runId, { deferNotifications: p.variant === "deferred" });
          if (p.variant === "deferred") notifier.add(first.notifications);
          p.held.push({ id: runId, job, begun: first.begun, times: null, steps: 0, heard: new Arrivals(), sse: new Arrivals(), graphql: null });
        } catch (error) {
          p.error ??= error;
        }
        await p.release;
      });

      const stepsPerRun = Math.ceil(opts.events / (opts.stepEvents + 4));
      const measure = async (variant: "notify" | "deferred", pace: Pace) => {
        const defer = variant === "deferred";
        let letGo = () => {};
        const release = new Promise<void>((resolve) => (letGo = resolve));
        let insertedNow = () => {};
        const inserted = new Promise<void>((resolve) => (insertedNow = resolve));
        const p: LatencyPhase = { variant, ids: new Set(), inserted, held: [], release, error: null };
        phase = p;
        const closeClients = new AbortController();
        const unsubscribe: Array<() => void> = [];
        const clientErrors: unknown[] = [];
        try {
          try {
            for (const id of await insertRuns(admin, agent, opts.runs, "bench-latency")) p.ids.add(id);
          } finally {
            insertedNow();
          }
          await until(`the runner to hold the ${opts.runs} runs' jobs`, () => Promise.resolve(p.held.length >= opts.runs || p.error !== null), 60_000, 5);
          if (p.error) throw asError(p.error);
          await notifier.flush();
          const runs = [...p.held];
          // the clients subscribe from the start of the log and are live before the first commit
          const startSeqs: number[] = [];
          for (const [i, r] of runs.entries()) {
            startSeqs.push((await readEventSeq(admin, r.id)) ?? 0);
            r.times = new CommitTimes(startSeqs[i]!);
            followSse(apiUrl, key, r.id, r.sse, closeClients.signal).catch((error: unknown) => clientErrors.push(error));
            if (i < opts.graphql) {
              const arrivals = (r.graphql = new Arrivals());
              unsubscribe.push(
                ws!.subscribe<{ runEvents: { seq: number } | null }>(
                  { query: RUN_EVENTS_SUBSCRIPTION, variables: { runId: r.id } },
                  {
                    next: (result) => {
                      if (result.errors) clientErrors.push(new Error(result.errors.map((e) => e.message).join("; ")));
                      const seq = result.data?.runEvents?.seq;
                      if (typeof seq === "number") arrivals.record(seq);
                    },
                    error: (error) => clientErrors.push(error),
                    complete: () => undefined,
                  },
                ),
              );
            }
          }
          await until(
            "every client to have replayed its run's log so far",
            () => Promise.resolve(runs.every((r, i) => r.sse.max >= startSeqs[i]! && (!r.graphql || r.graphql.max >= startSeqs[i]!))),
            15_000,
            5,
          );
          if (clientErrors.length > 0) throw asError(clientErrors[0]);
          await sleep(100); // every subscription registered with its feed (the replay ended)
          for (const [i, r] of runs.entries()) r.heard.max = startSeqs[i]!;
          listening = new Map(runs.map((r) => [r.id, r]));

          const hub0 = api!.hub.stats.caughtUp;
          const batches0 = notifier.stats.batches;
          loopDelay.reset();
          loopDelay.enable();
          const queue = [...runs];
          let steps = 0;
          let scheduled = 0;
          const t0 = performance.now();
          const deadline = pace === "load" ? t0 + opts.loadSeconds * 1000 : Infinity;
          const intervalMs = 1000 / opts.rate;
          const committerLoop = async () => {
            for (;;) {
              if (performance.now() >= deadline) return;
              if (pace === "paced") {
                // a steady pace over all committers: step k starts at t0 + k / rate (no catch-up burst)
                const due = t0 + scheduled++ * intervalMs;
                const wait = due - performance.now();
                if (wait > 0) await sleep(wait);
              }
              const r = queue.shift();
              if (!r) return; // paced: every run has its events
              const begun = r.begun;
              if (!begun) throw new Error(`run ${r.id}: the commit did not begin the next step inline (job not held?)`);
              const { live, final } = stepEvents(begun.run.step_cursor, opts.stepEvents);
              const appended = await appendEvents(stepPool, r.id, begun.run.step_cursor, begun.run.step_attempt, live, { deferNotifications: defer });
              r.times!.appended(appended.last, live.length, performance.now());
              if (defer) notifier.add(appended.notifications);
              const committed = await commitStepAndBeginNext(stepPool, begun, STEP, final, r.job, { deferNotifications: defer });
              r.times!.committed(performance.now());
              if (defer) notifier.add(committed.notifications);
              if (!committed.committed) throw new Error(`run ${r.id}: lost the fence at step ${begun.run.step_cursor}`);
              r.begun = committed.next;
              r.steps++;
              steps++;
              if (pace === "load" || r.steps < stepsPerRun) queue.push(r);
            }
          };
          await Promise.all(Array.from({ length: opts.committers }, committerLoop));
          const elapsed = (performance.now() - t0) / 1000;
          await notifier.flush();
          const batches = notifier.stats.batches - batches0;
          const lasts = await Promise.all(runs.map(async (r) => (await readEventSeq(admin, r.id)) ?? 0));
          for (const [i, r] of runs.entries()) r.times!.finish(lasts[i]!);
          // every client gets the whole log: by notification, else by the hub's catch-up (1 s)
          await until(
            "every client to receive its run's last event",
            () => Promise.resolve(runs.every((r, i) => r.sse.max >= lasts[i]! && (!r.graphql || r.graphql.max >= lasts[i]!))),
            10_000,
            5,
          ).catch(() => undefined); // what did not arrive is counted missed below
          loopDelay.disable();
          if (clientErrors.length > 0) throw asError(clientErrors[0]);

          listening = new Map();
          const heard: number[] = [];
          for (const r of runs) {
            for (const [seq, t] of r.times!.at) {
              const got = r.heard.at.get(seq);
              if (got) heard.push(got[0]! - t);
            }
          }
          const sse: number[] = [];
          const gql: number[] = [];
          let missed = 0;
          let duplicates = 0;
          let events = 0;
          for (const [i, r] of runs.entries()) {
            events += r.times!.at.size;
            for (const [arrivals, into] of [
              [r.sse, sse],
              [r.graphql, gql],
            ] as const) {
              if (!arrivals) continue;
              for (let seq = 1; seq <= lasts[i]!; seq++) {
                const got = arrivals.at.get(seq);
                if (!got) missed++;
                else duplicates += got.length - 1;
                const committedAt = r.times!.at.get(seq);
                if (got && committedAt !== undefined) into.push(got[0]! - committedAt);
              }
              for (const seq of arrivals.at.keys()) if (seq < 1 || seq > lasts[i]!) duplicates++; // a seq the log does not have
            }
          }
          return {
            stepsPerSec: steps / elapsed,
            steps,
            events,
            heard,
            sse,
            gql,
            missed,
            duplicates,
            hubCatchUps: api!.hub.stats.caughtUp - hub0,
            sendsPerSec: batches / elapsed,
            loopDelayP99: loopDelay.percentile(99) / 1e6,
          };
        } finally {
          closeClients.abort();
          for (const u of unsubscribe) u();
          letGo();
          phase = null;
        }
      };

      opts.log(
        `settings: ${opts.runs} runs a phase, each with 1 SSE client, ${Math.min(opts.graphql, opts.runs)} with a GraphQL subscription too; ` +
          `${opts.committers} committers; ${opts.stepEvents + 4} events a step (append_events ${opts.stepEvents + 2} + commit 2); ` +
          `paced: ${opts.rate} steps/s until ${stepsPerRun * (opts.stepEvents + 4)} events a run; load: flat out for ${opts.loadSeconds} s; ` +
          `notifier window ${opts.windowMs} ms; hub catch-up 1 s; ${opts.rounds} round(s), variants alternating`,
      );
      await measure("notify", "paced").catch((error: unknown) => {
        throw new Error(`the warm-up phase failed: ${(error as Error).message}`, { cause: error });
      }); // warm up (connections, plans, the API's first requests)
      type Got = Awaited<ReturnType<typeof measure>>;
      const got = new Map<string, Got[]>();
      for (let round = 0; round < opts.rounds; round++) {
        for (const pace of ["paced", "load"] as const) {
          const order: Array<"notify" | "deferred"> = (round + (pace === "load" ? 1 : 0)) % 2 === 0 ? ["notify", "deferred"] : ["deferred", "notify"];
          for (const variant of order) {
            const m = await measure(variant, pace);
            const k = `${pace} ${variant}`;
            got.set(k, [...(got.get(k) ?? []), m]);
            const s = figures(m.sse);
            const g = figures(m.gql);
            const h = figures(m.heard);
            opts.log(
              `  round ${round + 1} ${pace} ${variant}: ${m.steps} steps (${m.stepsPerSec.toFixed(0)}/s), ${m.events} events timed; ` +
                `LISTEN heard p50 ${ms(h.p50)} p99 ${ms(h.p99)} max ${ms(h.max)} ms; ` +
                `SSE p50 ${ms(s.p50)} p99 ${ms(s.p99)} max ${ms(s.max)} ms (n=${s.n}); GraphQL p50 ${ms(g.p50)} p99 ${ms(g.p99)} max ${ms(g.max)} ms (n=${g.n}); ` +
                `missed ${m.missed}, duplicates ${m.duplicates}; hub catch-ups that found a feed behind ${m.hubCatchUps}; ` +
                `${variant === "deferred" ? `notifier sends ${m.sendsPerSec.toFixed(0)}/s; ` : ""}event loop delay p99 ${m.loopDelayP99.toFixed(1)} ms`,
            );
          }
        }
      }
      const rows: CommitLatencyRow[] = [];
      for (const pace of ["paced", "load"] as const) {
        for (const variant of ["notify", "deferred"] as const) {
          const phases = got.get(`${pace} ${variant}`) ?? [];
          rows.push({
            pace,
            variant,
            stepsPerSec: median(phases.map((m) => m.stepsPerSec)),
            heard: figures(phases.flatMap((m) => m.heard)),
            sse: figures(phases.flatMap((m) => m.sse)),
            graphql: figures(phases.flatMap((m) => m.gql)),
            missed: phases.reduce((n, m) => n + m.missed, 0),
            duplicates: phases.reduce((n, m) => n + m.duplicates, 0),
            hubCatchUps: phases.reduce((n, m) => n + m.hubCatchUps, 0),
            loopDelayP99: Math.max(...phases.map((m) => m.loopDelayP99)),
          });
        }
      }
      opts.log("");
      opts.log("commit → client latency (ms; arrival − the statement's return, all rounds pooled)");
      opts.log(
        "| phase | variant | steps/s | LISTEN p50 | LISTEN p99 | SSE p50 | SSE p99 | SSE max | GraphQL p50 | GraphQL p99 | GraphQL max | missed | duplicates | hub catch-ups behind | loop delay p99 |",
      );
      opts.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      for (const r of rows) {
        opts.log(
          `| ${r.pace} | ${r.variant === "notify" ? "(a) notify in txn" : "(b) deferred + Notifier"} | ${r.stepsPerSec.toFixed(0)} | ${ms(r.heard.p50)} | ${ms(r.heard.p99)} | ` +
            `${ms(r.sse.p50)} | ${ms(r.sse.p99)} | ${ms(r.sse.max)} | ${ms(r.graphql.p50)} | ${ms(r.graphql.p99)} | ${ms(r.graphql.max)} | ` +
            `${r.missed} | ${r.duplicates} | ${r.hubCatchUps} | ${r.loopDelayP99.toFixed(1)} |`,
        );
      }
      opts.log(`missed: ${rows.reduce((n, r) => n + r.missed, 0)}, duplicates: ${rows.reduce((n, r) => n + r.duplicates, 0)}`);
      return rows;
    } finally {
      phase = null;
      await ws?.dispose();
      await runner?.stop();
      await notifier.stop();
      await listener.end().catch(() => undefined);
      await api?.close();
      await stepPool.end();
      await runnerPool.end();
      await admin.end();
    }
  });
}

/** The flags of the latency part, named as `everruns bench` names them too (scripts/harness/args.ts specs). */
export const COMMIT_LATENCY_FLAGS = {
  "latency-runs": { type: "int", default: 20, min: 1, max: 200 },
  "latency-graphql": { type: "int", default: 4, min: 0, max: 50 },
  "latency-committers": { type: "int", default: 10, min: 1, max: 80 },
  "latency-events": { type: "int", default: 50, min: 1, max: 100_000 },
  "latency-rate": { type: "number", default: 100, min: 1, max: 100_000 },
  "latency-load-seconds": { type: "number", default: 3, min: 0.2, max: 600 },
  "latency-rounds": { type: "int", default: 2, min: 1, max: 100 },
} as const satisfies Record<string, FlagSpec>;
