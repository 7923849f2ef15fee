// The chaos run at CI size (scripts/chaos/; `everruns chaos` runs the long version): worker
// processes kill -9'd every few seconds, the API kill -9'd and SIGTERM'd under SSE followers,
// many concurrent runs of every kind. Only counts and invariants are asserted, never absolute times.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { netnsAvailable } from "../chaos/netns.ts";
import { CHAOS_DEFAULTS, runChaos } from "../chaos/run.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("survives kill -9 of workers and of the API: every run lands as it should, every step once, every event once", async () => {
  const report = await runChaos({
    ...CHAOS_DEFAULTS,
    databaseUrl: db.url,
    runs: 90,
    launchMs: 25_000,
    workers: 3,
    concurrency: 6,
    killEveryMs: 1000,
    // kill while a replacement may still be booting: more kills in a short test (the latencies
    // printed then include waiting for a free slot on the survivors)
    minAlive: 2,
    apiRestarts: 2,
    followers: 8,
    settleTimeoutMs: 90_000,
    // one worker slot in its own network namespace over a veth pair, where this machine allows it
    netns: process.env.EVERRUNS_CHAOS_NETNS !== "0" && netnsAvailable(),
    log: (line) => console.log(`[chaos] ${line}`),
  });
  expect(report.problems).toEqual([]);
  expect(report.runs).toBe(90);
  expect(report.kills).toBeGreaterThanOrEqual(1); // how many fit depends on the machine's speed; the invariants above are the test
  expect(report.effectiveKills).toBeGreaterThan(0);
  expect(report.resumeLatenciesMs.length).toBeGreaterThan(0);
  expect(report.apiRestarts).toBe(2);
  expect(report.sse.followed).toBeGreaterThan(0);
  expect(report.http.keys).toBe(report.http.effects);
  expect(report.http.committedHttpSteps).toBeGreaterThan(0);
}, 240_000);
