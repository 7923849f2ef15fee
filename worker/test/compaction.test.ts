// Context compaction (docs/context.md): a long tool loop of an openai agent (the real SDK, chat
// completions) against the fake server with a small context window (the fake refuses a request
// over it, and records every request's size): no request is over the agent's budget, the run
// compacts again and again and finishes, large tool results reach the model as stubs and
// read_result reads them back in slices; kill -9 during a compaction step: the step is done again
// and committed once. Also: the config's validation, where turns may be cut, read_result's scope.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { createAgent, createTestDatabase, getEvents, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { AgentConfigSchema, AgentConfigWriteSchema, UsageSchema } from "../../db/schemas.ts";
import type { HistoryEntry } from "../../db/sql/beginStep.ts";
import { rerunRun } from "../../db/sql/rerunRun.ts";
import { threadHistory, threadHistorySinceSummary } from "../../db/sql/threadHistory.ts";
import { threadToolResult } from "../../db/sql/threadToolResult.ts";
import { randomBytes } from "node:crypto";
import { charsPerToken, compactionFromEnv, contextSettings, estimateTokens } from "../context/budget.ts";
import {
  cutPoints,
  entryKey,
  STUB_PREVIEW_CHARS,
  stubToolResults,
  summaryConfig,
  toolResultStub,
  transcript,
  type CompactionOutput,
} from "../context/compaction.ts";
import { ANTHROPIC_DEFAULT_OUTPUT, ANTHROPIC_OUTPUT_CAP } from "../context/output.ts";
import { ANTHROPIC_MAX_TOKENS_CAP, DEFAULT_ANTHROPIC_MAX_TOKENS } from "../providers/anthropic.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { readResultTool } from "../tools/read-result.ts";
import type { ToolContext } from "../tools/types.ts";
import type { ChatMessage } from "../providers/types.ts";
import { FakeLlmServer, type FakeReply, type RecordedRequest } from "./fake-llm-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const KEY_ENV = "EVERRUNS_TEST_OPENAI_KEY";
/** The fake model's context window (tokens): the fake refuses a request over it. */
const WINDOW = 16_000;
const BUDGET = Math.floor(WINDOW * 0.8);
/** The turns of the long run (the bench drives 2,000: scripts/bench/compaction.ts). */
const TURNS = Number(process.env.COMPACTION_TEST_TURNS ?? 300);
const BIG_RESULT_CHARS = 12_000;
const STUB_AT = 4000;

let db: TestDatabase;
let llm: FakeLlmServer;

beforeAll(async () => {
  db = await createTestDatabase();
  llm = await FakeLlmServer.start();
  process.env[KEY_ENV] = "test-key";
});

afterAll(async () => {
  await llm?.close();
  await db?.drop();
});

interface ChatBodyMessage {
  role: string;
  content?: string | null;
  tool_call_id?: string;
}

/** What the fake saw of the conversation, for the test's checks. */
interface Transcript {
  turns: number;
  summaries: number;
  /** read_result results the model got: the call id read and the text it got */
  reads: Array<{ id: string; content: string }>;
  stubsSeen: number;
  /** the call whose result the model asked read_result for, answered in the next request */
  asked?: string;
}

const isSummaryCall = (messages: ChatBodyMessage[]) => String(messages[0]?.content ?? "").startsWith("You compact the working memory");

/**
 * A model that works through `turns` turns, one echo call each (every tenth with a note of
 * BIG_RESULT_CHARS: its result is stubbed), reads a stubbed result with read_result every tenth
 * turn, then answers; a summary call gets a short summary. Deterministic: the same turns give
 * requests of the same sizes, so the same steps compact on every run.
 */
function model(turns: number, seen: Transcript, options: { failFirstSummary?: boolean; noBigResults?: boolean } = {}): (request: RecordedRequest) => FakeReply {
  return (request) => {
    const messages = (request.body.messages ?? []) as ChatBodyMessage[];
    if (isSummaryCall(messages)) {
      seen.summaries++;
      if (options.failFirstSummary && seen.summaries === 1) return { error: { status: 503, message: "overloaded" } };
      return { text: `Summary ${seen.summaries}: echoed findings 1 to ${seen.turns}; ${"kept facts ".repeat(60)}` };
    }
    const last = messages[messages.length - 1];
    if (seen.asked !== undefined) seen.reads.push({ id: seen.asked, content: last?.role === "tool" ? String(last.content) : "(no tool result)" });
    seen.asked = undefined;
    seen.stubsSeen += messages.filter((m) => m.role === "tool" && String(m.content).startsWith("[This tool result is")).length > 0 ? 1 : 0;
    const turn = ++seen.turns;
    if (turn > turns) return { text: "All findings recorded." };
    if (turn % 10 === 5) {
      const stub = [...messages].reverse().find((m) => m.role === "tool" && String(m.content).startsWith("[This tool result is"));
      if (stub?.tool_call_id) {
        seen.asked = stub.tool_call_id;
        return {
          text: `Turn ${turn}: reading.`,
          toolCalls: [{ name: "read_result", arguments: { tool_call_id: stub.tool_call_id, offset: STUB_PREVIEW_CHARS, limit: 1000 } }],
        };
      }
    }
    const note =
      turn % 10 === 0 && !options.noBigResults ? `finding ${turn}: ${"z".repeat(BIG_RESULT_CHARS)}` : `finding ${turn}: ${"the quick brown fox ".repeat(25)}`;
    return { text: `Turn ${turn}.`, toolCalls: [{ name: "echo", arguments: { note } }] };
  };
}

function agentConfig(turns: number): Record<string, unknown> {
  return {
    provider: "openai",
    api: "chat_completions",
    model: "fake-small",
    base_url: llm.openaiBaseURL,
    api_key_env: KEY_ENV,
    system_prompt: "You record findings, one echo call each.",
    tools: ["echo"],
    max_steps: 4 * turns + 200,
    retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 },
    model_info: { context_window: WINDOW },
    context: { tool_result_max_chars: STUB_AT },
  };
}

interface Step {
  seq: number;
  kind: string;
  attempt: number;
  output: Record<string, unknown>;
  usage: unknown;
  duration_ms: string;
}

/** A run's steps, compaction steps included (db/test/helpers.ts getSteps types the older kinds only). */
async function getSteps(runId: string): Promise<Step[]> {
  const { rows } = await db.pool.query<Step>("select seq, kind, attempt, output, usage, duration_ms from everruns.run_steps where run_id = $1 order by seq", [
    runId,
  ]);
  return rows;
}

const compactions = (steps: Step[]) => steps.filter((s) => s.kind === "compaction");

describe("config", () => {
  const base = { provider: "scripted" };
  const problems = (context: unknown, extra: Record<string, unknown> = {}) => {
    const parsed = AgentConfigWriteSchema.safeParse({ ...base, ...extra, context });
    return parsed.success ? "" : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  };

  it("refuses what is not a setting, out of bounds, or over the model's window, naming the field", () => {
    expect(problems({ strategy: "truncate" })).toMatch(/context\.strategy: must be "summarize" \(the default\) or "off"/);
    expect(problems({ max_token: 5000 })).toMatch(/context: is not a setting of context \(strategy, max_tokens/);
    expect(problems({ max_tokens: 10 })).toMatch(/context\.max_tokens: must be at least 1000 tokens/);
    expect(problems({ max_tokens: 1.5 })).toMatch(/context\.max_tokens: must be a whole number of tokens/);
    expect(problems({ keep_turns: 0 })).toMatch(/context\.keep_turns/);
    expect(problems({ tool_result_max_chars: 10 })).toMatch(/context\.tool_result_max_chars: must be at least 1000 characters/);
    expect(problems({ summary_model: "" })).toMatch(/context\.summary_model: must name a model/);
    expect(problems({ max_tokens: 300_000 }, { provider: "anthropic", model: "claude-sonnet-4-5" })).toMatch(
      /context\.max_tokens: is 300000, more than model claude-sonnet-4-5's context window of \d+ tokens/,
    );
    expect(problems({ max_tokens: 50_000, keep_turns: 2, summary_model: "claude-haiku-4-5" }, { provider: "anthropic", model: "claude-sonnet-4-5" })).toBe("");
  });

  it("resolves the budget: a fraction of the window leaving room for max_tokens, max_tokens when given, none when the window is unknown or off", () => {
    const settings = (config: Record<string, unknown>) => contextSettings(AgentConfigSchema.parse(config));
    expect(settings({ provider: "openai", model: "unknown-model" })).toBeNull();
    expect(settings({ provider: "openai", model: "unknown-model", context: { max_tokens: 5000 } })?.budget).toBe(5000);
    expect(settings({ provider: "openai", model: "unknown-model", model_info: { context_window: 10_000 } })?.budget).toBe(8000);
    expect(settings({ provider: "openai", model: "unknown-model", model_info: { context_window: 10_000 }, max_tokens: 4000 })?.budget).toBe(6000);
    expect(settings({ provider: "openai", model: "unknown-model", model_info: { context_window: 10_000 }, context: { strategy: "off" } })).toBeNull();
    const defaults = settings({ provider: "openai", model: "unknown-model", model_info: { context_window: 10_000 } });
    expect(defaults).toMatchObject({ keepTurns: 4, toolResultMaxChars: 20_000, summaryMaxTokens: 1000 });
  });
});

describe("review fixes", () => {
  const settings = (config: Record<string, unknown>) => contextSettings(AgentConfigSchema.parse(config));
  const problems = (config: Record<string, unknown>) => {
    const parsed = AgentConfigWriteSchema.safeParse(config);
    return parsed.success ? "" : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  };

  it("estimates at the observed ratio of the last call: dense text counts more than 4 characters a token", () => {
    expect(charsPerToken(undefined)).toBe(4);
    expect(charsPerToken({ chars: 10_000, input_tokens: 10_000 })).toBe(1);
    expect(charsPerToken({ chars: 10_000, input_tokens: 1000 })).toBe(4); // sparser than 4 is not trusted
    expect(estimateTokens(15_000, { chars: 10_000, input_tokens: 10_000 })).toBe(15_000);
    expect(estimateTokens(15_000, { chars: 10_000, input_tokens: 2500 })).toBe(3750);
  });

  it("the default budget leaves the window room for the output: max_tokens, else the provider's default with a thinking budget", () => {
    expect([ANTHROPIC_DEFAULT_OUTPUT, ANTHROPIC_OUTPUT_CAP]).toEqual([DEFAULT_ANTHROPIC_MAX_TOKENS, ANTHROPIC_MAX_TOKENS_CAP]);
    const unknown = { provider: "anthropic", model: "claude-unknown-x", model_info: { context_window: 40_000 } };
    // the provider's default max_tokens for a model the table does not know: 8192
    expect(settings(unknown)?.budget).toBe(40_000 - 8192);
    expect(settings({ ...unknown, max_tokens: 2000 })?.budget).toBe(32_000);
    // a thinking budget above max_tokens is sent on top of it
    expect(settings({ ...unknown, max_tokens: 4000, thinking_budget_tokens: 10_000 })?.budget).toBe(40_000 - 14_000);
    // openai without max_tokens: the model may answer up to its max_output_tokens
    expect(settings({ provider: "openai", model: "x", model_info: { context_window: 100_000, max_output_tokens: 30_000 } })?.budget).toBe(70_000);
    // written: an explicit budget above the window less the output is refused
    const sonnet = { provider: "anthropic", model: "claude-sonnet-4-5" };
    expect(problems({ ...sonnet, context: { max_tokens: 190_000 } })).toMatch(/context\.max_tokens: is 190000, more than .* less the 32000 output tokens/);
    expect(problems({ ...sonnet, max_tokens: 4000, context: { max_tokens: 190_000 } })).toBe("");
  });

  it("the summary call takes the provider, key, base_url and summary model only, thinking off and max_tokens the summary's", () => {
    const agent = AgentConfigSchema.parse({
      provider: "anthropic",
      model: "claude-opus-4-6",
      base_url: "https://llm.example.com",
      api_key_env: "MY_KEY",
      thinking: "adaptive",
      effort: "high",
      temperature: 0.3,
      model_info: { context_window: 50_000 },
      output_schema: { type: "object" },
      context: { summary_model: "claude-haiku-4-5", max_tokens: 20_000 },
    });
    const cfg = summaryConfig(agent, contextSettings(agent)!) as Record<string, unknown>;
    expect(cfg).toMatchObject({ provider: "anthropic", model: "claude-haiku-4-5", base_url: "https://llm.example.com", api_key_env: "MY_KEY" });
    expect(cfg).toMatchObject({ thinking: "off", max_tokens: 2500, tools: [] });
    for (const key of ["effort", "temperature", "model_info", "output_schema", "thinking_budget_tokens"]) expect(cfg[key], key).toBeUndefined();
    const openai = AgentConfigSchema.parse({
      provider: "openai",
      model: "gpt-4.1",
      temperature: 1.2,
      context: { summary_model: "gpt-5", max_tokens: 20_000 },
    });
    const ocfg = summaryConfig(openai, contextSettings(openai)!) as Record<string, unknown>;
    // a reasoning model cannot stop reasoning: the lowest effort every one takes, and room for the reasoning
    expect(ocfg).toMatchObject({ model: "gpt-5", reasoning_effort: "low", max_tokens: 5000 });
    expect(ocfg.temperature).toBeUndefined();
    // written: a summary model whose window is smaller than the budget is refused
    expect(problems({ provider: "openai", model: "gpt-4.1", context: { summary_model: "gpt-3.5-turbo", max_tokens: 100_000 } })).toMatch(
      /context\.summary_model: model gpt-3\.5-turbo's context window of \d+ tokens .* is smaller than the context budget of 100000/,
    );
  });

  it("summary_max_tokens over an eighth of the budget is refused when written", () => {
    expect(problems({ provider: "scripted", context: { max_tokens: 8000, summary_max_tokens: 1001 } })).toMatch(
      /context\.summary_max_tokens: is 1001, more than an eighth of the context budget of 8000 tokens \(1000\)/,
    );
    expect(problems({ provider: "scripted", context: { max_tokens: 8000, summary_max_tokens: 1000 } })).toBe("");
  });

  it("the transcript keeps the task and system messages whole, and drops the oldest others", () => {
    const task = `The task: ${"t".repeat(6000)}`;
    const system = `Rules: ${"s".repeat(5000)}`;
    const others = Array.from({ length: 20 }, (_, i): ChatMessage => ({ role: "assistant", content: `note ${i} ${"n".repeat(3000)}`, tool_calls: [] }));
    const text = transcript([{ role: "system", content: system }, { role: "user", content: task }, ...others], 30_000);
    expect(text.length).toBeLessThanOrEqual(30_000);
    expect(text).toContain(`[user] ${task}`);
    expect(text).toContain(`[system] ${system}`);
    expect(text).toMatch(/\[\d+ message\(s\) omitted here: too long to summarise at once\]/);
    expect(text).toContain("note 19 ");
    expect(text).not.toContain("note 0 ");
  });

  it("stubs only results read_result can read, and keeps the latest turn's whole when asked", () => {
    const big = "y".repeat(5000);
    const messages: ChatMessage[] = [
      { role: "assistant", content: "", tool_calls: [{ id: "old", name: "echo", arguments: {} }] },
      { role: "tool", tool_call_id: "old", content: big },
      { role: "assistant", content: "", tool_calls: [{ id: "client", name: "lookup", arguments: {} }] },
      { role: "tool", tool_call_id: "client", content: big },
      { role: "assistant", content: "", tool_calls: [{ id: "new", name: "echo", arguments: {} }] },
      { role: "tool", tool_call_id: "new", content: big },
    ];
    const readable = (id: string) => id !== "client";
    const kept = stubToolResults(messages, 4000, { readable, keepLatest: true });
    expect(kept.stubbed).toBe(1);
    expect(kept.messages.map((m) => m.content === big)).toEqual([false, false, false, true, false, true]);
    const all = stubToolResults(messages, 4000, { readable });
    expect(all.messages.map((m) => m.content === big)).toEqual([false, false, false, true, false, false]);
  });

  it("EVERRUNS_CONTEXT_COMPACTION: on by default, off turns it off, anything else is refused", () => {
    expect(compactionFromEnv({})).toBe(true);
    expect(compactionFromEnv({ EVERRUNS_CONTEXT_COMPACTION: "off" })).toBe(false);
    expect(compactionFromEnv({ EVERRUNS_CONTEXT_COMPACTION: " ON " })).toBe(true);
    expect(() => compactionFromEnv({ EVERRUNS_CONTEXT_COMPACTION: "maybe" })).toThrow(/EVERRUNS_CONTEXT_COMPACTION must be "on" or "off"/);
  });
});

describe("turns and stubs", () => {
  const input = (run: string, messages: unknown[]): HistoryEntry => ({ kind: "input", run_id: run, input: { messages } });
  const llmStep = (seq: number, calls: string[]): HistoryEntry => ({
    kind: "step",
    run_id: "r1",
    step: {
      seq,
      kind: "llm",
      name: "m",
      status: "succeeded",
      input: {},
      output: { message_id: `m${seq}`, text: "", tool_calls: calls.map((id) => ({ id, name: "echo", arguments: {} })) },
    },
  });
  const toolStep = (seq: number, id: string): HistoryEntry => ({
    kind: "step",
    run_id: "r1",
    step: {
      seq,
      kind: "tool",
      name: "echo",
      status: "succeeded",
      input: {},
      output: { tool_call_id: id, message_id: `t${seq}`, content: "ok", is_error: false },
    },
  });

  it("cuts only before an input or an LLM turn, never between a call and its result (a client's answer in a later input included)", () => {
    const history = [
      input("r1", [{ role: "user", content: "go" }]),
      llmStep(1, ["a", "b"]),
      toolStep(2, "a"),
      toolStep(3, "b"),
      llmStep(4, ["c"]), // a client tool: answered in the next run's input, committed as a tool step there
      input("r2", [{ role: "tool", toolCallId: "c", content: "client result" }]),
      toolStep(1, "c"),
      llmStep(2, []),
    ];
    // 1 (the first turn), 4 (after a and b were answered), 7 (after c was); not 5 or 6: c's answer comes after them
    expect(cutPoints(history)).toEqual([1, 4, 7]);
  });

  it("stubs results over the size, naming the call and its size with a preview, except read_result's own", () => {
    const big = "y".repeat(5000);
    const { messages, stubbed } = stubToolResults(
      [
        {
          role: "assistant",
          content: "",
          tool_calls: [
            { id: "c1", name: "echo", arguments: {} },
            { id: "c2", name: "read_result", arguments: {} },
          ],
        },
        { role: "tool", tool_call_id: "c1", content: big },
        { role: "tool", tool_call_id: "c2", content: big },
      ],
      4000,
    );
    expect(stubbed).toBe(1);
    expect(messages[1]!.content).toBe(toolResultStub("c1", big, 4000));
    expect(messages[1]!.content).toMatch(
      /^\[This tool result is 5000 characters, more than the 4000 sent whole .*read_result tool: \{"tool_call_id": "c1", "offset": 500, "limit": 4000\}\]\ny{500}$/,
    );
    expect(messages[2]!.content).toBe(big);
  });
});

describe("a long run against a small context window", () => {
  let worker: WorkerHandle;
  let firstCompactions: number[] = [];

  beforeAll(async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn"), scheduler: false });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it(`${TURNS} turns with large tool results: no request over the budget, compacts repeatedly, finishes; stubs and read_result`, async () => {
    llm.reset();
    llm.openai.countTokens = true;
    llm.maxInputTokens = WINDOW;
    const seen: Transcript = { turns: 0, summaries: 0, reads: [], stubsSeen: 0 };
    llm.responder = model(TURNS, seen);
    const agent = await createAgent(db.pool, agentConfig(TURNS));
    const started = performance.now();
    const runId = await startRun(db.pool, agent, "Record the findings.");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
    const wallMs = performance.now() - started;
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");

    // every request the fake received, turns and summaries, was within the budget (the fake's own count)
    expect(llm.requests.length).toBe(TURNS + 1 + seen.summaries);
    const over = llm.inputTokens.map((t, i) => ({ i, t })).filter(({ t }) => t > BUDGET);
    expect(over, `requests over the budget of ${BUDGET} tokens`).toEqual([]);

    const steps = await getSteps(runId);
    const compacted = compactions(steps);
    firstCompactions = compacted.map((s) => s.seq);
    expect(compacted.length).toBe(seen.summaries);
    expect(compacted.length).toBeGreaterThanOrEqual(5);
    // the whole history stays: every turn's LLM step and tool step
    expect(steps.filter((s) => s.kind === "llm")).toHaveLength(TURNS + 1);
    expect(steps.filter((s) => s.kind === "tool")).toHaveLength(TURNS);
    for (const s of compacted) {
      const out = s.output as unknown as CompactionOutput;
      expect(out.tokens_before).toBeGreaterThan(BUDGET);
      expect(out.tokens_after).toBeLessThanOrEqual(BUDGET);
      expect(out.summary).toMatch(/^Summary \d+: /);
    }
    // its usage is in the run's: the run's input tokens are the sum of every step's, the summaries' included
    const usage = UsageSchema.parse(run.usage);
    const sum = steps.reduce((n, s) => n + (s.usage ? UsageSchema.parse(s.usage).input_tokens : 0), 0);
    expect(usage.input_tokens).toBe(sum);
    expect(compacted.every((s) => UsageSchema.parse(s.usage).input_tokens > 0)).toBe(true);

    // large results reached the model as stubs; read_result gave the slice of the stored result
    expect(seen.stubsSeen).toBeGreaterThan(0);
    expect(seen.reads.length).toBeGreaterThan(5);
    for (const read of seen.reads) {
      expect(read.content).toMatch(
        new RegExp(`^\\[characters 500 to 1500 of \\d+ of the result of call ${read.id}; the next slice starts at offset 1500\\]\\n`),
      );
      expect(read.content.endsWith("z".repeat(1000))).toBe(true);
    }

    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const custom = events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.compaction");
    expect(custom).toHaveLength(compacted.length);
    expect(events.filter((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes(": compaction "))).toHaveLength(compacted.length);

    // figures for the note
    const summaryTokens = compacted.map((s) => UsageSchema.parse(s.usage));
    const perCompaction = summaryTokens.reduce((n, u) => n + u.input_tokens + u.output_tokens, 0) / compacted.length;
    const ms = compacted.map((s) => Number(s.duration_ms));
    const { rows } = await db.pool.query<{ bytes: string; rows: string }>(
      "select sum(pg_column_size(s.*))::text as bytes, count(*)::text as rows from everruns.run_steps s where run_id = $1",
      [runId],
    );
    console.log(
      `[compaction] ${TURNS} turns, ${steps.length} steps, ${compacted.length} compactions in ${(wallMs / 1000).toFixed(1)} s; ` +
        `per compaction: ${Math.round(perCompaction)} tokens (input+output of the summary call), ${Math.round(ms.reduce((a, b) => a + b, 0) / ms.length)} ms; ` +
        `largest request ${Math.max(...llm.inputTokens)} tokens of a budget of ${BUDGET}; history ${(Number(rows[0]!.bytes) / 1e6).toFixed(2)} MB in ${rows[0]!.rows} step rows`,
    );

    // a worker without the run's history reads the thread from the latest summary's entry on: the tail of the whole history
    const full = await threadHistory(db.pool, runId);
    const since = await threadHistorySinceSummary(db.pool, runId);
    expect(entryKey(since[0]!)).toEqual((compacted[compacted.length - 1]!.output as unknown as CompactionOutput).through);
    expect(since.length).toBeLessThan(full.length / 5);
    expect(full.slice(full.length - since.length)).toEqual(since);

    // read_result reads only its own thread's results
    const tool = steps.find((s) => s.kind === "tool" && (s.output as { content: string }).content.length > STUB_AT)!;
    const id = (tool.output as { tool_call_id: string }).tool_call_id;
    // the model got it whole in the turn right after the call (it fit the budget), and as the stub
    // on every later request that had it
    const content = (tool.output as { content: string }).content;
    const sentFor = llm.requests.flatMap((r) => ((r.body.messages ?? []) as ChatBodyMessage[]).filter((m) => m.role === "tool" && m.tool_call_id === id));
    expect(sentFor.length).toBeGreaterThan(1);
    expect(sentFor[0]!.content === content).toBe(true);
    for (const m of sentFor.slice(1)) expect(m.content === toolResultStub(id, content, STUB_AT)).toBe(true);
    const other = await startRun(db.pool, await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }), "other thread");
    await waitForStatus(db.pool, other, ["succeeded"]);
    expect(await threadToolResult(db.pool, other, id, 0, 10)).toBeNull();
    expect(await threadToolResult(db.pool, runId, id, 0, 10)).toEqual({ total: (tool.output as { content: string }).content.length, slice: '{"note":"f' });
    const read = (runOf: string) =>
      readResultTool.execute({ tool_call_id: id, offset: 0, limit: 20 }, {
        readToolResult: (callId, offset, limit) => threadToolResult(db.pool, runOf, callId, offset, limit),
      } as ToolContext);
    await expect(read(other)).rejects.toThrow(`this thread has no tool result with tool_call_id "${id}"`);
    await expect(read(runId)).resolves.toMatch(
      /^\[characters 0 to 20 of \d+ of the result of call .*; the next slice starts at offset 20\]\n\{"note":"finding \d+:$/,
    );
    await expect(readResultTool.execute({ tool_call_id: id, limit: 10_000_000 }, {} as ToolContext)).rejects.toThrow(
      /"limit" must be a whole number from 1 to 50000/,
    );
  }, 180_000);

  it("dense text (the provider counts a token a character): the observed ratio keeps every request within the budget", async () => {
    llm.reset();
    llm.openai.countTokens = true;
    llm.openai.charsPerToken = 1;
    llm.maxInputTokens = WINDOW;
    const seen: Transcript = { turns: 0, summaries: 0, reads: [], stubsSeen: 0 };
    const turns = 80;
    llm.responder = model(turns, seen, { noBigResults: true });
    const runId = await startRun(db.pool, await createAgent(db.pool, agentConfig(turns)), "Record the findings.");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 60_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    // none refused by the fake's window (its count of the whole body), and the provider's count of every call within the budget
    expect(llm.inputTokens.filter((t) => t > WINDOW)).toEqual([]);
    const { rows } = await db.pool.query<{ input: { context?: { chars: number; input_tokens: number; budget: number } } }>(
      "select input from everruns.run_steps where run_id = $1 and kind = 'llm' order by seq",
      [runId],
    );
    expect(rows).toHaveLength(turns + 1);
    // every managed LLM step records what it sent, however far from the budget
    for (const { input } of rows) expect(input.context).toMatchObject({ budget: BUDGET, input_tokens: expect.any(Number) as number });
    const counted = rows.map((r) => r.input.context!.input_tokens);
    expect(counted.filter((t) => t > BUDGET)).toEqual([]);
    expect(Math.max(...counted)).toBeGreaterThan(BUDGET / 2);
    const compacted = compactions(await getSteps(runId));
    expect(compacted.length).toBeGreaterThanOrEqual(2);
    expect(compacted.length).toBe(seen.summaries);
  }, 60_000);

  it("a failed summary call is retried with the agent's retry policy, as an LLM call is", async () => {
    llm.reset();
    llm.openai.countTokens = true;
    llm.maxInputTokens = WINDOW;
    const seen: Transcript = { turns: 0, summaries: 0, reads: [], stubsSeen: 0 };
    llm.responder = model(60, seen, { failFirstSummary: true });
    const runId = await startRun(db.pool, await createAgent(db.pool, agentConfig(60)), "Record the findings.");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 60_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const steps = await getSteps(runId);
    const compacted = compactions(steps);
    expect(compacted.length).toBeGreaterThanOrEqual(1);
    expect(seen.summaries).toBe(compacted.length + 1);
    const retries = (await getEvents(db.pool, runId)).filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.retry");
    expect(retries.map((e) => e.event.value)).toEqual([
      {
        step: compacted[0]!.seq,
        attempt: 1,
        max_attempts: 3,
        delay_ms: expect.any(Number) as number,
        error: expect.objectContaining({ status: 503 }) as unknown,
      },
    ]);
  }, 60_000);

  it("workspace daily quotas count compaction steps (as they commit, and in a new quota's first count); read_result is offered after a summary", async () => {
    const workspace = async () =>
      (await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`compaction_${randomBytes(4).toString("hex")}`])).rows[0]!
        .id;
    const config = {
      provider: "scripted",
      tools: ["echo"],
      model_info: { context_window: 4000 },
      context: { keep_turns: 1, tool_result_max_chars: 1000 },
      // the scripted provider counts the messages' text as its input tokens: the turns' text fills the window
      script: [
        ...Array.from({ length: 16 }, (_, i) => ({ text: `${i} ${"v".repeat(1200)}`, tool_calls: [{ name: "echo", arguments: { n: i } }] })),
        { text: "done" },
      ],
    };
    const runIn = async (ws: string) => {
      const agent = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'compacting', $2) returning id", [
        ws,
        JSON.stringify(config),
      ]);
      const runId = await startRun(db.pool, agent.rows[0]!.id, "go");
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 30_000);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
      return runId;
    };
    const spent = async (runId: string, kind: string) => {
      const { rows } = await db.pool.query<{ tokens: string }>(
        "select coalesce(sum((usage ->> 'input_tokens')::bigint + (usage ->> 'output_tokens')::bigint), 0)::text as tokens from everruns.run_steps where run_id = $1 and kind = $2",
        [runId, kind],
      );
      return Number(rows[0]!.tokens);
    };
    const counted = async (ws: string) => {
      const { rows } = await db.pool.query<{ tokens: string }>(
        "select coalesce(sum(tokens), 0)::text as tokens from everruns_private.workspace_usage_days where workspace_id = $1",
        [ws],
      );
      return Number(rows[0]!.tokens);
    };
    const quota = JSON.stringify({ max_tokens_per_day: 1_000_000_000 });

    // a quota set before: each step counted as it commits
    const before = await workspace();
    await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [before, quota]);
    const first = await runIn(before);
    const compactionTokens = await spent(first, "compaction");
    expect(compactionTokens).toBeGreaterThan(0);
    expect(await counted(before)).toBe((await spent(first, "llm")) + compactionTokens);

    // a quota set after: its first count of the day includes them
    const after = await workspace();
    const second = await runIn(after);
    await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [after, quota]);
    expect(await counted(after)).toBe((await spent(second, "llm")) + (await spent(second, "compaction")));

    // every LLM call after a compaction offers read_result (the summary may name call ids)
    const { rows } = await db.pool.query<{ seq: number; kind: string; tools: string[] | null }>(
      "select seq, kind, input -> 'tools' as tools from everruns.run_steps where run_id = $1 and kind in ('llm', 'compaction') order by seq",
      [first],
    );
    const firstCompaction = rows.findIndex((r) => r.kind === "compaction");
    expect(firstCompaction).toBeGreaterThan(0);
    for (const r of rows.slice(firstCompaction).filter((x) => x.kind === "llm")) expect(r.tools, `step ${r.seq}`).toContain("read_result");
  });

  it("fails clearly, without looping, when one turn alone is over the budget", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", context: { max_tokens: 1000 }, script: [{ text: "never called" }] });
    const runId = await startRun(db.pool, agent, `Read this: ${"w".repeat(8000)}`);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 30_000);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "context_overflow" });
    expect(String((run.error as { message: string }).message)).toMatch(
      /^the next LLM call would send about \d+ tokens, over the agent's context budget of 1000, and the conversation since the last summary is a single turn.*raise context\.max_tokens/,
    );
    expect(compactions(await getSteps(runId))).toEqual([]);
  });

  it('strategy "off" sends the whole thread as before: no compaction, no stubs, nothing recorded', async () => {
    const note = "v".repeat(6000);
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      model_info: { context_window: 2000 },
      context: { strategy: "off" },
      script: [...Array.from({ length: 3 }, () => ({ tool_calls: [{ name: "echo", arguments: { note } }] })), { text: "done" }],
    });
    const runId = await startRun(db.pool, agent, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 30_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const steps = await getSteps(runId);
    expect(compactions(steps)).toEqual([]);
    const llmInputs = (
      await db.pool.query<{ input: Record<string, unknown> }>("select input from everruns.run_steps where run_id = $1 and kind = 'llm'", [runId])
    ).rows;
    expect(llmInputs.every((r) => !("context" in r.input) && !(r.input.tools as string[]).includes("read_result"))).toBe(true);
    // the scripted model counts what it was sent: the last call got the three results whole
    const usage = await db.pool.query<{ input_tokens: number }>(
      "select (usage->>'input_tokens')::int as input_tokens from everruns.run_steps where run_id = $1 and kind = 'llm' order by seq desc limit 1",
      [runId],
    );
    expect(usage.rows[0]!.input_tokens).toBeGreaterThan((3 * 6000) / 4);
  });

  it("kill -9 during compaction steps (the first and a late one): the step is done again, committed once, and the run finishes", async () => {
    await worker.stop();
    const turns = Math.min(TURNS, 150);
    llm.reset();
    llm.openai.countTokens = true;
    llm.maxInputTokens = WINDOW;
    const seen: Transcript = { turns: 0, summaries: 0, reads: [], stubsSeen: 0 };
    llm.responder = model(turns, seen);
    const agent = await createAgent(db.pool, agentConfig(turns));
    const runId = await startRun(db.pool, agent, "Record the findings.");
    // the same conversation compacts at the same steps as the long run's (its sizes are the same)
    // (its steps: two a turn and the compactions; a late compaction well before its end)
    const points = [firstCompactions[0]!, [...firstCompactions].reverse().find((s) => s < 2 * turns - 20)!];
    expect(points[1]).toBeGreaterThan(points[0]!);
    const workers: WorkerProcess[] = [];
    const resumeMs: number[] = [];
    const committed = async (seq: number) => {
      for (;;) {
        const { rows } = await db.pool.query("select 1 from everruns.run_steps where run_id = $1 and seq = $2", [runId, seq]);
        if (rows.length > 0) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      // w1 dies in the first compaction; w2 redoes it, goes on and dies in the late one; w3 redoes that and finishes
      const w1 = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: `before_commit:${points[0]}` });
      workers.push(w1);
      expect((await w1.exited).signal, w1.output().slice(-2000)).toBe("SIGKILL");
      let crashedAt = performance.now();
      const w2 = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: `before_commit:${points[1]}` });
      workers.push(w2);
      await committed(points[0]!);
      resumeMs.push(performance.now() - crashedAt);
      expect((await w2.exited).signal, w2.output().slice(-2000)).toBe("SIGKILL");
      crashedAt = performance.now();
      const w3 = await spawnWorker(db.url);
      workers.push(w3);
      await committed(points[1]!);
      resumeMs.push(performance.now() - crashedAt);
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
    }
    const steps = await getSteps(runId);
    const compacted = compactions(steps);
    // one compaction committed at each point, its attempt the second; one per summary call committed
    for (const seq of points) {
      const step = steps.find((s) => s.seq === seq)!;
      expect(step.kind).toBe("compaction");
      expect(step.attempt).toBeGreaterThanOrEqual(2);
    }
    expect(compacted.map((s) => s.seq)).toEqual(firstCompactions.filter((s) => s <= steps.length));
    // the killed attempts' summary calls were made and lost with them: two more summaries than commits
    expect(seen.summaries).toBe(compacted.length + 2);
    expect(llm.inputTokens.filter((t) => t > BUDGET)).toEqual([]);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
    console.log(
      `[compaction] resume after kill -9 at the first compaction (step ${points[0]}): ${Math.round(resumeMs[0]!)} ms; at a late one (step ${points[1]}): ${Math.round(resumeMs[1]!)} ms`,
    );
  }, 240_000);
});

describe("the history a worker without the run's reads (run_history_compacted)", () => {
  it("starts at the latest summary's entry of the kept history: a rerun's replaced run and its compactions left out", async () => {
    const note = "n".repeat(600);
    const turns = (n: number) => Array.from({ length: n }, () => ({ tool_calls: [{ name: "echo", arguments: { note } }] }));
    const base = { provider: "scripted", tools: ["echo"], context: { max_tokens: 1000, keep_turns: 1 } };
    const agent = await createAgent(db.pool, { ...base, script: [...turns(8), { text: "done" }] });
    const worker = await startWorker({
      databaseUrl: db.url,
      concurrency: 2,
      shutdownTimeoutMs: 2000,
      log: consoleLogger("[test-worker]", "warn"),
      scheduler: false,
    });
    let run1: string, run2: string;
    try {
      run1 = await startRun(db.pool, agent, "first");
      expect((await waitForStatus(db.pool, run1, ["succeeded", "failed"], 30_000)).status).toBe("succeeded");
      // a second version that compacts too, then fails: its run is rerun, and the rerun replaces it in the history
      await db.pool.query("update everruns.agents set config = $2 where id = $1", [
        agent,
        JSON.stringify({ ...base, script: [...turns(8), { error: "bad_request" }] }),
      ]);
      const { rows } = await db.pool.query<{ id: string }>(
        "insert into everruns.runs (agent_id, thread_id, input) select $1, thread_id, $3 from everruns.runs where id = $2 returning id",
        [agent, run1, JSON.stringify({ messages: [{ role: "user", content: "second" }] })],
      );
      run2 = rows[0]!.id;
      expect((await waitForStatus(db.pool, run2, ["succeeded", "failed"], 30_000)).status).toBe("failed");
    } finally {
      await worker.stop();
    }
    expect(compactions(await getSteps(run1)).length).toBeGreaterThan(0);
    expect(compactions(await getSteps(run2)).length).toBeGreaterThan(0);

    const tailOf = async (runId: string) => {
      const full = await threadHistory(db.pool, runId);
      const since = await threadHistorySinceSummary(db.pool, runId);
      expect(full.slice(full.length - since.length)).toEqual(since);
      return since;
    };
    // run 2 reads from its own latest summary on
    const lastOf2 = compactions(await getSteps(run2)).at(-1)!.output as unknown as CompactionOutput;
    expect(entryKey((await tailOf(run2))[0]!)).toEqual(lastOf2.through);
    // its rerun (not begun: no worker) reads from run 1's latest summary on, none of run 2's entries
    const run3 = await rerunRun(db.pool, run2);
    const lastOf1 = compactions(await getSteps(run1)).at(-1)!.output as unknown as CompactionOutput;
    const since3 = await tailOf(run3);
    expect(entryKey(since3[0]!)).toEqual(lastOf1.through);
    expect(since3.some((e) => e.run_id === run2)).toBe(false);
    await db.pool.query("select everruns.cancel_run($1)", [run3]);
  }, 90_000);
});
