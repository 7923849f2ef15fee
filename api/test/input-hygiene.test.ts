// Hostile input at the API's edge (issue "Hostile input and resource limits", findings 3 and 4):
// text Postgres cannot store (U+0000, lone surrogates), non-finite numbers and JSON nested
// thousands deep answer 400 naming the field on every path (REST, AG-UI, GraphQL), never a 500;
// signals over their limits are refused with the limit's name.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "../../db/test/helpers.ts";
import { MAX_PENDING_SIGNALS } from "../../db/sql/sendEvent.ts";
import { postJson, startTestApi, type ApiErrorBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "hygiene-agent");
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: ApiErrorBody }> {
  return postJson<ApiErrorBody>(`${api.url}${path}`, body, api.headers);
}

async function gql(query: string, variables: Record<string, unknown>): Promise<{ message: string; code?: string } | null> {
  const res = await postJson<{ errors?: Array<{ message: string; extensions?: { code?: string } }> }>(`${api.url}/graphql`, { query, variables }, api.headers);
  const error = res.body.errors?.[0];
  return error ? { message: error.message, code: error.extensions?.code } : null;
}

const user = (content: string) => ({ messages: [{ role: "user", content }] });
const deepJson = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

describe("POST /api/runs", () => {
  it.each([
    ["NUL in message content", { agent: "hygiene-agent", input: user("a\u0000b") }, /input\.messages\[0\]\.content holds U\+0000/],
    ["NUL in the agent name", { agent: "hygiene\u0000agent", input: user("hi") }, /agent holds U\+0000/],
    [
      "NUL in a state key",
      { agent: "hygiene-agent", input: { ...user("hi"), state: { "k\u0000": 1 } } },
      /input\.state\["k\\u0000"\] has a key that holds U\+0000/,
    ],
    ["a lone surrogate", { agent: "hygiene-agent", input: user("\ud800") }, /input\.messages\[0\]\.content holds a lone UTF-16 surrogate/],
  ])("%s: 400 naming the field", async (_what, body, message) => {
    const res = await post("/api/runs", body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });

  it("a number JSON.parse reads as Infinity (1e999): 400 naming the field, not a silent null", async () => {
    const res = await post("/api/runs", '{"agent": "hygiene-agent", "input": {"messages": [{"role": "user", "content": "hi"}], "state": {"n": 1e999}}}');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/input\.state\.n is a number too large/);
  });

  it("a body nested 6,000 deep: 400 at once, no crash; the API keeps answering", async () => {
    const started = performance.now();
    const res = await post("/api/runs", `{"agent": "hygiene-agent", "input": {"messages": [], "state": {"x": ${deepJson(6000)}}}}`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/input\.state\.x(\[0\])+.* is nested deeper than 64 levels/);
    expect(performance.now() - started).toBeLessThan(2000);
    // and 100,000 deep (about 200 kB)
    expect((await post("/api/runs", `{"agent": "hygiene-agent", "input": ${deepJson(100_000)}}`)).status).toBe(400);
    expect((await post("/api/runs", { agent: "hygiene-agent", input: user("still here") })).status).toBe(201);
  });
});

describe("POST /api/runs/:id/signals", () => {
  it("NUL in the name or the payload, a deep payload: 400 naming the field", async () => {
    const runId = await startRun(db.pool, agentId);
    for (const [body, message] of [
      [{ name: "n\u0000", payload: {} }, /name holds U\+0000/],
      [{ name: "go", payload: { text: "a\u0000" } }, /payload\.text holds U\+0000/],
      [`{"name": "go", "payload": ${deepJson(6000)}}`, /payload(\[0\])+.* is nested deeper than 64 levels/],
    ] as const) {
      const res = await post(`/api/runs/${runId}/signals`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
  });

  it("over max_signal_payload_bytes or max_pending_signals: 400 limit_exceeded naming the limit", async () => {
    const runId = await startRun(db.pool, agentId);
    const big = await post(`/api/runs/${runId}/signals`, { name: "big", payload: { data: "x".repeat(70_000) } });
    expect(big.status).toBe(400);
    expect(big.body.error).toMatchObject({ code: "limit_exceeded", message: expect.stringMatching(/max_signal_payload_bytes/) as unknown });
    await db.pool.query("select everruns.send_event($1, 'ping', '{}') from generate_series(1, $2)", [runId, MAX_PENDING_SIGNALS]);
    const many = await post(`/api/runs/${runId}/signals`, { name: "ping", payload: {} });
    expect(many.status).toBe(400);
    expect(many.body.error).toMatchObject({ code: "limit_exceeded", message: expect.stringMatching(/max_pending_signals/) as unknown });
  });
});

describe("POST /api/agents/:agent/agui", () => {
  const body = (over: Record<string, unknown> = {}) => ({
    threadId: randomUUID(),
    runId: randomUUID(),
    messages: [{ id: randomUUID(), role: "user", content: "hi" }],
    tools: [],
    context: [],
    state: {},
    ...over,
  });

  it.each([
    ["NUL in message content", body({ messages: [{ id: "m1", role: "user", content: "a\u0000" }] }), /messages\[0\]\.content holds U\+0000/],
    ["NUL in a state key", body({ state: { "a\u0000": 1 } }), /state\["a\\u0000"\] has a key/],
    ["NUL in an interruptId", body({ resume: [{ interruptId: "i\u0000", status: "resolved" }] }), /resume\[0\]\.interruptId holds U\+0000/],
    ["NUL in the runId", body({ runId: "r\u0000" }), /runId holds U\+0000/],
  ])("%s: 400 naming the field", async (_what, input, message) => {
    const res = await post("/api/agents/hygiene-agent/agui", input);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });

  it("a state nested 6,000 deep: 400", async () => {
    const raw = JSON.stringify(body()).replace('"state":{}', `"state":{"x":${deepJson(6000)}}`);
    const res = await post("/api/agents/hygiene-agent/agui", raw);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/state\.x(\[0\])+.* is nested deeper than 64 levels/);
  });
});

describe("GraphQL", () => {
  it("startRun: NUL in content or agent, deep or non-finite input: an error naming the field, not internal_error", async () => {
    const start = "mutation ($agent: String!, $input: JSON!) { startRun(agent: $agent, input: $input) { runId } }";
    const nul = await gql(start, { agent: "hygiene-agent", input: user("a\u0000") });
    expect(nul).toMatchObject({ code: "invalid_run_input", message: expect.stringMatching(/input\.messages\[0\]\.content holds U\+0000/) as unknown });
    expect(await gql(start, { agent: "hygiene\u0000", input: user("hi") })).toMatchObject({ code: "invalid_run_input" });
    const res = await postJson<{ errors?: Array<{ message: string; extensions?: { code?: string } }> }>(
      `${api.url}/graphql`,
      `{"query": ${JSON.stringify(start)}, "variables": {"agent": "hygiene-agent", "input": {"messages": [], "state": {"x": ${deepJson(6000)}}}}}`,
      api.headers,
    );
    expect(res.body.errors?.[0]?.extensions?.code).not.toBe("internal_error");
    expect(res.body.errors?.[0]?.message).toMatch(/nested/);
  });

  it("sendEvent: NUL in name or payload, limits: an error naming the field or the limit", async () => {
    const runId = await startRun(db.pool, agentId);
    const send = "mutation ($runId: UUID!, $name: String!, $payload: JSON) { sendEvent(runId: $runId, name: $name, payload: $payload) { woke } }";
    expect(await gql(send, { runId, name: "n\u0000", payload: {} })).toMatchObject({ message: expect.stringMatching(/name holds U\+0000/) as unknown });
    expect(await gql(send, { runId, name: "go", payload: { "k\u0000": 1 } })).toMatchObject({
      message: expect.stringMatching(/payload\["k\\u0000"\] has a key/) as unknown,
    });
    expect(await gql(send, { runId, name: "go", payload: { data: "x".repeat(70_000) } })).toMatchObject({
      code: "limit_exceeded",
      message: expect.stringMatching(/max_signal_payload_bytes/) as unknown,
    });
  });
});
