// The always-on bench (issue 16; 000026) at a small size: 60 events into one long-lived thread in
// bursts of 10, with its baseline of independent runs. No time is gated (the machines are shared
// and the counts tiny); what is checked holds whatever the speed: every run succeeded, in the
// events' arrival order, none overlapping, the last run's history holding every event, events
// arriving both while the thread was idle and while it was busy, and between bursts nothing of
// the thread left: no run active, no event pending, no job, no locked job (no worker slot held).
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { runAlwaysOnBench } from "../bench/always-on.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the always-on part runs 60 events through one thread in order, holding nothing between bursts", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const result = await runAlwaysOnBench({
    serverUrl: db.url,
    events: 60,
    burst: 10,
    pauseMs: 150,
    samples: 3,
    stepMs: 20,
    senders: 2,
    concurrency: 10,
    timeoutMs: 120_000,
    log: (line) => {
      console.log(`[bench] ${line}`);
      lines.push(line);
    },
  });
  const out = lines.join("\n");
  expect(result.problems, out).toEqual([]);

  expect(result.bursts).toBe(6);
  expect(result.thread.events).toBe(60);
  expect(result.thread.succeeded).toBe(60);
  expect(result.baseline.succeeded).toBe(60);
  expect(result.inOrder).toBe(true);
  expect(result.overlaps).toBe(0);
  expect(result.maxActiveSeen).toBe(1);
  expect(result.busySamples).toBeGreaterThan(0);
  expect(result.historyInputs).toBe(60);
  expect(result.historyHasEveryRun).toBe(true);
  // each burst's first event finds the thread idle (the previous burst drained); 20 ms runs keep
  // it busy while the rest of the burst arrives
  expect(result.thread.arrivedIdle).toBeGreaterThanOrEqual(6);
  expect(result.thread.arrivedBusy).toBeGreaterThan(0);
  expect(result.thread.arrivedIdle + result.thread.arrivedBusy).toBe(60);
  expect(result.idle).toEqual({ samples: 18, withActiveRuns: 0, withPendingEvents: 0, withThreadJobs: 0, withLockedJobs: 0 });

  // the figures are printed, with their ratios
  const num = "(\\d+(?:\\.\\d+)?|n/a)";
  expect(out).toMatch(new RegExp(`^ {2}thread: 60 of 60 runs succeeded in ${num} s .*event → run start p50 ${num} ms, p99 ${num} ms`, "m"));
  expect(out).toMatch(new RegExp(`^ {2}baseline \\(independent runs\\): 60 of 60 runs succeeded in ${num} s`, "m"));
  expect(out).toMatch(new RegExp(`^ {2}per-event overhead, thread ÷ baseline: ${num}× at p50, ${num}× at p99; total time ${num}×$`, "m"));
  expect(out).toMatch(new RegExp(`^ {2}SQL: everruns.trigger p50 ${num} ms.*trigger ÷ insert ${num}× at p50$`, "m"));
  expect(out).toMatch(/^ {2}order: runs started in arrival order: yes; 0 overlapping runs; at most 1 run\(s\) of the thread active/m);
  expect(out).toMatch(/^ {2}idle between bursts: 18 samples; 0 with runs .*, 0 with pending events, 0 with jobs of its runs, 0 with a locked job/m);
  expect(out).toMatch(/^ {2}invariants: all hold/m);
});
