// The engine under volume at CI size (scripts/load/; `everruns load` runs the full sizes:
// 1,000 concurrent runs, 10,000 parked runs). Figures are printed; only counts and ratios are
// asserted, never absolute times.
import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { concurrentRuns } from "../load/concurrent.ts";
import { connectionCensus } from "../load/connections.ts";
import { historyScaling } from "../load/history.ts";
import { parkedRuns } from "../load/parked.ts";
import { memorySoak } from "../load/soak.ts";

const log = (line: string) => console.log(`[load] ${line}`);

let db: TestDatabase;

beforeEach(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  await db?.drop();
});

const CONCURRENT = Number(process.env.EVERRUNS_LOAD_CONCURRENT ?? 1000);
const PARKED = Number(process.env.EVERRUNS_LOAD_PARKED ?? 1500);
const SOAK_STEPS = Number(process.env.EVERRUNS_LOAD_SOAK_STEPS ?? 3000);

it(`${CONCURRENT} concurrent runs all complete, nothing lost`, async () => {
  const r = await concurrentRuns({ databaseUrl: db.url, runs: CONCURRENT, workers: 2, concurrency: 10, log });
  expect(r.problems).toEqual([]);
  expect(r.succeeded).toBe(CONCURRENT);
  expect(r.steps).toBe(r.expectedSteps);
  expect(r.jobsLeft).toBe(0);
}, 300_000);

it(`${PARKED} parked runs hold no job lock and no worker, and all resume when woken`, async () => {
  const r = await parkedRuns({ databaseUrl: db.url, runs: PARKED, workers: 2, concurrency: 10, log });
  expect(r.problems).toEqual([]);
  expect(r.parked.lockedJobs).toBe(0);
  expect(r.parked.running).toBe(0);
  expect(r.parked.jobs).toBe(r.timers + r.events);
  expect(r.parked.futureJobs).toBe(r.timers + r.events);
  expect(r.parked.interruptedWithJob).toBe(0);
  expect(r.resumed).toEqual({ timers: r.timers, events: r.events, approvals: r.approvals });
}, 600_000);

it("a worker's memory stays flat over a soak", async () => {
  // with V8's old space capped, a worker whose live data grew with its steps would die of it
  const r = await memorySoak({ databaseUrl: db.url, steps: SOAK_STEPS, concurrency: 10, heapLimitMb: 128, log });
  expect(r.problems).toEqual([]);
  expect(r.steps).toBeGreaterThanOrEqual(SOAK_STEPS);
  // a ratio, not a size: after warm-up the resident set may breathe with the GC, not climb
  expect(r.endRssKiB / r.warmRssKiB).toBeLessThan(1.5);
}, 300_000);

it("connections per process stay within the documented bounds", async () => {
  const r = await connectionCensus({ databaseUrl: db.url, workers: 2, concurrency: 10, followers: 20, runs: 100, log });
  expect(r.problems).toEqual([]);
  expect(r.max["everruns-worker:<pool id> (liveness)"]).toBe(2);
  expect(r.max["everruns-api-listen"]).toBe(1);
  expect(r.max["everruns-worker"]).toBeLessThanOrEqual(2 * (10 + 2));
  expect(r.max["everruns-api"]).toBeLessThanOrEqual(20);
}, 300_000);

// A step's cost must depend on its own run only. It once grew with every step ever committed
// (an inlined sql run_chain() estimated at 100 rows made begin_step hash-join all of run_steps:
// 1 ms with none, 100 ms at 200,000); this holds the line.
it("begin_step costs the same with 100,000 steps of other runs in the database", async () => {
  const r = await historyScaling({ databaseUrl: db.url, sizes: [0, 100_000], log });
  expect(r.rows).toHaveLength(2);
  expect(r.ratio).toBeLessThan(5); // it was 34x at this size
}, 300_000);
