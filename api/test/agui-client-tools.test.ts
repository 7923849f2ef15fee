// AG-UI client tools with the real @ag-ui/client HttpAgent against the API and a real worker:
// the agent calls tools the client declared (input.tools), the run ends handing the calls to the
// client, the client runs them and continues the thread with its tool messages. Each result is
// shown once: the continuation commits the client's answer under the client's own message id and
// streams no TOOL_CALL_RESULT for it (the client holds it already); only a call the client left
// unanswered gets one, with the note the model is given. The thread's messages (what a
// MESSAGES_SNAPSHOT lists) hold each result once, the model sees each once, and the thread goes on.
import { HttpAgent, type Message } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmInput, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { threadHistory } from "../../db/sql/threadHistory.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { agUiMessages } from "../../worker/conversation.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { FakeLlmServer } from "../../worker/test/fake-llm-server.ts";
import { startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let llm: FakeLlmServer;

const NO_RESULT = "(the client returned no result for this tool call)";

const clientToolDefs = [
  { name: "pick_color", description: "Ask the user to pick a color", parameters: { type: "object", properties: { options: { type: "array" } } } },
  { name: "confirm", description: "Ask the user to confirm", parameters: { type: "object", properties: { question: { type: "string" } } } },
];

beforeAll(async () => {
  db = await createTestDatabase();
  llm = await FakeLlmServer.start();
  process.env.EVERRUNS_TEST_OPENAI_KEY = "test-key";
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      script: [
        {
          text: "Two questions.",
          tool_calls: [
            { name: "pick_color", arguments: { options: ["red", "blue"] } },
            { name: "confirm", arguments: { question: "Paint now?" } },
          ],
        },
        { text: "Blue it is." },
      ],
    },
    "decorator",
  );
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await llm?.close();
  await db?.drop();
});

type ToolCallMessage = Message & { toolCalls?: Array<{ id: string; function: { name: string } }> };

/** The tool calls of the agent's messages, by tool name. */
function callsByName(messages: Message[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages as ToolCallMessage[]) for (const c of m.toolCalls ?? []) out.set(c.function.name, c.id);
  return out;
}

/** The tool messages among `messages` answering `toolCallId`. */
const resultsOf = (messages: Array<Record<string, unknown>>, toolCallId: string) => messages.filter((m) => m.role === "tool" && m.toolCallId === toolCallId);

describe("HttpAgent: client tools", () => {
  it("each client tool result is shown once: not streamed back, listed once in the thread, seen once by the model; the thread goes on", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/decorator/agui`, headers: api.headers, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Paint my room" });

    // 1. the agent calls both client tools: the run ends handing them to the client
    const firstRunId = randomUUID();
    await agent.runAgent({ runId: firstRunId, tools: clientToolDefs });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    const calls = callsByName(agent.messages);
    const pick = calls.get("pick_color")!;
    const confirm = calls.get("confirm")!;
    expect(pick).toBeDefined();
    expect(confirm).toBeDefined();
    const finished = (await getEvents(db.pool, firstRunId)).at(-1)!.event;
    expect(finished.outcome).toEqual({ type: "success", pendingToolCallIds: [pick, confirm] });

    // 2. the client runs pick_color (and not confirm) and continues the thread
    const answer = { id: randomUUID(), role: "tool" as const, toolCallId: pick, content: "blue" };
    agent.addMessage(answer);
    const secondRunId = randomUUID();
    const second = await agent.runAgent({ runId: secondRunId, tools: clientToolDefs });
    expect((await waitForStatus(db.pool, secondRunId, ["succeeded", "failed"])).output).toEqual({ text: "Blue it is." });

    // the client's answer is committed under its own message id; the unanswered call gets the note
    const steps = await getSteps(db.pool, secondRunId);
    expect(steps.map((s) => [s.kind, s.name])).toEqual([
      ["tool", "pick_color"],
      ["tool", "confirm"],
      ["llm", "scripted"],
    ]);
    expect(toolOutput(steps[0])).toEqual({ tool_call_id: pick, message_id: answer.id, content: "blue", is_error: false });
    const noResult = toolOutput(steps[1]);
    expect(noResult).toMatchObject({ tool_call_id: confirm, content: NO_RESULT, is_error: false });
    expect(noResult.message_id).not.toBe(answer.id);

    // the continuation streams no TOOL_CALL_RESULT for the client's answer, one for the unanswered call
    const events = await getEvents(db.pool, secondRunId);
    await assertValidAgUiLog(events);
    const results = events.filter((e) => e.type === "TOOL_CALL_RESULT").map((e) => e.event);
    expect(results).toEqual([expect.objectContaining({ toolCallId: confirm, messageId: noResult.message_id, content: NO_RESULT, role: "tool" })]);

    // the HttpAgent holds each result once: its own answer, and the note it was sent
    const held = agent.messages as unknown as Array<Record<string, unknown>>;
    expect(resultsOf(held, pick)).toEqual([answer]);
    expect(resultsOf(held, confirm)).toEqual([expect.objectContaining({ id: noResult.message_id, content: NO_RESULT })]);
    expect(second.newMessages.map((m) => m.role)).toEqual(["tool", "assistant"]);
    expect(new Set(agent.messages.map((m) => m.id)).size).toBe(agent.messages.length);

    // the thread's messages (what a MESSAGES_SNAPSHOT lists) are the client's, once each, in its order
    const snapshot = agUiMessages(await threadHistory(db.pool, secondRunId));
    expect(resultsOf(snapshot, pick)).toEqual([expect.objectContaining({ id: answer.id, content: "blue" })]);
    expect(resultsOf(snapshot, confirm)).toHaveLength(1);
    expect(snapshot.map((m) => m.id)).toEqual(agent.messages.map((m) => m.id));

    // the model saw user, assistant + two calls, one result for each
    expect(llmInput(steps[2]).messages).toBe(4);

    // 3. a later turn: HttpAgent sends everything again; only the new message is new to the thread
    // (a new user turn starts the scripted model's script again: it calls both tools again)
    const more = { id: randomUUID(), role: "user" as const, content: "And the ceiling?" };
    agent.addMessage(more);
    const thirdRunId = randomUUID();
    await agent.runAgent({ runId: thirdRunId, tools: clientToolDefs });
    await waitForStatus(db.pool, thirdRunId, ["interrupted"]);
    const { rows } = await db.pool.query<{ input: { messages: unknown[] } }>("select input from everruns.runs where id = $1", [thirdRunId]);
    expect(rows[0]!.input.messages).toEqual([more]);
    await assertValidAgUiLog(await getEvents(db.pool, thirdRunId));
    const thirdSteps = await getSteps(db.pool, thirdRunId);
    expect(thirdSteps.map((s) => s.kind)).toEqual(["llm", "system"]);
    expect(llmInput(thirdSteps[0]).messages).toBe(6); // the earlier turns, each result once, and the new question

    // 4. the client answers both calls: nothing is streamed back, and each result is held once
    const again = callsByName(agent.messages.slice(-1));
    const answers = [...again.values()].map((toolCallId, i) => ({ id: randomUUID(), role: "tool" as const, toolCallId, content: `answer ${i}` }));
    expect(answers).toHaveLength(2);
    agent.addMessages(answers);
    const fourthRunId = randomUUID();
    await agent.runAgent({ runId: fourthRunId, tools: clientToolDefs });
    expect((await waitForStatus(db.pool, fourthRunId, ["succeeded", "failed"])).output).toEqual({ text: "Blue it is." });
    const fourthEvents = await getEvents(db.pool, fourthRunId);
    await assertValidAgUiLog(fourthEvents);
    expect(fourthEvents.filter((e) => e.type === "TOOL_CALL_RESULT")).toEqual([]);
    const fourthSteps = await getSteps(db.pool, fourthRunId);
    expect(fourthSteps.map((s) => s.kind)).toEqual(["tool", "tool", "llm"]);
    expect(fourthSteps.slice(0, 2).map((s) => toolOutput(s).message_id)).toEqual(answers.map((a) => a.id));
    expect(llmInput(fourthSteps[2]).messages).toBe(9);
    const finalHeld = agent.messages as unknown as Array<Record<string, unknown>>;
    for (const toolCallId of [pick, confirm, ...again.values()]) expect(resultsOf(finalHeld, toolCallId)).toHaveLength(1);
    expect(agent.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "tool", "assistant", "user", "assistant", "tool", "tool", "assistant"]);
    expect(agUiMessages(await threadHistory(db.pool, fourthRunId)).map((m) => m.id)).toEqual(agent.messages.map((m) => m.id));
  });

  it("the model's next request carries the client's result once, right after its call (OpenAI Responses against the fake)", async () => {
    llm.reset();
    llm.reply({ text: "Which color?", toolCalls: [{ id: "call_pick", name: "pick_color", arguments: { options: ["red", "blue"] } }] }, { text: "Blue it is." });
    await createAgent(
      db.pool,
      { provider: "openai", model: "gpt-4o-mini", base_url: llm.openaiBaseURL, api_key_env: "EVERRUNS_TEST_OPENAI_KEY" },
      "openai_decorator",
    );
    const agent = new HttpAgent({ url: `${api.url}/api/agents/openai_decorator/agui`, headers: api.headers, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Paint my room" });
    const firstRunId = randomUUID();
    await agent.runAgent({ runId: firstRunId, tools: clientToolDefs });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    expect(callsByName(agent.messages).get("pick_color")).toBe("call_pick");

    const answer = { id: randomUUID(), role: "tool" as const, toolCallId: "call_pick", content: "blue" };
    agent.addMessage(answer);
    const secondRunId = randomUUID();
    await agent.runAgent({ runId: secondRunId, tools: clientToolDefs });
    expect((await waitForStatus(db.pool, secondRunId, ["succeeded", "failed"])).output).toEqual({ text: "Blue it is." });
    expect((await getEvents(db.pool, secondRunId)).filter((e) => e.type === "TOOL_CALL_RESULT")).toEqual([]);
    expect(resultsOf(agent.messages as unknown as Array<Record<string, unknown>>, "call_pick")).toEqual([answer]);

    expect(llm.requests).toHaveLength(2);
    const input = (llm.requests[1]!.body as { input: Array<Record<string, unknown>> }).input;
    const items = input.map((i) =>
      i.type === "function_call" || i.type === "function_call_output" ? `${String(i.type)}:${String(i.call_id)}` : String(i.role),
    );
    expect(items).toEqual(["user", "assistant", "function_call:call_pick", "function_call_output:call_pick"]);
    expect(input.at(-1)).toMatchObject({ output: "blue" });
  });
});
