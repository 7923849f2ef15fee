// A Map over 1,000 items with MaxConcurrency 20 (issue 21, "Tests and figures"), against a real
// Postgres and an in-process worker sized for a small machine. Each item is a child run of the
// workflow doing real work: a Pass with Parameters (an intrinsic), a Wait of 0 seconds (a park
// and a timer job), a Choice and a Pass. Checked: never more than 20 items in flight (the max
// overlap of the children's [started_at, finished_at], and the count of unfinished children
// sampled while the Map runs), each item run exactly once, the results in item order.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, getRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { startWorker, type WorkerHandle } from "../main.ts";

// MAP_TEST_ITEMS: more items (e.g. 10000) for a longer run by hand
const ITEMS = Number(process.env.MAP_TEST_ITEMS ?? 1000);
const MAX_CONCURRENCY = 20;

let db: TestDatabase;
let worker: WorkerHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  // more slots than MaxConcurrency, so that the limit comes from the Map and not from the worker
  worker = await startWorker({ databaseUrl: db.url, concurrency: 24, shutdownTimeoutMs: 5000, log: consoleLogger("[map-worker]", "warn") });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

/** The most intervals [start, end) open at one instant (a sweep over their ends). */
function maxOverlap(intervals: Array<[number, number]>): number {
  const points = intervals.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  // at equal instants an end comes before a start: a slot freed and reused at once is not an overlap
  points.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let open = 0;
  let max = 0;
  for (const [, d] of points) {
    open += d!;
    max = Math.max(max, open);
  }
  return max;
}

it(
  `a Map over ${ITEMS} items with MaxConcurrency ${MAX_CONCURRENCY}: never more than ${MAX_CONCURRENCY} in flight, each item once, results in order`,
  { timeout: 300_000 + ITEMS * 200 },
  async () => {
    const agent = await createAgent(
      db.pool,
      {
        kind: "workflow",
        definition: {
          StartAt: "Each",
          States: {
            Each: {
              Type: "Map",
              ItemsPath: "$.items",
              MaxConcurrency: MAX_CONCURRENCY,
              ItemSelector: { "value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index" },
              ItemProcessor: {
                StartAt: "Double",
                States: {
                  Double: { Type: "Pass", Parameters: { "i.$": "$.index", "double.$": "States.MathAdd($.value, $.value)" }, Next: "Breathe" },
                  Breathe: { Type: "Wait", Seconds: 0, Next: "Half" },
                  Half: { Type: "Choice", Choices: [{ Variable: "$.i", NumericLessThan: ITEMS / 2, Next: "Low" }], Default: "High" },
                  Low: { Type: "Pass", Result: "low", ResultPath: "$.half", End: true },
                  High: { Type: "Pass", Result: "high", ResultPath: "$.half", End: true },
                },
              },
              ResultPath: "$.mapped",
              End: true,
            },
          },
        },
      },
      `map_${process.pid}`,
    );
    const items = Array.from({ length: ITEMS }, (_, i) => i * 3);
    const t0 = performance.now();
    const { rows: started } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agent,
      JSON.stringify({ messages: [], state: { items } }),
    ]);
    const run = started[0]!.id;

    // sample the unfinished children while the Map runs
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await db.pool.query<{ n: number }>(
          "select count(*)::int as n from everruns.runs where caller_run_id = $1 and caller_tool_call_id like 'wf:Each:%' and status in ('queued', 'running', 'waiting')",
          [run],
        );
        samples.push(rows[0]!.n);
        await sleep(25);
      }
    })();
    let done;
    try {
      done = await waitForStatus(db.pool, run, ["succeeded", "failed", "cancelled"], 280_000 + ITEMS * 190);
    } finally {
      sampling = false;
      await sampler;
    }
    const wallMs = performance.now() - t0;
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");

    // results in order
    const expected = items.map((value, i) => ({ i, double: value * 2, half: i < ITEMS / 2 ? "low" : "high" }));
    expect((done.output as unknown as { json: { mapped: unknown[] } }).json.mapped).toEqual(expected);

    // each item exactly once: one child per item, each succeeded, no other child
    const { rows: children } = await db.pool.query<{ call: string; status: string; started_at: Date | null; finished_at: Date | null }>(
      "select caller_tool_call_id as call, status, started_at, finished_at from everruns.runs where caller_run_id = $1",
      [run],
    );
    expect(children).toHaveLength(ITEMS);
    expect(new Set(children.map((c) => c.call)).size).toBe(ITEMS);
    expect(children.filter((c) => c.status !== "succeeded")).toEqual([]);
    // call ids are wf:<state>:<visit>.<attempt>:<item index>: one visit, one attempt, every index once
    const indexes = children.map((c) => /^wf:Each:\d+\.0:(\d+)$/u.exec(c.call)?.[1]).map(Number);
    expect(new Set(children.map((c) => c.call.slice(0, c.call.lastIndexOf(":")))).size).toBe(1);
    expect(indexes.sort((a, b) => a - b)).toEqual(items.map((_, i) => i));

    // never more than MaxConcurrency in flight
    const overlap = maxOverlap(children.map((c) => [c.started_at!.getTime(), c.finished_at!.getTime()]));
    expect(overlap).toBeLessThanOrEqual(MAX_CONCURRENCY);
    expect(samples.length).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBeLessThanOrEqual(MAX_CONCURRENCY);

    const { rows: steps } = await db.pool.query<{ kind: string; n: number }>(
      "select kind, count(*)::int as n from everruns.run_steps where run_id = $1 group by kind order by kind",
      [run],
    );
    const { rows: childSteps } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.run_steps s join everruns.runs r on r.id = s.run_id where r.caller_run_id = $1",
      [run],
    );
    const mapRun = await getRun(db.pool, run);
    console.log(
      `[map] ${ITEMS} items, MaxConcurrency ${MAX_CONCURRENCY}: wall ${(wallMs / 1000).toFixed(1)} s; the Map run's steps ${steps.map((s) => `${s.kind} ${s.n}`).join(", ")} ` +
        `(step_cursor ${mapRun.step_cursor}); the items' steps ${childSteps[0]!.n}; max overlap ${overlap}, max sampled in flight ${Math.max(...samples)} over ${samples.length} samples`,
    );
  },
);
