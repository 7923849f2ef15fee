// GraphQL at /graphql against a real API, worker and Postgres: queries with filters and
// pagination, the run mutations, agent mutations with bad configs, and the subscriptions over
// graphql-ws, including many subscribers joining a run mid-stream (the replay/live seam).
import { randomUUID } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { bearer, createTestKey, DEFAULT_WORKSPACE_ID, readSse, startTestApi, waitUntil, type TestApiHandle } from "./helpers.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let ws: Client;
let agentId: string;

interface GraphQLResponse<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown>; path?: string[] }>;
}

/** Runs a query or mutation over HTTP (with the API's admin key unless told another); `T` is the shape of what the query selects. */
async function gql<T = unknown>(
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = api.headers,
): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

const RUN_EVENTS = /* GraphQL */ `
  subscription ($runId: UUID!, $after: Int) {
    runEvents(runId: $runId, after: $after) {
      seq
      type
      event
    }
  }
`;

async function collectRunEvents(runId: string, after?: number): Promise<Array<{ seq: number; type: string; event: Record<string, unknown> }>> {
  const out: Array<{ seq: number; type: string; event: Record<string, unknown> }> = [];
  for await (const result of ws.iterate<{ runEvents: { seq: number; type: string; event: Record<string, unknown> } }>({
    query: RUN_EVENTS,
    variables: { runId, after },
  })) {
    if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
    out.push(result.data!.runEvents);
  }
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  ws = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${api.key}` },
  });
  agentId = await createAgent(
    db.pool,
    { provider: "scripted", tools: ["echo"], script: [{ text: "Echo.", tool_calls: [{ name: "echo", arguments: { q: 1 } }] }, { text: "Fine." }] },
    "gql-agent",
  );
});

afterAll(async () => {
  await ws?.dispose();
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

describe("queries", () => {
  it("lists runs filtered by agent, status and time, newest first, with cursor pagination", async () => {
    const other = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x" }] });
    const t0 = (await db.pool.query<{ t: Date }>("select now() as t")).rows[0]!.t;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
        agentId,
        JSON.stringify({ messages: [{ role: "user", content: `q${i}` }] }),
      ]);
      ids.push(rows[0]!.id);
    }
    await db.pool.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [other, JSON.stringify({ messages: [{ role: "user", content: "x" }] })]);
    for (const id of ids) await waitForStatus(db.pool, id, ["succeeded"]);

    const page1 = await gql<{
      allRuns: {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        nodes: Array<{ id: string; status: string; agentId: string; output: unknown; agentByAgentId: { name: string } | null }>;
      };
    }>(
      `query ($agentId: UUID!, $after: Datetime!) {
        allRuns(condition: { agentId: $agentId, status: "succeeded", createdAfter: $after }, orderBy: CREATED_AT_DESC, first: 2) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes { id status agentId output agentByAgentId { name } }
        }
      }`,
      { agentId, after: t0.toISOString() },
    );
    expect(page1.errors).toBeUndefined();
    expect(page1.data!.allRuns.totalCount).toBe(3);
    expect(page1.data!.allRuns.nodes.map((n) => n.id)).toEqual([ids[2], ids[1]]);
    expect(page1.data!.allRuns.nodes[0]).toMatchObject({ status: "succeeded", agentId, output: { text: "Fine." }, agentByAgentId: { name: "gql-agent" } });
    const page2 = await gql<{ allRuns: { pageInfo: { hasNextPage: boolean }; nodes: Array<{ id: string }> } }>(
      `query ($agentId: UUID!, $after: Datetime!, $cursor: Cursor) {
        allRuns(condition: { agentId: $agentId, createdAfter: $after }, orderBy: CREATED_AT_DESC, first: 2, after: $cursor) {
          pageInfo { hasNextPage }
          nodes { id }
        }
      }`,
      { agentId, after: t0.toISOString(), cursor: page1.data!.allRuns.pageInfo.endCursor },
    );
    expect(page2.data!.allRuns.nodes.map((n) => n.id)).toEqual([ids[0]]);
    expect(page2.data!.allRuns.pageInfo.hasNextPage).toBe(false);

    const before = await gql<{ allRuns: { totalCount: number } }>(`query ($t: Datetime!) { allRuns(condition: { createdBefore: $t }) { totalCount } }`, {
      t: t0.toISOString(),
    });
    expect(before.data!.allRuns.totalCount).toBe(0);
  });

  it("reads a run with its steps and events (paged after a seq), and hides the engine's internals", async () => {
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agentId,
      JSON.stringify({ messages: [{ role: "user", content: "q" }] }),
    ]);
    const runId = rows[0]!.id;
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const res = await gql<{
      runById: {
        id: string;
        status: string;
        usage: unknown;
        threadId: string;
        runStepsByRunId: { nodes: Array<{ seq: number; kind: string; name: string; status: string }> };
        runEventsByRunId: { nodes: Array<{ seq: number; type: string; event: unknown }> };
        terminal: { nodes: Array<{ seq: number }> };
      } | null;
    }>(
      `query ($id: UUID!) {
        runById(id: $id) {
          id status usage threadId
          runStepsByRunId(orderBy: SEQ_ASC) { nodes { seq kind name status } }
          runEventsByRunId(condition: { afterSeq: 3 }, first: 2, orderBy: SEQ_ASC) { nodes { seq type event } }
          terminal: runEventsByRunId(condition: { type: "RUN_FINISHED" }) { nodes { seq } }
        }
      }`,
      { id: runId },
    );
    expect(res.errors).toBeUndefined();
    const run = res.data!.runById!;
    expect(run.runStepsByRunId.nodes.map((s) => s.kind)).toEqual(["llm", "tool", "llm"]);
    expect(run.runEventsByRunId.nodes.map((e) => e.seq)).toEqual([4, 5]);
    const events = await getEvents(db.pool, runId);
    expect(run.terminal.nodes).toEqual([{ seq: events.length }]);
    const hidden = await gql(`query ($id: UUID!) { runById(id: $id) { stepAttempt eventSeq } }`, { id: runId });
    expect(hidden.errors?.map((e) => e.message).join(" ")).toMatch(/Cannot query field "stepAttempt"/);
  });

  it("exposes only the everruns schema", async () => {
    const res = await gql<{ __schema: { types: Array<{ name: string }> } }>(`{ __schema { types { name } } }`);
    const types = res.data!.__schema.types.map((t) => t.name);
    // nothing of graphile_worker's or everruns_private's tables; the Workers & queue page's own
    // types (api/graphql/operations.ts) are the only ones named for workers
    expect(types.filter((name) => /Job|Worker|Migration|Private|Crontab/.test(name)).sort()).toEqual(["WorkerExit", "WorkerStatus", "WorkerStep"]);
    const mutations = await gql<{ __type: { fields: Array<{ name: string }> } | null }>(`{ __type(name: "Mutation") { fields { name } } }`);
    expect(mutations.data!.__type!.fields.map((f) => f.name).sort()).toEqual(
      [
        "cancelBatch",
        "cancelRun",
        "connectMcpServer",
        "createAgent",
        "createBatch",
        "createApiKey",
        "createNotificationEndpoint",
        "createSchedule",
        "createWebhook",
        "deleteModelPrice",
        "deleteNotificationEndpoint",
        "deleteSchedule",
        "deleteSecret",
        "deleteWebhook",
        "disconnectMcpServer",
        "pauseBatch",
        "pauseSchedule",
        "redriveRun",
        "rerunRun",
        "resendNotification",
        "resumeBatch",
        "resumeRun",
        "resumeSchedule",
        "retryFailedItems",
        "revokeApiKey",
        "sendEvent",
        "sendEventByKey",
        "sendTestWebhookDelivery",
        "setBatchParallel",
        "setModelPrice",
        "setSecret",
        "startBatch",
        "startRun",
        "triggerAgent",
        "updateAgent",
        "updateAgentById",
        "updateAgentByWorkspaceIdAndName",
        "updateNotificationEndpoint",
        "updateSchedule",
        "updateWebhook",
      ].sort(),
    );
  });
});

describe("mutations", () => {
  it("createAgent with a bad config answers a GraphQL error naming the field", async () => {
    const res = await gql<{ createAgent: { agent: { id: string } } | null }>(
      `mutation { createAgent(input: { agent: { name: "bad-agent", config: { provider: "scripted", max_steps: 0 } } }) { agent { id } } }`,
    );
    expect(res.data?.createAgent ?? null).toBeNull();
    expect(res.errors).toHaveLength(1);
    expect(res.errors![0]!.message).toMatch(/^invalid agent config: max_steps: /);
    expect(res.errors![0]!.extensions).toEqual({ code: "invalid_agent_config" });
    const nested = await gql(
      `mutation { createAgent(input: { agent: { name: "bad-tools", config: { provider: "scripted", tools: ["echo", { name: "x", type: "http" }] } } }) { agent { id } } }`,
    );
    expect(nested.errors![0]).toMatchObject({
      message: expect.stringMatching(/^invalid agent config: tools\[1\]\.url: /) as unknown,
      extensions: { code: "invalid_agent_config" },
    });
    // nothing was written
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.agents where name in ('bad-agent', 'bad-tools')")).rows[0]!.n).toBe(0);
  });

  it("createAgent and updateAgentById: a new config bumps the version; a bad patch is refused", async () => {
    const created = await gql<{ createAgent: { agent: { id: string; version: number } } }>(
      `mutation { createAgent(input: { agent: { name: "versioned", config: { provider: "scripted" } } }) { agent { id version } } }`,
    );
    expect(created.errors).toBeUndefined();
    const id = created.data!.createAgent.agent.id;
    expect(created.data!.createAgent.agent.version).toBe(1);
    const updated = await gql<{ updateAgentById: { agent: unknown } }>(
      `mutation ($id: UUID!) { updateAgentById(input: { id: $id, agentPatch: { config: { provider: "scripted", max_steps: 5 } } }) { agent { version agentVersionsByAgentId { totalCount } } } }`,
      { id },
    );
    expect(updated.errors).toBeUndefined();
    expect(updated.data!.updateAgentById.agent).toEqual({ version: 2, agentVersionsByAgentId: { totalCount: 2 } });
    const bad = await gql(`mutation ($id: UUID!) { updateAgentById(input: { id: $id, agentPatch: { config: { provider: "gpt" } } }) { agent { version } } }`, {
      id,
    });
    expect(bad.errors![0]).toMatchObject({
      message: expect.stringMatching(/^invalid agent config: provider: /) as unknown,
      extensions: { code: "invalid_agent_config" },
    });
    // the refused patch left the agent as it was
    expect((await db.pool.query<{ version: number; config: unknown }>("select version, config from everruns.agents where id = $1", [id])).rows[0]).toEqual({
      version: 2,
      config: { provider: "scripted", max_steps: 5 },
    });
  });

  it("startRun starts a run (by name), on a thread; bad input and unknown agents are GraphQL errors", async () => {
    const threadId = randomUUID();
    const res = await gql<{ startRun: { runId: string; run: unknown } }>(
      `mutation ($input: JSON!, $threadId: UUID) { startRun(agent: "gql-agent", input: $input, threadId: $threadId) { runId run { status threadId agentId } } }`,
      { input: { messages: [{ role: "user", content: "hi" }] }, threadId },
    );
    expect(res.errors).toBeUndefined();
    // the run is re-read after the insert: a worker may already have moved it on
    expect(res.data!.startRun.run).toEqual({ status: expect.stringMatching(/^(queued|running|succeeded)$/) as unknown, threadId, agentId });
    await waitForStatus(db.pool, res.data!.startRun.runId, ["succeeded"]);

    const unknown = await gql(`mutation { startRun(agent: "nobody", input: { messages: [{ role: "user", content: "hi" }] }) { runId } }`);
    expect(unknown.errors![0]).toMatchObject({ message: 'no agent with id or name "nobody"', extensions: { code: "not_found" } });
    const bad = await gql(`mutation { startRun(agent: "gql-agent", input: { messages: [{ role: "robot" }] }) { runId } }`);
    expect(bad.errors![0]).toMatchObject({
      message: expect.stringMatching(/^invalid run input: messages\[0\]\.role/) as unknown,
      extensions: { code: "invalid_run_input" },
    });
    // by id too, and the same rules as REST: a thread of another workspace is the trigger's EV007
    const { rows } = await db.pool.query<{ id: string }>(
      "with w as (insert into everruns.workspaces (name) values ('gql-elsewhere') returning id) insert into everruns.threads (workspace_id) select id from w returning id",
    );
    const foreignThread = rows[0]!.id;
    const foreign = await gql(
      `mutation ($a: String!, $t: UUID) { startRun(agent: $a, input: { messages: [{ role: "user", content: "hi" }] }, threadId: $t) { runId } }`,
      {
        a: agentId,
        t: foreignThread,
      },
    );
    expect(foreign.errors![0]).toMatchObject({ message: `thread ${foreignThread} belongs to another workspace`, extensions: { code: "invalid_run_input" } });
  });

  it("cancelRun cancels once; resumeRun answers a clear error for a run that cannot be resumed", async () => {
    const worky = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 30_000 } }] }],
    });
    const started = await gql<{ startRun: { runId: string } }>(
      `mutation ($a: String!) { startRun(agent: $a, input: { messages: [{ role: "user", content: "go" }] }) { runId } }`,
      { a: worky },
    );
    const runId = started.data!.startRun.runId;
    await waitForStatus(db.pool, runId, ["running"]);
    const first = await gql<{ cancelRun: unknown }>(`mutation ($id: UUID!) { cancelRun(runId: $id) { cancelled run { status } } }`, { id: runId });
    expect(first.data!.cancelRun).toEqual({ cancelled: true, run: { status: "cancelled" } });
    const second = await gql<{ cancelRun: unknown }>(`mutation ($id: UUID!) { cancelRun(runId: $id) { cancelled } }`, { id: runId });
    expect(second.data!.cancelRun).toEqual({ cancelled: false });
    const unknown = await gql(`mutation { cancelRun(runId: "00000000-0000-0000-0000-00000000abcd") { cancelled } }`);
    expect(unknown.errors![0]!.extensions).toEqual({ code: "not_found" });

    const resumed = await gql<{ resumeRun: { runId: string } | null }>(
      `mutation ($id: UUID!) { resumeRun(runId: $id, resume: [{ interruptId: "x", status: "resolved" }]) { runId } }`,
      { id: runId },
    );
    expect(resumed.errors).toHaveLength(1);
    expect(resumed.errors![0]).toMatchObject({
      message: `run ${runId} is not waiting for an answer (status cancelled)`,
      extensions: { code: "invalid_resume" },
    });
    expect(resumed.data?.resumeRun ?? null).toBeNull();
  });

  it("sendEvent wakes a run waiting for that event; unknown and finished runs are clear errors", async () => {
    const waiter = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "approved", timeout_seconds: 3600 } }] }, { text: "went on" }],
    });
    const started = await gql<{ startRun: { runId: string } }>(
      `mutation ($a: String!) { startRun(agent: $a, input: { messages: [{ role: "user", content: "wait" }] }) { runId } }`,
      { a: waiter },
    );
    const runId = started.data!.startRun.runId;
    await waitForStatus(db.pool, runId, ["waiting"]);
    const other = await gql<{ sendEvent: unknown }>(`mutation ($id: UUID!) { sendEvent(runId: $id, name: "unrelated") { woke } }`, { id: runId });
    expect(other.data!.sendEvent).toEqual({ woke: false }); // kept for a later wait of that name
    const sent = await gql<{ sendEvent: unknown }>(
      `mutation ($id: UUID!, $p: JSON) { sendEvent(runId: $id, name: "approved", payload: $p) { woke run { id } } }`,
      { id: runId, p: { by: "ops" } },
    );
    expect(sent.errors).toBeUndefined();
    expect(sent.data!.sendEvent).toEqual({ woke: true, run: { id: runId } });
    expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).output).toEqual({ text: "went on" });
    const { rows } = await db.pool.query("select name, payload, consumed_at is not null as consumed from everruns.run_signals where run_id = $1 order by id", [
      runId,
    ]);
    expect(rows).toEqual([
      { name: "unrelated", payload: null, consumed: false },
      { name: "approved", payload: { by: "ops" }, consumed: true },
    ]);

    const late = await gql(`mutation ($id: UUID!) { sendEvent(runId: $id, name: "approved") { woke } }`, { id: runId });
    expect(late.errors![0]).toMatchObject({
      message: expect.stringMatching(/has finished \(succeeded\); it can no longer receive events/) as unknown,
      extensions: { code: "not_receiving_events" },
    });
    const unknown = await gql(`mutation { sendEvent(runId: "00000000-0000-0000-0000-00000000abcd", name: "x") { woke } }`);
    expect(unknown.errors![0]!.extensions).toEqual({ code: "not_found" });
    const nameless = await gql(`mutation ($id: UUID!) { sendEvent(runId: $id, name: "") { woke } }`, { id: runId });
    expect(nameless.errors![0]).toMatchObject({ message: "an event needs a name of 1 to 200 characters", extensions: { code: "invalid_input" } });
  });

  it("setModelPrice sets and replaces a workspace's price, allModelPrices lists it, deleteModelPrice deletes it; a bad rate names its field", async () => {
    const SET = /* GraphQL */ `
      mutation ($provider: String!, $model: String!, $input: Float!, $output: Float!, $cacheRead: Float) {
        setModelPrice(provider: $provider, model: $model, inputPerMillion: $input, outputPerMillion: $output, cacheReadPerMillion: $cacheRead) {
          provider
          model
          inputPerMillion
          outputPerMillion
          cacheReadPerMillion
          cacheWritePerMillion
        }
      }
    `;
    const set = await gql<{ setModelPrice: unknown }>(SET, { provider: "anthropic", model: "claude-sonnet-4", input: 3, output: 15, cacheRead: 0.3 });
    expect(set.errors).toBeUndefined();
    expect(set.data!.setModelPrice).toEqual({
      provider: "anthropic",
      model: "claude-sonnet-4",
      inputPerMillion: 3,
      outputPerMillion: 15,
      cacheReadPerMillion: 0.3,
      cacheWritePerMillion: null,
    });
    const replaced = await gql<{ setModelPrice: { inputPerMillion: number; cacheReadPerMillion: number | null } }>(SET, {
      provider: "anthropic",
      model: "claude-sonnet-4",
      input: 2,
      output: 10,
    });
    expect(replaced.data!.setModelPrice).toMatchObject({ inputPerMillion: 2, cacheReadPerMillion: null });
    const listed = await gql<{ allModelPrices: { nodes: unknown[] } }>(`{ allModelPrices { nodes { provider model inputPerMillion outputPerMillion } } }`);
    expect(listed.data!.allModelPrices.nodes).toEqual([{ provider: "anthropic", model: "claude-sonnet-4", inputPerMillion: 2, outputPerMillion: 10 }]);
    const bad = await gql(SET, { provider: "anthropic", model: "m", input: -1, output: 1 });
    expect(bad.errors![0]).toMatchObject({
      message: expect.stringMatching(/^invalid model price: inputPerMillion: /) as unknown,
      extensions: { code: "invalid_model_price" },
    });
    const DELETE = `mutation { deleteModelPrice(provider: "anthropic", model: "claude-sonnet-4") { provider model deleted } }`;
    expect((await gql<{ deleteModelPrice: unknown }>(DELETE)).data!.deleteModelPrice).toEqual({
      provider: "anthropic",
      model: "claude-sonnet-4",
      deleted: true,
    });
    expect((await gql<{ deleteModelPrice: { deleted: boolean } }>(DELETE)).data!.deleteModelPrice.deleted).toBe(false);
    const audit = await db.pool.query<{ action: string }>("select action from everruns.audit_log where target_type = 'model_price' order by id");
    expect(audit.rows.map((r) => r.action)).toEqual(["model_price.set", "model_price.set", "model_price.deleted"]);
  });
});

describe("subscriptions over graphql-ws", () => {
  it("runEvents streams a whole run and completes after its terminal event", async () => {
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agentId,
      JSON.stringify({ messages: [{ role: "user", content: "q" }] }),
    ]);
    const events = await collectRunEvents(rows[0]!.id);
    const stored = await getEvents(db.pool, rows[0]!.id);
    expect(events).toEqual(stored);
    await assertValidAgUiLog(events);
  });

  it("many subscribers (GraphQL and SSE) joining mid-run each get every event after their cursor exactly once", async () => {
    const chatty = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "a".repeat(400), delay_ms: 400, tool_calls: [{ name: "echo", arguments: {} }] },
        { text: "b".repeat(400), delay_ms: 400 },
      ],
    });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      chatty,
      JSON.stringify({ messages: [{ role: "user", content: "q" }] }),
    ]);
    const runId = rows[0]!.id;
    const readers: Array<Promise<{ after: number; seqs: number[] }>> = [];
    for (let i = 0; i < 24; i++) {
      await sleep(35);
      // half resume from what is stored right now (the seam is exactly there), half from the start
      const stored = (await getEvents(db.pool, runId)).length;
      const after = i % 2 === 0 ? stored : 0;
      readers.push(
        i % 4 < 2
          ? collectRunEvents(runId, after).then((es) => ({ after, seqs: es.map((e) => e.seq) }))
          : readSse(`${api.url}/api/runs/${runId}/events?after=${after}`, { headers: api.headers }).then((r) => ({ after, seqs: r.events.map((e) => e.seq) })),
      );
    }
    const results = await Promise.all(readers);
    const total = (await getEvents(db.pool, runId)).length;
    for (const { after, seqs } of results) {
      expect(seqs).toEqual(Array.from({ length: total - after }, (_, k) => after + k + 1));
    }
  });

  it("runEvents of an unknown run is an error", async () => {
    await expect(collectRunEvents("00000000-0000-0000-0000-00000000abcd")).rejects.toThrow(/unknown run/);
  });

  it("runUpdated yields the run's current state, then each status change", async () => {
    const slow = await createAgent(db.pool, { provider: "scripted", script: [{ text: "slowly", delay_ms: 300 }] });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      slow,
      JSON.stringify({ messages: [{ role: "user", content: "q" }] }),
    ]);
    const runId = rows[0]!.id;
    const statuses: string[] = [];
    const all: string[] = [];
    const watchAll = (async () => {
      for await (const r of ws.iterate<{ runUpdated: { runId: string } }>({ query: `subscription { runUpdated { runId } }` })) {
        all.push(r.data!.runUpdated.runId);
        if (all.includes(runId)) break;
      }
    })();
    for await (const r of ws.iterate<{ runUpdated: { runId: string; run: { status: string } } }>({
      query: `subscription ($id: UUID!) { runUpdated(runId: $id) { runId run { status } } }`,
      variables: { id: runId },
    })) {
      expect(r.data!.runUpdated.runId).toBe(runId);
      statuses.push(r.data!.runUpdated.run.status);
      if (statuses.at(-1) === "succeeded") break;
    }
    expect(["queued", "running"]).toContain(statuses[0]);
    expect(statuses.at(-1)).toBe("succeeded");
    await watchAll;
    await waitUntil("the watchers to be released", () => api.hub.openFeeds === 0);
  });
});

describe("API keys", () => {
  it("answers an HTTP request without a valid key 401 JSON, and says whose key a request carries", async () => {
    for (const [headers, code] of [
      [{}, "unauthenticated"],
      [bearer(`evr_${"A".repeat(43)}`), "invalid_key"],
    ] as const) {
      const res = await fetch(`${api.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...headers },
        body: JSON.stringify({ query: "{ whoami { role } }" }),
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code, message: expect.any(String) as unknown } });
    }
    const me = await gql<{ whoami: unknown }>(`{ whoami { keyId workspaceId workspaceName role } }`);
    expect(me.errors).toBeUndefined();
    expect(me.data!.whoami).toEqual({ keyId: expect.any(String) as unknown, workspaceId: DEFAULT_WORKSPACE_ID, workspaceName: "default", role: "admin" });
  });

  it("runs mutations as the key's role: a viewer reads but may not start runs nor create agents", async () => {
    const viewer = bearer(await createTestKey(db.url, { role: "viewer" }));
    const read = await gql<{ agentByWorkspaceIdAndName: { id: string } | null }>(
      `query ($w: UUID!) { agentByWorkspaceIdAndName(workspaceId: $w, name: "gql-agent") { id } }`,
      { w: DEFAULT_WORKSPACE_ID },
      viewer,
    );
    expect(read.errors).toBeUndefined();
    expect(read.data!.agentByWorkspaceIdAndName).toEqual({ id: agentId });
    const start = await gql(`mutation { startRun(agent: "gql-agent", input: { messages: [{ role: "user", content: "hi" }] }) { runId } }`, {}, viewer);
    expect(start.errors![0]).toMatchObject({
      message: expect.stringMatching(/needs an API key with role operator/) as unknown,
      extensions: { code: "forbidden" },
    });
    const create = await gql(
      `mutation { createAgent(input: { agent: { name: "by-viewer", config: { provider: "scripted" } } }) { agent { id } } }`,
      {},
      viewer,
    );
    expect(create.errors![0]).toMatchObject({ extensions: { code: "forbidden" } });
    expect((await db.pool.query("select 1 from everruns.agents where name = 'by-viewer'")).rows).toEqual([]);
  });

  it("closes a websocket without a valid key with 4401", async () => {
    for (const connectionParams of [{}, { authorization: `Bearer evr_${"B".repeat(43)}` }]) {
      const anonymous = createClient({ url: `${api.url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams });
      try {
        await expect(collectWith(anonymous, `subscription { runUpdated { runId } }`)).rejects.toMatchObject({ code: 4401 });
      } finally {
        await anonymous.dispose();
      }
    }
  });
});

/** The first result of a subscription on `client`, or what ended it. */
async function collectWith(client: Client, query: string): Promise<unknown> {
  for await (const result of client.iterate({ query })) return result;
  return null;
}
