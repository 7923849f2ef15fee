// An always-on agent (issue 16; db/migrations/000026_triggers.sql), measured: --always-on-events
// events into ONE long-lived thread with everruns.trigger(agent, payload, thread_key), in bursts of
// --always-on-burst sent at once, each burst followed by a pause once the thread has drained (so
// the first event of a burst finds the thread idle and the others find it busy). One in-process
// worker of --concurrency slots, a one-step scripted agent (--always-on-step-ms per LLM call).
//
// Figures (database clock): event → run start (activation created_at → run started_at) and
// event → run end, p50/p99; the overhead past the ordering (a run's start − the later of its
// event's arrival and the previous run's end: what the thread adds to an event beyond waiting its
// turn); total time. The baseline, in the same run on the same database and worker: the same
// events in the same bursts as independent runs (a plain insert into everruns.runs each, no thread
// key), its event → run start being its whole overhead. The SQL cost of the serialization: the
// trigger() call (client round trip) next to the plain insert's.
//
// Invariants, checked and printed (the numbers above are only compared, never gated): every run
// succeeded; the runs started in arrival order (everruns.activations' order); no two runs of the
// thread overlapped (and at most one of them active in every sample while it was busy); the last
// run's history (db/sql/threadHistory.ts) holds all the events' inputs; and while the thread is
// idle between bursts (sampled --always-on-samples times a pause) zero runs of the thread
// queued/running/waiting, zero events pending, zero graphile-worker jobs of its runs and zero
// locked jobs in the database: no worker slot held between events.
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { benchThreadEvents, type ThreadEvent } from "../../db/sql/benchThreadEvents.ts";
import { benchThreadIdle } from "../../db/sql/benchThreadIdle.ts";
import { benchQueueWaits } from "../../db/sql/benchQueueWaits.ts";
import { benchRunsThroughput } from "../../db/sql/benchRunsThroughput.ts";
import { benchVacuumRunTables } from "../../db/sql/benchVacuumRunTables.ts";
import { triggerAgent } from "../../db/sql/receiveWebhook.ts";
import { runDurations } from "../../db/sql/runDurations.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { threadHistory } from "../../db/sql/threadHistory.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { countIn, createAgent, FINISHED } from "../harness/runs.ts";
import { median, percentile } from "../harness/stats.ts";

export const ALWAYS_ON_FLAGS = {
  "always-on-events": { type: "int", default: 1000, min: 2, max: 1_000_000 },
  "always-on-burst": { type: "int", default: 10, min: 1, max: 10_000 },
  "always-on-pause-ms": { type: "int", default: 150, min: 0, max: 600_000 },
  "always-on-samples": { type: "int", default: 3, min: 1, max: 1000 },
  "always-on-step-ms": { type: "int", default: 20, min: 0, max: 600_000 },
  "always-on-senders": { type: "int", default: 1, min: 1, max: 64 },
  "always-on-timeout-s": { type: "int", default: 900, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const ALWAYS_ON_USAGE = `  always-on an always-on agent (000026): --always-on-events (1000) events into one long-lived thread
            with everruns.trigger, in bursts of --always-on-burst (10) sent by --always-on-senders (1)
            connections, each burst followed, once the thread has drained, by --always-on-pause-ms
            (150) of idle time sampled --always-on-samples (3) times; a one-step scripted agent of
            --always-on-step-ms (20) per call, one in-process worker of --concurrency slots.
            Event → run start and → run end p50/p99, the overhead past the ordering, total time; the
            same events as independent runs (a plain insert each) as the baseline: the ratios; the
            trigger() call next to the plain insert. Checked: every run succeeded, in arrival order,
            none overlapping, the last run's history holding every event, and between bursts no run,
            pending event or job of the thread and no locked job (no worker slot held).
            Gives up after --always-on-timeout-s (900) a phase and reports what it reached.`;

export interface AlwaysOnOptions {
  serverUrl: string;
  events: number;
  burst: number;
  pauseMs: number;
  samples: number;
  stepMs: number;
  senders: number;
  /** slots of the in-process worker (--concurrency, as the other benches) */
  concurrency: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** AlwaysOnOptions from the parsed ALWAYS_ON_FLAGS (and --concurrency). */
export function alwaysOnOptionsFromFlags(
  serverUrl: string,
  flags: Flags<typeof ALWAYS_ON_FLAGS> & { concurrency: number },
  log: (line: string) => void,
): AlwaysOnOptions {
  return {
    serverUrl,
    events: flags["always-on-events"],
    burst: flags["always-on-burst"],
    pauseMs: flags["always-on-pause-ms"],
    samples: flags["always-on-samples"],
    stepMs: flags["always-on-step-ms"],
    senders: flags["always-on-senders"],
    concurrency: flags.concurrency,
    timeoutMs: flags["always-on-timeout-s"] * 1000,
    log,
  };
}

/** Per event, ms. */
export interface Spread {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface ThreadFigures {
  events: number;
  succeeded: number;
  /** first event's arrival → last run's end, database clock */
  seconds: number;
  start: Spread;
  end: Spread;
  /** a run's start − max(its event's arrival, the previous run's end) */
  overhead: Spread;
  /** the trigger() calls' round trips, all / those that found the thread idle / busy */
  call: Spread;
  callIdle: Spread;
  callBusy: Spread;
  /** events whose run started in their own trigger() call (the thread idle), and the others */
  arrivedIdle: number;
  arrivedBusy: number;
  /** event → run start p50 of the first and the last tenth of the events (the history grows) */
  startFirstTenthP50: number;
  startLastTenthP50: number;
  /** a run's own duration (start → end) p50 over the first and the last tenth: each run reads the whole thread's history */
  runFirstTenthP50: number;
  runLastTenthP50: number;
}

export interface BaselineFigures {
  events: number;
  succeeded: number;
  /** first run's creation → last run's end, database clock */
  seconds: number;
  start: Spread;
  end: Spread;
  /** the plain inserts' round trips */
  call: Spread;
}

export interface IdleSamples {
  /** samples taken while the thread was idle between bursts */
  samples: number;
  /** of them, how many saw: runs of the thread queued/running/waiting, pending events, jobs of its runs, a locked job */
  withActiveRuns: number;
  withPendingEvents: number;
  withThreadJobs: number;
  withLockedJobs: number;
}

export interface AlwaysOnResult {
  events: number;
  bursts: number;
  thread: ThreadFigures;
  baseline: BaselineFigures;
  /** thread ÷ baseline: per-event overhead (thread: past the ordering; baseline: event → start) and total time */
  overheadRatioP50: number;
  overheadRatioP99: number;
  totalRatio: number;
  /** trigger() ÷ plain insert, medians */
  sqlRatio: number;
  /** the runs, sorted by their start, are the activations' order */
  inOrder: boolean;
  /** pairs of the thread's runs whose [start, end] intersect */
  overlaps: number;
  /** the most runs of the thread active at once in a sample while it was busy, and how many samples */
  maxActiveSeen: number;
  busySamples: number;
  /** the last run's history: its inputs, and whether they are exactly the events' runs */
  historyInputs: number;
  historyHasEveryRun: boolean;
  idle: IdleSamples;
  /** every invariant that did not hold, said in a sentence; empty: all held */
  problems: string[];
  /** wall time of the whole part, s */
  wallSeconds: number;
}

const THREAD_KEY = "always-on";
const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const spread = (values: number[]): Spread => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: values.length ? Math.max(...values) : NaN,
  n: values.length,
});
const ms = (s: Spread, digits = 1) => `p50 ${fmt(s.p50, digits)} ms, p99 ${fmt(s.p99, digits)} ms`;

// --- sending -----------------------------------------------------------------------------------

/** Event i's payload (0-based): its number, so that every input is told apart in the history. */
const payloadOf = (i: number) => `event ${i + 1}`;

/** The bursts of n events: [first index, count] each. */
function bursts(n: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i += size) out.push([i, Math.min(size, n - i)]);
  return out;
}

/**
 * Sends events [from, from + count) through `send` on `senders` connections at once (event i on
 * sender i mod senders, each sender's events in order); returns each call's run id and round trip.
 */
async function sendBurst(
  from: number,
  count: number,
  senders: number,
  send: (i: number) => Promise<string>,
): Promise<Array<{ i: number; runId: string; ms: number }>> {
  const out: Array<{ i: number; runId: string; ms: number }> = [];
  await Promise.all(
    Array.from({ length: Math.min(senders, count) }, async (_, s) => {
      for (let i = from + s; i < from + count; i += senders) {
        const t0 = performance.now();
        const runId = await send(i);
        out.push({ i, runId, ms: performance.now() - t0 });
      }
    }),
  );
  return out.sort((a, b) => a.i - b.i);
}

/**
 * Polls until every run of `ids` has finished, calling `probe` at every poll (the thread's live
 * sample); false when the deadline passed first. A run not inserted yet (its event pending) counts
 * as unfinished.
 */
async function drained(pool: Pool, ids: string[], deadline: number, probe?: () => Promise<void>): Promise<boolean> {
  for (;;) {
    await probe?.();
    if (countIn(await runStatusCounts(pool, ids), FINISHED) === ids.length) return true;
    if (performance.now() > deadline) return false;
    await sleep(10);
  }
}

// --- the thread --------------------------------------------------------------------------------

interface ThreadPhase {
  sent: Array<{ i: number; runId: string; ms: number }>;
  idle: IdleSamples;
  maxActiveSeen: number;
  busySamples: number;
  timedOut: boolean;
}

/** Sends n events into the thread `key` in bursts, sampling the thread while busy and while idle. */
async function threadPhase(opts: AlwaysOnOptions, pool: Pool, sampler: Pool, agentId: string, key: string, n: number): Promise<ThreadPhase> {
  const deadline = performance.now() + opts.timeoutMs;
  const sent: ThreadPhase["sent"] = [];
  const idle: IdleSamples = { samples: 0, withActiveRuns: 0, withPendingEvents: 0, withThreadJobs: 0, withLockedJobs: 0 };
  let maxActiveSeen = 0;
  let busySamples = 0;
  const spacing = opts.pauseMs / opts.samples;
  for (const [from, count] of bursts(n, opts.burst)) {
    sent.push(...(await sendBurst(from, count, opts.senders, (i) => triggerAgent(pool, { agent: agentId, payload: payloadOf(i), threadKey: key }))));
    const done = await drained(
      pool,
      sent.map((s) => s.runId),
      deadline,
      async () => {
        const s = await benchThreadIdle(sampler, agentId, key);
        busySamples++;
        maxActiveSeen = Math.max(maxActiveSeen, s.active);
      },
    );
    if (!done) return { sent, idle, maxActiveSeen, busySamples, timedOut: true };
    // the pause: the thread is idle (every event's run has ended); sampled through it
    for (let k = 0; k < opts.samples; k++) {
      await sleep(spacing);
      const s = await benchThreadIdle(sampler, agentId, key);
      idle.samples++;
      if (s.active > 0) idle.withActiveRuns++;
      if (s.pending > 0) idle.withPendingEvents++;
      if (s.thread_jobs > 0) idle.withThreadJobs++;
      if (s.locked_jobs > 0) idle.withLockedJobs++;
    }
  }
  return { sent, idle, maxActiveSeen, busySamples, timedOut: false };
}

// --- the baseline ------------------------------------------------------------------------------

/** The same bursts and pauses, each event a plain insert of an independent run; returns each insert's run id and round trip. */
async function baselinePhase(
  opts: AlwaysOnOptions,
  pool: Pool,
  agentId: string,
  n: number,
): Promise<{ sent: Array<{ i: number; runId: string; ms: number }>; timedOut: boolean }> {
  const deadline = performance.now() + opts.timeoutMs;
  const sent: Array<{ i: number; runId: string; ms: number }> = [];
  for (const [from, count] of bursts(n, opts.burst)) {
    sent.push(
      ...(await sendBurst(from, count, opts.senders, async (i) => {
        const [id] = await seedRuns(pool, agentId, 1, payloadOf(i));
        return id!;
      })),
    );
    if (
      !(await drained(
        pool,
        sent.map((s) => s.runId),
        deadline,
      ))
    )
      return { sent, timedOut: true };
    await sleep(opts.pauseMs);
  }
  return { sent, timedOut: false };
}

// --- figures and invariants --------------------------------------------------------------------

/** The thread's figures from its events (arrival order) and the trigger() round trips. */
function threadFigures(events: ThreadEvent[], calls: Map<string, number>, seconds: number): ThreadFigures {
  const ran = events.filter((e) => e.started_ms !== null && e.finished_ms !== null);
  const start = ran.map((e) => e.started_ms! - e.arrived_ms);
  const end = ran.map((e) => e.finished_ms! - e.arrived_ms);
  const own = ran.map((e) => e.finished_ms! - e.started_ms!);
  const overhead: number[] = [];
  let previousEnd = -Infinity;
  for (const e of events) {
    if (e.started_ms === null || e.finished_ms === null) break;
    overhead.push(e.started_ms - Math.max(e.arrived_ms, previousEnd));
    previousEnd = e.finished_ms;
  }
  // the immediate path inserts the run and the activation (created_at and started_at both
  // clock_timestamp()) in one statement; a queued event starts in another transaction, after a run
  const isIdle = (e: ThreadEvent) => e.queued_ms !== null && e.queued_ms < 1;
  const callsOf = (es: ThreadEvent[]) => es.map((e) => calls.get(e.run_id)).filter((v): v is number => v !== undefined);
  const tenth = Math.max(1, Math.floor(ran.length / 10));
  return {
    events: events.length,
    succeeded: events.filter((e) => e.run_status === "succeeded").length,
    seconds,
    start: spread(start),
    end: spread(end),
    overhead: spread(overhead),
    call: spread([...calls.values()]),
    callIdle: spread(callsOf(events.filter(isIdle))),
    callBusy: spread(callsOf(events.filter((e) => !isIdle(e)))),
    arrivedIdle: events.filter(isIdle).length,
    arrivedBusy: events.filter((e) => !isIdle(e)).length,
    startFirstTenthP50: median(start.slice(0, tenth)),
    startLastTenthP50: median(start.slice(-tenth)),
    runFirstTenthP50: median(own.slice(0, tenth)),
    runLastTenthP50: median(own.slice(-tenth)),
  };
}

/** Pairs of consecutive runs (sorted by start) whose spans intersect: the next started before the previous ended. */
function countOverlaps(events: ThreadEvent[]): number {
  const spans = events
    .filter((e) => e.started_ms !== null)
    .map((e) => [e.started_ms!, e.finished_ms ?? Infinity] as const)
    .sort((a, b) => a[0] - b[0]);
  let overlaps = 0;
  for (let i = 1; i < spans.length; i++) if (spans[i]![0] < spans[i - 1]![1]) overlaps++;
  return overlaps;
}

// --- all of it ---------------------------------------------------------------------------------

/** The always-on part on a fresh database of opts.serverUrl: prints its figures and invariants, returns them. */
export async function runAlwaysOnBench(opts: AlwaysOnOptions): Promise<AlwaysOnResult> {
  const n = opts.events;
  const nBursts = Math.ceil(n / opts.burst);
  opts.log(
    `always-on: ${n} events into one long-lived thread (everruns.trigger, key ${THREAD_KEY}) in ${nBursts} bursts of ${opts.burst} ` +
      `(${opts.senders} sender connection(s)), each followed by ${opts.pauseMs} ms idle sampled ${opts.samples} times; a one-step scripted agent ` +
      `(${opts.stepMs} ms a call), one in-process worker × ${opts.concurrency} slots; baseline: the same events as independent runs (a plain insert each)`,
  );
  const wall0 = performance.now();
  return withScratchDatabase(opts.serverUrl, "everruns_bench_always_on", async (url) => {
    const pool = createPool(url, "everruns-bench", opts.senders + 1, { timeouts: { statementMs: 0 } });
    const sampler = createPool(url, "everruns-bench-sampler", 1);
    const { startWorker } = await import("../../worker/main.ts");
    const worker = await startWorker({
      databaseUrl: url,
      concurrency: opts.concurrency,
      shutdownTimeoutMs: 5000,
      scheduler: false,
      log: consoleLogger("[always-on bench worker]", "warn"),
    });
    try {
      const agentId = await createAgent(pool, "bench-always-on", { provider: "scripted", script: [{ text: "noted", delay_ms: opts.stepMs }] });
      // warm-up of both paths (connections, plans), on a thread of its own
      const warm = Math.min(2 * opts.burst, n);
      await threadPhase({ ...opts, samples: 1, pauseMs: 0 }, pool, sampler, agentId, `${THREAD_KEY}-warm-up`, warm);
      await baselinePhase({ ...opts, pauseMs: 0 }, pool, agentId, warm);
      await benchVacuumRunTables(pool);

      const problems: string[] = [];
      const t = await threadPhase(opts, pool, sampler, agentId, THREAD_KEY, n);
      if (t.timedOut) problems.push(`the thread did not drain within ${opts.timeoutMs / 1000} s: ${t.sent.length} of ${n} events sent`);
      await benchVacuumRunTables(pool);
      const b = await baselinePhase(opts, pool, agentId, n);
      if (b.timedOut) problems.push(`the baseline's runs did not finish within ${opts.timeoutMs / 1000} s: ${b.sent.length} of ${n} sent`);

      // the thread
      const events = await benchThreadEvents(pool, agentId, THREAD_KEY);
      const ran = events.filter((e) => e.started_ms !== null && e.finished_ms !== null);
      const threadSeconds = ran.length ? (Math.max(...ran.map((e) => e.finished_ms!)) - events[0]!.arrived_ms) / 1000 : NaN;
      const thread = threadFigures(events, new Map(t.sent.map((s) => [s.runId, s.ms])), threadSeconds);
      const sentIds = t.sent.map((s) => s.runId);
      const byStart = [...events].filter((e) => e.started_ms !== null).sort((x, y) => x.started_ms! - y.started_ms!);
      const inOrder = byStart.length === events.length && byStart.every((e, i) => e.run_id === events[i]!.run_id);
      const overlaps = countOverlaps(events);
      const lastRun = byStart.at(-1)?.run_id;
      const inputs = lastRun ? (await threadHistory(pool, lastRun)).filter((h) => h.kind === "input").map((h) => h.run_id) : [];
      const inputSet = new Set(inputs);
      const historyHasEveryRun = inputs.length === sentIds.length && inputSet.size === inputs.length && sentIds.every((id) => inputSet.has(id));

      // the baseline
      const baseIds = b.sent.map((s) => s.runId);
      const baseCounts = await runStatusCounts(pool, baseIds);
      const baseThroughput = await benchRunsThroughput(pool, baseIds);
      const baseline: BaselineFigures = {
        events: baseIds.length,
        succeeded: baseCounts.succeeded ?? 0,
        seconds: baseThroughput.seconds ?? NaN,
        start: spread(await benchQueueWaits(pool, baseIds)),
        end: spread(await runDurations(pool, baseIds)),
        call: spread(b.sent.map((s) => s.ms)),
      };

      if (events.length !== n || new Set(events.map((e) => e.run_id)).size !== n || !sentIds.every((id) => events.some((e) => e.run_id === id))) {
        problems.push(`the thread holds ${events.length} events, expected the ${n} sent`);
      }
      if (thread.succeeded !== n) problems.push(`${thread.succeeded} of the thread's ${n} runs succeeded`);
      if (baseline.succeeded !== n) problems.push(`${baseline.succeeded} of the baseline's ${n} runs succeeded`);
      if (!inOrder) problems.push("the thread's runs did not start in the events' arrival order");
      if (overlaps > 0) problems.push(`${overlaps} pairs of the thread's runs overlapped`);
      if (t.maxActiveSeen > 1) problems.push(`a sample saw ${t.maxActiveSeen} runs of the thread active at once`);
      if (!historyHasEveryRun) problems.push(`the last run's history holds ${inputs.length} inputs, not exactly the ${n} events' runs`);
      if (thread.arrivedIdle === 0 || thread.arrivedBusy === 0) {
        problems.push(`no event arrived while the thread was ${thread.arrivedIdle === 0 ? "idle" : "busy"}: the bursts did not exercise both paths`);
      }
      const idle = t.idle;
      if (idle.withActiveRuns + idle.withPendingEvents + idle.withThreadJobs + idle.withLockedJobs > 0) {
        problems.push(
          `between bursts, of ${idle.samples} samples: ${idle.withActiveRuns} saw runs of the thread active, ${idle.withPendingEvents} pending events, ` +
            `${idle.withThreadJobs} jobs of its runs, ${idle.withLockedJobs} locked jobs`,
        );
      }

      const result: AlwaysOnResult = {
        events: n,
        bursts: nBursts,
        thread,
        baseline,
        overheadRatioP50: thread.overhead.p50 / baseline.start.p50,
        overheadRatioP99: thread.overhead.p99 / baseline.start.p99,
        totalRatio: thread.seconds / baseline.seconds,
        sqlRatio: thread.call.p50 / baseline.call.p50,
        inOrder,
        overlaps,
        maxActiveSeen: t.maxActiveSeen,
        busySamples: t.busySamples,
        historyInputs: inputs.length,
        historyHasEveryRun,
        idle,
        problems,
        wallSeconds: (performance.now() - wall0) / 1000,
      };
      printResult(opts, result);
      return result;
    } finally {
      await worker.stop();
      await sampler.end();
      await pool.end();
    }
  });
}

function printResult(opts: AlwaysOnOptions, r: AlwaysOnResult): void {
  const { thread: t, baseline: b, idle } = r;
  const log = opts.log;
  log(
    `  thread: ${t.succeeded} of ${t.events} runs succeeded in ${fmt(t.seconds, 1)} s (first event → last run's end); ` +
      `event → run start ${ms(t.start)}; event → run end ${ms(t.end)}; overhead past the ordering ${ms(t.overhead)}`,
  );
  log(
    `  baseline (independent runs): ${b.succeeded} of ${b.events} runs succeeded in ${fmt(b.seconds, 1)} s; event → run start ${ms(b.start)}; event → run end ${ms(b.end)}`,
  );
  log(
    `  per-event overhead, thread ÷ baseline: ${fmt(r.overheadRatioP50, 2)}× at p50, ${fmt(r.overheadRatioP99, 2)}× at p99; total time ${fmt(r.totalRatio, 2)}×`,
  );
  log(
    `  SQL: everruns.trigger ${ms(t.call, 2)} (thread idle ${ms(t.callIdle, 2)}, busy ${ms(t.callBusy, 2)}); plain insert ${ms(b.call, 2)}; ` +
      `trigger ÷ insert ${fmt(r.sqlRatio, 2)}× at p50`,
  );
  log(
    `  history growing: event → run start p50 ${fmt(t.startFirstTenthP50, 1)} ms over the first tenth of the events, ${fmt(t.startLastTenthP50, 1)} ms over the last; ` +
      `a run's own duration (start → end) p50 ${fmt(t.runFirstTenthP50, 1)} ms, then ${fmt(t.runLastTenthP50, 1)} ms`,
  );
  log(`  arrivals: ${t.arrivedIdle} events found the thread idle (their run started in their trigger call), ${t.arrivedBusy} found it busy (queued)`);
  log(
    `  order: runs started in arrival order: ${r.inOrder ? "yes" : "NO"}; ${r.overlaps} overlapping runs; ` +
      `at most ${r.maxActiveSeen} run(s) of the thread active in ${r.busySamples} samples while it was busy`,
  );
  log(
    `  history: the last run's history holds ${r.historyInputs} inputs of ${r.events} events (exactly every event's run: ${r.historyHasEveryRun ? "yes" : "NO"})`,
  );
  log(
    `  idle between bursts: ${idle.samples} samples; ${idle.withActiveRuns} with runs of the thread queued/running/waiting, ${idle.withPendingEvents} with pending events, ` +
      `${idle.withThreadJobs} with jobs of its runs, ${idle.withLockedJobs} with a locked job (worker slots held)`,
  );
  log(
    r.problems.length === 0
      ? `  invariants: all hold (${fmt(r.wallSeconds, 1)} s wall)`
      : `  invariants: ${r.problems.length} FAILED: ${r.problems.join("; ")}`,
  );
}
