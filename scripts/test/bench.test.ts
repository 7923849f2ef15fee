// The per-step cost goal of `everruns bench` at CI size: an Everruns step costs at most 1.5x a
// bare graphile-worker chain's step, both measured in this run on this database, alternating
// (a ratio, never an absolute time). The full-size figures are in docs/benchmarks.md.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { runBench } from "../bench.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("an Everruns step costs at most 1.5x a bare graphile-worker chain step", async () => {
  const rows = await runBench({
    serverUrl: db.url,
    steps: 100,
    chains: [1],
    repeat: 3,
    concurrency: 10,
    log: (line) => console.log(`[bench] ${line}`),
  });
  expect(rows).toHaveLength(1);
  const [row] = rows;
  expect(row!.ratio).toBeLessThan(1.5);
  // inline chaining is what makes the difference: without it each step is also a job to fetch
  // and delete, and costs more than with it
  expect(row!.unchainedRatio).toBeGreaterThan(row!.ratio);
}, 300_000);
