// What makes a run's input valid is written once, in the runs trigger: a plain SQL insert and
// every API path (REST, GraphQL startRun) hand the input to it, so each gets the same verdict and
// the same message naming the field, and nothing is left behind by a rejected start.
import { afterAll, beforeAll, expect, it } from "vitest";
import { fromDatabaseError } from "../../db/errors.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { postJson, startTestApi, type ApiErrorBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "input-agent");
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function counts(): Promise<{ runs: number; threads: number; jobs: number }> {
  const { rows } = await db.pool.query<{ runs: number; threads: number; jobs: number }>(`select
    (select count(*) from everruns.runs)::int as runs,
    (select count(*) from everruns.threads)::int as threads,
    (select count(*) from graphile_worker.jobs)::int as jobs`);
  return rows[0]!;
}

async function viaSql(input: unknown): Promise<string | null> {
  try {
    await db.pool.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agentId, JSON.stringify(input)]);
    return null;
  } catch (error) {
    return (fromDatabaseError(error) as Error).message;
  }
}

async function viaRest(input: unknown): Promise<string | null> {
  const res = await postJson<ApiErrorBody>(`${api.url}/api/runs`, { agent: "input-agent", input }, api.headers);
  if (res.status === 201) return null;
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe("invalid_run_input");
  return res.body.error.message;
}

async function viaGraphql(input: unknown): Promise<string | null> {
  const res = await postJson<{ errors?: Array<{ message: string; extensions?: { code?: string } }> }>(
    `${api.url}/graphql`,
    {
      query: 'mutation ($input: JSON!) { startRun(agent: "input-agent", input: $input) { runId } }',
      variables: { input },
    },
    api.headers,
  );
  const error = res.body.errors?.[0];
  if (!error) return null;
  expect(error.extensions?.code).toBe("invalid_run_input");
  return error.message;
}

const cases: Array<[string, unknown, RegExp | null]> = [
  ["a valid input", { messages: [{ role: "user", content: "hello" }] }, null],
  [
    "a valid input with state, context and client tools",
    { messages: [{ role: "user", content: "x" }], state: { a: 1 }, context: [], tools: [{ name: "t" }] },
    null,
  ],
  ["not an object", [1, 2], /invalid run input: must be a JSON object/],
  ["no messages", {}, /"messages" must be an array/],
  ["messages not an array", { messages: "hi" }, /"messages" must be an array/],
  ["empty messages", { messages: [] }, /at least one message/],
  ["unknown role", { messages: [{ role: "robot", content: "x" }] }, /messages\[0\]\.role must be one of/],
  ["content not a string", { messages: [{ role: "user", content: 42 }] }, /messages\[0\]\.content must be a string/],
  ["message id not a string", { messages: [{ role: "user", content: "a", id: 7 }] }, /messages\[0\]\.id must be a string/],
  [
    "tool message without id",
    {
      messages: [
        { role: "user", content: "a" },
        { role: "tool", content: "x" },
      ],
    },
    /messages\[1\]: a tool message needs "toolCallId"/,
  ],
  ["state not an object", { messages: [{ role: "user", content: "a" }], state: [] }, /"state" must be an object/],
  ["context not an array", { messages: [{ role: "user", content: "a" }], context: {} }, /"context" must be an array/],
  ["tools without names", { messages: [{ role: "user", content: "a" }], tools: [{}] }, /tools\[0\] must be an object with a "name"/],
];

for (const [name, input, expected] of cases) {
  it(`${name}: the same verdict and message from SQL, REST and GraphQL`, async () => {
    const before = await counts();
    const verdicts = { sql: await viaSql(input), rest: await viaRest(input), graphql: await viaGraphql(input) };
    if (expected === null) {
      expect(verdicts).toEqual({ sql: null, rest: null, graphql: null });
      return;
    }
    expect(verdicts.sql).toMatch(expected);
    expect(verdicts).toEqual({ sql: verdicts.sql, rest: verdicts.sql, graphql: verdicts.sql });
    expect(await counts()).toEqual(before);
  });
}
