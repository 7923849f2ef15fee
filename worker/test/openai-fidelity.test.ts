// OpenAI fidelity: reasoning items carried across the calls of a tool loop (encrypted, store
// false, without ids; or previous_response_id, store true, with its fallback when the stored
// response is gone), only to the model that made them and never a lone reasoning item;
// prompt_cache_key per thread (to OpenAI's host only) and the usage categories (cached input,
// reasoning output). The real `openai` SDK against the fake server, which refuses what the real
// API refuses; then the engine: a 20-turn tool loop run by a worker, an LLM step retried after its
// stream broke, and workers killed with kill -9 between turns.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmOutput, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../main.ts";
import { isOpenAIHost, OpenAIProvider, responsesParams, responsesUsage } from "../providers/openai.ts";
import { configOf, ProviderError, type ChatMessage, type LlmRequest, type LlmResult, type LlmStreamHandlers, type ToolDefinition } from "../providers/types.ts";
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

function request(messages: ChatMessage[], overrides: Record<string, unknown> = {}, callIndex = 0): LlmRequest {
  return {
    config: config(overrides),
    messages,
    tools: [ECHO],
    callIndex,
    attempt: 1,
    signal: new AbortController().signal,
    runId: "run-1",
    threadId: THREAD,
  };
}

function complete(messages: ChatMessage[], overrides: Record<string, unknown> = {}, callIndex = 0): Promise<LlmResult> {
  return provider.complete(request(messages, overrides, callIndex), quiet);
}

/** A raw request to the fake (the SDK, no provider): to show the rules the provider must keep. */
async function rawFailure(input: unknown[]): Promise<InstanceType<typeof OpenAI.APIError>> {
  const client = new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "sk-raw", maxRetries: 0 });
  try {
    await client.responses.create({ model: "gpt-test", input: input as OpenAI.Responses.ResponseInput, store: false, stream: true });
  } catch (error) {
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return error as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("expected the fake to refuse the request");
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
const withoutId = (item: Item): Item => Object.fromEntries(Object.entries(item).filter(([key]) => key !== "id"));
const ofType = (r: RecordedRequest, type: string) => inputOf(r).filter((i) => i.type === type);

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
  it("a 20-turn tool loop sends every earlier turn's reasoning back, encrypted and without ids, before its function call", async () => {
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
      // the fake is not OpenAI's host: a compatible server gets no field it may not know
      expect(body).not.toHaveProperty("prompt_cache_key");
      const input = inputOf(request);
      // user, then per earlier turn: reasoning, function_call, function_call_output
      expect(input).toHaveLength(1 + 3 * n);
      for (let t = 0; t < n; t++) {
        const [reasoning, call, output] = input.slice(1 + 3 * t, 4 + 3 * t) as [Item, Item, Item];
        const replay = results[t]!.replay!.data as { items: Item[] };
        // the recorded item, less its id: OpenAI did not store it, so nothing can be found by it
        expect(replay.items[0]!.id).toMatch(/^rs_/);
        expect(reasoning).toEqual(withoutId(replay.items[0]!));
        expect(reasoning).toMatchObject({ type: "reasoning", summary: [{ type: "summary_text", text: `Turn ${t}: I should call echo again.` }] });
        expect(reasoning.encrypted_content).toMatch(/^fake-enc:/);
        expect(call).not.toHaveProperty("id");
        // the call id the engine committed is the one replayed and the one the result names
        expect(call).toMatchObject({ type: "function_call", call_id: results[t]!.tool_calls[0]!.id, name: "echo" });
        expect(output).toMatchObject({ type: "function_call_output", call_id: results[t]!.tool_calls[0]!.id });
      }
    }
    expect(results[0]!.replay).toMatchObject({ provider: "openai", model: "gpt-test", data: { stored: false } });
    expect((results[0]!.replay!.data as { response_id: string }).response_id).toMatch(/^resp_/);
  });

  it("the fake refuses a loop whose reasoning item was dropped or whose encrypted content was forged: a non-retryable ProviderError", async () => {
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

    // encrypted content the API did not issue (it is opaque: only what it issued decrypts)
    const forged = structuredClone(messages);
    const first = forged.find((m) => m.role === "assistant")!;
    if (first.role !== "assistant") throw new Error("unreachable");
    const item = (first.replay!.data as { items: Item[] }).items[0]!;
    item.encrypted_content = `fake-enc:${String(item.id)}:forged`;
    const second = await failure(complete(forged));
    expect(second.retryable).toBe(false);
    expect(second.message).toMatch(/could not be verified/);
    expect(server.requests).toHaveLength(requests + 2);
    expect(server.openai.refusals).toHaveLength(2);
    expect(server.pending).toBe(1); // the refused requests used no reply

    // the summary is a rendering of the reasoning, not what the API verifies: changed, it passes
    const summarised = structuredClone(messages);
    const turn0 = summarised.find((m) => m.role === "assistant")!;
    if (turn0.role !== "assistant") throw new Error("unreachable");
    ((turn0.replay!.data as { items: Item[] }).items[0]!.summary as Array<{ text: string }>)[0]!.text = "something else";
    expect((await complete(summarised)).text).toBe("unused");
    expect(server.openai.refusals).toHaveLength(2);
  });

  it("a response cut short while reasoning (incomplete at max_output_tokens) leaves no lone reasoning item to send back", async () => {
    server.reset();
    const messages: ChatMessage[] = [{ role: "user", content: "Think it through." }];
    // 100 reasoning tokens, more than max_output_tokens: the fake, like the API, ends the
    // response `incomplete` with only its reasoning item
    server.reply({ reasoning: "r".repeat(400), text: "never sent" });
    const cut = await complete(messages, { max_tokens: 16 });
    expect(server.lastRequest!.body.max_output_tokens).toBe(16);
    expect(cut.text).toBe("");
    expect(cut.tool_calls).toEqual([]);
    expect(cut.reasoning).toBe("r".repeat(400));
    expect(cut.replay).toBeUndefined(); // nothing worth sending back
    messages.push({ role: "assistant", content: "", tool_calls: [] }, { role: "user", content: "Briefly, then." });
    server.reply({ reasoning: "Short.", text: "Done." });
    expect((await complete(messages)).text).toBe("Done.");
    expect(ofType(server.lastRequest!, "reasoning")).toEqual([]);

    // a turn recorded with its lone reasoning item (before this rule) is not sent back either
    const lone: ChatMessage[] = [
      { role: "user", content: "Think it through." },
      {
        role: "assistant",
        content: "",
        tool_calls: [],
        replay: {
          provider: "openai",
          model: "gpt-test",
          data: { stored: false, items: [{ type: "reasoning", id: "rs_lone", summary: [], encrypted_content: server.openai.encrypt("rs_lone") }] },
        },
      },
      { role: "user", content: "Briefly, then." },
    ];
    server.reply({ text: "Done again." });
    expect((await complete(lone)).text).toBe("Done again.");
    expect(inputOf(server.lastRequest!)).toEqual([
      { type: "message", role: "user", content: "Think it through." },
      { type: "message", role: "user", content: "Briefly, then." },
    ]);
    expect(server.openai.refusals).toEqual([]);

    // which the fake, like the API, would refuse
    const refused = await rawFailure([
      { type: "message", role: "user", content: "Think it through." },
      { type: "reasoning", summary: [], encrypted_content: server.openai.encrypt("rs_lone") },
      { type: "message", role: "user", content: "Briefly, then." },
    ]);
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(/Item 'rs_lone' of type 'reasoning' was provided without its required following item/);
  });

  it("store false: items go back without their ids or null fields; the fake refuses ids of items never stored", async () => {
    server.reset();
    const encrypted = server.openai.encrypt("rs_x");
    const messages: ChatMessage[] = [
      { role: "user", content: "hi" },
      {
        role: "assistant",
        content: "",
        tool_calls: [{ id: "call_x", name: "echo", arguments: {} }],
        replay: {
          provider: "openai",
          model: "gpt-test",
          data: {
            response_id: "resp_x",
            stored: false,
            items: [
              { type: "reasoning", id: "rs_x", summary: [], encrypted_content: encrypted, status: null },
              { type: "function_call", id: "fc_x", call_id: "call_x", name: "echo", arguments: "{}", status: "completed", namespace: null },
            ],
          },
        },
      },
      { role: "tool", tool_call_id: "call_x", content: "{}" },
    ];
    server.reply({ text: "ok" });
    expect((await complete(messages)).text).toBe("ok");
    expect(inputOf(server.lastRequest!)).toEqual([
      { type: "message", role: "user", content: "hi" },
      { type: "reasoning", summary: [], encrypted_content: encrypted },
      { type: "function_call", call_id: "call_x", name: "echo", arguments: "{}", status: "completed" },
      { type: "function_call_output", call_id: "call_x", output: "{}" },
    ]);
    expect(server.openai.refusals).toEqual([]);

    // the same items with their ids, as Azure and proxies answer them
    const refused = await rawFailure([
      { type: "message", role: "user", content: "hi" },
      { type: "reasoning", id: "rs_x", summary: [], encrypted_content: encrypted },
      { type: "function_call", id: "fc_x", call_id: "call_x", name: "echo", arguments: "{}" },
      { type: "function_call_output", call_id: "call_x", output: "{}" },
    ]);
    expect(refused.status).toBe(404);
    expect(refused.message).toMatch(/Item with id 'rs_x' not found\. Items are not persisted when `store` is set to false/);
    // and a function call without its output
    const unanswered = await rawFailure([
      { type: "message", role: "user", content: "hi" },
      { type: "function_call", call_id: "call_y", name: "echo", arguments: "{}" },
      { type: "message", role: "user", content: "well?" },
    ]);
    expect(unanswered.status).toBe(400);
    expect(unanswered.message).toMatch(/No tool output found for function call call_y\./);
  });

  it("recorded items go back only to the model that made them (an alias and its dated snapshot are one); another model gets the turn rebuilt", async () => {
    server.reset();
    const messages: ChatMessage[] = [{ role: "user", content: "Call echo." }];
    server.reply({ ...turn(0), model: "gpt-test-2026-01-15" }); // the API reports the snapshot of the alias asked for
    const first = await complete(messages);
    expect(first.replay?.model).toBe("gpt-test-2026-01-15");
    const replay = JSON.parse(JSON.stringify(first.replay)) as typeof first.replay;
    messages.push(
      { role: "assistant", content: "", tool_calls: first.tool_calls, replay },
      { role: "tool", tool_call_id: first.tool_calls[0]!.id, content: "{}" },
    );

    server.reply({ text: "alias" }, { text: "snapshot" }, { text: "other" });
    await complete(messages);
    expect(ofType(server.lastRequest!, "reasoning")).toHaveLength(1);
    await complete(messages, { model: "gpt-test-2026-01-15" });
    expect(ofType(server.lastRequest!, "reasoning")).toHaveLength(1);
    await complete(messages, { model: "gpt-other" });
    expect(inputOf(server.lastRequest!)).toEqual([
      { type: "message", role: "user", content: "Call echo." },
      { type: "function_call", call_id: first.tool_calls[0]!.id, name: "echo", arguments: JSON.stringify({ n: 0, output: "" }) },
      { type: "function_call_output", call_id: first.tool_calls[0]!.id, output: "{}" },
    ]);
    expect(server.openai.refusals).toEqual([]);
  });

  it("which models are asked for encrypted reasoning: reasoning_effort, else the models table, else the model's name", async () => {
    server.reset();
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{ model: "gpt-test" }, true], // reasoning_effort set
      [{ model: "gpt-4o", reasoning_effort: undefined }, false], // the table: no
      [{ model: "codex-mini-latest", reasoning_effort: undefined }, true], // the table: yes (not a name the pattern knows)
      [{ model: "o3", reasoning_effort: undefined, model_info: { reasoning: false } }, false], // the agent's model_info over the table
      [{ model: "gpt-test", reasoning_effort: undefined, model_info: { reasoning: true } }, true],
      [{ model: "o9-preview", reasoning_effort: undefined }, true], // unknown to the table: the name
      [{ model: "gpt-test", reasoning_effort: undefined }, false],
    ];
    for (const [overrides, reasons] of cases) {
      server.reply({ text: "x" });
      await complete([{ role: "user", content: "hi" }], overrides);
      if (reasons) expect(server.lastRequest!.body.include, JSON.stringify(overrides)).toEqual(["reasoning.encrypted_content"]);
      else expect(server.lastRequest!.body, JSON.stringify(overrides)).not.toHaveProperty("include");
    }
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
    // the stored items went with their response: none is named by id (the fake would answer 404)
    for (const item of inputOf(full!)) expect(item).not.toHaveProperty("id");
    expect(result.replay).toMatchObject({ data: { stored: true } });
  });
});

describe("provider: prompt cache and usage", () => {
  it("prompt_cache_key is the thread, sent to OpenAI's own host only, on both APIs", () => {
    expect(isOpenAIHost(undefined)).toBe(true);
    expect(isOpenAIHost("https://api.openai.com/v1")).toBe(true);
    expect(isOpenAIHost("https://llm-proxy.example.com/v1")).toBe(false);
    expect(isOpenAIHost("https://my-resource.openai.azure.com/openai/v1")).toBe(true);
    expect(isOpenAIHost("https://notopenai.com/v1")).toBe(false);
    expect(isOpenAIHost(server.openaiBaseURL)).toBe(false);
    const on = request([{ role: "user", content: "hi" }]);
    expect(responsesParams(configOf(on, "openai"), on, true).prompt_cache_key).toBe(THREAD);
    expect(responsesParams(configOf(on, "openai"), on, false)).not.toHaveProperty("prompt_cache_key");
    const off = request([{ role: "user", content: "hi" }], { cache: "off" });
    expect(responsesParams(configOf(off, "openai"), off, true)).not.toHaveProperty("prompt_cache_key");
  });

  it("cached tokens grow along the loop and are reported as cache reads; reasoning tokens too", async () => {
    server.reset();
    server.openai.countTokens = true;
    // tool results of ~2,000 characters: the prompt passes OpenAI's 1,024-token caching minimum
    const { results } = await toolLoop(20, {}, "x".repeat(2000));
    const usage = results.map((r) => r.usage);
    // the fake is not OpenAI's host (no prompt_cache_key): it caches per API key, as OpenAI does without a key
    for (const request of server.requests) expect(request.body).not.toHaveProperty("prompt_cache_key");
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

  /**
   * What every engine run must show: the loop's steps once each, all reasoning replayed (each
   * request: one reasoning item before each earlier call, the last request all of them), a
   * valid log. `retried`: LLM requests made again after a failed attempt.
   */
  async function expectLoop(runId: string, turns: number, retried = 0): Promise<void> {
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(run.output).toMatchObject({ text: "All done." });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 2 * turns + 1 }, (_, i) => i + 1));
    expect(steps.map((s) => s.kind)).toEqual([...Array.from({ length: turns }, () => ["llm", "tool"]).flat(), "llm"]);
    // each LLM step committed its reasoning items; each request replayed every one before it
    for (const step of steps.filter((s) => s.kind === "llm")) expect(llmOutput(step).replay).toMatchObject({ provider: "openai" });
    expect(server.openai.refusals).toEqual([]);
    expect(server.requests).toHaveLength(turns + 1 + retried);
    for (const request of server.requests) {
      expect(replaysReasoning(request)).toBe(true);
      expect(ofType(request, "reasoning")).toHaveLength(ofType(request, "function_call").length);
      expect(request.body).not.toHaveProperty("prompt_cache_key"); // not OpenAI's host
    }
    expect(ofType(server.requests.at(-1)!, "reasoning")).toHaveLength(turns);
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

  it("an LLM step whose stream broke is retried with the same replay, which passes the fake's checks", async () => {
    server.reset();
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
    try {
      server.reply(turn(0), turn(1));
      server.reply({ ...turn(2), dieAfterChunks: 6 }, turn(2)); // the connection reset mid-stream, then the retry
      server.reply({ ...turn(3), streamError: { afterChunks: 6, type: "server_error" } }, turn(3)); // an error event mid-stream
      server.reply(turn(4), turn(5), { reasoning: "Done.", text: "All done." });
      const runId = await startRun(db.pool, await agent("echo"), "Call echo 6 times.");
      await expectLoop(runId, 6, 2);
      // requests: turns 0, 1, 2 (broken), 2, 3 (broken), 3, 4, 5, the answer
      const inputs = server.requests.map((r) => r.body.input);
      expect(inputs[3]).toEqual(inputs[2]);
      expect(inputs[5]).toEqual(inputs[4]);
      expect(ofType(server.requests[3]!, "reasoning")).toHaveLength(2);
      expect(ofType(server.requests[5]!, "reasoning")).toHaveLength(3);
      const steps = await getSteps(db.pool, runId);
      expect(steps.filter((s) => s.kind === "llm").map((s) => s.attempt)).toEqual([1, 1, 2, 2, 1, 1, 1]);
      expect(server.pending).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it("the same loop with kill -9 of the worker between turns: new workers finish it, replaying the committed reasoning", async () => {
    server.reset();
    // The turns to kill in hold their worker in the tool step, long enough for the kill to land
    // there however slow the machine (the retried step takes as long again); the others are quick.
    const KILL_AT = new Set([3, 8, 13, 17]);
    for (let n = 0; n < 20; n++) {
      server.reply({ reasoning: `Turn ${n}.`, toolCalls: [{ name: "simulate_work", arguments: { ms: KILL_AT.has(n) ? 6000 : 1 } }] });
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
      // the run's current attempt is that tool step, begun and not ended
      await waitFor(
        `the tool step of turn ${n} to be under way`,
        async () => {
          const { rows } = await db.pool.query(
            `select 1 from everruns.runs r
               join everruns.run_attempts a on a.run_id = r.id and a.seq = r.step_cursor and a.attempt = r.step_attempt
              where r.id = $1 and r.step_cursor = $2 and a.step_kind = 'tool' and a.ended_at is null and a.outcome is null`,
            [runId, seq],
          );
          return rows.length > 0;
        },
        60_000,
      );
      worker.child.kill("SIGKILL");
      await worker.exited;
      worker = await start();
    }
    await expectLoop(runId, 20);
    const steps = await getSteps(db.pool, runId);
    for (const n of KILL_AT) expect(steps[2 * n + 1]!.attempt, `turn ${n}'s tool step`).toBeGreaterThanOrEqual(2);
    // the LLM calls ran once each (no reply was used twice: the fake had exactly one per call)
    for (const s of steps.filter((x) => x.kind === "llm")) expect(s.attempt).toBe(1);
    expect(server.pending).toBe(0);
  }, 240_000);
});

describe("Responses usage", () => {
  it("reads cached input, cache writes and reasoning as parts of input and output", () => {
    expect(
      responsesUsage({
        input_tokens: 10_000,
        input_tokens_details: { cached_tokens: 6_000, cache_write_tokens: 3_000 },
        output_tokens: 500,
        output_tokens_details: { reasoning_tokens: 400 },
        total_tokens: 10_500,
      }),
    ).toEqual({ input_tokens: 10_000, output_tokens: 500, cache_read_tokens: 6_000, cache_write_tokens: 3_000, reasoning_tokens: 400 });
    expect(responsesUsage(null)).toEqual({ input_tokens: 0, output_tokens: 0 });
  });
});
