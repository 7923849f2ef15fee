// Batches (issue 15, 000025): items run as ordinary runs, at most max_parallel at once, the next
// released in the transaction that ends the previous one; counters that equal a recount; results
// in a user table exactly once and through a cursor that never misses one; pause, resume,
// cancel, retry, stop after failures, deadlines; and what the database refuses.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "./helpers.ts";

const input = (text: string) => JSON.stringify({ messages: [{ role: "user", content: text }] });

let db: TestDatabase;
let workers: WorkerHandle[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const log = consoleLogger("[worker]", "warn");
  workers = await Promise.all(
    Array.from({ length: 2 }, () => startWorker({ databaseUrl: db.url, concurrency: 8, dbConnections: 4, shutdownTimeoutMs: 2000, log })),
  );
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await db?.drop();
});

interface BatchOptions {
  maxParallel?: number;
  items?: number;
  onItemError?: "continue" | "stop_after";
  stopAfterFailures?: number;
  resultsTable?: string;
  deadline?: string;
}

async function createBatch(agent: string, options: BatchOptions = {}): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into everruns.batches (agent_id, max_parallel, on_item_error, stop_after_failures, results_table, deadline)
     values ($1, $2, $3, $4, $5, $6) returning id`,
    [
      agent,
      options.maxParallel ?? 3,
      options.onItemError ?? "continue",
      options.stopAfterFailures ?? null,
      options.resultsTable ?? null,
      options.deadline ?? null,
    ],
  );
  const id = rows[0]!.id;
  await db.pool.query(
    `insert into everruns.batch_items (batch_id, custom_id, input)
     select $1, 'item-' || g, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'n' || g)))
       from generate_series(1, $2) g`,
    [id, options.items ?? 10],
  );
  return id;
}

interface Batch {
  status: string;
  error: { code: string; message: string } | null;
  finished_at: Date | null;
}

async function batchOf(id: string): Promise<Batch> {
  const { rows } = await db.pool.query<Batch>("select status, error, finished_at from everruns.batches where id = $1", [id]);
  return rows[0]!;
}

/** Polls `read` until `done` holds of what it read, and returns that. */
async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms; last read ${JSON.stringify(value)}`);
    await sleep(20);
  }
}

async function waitEnded(id: string, timeoutMs = 60_000): Promise<Batch> {
  return waitFor(
    () => batchOf(id),
    (batch) => batch.finished_at !== null,
    timeoutMs,
  );
}

interface Counts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

async function progress(id: string): Promise<Counts & { eta_seconds: number | null; items_per_minute: number }> {
  const { rows } = await db.pool.query<Counts & { eta_seconds: number | null; items_per_minute: number }>(
    `select total::int, queued::int, running::int, succeeded::int, failed::int, cancelled::int, eta_seconds, items_per_minute
       from everruns.batch_progress($1)`,
    [id],
  );
  return rows[0]!;
}

async function recount(id: string): Promise<Counts> {
  const { rows } = await db.pool.query<Counts>(
    `select count(*)::int as total,
            count(*) filter (where status = 'queued')::int as queued, count(*) filter (where status = 'running')::int as running,
            count(*) filter (where status = 'succeeded')::int as succeeded, count(*) filter (where status = 'failed')::int as failed,
            count(*) filter (where status = 'cancelled')::int as cancelled
       from everruns.batch_items where batch_id = $1`,
    [id],
  );
  return rows[0]!;
}

function withoutRates<T extends Counts>(p: T): Counts {
  return { total: p.total, queued: p.queued, running: p.running, succeeded: p.succeeded, failed: p.failed, cancelled: p.cancelled };
}

/** The error a query fails with (failing the test when it succeeds). */
async function failure(query: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await query;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error("the query succeeded");
}

interface ResultRow {
  id: string;
  custom_id: string;
  status: string;
  result_xid: string;
}

/** Every result through the cursor, page by page (pages of `pageSize`). */
async function allResults(id: string, pageSize = 7): Promise<{ custom_id: string; status: string }[]> {
  const out: { custom_id: string; status: string }[] = [];
  let cursor: { xid: string; id: string } | null = null;
  for (;;) {
    const page: ResultRow[] = (
      await db.pool.query<ResultRow>("select id, custom_id, status, result_xid::text from everruns.batch_results($1, $2::xid8, $3, $4)", [
        id,
        cursor?.xid ?? null,
        cursor?.id ?? null,
        pageSize,
      ])
    ).rows;
    out.push(...page.map((r) => ({ custom_id: r.custom_id, status: r.status })));
    if (page.length < pageSize) return out;
    const last: ResultRow = page[page.length - 1]!;
    cursor = { xid: last.result_xid, id: last.id };
  }
}

describe("a batch", () => {
  it("runs every item once, never more than max_parallel at once, with counters equal to a recount and each result in the results table once", async () => {
    const table = `results_${randomBytes(4).toString("hex")}`;
    await db.pool.query(
      `create table public.${table} (id bigserial primary key, batch_id uuid, custom_id text not null, status text, output jsonb, run_id uuid)`,
    );
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "done", delay_ms: 60 }] });
    const id = await createBatch(agent, { maxParallel: 4, items: 30, resultsTable: table });
    expect(withoutRates(await progress(id))).toEqual({ total: 30, queued: 30, running: 0, succeeded: 0, failed: 0, cancelled: 0 });

    const started = await db.pool.query<{ status: string }>("select status from everruns.start_batch($1)", [id]);
    expect(started.rows[0]!.status).toBe("running");

    // the window: items running and batch runs not ended, sampled while it runs
    let maxRunning = 0;
    let maxRuns = 0;
    let samples = 0;
    let sawEta = false;
    for (;;) {
      const { rows } = await db.pool.query<{ items: number; runs: number; finished: boolean }>(
        `select (select count(*)::int from everruns.batch_items where batch_id = $1 and status = 'running') as items,
                (select count(*)::int from everruns.runs where batch_id = $1 and status not in ('succeeded', 'failed', 'cancelled')) as runs,
                (select finished_at is not null from everruns.batches where id = $1) as finished`,
        [id],
      );
      maxRunning = Math.max(maxRunning, rows[0]!.items);
      maxRuns = Math.max(maxRuns, rows[0]!.runs);
      samples++;
      const p = await progress(id);
      if (p.queued > 0 && p.eta_seconds !== null) {
        expect(p.eta_seconds).toBeGreaterThanOrEqual(0);
        sawEta = true;
      }
      if (rows[0]!.finished) break;
      await sleep(20);
    }
    expect(samples).toBeGreaterThan(3);
    expect(maxRunning).toBeLessThanOrEqual(4);
    expect(maxRuns).toBeLessThanOrEqual(4);
    expect(maxRunning).toBeGreaterThan(1);
    expect(sawEta).toBe(true);

    const batch = await batchOf(id);
    expect(batch.status).toBe("succeeded");
    const counts = await recount(id);
    expect(counts).toEqual({ total: 30, queued: 0, running: 0, succeeded: 30, failed: 0, cancelled: 0 });
    expect(withoutRates(await progress(id))).toEqual(counts);

    // each item: one run, its output on the item
    const { rows: items } = await db.pool.query<{ n: number; outputs: number; attempts: number }>(
      `select count(distinct r.id)::int as n, count(i.output)::int as outputs, max(i.attempts)::int as attempts
         from everruns.batch_items i join everruns.runs r on r.batch_item_id = i.id where i.batch_id = $1`,
      [id],
    );
    expect(items[0]).toEqual({ n: 30, outputs: 30, attempts: 1 });

    const { rows: sunk } = await db.pool.query<{ custom_id: string; n: number; status: string; text: string }>(
      `select custom_id, count(*)::int as n, min(status) as status, min(output ->> 'text') as text from public.${table} where batch_id = $1 group by custom_id`,
      [id],
    );
    expect(sunk).toHaveLength(30);
    expect(sunk.every((r) => r.n === 1 && r.status === "succeeded" && r.text === "done")).toBe(true);

    const results = await waitFor(
      () => allResults(id),
      (r) => r.length === 30,
      60_000,
    );
    expect(new Set(results.map((r) => r.custom_id)).size).toBe(30);
  });

  it("pauses (nothing new starts), resumes, and is cancelled with its running and queued items", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 400 }] });
    const id = await createBatch(agent, { maxParallel: 2, items: 12 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    await waitFor(
      () => recount(id),
      (c) => c.succeeded >= 2,
      30_000,
    );

    await db.pool.query("select everruns.pause_batch($1)", [id]);
    const atPause = await recount(id);
    // what was running finishes; nothing new is released
    await waitFor(
      () => recount(id),
      (c) => c.running === 0,
      30_000,
    );
    await sleep(300);
    const paused = await recount(id);
    expect(paused.queued).toBe(atPause.queued);
    expect((await batchOf(id)).status).toBe("paused");

    await db.pool.query("select everruns.resume_batch($1)", [id]);
    await waitFor(
      () => recount(id),
      (c) => c.running > 0 || c.queued === 0,
      30_000,
    );

    const { rows } = await db.pool.query<{ status: string }>("select status from everruns.cancel_batch($1)", [id]);
    expect(rows[0]!.status).toBe("cancelled");
    const ended = await waitEnded(id);
    expect(ended.error?.code).toBe("cancelled");
    const counts = await recount(id);
    expect(counts.running).toBe(0);
    expect(counts.queued).toBe(0);
    expect(counts.cancelled).toBeGreaterThan(0);
    expect(withoutRates(await progress(id))).toEqual(counts);
    // no run of it is left in flight
    const { rows: live } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.runs where batch_id = $1 and status not in ('succeeded', 'failed', 'cancelled')",
      [id],
    );
    expect(live[0]!.n).toBe(0);
    // the controls of an ended batch say so
    await expect(db.pool.query("select everruns.resume_batch($1)", [id])).rejects.toMatchObject({ code: "EV008" });
  });

  it("ends completed_with_errors when items fail, and retries the failed ones keeping their custom_id", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x", error: "bad_request" }] });
    const id = await createBatch(agent, { maxParallel: 3, items: 5 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    const ended = await waitEnded(id);
    expect(ended.status).toBe("completed_with_errors");
    expect(await recount(id)).toMatchObject({ failed: 5, succeeded: 0 });
    // a result is given once every older transaction of the cluster has ended
    await waitFor(
      () => allResults(id),
      (r) => r.length === 5,
      60_000,
    );

    const { rows } = await db.pool.query<{ n: number }>("select everruns.retry_failed_items($1, array['item-2', 'item-4']) as n", [id]);
    expect(rows[0]!.n).toBe(2);
    const again = await waitEnded(id);
    expect(again.status).toBe("completed_with_errors");
    const { rows: items } = await db.pool.query<{ custom_id: string; attempts: number; runs: number }>(
      `select i.custom_id, i.attempts, (select count(*)::int from everruns.runs r where r.batch_item_id = i.id) as runs
         from everruns.batch_items i where i.batch_id = $1 order by i.ordinal`,
      [id],
    );
    expect(items.map((i) => [i.custom_id, i.attempts, i.runs])).toEqual([
      ["item-1", 1, 1],
      ["item-2", 2, 2],
      ["item-3", 1, 1],
      ["item-4", 2, 2],
      ["item-5", 1, 1],
    ]);
    expect(withoutRates(await progress(id))).toEqual(await recount(id));
    // a retried item finishes again, later in the results
    const after = await waitFor(
      () => allResults(id),
      (r) => r.length === 5 && r.slice(-2).every((x) => x.custom_id === "item-2" || x.custom_id === "item-4"),
      60_000,
    );
    expect(
      after
        .slice(-2)
        .map((r) => r.custom_id)
        .sort(),
    ).toEqual(["item-2", "item-4"]);
  });

  it("stops after stop_after_failures failures: no more items start, the rest never run", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x", error: "bad_request" }] });
    const id = await createBatch(agent, { maxParallel: 2, items: 40, onItemError: "stop_after", stopAfterFailures: 3 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    const ended = await waitEnded(id);
    expect(ended.status).toBe("failed");
    expect(ended.error?.code).toBe("too_many_failures");
    const counts = await recount(id);
    // the failures that tripped it (counted under the batch's lock), and those in flight then
    expect(counts.failed).toBeGreaterThanOrEqual(3);
    expect(counts.failed).toBeLessThanOrEqual(3 + 2);
    // the sweep finishes its queued items
    await db.pool.query("select everruns_private.sweep_batches()");
    const swept = await recount(id);
    expect(swept.queued).toBe(0);
    expect(swept.cancelled).toBe(40 - swept.failed);
    expect(withoutRates(await progress(id))).toEqual(swept);
  });

  it("fails at its deadline, cancelling what runs", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow", delay_ms: 5000 }] });
    const { rows } = await db.pool.query<{ at: string }>("select (now() + interval '1 second')::text as at");
    const id = await createBatch(agent, { maxParallel: 2, items: 6, deadline: rows[0]!.at });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    await sleep(1200);
    await db.pool.query("select everruns_private.sweep_batches()");
    const ended = await waitEnded(id);
    expect(ended.status).toBe("failed");
    expect(ended.error?.code).toBe("deadline_exceeded");
    expect(await recount(id)).toMatchObject({ queued: 0, running: 0, cancelled: 6 });
  });

  it("lowers and raises max_parallel while it runs", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok", delay_ms: 150 }] });
    const id = await createBatch(agent, { maxParallel: 4, items: 24 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    await waitFor(
      () => recount(id),
      (c) => c.running === 4,
      30_000,
    );
    await db.pool.query("select everruns.set_batch_parallel($1, 1)", [id]);
    // the runs in flight end without replacement until one is left
    await waitFor(
      () => recount(id),
      (c) => c.running <= 1,
      30_000,
    );
    let maxAfter = 0;
    for (let i = 0; i < 15; i++) {
      maxAfter = Math.max(maxAfter, (await recount(id)).running);
      await sleep(40);
    }
    // (two runs ending at once may each see the other in flight: then none is left, and the
    // sweep releases one — never more than the bound)
    expect(maxAfter).toBeLessThanOrEqual(1);
    // the sweep sees the lowered bound reached and clears the flag; raising releases at once
    await db.pool.query("select everruns_private.sweep_batches()");
    const { rows } = await db.pool.query<{ max_parallel_lowered: boolean }>("select max_parallel_lowered from everruns.batches where id = $1", [id]);
    expect(rows[0]!.max_parallel_lowered).toBe(false);
    await db.pool.query("select everruns.set_batch_parallel($1, 3)", [id]);
    await waitFor(
      () => recount(id),
      (c) => c.running >= 2 || c.queued === 0,
      30_000,
    );
    expect((await waitEnded(id)).status).toBe("succeeded");
    expect(withoutRates(await progress(id))).toEqual(await recount(id));
  });

  it("stays inside its workspace's max_running_runs", async () => {
    const { rows: ws } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`ws_${randomBytes(4).toString("hex")}`]);
    await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws[0]!.id, JSON.stringify({ max_running_runs: 1 })]);
    const { rows: agents } = await db.pool.query<{ id: string }>(
      "insert into everruns.agents (workspace_id, name, config) values ($1, 'limited', $2) returning id",
      [ws[0]!.id, JSON.stringify({ provider: "scripted", script: [{ text: "ok", delay_ms: 50 }] })],
    );
    const id = await createBatch(agents[0]!.id, { maxParallel: 4, items: 8 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    let maxActive = 0;
    for (;;) {
      const { rows } = await db.pool.query<{ active: number; finished: boolean }>(
        `select (select count(*)::int from everruns.runs where batch_id = $1 and (status = 'running' or (status = 'queued' and admitted_at is not null))) as active,
                (select finished_at is not null from everruns.batches where id = $1) as finished`,
        [id],
      );
      maxActive = Math.max(maxActive, rows[0]!.active);
      if (rows[0]!.finished) break;
      await sleep(20);
    }
    expect(maxActive).toBe(1);
    expect((await batchOf(id)).status).toBe("succeeded");
  });
});

describe("the results cursor", () => {
  it("waits for this database's older transactions, not another database's", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const id = await createBatch(agent, { maxParallel: 2, items: 2 });
    // a transaction with an id, open in another database of the server, and one in this database
    const other = new URL(db.url);
    other.pathname = "/postgres";
    const elsewhere = new pg.Client({ connectionString: other.toString() });
    const here = new pg.Client({ connectionString: db.url });
    await elsewhere.connect();
    await here.connect();
    try {
      await elsewhere.query("begin");
      await elsewhere.query("select pg_current_xact_id()");
      await db.pool.query("select everruns.start_batch($1)", [id]);
      await waitEnded(id);
      // another database's open transaction does not hold the results back
      const seen = await waitFor(
        () => allResults(id),
        (r) => r.length === 2,
        30_000,
      );
      expect(seen).toHaveLength(2);

      // one of this database, older than a result, does until it ends
      const second = await createBatch(agent, { maxParallel: 2, items: 2 });
      await here.query("begin");
      await here.query("select pg_current_xact_id()");
      await db.pool.query("select everruns.start_batch($1)", [second]);
      await waitEnded(second);
      await sleep(300);
      expect(await allResults(second)).toHaveLength(0);
      await here.query("commit");
      await waitFor(
        () => allResults(second),
        (r) => r.length === 2,
        30_000,
      );
    } finally {
      await elsewhere.query("rollback").catch(() => undefined);
      await elsewhere.end();
      await here.end();
    }
  });
});

describe("an item that waits for an approval", () => {
  it("stays running while its run is interrupted; the answering run carries it on to its end", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "may I?", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "approved and done" }],
    });
    const id = await createBatch(agent, { maxParallel: 1, items: 2 });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    const first = await waitFor(
      async () =>
        (
          await db.pool.query<{ id: string; interrupts: { interrupts?: { id: string }[] } | null; status: string }>(
            "select r.id, r.interrupts, r.status from everruns.runs r where r.batch_id = $1 order by r.created_at limit 1",
            [id],
          )
        ).rows[0],
      (run) => run?.status === "interrupted",
      30_000,
    );
    await sleep(200);
    // the window holds: the interrupted item still counts, the second has not started
    expect(await recount(id)).toMatchObject({ running: 1, queued: 1 });

    const interruptId = first!.interrupts!.interrupts![0]!.id;
    const { rows } = await db.pool.query<{ id: string; batch_id: string; batch_item_id: string }>(
      "insert into everruns.runs (agent_id, parent_run_id, input) values ($1, $2, $3) returning id, batch_id, batch_item_id",
      [agent, first!.id, JSON.stringify({ messages: [], resume: [{ interruptId, status: "resolved", payload: { approved: true } }] })],
    );
    expect(rows[0]!.batch_id).toBe(id);
    const { rows: item } = await db.pool.query<{ run_id: string; id: string }>(
      "select id, run_id from everruns.batch_items where batch_id = $1 and custom_id = 'item-1'",
      [id],
    );
    expect(item[0]!.run_id).toBe(rows[0]!.id);
    expect(rows[0]!.batch_item_id).toBe(item[0]!.id);

    // the second item's run gets interrupted too once the first is done: answer it the same way
    const second = await waitFor(
      async () =>
        (
          await db.pool.query<{ id: string; interrupts: { interrupts?: { id: string }[] } | null; status: string }>(
            "select r.id, r.interrupts, r.status from everruns.runs r join everruns.batch_items i on i.run_id = r.id where i.batch_id = $1 and i.custom_id = 'item-2'",
            [id],
          )
        ).rows[0],
      (run) => run?.status === "interrupted",
      30_000,
    );
    expect(await recount(id)).toMatchObject({ succeeded: 1, running: 1 });
    await db.pool.query("insert into everruns.runs (agent_id, parent_run_id, input) values ($1, $2, $3)", [
      agent,
      second!.id,
      JSON.stringify({ messages: [], resume: [{ interruptId: second!.interrupts!.interrupts![0]!.id, status: "resolved", payload: { approved: true } }] }),
    ]);
    expect((await waitEnded(id)).status).toBe("succeeded");
    const { rows: outputs } = await db.pool.query<{ text: string }>(
      "select output ->> 'text' as text from everruns.batch_items where batch_id = $1 order by ordinal",
      [id],
    );
    expect(outputs.map((o) => o.text)).toEqual(["approved and done", "approved and done"]);
  });
});

describe("what a batch refuses", () => {
  it("checks items as run inputs, custom ids as unique, and takes no items once ended", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const id = await createBatch(agent, { items: 1 });
    expect((await failure(db.pool.query("insert into everruns.batch_items (batch_id, input) values ($1, '{\"messages\": 3}')", [id]))).message).toMatch(
      /messages/,
    );
    await expect(
      db.pool.query("insert into everruns.batch_items (batch_id, custom_id, input) values ($1, 'item-1', $2)", [id, input("again")]),
    ).rejects.toMatchObject({
      code: "23505",
    });
    // the default custom id is the ordinal
    const { rows } = await db.pool.query<{ custom_id: string; ordinal: string }>(
      "insert into everruns.batch_items (batch_id, input) values ($1, $2) returning custom_id, ordinal::text",
      [id, input("x")],
    );
    expect(rows[0]!.custom_id).toBe(rows[0]!.ordinal);

    await db.pool.query("select everruns.cancel_batch($1)", [id]);
    const late = await failure(db.pool.query("insert into everruns.batch_items (batch_id, input) values ($1, $2)", [id, input("late")]));
    expect(late.code).toBe("EV003");
    expect(late.message).toMatch(/has ended/);
    await expect(db.pool.query("select everruns.start_batch($1)", [id])).rejects.toMatchObject({ code: "EV008" });
    await expect(db.pool.query("select everruns.start_batch(gen_random_uuid())")).rejects.toMatchObject({ code: "EV005" });
  });

  it("lets a role bound with write create and control its workspace's batches, and nothing once unbound", async () => {
    const role = `batch_role_${randomBytes(4).toString("hex")}`;
    await db.pool.query(`create role ${role} login`);
    const url = new URL(db.url);
    url.username = role;
    url.password = "";
    const session = new pg.Client({ connectionString: url.toString() });
    try {
      await db.pool.query("select everruns.bind_role($1, 'default', 'write')", [role]);
      const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
      await session.connect();
      const { rows } = await session.query<{ id: string }>("insert into everruns.batches (agent_id) values ($1) returning id", [agent]);
      const id = rows[0]!.id;
      await session.query("insert into everruns.batch_items (batch_id, custom_id, input) values ($1, 'a', $2)", [id, input("hi")]);
      expect((await failure(session.query("insert into everruns.batches (agent_id, results_table) values ($1, 'public.x')", [agent]))).code).toBe("42501");
      await session.query("select everruns.pause_batch($1)", [id]);
      await db.pool.query("select everruns.unbind_role($1)", [role]);
      expect((await failure(session.query("select everruns.cancel_batch($1)", [id]))).code).toBe("42501");
      expect((await failure(session.query("select * from everruns.batch_progress($1)", [id]))).code).toBe("42501");
    } finally {
      await session.end().catch(() => undefined);
      await db.pool.query("select everruns.unbind_role($1)", [role]).catch(() => undefined);
      await db.pool.query(`drop owned by ${role}`).catch(() => undefined);
      await db.pool.query(`drop role if exists ${role}`).catch(() => undefined);
    }
  });

  it("refuses a results table that does not exist, lacks custom_id, or belongs to Everruns", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const attempt = (table: string) => db.pool.query("insert into everruns.batches (agent_id, results_table) values ($1, $2)", [agent, table]);
    expect(await failure(attempt("public.no_such_table"))).toMatchObject({ code: "EV003" });
    expect((await failure(attempt("public.no_such_table"))).message).toMatch(/no such table/);
    await db.pool.query("create table public.no_custom_id (x int)");
    expect(await failure(attempt("public.no_custom_id"))).toMatchObject({ code: "EV003" });
    expect((await failure(attempt("public.no_custom_id"))).message).toMatch(/custom_id/);
    expect(await failure(attempt("everruns.runs"))).toMatchObject({ code: "EV003" });
    expect((await failure(attempt("everruns.runs"))).message).toMatch(/belongs to Everruns/);
    await expect(attempt("everruns_private.workspace_limits")).rejects.toMatchObject({ code: "EV003" });
  });

  it("keeps a result the results table refuses on the item, and the run's commit never fails for it", async () => {
    const table = `strict_${randomBytes(4).toString("hex")}`;
    await db.pool.query(`create table public.${table} (custom_id text not null check (custom_id <> 'item-2'))`);
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok" }] });
    const id = await createBatch(agent, { items: 3, resultsTable: table });
    await db.pool.query("select everruns.start_batch($1)", [id]);
    expect((await waitEnded(id)).status).toBe("succeeded");
    const { rows } = await db.pool.query<{ custom_id: string; sink_error: string | null }>(
      "select custom_id, sink_error from everruns.batch_items where batch_id = $1 order by ordinal",
      [id],
    );
    expect(rows.map((r) => [r.custom_id, r.sink_error !== null])).toEqual([
      ["item-1", false],
      ["item-2", true],
      ["item-3", false],
    ]);
    const { rows: sunk } = await db.pool.query<{ n: number }>(`select count(*)::int as n from public.${table}`);
    expect(sunk[0]!.n).toBe(2);
  });
});
