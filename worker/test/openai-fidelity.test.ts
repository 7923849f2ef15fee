// OpenAI fidelity: reasoning items carried across the calls of a tool loop (encrypted, store
// false; or previous_response_id, store true, with its fallback when the stored response is
// gone), prompt_cache_key per thread and the usage categories (cached input, reasoning output).
// The real `openai` SDK against the fake server, which refuses what the real API refuses; then
// the engine: a 20-turn tool loop run by a worker, and by workers killed with kill -9 between turns.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmOutput, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../main.ts";
import { OpenAIProvider } from "../providers/openai.ts";
import { ProviderError, type ChatMessage, type LlmRequest, type LlmResult, type LlmStreamHandlers, type ToolDefinition } from "../providers/types.ts";
import { FakeLlmServer, type RecordedRequest, type StreamReply } from "./fake-llm-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const KEY_ENV = "EVERRUNS_TEST_OPENAI_KEY";
const THREAD = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
const ECHO: ToolDefinition = { name: "echo", description: "Returns its arguments unchanged.", parameters: { type: "object", additionalProperties: true } };
const fast = { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

let server: FakeLlmServer;
const provider = new OpenAIProvider();
const quiet: LlmStreamHandlers = { onTextDelta() {}, onReasoningDelta() {}, onToolCallStart() {}, onToolCallArgs() {} };

beforeAll(async () => {
  server = await FakeLlmServer.start();
  process.env[KEY_ENV] = "sk-test-openai-fidelity";
});
afterAll(async () => {
  await server.close();
});

function config(overrides: Record<string, unknown> = {}) {
  return AgentConfigSchema.parse({
    provider: "openai",
    model: "gpt-test",
    base_url: server.openaiBaseURL,
    api_key_env: KEY_ENV,
    reasoning_effort: "low",
    ...overrides,
  });
}

function complete(messages: ChatMessage[], overrides: Record<string, unknown> = {}, callIndex = 0): Promise<LlmResult> {
  const request: LlmRequest = {
    config: config(overrides),
    messages,
    tools: [ECHO],
    callIndex,
    attempt: 1,
    signal: new AbortController().signal,
    runId: "run-1",
    threadId: THREAD,
  };
  return provider.complete(request, quiet);
}

/** A reasoning model's tool-loop turn: reasoning, then a call of echo. */
function turn(n: number, output = ""): StreamReply {
  return { reasoning: `Turn ${n}: I should call echo again.`, toolCalls: [{ name: "echo", arguments: { n, output } }] };
}

/**
 * Runs `turns` tool-loop calls and a final answer, building the messages as conversation.ts does
 * (the assistant turn with its committed replay, then the tool result); returns each call's result.
 */
async function toolLoop(turns: number, overrides: Record<string, unknown> = {}, toolOutput = ""): Promise<{ results: LlmResult[]; messages: ChatMessage[] }> {
  const messages: ChatMessage[] = [{ role: "user", content: "Call echo until you are done." }];
  const results: LlmResult[] = [];
  for (let n = 0; n <= turns; n++) {
    server.reply(n < turns ? turn(n) : { reasoning: "Done.", text: "All done." });
    const result = await complete(messages, overrides, n);
    results.push(result);
    // committed as JSON in the step's output, read back from it
    const replay = result.replay && (JSON.parse(JSON.stringify(result.replay)) as typeof result.replay);
    messages.push({ role: "assistant", content: result.text, tool_calls: result.tool_calls, ...(replay && { replay }) });
    for (const call of result.tool_calls) messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(call.arguments) + toolOutput });
  }
  return { results, messages };
}

type Item = Record<string, unknown>;
const inputOf = (r: RecordedRequest) => r.body.input as Item[];

/** Every function_call of a request comes after a reasoning item with encrypted content. */
function replaysReasoning(r: RecordedRequest): boolean {
  let reasoning = 0;
  for (const item of inputOf(r)) {
    if (item.type === "reasoning" && typeof item.encrypted_content === "string" && item.encrypted_content) reasoning++;
    if (item.type === "function_call" && reasoning === 0) return false;
  }
  return true;
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error("expected the call to fail");
}

describe("provider: reasoning items across calls (store false)", () => {
  it("a 20-turn tool loop sends every earlier turn's reasoning back, encrypted, before its function call", async () => {
    server.reset();
    const { results } = await toolLoop(20);
    expect(server.openai.refusals).toEqual([]);
    expect(server.requests).toHaveLength(21);
    expect(results.at(-1)!.text).toBe("All done.");

    for (const [n, request] of server.requests.entries()) {
      const body = request.body;
      expect(body.store).toBe(false);
      expect(body.include).toEqual(["reasoning.encrypted_content"]);
      expect(body.previous_response_id).toBeUndefined();
      expect(body.prompt_cache_key).toBe(THREAD);
      const input = inputOf(request);
      // user, then per earlier turn: reasoning, function_call, function_call_output
      expect(input).toHaveLength(1 + 3 * n);
      for (let t = 0; t < n; t++) {
        const [reasoning, call, output] = input.slice(1 + 3 * t, 4 + 3 * t) as [Item, Item, Item];
        const replay = results[t]!.replay!.data as { items: Item[] };
        expect(reasoning).toEqual(replay.items[0]);
        expect(reasoning).toMatchObject({ type: "reasoning", summary: [{ type: "summary_text", text: `Turn ${t}: I should call echo again.` }] });
        expect(reasoning.encrypted_content).toMatch(/^fake-enc:/);
        // the call id the engine committed is the one replayed and the one the result names
        expect(call).toMatchObject({ type: "function_call", call_id: results[t]!.tool_calls[0]!.id, name: "echo" });
        expect(output).toMatchObject({ type: "function_call_output", call_id: results[t]!.tool_calls[0]!.id });
      }
    }
    expect(results[0]!.replay).toMatchObject({ provider: "openai", model: "gpt-test", data: { stored: false } });
    expect((results[0]!.replay!.data as { response_id: string }).response_id).toMatch(/^resp_/);
  });

  it("the fake refuses a loop whose reasoning item was dropped or altered: a non-retryable ProviderError", async () => {
    server.reset();
    const { messages } = await toolLoop(2);
    const requests = server.requests.length;
    // what a provider without replay sent: the function_call without its reasoning item
    const dropped = messages.map((m): ChatMessage => (m.role === "assistant" ? { role: "assistant", content: m.content, tool_calls: m.tool_calls } : m));
    server.reply({ text: "unused" });
    const error = await failure(complete(dropped));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/Item 'fc_\w+' of type 'function_call' was provided without its required 'reasoning' item: 'rs_\w+'/);

    // a summary changed after the fact no longer matches its encrypted content
    const altered = structuredClone(messages);
    const first = altered.find((m) => m.role === "assistant")!;
    if (first.role !== "assistant") throw new Error("unreachable");
    (first.replay!.data as { items: Array<{ summary: Array<{ text: string }> }> }).items[0]!.summary[0]!.text = "something else";
    const second = await failure(complete(altered));
    expect(second.retryable).toBe(false);
    expect(second.message).toMatch(/could not be verified/);
    expect(server.requests).toHaveLength(requests + 2);
    expect(server.openai.refusals).toHaveLength(2);
    expect(server.pending).toBe(1); // the refused requests used no reply
  });

  it("a foreign or malformed replay is ignored: the turn is rebuilt from text and tool calls", async () => {
    server.reset();
    server.reply({ text: "ok" });
    await complete([
      { role: "user", content: "hi" },
      { role: "assistant", content: "", tool_calls: [{ id: "call_a", name: "echo", arguments: {} }], replay: { provider: "anthropic", model: "x", data: [] } },
      { role: "tool", tool_call_id: "call_a", content: "{}" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "call_b", name: "echo", arguments: {} }],
        replay: { provider: "openai", model: "x", data: { items: "no" } },
      },
      { role: "tool", tool_call_id: "call_b", content: "{}" },
    ]);
    expect(inputOf(server.lastRequest!)).toEqual([
      { type: "message", role: "user", content: "hi" },
      { type: "function_call", call_id: "call_a", name: "echo", arguments: "{}" },
      { type: "function_call_output", call_id: "call_a", output: "{}" },
      { type: "function_call", call_id: "call_b", name: "echo", arguments: "{}" },
      { type: "function_call_output", call_id: "call_b", output: "{}" },
    ]);
  });
});

describe("provider: store true", () => {
  it("continues from the previous response with only the new items; after the stored responses are gone, falls back to the full input at once", async () => {
    server.reset();
    const { results, messages } = await toolLoop(5, { store: true });
    expect(server.openai.refusals).toEqual([]);
    expect(server.requests).toHaveLength(6);
    expect(server.requests[0]!.body.previous_response_id).toBeUndefined();
    for (let n = 1; n < server.requests.length; n++) {
      const body = server.requests[n]!.body;
      expect(body.store).toBe(true);
      expect(body.previous_response_id).toBe((results[n - 1]!.replay!.data as { response_id: string }).response_id);
      // only the tool result of the previous turn
      expect(body.input).toEqual([{ type: "function_call_output", call_id: results[n - 1]!.tool_calls[0]!.id, output: expect.any(String) as unknown }]);
    }

    // the stored responses expire: the call is refused once, then sent whole and succeeds
    server.openai.forgetResponses();
    messages.push({ role: "user", content: "One more?" });
    server.reply({ reasoning: "Sure.", text: "Yes." });
    const before = server.requests.length;
    const result = await complete(messages, { store: true });
    expect(result.text).toBe("Yes.");
    const [refused, full] = server.requests.slice(before);
    expect(server.requests.length - before).toBe(2);
    expect(refused!.body.previous_response_id).toBe((results[5]!.replay!.data as { response_id: string }).response_id);
    expect(server.openai.refusals).toEqual([`Previous response with id '${String(refused!.body.previous_response_id)}' not found.`]);
    expect(full!.body.previous_response_id).toBeUndefined();
    expect(inputOf(full!)).toHaveLength(1 + 3 * 5 + 2 + 1); // user, 5 turns, the final answer (reasoning, message), the new question
    expect(replaysReasoning(full!)).toBe(true);
    expect(result.replay).toMatchObject({ data: { stored: true } });
  });
});

describe("provider: prompt cache and usage", () => {
  it("prompt_cache_key is the thread; cached tokens grow along the loop and are reported as cache reads; reasoning tokens too", async () => {
    server.reset();
    server.openai.countTokens = true;
    // tool results of ~2,000 characters: the prompt passes OpenAI's 1,024-token caching minimum
    const { results } = await toolLoop(20, {}, "x".repeat(2000));
    const usage = results.map((r) => r.usage);
    for (const request of server.requests) expect(request.body.prompt_cache_key).toBe(THREAD);
    expect(usage[0]!.cache_read_tokens).toBeUndefined(); // nothing seen before
    const cached = usage.map((u) => u.cache_read_tokens ?? 0);
    for (let n = 1; n < cached.length; n++) expect(cached[n]!).toBeGreaterThanOrEqual(cached[n - 1]!);
    const last = usage.at(-1)!;
    expect(last.cache_read_tokens! % 128).toBe(0);
    expect(last.cache_read_tokens!).toBeGreaterThan(0.8 * last.input_tokens);
    expect(last.cache_read_tokens!).toBeLessThan(last.input_tokens);
    for (const u of usage) expect(u.reasoning_tokens).toBeGreaterThan(0);
    for (const u of usage) expect(u.output_tokens).toBeGreaterThan(u.reasoning_tokens!);
    const totalInput = usage.reduce((n, u) => n + u.input_tokens, 0);
    const totalCached = cached.reduce((n, c) => n + c, 0);
    console.log(
      `openai fake, 21 calls (20-turn tool loop): turn 20 input ${last.input_tokens} tokens, cached ${last.cache_read_tokens}; ` +
        `first cached at call ${cached.findIndex((c) => c > 0)}; total input ${totalInput}, cached ${totalCached} (${((100 * totalCached) / totalInput).toFixed(0)}%)`,
    );
  });

  it('cache "off" sends no prompt_cache_key; Chat Completions sends none to a server that is not OpenAI, and reports cached tokens', async () => {
    server.reset();
    server.reply({ text: "a" });
    await complete([{ role: "user", content: "hi" }], { cache: "off" });
    expect(server.lastRequest!.body).not.toHaveProperty("prompt_cache_key");

    server.openai.countTokens = true;
    const long: ChatMessage[] = [{ role: "user", content: "y".repeat(6000) }];
    server.reply({ text: "b" }, { text: "c" });
    await complete(long, { api: "chat_completions" });
    const second = await complete([...long, { role: "assistant", content: "b", tool_calls: [] }, { role: "user", content: "again" }], {
      api: "chat_completions",
    });
    expect(server.lastRequest!.path).toBe("/v1/chat/completions");
    expect(server.lastRequest!.body).not.toHaveProperty("prompt_cache_key");
    expect(second.usage.cache_read_tokens).toBe(1408); // 6,000 characters ≈ 1,500 tokens: 11 blocks of 128
  });
});

// ---------------------------------------------------------------------------------------------
// The engine

describe("engine", () => {
  let db: TestDatabase;
  const workers = new Set<WorkerProcess>();

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const w of workers) w.child.kill("SIGKILL");
    await Promise.all([...workers].map((w) => w.exited));
    await db?.drop();
  });

  async function agent(tool: string): Promise<string> {
    return createAgent(db.pool, {
      provider: "openai",
      model: "gpt-test",
      base_url: server.openaiBaseURL,
      api_key_env: KEY_ENV,
      reasoning_effort: "low",
      tools: [tool],
      max_steps: 200,
      retry: fast,
    });
  }

  /** What every engine run must show: the loop's steps once each, all reasoning replayed, a valid log. */
  async function expectLoop(runId: string, turns: number): Promise<void> {
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output).toMatchObject({ text: "All done." });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 2 * turns + 1 }, (_, i) => i + 1));
    expect(steps.map((s) => s.kind)).toEqual([...Array.from({ length: turns }, () => ["llm", "tool"]).flat(), "llm"]);
    // each LLM step committed its reasoning items; each request replayed every one before it
    for (const step of steps.filter((s) => s.kind === "llm")) expect(llmOutput(step).replay).toMatchObject({ provider: "openai" });
    expect(server.openai.refusals).toEqual([]);
    expect(server.requests).toHaveLength(turns + 1);
    const { rows } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [runId]);
    for (const [n, request] of server.requests.entries()) {
      expect(replaysReasoning(request)).toBe(true);
      expect(inputOf(request).filter((i) => i.type === "reasoning")).toHaveLength(n);
      expect(request.body.prompt_cache_key).toBe(rows[0]!.thread_id);
    }
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
  }

  it("an agent with a reasoning model and a built-in tool runs a 20-turn tool loop to success", async () => {
    server.reset();
    server.openai.countTokens = true;
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
    try {
      for (let n = 0; n < 20; n++) server.reply(turn(n, "z".repeat(400)));
      server.reply({ reasoning: "Done.", text: "All done." });
      const runId = await startRun(db.pool, await agent("echo"), "Call echo 20 times.");
      await expectLoop(runId, 20);
      const { rows: usage } = await db.pool.query<{ usage: { input_tokens: number; cache_read_tokens?: number; reasoning_tokens?: number } }>(
        "select usage from everruns.run_steps where run_id = $1 and kind = 'llm' order by seq",
        [runId],
      );
      const last = usage.at(-1)!.usage;
      expect(last.cache_read_tokens).toBeGreaterThan(0);
      console.log(`engine, 20-turn loop: last call input ${last.input_tokens} tokens, cached ${last.cache_read_tokens}, reasoning ${last.reasoning_tokens}`);
    } finally {
      await worker.stop();
    }
  });

  it("the same loop with kill -9 of the worker between turns: new workers finish it, replaying the committed reasoning", async () => {
    server.reset();
    const KILL_AT = new Set([3, 8, 13, 17]); // the turns whose tool step is under way when its worker dies
    for (let n = 0; n < 20; n++) {
      server.reply({ reasoning: `Turn ${n}.`, toolCalls: [{ name: "simulate_work", arguments: { ms: KILL_AT.has(n) ? 3000 : 1 } }] });
    }
    server.reply({ reasoning: "Done.", text: "All done." });
    const start = async () => {
      const w = await spawnWorker(db.url);
      workers.add(w);
      void w.exited.then(() => workers.delete(w));
      return w;
    };
    let worker = await start();
    const runId = await startRun(db.pool, await agent("simulate_work"), "Work 20 times.");
    for (const n of KILL_AT) {
      const seq = 2 * n + 2; // turn n's tool step
      await waitFor(`the tool step of turn ${n} to be under way`, async () => {
        const { rows } = await db.pool.query("select 1 from everruns.run_events where run_id = $1 and type = 'STEP_STARTED' and event ->> 'stepName' like $2", [
          runId,
          `step ${seq}:%`,
        ]);
        return rows.length > 0;
      });
      worker.child.kill("SIGKILL");
      await worker.exited;
      worker = await start();
    }
    await expectLoop(runId, 20);
    const steps = await getSteps(db.pool, runId);
    for (const n of KILL_AT) expect(steps[2 * n + 1]!.attempt, `turn ${n}'s tool step`).toBeGreaterThanOrEqual(2);
    // the LLM calls ran once each (no reply was used twice: the fake had exactly one per call)
    expect(server.pending).toBe(0);
  });
});
