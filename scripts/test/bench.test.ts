// The per-step cost goal of `everruns bench` at CI size: an Everruns step costs at most 1.5x a
// bare graphile-worker chain's step, both measured in this run on this database, alternating
// (a ratio, never an absolute time). The full-size figures are in docs/benchmarks.md.
// CI runs another test file beside this one on the same two cores, which weighs on the
// CPU-bound Everruns step more than on the fsync-bound bare one (0.74-0.85x quiet, 1.21x seen
// in a loaded CI run): hence the median of 5 and up to two retries; a real regression (the
// 1.8x of a step per job, or worse) fails all three.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
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

// Worker cold start, as `everruns bench --only start` measures it: 2.1x a bare graphile-worker
// process here (207 vs 101 ms), 6.2x before the CLI and the providers loaded lazily (706 ms). Over
// 3x means something heavy is imported at start again.
it("a worker is ready in at most 3x the time of a bare graphile-worker process", { timeout: 120_000, retry: 2 }, async () => {
  const times = await measureStartTime({ databaseUrl: db.url, repeat: 5, log: (line) => console.log(`[bench] ${line}`) });
  expect(times.everruns).toHaveLength(5);
  expect(times.ratio).toBeLessThan(3);
});
