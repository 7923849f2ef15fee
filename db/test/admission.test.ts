// 000018: admitting runs is set-based. One `insert into everruns.runs ... select` of many rows
// enqueues them all with one graphile_worker.add_jobs call and writes their audit rows with one
// lock of the workspace's audit head (statement triggers over the inserted rows), while every
// run still gets exactly the job, notification, audit row and validation it got from the row
// triggers before.
import { Logger, run } from "graphile-worker";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createPool } from "../pool.ts";
import { verifyAudit } from "../sql/verifyAudit.ts";
import { createAgent, createTestDatabase, startRun, waitFor, type TestDatabase } from "./helpers.ts";

const DEFAULT_WS = "00000000-0000-0000-0000-000000000001";
const MANY = 10_000;

let db: TestDatabase;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // This file is about admission at insert: every new run gets its job in the inserting
  // statement. That is FIFO admission (fair share off); fair admission, where a run may wait for
  // a slot, is fair-admission.test.ts's.
  await db.pool.query("select everruns_private.set_scheduler(false)");
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
});
afterAll(async () => db?.drop());

/** `n` runs of the agent in one statement; the i-th run's message is "run <i>". */
const INSERT_MANY = `insert into everruns.runs (agent_id, input)
  select $1, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'run ' || g)))
    from generate_series(1, $2::int) g
  returning id`;

interface JobRow {
  key: string;
  task_identifier: string;
  max_attempts: number;
  attempts: number;
  queue_name: string | null;
  locked_at: Date | null;
  due: boolean;
}

/** The jobs of these runs, by the run they name in their key (graphile-worker's public `jobs` view). */
async function jobsOf(runIds: string[]): Promise<Map<string, JobRow[]>> {
  const { rows } = await db.pool.query<JobRow & { run_id: string }>(
    `select substr(j.key, 5) as run_id, j.key, j.task_identifier, j.max_attempts, j.attempts, j.queue_name, j.locked_at,
            j.run_at <= now() as due
       from graphile_worker.jobs j where j.key = any (select 'run:' || id from unnest($1::uuid[]) id)`,
    [runIds],
  );
  const byRun = new Map<string, JobRow[]>();
  for (const { run_id, ...job } of rows) byRun.set(run_id, [...(byRun.get(run_id) ?? []), job]);
  return byRun;
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`select (${sql})::int as n`, params);
  return rows[0]!.n;
}

async function errorOf(sql: string, params: unknown[]): Promise<{ code?: string; message: string }> {
  const error = await db.pool.query(sql, params).then(
    () => null,
    (e: { code?: string; message: string }) => e,
  );
  expect(error, `expected "${sql}" to fail`).not.toBeNull();
  return error!;
}

it(`a ${MANY.toLocaleString("en")}-row insert ... select gives each run exactly one run_step job, with its payload and key`, async () => {
  const jobsBefore = await count("select count(*) from graphile_worker.jobs");
  const auditBefore = await count("select coalesce(max(seq), 0) from everruns.audit_log where workspace_id = $1", [DEFAULT_WS]);
  const t0 = performance.now();
  const { rows } = await db.pool.query<{ id: string }>(INSERT_MANY, [agentId, MANY]);
  const admitMs = performance.now() - t0;
  const ids = rows.map((r) => r.id);
  expect(ids).toHaveLength(MANY);

  // exactly one job per run, as enqueue_step made it: task run_step, key run:<id>, 25 attempts, due now
  expect(await count("select count(*) from graphile_worker.jobs")).toBe(jobsBefore + MANY);
  const jobs = await jobsOf(ids);
  expect(jobs.size).toBe(MANY);
  const odd = ids.filter((id) => {
    const js = jobs.get(id) ?? [];
    const j = js[0];
    return !(
      js.length === 1 &&
      j &&
      j.key === `run:${id}` &&
      j.task_identifier === "run_step" &&
      j.max_attempts === 25 &&
      j.attempts === 0 &&
      j.queue_name === null &&
      j.locked_at === null &&
      j.due
    );
  });
  expect(odd, "runs without exactly one fresh run_step job").toEqual([]);

  // one audit row per run, chained in insertion order after the workspace's previous head
  const { rows: audit } = await db.pool.query<{ seq: string; action: string; target_id: string }>(
    "select seq, action, target_id from everruns.audit_log where workspace_id = $1 and seq > $2 order by seq",
    [DEFAULT_WS, auditBefore],
  );
  expect(audit.map((a) => a.target_id)).toEqual(ids);
  expect(audit.map((a) => Number(a.seq))).toEqual(ids.map((_, i) => auditBefore + 1 + i));
  expect(new Set(audit.map((a) => a.action))).toEqual(new Set(["run.started"]));
  expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();

  // The payload is in no public view: a real worker takes every job and reports what its task got.
  const workerPool = createPool(db.url, "everruns-test-admission", 6);
  const seen = new Map<string, number>();
  const otherShapes: unknown[] = [];
  const runner = await run({
    pgPool: workerPool,
    concurrency: 4,
    noHandleSignals: true,
    pollInterval: 100,
    logger: new Logger(() => () => {}),
    taskList: {
      run_step: (payload) => {
        const runId = (payload as { run_id: string }).run_id;
        seen.set(runId, (seen.get(runId) ?? 0) + 1);
        if (Object.keys(payload as object).join() !== "run_id") otherShapes.push(payload);
        return Promise.resolve();
      },
    },
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 20, failJobBatchDelay: 0 } },
  });
  try {
    await waitFor("the worker to take every job", () => seen.size >= MANY, 120_000, 50);
  } finally {
    await runner.stop();
    await workerPool.end();
  }
  expect([...seen.keys()].sort()).toEqual([...ids].sort());
  expect([...seen.values()].every((n) => n === 1)).toBe(true);
  expect(otherShapes, 'payloads other than {"run_id"}').toEqual([]);

  // Printed, never gated: admission next to the bare table insert (no trigger, no foreign key)
  // of as many rows, measured here on the same database.
  const client = await db.pool.connect();
  let bareMs: number;
  try {
    await client.query("begin");
    await client.query("set local session_replication_role = replica");
    const t1 = performance.now();
    await client.query(
      `insert into everruns.runs (agent_id, agent_version, thread_id, input)
       select $1, 1, gen_random_uuid(), jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'run ' || g)))
         from generate_series(1, $2::int) g`,
      [agentId, MANY],
    );
    bareMs = performance.now() - t1;
  } finally {
    await client.query("rollback");
    client.release();
  }
  console.log(
    `admission of ${MANY} runs in one statement: ${Math.round((MANY / admitMs) * 1000)} runs/s, ` +
      `${(admitMs / bareMs).toFixed(2)}x the time of the bare table insert (${Math.round((MANY / bareMs) * 1000)} rows/s) on this machine`,
  );
});

it("a single-row insert still gets its job, notification and audit row", async () => {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const heard: string[] = [];
  listener.on("notification", (n) => {
    if (n.channel === "everruns:runs" && n.payload) heard.push(n.payload);
  });
  await listener.query('listen "everruns:runs"');
  try {
    const id = await startRun(db.pool, agentId, "one");
    const jobs = await jobsOf([id]);
    expect(jobs.get(id)).toMatchObject([{ key: `run:${id}`, task_identifier: "run_step", max_attempts: 25, attempts: 0, locked_at: null, due: true }]);
    await waitFor("the run's notification", () => heard.includes(`${id}:${DEFAULT_WS}`), 10_000);
    expect(heard).toEqual([`${id}:${DEFAULT_WS}`]);
    expect(await count("select count(*) from everruns.audit_log where target_id = $1 and action = 'run.started'", [id])).toBe(1);

    // three runs in one statement: one notification each
    heard.length = 0;
    const { rows } = await db.pool.query<{ id: string }>(INSERT_MANY, [agentId, 3]);
    await waitFor("three notifications", () => heard.length >= 3, 10_000);
    expect([...heard].sort()).toEqual(rows.map((r) => `${r.id}:${DEFAULT_WS}`).sort());
  } finally {
    await listener.end();
  }
});

it("a statement that inserts no run enqueues nothing and fails nothing", async () => {
  const jobsBefore = await count("select count(*) from graphile_worker.jobs");
  const { rowCount } = await db.pool.query(`${INSERT_MANY.replace("generate_series(1, $2::int) g", "generate_series(1, $2::int) g where false")}`, [
    agentId,
    5,
  ]);
  expect(rowCount).toBe(0);
  expect(await count("select count(*) from graphile_worker.jobs")).toBe(jobsBefore);
  expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
});

it("one invalid row fails the whole statement with the error it always had (run-input-limits.test.ts)", async () => {
  const runsBefore = await count("select count(*) from everruns.runs");
  const jobsBefore = await count("select count(*) from graphile_worker.jobs");
  const auditBefore = await count("select count(*) from everruns.audit_log");
  // rows 1 and 3 are valid, row 2's "resume" is not an array
  const e = await errorOf(
    `insert into everruns.runs (agent_id, input)
     select $1, case when g = 2 then '{"messages": [], "resume": 1}'::jsonb
                     else jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'ok'))) end
       from generate_series(1, 3) g`,
    [agentId],
  );
  expect({ code: e.code, refused: e.message.includes('"resume" must be an array') }).toEqual({ code: "EV003", refused: true });
  // and an unknown agent in the middle of good rows: EV002
  const unknown = await errorOf(
    `insert into everruns.runs (agent_id, input)
     select case when g = 2 then gen_random_uuid() else $1 end, '{"messages": [{"role": "user", "content": "ok"}]}'::jsonb
       from generate_series(1, 3) g`,
    [agentId],
  );
  expect(unknown.code).toBe("EV002");
  expect(unknown.message).toMatch(/^unknown agent /);
  expect(await count("select count(*) from everruns.runs")).toBe(runsBefore);
  expect(await count("select count(*) from graphile_worker.jobs")).toBe(jobsBefore);
  expect(await count("select count(*) from everruns.audit_log")).toBe(auditBefore);
});

it("a continuation inserted among other runs marks its parent, gets its job and its approval.answered row", async () => {
  const parent = await startRun(db.pool, agentId, "needs approval");
  await db.pool.query("update everruns.runs set status = 'interrupted', interrupts = $2 where id = $1", [
    parent,
    { interrupts: [{ id: "int-1", reason: "tool_approval", message: "approve?" }] },
  ]);
  const resume = [{ interruptId: "int-1", status: "resolved", payload: { approved: true } }];
  const { rows } = await db.pool.query<{ id: string; parent_run_id: string | null }>(
    `insert into everruns.runs (agent_id, parent_run_id, input)
     select $1, case when g = 2 then $2::uuid end,
            case when g = 2 then jsonb_build_object('messages', '[]'::jsonb, 'resume', $3::jsonb)
                 else jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'other'))) end
       from generate_series(1, 3) g
     returning id, parent_run_id`,
    [agentId, parent, JSON.stringify(resume)],
  );
  const child = rows.find((r) => r.parent_run_id === parent)!.id;
  const { rows: marked } = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = $1", [parent]);
  expect(marked[0]!.continued_by).toBe(child);
  // the other runs of the statement mark nothing
  expect(await count("select count(*) from everruns.runs where continued_by = any ($1::uuid[])", [rows.map((r) => r.id)])).toBe(1);
  const jobs = await jobsOf(rows.map((r) => r.id));
  expect(rows.map((r) => jobs.get(r.id)?.length)).toEqual([1, 1, 1]);
  const { rows: audit } = await db.pool.query<{ action: string; details: Record<string, unknown> }>(
    "select action, details from everruns.audit_log where target_id = $1",
    [child],
  );
  expect(audit).toMatchObject([
    {
      action: "approval.answered",
      details: { parent_run_id: parent, answers: [{ interruptId: "int-1", status: "resolved", approved: true, edited: false }] },
    },
  ]);
  expect(await verifyAudit(db.pool, DEFAULT_WS)).toBeNull();
});
