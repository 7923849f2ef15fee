// Schedules end to end (issue 16): a real worker's ticker against a real Postgres, time moved with
// everruns_private.clock_offset, runs by the scripted provider. Daylight-saving days, catch-up
// after an outage, the overlap policies, the shared thread, a pause after failures, a spec the
// ticker cannot compute, schedules whose ticks fail for good (backed off, starving nobody), and a
// worker without a ticker.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import type { Pool } from "../../db/pool.ts";
import { startWorker, type WorkerHandle, type WorkerOptions } from "../main.ts";
import { failureBackoffMs, ScheduleTicker, schedulerFromEnv } from "../schedule-ticker.ts";
import { ConfigError } from "../../db/errors.ts";

const TICK_MS = 100;
const log = consoleLogger("[test-worker]", "warn");
let db: TestDatabase;
let worker: WorkerHandle | null = null;

function workerOptions(url: string, more: Partial<WorkerOptions> = {}): WorkerOptions {
  return { databaseUrl: url, concurrency: 8, shutdownTimeoutMs: 2000, log, scheduleTickMs: TICK_MS, ...more };
}

async function startTheWorker(): Promise<void> {
  worker = await startWorker(workerOptions(db.url));
}

async function stopTheWorker(): Promise<void> {
  await worker?.stop();
  worker = null;
}

beforeAll(async () => {
  db = await createTestDatabase();
  await startTheWorker();
});

afterAll(async () => {
  await stopTheWorker();
  await db?.drop();
});

/** Moves the database clock (everruns_private.clock()) so that it reads `at` now, and runs on from there. */
async function setClock(pool: Pool, at: Date | string): Promise<void> {
  await pool.query("update everruns_private.clock_offset set offset_by = $1::timestamptz - now()", [new Date(at)]);
}

async function resetClock(pool: Pool): Promise<void> {
  await pool.query("update everruns_private.clock_offset set offset_by = interval '0'");
}

interface ScheduleFields {
  name?: string;
  cron?: string;
  interval_seconds?: number;
  timezone?: string;
  content?: string;
  overlap?: "skip" | "buffer_one" | "allow" | "cancel_previous";
  catch_up?: "skip" | "once" | "all";
  catch_up_max?: number;
  misfire_grace_seconds?: number;
  thread?: "new" | "shared";
  /** a shared thread's existing thread (the ticker creates one at the first fire otherwise) */
  thread_id?: string;
  pause_after_failures?: number;
}

let scheduleCount = 0;

async function createSchedule(pool: Pool, agentId: string, f: ScheduleFields): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `insert into everruns.schedules (name, agent_id, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max,
                                     misfire_grace_seconds, thread, pause_after_failures, thread_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id`,
    [
      f.name ?? `schedule-${++scheduleCount}`,
      agentId,
      f.cron ?? null,
      f.interval_seconds ?? null,
      f.timezone ?? "UTC",
      JSON.stringify({ messages: [{ role: "user", content: f.content ?? "scheduled" }] }),
      f.overlap ?? "skip",
      f.catch_up ?? "once",
      f.catch_up_max ?? 10,
      f.misfire_grace_seconds ?? 60,
      f.thread ?? "new",
      f.pause_after_failures ?? null,
      f.thread_id ?? null,
    ],
  );
  return rows[0]!.id;
}

interface ScheduleRow {
  id: string;
  paused: boolean;
  paused_note: string | null;
  spec_error: string | null;
  next_fire_at: Date | null;
  missed_total: string;
  consecutive_failures: number;
  thread_id: string | null;
}

async function scheduleRow(pool: Pool, id: string): Promise<ScheduleRow> {
  const { rows } = await pool.query<ScheduleRow>(
    "select id, paused, paused_note, spec_error, next_fire_at, missed_total, consecutive_failures, thread_id from everruns.schedules where id = $1",
    [id],
  );
  return rows[0]!;
}

interface FireRow {
  occurrence_at: Date;
  status: string;
  reason: string | null;
  run_id: string | null;
  fired_at: Date;
  started_at: Date | null;
}

async function fires(pool: Pool, scheduleId: string): Promise<FireRow[]> {
  const { rows } = await pool.query<FireRow>(
    "select occurrence_at, status, reason, run_id, fired_at, started_at from everruns.schedule_fires where schedule_id = $1 order by occurrence_at",
    [scheduleId],
  );
  return rows;
}

interface RunSpan {
  id: string;
  status: string;
  thread_id: string;
  input: { messages: Array<{ content: string }> };
  created_at: Date;
  finished_at: Date | null;
}

async function scheduleRuns(pool: Pool, scheduleId: string): Promise<RunSpan[]> {
  const { rows } = await pool.query<RunSpan>(
    "select id, status, thread_id, input, created_at, finished_at from everruns.runs where schedule_id = $1 order by created_at, id",
    [scheduleId],
  );
  return rows;
}

/** Pauses the schedule, cancels its active runs and waits until none is active (so the next test starts quiet). */
async function quiesce(pool: Pool, scheduleId: string): Promise<void> {
  await pool.query("update everruns.schedules set paused = true where id = $1", [scheduleId]);
  await pool.query("select everruns.cancel_run(id) from everruns.runs where schedule_id = $1 and status in ('queued', 'running', 'waiting')", [scheduleId]);
  await waitFor("the schedule's runs to end", async () => {
    const { rows } = await pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.runs where schedule_id = $1 and status in ('queued', 'running', 'waiting')",
      [scheduleId],
    );
    return rows[0]!.n === 0;
  });
}

/** The most runs active at one instant, from their [created_at, finished_at] spans (all ended). */
function maxParallel(runs: RunSpan[]): number {
  const edges = runs.flatMap((r) => [
    { at: r.created_at.getTime(), d: 1 },
    { at: r.finished_at!.getTime(), d: -1 },
  ]);
  // an end and a start at the same instant (cancel_previous: one transaction) do not overlap
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of edges) {
    now += e.d;
    max = Math.max(max, now);
  }
  return max;
}

const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;

describe("a daily cron at 02:30 across daylight-saving changes", () => {
  // croner's "no-wildcard" rule (lib/schedule-times.ts): a wall time in the spring gap fires at
  // the transition; a repeated wall time fires at its first instance only. One fire per day.
  const cases = [
    {
      zone: "Europe/Berlin",
      change: "spring forward (2026-03-29, 02:00 CET → 03:00 CEST)",
      start: "2026-03-27T12:00:00Z",
      expected: ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"],
      quiet: [],
    },
    {
      zone: "Europe/Berlin",
      change: "fall back (2026-10-25, 03:00 CEST → 02:00 CET)",
      start: "2026-10-23T12:00:00Z",
      expected: ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"],
      // the second 02:30 of 2026-10-25 (CET) fires nothing
      quiet: ["2026-10-25T01:30:01Z"],
    },
    {
      zone: "America/New_York",
      change: "spring forward (2026-03-08, 02:00 EST → 03:00 EDT)",
      start: "2026-03-06T12:00:00Z",
      expected: ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"],
      quiet: [],
    },
    {
      zone: "America/New_York",
      change: "fall back (2026-11-01, 02:00 EDT → 01:00 EST)",
      start: "2026-10-30T12:00:00Z",
      expected: ["2026-10-31T06:30:00Z", "2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z", "2026-11-03T07:30:00Z"],
      // 01:30 EDT and 01:30 EST come twice; 02:30 once: nothing at the repeated hour's instants
      quiet: ["2026-11-01T05:30:01Z", "2026-11-01T06:30:01Z"],
    },
  ];

  for (const c of cases) {
    it(`${c.zone}, ${c.change}: exactly one fire per day, at the expected UTC instant`, async () => {
      const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
      await setClock(db.pool, c.start);
      try {
        const id = await createSchedule(db.pool, agent, { cron: "30 2 * * *", timezone: c.zone, content: "{{fire_time_local}}" });
        await waitFor(
          "the ticker to compute the first occurrence",
          async () => iso((await scheduleRow(db.pool, id)).next_fire_at) === iso(new Date(c.expected[0]!)),
        );
        const quiet = c.quiet.map((q) => new Date(q).getTime());
        for (const [i, at] of c.expected.entries()) {
          const occurrence = new Date(at);
          // just before: nothing
          await setClock(db.pool, new Date(occurrence.getTime() - 60_000));
          await sleep(4 * TICK_MS);
          expect((await fires(db.pool, id)).length, `fires before ${at}`).toBe(i);
          // just after: this occurrence, once
          await setClock(db.pool, new Date(occurrence.getTime() + 1_000));
          const now = await waitFor(`the fire of ${at}`, async () => {
            const list = await fires(db.pool, id);
            return list.length > i ? list : null;
          });
          expect(now.map((f) => iso(f.occurrence_at))).toEqual(c.expected.slice(0, i + 1).map((e) => iso(new Date(e))));
          expect(now[i]!.status).toBe("started");
          const next = c.expected[i + 1];
          if (next) {
            await waitFor(`next_fire_at to become ${next}`, async () => iso((await scheduleRow(db.pool, id)).next_fire_at) === iso(new Date(next)));
          }
          // the instants where the day's wall time comes again: still one fire
          for (const q of quiet.filter((ms) => ms > occurrence.getTime() && (!next || ms < new Date(next).getTime()))) {
            await setClock(db.pool, new Date(q));
            await sleep(4 * TICK_MS);
            expect((await fires(db.pool, id)).length, `fires at ${new Date(q).toISOString()}`).toBe(i + 1);
          }
        }
        const all = await fires(db.pool, id);
        expect(all).toHaveLength(c.expected.length);
        expect(all.every((f) => f.status === "started" && f.run_id !== null)).toBe(true);
        // each run's input was rendered with its local fire time (one per distinct local date)
        const runs = await scheduleRuns(db.pool, id);
        expect(runs).toHaveLength(c.expected.length);
        const localDates = runs.map((r) => r.input.messages[0]!.content.slice(0, 10));
        expect(new Set(localDates).size).toBe(c.expected.length);
        expect(Number((await scheduleRow(db.pool, id)).missed_total)).toBe(0);
        await quiesce(db.pool, id);
      } finally {
        await resetClock(db.pool);
      }
    });
  }
});

describe("catch-up after 3 hours with no worker", () => {
  it("skip fires nothing, once fires the latest, all fires the latest catch_up_max; the rest count as missed", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const t0 = new Date("2026-01-10T12:05:30Z");
    await setClock(db.pool, t0);
    try {
      const common = { cron: "*/10 * * * *", overlap: "allow" as const, misfire_grace_seconds: 60, content: "tick {{fire_time}} {{schedule}}" };
      const skip = await createSchedule(db.pool, agent, { ...common, name: "catch-skip", catch_up: "skip" });
      const once = await createSchedule(db.pool, agent, { ...common, name: "catch-once", catch_up: "once" });
      const all = await createSchedule(db.pool, agent, { ...common, name: "catch-all", catch_up: "all", catch_up_max: 5 });
      const ids = [skip, once, all];
      for (const id of ids) {
        await waitFor("the first occurrence", async () => iso((await scheduleRow(db.pool, id)).next_fire_at) === "2026-01-10T12:10:00.000Z");
      }
      await stopTheWorker();
      // 3 hours later: 12:10 … 15:00 (18 occurrences) are all older than the 60 s grace
      await setClock(db.pool, new Date(t0.getTime() + 3 * 3_600_000));
      await startTheWorker();
      for (const id of ids) {
        await waitFor("the catch-up tick", async () => iso((await scheduleRow(db.pool, id)).next_fire_at) === "2026-01-10T15:10:00.000Z");
      }

      const expectations: Array<[string, string[], number]> = [
        [skip, [], 18],
        [once, ["15:00"], 17],
        [all, ["14:20", "14:30", "14:40", "14:50", "15:00"], 13],
      ];
      for (const [id, times, missed] of expectations) {
        const list = await fires(db.pool, id);
        expect(list.map((f) => iso(f.occurrence_at))).toEqual(times.map((t) => `2026-01-10T${t}:00.000Z`));
        expect(list.every((f) => f.status === "started" && f.run_id !== null)).toBe(true);
        const row = await scheduleRow(db.pool, id);
        expect(Number(row.missed_total)).toBe(missed);
        const runs = await scheduleRuns(db.pool, id);
        expect(runs).toHaveLength(times.length);
        // {{fire_time}} is the occurrence's, not the time it was caught up at
        expect(runs.map((r) => r.input.messages[0]!.content).sort()).toEqual(
          times.map((t) => `tick 2026-01-10T${t}:00.000Z ${id === once ? "catch-once" : "catch-all"}`),
        );
      }
      for (const id of ids) await quiesce(db.pool, id);
    } finally {
      await resetClock(db.pool);
    }
  });
});

describe("overlap: runs longer than the period", () => {
  it("skip: an occurrence while the previous run is active is skipped; runs never overlap", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 2500 }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 1, overlap: "skip" });
    await waitFor("two runs", async () => (await scheduleRuns(db.pool, id)).filter((r) => r.status === "succeeded").length >= 2, 20_000, 50);
    await quiesce(db.pool, id);
    const list = await fires(db.pool, id);
    const runs = await scheduleRuns(db.pool, id);
    expect(list.filter((f) => f.status === "skipped" && f.reason === "overlap").length).toBeGreaterThanOrEqual(2);
    expect(list.filter((f) => f.status === "started")).toHaveLength(runs.length);
    expect(maxParallel(runs)).toBe(1);
  });

  it("buffer_one: at most one occurrence waits, and it starts when the active run ends", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 2500 }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 1, overlap: "buffer_one" });
    let maxBuffered = 0;
    await waitFor(
      "three runs",
      async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          "select count(*)::int as n from everruns.schedule_fires where schedule_id = $1 and status = 'buffered'",
          [id],
        );
        maxBuffered = Math.max(maxBuffered, rows[0]!.n);
        return (await scheduleRuns(db.pool, id)).filter((r) => r.status === "succeeded").length >= 3;
      },
      30_000,
      25,
    );
    await quiesce(db.pool, id);
    expect(maxBuffered).toBe(1);
    const list = await fires(db.pool, id);
    const runs = await scheduleRuns(db.pool, id);
    expect(maxParallel(runs)).toBe(1);
    // buffered fires: started well after they came due, right after the previous run ended
    const buffered = list.filter((f) => f.status === "started" && f.started_at!.getTime() - f.fired_at.getTime() > 500);
    expect(buffered.length).toBeGreaterThanOrEqual(2);
    for (const fire of buffered) {
      const index = runs.findIndex((r) => r.id === fire.run_id);
      expect(index).toBeGreaterThan(0);
      const previous = runs[index - 1]!;
      const gap = runs[index]!.created_at.getTime() - previous.finished_at!.getTime();
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThan(1_000);
    }
    // the other occurrences meanwhile: skipped, not buffered
    expect(list.filter((f) => f.status === "skipped" && f.reason === "overlap").length).toBeGreaterThanOrEqual(1);
    // a fire still buffered when quiesce paused the schedule is dropped (skipped: paused) by the
    // ticker's next tick, which may come after the list above was read
    await waitFor("no buffered fire left", async () => (await fires(db.pool, id)).every((f) => f.status !== "buffered"), 10_000, 50);
    expect((await fires(db.pool, id)).filter((f) => f.status === "skipped" && f.reason === "paused").length).toBeLessThanOrEqual(1);
  });

  it("allow: runs of successive occurrences run in parallel", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 3000 }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 1, overlap: "allow" });
    await waitFor("three runs at once", async () => (await scheduleRuns(db.pool, id)).filter((r) => r.status === "running").length >= 3, 20_000, 50);
    await quiesce(db.pool, id);
    const list = await fires(db.pool, id);
    const runs = await scheduleRuns(db.pool, id);
    expect(list.every((f) => f.status === "started")).toBe(true);
    expect(runs).toHaveLength(list.length);
    expect(maxParallel(runs)).toBeGreaterThanOrEqual(3);
  });

  it("cancel_previous: each occurrence cancels the active run, then starts its own", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 5000 }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 2, overlap: "cancel_previous" });
    await waitFor("two cancelled runs", async () => (await scheduleRuns(db.pool, id)).filter((r) => r.status === "cancelled").length >= 2, 20_000, 50);
    await db.pool.query("update everruns.schedules set paused = true where id = $1", [id]);
    const runs = await scheduleRuns(db.pool, id);
    await quiesce(db.pool, id);
    const list = await fires(db.pool, id);
    expect(list.every((f) => f.status === "started")).toBe(true);
    // every run but the last (cancelled by quiesce) was cancelled by the next fire, in its transaction
    for (let i = 0; i + 1 < runs.length; i++) {
      const { rows } = await db.pool.query<{ status: string; finished_at: Date }>("select status, finished_at from everruns.runs where id = $1", [runs[i]!.id]);
      expect(rows[0]!.status).toBe("cancelled");
      expect(rows[0]!.finished_at.getTime()).toBeLessThanOrEqual(runs[i + 1]!.created_at.getTime());
    }
    expect(maxParallel(await scheduleRuns(db.pool, id))).toBe(1);
  });

  it("a shared thread: every fire continues the schedule's one thread, one run after another", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 1500 }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 1, overlap: "skip", thread: "shared" });
    await waitFor("three runs", async () => (await scheduleRuns(db.pool, id)).filter((r) => r.status === "succeeded").length >= 3, 30_000, 50);
    await quiesce(db.pool, id);
    const row = await scheduleRow(db.pool, id);
    const runs = await scheduleRuns(db.pool, id);
    expect(row.thread_id).not.toBeNull();
    expect(new Set(runs.map((r) => r.thread_id))).toEqual(new Set([row.thread_id]));
    expect(maxParallel(runs)).toBe(1);
    expect((await fires(db.pool, id)).some((f) => f.status === "skipped" && f.reason === "overlap")).toBe(true);
  });
});

describe("pausing", () => {
  it("pause_after_failures: N consecutive failed runs pause the schedule with a note and an audit row", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ error: "bad_request" }] });
    const id = await createSchedule(db.pool, agent, { interval_seconds: 1, overlap: "skip", pause_after_failures: 3 });
    const paused = await waitFor("the schedule to pause", async () => {
      const row = await scheduleRow(db.pool, id);
      return row.paused ? row : null;
    });
    expect(paused.paused_note).toBe("paused after 3 consecutive failed runs");
    expect(paused.consecutive_failures).toBe(3);
    const runs = await scheduleRuns(db.pool, id);
    expect(runs.map((r) => r.status)).toEqual(["failed", "failed", "failed"]);
    const { rows } = await db.pool.query<{ actor: string; details: { note?: string } }>(
      "select actor, details from everruns.audit_log where action = 'schedule.paused' and target_type = 'schedule' and target_id = $1",
      [id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.details.note).toBe("paused after 3 consecutive failed runs");
    // paused: no more fires
    const count = (await fires(db.pool, id)).length;
    await sleep(1_500);
    expect((await fires(db.pool, id)).length).toBe(count);
    expect(await scheduleRuns(db.pool, id)).toHaveLength(3);
  });

  it("a cron the ticker cannot compute pauses its schedule, saying why, and other schedules go on", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const bad = await createSchedule(db.pool, agent, { cron: "0 0 31 2 *" }); // the database accepts it; it never matches
    const good = await createSchedule(db.pool, agent, { interval_seconds: 1 });
    const row = await waitFor("the bad schedule to pause", async () => {
      const r = await scheduleRow(db.pool, bad);
      return r.paused ? r : null;
    });
    expect(row.spec_error).toMatch(/never matches/);
    expect(row.paused_note).toMatch(/^cannot compute the occurrences: /);
    await waitFor("the good schedule to fire", async () => (await fires(db.pool, good)).length >= 1);
    await quiesce(db.pool, good);
  });
});

describe("schedules whose ticks fail for good", () => {
  it("are backed off (2 s, 4 s, … 60 s) and left out of due_schedules: the others fire on time, even when the failing ones would fill its batch", async () => {
    const other = await createTestDatabase();
    // runs the shared threads' first runs; its own ticker is off: the one under test is below, with
    // a batch of 2, so that three failing schedules (the oldest next_fire_at) would fill every batch
    const w = await startWorker(workerOptions(other.url, { scheduler: false }));
    const ticker = new ScheduleTicker({ pool: other.pool, log, tickMs: TICK_MS, dueBatch: 2 });
    const holder = await other.pool.connect();
    try {
      const agent = await createAgent(other.pool, { provider: "scripted", script: [{ text: "ok" }] });
      const tails: string[] = [];
      const failing: string[] = [];
      for (let i = 0; i < 3; i++) {
        const runId = await startRun(other.pool, agent, `thread ${i}`);
        await waitForStatus(other.pool, runId, ["succeeded"]);
        tails.push(runId);
        const { rows } = await other.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [runId]);
        failing.push(await createSchedule(other.pool, agent, { interval_seconds: 1, thread: "shared", thread_id: rows[0]!.thread_id }));
      }
      // an operator's open transaction holds each thread's last run: every fire of these schedules
      // waits on it in lock_thread_tail until fire_schedule's lock_timeout (500 ms) fails the tick
      await holder.query("begin");
      await holder.query("select id from everruns.runs where id = any($1) for update", [tails]);
      ticker.start();
      await waitFor("the failing schedules to be backed off", () => ticker.backedOff().size === 3, 15_000);
      expect(ticker.stats.failures).toBe(3);

      const good = await createSchedule(other.pool, agent, { interval_seconds: 1, overlap: "allow" });
      const since = Date.now();
      await sleep(5_000);
      const list = await fires(other.pool, good);
      const lateness = list.map((f) => f.fired_at.getTime() - f.occurrence_at.getTime());
      console.log(
        `[schedules] 3 schedules failing for good, batch of 2: the other fired ${list.length} times in ${Date.now() - since} ms, late by ${lateness.join(", ")} ms; ${ticker.stats.failures} failed ticks`,
      );
      // it fires every second (its first occurrence is a second after the tick that computes it)
      expect(list.length).toBeGreaterThanOrEqual(3);
      expect(list.every((f) => f.status === "started")).toBe(true);
      // late at most by the failing ones' retries (3 × 500 ms, once their backoff ends)
      expect(Math.max(...lateness)).toBeLessThan(2_000);
      expect(lateness.filter((ms) => ms < 500).length).toBeGreaterThanOrEqual(list.length - 2);
      // the failing ones: tried at ~1 s, ~3 s and ~7 s (2 s, then 4 s of backoff), not at every tick
      for (const id of failing) expect(await fires(other.pool, id)).toEqual([]);
      const backedOff = ticker.backedOff();
      for (const id of failing) expect(backedOff.get(id) ?? 0).toBeLessThanOrEqual(3);
      expect(ticker.stats.failures).toBeLessThanOrEqual(9);

      // the lock released: each fires once its backoff ends, and its success forgets the failures
      await holder.query("rollback");
      await waitFor(
        "the failing schedules to fire",
        async () => {
          for (const id of failing) if ((await fires(other.pool, id)).filter((f) => f.status === "started").length === 0) return false;
          return ticker.backedOff().size === 0;
        },
        failureBackoffMs(4) + 5_000,
        100,
      );
      await ticker.stop();
      for (const id of [...failing, good]) await quiesce(other.pool, id);
    } finally {
      await ticker.stop();
      await holder.query("rollback").catch(() => undefined);
      holder.release();
      await w.stop();
      await other.drop();
    }
  });

  it("failureBackoffMs: 2^n s after n consecutive failures, at most 60 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map(failureBackoffMs)).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });
});

describe("waking the ticker", () => {
  it("NOTIFY everruns:schedules wakes it: with a 60 s period, a new schedule is computed at once and its run ends are folded", async () => {
    const other = await createTestDatabase();
    const w = await startWorker(workerOptions(other.url, { scheduleTickMs: 60_000 }));
    try {
      await sleep(500); // its first tick, and graphile-worker's LISTEN connection with ours on it
      const agent = await createAgent(other.pool, { provider: "scripted", script: [{ error: "bad_request" }] });
      const id = await createSchedule(other.pool, agent, { interval_seconds: 3600, pause_after_failures: 1 });
      await waitFor("the schedule's insert to wake the ticker", async () => (await scheduleRow(other.pool, id)).next_fire_at, 5_000);
      // a run of the schedule that fails: its end (everruns:schedules) wakes the ticker, which folds it and pauses
      await other.pool.query("insert into everruns.runs (agent_id, input, schedule_id) values ($1, $2, $3)", [
        agent,
        JSON.stringify({ messages: [{ role: "user", content: "by hand" }] }),
        id,
      ]);
      const row = await waitFor(
        "the run's end to wake the ticker",
        async () => {
          const r = await scheduleRow(other.pool, id);
          return r.paused ? r : null;
        },
        5_000,
      );
      expect(row.paused_note).toBe("paused after 1 consecutive failed runs");
    } finally {
      await w.stop();
      await other.drop();
    }
  });
});

describe("a worker without a ticker", () => {
  it("scheduler: false computes and fires nothing", async () => {
    const other = await createTestDatabase();
    const w = await startWorker(workerOptions(other.url, { scheduler: false }));
    try {
      const agent = await createAgent(other.pool, { provider: "scripted", script: [{ text: "ok" }] });
      const id = await createSchedule(other.pool, agent, { interval_seconds: 1 });
      await sleep(1_500);
      const row = await scheduleRow(other.pool, id);
      expect(row.next_fire_at).toBeNull();
      expect(await fires(other.pool, id)).toHaveLength(0);
    } finally {
      await w.stop();
      await other.drop();
    }
  });
});

describe("EVERRUNS_SCHEDULER and EVERRUNS_SCHEDULE_TICK_MS", () => {
  it("default to on and 1000 ms; an invalid value is a ConfigError naming the variable", () => {
    expect(schedulerFromEnv({})).toEqual({ enabled: true, tickMs: 1000 });
    expect(schedulerFromEnv({ EVERRUNS_SCHEDULER: "OFF", EVERRUNS_SCHEDULE_TICK_MS: " 250 " })).toEqual({ enabled: false, tickMs: 250 });
    expect(() => schedulerFromEnv({ EVERRUNS_SCHEDULER: "no" })).toThrow(ConfigError);
    expect(() => schedulerFromEnv({ EVERRUNS_SCHEDULER: "no" })).toThrow(/EVERRUNS_SCHEDULER must be "on" or "off" \(got "no"\)/);
    for (const bad of ["1s", "5", "60001", "1.5"]) {
      expect(() => schedulerFromEnv({ EVERRUNS_SCHEDULE_TICK_MS: bad })).toThrow(
        new RegExp(`EVERRUNS_SCHEDULE_TICK_MS must be a whole number of milliseconds from 10 to 60000 \\(got "${bad.replace(".", "\\.")}"\\)`),
      );
    }
  });
});
