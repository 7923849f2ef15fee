// The AG-UI endpoint with the real @ag-ui/client HttpAgent against a real worker: a scripted
// agent that streams text and calls tools, two turns on one thread, retried POSTs, clients that
// disconnect, and bad requests.
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { agUiIdToUuid } from "../agui.ts";
import { bearer, createTestKey, postJson, readSse, startTestApi, type ApiErrorBody, type TestApiHandle } from "./helpers.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  agentId = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["echo"],
      script: [
        {
          text: "Let me check both.",
          delay_ms: 60,
          tool_calls: [
            { name: "echo", arguments: { city: "Paris" } },
            { name: "echo", arguments: { city: "Oslo" } },
          ],
        },
        { text: "Both are sunny.", delay_ms: 60 },
      ],
    },
    "weather",
  );
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

/** A run's stored input (only the messages matter here) and thread. */
interface RunInputRow {
  input: { messages: unknown[] };
  thread_id: string;
}

const inputRows = async (runId: string) => (await db.pool.query<RunInputRow>("select input, thread_id from everruns.runs where id = $1", [runId])).rows[0]!;

describe("HttpAgent against POST /api/agents/:agent/agui", () => {
  it("runs the agent, streams text and tool calls into agent.messages, and a second turn on the same thread works", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/weather/agui`, headers: api.headers, threadId: randomUUID() });
    const firstUser = { id: randomUUID(), role: "user" as const, content: "Weather in Paris and Oslo?" };
    agent.addMessage(firstUser);
    const firstRunId = randomUUID();
    const first = await agent.runAgent({ runId: firstRunId });

    // the run is ours, with the client's ids
    const firstRun = await waitForStatus(db.pool, firstRunId, ["succeeded"]);
    expect(firstRun.status).toBe("succeeded");
    expect((await inputRows(firstRunId)).thread_id).toBe(agent.threadId);

    const roles = agent.messages.map((m) => m.role);
    expect(roles).toEqual(["user", "assistant", "tool", "tool", "assistant"]);
    const assistant = agent.messages[1] as { content?: string; toolCalls?: Array<{ function: { name: string; arguments: string } }> };
    expect(assistant.content).toBe("Let me check both.");
    expect(assistant.toolCalls?.map((c) => [c.function.name, JSON.parse(c.function.arguments) as unknown])).toEqual([
      ["echo", { city: "Paris" }],
      ["echo", { city: "Oslo" }],
    ]);
    expect((agent.messages[2] as { content?: string }).content).toBe('{"city":"Paris"}');
    expect((agent.messages[4] as { content?: string }).content).toBe("Both are sunny.");
    expect(first.newMessages).toHaveLength(4);
    expect(first.result).toMatchObject({ text: "Both are sunny." });

    // second turn: HttpAgent sends the whole history again; only the new message is stored
    const secondUser = { id: randomUUID(), role: "user" as const, content: "And tomorrow?" };
    agent.addMessage(secondUser);
    const secondRunId = randomUUID();
    await agent.runAgent({ runId: secondRunId });
    await waitForStatus(db.pool, secondRunId, ["succeeded"]);
    const second = await inputRows(secondRunId);
    expect(second.thread_id).toBe(agent.threadId);
    expect(second.input.messages).toEqual([secondUser]);
    expect(agent.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "tool", "assistant", "user", "assistant", "tool", "tool", "assistant"]);
    expect(new Set(agent.messages.map((m) => m.id)).size).toBe(agent.messages.length);
    await assertValidAgUiLog(await getEvents(db.pool, secondRunId));
  });

  it("accepts non-UUID thread and run ids (mapped to stable UUIDs)", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/${agentId}/agui`, headers: api.headers, threadId: "thread-of-mine" });
    agent.addMessage({ id: "m1", role: "user", content: "hi" });
    await agent.runAgent({ runId: "run-of-mine" });
    const run = await waitForStatus(db.pool, agUiIdToUuid("run-of-mine"), ["succeeded"]);
    expect(run.status).toBe("succeeded");
    expect((await inputRows(run.id)).thread_id).toBe(agUiIdToUuid("thread-of-mine"));
    expect(agent.messages.at(-1)).toMatchObject({ role: "assistant", content: "Both are sunny." });
  });
});

describe("the AG-UI endpoint over raw HTTP", () => {
  const body = (over: Record<string, unknown> = {}) => ({
    threadId: randomUUID(),
    runId: randomUUID(),
    messages: [{ id: randomUUID(), role: "user", content: "hi" }],
    tools: [],
    context: [],
    state: {},
    ...over,
  });

  it("a retried POST with the same runId streams the same run instead of starting another", async () => {
    const input = body();
    const first = await readSse(`${api.url}/api/agents/weather/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify(input),
    });
    const again = await readSse(`${api.url}/api/agents/weather/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify(input),
    });
    expect(again.events).toEqual(first.events);
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where thread_id = $1", [input.threadId]);
    expect(rows[0]!.n).toBe(1);
    expect(first.events[0]).toMatchObject({ type: "RUN_STARTED", event: { runId: input.runId, threadId: input.threadId } });
    expect(first.events.at(-1)!.type).toBe("RUN_FINISHED");
    await assertValidAgUiLog(first.events);
  });

  it("concurrent POSTs with the same runId (a retry racing the original) start one run and all stream it", async () => {
    const input = body();
    const post = () =>
      readSse(`${api.url}/api/agents/weather/agui`, {
        method: "POST",
        headers: { "content-type": "application/json", ...api.headers },
        body: JSON.stringify(input),
      });
    const reads = await Promise.all([post(), post(), post()]);
    for (const read of reads) {
      expect(read.status).toBe(200);
      expect(read.events.at(-1)!.type).toBe("RUN_FINISHED");
      expect(read.events).toEqual(reads[0].events);
    }
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where thread_id = $1", [input.threadId]);
    expect(rows[0]!.n).toBe(1);
  });

  it("a client that disconnects does not stop the run", async () => {
    const input = body();
    const controller = new AbortController();
    const res = await fetch(`${api.url}/api/agents/weather/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...api.headers },
      body: JSON.stringify(input),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream is open
    controller.abort();
    // the client left before the run was done (its two turns take over 120 ms)...
    const { rows } = await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [input.runId]);
    expect(["queued", "running"]).toContain(rows[0]!.status);
    // ...and the run still went all the way
    const run = await waitForStatus(db.pool, input.runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    await sleep(50);
    expect(api.hub.openFeeds).toBe(0); // the abandoned stream let go of its feed
  });

  it.each([
    ["a body that is not a RunAgentInput", { messages: "nope" }, 400, /^invalid AG-UI RunAgentInput: .*threadId/],
    ["a message with a bad role", body({ messages: [{ id: "1", role: "robot", content: "x" }] }), 400, /^invalid AG-UI RunAgentInput: messages\[0\]/],
    ["nothing new to run", null, 400, /^nothing new to run/],
  ])("rejects %s with a 4xx JSON error, starting nothing", async (_what, payload, status, message) => {
    let input = payload;
    if (input === null) {
      // a first run on the thread, then the very same messages again under a new runId
      const first = body();
      await readSse(`${api.url}/api/agents/weather/agui`, {
        method: "POST",
        headers: { "content-type": "application/json", ...api.headers },
        body: JSON.stringify(first),
      });
      input = { ...first, runId: randomUUID() };
    }
    const runs = async () => (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs")).rows[0]!.n;
    const before = await runs();
    const res = await postJson(`${api.url}/api/agents/weather/agui`, input, api.headers);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ error: { code: "invalid_input", message: expect.stringMatching(message) as unknown } });
    expect(await runs()).toBe(before);
  });

  it("404s an unknown agent", async () => {
    const res = await postJson(`${api.url}/api/agents/nobody/agui`, body(), api.headers);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: 'no agent with id or name "nobody"' } });
  });

  it("409s a runId that belongs to another thread", async () => {
    const input = body();
    await readSse(`${api.url}/api/agents/weather/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify(input),
    });
    const res = await postJson<ApiErrorBody>(`${api.url}/api/agents/weather/agui`, { ...input, threadId: randomUUID() }, api.headers);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("conflict");
  });

  it("needs a key of role operator: none is 401, a viewer's is 403, and nothing starts", async () => {
    const runs = async () => (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs")).rows[0]!.n;
    const before = await runs();
    const anonymous = await postJson<ApiErrorBody>(`${api.url}/api/agents/weather/agui`, body());
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("unauthenticated");
    const viewer = await postJson<ApiErrorBody>(`${api.url}/api/agents/weather/agui`, body(), bearer(await createTestKey(db.url, { role: "viewer" })));
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.code).toBe("forbidden");
    // HttpAgent without a key fails the run it tried to start
    const agent = new HttpAgent({ url: `${api.url}/api/agents/weather/agui`, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "hi" });
    await expect(agent.runAgent({ runId: randomUUID() })).rejects.toThrow(/HTTP 401/);
    expect(await runs()).toBe(before);
  });
});
