// The per-step cost goal of `everruns bench` at CI size: an Everruns step costs at most 1.5x a
// bare graphile-worker chain's step, both measured in this run on this database, alternating
// (a ratio, never an absolute time). The full-size figures are in docs/benchmarks.md.
// CI runs another test file beside this one on the same two cores, which weighs on the
// CPU-bound Everruns step more than on the fsync-bound bare one (0.74-0.85x quiet, 1.21x seen
// in a loaded CI run): hence the median of 5 repetitions' ratios (each repetition's bare and
// Everruns chains run back to back, so the load's drift between repetitions cancels; medians of
// each side apart failed all three tries of one loaded CI run at 1.64-1.85x, while its pairs'
// median was 1.39-1.46x) and up to two retries; a real regression (the 1.8x of a step per job, or
// worse) fails all three.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { benchCommand } from "../bench/index.ts";
import { runInflightBench } from "../bench/inflight.ts";
import { runBench } from "../bench/ratio.ts";
import { measureStartTime } from "../bench/start.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("an Everruns step costs at most 1.5x a bare graphile-worker chain step", { timeout: 300_000, retry: 2 }, async () => {
  const rows = await runBench({
    serverUrl: db.url,
    steps: 100,
    chains: [1],
    repeat: 5,
    concurrency: 10,
    log: (line) => console.log(`[bench] ${line}`),
  });
  expect(rows).toHaveLength(1);
  const [row] = rows;
  expect(row!.ratio).toBeLessThan(1.5);
});

// Worker cold start, as `everruns bench --only start` measures it: 1.8–2.1x a bare graphile-worker
// process here with the compile caches (220 vs 106 ms), 2.7–3.1x without them, 6.2x before the CLI
// and the providers loaded lazily (706 ms). Over 3x means something heavy is imported at start again.
it("a worker is ready in at most 3x the time of a bare graphile-worker process", { timeout: 120_000, retry: 2 }, async () => {
  const times = await measureStartTime({ databaseUrl: db.url, repeat: 5, log: (line) => console.log(`[bench] ${line}`) });
  expect(times.everruns).toHaveLength(5);
  expect(times.ratio).toBeLessThan(3);
});

// Row-level security's per-step cost, as `everruns bench --only rls` measures it (the schema owned
// and the worker connected as a role that is no superuser), at the smallest size: the part runs,
// checks that the policies apply to the worker's session (it throws otherwise) and prints a finite
// ratio. The ratio itself is not gated: at this size, on a shared machine, it is mostly noise.
it("the rls part prints per-step times with and without row-level security and their ratio", { timeout: 120_000 }, async () => {
  const lines: string[] = [];
  const code = await benchCommand(["--only", "rls", "--steps", "11", "--chains", "1", "--repeat", "1", "--concurrency", "2"], db.url, (line) => {
    console.log(`[bench] ${line}`);
    lines.push(line);
  });
  expect(code).toBe(0);
  const ratio = lines
    .map((line) => /^rls: chains=1: per step [\d.]+ ms vs [\d.]+ ms without row-level security: ([\d.]+)× \(median of 1\)$/.exec(line))
    .find(Boolean);
  expect(ratio, lines.join("\n")).toBeTruthy();
  expect(Number.isFinite(Number(ratio![1]))).toBe(true);
  expect(Number(ratio![1])).toBeGreaterThan(0);
});

// Many slow steps in flight on few connections, as `everruns bench --only inflight` measures it,
// at the smallest size: 40 runs of 2 LLM calls of 200 ms over 2 workers x 50 slots with 3 pool
// connections each, and an API. Every run succeeds, every step is committed once, and the
// connections seen at once stay within what the flags allow (workers x (pool + LISTEN + liveness)
// + the API's pool + its LISTEN), however many steps are in flight.
it("the inflight part runs many slow steps on a bounded number of connections, each step once", { timeout: 60_000 }, async () => {
  const [row] = await runInflightBench({
    serverUrl: db.url,
    runs: 40,
    turns: 2,
    turnMs: 200,
    shapes: [{ workers: 2, maxInFlight: 50 }],
    dbConnections: 3,
    api: true,
    timeoutMs: 45_000,
    log: (line) => console.log(`[bench] ${line}`),
  });
  expect(row!.finished).toBe(true);
  expect(row!.steps).toBe(40 * 3);
  expect(row!.duplicateCommits).toBe(0);
  expect(row!.wrongStepCounts).toBe(0);
  expect(row!.connectionBound).toBe(2 * (3 + 2) + (3 + 1));
  expect(row!.peakConnections).toBeGreaterThan(0);
  expect(row!.peakConnections).toBeLessThanOrEqual(row!.connectionBound);
});
