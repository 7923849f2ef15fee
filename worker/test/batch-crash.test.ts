// A batch survives kill -9 of its workers (issue 15): every item runs to the end exactly once —
// one run per item, one result row per item in the results table, one result through the
// cursor — the window never exceeds max_parallel, and the counters equal a recount.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { sleep } from "../../lib/sleep.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
const workers = new Set<WorkerProcess>();

async function start(): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

async function kill(w: WorkerProcess): Promise<void> {
  w.child.kill("SIGKILL");
  await w.exited;
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await db?.drop();
});

async function finished(batchId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "select count(*)::int as n from everruns.batch_items where batch_id = $1 and status in ('succeeded', 'failed', 'cancelled')",
    [batchId],
  );
  return rows[0]!.n;
}

describe("a batch under kill -9", () => {
  it("finishes every item exactly once while its workers are killed mid-step", async () => {
    const ITEMS = 120;
    const PARALLEL = 8;
    await db.pool.query("create table public.crash_results (custom_id text not null, status text, run_id uuid, output jsonb)");
    // a two-step item (a tool call, then the answer), each LLM call 80 ms: kills land mid-step
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "echo", tool_calls: [{ name: "echo", arguments: { n: 1 } }], delay_ms: 80 },
        { text: "done", delay_ms: 80 },
      ],
    });
    const { rows } = await db.pool.query<{ id: string }>(
      "insert into everruns.batches (agent_id, max_parallel, results_table) values ($1, $2, 'public.crash_results') returning id",
      [agent, PARALLEL],
    );
    const batchId = rows[0]!.id;
    await db.pool.query(
      `insert into everruns.batch_items (batch_id, custom_id, input)
       select $1, 'c' || g, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'n' || g)))
         from generate_series(1, $2) g`,
      [batchId, ITEMS],
    );
    let a = await start();
    const b = await start();
    await db.pool.query("select everruns.start_batch($1)", [batchId]);

    let maxInFlight = 0;
    let kills = 0;
    const sampler = (async () => {
      for (;;) {
        const { rows: s } = await db.pool.query<{ n: number; done: boolean }>(
          `select (select count(*)::int from everruns.batch_items where batch_id = $1 and status = 'running') as n,
                  (select finished_at is not null from everruns.batches where id = $1) as done`,
          [batchId],
        );
        maxInFlight = Math.max(maxInFlight, s[0]!.n);
        if (s[0]!.done) return;
        await sleep(25);
      }
    })();

    // kill a worker three times as the batch goes, each time while it holds steps
    for (const at of [20, 50, 80]) {
      await waitFor(`${at} items finished`, async () => (await finished(batchId)) >= at, 120_000, 25);
      await kill(a);
      kills++;
      a = await start();
    }
    await sampler;
    await kill(a);
    await kill(b);

    expect(kills).toBe(3);
    expect(maxInFlight).toBeLessThanOrEqual(PARALLEL);
    const { rows: batch } = await db.pool.query<{ status: string }>("select status from everruns.batches where id = $1", [batchId]);
    expect(batch[0]!.status).toBe("succeeded");

    // one run per item, attempts 1: a killed step was begun again in the same run
    const { rows: perItem } = await db.pool.query<{ runs: number; attempts: number; n: number }>(
      `select (select count(*)::int from everruns.runs r where r.batch_id = $1) as runs,
              max(i.attempts)::int as attempts, count(*)::int as n
         from everruns.batch_items i where i.batch_id = $1`,
      [batchId],
    );
    expect(perItem[0]).toEqual({ runs: ITEMS, attempts: 1, n: ITEMS });

    // one result row per item in the results table, each of the item's run
    const { rows: sunk } = await db.pool.query<{ rows: number; distinct_ids: number; matching: number }>(
      `select count(*)::int as rows, count(distinct c.custom_id)::int as distinct_ids,
              count(*) filter (where c.run_id = i.run_id and c.status = 'succeeded' and c.output ->> 'text' = 'done')::int as matching
         from public.crash_results c join everruns.batch_items i on i.batch_id = $1 and i.custom_id = c.custom_id`,
      [batchId],
    );
    expect(sunk[0]).toEqual({ rows: ITEMS, distinct_ids: ITEMS, matching: ITEMS });

    // counters = recount
    const { rows: counts } = await db.pool.query(
      `select p.total::int, p.succeeded::int, p.running::int, p.queued::int,
              (select count(*)::int from everruns.batch_items where batch_id = $1 and status = 'succeeded') as recount
         from everruns.batch_progress($1) p`,
      [batchId],
    );
    expect(counts[0]).toEqual({ total: ITEMS, succeeded: ITEMS, running: 0, queued: 0, recount: ITEMS });

    // every result once through the cursor
    const seen = new Map<string, number>();
    let cursor: [string | null, string | null] = [null, null];
    await waitFor(
      "every result through the cursor",
      async () => {
        for (;;) {
          const { rows: page } = await db.pool.query<{ id: string; custom_id: string; result_xid: string }>(
            "select id, custom_id, result_xid::text from everruns.batch_results($1, $2::xid8, $3, 25)",
            [batchId, cursor[0], cursor[1]],
          );
          for (const r of page) seen.set(r.custom_id, (seen.get(r.custom_id) ?? 0) + 1);
          if (page.length > 0) cursor = [page[page.length - 1]!.result_xid, page[page.length - 1]!.id];
          if (page.length < 25) break;
        }
        return seen.size === ITEMS;
      },
      60_000,
      100,
    );
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });
});
