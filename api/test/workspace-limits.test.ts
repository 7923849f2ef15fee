// A workspace's admission limits (000021) as clients meet them: POST /api/runs over a limit is a
// 429 `workspace_limit` with Retry-After; GraphQL's startRun an error with that code and retryAfter.
// No worker: runs stay queued, so max_queued_runs fills deterministically.
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
  const query = "{ workspaceLimits { workspaceId workspaceName maxQueuedRuns runsPerMinute queuedRuns tokens updatedAt } }";
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
      expect(aLimits).toMatchObject({ workspaceId: a.id, maxQueuedRuns: 20, runsPerMinute: 5, queuedRuns: 2 });
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
        queuedRuns: 1,
        tokens: null,
        updatedAt: null,
      });
    }
  });
});
