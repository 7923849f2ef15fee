// The data lifecycle (issue 19, 000038): run_events and run_steps partitioned by their run's
// creation month, per-workspace retention of finished runs' events and steps with time injected
// (p_now), whole months dropped only when every run of the month expired (a month whose runs may all
// go is marked in place and dropped, without row deletes: 000039), reruns and redrives of an
// expired run refused, a database with history migrated from 000037, and the worker's maintenance
// running while the engine commits steps.
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { createPool, type Pool } from "../pool.ts";
import { listMigrations, migrate } from "../migrate.ts";
import { databaseUrl } from "./global-setup.ts";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "./helpers.ts";
import type { Logger } from "../../lib/logger.ts";
import { startWorker } from "../../worker/main.ts";
import { Maintenance } from "../../worker/maintenance.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

async function workspace(retentionDays: number | null): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`ws_${randomBytes(4).toString("hex")}`]);
  if (retentionDays !== null) await db.pool.query("select everruns.set_workspace_retention($1, $2)", [rows[0]!.id, retentionDays]);
  return rows[0]!.id;
}

async function agentIn(workspaceId: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    workspaceId,
    `agent_${randomBytes(4).toString("hex")}`,
    JSON.stringify({ provider: "scripted", script: [{ text: "done" }] }),
  ]);
  return rows[0]!.id;
}

interface RunSpec {
  agent: string;
  createdAt?: string;
  status: "succeeded" | "failed" | "cancelled" | "running" | "interrupted";
  finishedAt?: string;
  threadOf?: string;
  rootRunId?: string;
  events?: number;
  steps?: number;
}

/**
 * Moves a run's created_at (before it has rows): tg_runs__partition_key_fixed refuses that, so the
 * fixture does it with the session's triggers off (session_replication_role = replica), as a
 * restore would.
 */
async function backdate(id: string, createdAt: string): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query("update everruns.runs set created_at = $2 where id = $1", [id, createdAt]);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
}

/**
 * `n` queued runs of `agent` created `createdAt` plus 1, 2, … seconds (in the order of the ids
 * returned), backdated before they have rows as backdate() does.
 */
async function insertBackdatedRuns(agent: string, createdAt: string, n: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into everruns.runs (workspace_id, agent_id, input)
     select a.workspace_id, a.id, '{"messages": [{"role": "user", "content": "hi"}]}' from everruns.agents a, generate_series(1, $2::int) where a.id = $1
     returning id`,
    [agent, n],
  );
  const ids = rows.map((r) => r.id);
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    await client.query(
      `update everruns.runs r set created_at = $2::timestamptz + make_interval(secs => u.n)
         from unnest($1::uuid[]) with ordinality u(id, n) where r.id = u.id`,
      [ids, createdAt],
    );
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
  return ids;
}

/** `fn` as the API's database role (everruns_api) in workspace `workspaceId`, in a transaction rolled back after. */
async function asApi<T>(workspaceId: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("set local role everruns_api");
    await client.query("select set_config('everruns.workspace_id', $1, true)", [workspaceId]);
    return await fn(client);
  } finally {
    await client.query("rollback").catch(() => undefined);
    client.release();
  }
}

/**
 * A run with `events` events and `steps` steps, created at `createdAt` (its rows go to that month's
 * partition), then put in `status` (finished at `finishedAt`) as the engine would leave it.
 */
async function makeRun(spec: RunSpec): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into everruns.runs (workspace_id, agent_id, input, thread_id)
     select a.workspace_id, a.id, '{"messages": [{"role": "user", "content": "hi"}]}',
            (select r.thread_id from everruns.runs r where r.id = $2::uuid)
       from everruns.agents a where a.id = $1
     returning id`,
    [spec.agent, spec.threadOf ?? null],
  );
  const id = rows[0]!.id;
  if (spec.createdAt) await backdate(id, spec.createdAt);
  await db.pool.query(
    `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
     select r.id, g, r.workspace_id, 'CUSTOM', jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', g),
            everruns_private.run_partition_key(r.created_at, r.legacy_history)
       from everruns.runs r, generate_series(1, $2::int) g where r.id = $1`,
    [id, spec.events ?? 3],
  );
  await db.pool.query(
    `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, started_at, finished_at, run_created_at)
     select r.id, g, r.workspace_id, 'tool', 'echo', 'succeeded', 1, now(), now(),
            everruns_private.run_partition_key(r.created_at, r.legacy_history)
       from everruns.runs r, generate_series(1, $2::int) g where r.id = $1`,
    [id, spec.steps ?? 2],
  );
  await db.pool.query("update everruns.runs set event_seq = $2, step_cursor = $3 + 1 where id = $1", [id, spec.events ?? 3, spec.steps ?? 2]);
  if (spec.rootRunId) {
    await db.pool.query("update everruns.runs set caller_run_id = $2, root_run_id = $2, caller_tool_call_id = $3 where id = $1", [
      id,
      spec.rootRunId,
      `call_${randomBytes(3).toString("hex")}`,
    ]);
  }
  await db.pool.query("update everruns.runs set status = $2, finished_at = $3 where id = $1", [
    id,
    spec.status,
    spec.status === "running" ? null : (spec.finishedAt ?? new Date().toISOString()),
  ]);
  return id;
}

async function rowCounts(ids: string[]): Promise<Record<string, { events: number; steps: number }>> {
  const { rows } = await db.pool.query<{ id: string; events: number; steps: number }>(
    `select r.id, (select count(*)::int from everruns.run_events e where e.run_id = r.id) as events,
            (select count(*)::int from everruns.run_steps s where s.run_id = r.id) as steps
       from everruns.runs r where r.id = any($1::uuid[])`,
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.id, { events: r.events, steps: r.steps }]));
}

async function partitions(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    "select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent in ('everruns.run_events'::regclass, 'everruns.run_steps'::regclass) order by 1",
  );
  return rows.map((r) => r.name);
}

interface Totals {
  runs_expired: number;
  rows_deleted: number;
  partitions_dropped: number;
  calls: number;
}

/** apply_retention until it does nothing, as the worker's maintenance does. */
async function retainUntilDone(now: string, batch = 2): Promise<Totals> {
  const totals: Totals = { runs_expired: 0, rows_deleted: 0, partitions_dropped: 0, calls: 0 };
  for (;;) {
    const { rows } = await db.pool.query<{ runs_expired: number; rows_deleted: string; partitions_dropped: number }>(
      "select * from everruns_private.apply_retention($1, $2)",
      [now, batch],
    );
    const r = rows[0]!;
    totals.calls += 1;
    if (r.runs_expired === 0 && r.partitions_dropped === 0 && Number(r.rows_deleted) === 0) return totals;
    totals.runs_expired += r.runs_expired;
    totals.rows_deleted += Number(r.rows_deleted);
    totals.partitions_dropped += r.partitions_dropped;
    if (totals.calls > 100) throw new Error("apply_retention never finished");
  }
}

describe("retention", () => {
  it("removes exactly the expired finished runs' events and steps of the workspace with a retention, and drops a month only when all its runs expired", async () => {
    const A = await workspace(30);
    const B = await workspace(null);
    const agentA = await agentIn(A);
    const agentB = await agentIn(B);
    // months of their own, as if long ago
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-01-15', 1)");
    expect(await partitions()).toEqual(expect.arrayContaining(["run_events_p202501", "run_steps_p202501", "run_events_p202502", "run_steps_p202502"]));

    const old = { createdAt: "2025-01-10T12:00:00Z", finishedAt: "2025-01-11T12:00:00Z" };
    const feb = { createdAt: "2025-02-10T12:00:00Z", finishedAt: "2025-02-11T12:00:00Z" };
    const aJan1 = await makeRun({ agent: agentA, status: "succeeded", ...old, events: 5, steps: 4 });
    const aJan2 = await makeRun({ agent: agentA, status: "failed", ...old });
    const aFeb = await makeRun({ agent: agentA, status: "cancelled", ...feb, events: 4, steps: 1 });
    const bFeb = await makeRun({ agent: agentB, status: "succeeded", ...feb });
    // this month's: retention counts from p_now, 60 days from now
    const now = (await db.pool.query<{ t: string }>("select (now() + interval '60 days')::text as t")).rows[0]!.t;
    const aDone = await makeRun({ agent: agentA, status: "succeeded", events: 6, steps: 3 });
    const aRecent = await makeRun({ agent: agentA, status: "succeeded", finishedAt: new Date(Date.now() + 40 * 86_400_000).toISOString() });
    const aLive = await makeRun({ agent: agentA, status: "running" });
    const aRoot = await makeRun({ agent: agentA, status: "running" });
    const aChild = await makeRun({ agent: agentA, status: "succeeded", rootRunId: aRoot });
    // a finished run whose thread's latest run waits for an answer (an interrupt): the answer's run reads it
    const aBeforeInterrupt = await makeRun({ agent: agentA, status: "succeeded" });
    const aInterrupted = await makeRun({ agent: agentA, status: "interrupted", threadOf: aBeforeInterrupt });
    const bDone = await makeRun({ agent: agentB, status: "succeeded" });
    const all = [aJan1, aJan2, aFeb, bFeb, aDone, aRecent, aLive, aRoot, aChild, aInterrupted, aBeforeInterrupt, bDone];
    const before = await rowCounts(all);
    const expired = [aJan1, aJan2, aFeb, aDone];

    const totals = await retainUntilDone(now);
    expect(totals).toMatchObject({ runs_expired: 4, partitions_dropped: 1 });
    // January's rows went with its partitions; February's and this month's were deleted
    expect(totals.rows_deleted).toBe(before[aFeb]!.events + before[aFeb]!.steps + before[aDone]!.events + before[aDone]!.steps);

    const after = await rowCounts(all);
    for (const id of all) expect({ id, ...after[id] }).toEqual({ id, ...(expired.includes(id) ? { events: 0, steps: 0 } : before[id]) });
    const { rows: marked } = await db.pool.query<{ id: string; at: Date }>(
      "select id, history_expired_at as at from everruns.runs where id = any($1::uuid[]) and history_expired_at is not null",
      [all],
    );
    expect(marked.map((r) => r.id).sort()).toEqual([...expired].sort());
    for (const r of marked) expect(r.at.toISOString()).toBe(new Date(now).toISOString());
    const names = await partitions();
    expect(names).not.toContain("run_events_p202501");
    expect(names).not.toContain("run_steps_p202501");
    expect(names).toEqual(expect.arrayContaining(["run_events_p202502", "run_steps_p202502"]));

    // again: nothing left to do
    expect(await retainUntilDone(now)).toEqual({ runs_expired: 0, rows_deleted: 0, partitions_dropped: 0, calls: 1 });

    // the live root ends: its finished child goes with it once the root's retention passed too
    await db.pool.query("update everruns.runs set status = 'succeeded', finished_at = now() where id = $1", [aRoot]);
    expect((await retainUntilDone(now)).runs_expired).toBe(2);
    expect(await rowCounts([aRoot, aChild])).toEqual({ [aRoot]: { events: 0, steps: 0 }, [aChild]: { events: 0, steps: 0 } });
  });

  it("refuses to rerun or redrive a run whose history expired (EV008), naming the date and the retention", async () => {
    const A = await workspace(7);
    const agent = await agentIn(A);
    const run = await makeRun({ agent, status: "failed" });
    const now = (await db.pool.query<{ t: string }>("select (now() + interval '8 days')::text as t")).rows[0]!.t;
    expect((await retainUntilDone(now)).runs_expired).toBeGreaterThanOrEqual(1);
    const day = new Date(now).toISOString().slice(0, 10);
    for (const sql of ["select everruns.rerun_run($1)", "select everruns.rerun_run($1, 1)", "select everruns.redrive_run($1, null)"]) {
      const error = (await db.pool.query(sql, [run]).then(
        () => null,
        (e: unknown) => e,
      )) as { code: string; message: string } | null;
      expect(error).toMatchObject({
        code: "EV008",
        message: `run ${run}'s history expired on ${day} under the workspace's retention of 7 days; it cannot be ${sql.includes("redrive") ? "redriven" : "rerun"}`,
      });
    }
  });

  it("set_workspace_retention checks its days and is for administrators only", async () => {
    const A = await workspace(null);
    const error = (await db.pool.query("select everruns.set_workspace_retention($1, 0)", [A]).then(
      () => null,
      (e: unknown) => e,
    )) as { code: string } | null;
    expect(error?.code).toBe("EV010");
    await db.pool.query("select everruns.set_workspace_retention($1, null)", [A]);
    const { rows } = await db.pool.query<{ public: boolean; api: boolean }>(
      `select has_function_privilege('public', 'everruns.set_workspace_retention(uuid, int)', 'execute') as public,
              exists (select from pg_roles where rolname = 'everruns_api')
                and has_function_privilege('everruns_api', 'everruns.set_workspace_retention(uuid, int)', 'execute') as api`,
    );
    expect(rows[0]).toEqual({ public: false, api: false });
  });

  it("creates partitions ahead, each once, and names them by UTC month", async () => {
    expect((await db.pool.query("select * from everruns_private.ensure_partitions('2031-12-31T23:30:00-02:00', 1)")).rows[0]).toEqual({
      created: 4,
      skipped: 0,
      held_by_default: 0,
    });
    expect((await db.pool.query("select * from everruns_private.ensure_partitions('2032-01-01T01:30:00Z', 1)")).rows[0]).toEqual({
      created: 0,
      skipped: 0,
      held_by_default: 0,
    });
    const { rows } = await db.pool.query<{ bound: string }>(
      "select pg_get_expr(c.relpartbound, c.oid) as bound from pg_class c where c.oid = 'everruns_partitions.run_steps_p203202'::regclass",
    );
    expect(rows[0]!.bound).toBe("FOR VALUES FROM ('2032-02-01 00:00:00+00') TO ('2032-03-01 00:00:00+00')");
  });
});

describe("the retention clock, the partitions of a month together, a unit's bounds (000038 review)", () => {
  let main: TestDatabase;
  beforeAll(async () => {
    // a database of its own: apply_retention at later dates expires only these tests' runs
    main = db;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    db = main;
  });

  type Ensured = { created: number; skipped: number; held_by_default: number };
  const at = async (days: number): Promise<string> =>
    (await db.pool.query<{ t: string }>("select (now() + make_interval(days => $1))::text as t", [days])).rows[0]!.t;
  const expiredOf = async (ids: string[]): Promise<string[]> =>
    (
      await db.pool.query<{ id: string }>("select id from everruns.runs where id = any($1::uuid[]) and history_expired_at is not null order by id", [ids])
    ).rows.map((r) => r.id);

  it("a unit stops at about p_max_rows events and steps (at least one run)", async () => {
    const agent = await agentIn(await workspace(30));
    const long = new Date(Date.now() - 40 * 86_400_000).toISOString();
    // event_seq 5 and step_cursor 5 each: 10 rows a run
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await makeRun({ agent, status: "succeeded", finishedAt: long, events: 5, steps: 4 }));
    const unit = async (maxRows: number) =>
      (await db.pool.query<{ runs_expired: number }>("select * from everruns_private.apply_retention(now(), 200, $1)", [maxRows])).rows[0]!.runs_expired;
    expect(await unit(15)).toBe(2);
    expect(await unit(1)).toBe(1);
    expect(await expiredOf(runs)).toEqual([...runs].sort());
  });

  it("counts an interrupted run's retention from its continuation's creation, and a run's from a rerun from one of its steps", async () => {
    const agent = await agentIn(await workspace(30));
    const longAgo = new Date(Date.now() - 100 * 86_400_000).toISOString();
    // interrupted 100 days ago, answered now (the continuation reads its steps) and finished now
    const interrupted = await makeRun({ agent, status: "running" });
    const continuation = await makeRun({ agent, status: "running", threadOf: interrupted });
    await db.pool.query("update everruns.runs set status = 'interrupted', finished_at = $2, continued_by = $3, parent_run_id = null where id = $1", [
      interrupted,
      longAgo,
      continuation,
    ]);
    await db.pool.query("update everruns.runs set parent_run_id = $2 where id = $1", [continuation, interrupted]);
    await db.pool.query("update everruns.runs set status = 'succeeded', finished_at = now() where id = $1", [continuation]);
    // failed 100 days ago, rerun from its step 1 now (the rerun reads its steps up to 1), which finished now
    const failed = await makeRun({ agent, status: "failed", finishedAt: longAgo });
    const rerun = (await db.pool.query<{ id: string }>("select everruns.rerun_run($1, 1) as id", [failed])).rows[0]!.id;
    await db.pool.query("update everruns.runs set status = 'succeeded', finished_at = now() where id = $1", [rerun]);
    const { rows: clocks } = await db.pool.query<{ id: string; later: boolean }>(
      "select r.id, everruns_private.retention_clock(r) > now() - interval '1 minute' as later from everruns.runs r where r.id = any($1::uuid[])",
      [[interrupted, failed]],
    );
    expect(clocks.every((c) => c.later)).toBe(true);
    const ids = [interrupted, continuation, failed, rerun];
    await retainUntilDone(await at(0));
    expect(await expiredOf(ids)).toEqual([]);
    await retainUntilDone(await at(29));
    expect(await expiredOf(ids)).toEqual([]);
    await retainUntilDone(await at(31));
    expect(await expiredOf(ids)).toEqual([...ids].sort());
  });

  it("leaves a run whose history expired out of its thread's history entirely, its input too", async () => {
    const agent = await agentIn(await workspace(30));
    const first = await makeRun({ agent, status: "succeeded", finishedAt: new Date(Date.now() - 100 * 86_400_000).toISOString() });
    const next = await makeRun({ agent, status: "succeeded", threadOf: first });
    await retainUntilDone(await at(0));
    expect(await expiredOf([first, next])).toEqual([first]);
    for (const sql of ["select everruns_private.run_history($1, 'thread') as h", "select everruns_private.run_history_compacted($1) as h"]) {
      const { rows } = await db.pool.query<{ h: Array<{ kind: string; run_id: string }> }>(sql, [next]);
      expect(rows[0]!.h.length).toBeGreaterThan(0);
      expect(rows[0]!.h.filter((e) => e.run_id === first)).toEqual([]);
      expect(rows[0]!.h.find((e) => e.kind === "input")?.run_id).toBe(next);
    }
  });

  it("refuses to change a run's created_at or legacy_history (EV006)", async () => {
    const run = await makeRun({ agent: await agentIn(await workspace(null)), status: "succeeded" });
    for (const sql of [
      "update everruns.runs set created_at = created_at - interval '1 day' where id = $1",
      "update everruns.runs set legacy_history = true where id = $1",
    ]) {
      const error = (await db.pool.query(sql, [run]).then(
        () => null,
        (e: unknown) => e,
      )) as { code: string } | null;
      expect(error?.code).toBe("EV006");
    }
    // the same value, or another column: fine
    await db.pool.query("update everruns.runs set created_at = created_at, updated_at = now() where id = $1", [run]);
    const { rows } = await db.pool.query<{ legacy: boolean }>(
      "insert into everruns.runs (agent_id, input, legacy_history) select agent_id, input, true from everruns.runs where id = $1 returning legacy_history as legacy",
      [run],
    );
    expect(rows[0]!.legacy).toBe(false);
  });

  it("creates a month's two partitions together or neither while the engine holds an insert, and the insert completes", async () => {
    const agent = await agentIn(await workspace(null));
    const monthParts = async (suffix: string): Promise<string[]> =>
      (await partitions()).filter((n) => n === `run_steps_p${suffix}` || n === `run_events_p${suffix}`).sort();
    const stepInsert = `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, started_at, finished_at, run_created_at)
      select r.id, r.step_cursor, r.workspace_id, 'tool', 'echo', 'succeeded', 1, now(), now(), everruns_private.run_partition_key(r.created_at, r.legacy_history)
        from everruns.runs r where r.id = $1`;
    const eventInsert = `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
      select r.id, r.event_seq + 1, r.workspace_id, 'CUSTOM', '{"type": "CUSTOM", "name": "tick"}', everruns_private.run_partition_key(r.created_at, r.legacy_history)
        from everruns.runs r where r.id = $1`;
    const engine = await db.pool.connect();
    try {
      // a. the engine writes a run of this month (its partitions exist) while a month ahead is
      // created: both partitions of that month are created, the insert is not in the way
      const current = await makeRun({ agent, status: "running", events: 1, steps: 1 });
      await engine.query("begin");
      await engine.query(stepInsert, [current]);
      const ahead = (await db.pool.query<Ensured>("select * from everruns_private.ensure_partitions('2041-05-15', 0)")).rows[0];
      await engine.query(eventInsert, [current]);
      await engine.query("commit");
      expect(ahead).toEqual({ created: 2, skipped: 0, held_by_default: 0 });
      expect(await monthParts("204105")).toEqual(["run_events_p204105", "run_steps_p204105"]);

      // b. the engine writes a run of a month without partitions (its rows go to the DEFAULT
      // partitions) while that month is created: attaching waits for the DEFAULT partition, gives
      // up after 500 ms, and neither partition is left
      const stray = await makeRun({ agent, status: "running", createdAt: "2041-03-10T00:00:00Z", events: 1, steps: 1 });
      await engine.query("begin");
      await engine.query(stepInsert, [stray]);
      const busy = (await db.pool.query<Ensured>("select * from everruns_private.ensure_partitions('2041-03-15', 0)")).rows[0];
      await engine.query(eventInsert, [stray]);
      await engine.query("commit");
      expect(busy).toEqual({ created: 0, skipped: 1, held_by_default: 0 });
      expect(await monthParts("204103")).toEqual([]);
      // then the month's rows are in the DEFAULT partitions: still neither
      expect((await db.pool.query("select * from everruns_private.ensure_partitions('2041-03-15', 0)")).rows[0]).toEqual({
        created: 0,
        skipped: 0,
        held_by_default: 1,
      });
      expect(await monthParts("204103")).toEqual([]);
      const { rows } = await db.pool.query<{ steps: number; events: number }>(
        `select (select count(*)::int from everruns.run_steps where run_id = $1) as steps,
                (select count(*)::int from everruns.run_events where run_id = $1) as events`,
        [stray],
      );
      expect(rows[0]).toEqual({ steps: 2, events: 2 });
    } finally {
      await engine.query("rollback").catch(() => undefined);
      engine.release();
    }
  });
});

describe("whole months expired in place and dropped (000039)", () => {
  let main: TestDatabase;
  beforeAll(async () => {
    // a database of its own: the past months below are the only ones with runs
    main = db;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    db = main;
  });

  /**
   * `n` finished runs created in one past month a second apart from `createdAt` (in the order of the
   * ids returned), each with 3 events and 2 steps (5 rows), as makeRun leaves them.
   */
  async function makeMonthOfRuns(agent: string, createdAt: string, finishedAt: string, n: number): Promise<string[]> {
    const ids = await insertBackdatedRuns(agent, createdAt, n);
    await db.pool.query(
      `insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
       select r.id, g, r.workspace_id, 'CUSTOM', jsonb_build_object('type', 'CUSTOM', 'name', 'tick', 'value', g), r.created_at
         from everruns.runs r, generate_series(1, 3) g where r.id = any($1::uuid[])`,
      [ids],
    );
    await db.pool.query(
      `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, started_at, finished_at, run_created_at)
       select r.id, g, r.workspace_id, 'tool', 'echo', 'succeeded', 1, now(), now(), r.created_at
         from everruns.runs r, generate_series(1, 2) g where r.id = any($1::uuid[])`,
      [ids],
    );
    await db.pool.query("update everruns.runs set event_seq = 3, step_cursor = 3, status = 'succeeded', finished_at = $2 where id = any($1::uuid[])", [
      ids,
      finishedAt,
    ]);
    return ids;
  }

  interface Unit {
    runs_expired: number;
    rows_deleted: number;
    partitions_dropped: number;
    /** rows this unit deleted from the month's two partitions (pg_stat_get_xact_tuples_deleted), null once they are dropped */
    month_deletes: number | null;
  }

  /** One apply_retention unit in a transaction of its own, counting the row deletes it made in the month's partitions. */
  async function unit(now: string, batch: number, suffix: string): Promise<Unit> {
    const client = await db.pool.connect();
    try {
      // the backend's counts not yet reported to the statistics (earlier transactions' too):
      // this unit's deletes are the difference
      const monthDeletes = async (): Promise<number | null> => {
        const { rows } = await client.query<{ n: string | null }>(
          `select case when to_regclass($1) is null or to_regclass($2) is null then null
                       else pg_stat_get_xact_tuples_deleted(to_regclass($1)) + pg_stat_get_xact_tuples_deleted(to_regclass($2)) end as n`,
          [`everruns_partitions.run_events_p${suffix}`, `everruns_partitions.run_steps_p${suffix}`],
        );
        return rows[0]!.n === null ? null : Number(rows[0]!.n);
      };
      await client.query("begin");
      const before = await monthDeletes();
      const { rows } = await client.query<{ runs_expired: number; rows_deleted: string; partitions_dropped: number }>(
        "select * from everruns_private.apply_retention($1, $2)",
        [now, batch],
      );
      const after = await monthDeletes();
      await client.query("commit");
      const r = rows[0]!;
      return {
        runs_expired: r.runs_expired,
        rows_deleted: Number(r.rows_deleted),
        partitions_dropped: r.partitions_dropped,
        month_deletes: before === null || after === null ? null : after - before,
      };
    } catch (error) {
      await client.query("rollback");
      throw error;
    } finally {
      client.release();
    }
  }

  async function unitsUntilDone(now: string, batch: number, suffix: string): Promise<Unit[]> {
    const units: Unit[] = [];
    for (;;) {
      const u = await unit(now, batch, suffix);
      units.push(u);
      if (u.runs_expired === 0 && u.partitions_dropped === 0 && u.rows_deleted === 0) return units;
      if (units.length > 100) throw new Error("apply_retention never finished");
    }
  }

  const monthRows = async (suffix: string): Promise<number> =>
    (
      await db.pool.query<{ n: number }>(
        `select (select count(*) from everruns_partitions.run_events_p${suffix})::int + (select count(*) from everruns_partitions.run_steps_p${suffix})::int as n`,
      )
    ).rows[0]!.n;

  it("a month of 300 expirable runs is marked in batches of 50 without one row delete, then its partitions are dropped", async () => {
    const agent = await agentIn(await workspace(30));
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-05-15', 0)");
    const ids = await makeMonthOfRuns(agent, "2025-05-10T12:00:00Z", "2025-05-11T12:00:00Z", 300);
    expect(await monthRows("202505")).toBe(1500);
    const now = (await db.pool.query<{ t: string }>("select now()::text as t")).rows[0]!.t;

    const marking: Unit[] = [];
    for (let i = 0; i < 6; i++) marking.push(await unit(now, 50, "202505"));
    expect(marking).toEqual(Array.from({ length: 6 }, () => ({ runs_expired: 50, rows_deleted: 0, partitions_dropped: 0, month_deletes: 0 })));
    // every run is marked (readers treat it as gone) and every row is still there, for the drop
    const { rows: marked } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.runs where id = any($1::uuid[]) and history_expired_at = $2",
      [ids, now],
    );
    expect(marked[0]!.n).toBe(300);
    expect(await monthRows("202505")).toBe(1500);
    const { rows: tracked } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns_private.retention_months_in_place where month_from = '2025-05-01T00:00:00Z'",
    );
    expect(tracked[0]!.n).toBe(1);

    expect(await unitsUntilDone(now, 50, "202505")).toEqual([
      { runs_expired: 0, rows_deleted: 0, partitions_dropped: 1, month_deletes: null },
      { runs_expired: 0, rows_deleted: 0, partitions_dropped: 0, month_deletes: null },
    ]);
    const names = await partitions();
    expect(names).not.toContain("run_events_p202505");
    expect(names).not.toContain("run_steps_p202505");
    expect((await db.pool.query("select * from everruns_private.retention_months_in_place")).rows).toEqual([]);
  });

  it("a month with one run that may not go keeps the row-delete path", async () => {
    const agent = await agentIn(await workspace(30));
    const forever = await agentIn(await workspace(null));
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-07-15', 0)");
    const ids = await makeMonthOfRuns(agent, "2025-07-10T12:00:00Z", "2025-07-11T12:00:00Z", 20);
    const [kept] = await makeMonthOfRuns(forever, "2025-07-10T12:00:00Z", "2025-07-11T12:00:00Z", 1);
    const now = (await db.pool.query<{ t: string }>("select now()::text as t")).rows[0]!.t;

    const units = await unitsUntilDone(now, 5, "202507");
    expect(units).toEqual([
      ...Array.from({ length: 4 }, () => ({ runs_expired: 5, rows_deleted: 25, partitions_dropped: 0, month_deletes: 25 })),
      { runs_expired: 0, rows_deleted: 0, partitions_dropped: 0, month_deletes: 0 },
    ]);
    const after = await rowCounts([...ids, kept!]);
    for (const id of ids) expect(after[id]).toEqual({ events: 0, steps: 0 });
    expect(after[kept!]).toEqual({ events: 3, steps: 2 });
    expect(await partitions()).toEqual(expect.arrayContaining(["run_events_p202507", "run_steps_p202507"]));
    expect((await db.pool.query("select * from everruns_private.retention_months_in_place")).rows).toEqual([]);
  });

  it("a month begun in place that turns mixed gets the rows of its marked runs deleted, then goes on row by row", async () => {
    const agent = await agentIn(await workspace(30));
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-09-15', 0)");
    const ids = await makeMonthOfRuns(agent, "2025-09-10T12:00:00Z", "2025-09-11T12:00:00Z", 10);
    const now = (await db.pool.query<{ t: string }>("select now()::text as t")).rows[0]!.t;
    expect(await unit(now, 4, "202509")).toEqual({ runs_expired: 4, rows_deleted: 0, partitions_dropped: 0, month_deletes: 0 });
    // the oldest 4
    const inPlace = (
      await db.pool.query<{ id: string }>("select id from everruns.runs where id = any($1::uuid[]) and history_expired_at is not null", [ids])
    ).rows.map((r) => r.id);
    expect(inPlace.sort()).toEqual(ids.slice(0, 4).sort());
    // the thread of the next one goes on: that run may not go any more, the month is mixed
    const blocked = ids[4]!;
    await makeRun({ agent, status: "running", threadOf: blocked });

    const units = await unitsUntilDone(now, 4, "202509");
    expect(units).toEqual([
      // the rows of the 4 runs marked in place
      { runs_expired: 0, rows_deleted: 20, partitions_dropped: 0, month_deletes: 20 },
      // the 5 others that may go, row by row
      { runs_expired: 4, rows_deleted: 20, partitions_dropped: 0, month_deletes: 20 },
      { runs_expired: 1, rows_deleted: 5, partitions_dropped: 0, month_deletes: 5 },
      { runs_expired: 0, rows_deleted: 0, partitions_dropped: 0, month_deletes: 0 },
    ]);
    const after = await rowCounts(ids);
    for (const id of ids) expect({ id, ...after[id] }).toEqual({ id, ...(id === blocked ? { events: 3, steps: 2 } : { events: 0, steps: 0 }) });
    expect(await monthRows("202509")).toBe(5);
    expect((await db.pool.query("select * from everruns_private.retention_months_in_place")).rows).toEqual([]);
  });
});

describe("the migration from 000037", () => {
  it("keeps every row readable through the parents, and an in-flight run commits its next steps in order", async () => {
    const serverUrl = inject("serverUrl");
    const name = `everruns_partition_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const dir = await mkdtemp(path.join(tmpdir(), "everruns-migrations-"));
    const pool: Pool = createPool(databaseUrl(serverUrl, name), "migrate-partitions", 3);
    try {
      const files = await listMigrations();
      for (const m of files.filter((f) => f.id < 38)) await copyFile(m.file, path.join(dir, path.basename(m.file)));
      await migrate(pool, () => {}, dir);
      const agent = await createAgent(pool, { provider: "scripted", script: [{ text: "done" }] });
      const finished = await startRun(pool, agent, "finished before");
      const inFlight = await startRun(pool, agent, "in flight across the migration");
      const step = (seq: number) => ({ kind: "tool", name: "echo", status: "succeeded", input: { seq }, output: { seq } });
      const events = (seq: number) => [
        { type: "CUSTOM", name: "tick", value: `${seq}a` },
        { type: "CUSTOM", name: "tick", value: `${seq}b` },
      ];
      const commit = async (runId: string, seq: number, next: Record<string, unknown>) => {
        const { rows } = await pool.query<{ begun: { attempt?: number; run?: { step_attempt: number } } | null }>(
          "select everruns_private.begin_step($1) as begun",
          [runId],
        );
        expect(rows[0]!.begun).not.toBeNull();
        const attempt = (await pool.query<{ a: number }>("select step_attempt as a from everruns.runs where id = $1", [runId])).rows[0]!.a;
        await pool.query("select everruns_private.commit_step($1, $2, $3, $4, $5, $6)", [
          runId,
          seq,
          attempt,
          JSON.stringify(step(seq)),
          JSON.stringify(events(seq)),
          JSON.stringify(next),
        ]);
      };
      await commit(finished, 1, { type: "succeed", output: { text: "done" } });
      await commit(inFlight, 1, { type: "continue" });
      await commit(inFlight, 2, { type: "continue" });
      const read = async () =>
        (
          await pool.query<{ run_id: string; seq: number; event: unknown }>(
            "select run_id, seq, event - 'timestamp' as event from everruns.run_events where run_id = any($1::uuid[]) order by run_id, seq",
            [[finished, inFlight]],
          )
        ).rows;
      const eventsBefore = await read();
      const stepsBefore = (await pool.query("select run_id, seq, input, output from everruns.run_steps order by run_id, seq")).rows;
      expect(eventsBefore.length).toBeGreaterThan(4);

      for (const m of files.filter((f) => f.id >= 38)) await copyFile(m.file, path.join(dir, path.basename(m.file)));
      const started = Date.now();
      expect(await migrate(pool, () => {}, dir)).toBe(files.filter((f) => f.id >= 38).length);
      expect(Date.now() - started).toBeLessThan(30_000);

      expect(await read()).toEqual(eventsBefore);
      expect((await pool.query("select run_id, seq, input, output from everruns.run_steps order by run_id, seq")).rows).toEqual(stepsBefore);
      // the run goes on: its next steps and events land beside its earlier ones (the legacy partition)
      await commit(inFlight, 3, { type: "continue" });
      await commit(inFlight, 4, { type: "succeed", output: { text: "done" } });
      const { rows: steps } = await pool.query<{ seq: number; part: string }>(
        "select seq, tableoid::regclass::text as part from everruns.run_steps where run_id = $1 order by seq",
        [inFlight],
      );
      expect(steps).toEqual([1, 2, 3, 4].map((seq) => ({ seq, part: "everruns_partitions.run_steps_legacy" })));
      const { rows: log } = await pool.query<{ seq: number }>("select seq from everruns_private.run_events_after($1, 0, 1000)", [inFlight]);
      expect(log.map((r) => r.seq)).toEqual(Array.from({ length: log.length }, (_, i) => i + 1));
      expect(log.length).toBeGreaterThan(eventsBefore.filter((e) => e.run_id === inFlight).length);
      // a run created now writes to this month's partition
      const fresh = await startRun(pool, agent, "after");
      await commit(fresh, 1, { type: "succeed", output: { text: "done" } });
      const { rows: part } = await pool.query<{ part: string }>("select distinct tableoid::regclass::text as part from everruns.run_events where run_id = $1", [
        fresh,
      ]);
      expect(part).toEqual([{ part: `everruns_partitions.run_events_p${new Date().toISOString().slice(0, 7).replace("-", "")}` }]);
    } finally {
      await pool.end();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("maintenance while the engine commits", () => {
  let main: TestDatabase;
  beforeAll(async () => {
    // a database of its own: no run of the tests above for the worker to take
    main = db;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    db = main;
  });

  it("partitions created and months dropped in a loop: every run's steps committed exactly once, no error", async () => {
    const A = await workspace(1);
    const agentA = await agentIn(A);
    // months of finished runs to drop while the engine works (each its own month)
    const months = ["2024-03", "2024-04", "2024-05", "2024-06"];
    for (const m of months) {
      await db.pool.query("select * from everruns_private.ensure_partitions($1, 0)", [`${m}-15`]);
      await makeRun({ agent: agentA, status: "succeeded", createdAt: `${m}-10T00:00:00Z`, finishedAt: `${m}-11T00:00:00Z` });
    }
    const turns = 10;
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      max_steps: 2 * turns + 5,
      script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
    });
    // every warning and error of the worker (its own maintenance rounds included)
    const problems: string[] = [];
    const log: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (message) => problems.push(message),
      error: (message) => problems.push(message),
    };
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
    const maintenance = new Maintenance({ pool: db.pool, log, batch: 1, now: () => new Date(Date.now() + 30 * 86_400_000) });
    let stop = false;
    let rounds = 0;
    let dropped = 0;
    const loop = (async () => {
      let month = 0;
      while (!stop) {
        const r = await maintenance.round();
        rounds += 1;
        dropped += r.partitionsDropped;
        // and new months ahead, each one locking the parents
        await db.pool.query("select * from everruns_private.ensure_partitions(now() + make_interval(months => $1), 0)", [3 + (month++ % 12)]);
      }
    })();
    try {
      const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => startRun(db.pool, agent, `run ${i}`)));
      for (const id of runs) expect((await waitForStatus(db.pool, id, ["succeeded", "failed"], 120_000)).status).toBe("succeeded");
      stop = true;
      await loop;
      expect(rounds).toBeGreaterThan(1);
      // this loop's rounds and the worker's own maintenance dropped them all
      expect(dropped).toBeGreaterThan(0);
      const left = await partitions();
      for (const m of months) expect(left).not.toContain(`run_events_p${m.replace("-", "")}`);
      const { rows } = await db.pool.query<{ run_id: string; seqs: number[]; events: number; last: number }>(
        `select r.id as run_id, array(select s.seq from everruns.run_steps s where s.run_id = r.id order by s.seq) as seqs,
                (select count(*)::int from everruns.run_events e where e.run_id = r.id) as events, r.event_seq as last
           from everruns.runs r where r.id = any($1::uuid[])`,
        [runs],
      );
      for (const r of rows) {
        expect(r.seqs).toEqual(Array.from({ length: 2 * turns + 1 }, (_, i) => i + 1));
        expect(r.events).toBe(r.last);
      }
      expect(problems).toEqual([]);
    } finally {
      stop = true;
      await loop.catch(() => undefined);
      await worker.stop();
    }
  }, 180_000);
});

describe("usage outlives retention (000041)", () => {
  let main: TestDatabase;
  beforeAll(async () => {
    // a database of its own: the past month below is the only one with runs
    main = db;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    db = main;
  });

  /**
   * `n` runs of `agent` created at `createdAt` (a second apart), finished a day later: step 1 an
   * LLM call with usage, finished an hour after creation; step 2 a tool step, finished a day and an
   * hour after creation. So each run has steps on two days.
   */
  async function makeUsageRuns(agent: string, createdAt: string, n: number): Promise<string[]> {
    const ids = await insertBackdatedRuns(agent, createdAt, n);
    await db.pool.query(
      `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, usage, started_at, finished_at, run_created_at)
       select r.id, g, r.workspace_id, case g when 1 then 'llm' else 'tool' end, 'step', 'succeeded', 1,
              case g when 1 then jsonb_build_object('input_tokens', 100 + u.n, 'output_tokens', 20, 'cost_usd', 0.0012345,
                                                    'cache_read_tokens', 7, 'reasoning_tokens', 3) end,
              r.created_at, r.created_at + case g when 1 then interval '1 hour' else interval '1 day 1 hour' end, r.created_at
         from everruns.runs r join unnest($1::uuid[]) with ordinality u(id, n) on u.id = r.id, generate_series(1, 2) g`,
      [ids],
    );
    await db.pool.query(
      "update everruns.runs set step_cursor = 3, status = 'succeeded', finished_at = created_at + interval '1 day' where id = any($1::uuid[])",
      [ids],
    );
    return ids;
  }

  type UsageRow = Record<string, string | number>;
  /** usage_daily of `agent`, by day: as the owner, and as the API's role in `workspaceId` (the same). */
  async function usage(agent: string, workspaceId: string): Promise<UsageRow[]> {
    const query = `select day::text, runs::int, llm_calls::int, input_tokens::text, output_tokens::text, cost_usd::text,
                          cache_read_tokens::text, cache_write_tokens::text, reasoning_tokens::text
                     from everruns.usage_daily where agent_id = $1 order by day`;
    const owner = (await db.pool.query<UsageRow>(query, [agent])).rows;
    expect(await asApi(workspaceId, async (client) => (await client.query<UsageRow>(query, [agent])).rows)).toEqual(owner);
    return owner;
  }

  async function retainUntilDone(now: string): Promise<Omit<Totals, "calls">> {
    const totals = { runs_expired: 0, rows_deleted: 0, partitions_dropped: 0 };
    for (let i = 0; ; i++) {
      const { rows } = await db.pool.query<{ runs_expired: number; rows_deleted: string; partitions_dropped: number }>(
        "select * from everruns_private.apply_retention($1, 20)",
        [now],
      );
      const r = rows[0]!;
      if (r.runs_expired === 0 && r.partitions_dropped === 0 && Number(r.rows_deleted) === 0) return totals;
      totals.runs_expired += r.runs_expired;
      totals.rows_deleted += Number(r.rows_deleted);
      totals.partitions_dropped += r.partitions_dropped;
      if (i > 100) throw new Error("apply_retention never finished");
    }
  }

  it("a month expired in place and dropped: usage_daily the same before, while the rows wait, and after the drop; counted once", async () => {
    const ws = await workspace(30);
    const agent = await agentIn(ws);
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-08-15', 0)");
    const ids = await makeUsageRuns(agent, "2025-08-10T22:59:40Z", 45);
    const before = await usage(agent, ws);
    // three days: the LLM steps finish either side of midnight (19, then 26), the tool steps a day later
    expect(before.map((r) => r.day)).toEqual(["2025-08-10", "2025-08-11", "2025-08-12"]);
    expect(before.reduce((n, r) => n + (r.llm_calls as number), 0)).toBe(45);
    expect(before[1]).toMatchObject({ runs: 45 });

    // one batch marked in place: its rows wait for the drop, its usage is counted once
    const { rows } = await db.pool.query<{ runs_expired: number; rows_deleted: number }>("select * from everruns_private.apply_retention(now(), 20)");
    expect(rows[0]).toMatchObject({ runs_expired: 20, rows_deleted: 0 });
    expect(await usage(agent, ws)).toEqual(before);
    // the API's role no longer reads the marked runs' steps (history_kept, 000040), which are still there
    const countSteps = "select count(*)::int as n from everruns.run_steps where run_id = any($1::uuid[])";
    expect({
      owner: (await db.pool.query<{ n: number }>(countSteps, [ids])).rows[0]!.n,
      api: await asApi(ws, async (client) => (await client.query<{ n: number }>(countSteps, [ids])).rows[0]!.n),
    }).toEqual({ owner: 90, api: 50 });

    const totals = await retainUntilDone((await db.pool.query<{ t: string }>("select now()::text as t")).rows[0]!.t);
    expect(totals).toEqual({ runs_expired: 25, rows_deleted: 0, partitions_dropped: 1 });
    expect((await db.pool.query("select count(*)::int as n from everruns.run_steps where run_id = any($1::uuid[])", [ids])).rows[0]).toEqual({ n: 0 });
    expect(await usage(agent, ws)).toEqual(before);
  });

  it("runs expired row by row: their steps deleted, usage_daily the same; another workspace's usage untouched; only retention writes the roll-up", async () => {
    const ws = await workspace(30);
    const agent = await agentIn(ws);
    const keptWs = await workspace(null);
    const keptAgent = await agentIn(keptWs);
    // this month's runs: not a past month, so expired row by row
    const now = (await db.pool.query<{ t: string }>("select date_trunc('month', now()) + interval '2 hours' as t")).rows[0]!.t;
    const ids = await makeUsageRuns(agent, now, 30);
    const kept = await makeUsageRuns(keptAgent, now, 5);
    const before = await usage(agent, ws);
    const keptBefore = await usage(keptAgent, keptWs);
    expect(before.reduce((n, r) => n + (r.llm_calls as number), 0)).toBe(30);

    const totals = await retainUntilDone(new Date(Date.parse(now) + 40 * 86_400_000).toISOString());
    expect(totals).toEqual({ runs_expired: 30, rows_deleted: 60, partitions_dropped: 0 });
    expect((await db.pool.query("select count(*)::int as n from everruns.run_steps where run_id = any($1::uuid[])", [ids])).rows[0]).toEqual({ n: 0 });
    expect(await usage(agent, ws)).toEqual(before);
    expect(await usage(keptAgent, keptWs)).toEqual(keptBefore);
    expect((await db.pool.query("select count(*)::int as n from everruns.run_steps where run_id = any($1::uuid[])", [kept])).rows[0]).toEqual({ n: 10 });

    // the API's role reads the roll-up of its workspace only, and writes none of it
    await asApi(keptWs, async (client) => {
      expect((await client.query("select count(*)::int as n from everruns.usage_daily_expired")).rows[0]).toEqual({ n: 0 });
      await expect(client.query("update everruns.usage_daily_expired set cost_usd = 0 where workspace_id = $1", [ws])).rejects.toMatchObject({ code: "42501" });
    });
  });
});

describe("month bounds in UTC whatever the session's time zone (000041)", () => {
  let main: TestDatabase;
  beforeAll(async () => {
    main = db;
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
    db = main;
  });

  /** Runs `sql` on a connection whose session time zone is America/New_York (UTC-5/-4, DST in March). */
  async function inNewYork<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = await db.pool.connect();
    try {
      await client.query("set timezone = 'America/New_York'");
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.query("reset timezone");
      client.release();
    }
  }

  it("ensure_partitions across a DST change: each month from its UTC midnight to the next", async () => {
    await inNewYork("select * from everruns_private.ensure_partitions('2025-03-10T12:00:00Z', 2)");
    const client = await db.pool.connect();
    try {
      await client.query("set timezone = 'UTC'");
      const { rows } = await client.query<{ name: string; bound: string }>(
        `select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'everruns_partitions' and c.relname ~ '^run_(events|steps)_p2025(03|04|05)$' order by 1`,
      );
      const bound = (from: string, to: string) => `FOR VALUES FROM ('${from} 00:00:00+00') TO ('${to} 00:00:00+00')`;
      expect(rows).toEqual(
        ["events", "steps"].flatMap((t) => [
          { name: `run_${t}_p202503`, bound: bound("2025-03-01", "2025-04-01") },
          { name: `run_${t}_p202504`, bound: bound("2025-04-01", "2025-05-01") },
          { name: `run_${t}_p202505`, bound: bound("2025-05-01", "2025-06-01") },
        ]),
      );
    } finally {
      await client.query("reset timezone");
      client.release();
    }
  });

  it("a kept run in a month's first hours (UTC) keeps the month from its drop; the month's other run expires row by row", async () => {
    const agent = await agentIn(await workspace(30));
    await db.pool.query("select * from everruns_private.ensure_partitions('2025-06-15', 0)");
    const expiring = await makeRun({ agent, status: "succeeded", createdAt: "2025-06-15T12:00:00Z", finishedAt: "2025-06-16T12:00:00Z" });
    // 2 a.m. UTC on the 1st: 10 p.m. on May 31st in New York
    const kept = await makeRun({ agent, status: "running", createdAt: "2025-06-01T02:00:00Z" });
    for (let i = 0; ; i++) {
      const [r] = await inNewYork<{ runs_expired: number; rows_deleted: number; partitions_dropped: number }>(
        "select * from everruns_private.apply_retention(now(), 20)",
      );
      if (r!.runs_expired === 0 && r!.partitions_dropped === 0 && Number(r!.rows_deleted) === 0) break;
      if (i > 20) throw new Error("apply_retention never finished");
    }
    expect(await partitions()).toEqual(expect.arrayContaining(["run_events_p202506", "run_steps_p202506"]));
    expect(await rowCounts([expiring, kept])).toEqual({ [expiring]: { events: 0, steps: 0 }, [kept]: { events: 3, steps: 2 } });
    const { rows } = await db.pool.query<{ id: string; expired: boolean }>(
      "select id, history_expired_at is not null as expired from everruns.runs where id = any($1::uuid[])",
      [[expiring, kept]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.expired]))).toEqual({ [expiring]: true, [kept]: false });
  });

  it("partitions attached with shifted bounds (an ensure_partitions before 000041 under Sydney time) are never dropped; their expired runs go row by row; the overlapped month is skipped, not an error", async () => {
    const agent = await agentIn(await workspace(30));
    // what the old ensure_partitions attached for April 2026 under Australia/Sydney: to May 1st 01:00 UTC
    for (const t of ["run_steps", "run_events"]) {
      await db.pool.query(`create table everruns_partitions.${t}_p202604 (like everruns.${t} including defaults including generated including constraints)`);
      await db.pool.query(
        `alter table everruns.${t} attach partition everruns_partitions.${t}_p202604 for values from ('2026-04-01 00:00:00+00') to ('2026-05-01 01:00:00+00')`,
      );
    }
    expect((await db.pool.query("select everruns_private.retention_month_partitioned('2026-04-01T00:00:00Z') as whole")).rows[0]).toEqual({ whole: false });
    const expiring = await makeRun({ agent, status: "succeeded", createdAt: "2026-04-10T12:00:00Z", finishedAt: "2026-04-11T12:00:00Z" });
    // a run of May whose rows the April partition holds
    const kept = await makeRun({ agent, status: "running", createdAt: "2026-05-01T00:30:00Z" });
    for (let i = 0; ; i++) {
      const { rows } = await db.pool.query<{ runs_expired: number; rows_deleted: number; partitions_dropped: number }>(
        "select * from everruns_private.apply_retention(now(), 20)",
      );
      const r = rows[0]!;
      expect(r.partitions_dropped).toBe(0);
      if (r.runs_expired === 0 && Number(r.rows_deleted) === 0) break;
      if (i > 20) throw new Error("apply_retention never finished");
    }
    expect(await partitions()).toEqual(expect.arrayContaining(["run_events_p202604", "run_steps_p202604"]));
    expect(await rowCounts([expiring, kept])).toEqual({ [expiring]: { events: 0, steps: 0 }, [kept]: { events: 3, steps: 2 } });
    // May's partitions would overlap April's: skipped, and the other months are still made
    expect((await db.pool.query("select * from everruns_private.ensure_partitions('2026-05-15', 1)")).rows[0]).toEqual({
      created: 2,
      skipped: 1,
      held_by_default: 0,
    });
  });
});
