// Hardening (issue "Workspaces and access control", db/migrations/000002_hardening.sql): who may
// call what, a cancel notification that anyone can forge, and a run joining another agent's
// thread. Each reproduction of the issue must now fail safely.
//
// Roles are global to the cluster: the test's login roles get a random suffix and are dropped
// afterwards; the group roles everruns_worker and everruns_api are the migration's and stay.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, startRun, waitFor, waitForStatus, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;
const suffix = randomBytes(4).toString("hex");
// identifiers from a random hex suffix, never from input
const plainRole = `ev_plain_${suffix}`; // USAGE on the schemas, nothing else
const apiRole = `ev_api_${suffix}`; // granted everruns_api
const workerRole = `ev_worker_${suffix}`; // granted everruns_worker (and BYPASSRLS, see the migration's header)
const sessions: pg.Client[] = [];
let worker: WorkerHandle | null = null; // as the owner, from "a cancel notification is only a hint" on
const log = consoleLogger("[test-worker]", "error");

beforeAll(async () => {
  db = await createTestDatabase();
  const q = (sql: string) => db.pool.query(sql);
  await q(`create role ${plainRole} login nosuperuser`);
  await q(`grant usage on schema everruns, everruns_private to ${plainRole}`);
  await q(`create role ${apiRole} login nosuperuser in role everruns_api`);
  await q(`create role ${workerRole} login nosuperuser bypassrls in role everruns_worker`);
});

afterAll(async () => {
  for (const session of sessions) await session.end().catch(() => undefined);
  await worker?.stop();
  if (!db) return;
  await db.drop(); // the grants to the test roles go with the database
  const url = new URL(db.url);
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    for (const role of [plainRole, apiRole, workerRole]) await admin.query(`drop role if exists ${role}`);
  } finally {
    await admin.end();
  }
});

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  return url.toString();
}

async function connectAs(role: string): Promise<pg.Client> {
  const session = new pg.Client({ connectionString: urlAs(role) });
  await session.connect();
  // the workspace the API would set from a key (000006: row-level security needs one)
  await session.query("select set_config('everruns.workspace_id', everruns_private.default_workspace_id()::text, false)");
  sessions.push(session);
  return session;
}

/** Runs `sql` and returns the error it fails with (failing the test when it succeeds). */
async function failure(session: pg.Client, sql: string, params: unknown[] = []): Promise<{ code?: string; message: string }> {
  try {
    await session.query(sql, params);
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error(`expected "${sql}" to fail`);
}

/** Runs, threads, and jobs of no run (what a refused insert could leave behind while a worker completes jobs meanwhile). */
async function counts() {
  const { rows } = await db.pool.query<{ runs: number; threads: number; orphan_jobs: number }>(`select
    (select count(*) from everruns.runs)::int as runs,
    (select count(*) from everruns.threads)::int as threads,
    (select count(*) from graphile_worker.jobs j
      where not exists (select 1 from everruns.runs r where j.key = 'run:' || r.id::text))::int as orphan_jobs`);
  return rows[0]!;
}

const hello = { messages: [{ role: "user", content: "hello" }] };

describe("privileged functions are closed to PUBLIC", () => {
  // what a role that can reach the schemas could call before 000002
  const privileged: Array<[string, string, unknown[]]> = [
    ["everruns.cancel_run", "select everruns.cancel_run($1)", [randomUUID()]],
    ["everruns.send_event", "select everruns.send_event($1, 'payment', '{}')", [randomUUID()]],
    ["everruns.resume_run", "select everruns.resume_run($1, '[]')", [randomUUID()]],
    ["everruns_private.commit_step", "select everruns_private.commit_step($1, 1, 1, '{}', '[]', '{\"type\": \"succeed\"}')", [randomUUID()]],
    ["everruns_private.reschedule_step", "select everruns_private.reschedule_step($1, 1, 1, 0, false, '[]')", [randomUUID()]],
    ["everruns_private.sweep_dead_workers", "select everruns_private.sweep_dead_workers(0)", []],
    ["everruns_private.register_worker", "select everruns_private.register_worker('forged', 'h', 1, 1)", []],
    ["everruns_private.enqueue_step", "select everruns_private.enqueue_step($1)", [randomUUID()]],
    ["everruns_private.begin_step", "select everruns_private.begin_step($1)", [randomUUID()]],
    ["everruns_private.repair_orphaned_runs", "select everruns_private.repair_orphaned_runs()", []],
  ];

  it("a role with only USAGE on the schemas may call none of them (42501, permission denied for the function)", async () => {
    const session = await connectAs(plainRole);
    for (const [name, sql, params] of privileged) {
      const error = await failure(session, sql, params);
      expect({ name, code: error.code, message: error.message }).toEqual({
        name,
        code: "42501",
        message: `permission denied for function ${name.split(".")[1]}`,
      });
    }
    // and a real run is left alone
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const runId = await startRun(db.pool, agent);
    expect((await failure(session, "select everruns.cancel_run($1)", [runId])).code).toBe("42501");
    expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [runId])).rows[0]!.status).toBe("queued");
  });

  it("functions created from now on are closed to PUBLIC too (the migrating role's default privileges)", async () => {
    const fn = `everruns_private.probe_${suffix}`;
    await db.pool.query(`create function ${fn}() returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1'`);
    try {
      const session = await connectAs(plainRole);
      expect(await failure(session, `select ${fn}()`)).toMatchObject({ code: "42501", message: `permission denied for function probe_${suffix}` });
    } finally {
      await db.pool.query(`drop function ${fn}()`);
    }
  });

  it("everruns_api may cancel, signal and resume runs and read the dashboard, but not run the engine or set a run's state", async () => {
    const session = await connectAs(apiRole);
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const signalled = await startRun(db.pool, agent);
    expect((await session.query<{ woke: boolean }>("select everruns.send_event($1, 'payment', '{}') as woke", [signalled])).rows[0]!.woke).toBe(false);
    const runId = await startRun(db.pool, agent);
    expect((await session.query<{ cancelled: boolean }>("select everruns.cancel_run($1) as cancelled", [runId])).rows[0]!.cancelled).toBe(true);
    expect((await failure(session, "select everruns.resume_run($1, '[]')", [runId])).message).toMatch(/is not waiting for an answer \(status cancelled\)/);
    await session.query("select count(*) from everruns_private.live_workers");
    await session.query("select count(*) from graphile_worker.jobs");
    await session.query("select count(*) from everruns.usage_daily");
    for (const sql of [
      "select everruns_private.commit_step($1, 1, 1, '{}', '[]', '{\"type\": \"succeed\"}')",
      "select everruns_private.begin_step($1)",
      "select everruns_private.enqueue_step($1)",
    ]) {
      expect((await failure(session, sql, [signalled])).code).toBe("42501");
    }
    expect((await failure(session, "select everruns_private.sweep_dead_workers(0)")).code).toBe("42501");
    // a run's state changes only through the functions
    expect((await failure(session, "update everruns.runs set status = 'succeeded' where id = $1", [signalled])).code).toBe("42501");
    expect((await failure(session, "delete from everruns.run_events where run_id = $1", [signalled])).code).toBe("42501");
  });

  it("everruns_api may start a run with INSERT (the trigger's helpers and the first job included)", async () => {
    const session = await connectAs(apiRole);
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const { rows } = await session.query<{ id: string; status: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id, status", [
      agent,
      hello,
    ]);
    expect(rows[0]!.status).toBe("queued");
    const job = await db.pool.query("select task_identifier from graphile_worker.jobs where key = $1", [`run:${rows[0]!.id}`]);
    expect(job.rows).toEqual([{ task_identifier: "run_step" }]);
  });

  it("everruns_worker may run the engine's functions, and not the public ones", async () => {
    const session = await connectAs(workerRole);
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const runId = await startRun(db.pool, agent);
    const begun = (
      await session.query<{ begun: { run: { step_cursor: number; step_attempt: number } } }>("select everruns_private.begin_step($1) as begun", [runId])
    ).rows[0]!.begun;
    expect(begun.run).toMatchObject({ step_cursor: 1, step_attempt: 1 });
    await session.query("select everruns_private.append_events($1, 1, 1, $2)", [
      runId,
      JSON.stringify([
        { type: "RUN_STARTED", threadId: "t", runId },
        { type: "STEP_STARTED", stepName: "llm" },
      ]),
    ]);
    await session.query("select everruns_private.run_history($1, 'thread')", [runId]);
    const { rows } = await session.query<{ result: { committed: boolean } }>("select everruns_private.commit_step($1, 1, 1, $2, $3, $4) as result", [
      runId,
      { kind: "llm", name: "scripted", status: "succeeded", input: {}, output: { text: "hi" } },
      JSON.stringify([
        { type: "STEP_FINISHED", stepName: "llm" },
        { type: "RUN_FINISHED", threadId: "t", runId },
      ]),
      { type: "succeed", output: { text: "hi" } },
    ]);
    expect(rows[0]!.result.committed).toBe(true);
    expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [runId])).rows[0]!.status).toBe("succeeded");
    expect((await session.query<{ freed: string[] }>("select everruns_private.sweep_dead_workers(250) as freed")).rows[0]!.freed).toEqual([]);
    await session.query("select everruns_private.repair_orphaned_runs()");
    expect((await failure(session, "select everruns.cancel_run($1)", [runId])).code).toBe("42501");
    expect((await failure(session, "select everruns.send_event($1, 'x', '{}')", [runId])).code).toBe("42501");
  });

  it("a worker process whose role is granted everruns_worker runs a run to its end", async () => {
    const roleWorker = await startWorker({ databaseUrl: urlAs(workerRole), concurrency: 2, shutdownTimeoutMs: 2000, log });
    try {
      const agent = await createAgent(db.pool, {
        provider: "scripted",
        tools: ["echo"],
        script: [{ text: "Echoing.", tool_calls: [{ name: "echo", arguments: { a: 1 } }] }, { text: "Done." }],
      });
      const runId = await startRun(db.pool, agent);
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 20_000);
      expect(run).toMatchObject({ status: "succeeded", output: { text: "Done." } });
      expect((await getSteps(db.pool, runId)).map((s) => [s.kind, s.attempt])).toEqual([
        ["llm", 1],
        ["tool", 1],
        ["llm", 1],
      ]);
      await assertValidAgUiLog(await getEvents(db.pool, runId));
    } finally {
      await roleWorker.stop();
    }
  });
});

describe("a cancel notification is only a hint", () => {
  beforeAll(async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
  });

  async function startWork(ms: number): Promise<string> {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms } }] }, { text: "worked" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitFor("the tool step to start", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
    );
    return runId;
  }

  it("a forged NOTIFY everruns:cancel, from any session, aborts nothing: the step commits once and the run succeeds", async () => {
    const runId = await startWork(1500);
    // a role with no right on the run at all may still NOTIFY
    const session = await connectAs(plainRole);
    await session.query("select pg_notify('everruns:cancel', $1)", [runId]);
    await session.query(`notify "everruns:cancel", '${runId}'`); // a uuid: nothing to quote
    await session.query("select pg_notify('everruns:cancel', 'not-a-uuid')");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "cancelled"], 15_000);
    expect(run).toMatchObject({ status: "succeeded", output: { text: "worked" } });
    expect((await getSteps(db.pool, runId)).map((s) => [s.kind, s.name, s.attempt])).toEqual([
      ["llm", "scripted", 1],
      ["tool", "simulate_work", 1],
      ["llm", "scripted", 1],
    ]);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });

  it("a real cancel_run (here by a role granted everruns_api) still aborts the step within a second", async () => {
    const runId = await startWork(30_000);
    const session = await connectAs(apiRole);
    const t0 = Date.now();
    expect((await session.query<{ cancelled: boolean }>("select everruns.cancel_run($1) as cancelled", [runId])).rows[0]!.cancelled).toBe(true);
    // the aborted step released its job: the worker's slot is free again
    await waitFor(
      "the job to be released",
      async () => {
        const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where key = $1", [`run:${runId}`]);
        return rows[0]!.n === 0;
      },
      5000,
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    const events = await getEvents(db.pool, runId);
    expect(events.at(-1)).toMatchObject({ type: "RUN_FINISHED", event: { outcome: { type: "cancelled" } } });
    await assertValidAgUiLog(events);
    expect(await getSteps(db.pool, runId)).toHaveLength(1);
  });
});

describe("a run continues only a thread of its own agent (a worker running)", () => {
  async function insertRun(agentId: string, threadId: string): Promise<string> {
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3) returning id", [
      agentId,
      hello,
      threadId,
    ]);
    return rows[0]!.id;
  }

  async function refusal(agentId: string, threadId: string): Promise<unknown> {
    try {
      await insertRun(agentId, threadId);
    } catch (error) {
      return fromDatabaseError(error);
    }
    throw new Error("expected the insert to fail");
  }

  it("refuses a run on another agent's thread (EV007), leaving nothing behind; the thread's own agent continues it", async () => {
    const mine = await createAgent(db.pool, { provider: "scripted", script: [{ text: "secret" }] });
    const other = await createAgent(db.pool, { provider: "scripted", script: [{ text: "tell me" }] });
    const threadId = randomUUID();
    await insertRun(mine, threadId);
    const before = await counts();
    const error = await refusal(other, threadId);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: "invalid_run_input", cause: { code: "EV007" } });
    expect((error as Error).message).toBe(
      `thread ${threadId} belongs to agent ${mine}; a run may continue only a thread of its own agent ` +
        `(Leave thread_id out to start a new thread, or give a thread of agent ${other} (everruns.threads.agent_id).)`,
    );
    expect(await counts()).toEqual(before);
    // the agent's own next turn is as before
    await insertRun(mine, threadId);
    expect((await counts()).runs).toBe(before.runs + 1);
  });

  it("refuses it on a thread without an agent (made by hand) that holds another agent's runs", async () => {
    const mine = await createAgent(db.pool, { provider: "scripted", script: [{ text: "secret" }] });
    const other = await createAgent(db.pool, { provider: "scripted", script: [{ text: "tell me" }] });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.threads (agent_id) values (null) returning id");
    const threadId = rows[0]!.id;
    // an empty thread without an agent may be used by anyone; from then on it is that agent's
    await insertRun(mine, threadId);
    const before = await counts();
    const error = await refusal(other, threadId);
    expect(error).toMatchObject({ code: "invalid_run_input", cause: { code: "EV007" } });
    expect((error as Error).message).toMatch(new RegExp(`^thread ${threadId} belongs to agent ${mine}; a run may continue only a thread of its own agent`));
    expect(await counts()).toEqual(before);
  });

  it("refuses it before locking or reading anything on the thread: an interrupted run there is not answered", async () => {
    const mine = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      // stops for the client's tool: the run ends interrupted, waiting for an answer on its thread
      script: [{ tool_calls: [{ name: "client_tool", arguments: {} }] }, { text: "thanks" }],
    });
    const other = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x" }] });
    const threadId = randomUUID();
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3) returning id", [
      mine,
      { ...hello, tools: [{ name: "client_tool" }] },
      threadId,
    ]);
    await waitForStatus(db.pool, rows[0]!.id, ["interrupted"], 15_000);
    const error = await refusal(other, threadId);
    expect(error).toMatchObject({ cause: { code: "EV007" } });
    const { rows: parent } = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = $1", [rows[0]!.id]);
    expect(parent[0]!.continued_by).toBeNull();
  });
});
