// A workspace's admission limits (000021, 000023) as clients meet them: POST /api/runs over a
// limit is a 429 `workspace_limit` with Retry-After; GraphQL's startRun an error with that code
// and retryAfter; max_running_runs keeps runs queued, not admitted, which workspaceLimits counts
// and explainQueue explains; the daily quotas and dedicated read back with today's usage. No worker: runs stay queued, so the limits fill deterministically.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { setWorkspaceLimits } from "../../db/sql/workspaceLimits.ts";
import { bearer, createTestKey, startTestApi, type ApiErrorBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

/** A fresh workspace with an agent "limited" and an operator key of it. */
async function workspace(): Promise<{ id: string; headers: Record<string, string> }> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`ws-${randomBytes(4).toString("hex")}`]);
  const id = rows[0]!.id;
  await db.pool.query("insert into everruns.agents (workspace_id, name, config) values ($1, 'limited', $2)", [
    id,
    JSON.stringify({ provider: "scripted", script: [{ text: "hi" }] }),
  ]);
  return { id, headers: bearer(await createTestKey(db.url, { role: "operator", workspaceId: id })) };
}

const hello = { messages: [{ role: "user", content: "hello" }] };

function postRun(headers: Record<string, string>): Promise<Response> {
  return fetch(`${api.url}/api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ agent: "limited", input: hello }),
  });
}

describe("workspace limits over the API", () => {
  it("POST /api/runs over max_queued_runs: 429 workspace_limit with Retry-After 10", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 2, runsPerMinute: null });
    expect((await postRun(ws.headers)).status).toBe(201);
    expect((await postRun(ws.headers)).status).toBe(201);
    const refused = await postRun(ws.headers);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("10");
    const body = (await refused.json()) as ApiErrorBody;
    expect(body.error.code).toBe("workspace_limit");
    expect(body.error.message).toMatch(/is at its limit max_queued_runs 2: 1 more runs would make 3 queued \(Wait for queued runs to start/);
  });

  it("POST /api/runs over runs_per_minute: Retry-After is the seconds until a token", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: null, runsPerMinute: 1 });
    expect((await postRun(ws.headers)).status).toBe(201);
    const refused = await postRun(ws.headers);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(55);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await refused.json()) as ApiErrorBody).error.code).toBe("workspace_limit");
  });

  it("GraphQL startRun over a limit: an error with code workspace_limit and retryAfter", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 1, runsPerMinute: null });
    const start = () =>
      fetch(`${api.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...ws.headers },
        body: JSON.stringify({ query: `mutation ($input: JSON!) { startRun(agent: "limited", input: $input) { runId } }`, variables: { input: hello } }),
      }).then((r) => r.json() as Promise<{ data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> }>);
    expect((await start()).errors).toBeUndefined();
    const refused = await start();
    expect(refused.errors![0]).toMatchObject({
      message: expect.stringMatching(/is at its limit max_queued_runs 1/) as unknown,
      extensions: { code: "workspace_limit", retryAfter: 10 },
    });
  });
});

describe("workspaceLimits in GraphQL (issue 14: the console shows them)", () => {
  const query =
    "{ workspaceLimits { workspaceId workspaceName maxQueuedRuns runsPerMinute maxRunningRuns weight maxTokensPerDay maxCostUsdPerDay dedicated queuedRuns pendingRuns activeRuns oldestPendingAt tokensToday costUsdToday tokens updatedAt } }";
  const read = (headers: Record<string, string>) =>
    fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify({ query }),
    }).then((r) => r.json() as Promise<{ data?: { workspaceLimits: Record<string, unknown> | null }; errors?: unknown[] }>);

  it("shows every role its own workspace's limits and usage: A its limits, B unlimited", async () => {
    const a = await workspace();
    const b = await workspace();
    await setWorkspaceLimits(db.pool, a.id, { maxQueuedRuns: 20, runsPerMinute: 5 });
    // usage: two queued runs in A (no worker), each taking a token; one in B
    expect((await postRun(a.headers)).status).toBe(201);
    expect((await postRun(a.headers)).status).toBe(201);
    expect((await postRun(b.headers)).status).toBe(201);

    for (const role of ["viewer", "operator", "admin"] as const) {
      const aKey = bearer(await createTestKey(db.url, { role, workspaceId: a.id }));
      const aAnswer = await read(aKey);
      expect(aAnswer.errors, `A's ${role} key`).toBeUndefined();
      const aLimits = aAnswer.data!.workspaceLimits!;
      expect(aLimits).toMatchObject({ workspaceId: a.id, maxQueuedRuns: 20, runsPerMinute: 5, maxRunningRuns: null, weight: 1, queuedRuns: 2 });
      // 5 - 2 taken, refilled by one every 12 s since (and never past 5)
      expect(aLimits.tokens).toBeGreaterThanOrEqual(3);
      expect(aLimits.tokens).toBeLessThanOrEqual(5);
      expect(aLimits.updatedAt).toEqual(expect.any(String));

      const bKey = bearer(await createTestKey(db.url, { role, workspaceId: b.id }));
      const bAnswer = await read(bKey);
      expect(bAnswer.errors, `B's ${role} key`).toBeUndefined();
      expect(bAnswer.data!.workspaceLimits).toEqual({
        workspaceId: b.id,
        workspaceName: expect.any(String) as unknown,
        maxQueuedRuns: null,
        runsPerMinute: null,
        maxRunningRuns: null,
        weight: 1,
        maxTokensPerDay: null,
        maxCostUsdPerDay: null,
        dedicated: false,
        queuedRuns: 1,
        pendingRuns: 0,
        activeRuns: 1,
        oldestPendingAt: null,
        tokensToday: null,
        costUsdToday: null,
        tokens: null,
        updatedAt: null,
      });
    }
  });
});

describe("max_running_runs and weight (000023): set, audited, counted and explained", () => {
  type Answer<T> = { data?: T; errors?: Array<{ message: string }> };
  const gql = <T>(headers: Record<string, string>, query: string, variables: Record<string, unknown> = {}) =>
    fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json() as Promise<Answer<T>>);
  const EXPLAIN = `query ($runId: UUID!) { explainQueue(runId: $runId) {
    runId status admitted heldBy position priority workspaceActive maxRunningRuns weight slots slotsTaken estimatedWaitSeconds message } }`;
  type Explanation = Record<string, unknown> | null;

  it("sets only the limits given, audits the change, and keeps runs past max_running_runs waiting", async () => {
    const ws = await workspace();
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 50 });
    const set = await setWorkspaceLimits(db.pool, ws.id, { maxRunningRuns: 1, weight: 3 });
    // max_queued_runs kept: only the keys given change
    expect(set).toMatchObject({ maxQueuedRuns: 50, runsPerMinute: null, maxRunningRuns: 1, weight: 3, activeRuns: 0, pendingRuns: 0, oldestPendingAt: null });
    const { rows } = await db.pool.query<{ details: unknown }>(
      "select details from everruns.audit_log where workspace_id = $1 and action = 'workspace.limits_set' order by seq desc limit 1",
      [ws.id],
    );
    const unset = { max_tokens_per_day: null, max_cost_usd_per_day: null, dedicated: false };
    expect(rows[0]!.details).toEqual({
      old: { max_queued_runs: 50, runs_per_minute: null, max_running_runs: null, weight: 1, ...unset },
      new: { max_queued_runs: 50, runs_per_minute: null, max_running_runs: 1, weight: 3, ...unset },
    });
    await expect(setWorkspaceLimits(db.pool, ws.id, { weight: 1001 })).rejects.toThrow(/weight must be a whole number from 1 to 1000/);

    // three runs, no worker: the first takes the workspace's one slot, two wait for it
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await postRun(ws.headers);
      expect(created.status).toBe(201);
      ids.push(((await created.json()) as { id: string }).id);
    }

    const limits = await gql<{ workspaceLimits: Record<string, unknown> }>(
      ws.headers,
      "{ workspaceLimits { maxQueuedRuns maxRunningRuns weight queuedRuns pendingRuns activeRuns oldestPendingAt } }",
    );
    expect(limits.errors).toBeUndefined();
    expect(limits.data!.workspaceLimits).toEqual({
      maxQueuedRuns: 50,
      maxRunningRuns: 1,
      weight: 3,
      queuedRuns: 3,
      pendingRuns: 2,
      activeRuns: 1,
      oldestPendingAt: expect.any(String) as unknown,
    });
    const { rows: second } = await db.pool.query<{ created_at: Date }>("select created_at from everruns.runs where id = $1", [ids[1]]);
    expect(new Date(limits.data!.workspaceLimits.oldestPendingAt as string).getTime()).toBe(second[0]!.created_at.getTime());

    // the admitted run holds the slot; the two others wait for it, in order
    const admitted = await gql<{ explainQueue: Explanation }>(ws.headers, EXPLAIN, { runId: ids[0] });
    expect(admitted.errors).toBeUndefined();
    expect(admitted.data!.explainQueue).toMatchObject({ runId: ids[0], status: "queued", admitted: true, heldBy: null, position: null });
    for (const [i, position] of [
      [1, 1],
      [2, 2],
    ] as const) {
      const answer = await gql<{ explainQueue: Explanation }>(ws.headers, EXPLAIN, { runId: ids[i] });
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.explainQueue).toMatchObject({
        runId: ids[i],
        status: "queued",
        admitted: false,
        heldBy: "max_running_runs",
        position,
        priority: 0,
        workspaceActive: 1,
        maxRunningRuns: 1,
        weight: 3,
        message: expect.stringMatching(/^waiting for a slot: ws-[0-9a-f]+ is at max_running_runs 1/) as unknown,
      });
    }
    // every role reads it
    const viewer = bearer(await createTestKey(db.url, { role: "viewer", workspaceId: ws.id }));
    expect((await gql<{ explainQueue: Explanation }>(viewer, EXPLAIN, { runId: ids[2] })).data!.explainQueue).toMatchObject({ position: 2 });

    // another workspace's run, or no run at all: null, no error
    const other = await workspace();
    for (const runId of [ids[1], "00000000-0000-0000-0000-00000000beef"]) {
      const answer = await gql<{ explainQueue: Explanation }>(other.headers, EXPLAIN, { runId });
      expect(answer, runId).toEqual({ data: { explainQueue: null } });
    }

    // raising the limit admits the waiting runs at once
    expect(await setWorkspaceLimits(db.pool, ws.id, { maxRunningRuns: null })).toMatchObject({ maxRunningRuns: null, activeRuns: 3, pendingRuns: 0 });
  });
});

describe("daily quotas and dedicated (000023) in GraphQL", () => {
  const QUERY = "{ workspaceLimits { maxQueuedRuns maxTokensPerDay maxCostUsdPerDay dedicated tokensToday costUsdToday } }";
  const read = (headers: Record<string, string>) =>
    fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify({ query: QUERY }),
    }).then((r) => r.json() as Promise<{ data?: { workspaceLimits: Record<string, unknown> | null }; errors?: unknown[] }>);

  it("echo the quotas set, count today's usage while one is set, and show dedicated on and off", async () => {
    const ws = await workspace();
    // no quota: nothing counted (null), not dedicated
    expect(await read(ws.headers)).toEqual({
      data: {
        workspaceLimits: {
          maxQueuedRuns: null,
          maxTokensPerDay: null,
          maxCostUsdPerDay: null,
          dedicated: false,
          tokensToday: null,
          costUsdToday: null,
        },
      },
    });

    // quotas set (the other limits kept): today's usage counted from 0, no LLM step yet
    await setWorkspaceLimits(db.pool, ws.id, { maxQueuedRuns: 10 });
    const set = await setWorkspaceLimits(db.pool, ws.id, { maxTokensPerDay: 100_000, maxCostUsdPerDay: 2.5 });
    expect(set).toMatchObject({ maxQueuedRuns: 10, maxTokensPerDay: 100_000, maxCostUsdPerDay: 2.5, dedicated: false, tokensToday: 0, costUsdToday: 0 });
    expect((await read(ws.headers)).data!.workspaceLimits).toEqual({
      maxQueuedRuns: 10,
      maxTokensPerDay: 100_000,
      maxCostUsdPerDay: 2.5,
      dedicated: false,
      tokensToday: 0,
      costUsdToday: 0,
    });
    // an LLM step committed today counts (as a worker's would: tg_run_steps__quota_usage)
    const created = await postRun(ws.headers);
    expect(created.status).toBe(201);
    const runId = ((await created.json()) as { id: string }).id;
    await db.pool.query(
      `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, usage, started_at, finished_at, run_created_at)
       values ($1, 1, $2, 'llm', 'scripted', 'succeeded', 1, $3, now(), now(),
               (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = $1))`,
      [runId, ws.id, JSON.stringify({ input_tokens: 1200, output_tokens: 345, cost_usd: 0.0123 })],
    );
    expect((await read(ws.headers)).data!.workspaceLimits).toMatchObject({ tokensToday: 1545, costUsdToday: 0.0123 });

    // more than 2^31 tokens a day: a Float, not an Int
    await setWorkspaceLimits(db.pool, ws.id, { maxTokensPerDay: 5_000_000_000 });
    expect((await read(ws.headers)).data!.workspaceLimits).toMatchObject({ maxTokensPerDay: 5_000_000_000, maxCostUsdPerDay: 2.5 });

    // dedicated on, then off; the quotas kept
    await setWorkspaceLimits(db.pool, ws.id, { dedicated: true });
    const viewer = bearer(await createTestKey(db.url, { role: "viewer", workspaceId: ws.id }));
    expect((await read(viewer)).data!.workspaceLimits).toMatchObject({ dedicated: true, maxTokensPerDay: 5_000_000_000, tokensToday: 1545 });
    await setWorkspaceLimits(db.pool, ws.id, { dedicated: false });
    expect((await read(ws.headers)).data!.workspaceLimits).toMatchObject({ dedicated: false });

    // bad values: refused with what to give
    await expect(setWorkspaceLimits(db.pool, ws.id, { maxCostUsdPerDay: 0 })).rejects.toThrow(/max_cost_usd_per_day must be a number of dollars more than 0/);
    await expect(setWorkspaceLimits(db.pool, ws.id, { maxTokensPerDay: 1.5 })).rejects.toThrow(/max_tokens_per_day must be a whole number from 1/);

    // both quotas removed: usage no longer shown
    await setWorkspaceLimits(db.pool, ws.id, { maxTokensPerDay: null, maxCostUsdPerDay: null });
    expect((await read(ws.headers)).data!.workspaceLimits).toMatchObject({
      maxTokensPerDay: null,
      maxCostUsdPerDay: null,
      tokensToday: null,
      costUsdToday: null,
    });
  });
});
