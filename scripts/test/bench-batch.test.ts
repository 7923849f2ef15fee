// `everruns bench --only batch --quick` (issue 15; 000025) at its smallest counts: every part runs
// on its fresh databases and prints its figures and the summary. No time is gated (the machines
// are shared and the counts tiny); what is checked holds whatever the speed: every item created,
// the items in flight never over max_parallel, every item succeeded, and under kill -9 of workers
// and a restart of the API every item exactly once in the SQL results, the REST results and the
// results table, the counters equal to a recount, the ETA never negative or infinite.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { benchCommand } from "../bench/index.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("the batch part prints each part's figures and a summary, and its invariants hold", { timeout: 240_000 }, async () => {
  const lines: string[] = [];
  const code = await benchCommand(["--only", "batch", "--quick", "--batch-timeout-s", "120"], db.url, (line) => {
    console.log(`[bench] ${line}`);
    lines.push(line);
  });
  expect(code).toBe(0);
  const out = lines.join("\n");
  const num = "(\\d+(?:\\.\\d+)?|n/a)";

  // creation: COPY, and REST at both counts with the API's RSS
  expect(out).toMatch(new RegExp(`^  COPY 2000 items: ${num} s \\(${num} items/s\\)$`, "m"));
  for (const n of [200, 2000]) {
    expect(out).toMatch(new RegExp(`^  REST ${n} items: ${num} s \\(${num} items/s\\); API RSS before \\d+ MiB, at most \\d+ MiB while uploading`, "m"));
  }

  // throughput: two rounds of each, every item succeeded, the batch never over max_parallel 50
  const batches = [
    ...out.matchAll(
      /^ {2}batch \(max_parallel 50\): (\d+) of (\d+) finished, (\d+) succeeded, \S+ items\/s; (\d+) samples of the items in flight, at most (\d+)$/gm,
    ),
  ];
  expect(batches, out).toHaveLength(2);
  for (const m of batches) {
    expect(Number(m[1])).toBe(300);
    expect(Number(m[3])).toBe(300);
    expect(Number(m[4])).toBeGreaterThan(0);
    expect(Number(m[5])).toBeGreaterThan(0);
    expect(Number(m[5])).toBeLessThanOrEqual(50);
  }
  const runs = [...out.matchAll(/^ {2}independent runs: (\d+) of (\d+) finished, (\d+) succeeded, \S+ items\/s$/gm)];
  expect(runs, out).toHaveLength(2);
  for (const m of runs) expect(Number(m[3])).toBe(300);
  expect(out).toMatch(/^ {2}batch ÷ independent runs: [\d.]+, [\d.]+ per pair; [\d.]+ over the ABBA sequence \(target ≥ 0\.90\)$/m);

  // cost: the three measurements and their ratio
  expect([...out.matchAll(/^ {2}batch of \d+ items.*: item end [\d.]+ ms, batch_progress [\d.]+ ms, results page [\d.]+ ms \((\d+) rows\)$/gm)]).toHaveLength(
    3,
  );
  expect(out).toMatch(/^ {2}3000 ÷ 100 items .*: item end [\d.]+×, batch_progress [\d.]+×, results page [\d.]+×/m);

  // chaos: workers killed, the API restarted, every item exactly once everywhere, counters = recount, ETA sane
  const chaos = /^ {2}batch (\w+) after [\d.]+ s; (\d+) workers kill -9'd, the API restarted (\d+) time\(s\)/m.exec(out);
  expect(chaos, out).toBeTruthy();
  expect(chaos![1]).toBe("succeeded");
  expect(Number(chaos![2])).toBeGreaterThan(0); // the first kill after 1 s; 400 items of 500 ms at 50 take at least 4 s
  expect(Number(chaos![3])).toBe(1);
  expect(out).toMatch(/^ {2}SQL results \(batch_results through the cursor\): 400 rows, 400 distinct custom_ids, 0 duplicates$/m);
  expect(out).toMatch(/^ {2}REST results \(GET \/api\/batches\/:id\/results through the cursor\): 400 rows, 400 distinct custom_ids, 0 duplicates/m);
  expect(out).toMatch(/^ {2}results table: 400 rows, 400 distinct custom_ids, 0 custom_ids more than once$/m);
  expect(out).toMatch(/^ {2}counters equal the recount: total 400, queued 0, running 0, succeeded 400, failed 0, cancelled 0$/m);
  expect(out).toMatch(/^ {2}ETA: \d+ samples while items remained, 0 not finite or negative/m);

  // the summary
  expect(out).toMatch(/^\| batch \| figures \| target \|$/m);
  expect(lines.filter((l) => /^\| (create|throughput|parallelism|cost|chaos)/.test(l))).toHaveLength(7);
});
