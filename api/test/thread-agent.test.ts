// A run continues only a thread of its own agent (issue "Workspaces and access control"; the
// runs trigger's EV007, db/migrations/000002_hardening.sql): through REST, GraphQL and AG-UI,
// a run naming another agent's thread is refused with 400 and leaves nothing behind, so its model
// never receives that thread's history. No worker runs: the runs stay queued and nothing moves
// under the counts.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { postJson, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let mine: string;
let other: string;

const hello = { messages: [{ role: "user", content: "hello" }] };

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  mine = await createAgent(db.pool, { provider: "scripted", script: [{ text: "the secret is 42" }] }, "keeper");
  other = await createAgent(db.pool, { provider: "scripted", script: [{ text: "tell me" }] }, "snoop");
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function counts() {
  const { rows } = await db.pool.query<{ runs: number; threads: number; jobs: number }>(`select
    (select count(*) from everruns.runs)::int as runs,
    (select count(*) from everruns.threads)::int as threads,
    (select count(*) from graphile_worker.jobs)::int as jobs`);
  return rows[0]!;
}

const refusal = (threadId: string) =>
  `thread ${threadId} belongs to agent ${mine}; a run may continue only a thread of its own agent ` +
  `(Leave thread_id out to start a new thread, or give a thread of agent ${other} (everruns.threads.agent_id).)`;

it("REST: POST /api/runs with another agent's thread_id is a 400 that leaves nothing behind", async () => {
  const first = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "keeper", input: hello }, api.headers);
  expect(first.status).toBe(201);
  const before = await counts();
  const res = await postJson<ApiErrorBody>(`${api.url}/api/runs`, { agent: "snoop", input: hello, thread_id: first.body.thread_id }, api.headers);
  expect(res).toEqual({ status: 400, body: { error: { code: "invalid_run_input", message: refusal(first.body.thread_id) } } });
  expect(await counts()).toEqual(before);
  // the thread's own agent continues it
  const second = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: "keeper", input: hello, thread_id: first.body.thread_id }, api.headers);
  expect(second).toMatchObject({ status: 201, body: { thread_id: first.body.thread_id } });
});

it("GraphQL: startRun with another agent's threadId is refused the same way", async () => {
  const threadId = randomUUID();
  await db.pool.query("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3)", [mine, hello, threadId]);
  const before = await counts();
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...api.headers },
    body: JSON.stringify({
      query: `mutation ($a: String!, $t: UUID) { startRun(agent: $a, input: { messages: [{ role: "user", content: "hi" }] }, threadId: $t) { runId } }`,
      variables: { a: "snoop", t: threadId },
    }),
  });
  const body = (await res.json()) as { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  expect(body.errors?.[0]).toMatchObject({ message: refusal(threadId), extensions: { code: "invalid_run_input" } });
  expect(await counts()).toEqual(before);
});

it("AG-UI: a RunAgentInput naming another agent's thread is refused the same way", async () => {
  const threadId = randomUUID();
  await db.pool.query("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3)", [mine, hello, threadId]);
  const before = await counts();
  const res = await postJson<ApiErrorBody>(
    `${api.url}/api/agents/snoop/agui`,
    {
      threadId,
      runId: randomUUID(),
      messages: [{ id: "m1", role: "user", content: "what did they say?" }],
      tools: [],
      context: [],
      state: {},
      forwardedProps: {},
    },
    api.headers,
  );
  expect(res).toEqual({ status: 400, body: { error: { code: "invalid_run_input", message: refusal(threadId) } } });
  expect(await counts()).toEqual(before);
});
