// A run's priority (000023) through every way in: REST `priority`, AG-UI
// `forwardedProps.priority` (the real @ag-ui/client HttpAgent), GraphQL startRun's `priority`,
// and the agent config's `priority` as the default of runs started without one. A bad priority
// is a 400 (a GraphQL error) naming priority; an explicit priority wins over the agent's. Each
// assertion reads runs.priority from the database. Last, the run page's query of a held run.
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { GRAPHQL_PATH } from "../graphql/preset.ts";
import { DEFAULT_WORKSPACE_ID, postJson, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;

const hello = { messages: [{ role: "user", content: "hello" }] };
const script = [{ text: "Done." }];

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  await createAgent(db.pool, { provider: "scripted", script }, "plain");
  await createAgent(db.pool, { provider: "scripted", script, priority: 7 }, "urgent");
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

async function priorityOf(runId: string): Promise<number> {
  const { rows } = await db.pool.query<{ priority: number }>("select priority from everruns.runs where id = $1", [runId]);
  if (!rows[0]) throw new Error(`no run ${runId}`);
  return rows[0].priority;
}

async function startViaRest(body: Record<string, unknown>): Promise<string> {
  const res = await postJson<StartedRunBody>(`${api.url}/api/runs`, { input: hello, ...body }, api.headers);
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Runs the agent through HttpAgent (to the end of its stream) and returns the run's id. */
async function startViaAgUi(agent: string, forwardedProps?: Record<string, unknown>): Promise<string> {
  const client = new HttpAgent({ url: `${api.url}/api/agents/${agent}/agui`, headers: api.headers, threadId: randomUUID() });
  client.addMessage({ id: randomUUID(), role: "user", content: "hello" });
  const runId = randomUUID();
  await client.runAgent({ runId, ...(forwardedProps && { forwardedProps }) });
  return runId;
}

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: Array<{ message: string }>;
}

async function gql<T>(query: string, variables: Record<string, unknown>): Promise<GraphQLAnswer<T>> {
  const res = await fetch(`${api.url}${GRAPHQL_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...api.headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLAnswer<T>;
}

const START_RUN = "mutation ($agent: String!, $input: JSON!, $priority: Int) { startRun(agent: $agent, input: $input, priority: $priority) { runId } }";

describe("REST POST /api/runs", () => {
  it("sets the run's priority", async () => {
    expect(await priorityOf(await startViaRest({ agent: "plain", priority: 42 }))).toBe(42);
    expect(await priorityOf(await startViaRest({ agent: "plain", priority: -1000 }))).toBe(-1000);
  });

  it("without one, a run gets its agent's config.priority (else 0); an explicit priority wins", async () => {
    expect(await priorityOf(await startViaRest({ agent: "plain" }))).toBe(0);
    const inherited = await startViaRest({ agent: "urgent" });
    expect(await priorityOf(inherited)).toBe(7);
    expect(await priorityOf(await startViaRest({ agent: "urgent", priority: null }))).toBe(7);
    expect(await priorityOf(await startViaRest({ agent: "urgent", priority: -3 }))).toBe(-3);
    // the worker accepts a config with a priority: the run finishes
    expect((await waitForStatus(db.pool, inherited, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it.each([
    ["too high", 1001],
    ["too low", -1001],
    ["not whole", 1.5],
    ["a string", "high"],
    ["an object", { level: 1 }],
  ])("refuses a priority that is %s with a 400 naming priority", async (_what, priority) => {
    const res = await postJson<ApiErrorBody>(`${api.url}/api/runs`, { agent: "plain", input: hello, priority }, api.headers);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_input");
    expect(res.body.error.message).toMatch(/^invalid run request: priority: must be a whole number from -1000 to 1000/);
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where priority not between -1000 and 1000");
    expect(rows[0]!.n).toBe(0);
  });
});

describe("AG-UI forwardedProps.priority", () => {
  it("sets the run's priority; without it the agent's config.priority; an explicit one wins", async () => {
    expect(await priorityOf(await startViaAgUi("plain", { priority: 250 }))).toBe(250);
    expect(await priorityOf(await startViaAgUi("plain"))).toBe(0);
    expect(await priorityOf(await startViaAgUi("urgent"))).toBe(7);
    expect(await priorityOf(await startViaAgUi("urgent", { other: "ignored" }))).toBe(7);
    expect(await priorityOf(await startViaAgUi("urgent", { priority: 99 }))).toBe(99);
  });

  it.each([
    ["too high", 5000],
    ["not whole", 0.5],
    ["a string", "7"],
  ])("refuses a priority that is %s with a 400 naming forwardedProps.priority, and starts nothing", async (_what, priority) => {
    const runId = randomUUID();
    const res = await postJson<ApiErrorBody>(
      `${api.url}/api/agents/plain/agui`,
      {
        threadId: randomUUID(),
        runId,
        messages: [{ id: randomUUID(), role: "user", content: "hi" }],
        state: {},
        tools: [],
        context: [],
        forwardedProps: { priority },
      },
      api.headers,
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_input");
    expect(res.body.error.message).toMatch(/^invalid AG-UI RunAgentInput: forwardedProps\.priority: must be a whole number from -1000 to 1000/);
    const { rows } = await db.pool.query("select 1 from everruns.runs where id = $1", [runId]);
    expect(rows).toEqual([]);
  });
});

describe("GraphQL startRun(priority)", () => {
  it("sets the run's priority; without it the agent's config.priority", async () => {
    const given = await gql<{ startRun: { runId: string } }>(START_RUN, { agent: "plain", input: hello, priority: 12 });
    expect(given.errors).toBeUndefined();
    expect(await priorityOf(given.data!.startRun.runId)).toBe(12);
    const inherited = await gql<{ startRun: { runId: string } }>(START_RUN, { agent: "urgent", input: hello });
    expect(await priorityOf(inherited.data!.startRun.runId)).toBe(7);
  });

  it("refuses a priority out of range with an error naming priority", async () => {
    const answer = await gql(START_RUN, { agent: "plain", input: hello, priority: 2000 });
    expect(answer.errors?.[0]?.message).toMatch(/^priority must be a whole number from -1000 to 1000/);
  });
});

describe("agent config priority", () => {
  it("is optional, a whole number from -1000 to 1000", () => {
    expect(AgentConfigSchema.safeParse({ provider: "scripted", priority: 7 }).success).toBe(true);
    expect(AgentConfigSchema.safeParse({ provider: "scripted" }).success).toBe(true);
    for (const priority of [1001, -1001, 2.5, "7"]) {
      const result = AgentConfigSchema.safeParse({ provider: "scripted", priority });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(["priority"]);
    }
  });

  it("is checked by the API when an agent is created", async () => {
    const answer = await gql('mutation ($config: JSON!) { createAgent(input: {agent: {name: "too-urgent", config: $config}}) { agent { id } } }', {
      config: { provider: "scripted", script, priority: 5000 },
    });
    expect(answer.errors?.[0]?.message).toMatch(/priority: must be a whole number from -1000 to 1000/);
  });
});

describe("the console's RunQueue query (web/app/runs/[id]/page.tsx)", () => {
  it("answers a held run's priority, that it is not admitted, and why it waits", async () => {
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "slowly", delay_ms: 60_000 }] }, "slow");
    await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [DEFAULT_WORKSPACE_ID, { max_running_runs: 1 }]);
    try {
      const holder = await startViaRest({ agent: "slow" });
      const held = await startViaRest({ agent: "urgent" });
      const answer = await gql<{
        runById: { priority: number; admittedAt: string | null };
        explainQueue: { admitted: boolean; heldBy: string | null; position: number | null; message: string };
      }>("query ($id: UUID!) { runById(id: $id) { id priority admittedAt } explainQueue(runId: $id) { admitted heldBy position message } }", { id: held });
      expect(answer.errors).toBeUndefined();
      expect(answer.data!.runById).toEqual({ id: held, priority: 7, admittedAt: null });
      expect(answer.data!.explainQueue).toMatchObject({ admitted: false, heldBy: "max_running_runs", position: 1 });
      expect(answer.data!.explainQueue.message).toMatch(/max_running_runs 1/);
      for (const run of [held, holder]) expect((await postJson(`${api.url}/api/runs/${run}/cancel`, {}, api.headers)).status).toBe(200);
    } finally {
      await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [DEFAULT_WORKSPACE_ID, { max_running_runs: null }]);
    }
  });
});
