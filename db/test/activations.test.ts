// Long-lived threads (issue 16, 000026): everruns.trigger(agent, payload, thread_key) starts an
// event's run at once when its thread is idle, else queues it; the transaction that ends the
// thread's last run starts the next. Events of one thread run one after another, in arrival
// order, each run seeing the whole history; nothing holds a worker between them; the sweep
// catches up what a run's end could not start; a bound role triggers only its workspace's agents.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { threadHistory } from "../sql/threadHistory.ts";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "./helpers.ts";

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

interface ThreadRun {
  id: string;
  status: string;
  started_at: Date | null;
  finished_at: Date | null;
  created_at: Date;
  content: string;
}

async function threadRuns(threadId: string): Promise<ThreadRun[]> {
  const { rows } = await db.pool.query<ThreadRun>(
    `select r.id, r.status, r.started_at, r.finished_at, r.created_at, r.input -> 'messages' -> 0 ->> 'content' as content
       from everruns.runs r where r.thread_id = $1 order by r.created_at, r.id`,
    [threadId],
  );
  return rows;
}

async function threadOf(agentId: string, key: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns.threads where agent_id = $1 and key = $2", [agentId, key]);
  return rows[0]!.id;
}

async function runEnded(runId: string, status: string): Promise<void> {
  await waitFor(
    `run ${runId} ${status}`,
    async () => (await db.pool.query("select 1 from everruns.runs where id = $1 and status = $2", [runId, status])).rowCount === 1,
    60_000,
  );
}

/** No two runs' [started, finished] intervals overlap. */
function assertSequential(runs: ThreadRun[]): void {
  const spans = runs.map((r) => [r.started_at!.getTime(), r.finished_at!.getTime()] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
}

describe("everruns.trigger on a long-lived thread", () => {
  it("runs events that arrive together one after another, in arrival order, each seeing the whole history", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "noted", delay_ms: 30 }] });
    const key = `svc-${randomBytes(3).toString("hex")}`;
    const n = 40;
    // 8 connections at once, each sending its share in order
    const clients = Array.from({ length: 8 }, () => new pg.Client({ connectionString: db.url }));
    await Promise.all(clients.map((c) => c.connect()));
    const sent: string[] = [];
    try {
      await Promise.all(
        clients.map(async (c, k) => {
          for (let i = k; i < n; i += clients.length) {
            const { rows } = await c.query<{ run_id: string }>("select everruns.trigger($1, $2, $3) as run_id", [agent, JSON.stringify(`event ${i}`), key]);
            sent.push(rows[0]!.run_id);
          }
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const threadId = await threadOf(agent, key);
    await waitFor(
      "every event's run to succeed",
      async () => {
        const runs = await threadRuns(threadId);
        return runs.length === n && runs.every((r) => r.status === "succeeded") ? runs : undefined;
      },
      120_000,
    );
    const runs = await threadRuns(threadId);
    expect(new Set(runs.map((r) => r.id))).toEqual(new Set(sent));
    assertSequential(runs);
    // in arrival order: the activations' order is the runs' order
    const { rows: acts } = await db.pool.query<{ run_id: string }>("select run_id from everruns.activations where thread_id = $1 order by created_at, id", [
      threadId,
    ]);
    const byStart = [...runs].sort((a, b) => a.started_at!.getTime() - b.started_at!.getTime()).map((r) => r.id);
    expect(byStart).toEqual(acts.map((a) => a.run_id));
    // the last run saw every earlier event and answer
    const history = await threadHistory(db.pool, byStart.at(-1)!);
    expect(history.filter((h) => h.kind === "input")).toHaveLength(n);
    expect(new Set(history.filter((h) => h.kind === "input").map((h) => h.run_id))).toEqual(new Set(sent));
  });

  it("holds no worker while the thread waits for its next event", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "ok" }] });
    const key = "idle-thread";
    const first = await db.pool.query<{ id: string }>("select everruns.trigger($1, $2, $3) as id", [agent, '"one"', key]);
    await runEnded(first.rows[0]!.id, "succeeded");
    const threadId = await threadOf(agent, key);
    const held = async () =>
      (
        await db.pool.query<{ active: number; jobs: number }>(
          `select (select count(*)::int from everruns.runs where thread_id = $1 and status in ('queued', 'running', 'waiting')) as active,
                  (select count(*)::int from graphile_worker.jobs j join everruns.runs r on j.key = 'run:' || r.id::text where r.thread_id = $1) as jobs`,
          [threadId],
        )
      ).rows[0]!;
    // the finished run's job is deleted just after its run's last commit; from then on nothing is held
    await waitFor("the finished run's job to go", async () => (await held()).jobs === 0);
    for (let i = 0; i < 5; i++) {
      expect(await held()).toEqual({ active: 0, jobs: 0 });
      await sleep(100);
    }
    const second = await db.pool.query<{ id: string }>("select everruns.trigger($1, $2, $3) as id", [agent, '"two"', key]);
    await runEnded(second.rows[0]!.id, "succeeded");
    expect((await threadRuns(threadId)).map((r) => r.content)).toEqual(["one", "two"]);
  });

  it("waits for an interrupted run's answer before the next event runs", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      model: "s",
      tools: [{ name: "notify", type: "http", url: "http://127.0.0.1:9/never", description: "d", parameters: { type: "object" }, requires_approval: true }],
      script: [{ tool_calls: [{ name: "notify", arguments: {} }] }, { text: "done" }],
    });
    const key = "approvals";
    const first = (await db.pool.query<{ id: string }>("select everruns.trigger($1, $2, $3) as id", [agent, '"first"', key])).rows[0]!.id;
    await runEnded(first, "interrupted");
    const next = (await db.pool.query<{ id: string }>("select everruns.trigger($1, $2, $3) as id", [agent, '"second"', key])).rows[0]!.id;
    await sleep(500);
    expect((await db.pool.query("select 1 from everruns.runs where id = $1", [next])).rowCount).toBe(0);
    const { rows: acts } = await db.pool.query<{ status: string }>("select status from everruns.activations where run_id = $1", [next]);
    expect(acts[0]!.status).toBe("pending");
    // a plain insert cannot jump the queue of a thread waiting for an answer (it would have to answer it)
    const threadId = await threadOf(agent, key);
    await expect(
      db.pool.query(`insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, '{"messages":[{"role":"user","content":"jump"}]}')`, [
        agent,
        threadId,
      ]),
    ).rejects.toThrow(/answer/);
    // rejecting the approval answers the interrupt: the continuation ends, then the event runs
    const { interrupts } = (
      await db.pool.query<{ interrupts: { interrupts: { id: string }[] } }>("select interrupts from everruns.runs where id = $1", [first])
    ).rows[0]!.interrupts;
    await db.pool.query("select everruns.resume_run($1, $2)", [first, JSON.stringify(interrupts.map((i) => ({ interruptId: i.id, status: "cancelled" })))]);
    await runEnded(next, "interrupted");
  });

  it("refuses a plain insert on a busy keyed thread: its events go through everruns.trigger", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "slow", delay_ms: 1500 }] });
    const run = (await db.pool.query<{ id: string }>("select everruns.trigger($1, $2, $3) as id", [agent, '"work"', "busy"])).rows[0]!.id;
    await runEnded(run, "running");
    const threadId = await threadOf(agent, "busy");
    await expect(
      db.pool.query(`insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, '{"messages":[{"role":"user","content":"jump"}]}')`, [
        agent,
        threadId,
      ]),
    ).rejects.toThrow(/is busy \(a run active or events queued\) and takes new runs through everruns.trigger/);
    await runEnded(run, "succeeded");
  });

  it("starts a queued event the sweep finds with nothing running", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "ok" }] });
    const { rows: t } = await db.pool.query<{ id: string; workspace_id: string }>(
      "insert into everruns.threads (agent_id, key) values ($1, 'swept') returning id, workspace_id",
      [agent],
    );
    // an event queued on an idle thread (as if the run that should have started it had ended by a path that could not)
    const { rows } = await db.pool.query<{ run_id: string }>(
      `insert into everruns.activations (workspace_id, agent_id, thread_id, input, source, created_at)
       values ($1, $2, $3, '{"messages":[{"role":"user","content":"late"}]}', 'sql', clock_timestamp() - interval '10 seconds') returning run_id`,
      [t[0]!.workspace_id, agent, t[0]!.id],
    );
    await db.pool.query("update everruns_private.maintenance set repaired_at = now() - interval '1 minute'");
    await db.pool.query("select everruns_private.repair_orphaned_runs()");
    await runEnded(rows[0]!.run_id, "succeeded");
  });

  it("gives a plain event a new thread, and takes a payload that is a run input as it is", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s", script: [{ text: "ok" }] });
    const a = (await db.pool.query<{ id: string }>("select everruns.trigger($1, $2) as id", [agent, '{"alert": "disk full"}'])).rows[0]!.id;
    const b = (
      await db.pool.query<{ id: string }>("select everruns.trigger($1, $2) as id", [agent, JSON.stringify({ messages: [{ role: "user", content: "as is" }] })])
    ).rows[0]!.id;
    const { rows } = await db.pool.query<{ id: string; thread_id: string; input: { messages: { content: string }[]; context?: unknown[] } }>(
      "select id, thread_id, input from everruns.runs where id = any($1) order by created_at",
      [[a, b]],
    );
    expect(rows[0]!.thread_id).not.toBe(rows[1]!.thread_id);
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(JSON.parse(byId.get(a)!.input.messages[0]!.content)).toEqual({ alert: "disk full" });
    expect(byId.get(a)!.input.context).toHaveLength(1);
    expect(byId.get(b)!.input.messages[0]!.content).toBe("as is");
    await expect(db.pool.query("select everruns.trigger('no-such-agent', '{}')")).rejects.toThrow(/unknown agent no-such-agent/);
    await expect(db.pool.query("select everruns.trigger($1, '{}', $2)", [agent, "has space"])).rejects.toThrow(/thread key/);
  });

  it("lets a bound role trigger only its own workspace's agents", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", model: "s" });
    const ws = `ws-${randomBytes(3).toString("hex")}`;
    const role = `evr_trig_${randomBytes(3).toString("hex")}`;
    const wsId = (await db.pool.query<{ id: string }>("insert into everruns.workspaces (name) values ($1) returning id", [ws])).rows[0]!.id;
    await db.pool.query('insert into everruns.agents (workspace_id, name, config) values ($1, \'mine\', \'{"provider":"scripted","model":"s"}\')', [wsId]);
    await db.pool.query(`create role ${role} login`);
    await db.pool.query("select everruns.bind_role($1, $2, 'write')", [role, ws]);
    const url = new URL(db.url);
    url.username = role;
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      await expect(c.query("select everruns.trigger($1, '\"x\"')", [agent])).rejects.toThrow(/unknown agent/);
      const own = await c.query<{ id: string }>("select everruns.trigger('mine', '\"x\"', 'k') as id");
      const { rows } = await db.pool.query<{ workspace_id: string }>("select workspace_id from everruns.runs where id = $1", [own.rows[0]!.id]);
      expect(rows[0]!.workspace_id).toBe(wsId);
    } finally {
      await c.end();
      await db.pool.query("select everruns.unbind_role($1)", [role]);
      await db.pool.query(`drop owned by ${role}`);
      await db.pool.query(`drop role ${role}`);
    }
  });
});
