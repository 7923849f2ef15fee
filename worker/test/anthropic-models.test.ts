// Claude's current models against the fake's per-model rules (fake-anthropic.ts, from Anthropic's
// documentation): adaptive thinking and effort instead of a thinking budget, thinking by default,
// structured output through output_config.format where forced tool use is refused, no temperature
// where it is refused; an older model keeps budget thinking and the output tool. The real
// @anthropic-ai/sdk through AnthropicProvider, and a run through the engine with real Postgres.
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { AgentConfigSchema, AgentConfigWriteSchema, type AgentConfig } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, llmOutput, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startWorker } from "../main.ts";
import { ANTHROPIC_MAX_TOKENS_CAP, ANTHROPIC_OUTPUT_TOOL, AnthropicProvider, anthropicMessages, type AnthropicReplayBlock } from "../providers/anthropic.ts";
import { ProviderError, type ChatMessage, type LlmResult, type LlmStreamHandlers, type ToolDefinition } from "../providers/types.ts";
import { FAKE_ANTHROPIC_MODEL_RULES } from "./fake-anthropic.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";
import { builtinModels } from "../../lib/models/catalog.ts";

const KEY_ENV = "EVERRUNS_TEST_ANTHROPIC_KEY";
const CURRENT = "claude-opus-5-5";
const OLDER = "claude-sonnet-4-5";
const ECHO: ToolDefinition = { name: "echo", description: "Returns its arguments unchanged.", parameters: { type: "object", additionalProperties: true } };
const SCHEMA = { type: "object", properties: { total: { type: "number" } }, required: ["total"], additionalProperties: false };
const fast = { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

let server: FakeLlmServer;
const provider = new AnthropicProvider();
const handlers: LlmStreamHandlers = { onTextDelta: () => {}, onReasoningDelta: () => {}, onToolCallStart: () => {}, onToolCallArgs: () => {} };

beforeAll(async () => {
  server = await FakeLlmServer.start();
  process.env[KEY_ENV] = "test-key";
  // the interleaved-thinking rule reads the beta header of the request being answered (the last recorded)
  server.anthropic.betaOf = () => {
    const header = server.requests.at(-1)?.headers["anthropic-beta"];
    return Array.isArray(header) ? header.join(",") : (header ?? "");
  };
});

afterAll(async () => {
  await server?.close();
});

function config(overrides: Record<string, unknown>): AgentConfig {
  // AgentConfigSchema (what a worker runs), not the write check: a stored config may predate the table
  return AgentConfigSchema.parse({ provider: "anthropic", base_url: server.anthropicBaseURL, api_key_env: KEY_ENV, ...overrides });
}

function complete(messages: ChatMessage[], overrides: Record<string, unknown>, outputSchema?: Record<string, unknown>, tools = [ECHO]): Promise<LlmResult> {
  return provider.complete(
    { config: config(overrides), messages, tools, callIndex: 0, attempt: 1, signal: new AbortController().signal, ...(outputSchema && { outputSchema }) },
    handlers,
  );
}

function committed(result: LlmResult): ChatMessage {
  const stored = JSON.parse(JSON.stringify({ text: result.text, tool_calls: result.tool_calls, replay: result.replay })) as {
    text: string;
    tool_calls: LlmResult["tool_calls"];
    replay?: LlmResult["replay"];
  };
  return { role: "assistant", content: stored.text, tool_calls: stored.tool_calls, ...(stored.replay && { replay: stored.replay }) };
}

/** `turns` turns of an echo loop, each with thinking, then `last` (the final reply). */
async function toolLoop(turns: number, overrides: Record<string, unknown>, last: { reasoning?: string; text: string }, outputSchema?: Record<string, unknown>) {
  const messages: ChatMessage[] = [{ role: "user", content: `Add 1 to ${turns} with the echo tool.` }];
  const results: LlmResult[] = [];
  for (let n = 1; n <= turns + 1; n++) {
    server.reply(n <= turns ? { reasoning: `Turn ${n}: echo ${n}.`, toolCalls: [{ name: "echo", arguments: { n } }] } : last);
    const result = await complete(messages, overrides, outputSchema);
    results.push(result);
    messages.push(committed(result));
    for (const call of result.tool_calls) messages.push({ role: "tool", tool_call_id: call.id, content: JSON.stringify(call.arguments) });
  }
  return { messages, results };
}

async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

type Sent = { role: string; content: string | Array<Record<string, unknown>> };
const assistantTurns = (i: number) => (server.requests[i]!.body.messages as Sent[]).filter((m) => m.role === "assistant");

describe(`provider: a current model (${CURRENT})`, () => {
  it("adaptive thinking and effort: a tool loop sends thinking {type: adaptive} and output_config.effort, never a budget, and replays every turn's thinking", async () => {
    server.reset();
    const { results } = await toolLoop(3, { model: CURRENT, thinking: "adaptive", effort: "high", max_tokens: 4096 }, { reasoning: "Done.", text: "6" });
    expect(server.requests).toHaveLength(4);
    expect(results.at(-1)!.text).toBe("6");
    for (const [i, request] of server.requests.entries()) {
      // display "summarized": this model's default ("omitted") would stream empty thinking
      expect(request.body.thinking, `request ${i}`).toEqual({ type: "adaptive", display: "summarized" });
      expect(request.body.output_config, `request ${i}`).toEqual({ effort: "high" });
      // no budget added to max_tokens: adaptive thinking has none
      expect(request.body.max_tokens).toBe(4096);
      expect(request.body.tool_choice).toBeUndefined();
      // each earlier turn went back as streamed: its signed thinking first
      for (const [t, turn] of assistantTurns(i).entries()) {
        const content = (results[t]!.replay!.data as { content: AnthropicReplayBlock[] }).content;
        expect(turn.content, `request ${i}, turn ${t}`).toEqual(content);
        expect(content[0]!.type).toBe("thinking");
      }
    }
  });

  it("thinking by default: without a thinking setting the model still thinks; its blocks are recorded and replayed, and the fake refuses a turn sent back without them", async () => {
    server.reset();
    const { messages, results } = await toolLoop(2, { model: CURRENT }, { text: "3" });
    expect(server.requests).toHaveLength(3);
    for (const request of server.requests) {
      // what the model does by default, said explicitly for the summarized display
      expect(request.body.thinking).toEqual({ type: "adaptive", display: "summarized" });
      expect(request.body.output_config).toBeUndefined();
    }
    expect(results[0]!.reasoning).toBe("Turn 1: echo 1.");
    expect(results[0]!.replay).toMatchObject({ provider: "anthropic", model: CURRENT });
    expect(assistantTurns(2).map((t) => (t.content as Array<{ type: string }>)[0]!.type)).toEqual(["thinking", "thinking"]);

    // the same conversation with the last turn's thinking dropped (no replay): refused
    const withoutThinking = messages.slice(0, -1).map((m, i, all) => {
      if (m.role !== "assistant" || i !== all.findLastIndex((x) => x.role === "assistant")) return m;
      const { replay: _replay, ...rest } = m;
      return rest;
    });
    expect(anthropicMessages(withoutThinking, CURRENT).at(-2)!.content).toEqual([
      { type: "tool_use", id: results[1]!.tool_calls[0]!.id, name: "echo", input: { n: 2 } },
    ]);
    server.reply({ text: "3" });
    const error = await refusal(complete(withoutThinking, { model: CURRENT }));
    expect(error.message).toMatch(/thinking. blocks of this turn are missing or were changed/);
  });

  it("structured output: output_config.format with the schema, no output tool and no forced tool_choice; the answer is the JSON text", async () => {
    server.reset();
    const { results } = await toolLoop(2, { model: CURRENT, thinking: "adaptive" }, { reasoning: "Sum them.", text: '{"total":3}' }, SCHEMA);
    expect(results.at(-1)!.text).toBe('{"total":3}');
    expect(results.at(-1)!.tool_calls).toEqual([]);
    for (const request of server.requests) {
      expect(request.body.output_config).toEqual({ format: { type: "json_schema", schema: SCHEMA } });
      expect((request.body.tools as Array<{ name: string }>).map((t) => t.name)).toEqual(["echo"]);
      expect(request.body.tool_choice).toBeUndefined();
      // no instruction to call an output tool
      expect(JSON.stringify(request.body.system ?? "")).not.toContain(ANTHROPIC_OUTPUT_TOOL);
    }

    // without agent tools, and with effort: format and effort together
    server.reset();
    server.reply({ reasoning: "Easy.", text: '{"total":1}' });
    const single = await complete([{ role: "user", content: "one" }], { model: CURRENT, effort: "low" }, SCHEMA, []);
    expect(single.text).toBe('{"total":1}');
    expect(server.requests[0]!.body.output_config).toEqual({ format: { type: "json_schema", schema: SCHEMA }, effort: "low" });
    expect(server.requests[0]!.body.tools).toBeUndefined();
  });

  it("the fake refuses the old request shapes for this model, so a regression fails: a thinking budget, forced tool use, thinking off, a temperature", async () => {
    server.reset();
    server.reply({ text: "never" });
    const off = await refusal(complete([{ role: "user", content: "hi" }], { model: CURRENT, thinking: "off" }));
    expect(off.message).toMatch(/"thinking\.type\.disabled\\" is not supported for this model/);

    const client = new Anthropic({ apiKey: "test-key", baseURL: server.anthropicBaseURL, maxRetries: 0 });
    const tools = [{ name: ANTHROPIC_OUTPUT_TOOL, input_schema: { type: "object" as const } }];
    for (const tool_choice of [{ type: "tool" as const, name: ANTHROPIC_OUTPUT_TOOL }, { type: "any" as const }]) {
      await expect(
        client.messages.create({ model: CURRENT, max_tokens: 100, messages: [{ role: "user", content: "hi" }], tools, tool_choice }),
      ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("is not supported for this model") as unknown });
    }
    await expect(
      client.messages.create({ model: CURRENT, max_tokens: 100, messages: [{ role: "user", content: "hi" }], temperature: 0.2 } as Parameters<
        typeof client.messages.create
      >[0]),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("`temperature` is deprecated for this model") as unknown });
    await expect(
      client.messages.create({
        model: CURRENT,
        max_tokens: 4096,
        messages: [{ role: "user", content: "hi" }],
        thinking: { type: "enabled", budget_tokens: 2048 },
      }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/thinking\.type\.enabled\\?" is not supported for this model/) as unknown });
    expect(server.pending).toBe(1);

    // the provider leaves the temperature out for this model (a stored config that still sets one runs)
    const result = await complete([{ role: "user", content: "hi" }], { model: CURRENT, temperature: 0.2 });
    expect(result.text).toBe("never");
    expect(server.requests.at(-1)!.body.temperature).toBeUndefined();

    // a stored thinking budget (the write check refuses it now) runs as adaptive thinking, not a 400 on every call
    server.reply({ reasoning: "Adaptive.", text: "ok" });
    const budget = await complete([{ role: "user", content: "hi" }], { model: CURRENT, thinking_budget_tokens: 2048 });
    expect(budget.text).toBe("ok");
    expect(server.requests.at(-1)!.body.thinking).toEqual({ type: "adaptive", display: "summarized" });
  });
});

describe(`provider: an older model (${OLDER}) keeps budget thinking and the output tool`, () => {
  it("budget thinking in a tool loop; structured output through the output tool without thinking, output_config.format with it", async () => {
    server.reset();
    const { results } = await toolLoop(2, { model: OLDER, thinking_budget_tokens: 1024, temperature: 0.5 }, { reasoning: "Done.", text: "3" });
    expect(results.at(-1)!.text).toBe("3");
    for (const request of server.requests) {
      expect(request.headers["anthropic-beta"]).toBe("interleaved-thinking-2025-05-14");
      expect(request.body.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });
      expect(request.body.output_config).toBeUndefined();
      // thinking takes no temperature
      expect(request.body.temperature).toBeUndefined();
    }

    server.reset();
    server.reply({ toolCalls: [{ name: ANTHROPIC_OUTPUT_TOOL, arguments: { total: 2 } }] });
    const forced = await complete([{ role: "user", content: "two" }], { model: OLDER, temperature: 0.5 }, SCHEMA, []);
    expect(forced.text).toBe('{"total":2}');
    expect(server.requests[0]!.body.tool_choice).toEqual({ type: "tool", name: ANTHROPIC_OUTPUT_TOOL });
    expect(server.requests[0]!.body.output_config).toBeUndefined();
    expect(server.requests[0]!.body.temperature).toBe(0.5);

    // with thinking (which takes only tool_choice auto) a model with JSON outputs gets output_config.format
    server.reply({ reasoning: "As JSON.", text: '{"total":4}' });
    const thinking = await complete([{ role: "user", content: "four" }], { model: OLDER, thinking_budget_tokens: 1024 }, SCHEMA);
    expect(thinking.text).toBe('{"total":4}');
    expect(server.requests[1]!.body.tool_choice).toBeUndefined();
    expect(server.requests[1]!.body.output_config).toEqual({ format: { type: "json_schema", schema: SCHEMA } });
    expect((server.requests[1]!.body.tools as Array<{ name: string }>).map((t) => t.name)).toEqual(["echo"]);

    // budget thinking on this model thinks between tool calls only with the interleaved-thinking
    // beta: sent on every call with a budget, so each call of the loop above thought and kept thinking on
    expect(results.slice(0, 2).map((r) => r.reasoning)).toEqual(["Turn 1: echo 1.", "Turn 2: echo 2."]);

    // the fake refuses adaptive thinking for this model
    server.reply({ text: "never" });
    const adaptive = await refusal(complete([{ role: "user", content: "hi" }], { model: OLDER, thinking: "adaptive" }));
    expect(adaptive.message).toMatch(/"thinking\.type\.adaptive\\" is not supported for this model/);
  });
});

const NOTIFY: ToolDefinition = { name: "notify", description: "A client tool declared on a later run.", parameters: { type: "object", properties: {} } };
type Block = { type: string; thinking?: string };
const blockTypes = (turn: Sent) => (typeof turn.content === "string" ? ["text"] : turn.content.map((b) => String(b.type)));

describe(`provider: preserved thinking on ${CURRENT} (the prefix check)`, () => {
  async function runOne(overrides: Record<string, unknown>) {
    server.reset();
    return toolLoop(2, { model: CURRENT, system_prompt: "You count.", ...overrides }, { reasoning: "Done.", text: "3" });
  }

  it("run 2 declares a client tool: run 1's turns go without their thinking, run 2's own loop replays its thinking exactly, and the fake accepts every call", async () => {
    const { messages } = await runOne({});
    const thread: ChatMessage[] = [...messages, { role: "user", content: "Again, and tell the client." }];
    const tools = [ECHO, NOTIFY];
    // run 2, a tool loop under the new tools
    server.reply({ reasoning: "Run 2: echo.", toolCalls: [{ name: "echo", arguments: { n: 9 } }] });
    const first = await complete(thread, { model: CURRENT, system_prompt: "You count." }, undefined, tools);
    thread.push(committed(first), { role: "tool", tool_call_id: first.tool_calls[0]!.id, content: "9" });
    server.reply({ reasoning: "Run 2: done.", text: "9" });
    const second = await complete(thread, { model: CURRENT, system_prompt: "You count." }, undefined, tools);
    expect(second.text).toBe("9");
    const sent = assistantTurns(server.requests.length - 1);
    // run 1's three turns without thinking; run 2's first turn as streamed (thinking first)
    expect(sent.map(blockTypes)).toEqual([["tool_use"], ["tool_use"], ["text"], ["thinking", "tool_use"]]);
    expect(sent[3]!.content).toEqual((first.replay!.data as { content: AnthropicReplayBlock[] }).content);

    // the same thread with run 1's thinking replayed under the new tools (a provider that did not
    // check the prefix: model_info says no preserved thinking): the fake refuses it, as the API does
    server.reply({ text: "never" });
    const error = await refusal(complete(thread, { model: CURRENT, system_prompt: "You count.", model_info: { preserved_thinking: false } }, undefined, tools));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/The block is bound to a different conversation/);
  });

  it("run 2 changes the system prompt, mid-loop (a client tool's result comes back under a new agent version): the loop goes on without the stale thinking", async () => {
    server.reset();
    const thread: ChatMessage[] = [{ role: "user", content: "Notify, then count." }];
    server.reply({ reasoning: "Notify first.", toolCalls: [{ name: "notify", arguments: {} }] });
    const held = await complete(thread, { model: CURRENT, system_prompt: "You count." }, undefined, [ECHO, NOTIFY]);
    thread.push(committed(held), { role: "tool", tool_call_id: held.tool_calls[0]!.id, content: "notified" });
    // an unchanged prefix: replayed with its thinking
    server.reply({ reasoning: "Same prompt.", text: "1" });
    await complete(thread, { model: CURRENT, system_prompt: "You count." }, undefined, [ECHO, NOTIFY]);
    expect(assistantTurns(1).map(blockTypes)).toEqual([["thinking", "tool_use"]]);
    // a new system prompt: the held turn goes without its thinking, and the fake accepts it
    server.reply({ reasoning: "New prompt.", text: "2" });
    const after = await complete(thread, { model: CURRENT, system_prompt: "You count, version 2." }, undefined, [ECHO, NOTIFY]);
    expect(after.text).toBe("2");
    expect(assistantTurns(2).map(blockTypes)).toEqual([["tool_use"]]);
    // sent with it, the fake refuses
    server.reply({ text: "never" });
    const error = await refusal(
      complete(thread, { model: CURRENT, system_prompt: "You count, version 2.", model_info: { preserved_thinking: false } }, undefined, [ECHO, NOTIFY]),
    );
    expect(error.message).toMatch(/bound to a different conversation/);
  });

  it("cache marks moving between calls, and a replay's keys reordered by jsonb, are not a change: a 4-turn loop replays every turn's thinking", async () => {
    const { messages } = await runOne({});
    // jsonb orders keys its own way: reverse every replay block's keys
    const reordered = messages.map((m) =>
      m.role === "assistant" && m.replay
        ? {
            ...m,
            replay: {
              ...m.replay,
              data: {
                ...(m.replay.data as object),
                content: (m.replay.data as { content: Array<Record<string, unknown>> }).content.map((b) => Object.fromEntries(Object.entries(b).reverse())),
              },
            },
          }
        : m,
    );
    server.reply({ reasoning: "Once more.", text: "4" });
    const result = await complete([...reordered, { role: "user", content: "And once more." }], { model: CURRENT, system_prompt: "You count." });
    expect(result.text).toBe("4");
    expect(assistantTurns(server.requests.length - 1).map(blockTypes)).toEqual([
      ["thinking", "tool_use"],
      ["thinking", "tool_use"],
      ["thinking", "text"],
    ]);
  });
});

describe(`provider: thinking display, reasoning tokens, JSON outputs' schema subset, max_tokens and stop reasons (${CURRENT})`, () => {
  it('display "summarized": the fake streams this model\'s thinking empty without it; with it the reasoning reaches the stream and the result', async () => {
    server.reset();
    const client = new Anthropic({ apiKey: "test-key", baseURL: server.anthropicBaseURL, maxRetries: 0 });
    server.reply({ reasoning: "Hidden by default.", text: "a" });
    const plain = await client.messages.stream({ model: CURRENT, max_tokens: 1000, messages: [{ role: "user", content: "hi" }] }).finalMessage();
    expect(plain.content.map((b) => [b.type, (b as Block).thinking])).toEqual([
      ["thinking", ""],
      ["text", undefined],
    ]);

    server.reply({ reasoning: "Shown when asked.", text: "b" });
    const streamed: string[] = [];
    const result = await provider.complete(
      {
        config: config({ model: CURRENT }),
        messages: [{ role: "user", content: "hi" }],
        tools: [],
        callIndex: 0,
        attempt: 1,
        signal: new AbortController().signal,
      },
      { ...handlers, onReasoningDelta: (d) => streamed.push(d) },
    );
    expect(streamed.join("")).toBe("Shown when asked.");
    expect(result.reasoning).toBe("Shown when asked.");
  });

  it("reasoning tokens: usage.output_tokens_details.thinking_tokens becomes reasoning_tokens", async () => {
    server.reset();
    server.reply({ reasoning: "Twelve characters or so of thinking.", text: "ok" });
    const result = await complete([{ role: "user", content: "hi" }], { model: CURRENT }, undefined, []);
    // the fake's count: JSON characters / 4
    const expected = Math.ceil(JSON.stringify("Twelve characters or so of thinking.").length / 4);
    expect(result.usage.reasoning_tokens).toBe(expected);
    expect(result.usage.output_tokens).toBeGreaterThanOrEqual(expected);
    // no thinking, no reasoning tokens
    server.reply({ text: "plain" });
    const plain = await complete([{ role: "user", content: "hi" }], { model: OLDER }, undefined, []);
    expect(plain.usage.reasoning_tokens).toBeUndefined();
  });

  it("output_config.format gets the schema as JSON outputs take it (objects closed, unsupported keywords in the description); the fake refuses an open object", async () => {
    server.reset();
    const open = {
      type: "object",
      properties: { total: { type: "integer", minimum: 0 }, items: { type: "array", items: { type: "object", properties: { n: { type: "number" } } } } },
      required: ["total"],
    };
    server.reply({ reasoning: "Sum.", text: '{"total":3,"items":[]}' });
    const result = await complete([{ role: "user", content: "sum" }], { model: CURRENT }, open, []);
    expect(result.text).toBe('{"total":3,"items":[]}');
    const schema = (server.requests[0]!.body.output_config as { format: { schema: Record<string, unknown> } }).format.schema;
    expect(schema).toEqual({
      type: "object",
      properties: {
        total: { type: "integer", description: "{minimum: 0}" },
        items: { type: "array", items: { type: "object", properties: { n: { type: "number" } }, additionalProperties: false } },
      },
      required: ["total"],
      additionalProperties: false,
    });

    const client = new Anthropic({ apiKey: "test-key", baseURL: server.anthropicBaseURL, maxRetries: 0 });
    await expect(
      client.messages.create({
        model: CURRENT,
        max_tokens: 1000,
        messages: [{ role: "user", content: "sum" }],
        output_config: { format: { type: "json_schema", schema: open } },
      }),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining("'additionalProperties' must be explicitly set to false") as unknown });
  });

  it(`max_tokens defaults to the model's longest output up to ${ANTHROPIC_MAX_TOKENS_CAP}; a refusal or a cut-off call is a clear error, not committed`, async () => {
    server.reset();
    server.reply({ text: "a" });
    await complete([{ role: "user", content: "hi" }], { model: CURRENT }, undefined, []);
    expect(server.requests[0]!.body.max_tokens).toBe(ANTHROPIC_MAX_TOKENS_CAP);
    server.reply({ text: "b" });
    await complete([{ role: "user", content: "hi" }], { model: "claude-3-5-haiku" }, undefined, []);
    expect(server.requests[1]!.body.max_tokens).toBe(8192);
    server.reply({ text: "c" });
    await complete([{ role: "user", content: "hi" }], { model: CURRENT, max_tokens: 2000 }, undefined, []);
    expect(server.requests[2]!.body.max_tokens).toBe(2000);

    server.anthropic.stopReason = "refusal";
    server.reply({ text: "" });
    const refused = await refusal(complete([{ role: "user", content: "hi" }], { model: CURRENT }, undefined, []));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/declined to answer \(stop_reason "refusal"/);

    // cut off in a tool call's input: not usable
    server.anthropic.stopReason = "max_tokens";
    server.reply({ reasoning: "Long.", toolCalls: [{ name: "echo", arguments: { n: 1 } }] });
    const cut = await refusal(complete([{ role: "user", content: "hi" }], { model: CURRENT }));
    expect(cut.retryable).toBe(false);
    expect(cut.message).toMatch(new RegExp(`stopped at max_tokens \\(${ANTHROPIC_MAX_TOKENS_CAP}\\).*up to 128000`));
    // a text answer cut short is still an answer
    server.reply({ text: "A long answer that got cu" });
    await expect(complete([{ role: "user", content: "hi" }], { model: CURRENT })).resolves.toMatchObject({ text: "A long answer that got cu" });
  });
});

describe("models table: the Anthropic capability fields agree with the fake's per-model rules (both from Anthropic's documentation)", () => {
  it("claude-opus-5 turns thinking off at effort high or below; the fake refuses it at xhigh and max", async () => {
    server.reset();
    server.reply({ text: "off" });
    await expect(
      complete([{ role: "user", content: "hi" }], { model: "claude-opus-5", thinking: "off", effort: "high" }, undefined, []),
    ).resolves.toMatchObject({
      text: "off",
    });
    for (const effort of ["xhigh", "max"]) {
      const error = await refusal(complete([{ role: "user", content: "hi" }], { model: "claude-opus-5", thinking: "off", effort }, undefined, []));
      expect(error.message).toMatch(/only at effort \\?"high\\?" or below/);
    }
  });

  it("every model of the table, each rule", () => {
    const rules = FAKE_ANTHROPIC_MODEL_RULES;
    const disagreements: string[] = [];
    for (const [model, entry] of Object.entries(builtinModels().anthropic!)) {
      const listed = (list: readonly string[]) => list.includes(model);
      const check = (what: string, table: boolean, fake: boolean) => {
        if (table !== fake) disagreements.push(`${model}: ${what}: table ${table}, fake ${fake}`);
      };
      check("no budget thinking", entry.thinking === false && entry.adaptive_thinking === true, listed(rules.NO_BUDGET_THINKING));
      check("refuses thinking off (thinking_off false)", entry.thinking_off === false, listed(rules.ALWAYS_THINKS) || listed(rules.NO_THINKING_OFF));
      check("thinks by default", entry.thinks_by_default === true, listed(rules.ALWAYS_THINKS));
      check("interleaved thinking needs the beta", entry.interleaved_thinking_beta === true, listed(rules.INTERLEAVED_WITH_BETA));
      check("no adaptive thinking", entry.adaptive_thinking === false && entry.thinking === true, listed(rules.NO_ADAPTIVE_THINKING));
      check("preserved thinking", entry.preserved_thinking === true, listed(rules.PRESERVED_THINKING));
      check(
        "thinking off only up to effort high",
        JSON.stringify(entry.thinking_off_efforts) === JSON.stringify(["low", "medium", "high"]),
        listed(rules.THINKING_OFF_UP_TO_HIGH),
      );
      check("no forced tool use", entry.forced_tool_choice === false, listed(rules.NO_FORCED_TOOL_USE));
      check("no temperature", entry.temperature === false, listed(rules.NO_TEMPERATURE));
      check("no JSON outputs", entry.output_format !== true, listed(rules.NO_OUTPUT_FORMAT));
    }
    expect(disagreements).toEqual([]);
  });
});

describe("agent config: what current Claude models take, checked when an agent is written", () => {
  const issues = (config: Record<string, unknown>): string[] => {
    const result = AgentConfigWriteSchema.safeParse({ provider: "anthropic", ...config });
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("refuses what the models table says a model refuses, naming the field and what to use instead", () => {
    expect(issues({ model: CURRENT, thinking_budget_tokens: 2048 })).toEqual([
      `thinking_budget_tokens: model ${CURRENT} does not support extended thinking with a budget (models table; it thinks adaptively): remove thinking_budget_tokens and set thinking to "adaptive" (with effort to steer how much it thinks), or set model_info.thinking to true if it does`,
    ]);
    expect(issues({ model: CURRENT, thinking: "off" })).toEqual([
      `thinking: model ${CURRENT} always thinks and refuses thinking "off" (models table): remove thinking and set a lower effort to make it think less, or set model_info.thinking_off to true if it can`,
    ]);
    expect(issues({ model: "claude-opus-4-7", temperature: 0.3 })).toEqual([
      "temperature: model claude-opus-4-7 refuses a sampling temperature (models table): remove temperature (steer it with effort and the prompt), or set model_info.temperature to true if it takes one",
    ]);
    expect(issues({ model: OLDER, thinking: "adaptive" })).toEqual([
      `thinking: model ${OLDER} does not support adaptive thinking (models table): remove thinking and set thinking_budget_tokens for extended thinking, or set model_info.adaptive_thinking to true if it does`,
    ]);
    expect(issues({ model: "claude-haiku-4-5-20251001", effort: "low" })).toEqual([
      "effort: model claude-haiku-4-5-20251001 does not take effort (models table): remove effort, or set model_info.effort_levels to the levels it takes",
    ]);
    expect(issues({ model: "claude-opus-4-6", effort: "xhigh" })).toEqual([
      `effort: "xhigh" is not an effort level of model claude-opus-4-6 (models table: low, medium, high, max); use one of those, or set model_info.effort_levels if it takes more`,
    ]);
    expect(issues({ model: "claude-opus-4-6", thinking: "adaptive", thinking_budget_tokens: 2048 })).toEqual([
      'thinking: cannot be set with thinking_budget_tokens: use thinking_budget_tokens (budget thinking, models before Claude 4.7) or thinking "adaptive" (Claude 4.6 and later), not both',
    ]);
    expect(issues({ model: "claude-opus-5", thinking: "off", effort: "max" })).toEqual([
      'thinking: model claude-opus-5 turns thinking off only at effort low, medium, high (models table), not "max": lower effort, or remove thinking "off"',
    ]);
    expect(issues({ model: CURRENT, effort: "extreme" })[0]).toMatch(/^effort: must be one of low, medium, high, xhigh, max/);
  });

  it("accepts what each model takes, and the agent's model_info over the table", () => {
    expect(issues({ model: CURRENT, thinking: "adaptive", effort: "max", output_schema: SCHEMA })).toEqual([]);
    expect(issues({ model: "claude-fable-5-2-20261101", effort: "xhigh" })).toEqual([]);
    expect(issues({ model: "claude-opus-4-6", thinking_budget_tokens: 2048 })).toEqual([]);
    expect(issues({ model: "claude-opus-5", thinking: "off" })).toEqual([]);
    expect(issues({ model: "claude-opus-5", thinking: "off", effort: "high" })).toEqual([]);
    expect(issues({ model: OLDER, thinking_budget_tokens: 2048, temperature: 0.5, output_schema: SCHEMA })).toEqual([]);
    expect(issues({ model: "claude-test", thinking: "adaptive", effort: "max", temperature: 0.5 })).toEqual([]);
    expect(issues({ model: "claude-opus-4-7", temperature: 0.3, model_info: { temperature: true } })).toEqual([]);
  });
});

describe(`engine: a ${CURRENT} agent with adaptive thinking, a tool and an output_schema`, () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  it("runs its tool loop with thinking replayed and answers through output_config.format; the run's output is the validated JSON", async () => {
    server.reset();
    const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
    try {
      server.reply({ reasoning: "First echo 1.", toolCalls: [{ name: "echo", arguments: { n: 1 } }] });
      server.reply({ reasoning: "Then echo 2.", toolCalls: [{ name: "echo", arguments: { n: 2 } }] });
      server.reply({ reasoning: "1 + 2 = 3.", text: '{"total":3}' });
      const agentConfig = AgentConfigWriteSchema.parse({
        provider: "anthropic",
        model: CURRENT,
        base_url: server.anthropicBaseURL,
        api_key_env: KEY_ENV,
        thinking: "adaptive",
        effort: "medium",
        tools: ["echo"],
        output_schema: SCHEMA,
        retry: fast,
      });
      const agent = await createAgent(db.pool, agentConfig);
      const runId = await startRun(db.pool, agent, "Echo 1 and 2, then give their total.");
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      expect((run.output as { json?: unknown } | null)?.json).toEqual({ total: 3 });

      expect(server.requests).toHaveLength(3);
      for (const request of server.requests) {
        expect(request.body.thinking).toEqual({ type: "adaptive", display: "summarized" });
        expect(request.body.output_config).toEqual({ format: { type: "json_schema", schema: SCHEMA }, effort: "medium" });
        expect(request.body.tool_choice).toBeUndefined();
        expect(server.anthropic.check(request.body, request.apiKey)).toBeUndefined();
      }
      const steps = await getSteps(db.pool, runId);
      expect(steps.map((s) => s.kind)).toEqual(["llm", "tool", "llm", "tool", "llm"]);
      const llmSteps = steps.filter((s) => s.kind === "llm");
      // each committed turn's thinking is what the next request sent back
      for (const [i, step] of llmSteps.slice(0, 2).entries()) {
        const recorded = (llmOutput(step).replay!.data as { content: AnthropicReplayBlock[] }).content;
        expect(recorded[0]).toMatchObject({ type: "thinking" });
        expect(assistantTurns(i + 1)[i]!.content).toEqual(recorded);
      }
      await assertValidAgUiLog(await getEvents(db.pool, runId));
    } finally {
      await worker.stop();
    }
  });
});
