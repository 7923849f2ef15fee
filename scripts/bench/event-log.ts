// The event log at scale (issue 19, db/migrations/000038_partitioned_event_log.sql): run_events and
// run_steps partitioned by the run's creation month, and retention. On one throwaway database, in
// one run, the history filled fast (one insert ... select per chunk of runs, triggers and
// foreign-key checks off: db/sql/benchEventLogFill.ts) over 12 past monthly partitions, ~1,000
// events and 100 steps a run:
//   1. the engine's append (everruns_private.append_events, db/sql/appendEvents.ts: 3 events a
//      call) into a fresh run, and the events hub's read of 100 events of a run
//      (everruns_private.run_events_after, db/sql/readRunEvents.ts) of the history, at the small
//      size and again once the history has grown to the large one: medians and large ÷ small;
//   2. a month (~4,000 runs' events and steps at --scale full) removed by apply_retention's
//      partition drop (its runs all marked expired first) next to DELETE of a copy month's rows,
//      and a small month expired through apply_retention alone (p_batch 200, p_max_rows 50,000) until it is dropped:
//      how many rows its row path deleted before the drop;
//   3. apply_retention (p_batch 200, p_max_rows 50,000) with many finished runs of which some expire: ms per call
//      until none is left, then ms per call when nothing expires.
// The machine's load averages are printed next to each part (the machines are shared).
import { statfs } from "node:fs/promises";
import os from "node:os";
import { ConfigError } from "../../db/errors.ts";
import { createPool, withTransaction, type Pool } from "../../db/pool.ts";
import { appendEvents, type AgUiEvent } from "../../db/sql/appendEvents.ts";
import { applyRetention, type RetentionUnit } from "../../db/sql/applyRetention.ts";
import { beginStep } from "../../db/sql/beginStep.ts";
import { benchEventLogAnalyze } from "../../db/sql/benchEventLogAnalyze.ts";
import { benchEventLogDeleteMonth } from "../../db/sql/benchEventLogDeleteMonth.ts";
import { benchEventLogExpireMonth } from "../../db/sql/benchEventLogExpireMonth.ts";
import { benchEventLogJitOff } from "../../db/sql/benchEventLogJitOff.ts";
import { benchEventLogFill, type EventLogFill } from "../../db/sql/benchEventLogFill.ts";
import { benchEventLogSampleRuns } from "../../db/sql/benchEventLogSampleRuns.ts";
import { benchEventLogSize } from "../../db/sql/benchEventLogSize.ts";
import { benchEventLogWorkspace } from "../../db/sql/benchEventLogWorkspace.ts";
import { databaseNow } from "../../db/sql/databaseNow.ts";
import { ensurePartitions } from "../../db/sql/ensurePartitions.ts";
import { DEFAULT_RETENTION_BATCH, DEFAULT_RETENTION_MAX_ROWS } from "../../worker/maintenance.ts";
import { readRunEvents } from "../../db/sql/readRunEvents.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { createAgent } from "../harness/runs.ts";
import { median, percentile } from "../harness/stats.ts";

export const EVENT_LOG_FLAGS = {
  scale: { type: "choices", default: ["full"], choices: ["small", "full"] },
  "event-log-rows": { type: "ints", default: [], min: 10_000, max: 1_000_000_000 },
  "event-log-appends": { type: "int", default: 500, min: 10, max: 100_000 },
} as const satisfies Record<string, FlagSpec>;

export const EVENT_LOG_USAGE = `  event-log  the partitioned event log and retention (issue 19, 000038) on one throwaway database: history
            filled fast over 12 monthly partitions (~1,000 events, 100 steps a run) to the first of
            --event-log-rows events, then to the second (--scale full: 1,000,000,50,000,000; --scale small:
            100,000,1,000,000, under 2 minutes): at each size the median of --event-log-appends (200)
            appends of 3 events to a fresh run (append_events) and of as many reads of 100 events of a
            run (run_events_after), large ÷ small; a month (--scale full ~4,000 runs, ~4.4M rows)
            dropped by apply_retention next to DELETE of a copy month; a month expired by
            apply_retention alone; apply_retention (p_batch 200, p_max_rows 50,000) with 1,000,000 finished runs (small:
            100,000) of which 10,000 (small: 1,000) expire, ms per call, and when nothing expires.
            Needs ~330 bytes of disk an event row; the scratch database is dropped at the end.`;

export interface EventLogBenchOptions {
  serverUrl: string;
  /** event rows of the history at the small and the large size */
  sizes: [number, number];
  appends: number;
  /** runs of a month copy (drop and DELETE); events and steps a run as the history's */
  monthRuns: number;
  /** finished runs for the retention part, and how many of them expire */
  retentionRuns: number;
  retentionExpiring: number;
  log: (line: string) => void;
}

export function eventLogOptionsFromFlags(serverUrl: string, flags: Flags<typeof EVENT_LOG_FLAGS>, log: (line: string) => void): EventLogBenchOptions {
  const small = flags.scale.has("small");
  if (flags.scale.size !== 1) throw new ConfigError("--scale takes one of small, full");
  const rows = flags["event-log-rows"];
  if (rows.length !== 0 && (rows.length !== 2 || rows[0]! >= rows[1]!)) {
    throw new ConfigError(`--event-log-rows takes two sizes, the smaller first (e.g. 1000000,50000000), got ${rows.join(",")}`);
  }
  const sizes: [number, number] = rows.length === 2 ? [rows[0]!, rows[1]!] : small ? [100_000, 1_000_000] : [1_000_000, 50_000_000];
  return {
    serverUrl,
    sizes,
    appends: flags["event-log-appends"],
    monthRuns: small ? 100 : 4_000,
    retentionRuns: small ? 100_000 : 1_000_000,
    retentionExpiring: small ? 1_000 : 10_000,
    log,
  };
}

const EVENTS_PER_RUN = 1_000;
const STEPS_PER_RUN = 100;
/** history months: -12 .. -1; the copy months before them */
const HISTORY_MONTHS = 12;
const DROP_MONTH = -15;
const DELETE_MONTH = -14;
const LOOP_MONTH = -13;
/** bytes on disk an event row takes with its share of steps and indexes (measured: ~300) */
const BYTES_PER_EVENT = 330;

function loadLine(): string {
  return `load averages ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")} (${os.cpus().length} CPUs)`;
}

/** The UTC month `offset` months from the month of `now`: [from, to) as ISO text. */
function month(now: Date, offset: number): { from: string; to: string; fromMs: number; toMs: number } {
  const from = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1);
  const to = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset + 1, 1);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), fromMs: from, toMs: to };
}

const ms = (t0: number) => performance.now() - t0;
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

interface Base {
  agentId: string;
  agentVersion: number;
}

/** Fills `runs` runs into one month's range, in chunks of ~250,000 events; returns the rows added. */
async function fillMonth(
  pool: Pool,
  base: Base,
  workspaceId: string,
  range: { fromMs: number; toMs: number },
  runs: number,
  slot: number,
  eventsPerRun: number,
  stepsPerRun: number,
): Promise<number> {
  // runs of fill `slot` start an hour later than the previous fill's (spread over the month)
  const start = range.fromMs + (slot + 1) * 3_600_000;
  const spacingMs = Math.max(1, Math.floor((range.toMs - start - 3_600_000) / Math.max(1, runs)));
  const chunk = Math.max(1, Math.floor(250_000 / Math.max(1, eventsPerRun)));
  let rows = 0;
  for (let done = 0; done < runs; done += chunk) {
    const n = Math.min(chunk, runs - done);
    const fill: EventLogFill = {
      workspaceId,
      agentId: base.agentId,
      agentVersion: base.agentVersion,
      runs: n,
      createdFrom: new Date(start + done * spacingMs).toISOString(),
      spacingMs,
      finishedAfterMs: 300_000,
      eventsPerRun,
      stepsPerRun,
    };
    const added = await benchEventLogFill(pool, fill);
    rows += added.events + added.steps;
  }
  return rows;
}

/** Median ms of `n` appends of 3 events to a fresh run (its first step in flight), after 50 unmeasured ones. */
async function appendCost(pool: Pool, agentId: string, n: number): Promise<number> {
  const [runId] = await seedRuns(pool, agentId, 1, "bench event log: a fresh run");
  const begun = await beginStep(pool, runId!);
  if (!begun) throw new Error(`run ${runId}: begin_step did not begin its first step`);
  const { step_cursor: seq, step_attempt: attempt } = begun.run;
  const samples: number[] = [];
  for (let i = 0; i < n + 50; i++) {
    const events: AgUiEvent[] = [0, 1, 2].map((k) => ({ type: "TEXT_MESSAGE_CONTENT", messageId: `m${i}`, delta: `token ${i * 3 + k}` }));
    const t0 = performance.now();
    await appendEvents(pool, runId!, seq, attempt, events);
    if (i >= 50) samples.push(ms(t0));
  }
  return median(samples);
}

/** Median ms of `n` reads of 100 events of history runs picked at random, from a random seq, after 20 unmeasured ones. */
async function readCost(pool: Pool, workspaceId: string, n: number): Promise<{ median: number; p99: number }> {
  const runs = await benchEventLogSampleRuns(pool, workspaceId, n + 20);
  const samples: number[] = [];
  for (let i = 0; i < n + 20; i++) {
    const run = runs[i % runs.length]!;
    const after = Math.floor(Math.random() * Math.max(1, run.event_seq - 100));
    const t0 = performance.now();
    const rows = await readRunEvents(pool, run.id, after, 100);
    if (i >= 20) samples.push(ms(t0));
    if (rows.length !== Math.min(100, run.event_seq - after)) throw new Error(`run ${run.id}: read ${rows.length} events after ${after}, expected 100`);
  }
  return { median: median(samples), p99: percentile(samples, 99) };
}

/** One unit of retention as the worker's maintenance runs it (its batch and row bound), its commit included. */
async function retentionUnit(pool: Pool, jit = true): Promise<{ unit: RetentionUnit; ms: number }> {
  const t0 = performance.now();
  const unit = await withTransaction(pool, async (client) => {
    if (!jit) await benchEventLogJitOff(client);
    return applyRetention(client, null, DEFAULT_RETENTION_BATCH, DEFAULT_RETENTION_MAX_ROWS);
  });
  const took = ms(t0);
  if (!unit) throw new Error("apply_retention: another process holds the maintenance lock of the scratch database");
  return { unit, ms: took };
}

export async function runEventLogBench(opts: EventLogBenchOptions): Promise<void> {
  const { log } = opts;
  const [smallRows, largeRows] = opts.sizes;
  const monthRows = opts.monthRuns * (EVENTS_PER_RUN + STEPS_PER_RUN);
  const needed = (largeRows + 2 * opts.monthRuns * EVENTS_PER_RUN) * BYTES_PER_EVENT + opts.retentionRuns * 2_000;
  const fs = await statfs("/");
  const free = fs.bavail * fs.bsize;
  log(
    `event-log: history ${smallRows.toLocaleString("en")} then ${largeRows.toLocaleString("en")} events over ${HISTORY_MONTHS} monthly partitions ` +
      `(${EVENTS_PER_RUN} events, ${STEPS_PER_RUN} steps a run); needs ~${f1(needed / 1e9)} GB of disk, ${f1(free / 1e9)} GB free on /`,
  );
  if (needed > free - 10e9) {
    throw new ConfigError(
      `event-log: ~${f1(needed / 1e9)} GB needed and ${f1(free / 1e9)} GB free on / (10 GB kept free): give a smaller second size with --event-log-rows (e.g. 1000000,${Math.floor(((free - 10e9) / BYTES_PER_EVENT / 1e6) * 0.8)}000000)`,
    );
  }
  await withScratchDatabase(opts.serverUrl, "everruns_bench_eventlog", async (url) => {
    const pool = createPool(url, "everruns-bench", 4);
    // the fill, ANALYZE and the DELETE baseline run for minutes: no statement timeout
    const bulk = createPool(url, "everruns-bench-fill", 3, { timeouts: { statementMs: 0 } });
    try {
      const agentId = await createAgent(pool, "bench-event-log", { provider: "scripted", script: [{ text: "done" }] });
      const history = await benchEventLogWorkspace(pool, "bench-history", null, agentId);
      const expiring = await benchEventLogWorkspace(pool, "bench-expire", 1, agentId);
      const base: Base = { agentId, agentVersion: history.agentVersion };
      const now = new Date(await databaseNow(pool));
      const ensured = await withTransaction(pool, (client) => ensurePartitions(client, new Date(month(now, DROP_MONTH).from), -DROP_MONTH + 2));
      if (!ensured || ensured.skipped !== 0 || ensured.heldByDefault !== 0) {
        throw new Error(`ensure_partitions did not create every month from ${DROP_MONTH} to +2: ${JSON.stringify(ensured)}`);
      }
      log(`partitions created: ${ensured.created} (months ${DROP_MONTH} .. +2)`);

      // 1. append and read at the small size, then at the large one
      const figures: Array<{ rows: number; append: number; read: { median: number; p99: number }; fillS: number; gb: number; load: string }> = [];
      let filledRuns = 0;
      let slot = 0;
      for (const target of [smallRows, largeRows]) {
        const targetRuns = Math.round(target / EVENTS_PER_RUN);
        const t0 = performance.now();
        // the months filled on two connections at once (about 1.5 times as fast on two CPUs)
        const perMonth = Array.from(
          { length: HISTORY_MONTHS },
          (_, m) => Math.floor((targetRuns - filledRuns) / HISTORY_MONTHS) + (m < (targetRuns - filledRuns) % HISTORY_MONTHS ? 1 : 0),
        );
        let added = 0;
        let done = filledRuns;
        await Promise.all(
          [0, 1].map(async (lane) => {
            for (let m = lane; m < HISTORY_MONTHS; m += 2) {
              const rows = await fillMonth(bulk, base, history.id, month(now, -HISTORY_MONTHS + m), perMonth[m]!, slot, EVENTS_PER_RUN, STEPS_PER_RUN);
              added += rows;
              done += perMonth[m]!;
              log(`  filled month ${m - HISTORY_MONTHS}: ${done.toLocaleString("en")} runs so far, ${f1(ms(t0) / 1000)} s`);
            }
          }),
        );
        filledRuns = done;
        slot++;
        await benchEventLogAnalyze(bulk);
        const fillS = ms(t0) / 1000;
        const size = await benchEventLogSize(pool);
        log(
          `history ${(filledRuns * EVENTS_PER_RUN).toLocaleString("en")} events, ${(filledRuns * STEPS_PER_RUN).toLocaleString("en")} steps ` +
            `(${added.toLocaleString("en")} rows added in ${f1(fillS)} s, ${Math.round(added / fillS).toLocaleString("en")} rows/s, analyze included); ` +
            `${size.partitions} partitions, ${f2(size.bytes / 1e9)} GB`,
        );
        const append = await appendCost(pool, agentId, opts.appends);
        const read = await readCost(pool, history.id, opts.appends);
        const load = loadLine();
        figures.push({ rows: filledRuns * EVENTS_PER_RUN, append, read, fillS, gb: size.bytes / 1e9, load });
        log(`  append 3 events: median ${f3(append)} ms; read 100 events: median ${f3(read.median)} ms, p99 ${f3(read.p99)} ms; ${load}`);
      }
      const [s, l] = [figures[0]!, figures[1]!];
      log(
        `event-log append (median of ${opts.appends}): ${f3(s.append)} ms at ${s.rows.toLocaleString("en")} events, ${f3(l.append)} ms at ${l.rows.toLocaleString("en")}: ${f2(l.append / s.append)}x`,
      );
      log(`event-log read of 100 events (median of ${opts.appends}): ${f3(s.read.median)} ms, ${f3(l.read.median)} ms: ${f2(l.read.median / s.read.median)}x`);

      // 2. a month dropped next to a copy month deleted
      const t1 = performance.now();
      await Promise.all([
        fillMonth(bulk, base, expiring.id, month(now, DROP_MONTH), opts.monthRuns, 0, EVENTS_PER_RUN, STEPS_PER_RUN),
        fillMonth(bulk, base, history.id, month(now, DELETE_MONTH), opts.monthRuns, 0, EVENTS_PER_RUN, STEPS_PER_RUN),
      ]);
      const loopRuns = 1_000;
      await fillMonth(bulk, base, expiring.id, month(now, LOOP_MONTH), loopRuns, 0, 10, 2);
      await benchEventLogAnalyze(bulk);
      log(
        `month copies filled: 2 x ${opts.monthRuns.toLocaleString("en")} runs (${monthRows.toLocaleString("en")} rows each) and ${loopRuns} small runs in ${f1(ms(t1) / 1000)} s`,
      );
      const dropRange = month(now, DROP_MONTH);
      const marked = await benchEventLogExpireMonth(pool, dropRange.from, dropRange.to);
      const drop = await retentionUnit(pool);
      if (drop.unit.partitions_dropped !== 1) throw new Error(`apply_retention did not drop month ${dropRange.from} (${JSON.stringify(drop.unit)})`);
      const deleteRange = month(now, DELETE_MONTH);
      const t2 = performance.now();
      const deleted = await benchEventLogDeleteMonth(bulk, deleteRange.from, deleteRange.to);
      const deleteMs = ms(t2);
      if (deleted !== monthRows) throw new Error(`DELETE removed ${deleted} rows of month ${deleteRange.from}, expected ${monthRows}`);
      const load2 = loadLine();
      log(
        `event-log drop a month (${marked.toLocaleString("en")} runs, ${monthRows.toLocaleString("en")} events and steps): apply_retention's drop ${f1(drop.ms)} ms, ` +
          `DELETE of a copy month ${f1(deleteMs)} ms: DELETE ÷ drop ${f1(deleteMs / drop.ms)}x; ${load2}`,
      );
      // the same month shape expired by apply_retention alone: its row path deletes until the
      // last batch, which leaves its rows to the drop
      const loop = { calls: 0, ms: 0, runs: 0, rows: 0, dropped: 0 };
      for (;;) {
        const r = await retentionUnit(pool);
        loop.calls++;
        loop.ms += r.ms;
        loop.runs += r.unit.runs_expired;
        loop.rows += r.unit.rows_deleted;
        loop.dropped += r.unit.partitions_dropped;
        if (r.unit.runs_expired === 0 && r.unit.partitions_dropped === 0) break;
      }
      log(
        `event-log month expired by apply_retention alone (${loopRuns} runs x 12 rows, p_batch 200, p_max_rows 50,000): ${loop.calls} calls, ${f1(loop.ms)} ms, ` +
          `${loop.runs} runs expired, ${loop.rows.toLocaleString("en")} of ${(loopRuns * 12).toLocaleString("en")} rows deleted row by row, ${loop.dropped} month dropped`,
      );

      // 3. apply_retention's cost with many finished runs of which some expire
      const retention = await benchEventLogWorkspace(pool, "bench-retention", 5, agentId);
      const t3 = performance.now();
      const nowMs = new Date(await databaseNow(pool)).getTime();
      const oldFrom = { fromMs: nowMs - 10 * 86_400_000 - 2 * 3_600_000, toMs: nowMs - 10 * 86_400_000 + 3_600_000 };
      await fillMonth(bulk, base, retention.id, oldFrom, opts.retentionExpiring, 0, 20, 2);
      const recent = { fromMs: nowMs - 4 * 3_600_000, toMs: nowMs - 3_600_000 + 3_600_000 };
      const keptRuns = opts.retentionRuns - opts.retentionExpiring;
      const halves = [Math.ceil(keptRuns / 2), Math.floor(keptRuns / 2)];
      await Promise.all(halves.map((n) => fillMonth(bulk, base, retention.id, recent, n, 0, 0, 0)));
      await benchEventLogAnalyze(bulk);
      log(
        `retention: ${opts.retentionRuns.toLocaleString("en")} finished runs, ${opts.retentionExpiring.toLocaleString("en")} of them expired (20 events, 2 steps each), filled in ${f1(ms(t3) / 1000)} s`,
      );
      // the calls alternate: as the worker runs them, and with JIT compilation off
      const calls: number[] = [];
      const callsNoJit: number[] = [];
      let expired = 0;
      let rowsDeleted = 0;
      for (;;) {
        const jit = (calls.length + callsNoJit.length) % 2 === 0;
        const r = await retentionUnit(pool, jit);
        if (r.unit.partitions_dropped !== 0) throw new Error(`apply_retention dropped a month in the retention part (${JSON.stringify(r.unit)})`);
        if (r.unit.runs_expired === 0) break;
        (jit ? calls : callsNoJit).push(r.ms);
        expired += r.unit.runs_expired;
        rowsDeleted += r.unit.rows_deleted;
      }
      if (expired !== opts.retentionExpiring) throw new Error(`apply_retention expired ${expired} runs, expected ${opts.retentionExpiring}`);
      const idle: number[] = [];
      const idleNoJit: number[] = [];
      for (let i = 0; i < 5; i++) {
        idle.push((await retentionUnit(pool)).ms);
        idleNoJit.push((await retentionUnit(pool, false)).ms);
      }
      const load3 = loadLine();
      log(
        `event-log apply_retention (p_batch 200, p_max_rows 50,000, ${opts.retentionRuns.toLocaleString("en")} finished runs): ${calls.length + callsNoJit.length} calls expired ${expired.toLocaleString("en")} runs ` +
          `(${rowsDeleted.toLocaleString("en")} rows), median ${f1(median(calls))} ms, max ${f1(Math.max(...calls))} ms a call ` +
          `(jit off: median ${f1(median(callsNoJit))} ms, max ${f1(Math.max(...callsNoJit))} ms); ` +
          `nothing to expire: median ${f1(median(idle))} ms a call, ${f1(median(idleNoJit))} ms with jit off; ${load3}`,
      );
    } finally {
      await pool.end();
      await bulk.end();
    }
  });
}
