// The console's navigation over GraphQL (issue 13, point 11): the runs list's search and filters,
// the threads list, and the Workers & queue page's reads, for keys of two workspaces over one
// database with real workers (one a child process, killed with -9). Another workspace's runs,
// threads and steps never appear; workers are shared, but a viewer sees only its own steps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";
import { DEFAULT_WORKSPACE_ID, quietLog } from "./helpers.ts";

let db: TestDatabase;
let api: ApiHandle;
let child: WorkerProcess | null = null;
let sweeper: WorkerHandle | null = null;
let wsB: string;
const keys: Record<string, string> = {};

async function gql<T>(key: string, query: string, variables: Record<string, unknown> = {}): Promise<{ data: T | null; errors?: Array<{ message: string }> }> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as never;
}

async function ok<T>(key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await gql<T>(key, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data!;
}

async function agentIn(workspaceId: string, name: string, config: Record<string, unknown>): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    workspaceId,
    name,
    JSON.stringify(config),
  ]);
  return rows[0]!.id;
}

const RUN_IDS = `query ($condition: RunCondition) { allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: 100) { totalCount nodes { id agentVersion } } }`;
async function runIds(key: string, condition: Record<string, unknown>): Promise<string[]> {
  const data = await ok<{ allRuns: { nodes: Array<{ id: string }> } }>(key, RUN_IDS, { condition });
  return data.allRuns.nodes.map((n) => n.id).sort();
}

beforeAll(async () => {
  db = await createTestDatabase();
  wsB = (await createWorkspace(db.pool, "nav-b")).id;
  for (const [ws, label] of [
    [DEFAULT_WORKSPACE_ID, "A"],
    [wsB, "B"],
  ] as const) {
    keys[`${label}viewer`] = (await createApiKey(db.pool, { name: `nav-${label}-viewer`, role: "viewer", workspaceId: ws })).key;
    keys[`${label}admin`] = (await createApiKey(db.pool, { name: `nav-${label}-admin`, role: "admin", workspaceId: ws })).key;
  }
  api = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false });
});

afterAll(async () => {
  child?.child.kill("SIGKILL");
  await sweeper?.stop();
  await api?.close();
  await db?.drop();
});

describe("runs search and filters, threads list", () => {
  const ids: Record<string, string> = {};
  let errorCode = "";

  beforeAll(async () => {
    sweeper = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: quietLog });
    // okA asks for an approval: a1 is interrupted, and answering it continues the thread as a3
    const okA = await agentIn(DEFAULT_WORKSPACE_ID, "nav-ok", {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "done" }],
    });
    const badA = await agentIn(DEFAULT_WORKSPACE_ID, "nav-bad", { provider: "scripted", script: [{ text: "x", error: "bad_request" }] });
    const okB = await agentIn(wsB, "nav-ok", { provider: "scripted", script: [{ text: "fine" }] });
    ids.a1 = await startRun(db.pool, okA, "the needle-7731 in workspace A");
    ids.a2 = await startRun(db.pool, badA, "plain A input");
    ids.b1 = await startRun(db.pool, okB, "the needle-7731 in workspace B");
    for (const id of Object.values(ids)) await waitForStatus(db.pool, id, ["succeeded", "failed", "interrupted"]);
    // version 2 of okA before the answer: the continuation pins the agent's current version
    await db.pool.query('update everruns.agents set config = config || \'{"system_prompt": "v2"}\' where id = $1', [okA]);
    const interruptId = (
      await db.pool.query<{ id: string }>(
        "select i ->> 'id' as id from everruns.runs r, jsonb_array_elements(r.interrupts -> 'interrupts') i where r.id = $1",
        [ids.a1],
      )
    ).rows[0]!.id;
    const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
      ids.a1,
      JSON.stringify([{ interruptId, status: "resolved", payload: { approved: true } }]),
    ]);
    ids.a3 = rows[0]!.id;
    await waitForStatus(db.pool, ids.a3, ["succeeded", "failed"]);
    // a continuation keeps its parent's version; a new run takes the agent's current one
    ids.a4 = await startRun(db.pool, okA, "a run of version 2");
    await waitForStatus(db.pool, ids.a4, ["interrupted"]);
    errorCode = (await db.pool.query<{ code: string }>("select error ->> 'code' as code from everruns.runs where id = $1", [ids.a2])).rows[0]!.code;
  });

  it("searches input text, run, thread and parent ids, only in the key's workspace", async () => {
    expect(await runIds(keys.Aviewer!, { search: "NEEDLE-7731" })).toEqual([ids.a1]);
    expect(await runIds(keys.Bviewer!, { search: "needle-7731" })).toEqual([ids.b1]);
    // LIKE's wildcards are characters: "%" finds nothing, not everything
    expect(await runIds(keys.Aviewer!, { search: "%%%" })).toEqual([]);
    // a run id: that run; a thread id: its runs; a parent id: it and its continuations
    expect(await runIds(keys.Aviewer!, { search: ids.a2 })).toEqual([ids.a2]);
    const thread = (await db.pool.query<{ t: string }>("select thread_id as t from everruns.runs where id = $1", [ids.a1])).rows[0]!.t;
    expect(await runIds(keys.Aviewer!, { search: thread })).toEqual([ids.a1, ids.a3].sort());
    expect(await runIds(keys.Aviewer!, { parentRunId: ids.a1 })).toEqual([ids.a3]);
    // B's ids from A's key: nothing, as if they did not exist
    expect(await runIds(keys.Aviewer!, { search: ids.b1 })).toEqual([]);
    const bThread = (await db.pool.query<{ t: string }>("select thread_id as t from everruns.runs where id = $1", [ids.b1])).rows[0]!.t;
    expect(await runIds(keys.Aviewer!, { search: bThread })).toEqual([]);
    // too short a text says what to do
    const short = await gql(keys.Aviewer!, RUN_IDS, { condition: { search: "ab" } });
    expect(short.errors?.[0]?.message).toMatch(/whole run\/thread id or 3 to 200 characters/);
  });

  it("filters by agent version, error code and absolute dates", async () => {
    const okA = (await db.pool.query<{ a: string }>("select agent_id as a from everruns.runs where id = $1", [ids.a1])).rows[0]!.a;
    expect(await runIds(keys.Aviewer!, { agentId: okA, agentVersion: 1 })).toEqual([ids.a1, ids.a3].sort());
    expect(await runIds(keys.Aviewer!, { agentId: okA, agentVersion: 2 })).toEqual([ids.a4]);
    expect(errorCode).toBeTruthy();
    expect(await runIds(keys.Aviewer!, { errorCode })).toEqual([ids.a2]);
    expect(await runIds(keys.Bviewer!, { errorCode })).toEqual([]);
    const created = (await db.pool.query<{ c: Date }>("select created_at as c from everruns.runs where id = $1", [ids.a2])).rows[0]!.c;
    const before = new Date(created.getTime() + 1).toISOString();
    expect(await runIds(keys.Aviewer!, { createdBefore: before, createdAfter: new Date(created.getTime() - 1).toISOString() })).toEqual([ids.a2]);
    const data = await ok<{ allRuns: { nodes: Array<{ id: string; agentVersion: number }> } }>(keys.Aviewer!, RUN_IDS, { condition: { id: ids.a4 } });
    expect(data.allRuns.nodes[0]!.agentVersion).toBe(2);
  });

  it("lists threads newest activity first with run count and latest run, per workspace", async () => {
    const q = `{ threadSummaries(first: 10) { hasNextPage nodes { threadId agentName runCount latestRunId latestRunStatus title lastActivityAt } } }`;
    type Page = {
      threadSummaries: {
        hasNextPage: boolean;
        nodes: Array<{ threadId: string; agentName: string; runCount: number; latestRunId: string; latestRunStatus: string; title: string }>;
      };
    };
    const a = (await ok<Page>(keys.Aviewer!, q)).threadSummaries;
    expect(a.nodes.map((n) => n.latestRunId)).toEqual([ids.a4, ids.a3, ids.a2]);
    expect(a.nodes[1]).toMatchObject({ runCount: 2, agentName: "nav-ok", latestRunStatus: "succeeded", title: "the needle-7731 in workspace A" });
    expect(a.nodes[0]).toMatchObject({ runCount: 1, latestRunStatus: "interrupted", title: "a run of version 2" });
    const b = (await ok<Page>(keys.Bviewer!, q)).threadSummaries;
    expect(b.nodes.map((n) => n.latestRunId)).toEqual([ids.b1]);
    const page1 = (await ok<Page>(keys.Aviewer!, `{ threadSummaries(first: 1) { hasNextPage nodes { latestRunId } } }`)).threadSummaries;
    expect(page1.hasNextPage).toBe(true);
    const page2 = (await ok<Page>(keys.Aviewer!, `{ threadSummaries(first: 1, offset: 2) { hasNextPage nodes { latestRunId } } }`)).threadSummaries;
    expect(page2).toEqual({ hasNextPage: false, nodes: [{ latestRunId: ids.a2 }] });
  });
});

describe("workers & queue", () => {
  it("shows a live worker's steps only to their workspace, a stalled step, a timer, the queue, and a crash with its freed run", async () => {
    await sweeper?.stop();
    sweeper = null;
    child = await spawnWorker(db.url);
    // B: a step that takes a minute and writes nothing meanwhile; A: a run that sleeps an hour
    const slowB = await agentIn(wsB, "nav-slow", { provider: "scripted", script: [{ text: "", delay_ms: 60_000 }] });
    const sleeperA = await agentIn(DEFAULT_WORKSPACE_ID, "nav-sleeper", {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ text: "", tool_calls: [{ name: "sleep", arguments: { seconds: 3600 } }] }, { text: "woke" }],
    });
    const runB = await startRun(db.pool, slowB, "slow one");
    const runA = await startRun(db.pool, sleeperA, "sleep an hour");
    await waitForStatus(db.pool, runA, ["waiting"]);
    await waitFor("B's step to begin on the child worker", async () => {
      const { rows } = await db.pool.query("select 1 from everruns.runs r where r.id = $1 and r.step_started_at is not null", [runB]);
      return rows.length > 0 || undefined;
    });

    const W = `{ workerStatuses { poolId hostname pid concurrency startedAt lastSeenAt steps { runId agentName status step attempt stepStartedAt } } }`;
    type Workers = {
      workerStatuses: Array<{
        poolId: string;
        hostname: string | null;
        pid: number | null;
        steps: Array<{ runId: string; agentName: string; status: string }>;
      }>;
    };
    const asB = (await ok<Workers>(keys.Bviewer!, W)).workerStatuses;
    expect(asB.map((w) => w.poolId)).toEqual([child.poolId]);
    expect(asB[0]!.steps).toEqual([expect.objectContaining({ runId: runB, agentName: "nav-slow", status: "running" })]);
    expect(asB[0]).toMatchObject({ hostname: null, pid: null }); // a viewer: no host map
    const asA = (await ok<Workers>(keys.Aviewer!, W)).workerStatuses;
    expect(asA.map((w) => w.poolId)).toEqual([child.poolId]);
    expect(asA[0]!.steps).toEqual([]); // B's step never shows in A
    const asAdminA = (await ok<Workers>(keys.Aadmin!, W)).workerStatuses;
    expect(asAdminA[0]!.pid).toBe(child.child.pid);
    expect(asAdminA[0]!.steps).toEqual([]);

    // timers: A's sleep with its deadline, nothing in B
    const T = `{ scheduledTimers { runId kind eventName until } }`;
    type Timers = { scheduledTimers: Array<{ runId: string; kind: string; until: string }> };
    const timersA = (await ok<Timers>(keys.Aviewer!, T)).scheduledTimers;
    expect(timersA).toEqual([expect.objectContaining({ runId: runA, kind: "timer" })]);
    expect(Date.parse(timersA[0]!.until) - Date.now()).toBeGreaterThan(3000 * 1000);
    expect((await ok<Timers>(keys.Bviewer!, T)).scheduledTimers).toEqual([]);

    // the queue, sampled by the workers' repair cadence: B's running job in B's history only
    const Q = `{ queueHistory(windowSeconds: 300, bucketSeconds: 10) { start ready scheduled running } queueDepth { ready scheduled running } }`;
    type Queue = { queueHistory: Array<{ running: number; scheduled: number }>; queueDepth: { running: number; scheduled: number } };
    await waitFor("a queue sample of B's running step", async () => {
      const q = (await ok<Queue>(keys.Bviewer!, Q)).queueHistory;
      return q.some((b) => b.running === 1) || undefined;
    });
    const qA = await ok<Queue>(keys.Aviewer!, Q);
    expect(qA.queueHistory.every((b) => b.running === 0)).toBe(true);
    expect(qA.queueDepth).toMatchObject({ running: 0, scheduled: 1 });

    // stalled: B's step began more than 10 s ago and wrote nothing since
    const S = `{ stuckRuns(stalledSeconds: 10) { runId reason status since } }`;
    type Stuck = { stuckRuns: Array<{ runId: string; reason: string }> };
    await waitFor(
      "B's step to count as stalled",
      async () => ((await ok<Stuck>(keys.Bviewer!, S)).stuckRuns.some((r) => r.runId === runB && r.reason === "stalled") ? true : undefined),
      30_000,
    );
    expect((await ok<Stuck>(keys.Aviewer!, S)).stuckRuns).toEqual([]);

    // kill -9 the child mid-step: the sweeper of a new worker frees its job and records the exit
    sweeper = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: quietLog });
    child.child.kill("SIGKILL");
    await child.exited;
    const E = `{ workerExits(windowSeconds: 3600) { poolId hostname crashed freedRunIds exitedAt } }`;
    type Exits = { workerExits: Array<{ poolId: string; hostname: string | null; crashed: boolean; freedRunIds: string[] }> };
    const dead = child.poolId;
    await waitFor("the crash to be recorded", async () => ((await ok<Exits>(keys.Bviewer!, E)).workerExits.some((e) => e.poolId === dead) ? true : undefined));
    const exitB = (await ok<Exits>(keys.Bviewer!, E)).workerExits.find((e) => e.poolId === dead)!;
    expect(exitB).toMatchObject({ crashed: true, freedRunIds: [runB], hostname: null });
    const exitA = (await ok<Exits>(keys.Aadmin!, E)).workerExits.find((e) => e.poolId === dead)!;
    expect(exitA.crashed).toBe(true);
    expect(exitA.freedRunIds).toEqual([]); // B's run is not A's business
    expect(exitA.hostname).toBeTruthy();
  }, 120_000);
});
