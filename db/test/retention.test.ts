// The data lifecycle (issue 19, 000038): run_events and run_steps partitioned by their run's
// creation month, per-workspace retention of finished runs' events and steps with time injected
// (p_now), whole months dropped only when every run of the month expired, reruns and redrives of an
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
    if (r.runs_expired === 0 && r.partitions_dropped === 0) return totals;
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
