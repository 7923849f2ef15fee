// The OpenAI (Responses and Chat Completions) and Anthropic providers, driven through the real
// SDKs against a local fake server that speaks each wire format. Nothing here reaches the
// internet and no database is needed.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AgentConfigSchema, type AgentConfig } from "../../db/schemas.ts";
import { StepAbort } from "../abort.ts";
import { AnthropicProvider } from "../providers/anthropic.ts";
import { retryAfterMs } from "../../lib/retry-after.ts";
import * as AnthropicSdk from "@anthropic-ai/sdk";
import * as OpenAISdk from "openai";
import { providerError } from "../providers/errors.ts";
import { OpenAIProvider } from "../providers/openai.ts";
import { ProviderError, type ChatMessage, type LlmResult, type LlmStreamHandlers, type Provider, type ToolDefinition } from "../providers/types.ts";
import { FakeLlmServer, type FakeApi, type FakeReply } from "./fake-llm-server.ts";

const OPENAI_ERRORS = { label: "OpenAI", defaultUrl: "https://api.openai.com/v1", sdk: { ...OpenAISdk, base: OpenAISdk.OpenAIError } };
const ANTHROPIC_ERRORS = { label: "Anthropic", defaultUrl: "https://api.anthropic.com", sdk: { ...AnthropicSdk, base: AnthropicSdk.AnthropicError } };
const OPENAI_KEY_ENV = "EVERRUNS_TEST_OPENAI_KEY";
const ANTHROPIC_KEY_ENV = "EVERRUNS_TEST_ANTHROPIC_KEY";
const OPENAI_KEY = "sk-test-openai-123";
const ANTHROPIC_KEY = "sk-ant-test-456";

let server: FakeLlmServer;

beforeAll(async () => {
  server = await FakeLlmServer.start();
});
afterAll(async () => {
  await server.close();
});
afterEach(() => {
  server.reset();
  vi.unstubAllEnvs();
});

interface Flavour {
  api: FakeApi;
  provider: Provider;
  keyEnv: string;
  key: string;
  config(overrides?: Record<string, unknown>): AgentConfig;
  /** SSE frames sent before the first text delta of a text-only reply. */
  framesBeforeText: number;
}

const openai = new OpenAIProvider();
const anthropic = new AnthropicProvider();

const FLAVOURS: Record<FakeApi, Flavour> = {
  responses: {
    api: "responses",
    provider: openai,
    keyEnv: OPENAI_KEY_ENV,
    key: OPENAI_KEY,
    config: (overrides = {}) =>
      AgentConfigSchema.parse({
        provider: "openai",
        model: "gpt-test",
        api: "responses",
        base_url: server.openaiBaseURL,
        api_key_env: OPENAI_KEY_ENV,
        ...overrides,
      }),
    framesBeforeText: 4,
  },
  chat_completions: {
    api: "chat_completions",
    provider: openai,
    keyEnv: OPENAI_KEY_ENV,
    key: OPENAI_KEY,
    config: (overrides = {}) =>
      AgentConfigSchema.parse({
        provider: "openai",
        model: "gpt-test",
        api: "chat_completions",
        base_url: server.openaiBaseURL,
        api_key_env: OPENAI_KEY_ENV,
        ...overrides,
      }),
    framesBeforeText: 1,
  },
  anthropic: {
    api: "anthropic",
    provider: anthropic,
    keyEnv: ANTHROPIC_KEY_ENV,
    key: ANTHROPIC_KEY,
    config: (overrides = {}) =>
      AgentConfigSchema.parse({ provider: "anthropic", model: "claude-test", base_url: server.anthropicBaseURL, api_key_env: ANTHROPIC_KEY_ENV, ...overrides }),
    framesBeforeText: 3,
  },
};

type Recorded =
  | { kind: "text"; delta: string }
  | { kind: "reasoning"; delta: string }
  | { kind: "start"; id: string; name: string }
  | { kind: "args"; id: string; delta: string };

function recorder(onEvent?: (event: Recorded) => void) {
  const events: Recorded[] = [];
  const push = (event: Recorded) => {
    events.push(event);
    onEvent?.(event);
  };
  const handlers: LlmStreamHandlers = {
    onTextDelta: (delta) => push({ kind: "text", delta }),
    onReasoningDelta: (delta) => push({ kind: "reasoning", delta }),
    onToolCallStart: (id, name) => push({ kind: "start", id, name }),
    onToolCallArgs: (id, delta) => push({ kind: "args", id, delta }),
  };
  const of = <K extends Recorded["kind"]>(kind: K) => events.filter((e): e is Extract<Recorded, { kind: K }> => e.kind === kind);
  return { events, handlers, of };
}

interface CallOptions {
  config?: Record<string, unknown>;
  messages?: ChatMessage[];
  tools?: ToolDefinition[];
  signal?: AbortSignal;
  onEvent?: (event: Recorded) => void;
}

function call(flavour: Flavour, replies: FakeReply[], options: CallOptions = {}) {
  server.reply(...replies);
  const rec = recorder(options.onEvent);
  const promise = flavour.provider.complete(
    {
      config: flavour.config(options.config),
      messages: options.messages ?? [{ role: "user", content: "Hi" }],
      tools: options.tools ?? [],
      callIndex: 0,
      attempt: 1,
      signal: options.signal ?? new AbortController().signal,
    },
    rec.handlers,
  );
  return { promise, rec };
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, "the call should have failed").toBeInstanceOf(ProviderError);
  return caught as ProviderError;
}

const WEATHER: ToolDefinition = {
  name: "get_weather",
  description: "Current weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

beforeAll(() => {
  process.env[OPENAI_KEY_ENV] = OPENAI_KEY;
  process.env[ANTHROPIC_KEY_ENV] = ANTHROPIC_KEY;
});
afterAll(() => {
  delete process.env[OPENAI_KEY_ENV];
  delete process.env[ANTHROPIC_KEY_ENV];
});

describe.each(Object.values(FLAVOURS).map((f) => [f.api, f] as const))("%s", (_name, flavour) => {
  it("streams text in several deltas and reports text, usage and the API's model", async () => {
    const text = "Hello there! The sky is blue because of Rayleigh scattering.";
    const { promise, rec } = call(flavour, [{ text, pieces: 5, usage: { input_tokens: 42, output_tokens: 17 }, model: "reported-model-2026" }]);
    const result = await promise;

    const deltas = rec.of("text").map((e) => e.delta);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join("")).toBe(text);
    expect(result).toEqual<LlmResult>({
      text,
      tool_calls: [],
      usage: { input_tokens: 42, output_tokens: 17 },
      model: "reported-model-2026",
    });
    expect(rec.of("start")).toHaveLength(0);
    expect(rec.of("reasoning")).toHaveLength(0);

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.api).toBe(flavour.api);
    expect(request.apiKey).toBe(flavour.key);
    expect(request.body.model).toBe(flavour.api === "anthropic" ? "claude-test" : "gpt-test");
    expect(request.body.stream).toBe(true);
    if (flavour.api === "anthropic") expect(request.headers["anthropic-version"]).toBeTruthy();
    else expect(request.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
  });

  it("streams two tool calls of one turn and returns them with parsed arguments", async () => {
    const { promise, rec } = call(
      flavour,
      [
        {
          text: flavour.api === "anthropic" ? "Checking both." : undefined,
          toolCalls: [
            { id: "call_paris", name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
            { id: "call_rome", name: "get_weather", arguments: { city: "Rome" } },
          ],
          pieces: 4,
        },
      ],
      { tools: [WEATHER] },
    );
    const result = await promise;

    expect(result.tool_calls).toEqual([
      { id: "call_paris", name: "get_weather", arguments: { city: "Paris", unit: "celsius" } },
      { id: "call_rome", name: "get_weather", arguments: { city: "Rome" } },
    ]);
    // each call is started once, before its argument deltas, which rebuild its JSON
    const toolEvents = rec.events.filter((e) => e.kind === "start" || e.kind === "args");
    expect(rec.of("start")).toEqual([
      { kind: "start", id: "call_paris", name: "get_weather" },
      { kind: "start", id: "call_rome", name: "get_weather" },
    ]);
    for (const id of ["call_paris", "call_rome"]) {
      const startAt = toolEvents.findIndex((e) => e.kind === "start" && e.id === id);
      const argEvents = toolEvents.filter((e): e is Extract<Recorded, { kind: "args" }> => e.kind === "args" && e.id === id);
      expect(argEvents.length).toBeGreaterThanOrEqual(2);
      expect(toolEvents.indexOf(argEvents[0]!)).toBeGreaterThan(startAt);
      const json: unknown = JSON.parse(argEvents.map((e) => e.delta).join(""));
      expect(json).toEqual(result.tool_calls.find((c) => c.id === id)!.arguments);
    }
    // the second call starts after the first one's arguments are complete
    const secondStart = toolEvents.findIndex((e) => e.kind === "start" && e.id === "call_rome");
    expect(toolEvents.slice(secondStart).some((e) => e.kind === "args" && e.id === "call_paris")).toBe(false);
  });

  it("keeps arguments that are not a JSON object under _raw", async () => {
    const { promise } = call(flavour, [{ toolCalls: [{ id: "call_bad", name: "get_weather", arguments: '{"city": "Par' }] }], {
      tools: [WEATHER],
    });
    const result = await promise;
    expect(result.tool_calls).toEqual([{ id: "call_bad", name: "get_weather", arguments: { _raw: '{"city": "Par' } }]);
  });

  it("sends reasoning deltas to onReasoningDelta", async () => {
    const reasoning = "The user greets me; a short friendly answer fits best.";
    const config = flavour.api === "anthropic" ? { thinking_budget_tokens: 2048 } : { reasoning_effort: "low" as const };
    const { promise, rec } = call(flavour, [{ reasoning, text: "Hi!", pieces: 4 }], { config });
    const result = await promise;

    const deltas = rec.of("reasoning").map((e) => e.delta);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join("")).toBe(reasoning);
    expect(result.reasoning).toBe(reasoning);
    expect(result.text).toBe("Hi!");
    // reasoning comes before the answer
    const firstText = rec.events.findIndex((e) => e.kind === "text");
    const lastReasoning = rec.events.map((e) => e.kind).lastIndexOf("reasoning");
    expect(lastReasoning).toBeLessThan(firstText);

    const body = server.lastRequest!.body;
    if (flavour.api === "responses") expect(body.reasoning).toEqual({ effort: "low", summary: "auto" });
    if (flavour.api === "chat_completions") expect(body.reasoning_effort).toBe("low");
    if (flavour.api === "anthropic") {
      expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 2048 });
      expect(body.max_tokens).toBeGreaterThan(2048);
    }
  });

  it("429 with Retry-After is retryable with retryAfterMs", async () => {
    const { promise } = call(flavour, [{ error: { status: 429, retryAfter: "7", message: "Rate limit reached for requests" } }]);
    const error = await failure(promise);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(429);
    expect(error.retryAfterMs).toBe(7000);
    expect(error.code).toBe("rate_limit");
    expect(error.message).toContain("Rate limit reached");
    expect(server.requests).toHaveLength(1); // the SDK did not retry by itself
  });

  it("429 with an HTTP-date Retry-After or retry-after-ms", async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const first = await failure(call(flavour, [{ error: { status: 429, retryAfter: at } }]).promise);
    expect(first.retryAfterMs).toBeGreaterThan(27_000);
    expect(first.retryAfterMs).toBeLessThanOrEqual(30_000);
    const second = await failure(call(flavour, [{ error: { status: 429, retryAfterMs: "1500", retryAfter: "9" } }]).promise);
    expect(second.retryAfterMs).toBe(1500);
  });

  it("500 is retryable", async () => {
    const { promise } = call(flavour, [{ error: { status: 500, message: "The server had an error" } }]);
    const error = await failure(promise);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(500);
    expect(error.code).toBe("server_error");
    expect(server.requests).toHaveLength(1);
  });

  it("401 is not retryable and says which variable to check", async () => {
    server.expectedApiKey = "the-right-key";
    const { promise } = call(flavour, []);
    const error = await failure(promise);
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(401);
    expect(error.code).toBe("invalid_api_key");
    expect(error.message).toContain(flavour.keyEnv);
    expect(error.message).toMatch(/check/i);
  });

  it("400 is not retryable and points at the agent config", async () => {
    const { promise } = call(flavour, [{ error: { status: 400, message: "Unsupported parameter: 'temperature'" } }]);
    const error = await failure(promise);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("Unsupported parameter");
    expect(error.message).toContain("agent config");
  });

  it("a stream cut mid-response is a retryable ProviderError", async () => {
    const { promise, rec } = call(flavour, [{ text: "abcdefghijklmnopqrstuvwx", pieces: 6, dieAfterChunks: flavour.framesBeforeText + 2 }]);
    const error = await failure(promise);
    expect(error.retryable).toBe(true);
    expect(error.code).toBe("stream_interrupted");
    expect(rec.of("text").map((e) => e.delta)).toEqual(["abcd", "efgh"]);
  });

  it("a stream that ends cleanly before its final event is a retryable ProviderError", async () => {
    const { promise, rec } = call(flavour, [{ text: "abcdefghijklmnopqrstuvwx", pieces: 6, endAfterChunks: flavour.framesBeforeText + 3 }]);
    const error = await failure(promise);
    expect(error.retryable).toBe(true);
    expect(error.code).toBe("stream_interrupted");
    expect(rec.of("text")).toHaveLength(3);
  });

  it("an error event mid-stream: retryable when the server is at fault, not when the request is", async () => {
    const overloaded = flavour.api === "anthropic" ? "overloaded_error" : "server_error";
    const first = call(flavour, [{ text: "abcdefghijkl", pieces: 4, streamError: { afterChunks: flavour.framesBeforeText + 1, type: overloaded } }]);
    const error = await failure(first.promise);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(overloaded);
    expect(first.rec.of("text")).toHaveLength(1);

    const second = call(flavour, [{ text: "abcdefghijkl", streamError: { afterChunks: flavour.framesBeforeText, type: "invalid_request_error" } }]);
    expect((await failure(second.promise)).retryable).toBe(false);
  });

  it("an abort mid-stream rejects with the signal's reason, promptly", async () => {
    const controller = new AbortController();
    const reason = new StepAbort("cancelled", "the run was cancelled");
    let abortedAt = 0;
    const { promise, rec } = call(flavour, [{ text: "x".repeat(100), pieces: 50, delayMs: 100 }], {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.kind === "text" && !abortedAt) {
          setTimeout(() => {
            abortedAt = Date.now();
            controller.abort(reason);
          }, 150);
          abortedAt = -1;
        }
      },
    });
    let caught: unknown;
    try {
      await promise;
    } catch (error) {
      caught = error;
    }
    expect(caught).toBe(reason);
    expect(abortedAt).toBeGreaterThan(0);
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    const deltas = rec.of("text").length;
    expect(deltas).toBeGreaterThan(0);
    expect(deltas).toBeLessThan(50);
    // and the HTTP request was closed, not left streaming
    await vi.waitFor(() => expect(server.clientAborts).toBe(1), { timeout: 1000, interval: 20 });
  });

  it("an abort before the response arrives rejects with the signal's reason", async () => {
    const controller = new AbortController();
    const reason = new StepAbort("timeout", "the LLM call timed out after 100 ms");
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    const { promise } = call(flavour, [{ text: "late", headersDelayMs: 3000 }], { signal: controller.signal });
    await expect(promise).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("a missing API key is a non-retryable missing_api_key error naming the variable", async () => {
    const { promise } = call(flavour, [], { config: { api_key_env: "EVERRUNS_TEST_UNSET_KEY" } });
    const error = await failure(promise);
    expect(error.retryable).toBe(false);
    expect(error.code).toBe("missing_api_key");
    expect(error.message).toContain("EVERRUNS_TEST_UNSET_KEY");
    expect(server.requests).toHaveLength(0);
  });
});

describe("the default key variables", () => {
  it.each([
    ["openai", "OPENAI_API_KEY"],
    ["anthropic", "ANTHROPIC_API_KEY"],
  ] as const)("%s without api_key_env reads %s", async (provider, env) => {
    vi.stubEnv(env, "");
    const flavour = provider === "openai" ? FLAVOURS.responses : FLAVOURS.anthropic;
    const error = await failure(call(flavour, [], { config: { api_key_env: undefined } }).promise);
    expect(error.code).toBe("missing_api_key");
    expect(error.message).toContain(`set the ${env} environment variable`);
  });
});

describe("base URLs from the environment", () => {
  it("OPENAI_BASE_URL is used when the agent sets no base_url", async () => {
    vi.stubEnv("OPENAI_BASE_URL", server.openaiBaseURL);
    const result = await call(FLAVOURS.chat_completions, [{ text: "from env" }], { config: { base_url: undefined } }).promise;
    expect(result.text).toBe("from env");
    expect(server.requests[0]!.path).toBe("/v1/chat/completions");
  });

  it("ANTHROPIC_BASE_URL given with /v1 still works (the SDK adds /v1 itself)", async () => {
    vi.stubEnv("ANTHROPIC_BASE_URL", `${server.anthropicBaseURL}/v1/`);
    const result = await call(FLAVOURS.anthropic, [{ text: "from env" }], { config: { base_url: undefined } }).promise;
    expect(result.text).toBe("from env");
    expect(server.requests[0]!.path).toBe("/v1/messages");
  });
});

// A conversation with a system prompt, a system message, a turn with two tool calls, their
// results and a follow-up question.
const CONVERSATION: ChatMessage[] = [
  { role: "system", content: "Answer in English." },
  { role: "user", content: "Weather in Paris and Rome?" },
  {
    role: "assistant",
    content: "Let me check.",
    tool_calls: [
      { id: "call_1", name: "get_weather", arguments: { city: "Paris" } },
      { id: "call_2", name: "get_weather", arguments: { city: "Rome" } },
    ],
  },
  { role: "tool", tool_call_id: "call_1", content: "18°C, cloudy" },
  { role: "tool", tool_call_id: "call_2", content: "24°C, sunny" },
  { role: "user", content: "Which is warmer?" },
];
const SYSTEM_PROMPT = "You are a terse weather assistant.";

describe("conversation formats", () => {
  it("responses: instructions, message items, function_call and function_call_output items, function tools", async () => {
    await call(FLAVOURS.responses, [{ text: "Rome." }], {
      config: { system_prompt: SYSTEM_PROMPT, temperature: 0.2, max_tokens: 500 },
      messages: CONVERSATION,
      tools: [WEATHER],
    }).promise;
    const body = server.lastRequest!.body;
    expect(server.lastRequest!.path).toBe("/v1/responses");
    expect(body.instructions).toBe(SYSTEM_PROMPT);
    expect(body.input).toEqual([
      { type: "message", role: "system", content: "Answer in English." },
      { type: "message", role: "user", content: "Weather in Paris and Rome?" },
      { type: "message", role: "assistant", content: "Let me check." },
      { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
      { type: "function_call", call_id: "call_2", name: "get_weather", arguments: '{"city":"Rome"}' },
      { type: "function_call_output", call_id: "call_1", output: "18°C, cloudy" },
      { type: "function_call_output", call_id: "call_2", output: "24°C, sunny" },
      { type: "message", role: "user", content: "Which is warmer?" },
    ]);
    expect(body.tools).toEqual([{ type: "function", name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters, strict: false }]);
    expect(body.temperature).toBe(0.2);
    expect(body.max_output_tokens).toBe(500);
    expect(body.stream).toBe(true);
  });

  it("chat_completions: system messages, assistant tool_calls, role tool, function tools, include_usage", async () => {
    await call(FLAVOURS.chat_completions, [{ text: "Rome." }], {
      config: { system_prompt: SYSTEM_PROMPT, temperature: 0.2, max_tokens: 500 },
      messages: CONVERSATION,
      tools: [WEATHER],
    }).promise;
    const body = server.lastRequest!.body;
    expect(server.lastRequest!.path).toBe("/v1/chat/completions");
    expect(body.messages).toEqual([
      { role: "system", content: SYSTEM_PROMPT },
      { role: "system", content: "Answer in English." },
      { role: "user", content: "Weather in Paris and Rome?" },
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
          { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "18°C, cloudy" },
      { role: "tool", tool_call_id: "call_2", content: "24°C, sunny" },
      { role: "user", content: "Which is warmer?" },
    ]);
    expect(body.tools).toEqual([{ type: "function", function: { name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters } }]);
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.temperature).toBe(0.2);
    // a server that is not api.openai.com gets the classic max_tokens
    expect(body.max_tokens).toBe(500);
  });

  it("anthropic: system, tool_use blocks, tool results merged into one user turn, input_schema tools", async () => {
    await call(FLAVOURS.anthropic, [{ text: "Rome." }], {
      config: { system_prompt: SYSTEM_PROMPT, max_tokens: 500 },
      messages: CONVERSATION,
      tools: [WEATHER],
    }).promise;
    const body = server.lastRequest!.body;
    expect(server.lastRequest!.path).toBe("/v1/messages");
    // prompt caching (cache absent = auto): the system as a marked text block, the last block of
    // the last turn and of the previous user turn marked
    const ephemeral = { type: "ephemeral" };
    expect(body.system).toEqual([{ type: "text", text: `${SYSTEM_PROMPT}\n\nAnswer in English.`, cache_control: ephemeral }]);
    expect(body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Weather in Paris and Rome?", cache_control: ephemeral }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } },
          { type: "tool_use", id: "call_2", name: "get_weather", input: { city: "Rome" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "18°C, cloudy" },
          { type: "tool_result", tool_use_id: "call_2", content: "24°C, sunny" },
          { type: "text", text: "Which is warmer?", cache_control: ephemeral },
        ],
      },
    ]);
    expect(body.tools).toEqual([{ name: "get_weather", description: WEATHER.description, input_schema: WEATHER.parameters }]);
    expect(body.max_tokens).toBe(500);
    expect(body.stream).toBe(true);
  });

  it("arguments kept under _raw go back to OpenAI as the raw string", async () => {
    await call(FLAVOURS.chat_completions, [{ text: "ok" }], {
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: "", tool_calls: [{ id: "call_x", name: "get_weather", arguments: { _raw: '{"city": "Par' } }] },
        { role: "tool", tool_call_id: "call_x", content: "error: bad arguments" },
      ],
      tools: [WEATHER],
    }).promise;
    const messages = server.lastRequest!.body.messages;
    if (!Array.isArray(messages)) throw new Error("the request has no messages array");
    const assistant: unknown = messages[1];
    expect(assistant).toEqual({
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_x", type: "function", function: { name: "get_weather", arguments: '{"city": "Par' } }],
    });
  });
});

describe("error mapping", () => {
  it("OpenAI 429 insufficient_quota is not retryable", async () => {
    const error = await failure(
      call(FLAVOURS.responses, [{ error: { status: 429, code: "insufficient_quota", type: "insufficient_quota", message: "You exceeded your current quota" } }])
        .promise,
    );
    expect(error.retryable).toBe(false);
    expect(error.code).toBe("quota_exceeded");
  });

  it("Anthropic 529 overloaded is retryable", async () => {
    const error = await failure(call(FLAVOURS.anthropic, [{ error: { status: 529, message: "Overloaded" } }]).promise);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(529);
  });

  it("a server that cannot be reached is a retryable network error", async () => {
    const closed = await FakeLlmServer.start();
    const url = closed.openaiBaseURL;
    await closed.close();
    const error = await failure(call(FLAVOURS.responses, [], { config: { base_url: url } }).promise);
    server.reset(); // the queued nothing
    expect(error.retryable).toBe(true);
    expect(error.code).toBe("network_error");
    expect(error.message).toContain(url);
  });

  it("retryAfterMs reads retry-after-ms, seconds and HTTP dates", () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0);
    expect(retryAfterMs(new Headers({ "retry-after": "3" }), now)).toBe(3000);
    expect(retryAfterMs(new Headers({ "retry-after": "0.5" }), now)).toBe(500);
    expect(retryAfterMs(new Headers({ "retry-after": new Date(now + 5000).toUTCString() }), now)).toBe(5000);
    expect(retryAfterMs(new Headers({ "retry-after": new Date(now - 5000).toUTCString() }), now)).toBe(0);
    expect(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "3" }), now)).toBe(250);
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }), now)).toBeUndefined();
    expect(retryAfterMs(new Headers(), now)).toBeUndefined();
  });

  it("an aborted signal's reason wins over whatever the SDK threw", () => {
    const controller = new AbortController();
    const reason = new StepAbort("shutdown", "the worker is shutting down");
    controller.abort(reason);
    expect(providerError(new Error("Request was aborted."), { ...OPENAI_ERRORS, apiKeyEnv: "X", signal: controller.signal })).toBe(reason);
  });

  it("a bug of ours is not disguised as a provider error", () => {
    const bug = new RangeError("oops");
    expect(providerError(bug, { ...ANTHROPIC_ERRORS, apiKeyEnv: "X" })).toBe(bug);
  });
});
