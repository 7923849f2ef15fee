// Anthropic fidelity against the fake's enforced rules: extended thinking carried across tool
// loops (signed thinking and redacted_thinking blocks replayed exactly, also on an LLM call's
// retry and after kill -9; only to the model that made them; a loop begun without thinking goes on
// without it), nothing recorded that the API refuses back (whitespace-only text, unsigned
// thinking), prompt caching breakpoints and the cache tokens the API reports. The real @anthropic-ai/sdk
// through AnthropicProvider, real Postgres and real worker processes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { AgentConfigSchema, type AgentConfig } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmOutput, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import {
  ANTHROPIC_MAX_CACHE_BREAKPOINTS,
  ANTHROPIC_OUTPUT_TOOL,
  AnthropicProvider,
  anthropicMessages,
  anthropicSameModel,
  type AnthropicReplayBlock,
} from "../providers/anthropic.ts";
import { ProviderError, type ChatMessage, type LlmResult, type LlmStreamHandlers, type ToolDefinition } from "../providers/types.ts";
import { FakeLlmServer, type StreamReply } from "./fake-llm-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const KEY_ENV = "EVERRUNS_TEST_ANTHROPIC_KEY";
const TURNS = 20;
const ECHO: ToolDefinition = { name: "echo", description: "Returns its arguments unchanged.", parameters: { type: "object", additionalProperties: true } };
// long enough (about 1,500 tokens by the fake's count) for the system prompt to be cacheable on its own
const SYSTEM_PROMPT = `You count with the echo tool, one number per turn.\n${"Be precise and brief. ".repeat(280)}`;
const fast = { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

let server: FakeLlmServer;
const provider = new AnthropicProvider();

beforeAll(async () => {
  server = await FakeLlmServer.start();
  process.env[KEY_ENV] = "test-key";
});

afterAll(async () => {
  await server?.close();
});

const handlers: LlmStreamHandlers = { onTextDelta: () => {}, onReasoningDelta: () => {}, onToolCallStart: () => {}, onToolCallArgs: () => {} };

function config(overrides: Record<string, unknown> = {}): AgentConfig {
  return AgentConfigSchema.parse({
    provider: "anthropic",
    model: "claude-test",
    base_url: server.anthropicBaseURL,
    api_key_env: KEY_ENV,
    system_prompt: SYSTEM_PROMPT,
    thinking_budget_tokens: 1024,
    ...overrides,
  });
}

function complete(messages: ChatMessage[], overrides: Record<string, unknown> = {}, outputSchema?: Record<string, unknown>): Promise<LlmResult> {
  return provider.complete(
    {
      config: config(overrides),
      messages,
      tools: [ECHO],
      callIndex: 0,
      attempt: 1,
      signal: new AbortController().signal,
      ...(outputSchema && { outputSchema }),
    },
    handlers,
  );
}

/** The turn as the engine commits it and conversation.ts gives it back: through JSON (jsonb). */
function committed(result: LlmResult): ChatMessage {
  const stored = JSON.parse(JSON.stringify({ text: result.text, tool_calls: result.tool_calls, replay: result.replay })) as {
    text: string;
    tool_calls: LlmResult["tool_calls"];
    replay?: LlmResult["replay"];
  };
  return { role: "assistant", content: stored.text, tool_calls: stored.tool_calls, ...(stored.replay && { replay: stored.replay }) };
}

/** The reply of turn `n` of the loop: thinking, then an echo call (with some bulk, so the conversation grows). */
function turnReply(n: number): StreamReply {
  return {
    reasoning: `Turn ${n}: the user wants the next number, ${n}; I will echo it. ${"Reasoning about it. ".repeat(20)}`,
    toolCalls: [{ name: "echo", arguments: { n, note: "counting ".repeat(40) } }],
  };
}

/** Runs `turns` turns of a tool loop (each request carries the previous turns as committed), then a final answer. */
async function toolLoop(turns: number, overrides: Record<string, unknown> = {}): Promise<{ messages: ChatMessage[]; results: LlmResult[] }> {
  const messages: ChatMessage[] = [{ role: "user", content: `Count from 1 to ${turns} with the echo tool.` }];
  const results: LlmResult[] = [];
  for (let n = 1; n <= turns + 1; n++) {
    server.reply(n <= turns ? turnReply(n) : { reasoning: "All numbers echoed.", text: `Counted to ${turns}.` });
    const result = await complete(messages, overrides);
    results.push(result);
    messages.push(committed(result));
    for (const call of result.tool_calls) messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(call.arguments) });
  }
  return { messages, results };
}

type SentBlock = Record<string, unknown>;
interface SentMessage {
  role: string;
  content: string | SentBlock[];
}
const sentMessages = (i: number) => server.requests[i]!.body.messages as SentMessage[];
const blocks = (m: SentMessage): SentBlock[] => (typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content);

/** cache_control blocks of a recorded request (tools, system, messages). */
function breakpoints(body: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [i, t] of ((body.tools as SentBlock[] | undefined) ?? []).entries()) if (t.cache_control) out.push(`tools.${i}`);
  if (Array.isArray(body.system)) for (const [i, b] of (body.system as SentBlock[]).entries()) if (b.cache_control) out.push(`system.${i}`);
  for (const [n, m] of (body.messages as SentMessage[]).entries()) {
    for (const [i, b] of blocks(m).entries()) if (b.cache_control) out.push(`messages.${n}.content.${i}`);
  }
  return out;
}

async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe("provider: extended thinking across a tool loop", () => {
  it(`a ${TURNS}-turn tool loop with thinking: every turn's signed thinking is replayed and the fake accepts every request`, async () => {
    server.reset();
    const { results } = await toolLoop(TURNS);
    expect(server.requests).toHaveLength(TURNS + 1);
    expect(server.pending).toBe(0);
    expect(results.at(-1)!.text).toBe(`Counted to ${TURNS}.`);

    for (const [i, result] of results.entries()) {
      // the replay: the turn's blocks as streamed, tool_use ids those of the committed calls
      expect(result.replay?.provider).toBe("anthropic");
      expect(result.replay?.model).toBe("claude-test");
      const content = (result.replay?.data as { content: AnthropicReplayBlock[] }).content;
      expect(content[0]).toEqual({ type: "thinking", thinking: result.reasoning, signature: server.anthropic.sign(result.reasoning!) });
      if (i < TURNS) {
        expect(content.slice(1)).toEqual([{ type: "tool_use", id: result.tool_calls[0]!.id, name: "echo", input: result.tool_calls[0]!.arguments }]);
      } else {
        expect(content.slice(1)).toEqual([{ type: "text", text: `Counted to ${TURNS}.` }]);
      }
    }
    // the last request carries all 20 assistant turns, each starting with its own thinking
    const last = sentMessages(TURNS);
    const assistants = last.filter((m) => m.role === "assistant");
    expect(assistants).toHaveLength(TURNS);
    for (const [i, m] of assistants.entries()) {
      const [thinking, toolUse] = blocks(m);
      expect(thinking).toEqual({ type: "thinking", thinking: results[i]!.reasoning, signature: server.anthropic.sign(results[i]!.reasoning!) });
      expect(toolUse).toMatchObject({ type: "tool_use", id: results[i]!.tool_calls[0]!.id });
    }
  });

  it("a removed, altered, swapped or moved thinking block, anywhere in the request: the fake refuses it (400, not retryable through the provider)", async () => {
    server.reset();
    const { messages } = await toolLoop(2);
    // the conversation up to the second turn's tool result (the request that answers turn 2)
    const upToTurn2 = messages.slice(0, 5);
    const turn2 = upToTurn2[3] as ChatMessage & { role: "assistant" };
    const content = (turn2.replay!.data as { content: AnthropicReplayBlock[] }).content;
    const withContent = (c: AnthropicReplayBlock[]): ChatMessage[] => [
      ...upToTurn2.slice(0, 3),
      { ...turn2, replay: { ...turn2.replay!, data: { content: c } } },
      upToTurn2[4]!,
    ];
    const before = server.requests.length;

    const altered = content.map((b) => (b.type === "thinking" ? { ...b, signature: `${b.signature.slice(0, -4)}AAA=` } : b));
    const badSignature = await refusal(complete(withContent(altered)));
    expect(badSignature.retryable).toBe(false);
    expect(badSignature.status).toBe(400);
    expect(badSignature.message).toContain("messages.3.content.0: Invalid `signature` in `thinking` block");

    // a signed block of another turn in its place: signature valid, but not this turn's thinking
    const turn1 = upToTurn2[1] as ChatMessage & { role: "assistant" };
    const otherThinking = (turn1.replay!.data as { content: AnthropicReplayBlock[] }).content[0]!;
    const swapped = await refusal(complete(withContent([otherThinking, ...content.slice(1)])));
    expect(swapped.retryable).toBe(false);
    expect(swapped.message).toContain("thinking blocks must be passed back unmodified");
    // every refusal came before a reply was used; the intact conversation still goes through
    expect(server.requests.length - before).toBe(2);
    server.reply({ text: "ok" });
    await expect(complete(upToTurn2)).resolves.toMatchObject({ text: "ok" });

    // the fake's rules on the request the provider sent (the provider itself never sends these)
    const body = server.requests.at(-1)!.body;
    const key = server.requests.at(-1)!.apiKey;
    expect(server.anthropic.check(body, key)).toBeUndefined();
    const edited = (edit: (messages: SentMessage[]) => void) => {
      const copy = structuredClone(body) as { messages: SentMessage[] };
      edit(copy.messages);
      return server.anthropic.check(copy, key)?.error.message;
    };
    const assistant = (m: SentMessage) => m.content as SentBlock[];
    // the answered turn without its thinking, thinking enabled
    expect(edited((m) => assistant(m[3]!).shift())).toContain("Expected `thinking` or `redacted_thinking`, but found `tool_use`");
    // its thinking moved after the tool_use: the same blocks, not in their place
    expect(
      edited((m) => {
        const [thinking, ...rest] = assistant(m[3]!);
        m[3]!.content = [...rest, thinking!];
      }),
    ).toMatch(/Expected `thinking`|passed back unmodified/);
    expect(
      edited((m) => {
        const turn = assistant(m[3]!);
        m[3]!.content = [turn[0]!, { type: "text", text: "Echoing." }, { ...turn[0]! }, ...turn.slice(1)];
      }),
    ).toContain("thinking blocks must be passed back unmodified");
    // an earlier turn's thinking (not the one the request answers) is checked too: altered, or unsigned
    expect(edited((m) => (assistant(m[1]!)[0]!.thinking = "something else"))).toContain("messages.1.content.0: Invalid `signature` in `thinking` block");
    expect(edited((m) => (assistant(m[1]!)[0]!.signature = ""))).toContain("messages.1.content.0: Invalid `signature` in `thinking` block");
  });

  it("the fake's content rules: whitespace-only text, a tool_use without its tool_result (the output tool's too), a stray tool_result", async () => {
    server.reset();
    const check = (messages: unknown[]) => server.anthropic.check({ model: "claude-test", messages }, "test-key")?.error.message;
    const toolUse = { type: "tool_use", id: "toolu_x", name: "echo", input: {} };
    const toolResult = { type: "tool_result", tool_use_id: "toolu_x", content: "{}" };
    expect(check([{ role: "user", content: " \n " }])).toContain("messages.0.content.0: text content blocks must contain non-whitespace text");
    expect(
      check([
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "text", text: "  " }, toolUse] },
        { role: "user", content: [toolResult] },
      ]),
    ).toContain("messages.1.content.0: text content blocks must contain non-whitespace text");
    expect(
      check([
        { role: "user", content: "go" },
        { role: "assistant", content: [toolUse] },
        { role: "user", content: "and?" },
      ]),
    ).toContain("messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_x");
    expect(check([{ role: "user", content: [toolResult, { type: "text", text: "go" }] }])).toContain(
      "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x",
    );
    expect(
      check([
        { role: "user", content: "go" },
        { role: "assistant", content: [toolUse] },
        { role: "user", content: [toolResult] },
      ]),
    ).toBeUndefined();

    // the output tool's call, replayed with its thinking, must be answered too ("Answer received.")
    const schema = { type: "object", properties: { n: { type: "number" } }, required: ["n"] };
    server.reply({ reasoning: "Answer through the tool.", toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { n: "one" } }] });
    const result = await complete([{ role: "user", content: "a number" }], {}, schema);
    server.reply({ reasoning: "Fix it.", text: '{"n":1}' });
    await complete(
      [{ role: "user", content: "a number" }, committed(result), { role: "user", content: "n must be a number", output_correction: { run_id: "r" } }],
      {},
      schema,
    );
    const sent = structuredClone(server.requests.at(-1)!.body) as { messages: SentMessage[] };
    expect(server.anthropic.check(sent, "test-key")).toBeUndefined();
    (sent.messages[2]!.content as SentBlock[]).shift(); // the "Answer received." tool_result
    expect(server.anthropic.check(sent, "test-key")?.error.message).toContain("`tool_use` ids were found without `tool_result` blocks immediately after");
  });

  it("a tool loop begun without thinking goes on without it: thinking_budget_tokens set across an interrupt, back on after the next user message", async () => {
    server.reset();
    const schema = { type: "object", properties: { n: { type: "number" } }, required: ["n"] };
    // run 1, without thinking, ends on a tool call (a client tool, an approval)
    server.reply({ toolCalls: [{ name: "echo", arguments: { n: 1 } }] });
    const first = await complete([{ role: "user", content: "Count." }], { thinking_budget_tokens: undefined }, schema);
    expect(first.replay).toBeUndefined();
    const messages: ChatMessage[] = [
      { role: "user", content: "Count." },
      committed(first),
      { role: "tool", tool_call_id: first.tool_calls[0]!.id, content: '{"n":1}' },
    ];
    // run 2, with thinking: the pending loop's turn has none, so the request has none either
    server.reply({ toolCalls: [{ name: "echo", arguments: { n: 2 } }] });
    const second = await complete(messages, {}, schema);
    let body = server.requests.at(-1)!.body;
    expect(body.thinking).toBeUndefined();
    expect(body.tool_choice).toEqual({ type: "any" }); // not the `auto` that thinking would need
    expect(body.max_tokens).toBe(8192); // no room made for a thinking budget
    messages.push(committed(second), { role: "tool", tool_call_id: second.tool_calls[0]!.id, content: '{"n":2}' });
    // still the same loop (its last turn was made without thinking)
    server.reply({ toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { n: 2 } }] });
    const third = await complete(messages, {}, schema);
    expect(third.text).toBe('{"n":2}');
    expect(server.requests.at(-1)!.body.thinking).toBeUndefined();
    // a new user message ends the loop: thinking is back
    messages.push(committed(third), { role: "user", content: "Again." });
    server.reply({ reasoning: "Again, then.", toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { n: 3 } }] });
    await complete(messages, {}, schema);
    body = server.requests.at(-1)!.body;
    expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });
    expect(body.tool_choice).toEqual({ type: "auto" });
    // every request passed the fake's rules (a refused one would have thrown)
    expect(server.pending).toBe(0);
  });

  it("a replay of another model, or of another provider, is rebuilt without its thinking and the loop goes on without thinking; a dated name of the same model replays", async () => {
    server.reset();
    // the API reports the dated model the config's alias resolved to: the same model
    server.reply({ ...turnReply(1), model: "claude-test-20250101" });
    const first = await complete([{ role: "user", content: "Count." }]);
    expect(first.replay?.model).toBe("claude-test-20250101");
    const messages: ChatMessage[] = [
      { role: "user", content: "Count." },
      committed(first),
      { role: "tool", tool_call_id: first.tool_calls[0]!.id, content: "1" },
    ];
    server.reply({ text: "ok" });
    await complete(messages);
    const replayed = server.requests.at(-1)!.body;
    expect(blocks((replayed.messages as SentMessage[])[1]!)[0]).toMatchObject({ type: "thinking", signature: server.anthropic.sign(first.reasoning!) });
    expect(replayed.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });

    const turn = messages[1] as ChatMessage & { role: "assistant" };
    for (const replay of [
      { ...turn.replay!, model: "claude-other-20250101" },
      { ...turn.replay!, model: "claude-test-2" },
      { ...turn.replay!, provider: "openai" },
    ]) {
      server.reply({ text: "ok" });
      await complete([messages[0]!, { ...turn, replay }, messages[2]!]);
      const body = server.requests.at(-1)!.body;
      expect(body.thinking, JSON.stringify(replay)).toBeUndefined();
      expect(blocks((body.messages as SentMessage[])[1]!)).toEqual([
        { type: "tool_use", id: turn.tool_calls[0]!.id, name: "echo", input: turn.tool_calls[0]!.arguments },
      ]);
    }
    expect(server.pending).toBe(0);

    expect(anthropicSameModel("claude-sonnet-4-5-20250929", "claude-sonnet-4-5")).toBe(true);
    expect(anthropicSameModel("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-latest")).toBe(true);
    expect(anthropicSameModel("claude-sonnet-4-5", "claude-sonnet-4-5-20250929")).toBe(true);
    expect(anthropicSameModel("claude-sonnet-4-5-20250929", "claude-sonnet-4")).toBe(false);
    expect(anthropicSameModel("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20251001")).toBe(false);
    expect(anthropicSameModel("claude-opus-4-1", "claude-sonnet-4-5")).toBe(false);
  });

  it("whitespace-only text and unsigned thinking are never recorded; a replay holding them is rebuilt; whitespace-only messages are left out", async () => {
    server.reset();
    server.reply({ reasoning: "Just echo.", text: " \n ", toolCalls: [{ name: "echo", arguments: { n: 1 } }] });
    const spaced = await complete([{ role: "user", content: "go" }]);
    expect((spaced.replay!.data as { content: AnthropicReplayBlock[] }).content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    server.reply({ text: "ok" });
    await complete([{ role: "user", content: "go" }, committed(spaced), { role: "tool", tool_call_id: spaced.tool_calls[0]!.id, content: "1" }]);

    // cut off by max_tokens while thinking (the thinking block never got its signature): no usable
    // answer, so nothing is committed; a clear error, not retried, says to raise max_tokens
    server.anthropic.cutOffThinking = true;
    server.reply({ reasoning: "Let me think about this at len" });
    const cut = await complete([{ role: "user", content: "think" }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    server.anthropic.cutOffThinking = false;
    expect(cut).toBeInstanceOf(ProviderError);
    expect((cut as ProviderError).retryable).toBe(false);
    expect((cut as ProviderError).message).toMatch(/stopped at max_tokens \(8192\) before a usable answer.*raise the agent's max_tokens/);

    // replays recorded before this fix: rebuilt from the turn's text and calls
    const call = { id: "toolu_a", name: "echo", arguments: { n: 1 } };
    const rebuilt = [
      { type: "text", text: "Echoing." },
      { type: "tool_use", id: "toolu_a", name: "echo", input: { n: 1 } },
    ];
    for (const content of [
      [{ type: "thinking", thinking: "t", signature: "" }, { type: "text", text: "Echoing." }, rebuilt[1]],
      [{ type: "thinking", thinking: "t", signature: "s" }, { type: "text", text: " \n" }, rebuilt[1]],
    ]) {
      const sent = anthropicMessages(
        [
          { role: "user", content: "go" },
          { role: "assistant", content: "Echoing.", tool_calls: [call], replay: { provider: "anthropic", model: "claude-test", data: { content } } },
          { role: "tool", tool_call_id: "toolu_a", content: "{}" },
        ],
        "claude-test",
      );
      expect(sent[1]).toEqual({ role: "assistant", content: rebuilt });
    }
    // the rebuild and user messages leave whitespace-only text out
    expect(
      anthropicMessages([
        { role: "user", content: "go" },
        { role: "user", content: "  \n" },
        { role: "assistant", content: " ", tool_calls: [call] },
        { role: "tool", tool_call_id: "toolu_a", content: "{}" },
      ]),
    ).toEqual([
      { role: "user", content: "go" },
      { role: "assistant", content: [rebuilt[1]] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_a", content: "{}" }] },
    ]);
  });

  it("redacted_thinking blocks are replayed verbatim; altered data is refused", async () => {
    server.reset();
    server.anthropic.redactedThinking = 2;
    const { results } = await toolLoop(3);
    const first = (results[0]!.replay!.data as { content: AnthropicReplayBlock[] }).content;
    expect(first.map((b) => b.type)).toEqual(["thinking", "redacted_thinking", "redacted_thinking", "tool_use"]);
    // the next request sent them exactly as streamed
    const sent = blocks(sentMessages(1)[1]!);
    expect(sent.slice(0, 3)).toEqual(first.slice(0, 3));
    const data = first.filter((b): b is AnthropicReplayBlock & { type: "redacted_thinking" } => b.type === "redacted_thinking").map((b) => b.data);
    expect(new Set(data).size).toBe(2);

    const turn = committed(results[0]!) as ChatMessage & { role: "assistant" };
    const messages: ChatMessage[] = [
      { role: "user", content: "Count." },
      {
        ...turn,
        replay: { ...turn.replay!, data: { content: first.map((b) => (b.type === "redacted_thinking" ? { ...b, data: `x${b.data}` } : b)) } },
      },
      { role: "tool", tool_call_id: results[0]!.tool_calls[0]!.id, content: "{}" },
    ];
    const error = await refusal(complete(messages));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("messages.1.content.1: Invalid `data` in `redacted_thinking` block");
  });

  it("server-generated tool ids: a tool_use streamed without an id gets one, the same in the calls and the replay", async () => {
    server.reset();
    server.reply({ reasoning: "Echo it.", toolCalls: [{ id: "", name: "echo", arguments: { n: 1 } }] });
    const result = await complete([{ role: "user", content: "go" }]);
    const id = result.tool_calls[0]!.id;
    expect(id).toMatch(/^toolu_/);
    const content = (result.replay!.data as { content: AnthropicReplayBlock[] }).content;
    expect(content[1]).toEqual({ type: "tool_use", id, name: "echo", input: { n: 1 } });
    server.reply({ text: "done" });
    await complete([{ role: "user", content: "go" }, committed(result), { role: "tool", tool_call_id: id, content: "{}" }]);
    expect(blocks(sentMessages(1)[2]!)[0]).toMatchObject({ type: "tool_result", tool_use_id: id });
  });

  it("structured output with thinking: the output tool's call is replayed and answered with a tool_result before the correction", async () => {
    server.reset();
    const schema = { type: "object", properties: { n: { type: "number" } }, required: ["n"] };
    server.reply({ reasoning: "Answer through the tool.", toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { n: "one" } }] });
    const result = await complete([{ role: "user", content: "a number" }], {}, schema);
    expect(result.text).toBe('{"n":"one"}');
    expect(result.tool_calls).toEqual([]);
    const content = (result.replay!.data as { content: AnthropicReplayBlock[] }).content;
    expect(content.map((b) => b.type)).toEqual(["thinking", "tool_use"]);
    const outputId = (content[1] as AnthropicReplayBlock & { type: "tool_use" }).id;

    const messages: ChatMessage[] = [
      { role: "user", content: "a number" },
      committed(result),
      { role: "user", content: "Your answer did not match the output schema: n must be number", output_correction: { run_id: "r" } },
    ];
    expect(anthropicMessages(messages)).toEqual([
      { role: "user", content: "a number" },
      { role: "assistant", content },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: outputId, content: "Answer received." },
          { type: "text", text: "Your answer did not match the output schema: n must be number" },
        ],
      },
    ]);
    // the fake accepts it (the output tool's turn, answered, starts with its thinking)
    server.reply({ reasoning: "Fix it.", toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { n: 1 } }] });
    await expect(complete(messages, {}, schema)).resolves.toMatchObject({ text: '{"n":1}' });
  });

  it("a malformed replay, or one whose tool_use ids are not the committed calls', is ignored", () => {
    const call = { id: "toolu_a", name: "echo", arguments: { n: 1 } };
    const plain = [
      { role: "user" as const, content: "go" },
      { role: "assistant" as const, content: "", tool_calls: [call] },
      { role: "tool" as const, tool_call_id: "toolu_a", content: "{}" },
    ];
    const expected = anthropicMessages(plain);
    for (const data of [
      { content: [{ type: "thinking", thinking: "t" }] }, // no signature
      { content: "nope" },
      {
        content: [
          { type: "thinking", thinking: "t", signature: "s" },
          { type: "tool_use", id: "toolu_other", name: "echo", input: {} },
        ],
      },
    ]) {
      const withReplay = plain.map((m) => (m.role === "assistant" ? { ...m, replay: { provider: "anthropic", model: "m", data } } : m));
      expect(anthropicMessages(withReplay)).toEqual(expected);
    }
  });
});

describe("provider: prompt caching", () => {
  it(`breakpoints (at most ${ANTHROPIC_MAX_CACHE_BREAKPOINTS}) on the system prompt and the conversation; cache reads grow turn by turn`, async () => {
    server.reset();
    server.anthropic.countTokens = true;
    const { results } = await toolLoop(TURNS);
    const figures = results.map((r, i) => ({ turn: i + 1, ...r.usage }));
    console.log("[anthropic-fidelity] usage per turn (cache auto):", JSON.stringify(figures));

    for (const [i, request] of server.requests.entries()) {
      const marks = breakpoints(request.body);
      expect(marks.length).toBeLessThanOrEqual(ANTHROPIC_MAX_CACHE_BREAKPOINTS);
      expect(marks[0]).toBe("system.0");
      const messages = request.body.messages as SentMessage[];
      const lastMessage = messages.length - 1;
      expect(marks).toContain(`messages.${lastMessage}.content.${blocks(messages[lastMessage]!).length - 1}`);
      // from the third request on: the previous user turn too, where the last request's moving mark was
      if (i >= 1) expect(marks).toHaveLength(3);
    }
    // every turn reads what the turn before wrote, and more each turn
    for (const [i, r] of results.entries()) {
      const read = r.usage.cache_read_tokens ?? 0;
      const write = r.usage.cache_write_tokens ?? 0;
      expect(r.usage.input_tokens).toBeGreaterThanOrEqual(read + write); // input_tokens counts everything
      if (i === 0) {
        expect(read).toBe(0);
        expect(write).toBeGreaterThan(1024);
      } else {
        expect(read).toBeGreaterThan(results[i - 1]!.usage.cache_read_tokens ?? 0);
        expect(read).toBe((results[i - 1]!.usage.cache_read_tokens ?? 0) + (results[i - 1]!.usage.cache_write_tokens ?? 0));
      }
    }
    const last = results.at(-1)!.usage;
    // nearly all of the last call's input is read from the cache
    expect(last.cache_read_tokens! / last.input_tokens).toBeGreaterThan(0.9);
  });

  it('cache: "off" sends no cache_control and the system as a string; nothing is read or written', async () => {
    server.reset();
    server.anthropic.countTokens = true;
    const { results } = await toolLoop(3, { cache: "off" });
    for (const request of server.requests) {
      expect(breakpoints(request.body)).toEqual([]);
      expect(request.body.system).toBe(SYSTEM_PROMPT);
      expect(JSON.stringify(request.body)).not.toContain("cache_control");
    }
    for (const r of results) {
      expect(r.usage.cache_read_tokens).toBeUndefined();
      expect(r.usage.cache_write_tokens).toBeUndefined();
    }
  });

  it("more than 20 blocks added in one turn: the previous user turn's mark still finds the cached prefix", async () => {
    server.reset();
    server.anthropic.countTokens = true;
    const messages: ChatMessage[] = [{ role: "user", content: "Echo 1 to 15 at once." }];
    const calls = Array.from({ length: 15 }, (_, i) => ({ id: `toolu_p${i}`, name: "echo", arguments: { n: i } }));
    server.reply({ reasoning: "All at once.", toolCalls: calls });
    const first = await complete(messages);
    messages.push(committed(first));
    for (const c of calls) messages.push({ role: "tool", tool_call_id: c.id, content: `result ${String(c.arguments.n)}` });
    server.reply({ text: "done" });
    const second = await complete(messages);
    // 15 tool_use + 15 tool_result blocks since the last mark: found through the previous user turn's mark
    expect(second.usage.cache_read_tokens).toBe(first.usage.cache_write_tokens);
  });
});

describe("engine: an anthropic agent with thinking runs a 20-turn tool loop", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  /** The agent and its script: TURNS turns calling `tool` with `args(n)`, then an answer. */
  async function agentWithScript(tool: string, args: (n: number) => Record<string, unknown>): Promise<string> {
    for (let n = 1; n <= TURNS; n++) server.reply({ reasoning: `Turn ${n}: call ${tool}.`, toolCalls: [{ name: tool, arguments: args(n) }] });
    server.reply({ reasoning: "Done.", text: `Finished ${TURNS} turns.` });
    return createAgent(db.pool, {
      provider: "anthropic",
      model: "claude-test",
      base_url: server.anthropicBaseURL,
      api_key_env: KEY_ENV,
      system_prompt: SYSTEM_PROMPT,
      thinking_budget_tokens: 1024,
      tools: [tool],
      retry: fast,
    });
  }

  /** Every request the fake received passes its rules again (signatures and thinking replayed). */
  function everyRequestValid(): void {
    for (const [i, request] of server.requests.entries()) expect(server.anthropic.check(request.body, request.apiKey), `request ${i}`).toBeUndefined();
  }

  async function expectLoopCommittedOnce(runId: string): Promise<void> {
    const steps = await getSteps(db.pool, runId);
    // exactly once: one committed step per seq, llm and tool alternating, no LLM call repeated
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 2 * TURNS + 1 }, (_, i) => i + 1));
    expect(steps.map((s) => s.kind)).toEqual(Array.from({ length: 2 * TURNS + 1 }, (_, i) => (i % 2 === 0 ? "llm" : "tool")));
    expect(server.requests).toHaveLength(TURNS + 1);
    for (const [i, step] of steps.filter((s) => s.kind === "llm").entries()) {
      const out = llmOutput(step);
      expect(out.replay?.provider).toBe("anthropic");
      // each committed turn's thinking is what the next request sent
      if (i < TURNS) {
        const sent = (server.requests[i + 1]!.body.messages as SentMessage[]).filter((m) => m.role === "assistant")[i]!;
        expect(blocks(sent)).toEqual((out.replay!.data as { content: AnthropicReplayBlock[] }).content);
      }
    }
    everyRequestValid();
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  }

  it("in-process worker: succeeds, every request with valid thinking, cache reads reported per step", async () => {
    server.reset();
    server.anthropic.countTokens = true;
    const worker: WorkerHandle = await startWorker({
      databaseUrl: db.url,
      concurrency: 2,
      shutdownTimeoutMs: 2000,
      log: consoleLogger("[test-worker]", "warn"),
    });
    try {
      const agent = await agentWithScript("echo", (n) => ({ n }));
      const runId = await startRun(db.pool, agent, `Count to ${TURNS}.`);
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      await expectLoopCommittedOnce(runId);
      const { rows: usage } = await db.pool.query<{ input_tokens: number; cache_read_tokens?: number; cache_write_tokens?: number }>(
        "select usage.* from everruns.run_steps, jsonb_to_record(usage) as usage(input_tokens int, output_tokens int, cache_read_tokens int, cache_write_tokens int) where run_id = $1 and kind = 'llm' order by seq",
        [runId],
      );
      console.log("[anthropic-fidelity] engine usage per LLM step:", JSON.stringify(usage));
      expect(usage.at(-1)!.cache_read_tokens).toBeGreaterThan(usage.at(-2)!.cache_read_tokens ?? 0);
      expect(usage[0]!.cache_write_tokens).toBeGreaterThan(0);
    } finally {
      await worker.stop();
    }
  });

  it("an LLM call of the loop dies mid-stream: its second attempt sends the same replayed thinking, which the fake accepts", async () => {
    server.reset();
    const worker: WorkerHandle = await startWorker({
      databaseUrl: db.url,
      concurrency: 2,
      shutdownTimeoutMs: 2000,
      log: consoleLogger("[test-worker]", "warn"),
    });
    try {
      server.reply({ reasoning: "Turn 1: echo 1.", toolCalls: [{ name: "echo", arguments: { n: 1 } }] });
      server.reply({ reasoning: "Turn 2: echo 2.", toolCalls: [{ name: "echo", arguments: { n: 2 } }] });
      // the third call: the connection drops after its thinking has begun to stream, then the retry
      const third: StreamReply = { reasoning: "Turn 3: all echoed, answer.", text: "Echoed twice." };
      server.reply({ ...third, dieAfterChunks: 4 });
      server.reply(third);
      const agent = await createAgent(db.pool, {
        provider: "anthropic",
        model: "claude-test",
        base_url: server.anthropicBaseURL,
        api_key_env: KEY_ENV,
        system_prompt: SYSTEM_PROMPT,
        thinking_budget_tokens: 1024,
        tools: ["echo"],
        retry: fast,
      });
      const runId = await startRun(db.pool, agent, "Echo 1 and 2.");
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      expect(server.requests).toHaveLength(4);
      expect(server.pending).toBe(0);

      const steps = await getSteps(db.pool, runId);
      expect(steps.map((s) => [s.seq, s.kind, s.attempt])).toEqual([
        [1, "llm", 1],
        [2, "tool", 1],
        [3, "llm", 1],
        [4, "tool", 1],
        [5, "llm", 2],
      ]);
      // the retry sent exactly what the failed attempt sent: both turns with their signed thinking
      const [failed, retried] = [server.requests[2]!.body, server.requests[3]!.body];
      expect(retried.messages).toEqual(failed.messages);
      expect(retried.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });
      const assistants = (retried.messages as SentMessage[]).filter((m) => m.role === "assistant");
      for (const [i, step] of steps
        .filter((s) => s.kind === "llm")
        .slice(0, 2)
        .entries()) {
        const content = (llmOutput(step).replay!.data as { content: AnthropicReplayBlock[] }).content;
        expect(content[0]).toMatchObject({ type: "thinking", signature: server.anthropic.sign(`Turn ${i + 1}: echo ${i + 1}.`) });
        expect(blocks(assistants[i]!)).toEqual(content);
      }
      everyRequestValid();
      expect(llmOutput(steps[4]).text).toBe("Echoed twice.");
      await assertValidAgUiLog(await getEvents(db.pool, runId));
    } finally {
      await worker.stop();
    }
  });

  it("kill -9 of the worker process between turns (3 times): a new worker finishes the run, thinking intact, each step once", async () => {
    server.reset();
    const workers = new Set<WorkerProcess>();
    const start = async () => {
      const w = await spawnWorker(db.url);
      workers.add(w);
      void w.exited.then(() => workers.delete(w));
      return w;
    };
    const killTurns = new Set([5, 10, 15]);
    try {
      // The turns to kill in hold their worker in the tool step, long enough for the kill to land
      // there however slow the machine (the retried step takes as long again); the others are quick.
      const agent = await agentWithScript("simulate_work", (n) => ({ ms: killTurns.has(n) ? 8000 : 10 }));
      await start();
      const runId = await startRun(db.pool, agent, `Count to ${TURNS}.`);
      for (const turn of killTurns) {
        const seq = 2 * turn; // the tool step of that turn
        // the run's current attempt is that tool step, begun and not ended
        await waitFor(
          `the tool step of turn ${turn} to be under way`,
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
        const [victim] = [...workers];
        victim!.child.kill("SIGKILL");
        await victim!.exited;
        await start();
      }
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 150_000);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      await expectLoopCommittedOnce(runId);
      const steps = await getSteps(db.pool, runId);
      for (const turn of killTurns) expect(steps[2 * turn - 1]!.attempt, `tool step of turn ${turn}`).toBeGreaterThanOrEqual(2);
      for (const s of steps.filter((x) => x.kind === "llm")) expect(s.attempt).toBe(1);
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all([...workers].map((w) => w.exited));
    }
  }, 240_000);
});
