// Context compaction (docs/context.md): what an LLM call sends of its thread when the agent's
// context is managed, and the `compaction` step that keeps it within the budget. The thread's
// history is never changed: a compaction step commits a summary of the oldest turns and the
// history entry it covers through; later calls send the summary and the turns after that entry.
// Everything here is derived from committed steps, so a retried or resumed step decides the same.
import type { HistoryEntry } from "../../db/sql/beginStep.ts";
import type { StepRecord } from "../../db/sql/commitStep.ts";
import { AgentConfigSchema, LlmOutputSchema, RunInputSchema, ToolOutputSchema, type AgentConfig, type Usage } from "../../db/schemas.ts";
import { modelInfo } from "../../lib/models/catalog.ts";
import { StepAbort } from "../abort.ts";
import { chatMessages } from "../conversation.ts";
import { costUsd } from "../pricing.ts";
import { ProviderError, type ChatMessage, type Provider, type ToolDefinition } from "../providers/types.ts";
import { stepName, tokenUsage, type StepOutcome, type StepScope } from "../steps.ts";
import { READ_RESULT, READ_RESULT_MAX_LIMIT } from "../tools/read-result.ts";
import { charsPerToken, estimateTokens, fixedChars, lastSent, messageChars, messagesChars, type ContextSettings, type SentFigures } from "./budget.ts";

/** A history entry's identity: a run's input (seq -1) or one of its steps. */
export interface EntryKey {
  run_id: string;
  seq: number;
}

/** The output a compaction step commits (run_steps.output). */
export interface CompactionOutput {
  summary: string;
  /** the last history entry the summary covers: later calls send the entries after it */
  through: EntryKey;
  /** the estimated tokens of the call before and after this compaction */
  tokens_before: number;
  tokens_after: number;
  budget: number;
  /** the messages summarised by this compaction (the earlier ones are in the previous summary) */
  summarized_messages: number;
  /** the turns sent whole after it */
  kept_turns: number;
  model: string;
}

/** The characters of a large tool result shown in its stub. */
export const STUB_PREVIEW_CHARS = 500;
/** The share of the budget a compaction aims for: the rest is room for the turns to come before the next one. */
const TARGET_FRACTION = 0.6;
/** Each message of the transcript a summary is written from is cut to this many characters. */
const TRANSCRIPT_MESSAGE_CHARS = 4000;

export function entryKey(e: HistoryEntry): EntryKey {
  return e.kind === "input" ? { run_id: e.run_id, seq: -1 } : { run_id: e.run_id, seq: e.step.seq };
}

function sameKey(e: HistoryEntry, key: EntryKey): boolean {
  return e.run_id === key.run_id && (e.kind === "input" ? key.seq === -1 : e.step.seq === key.seq);
}

/** The latest compaction of `history` and the index of the entry it covers through; null when none applies. */
export function latestCompaction(history: HistoryEntry[]): { output: CompactionOutput; index: number } | null {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i]!;
    if (e.kind !== "step" || e.step.kind !== "compaction" || e.step.status !== "succeeded") continue;
    const output = e.step.output as CompactionOutput;
    for (let j = i - 1; j >= 0; j--) if (sameKey(history[j]!, output.through)) return { output, index: j };
    // the entry it covered is no longer in the thread's history (a rerun replaced its run): an older one may apply
  }
  return null;
}

/** The tool call ids a run's input answers (a client's tool results). */
function inputAnswers(e: HistoryEntry & { kind: "input" }): string[] {
  const parsed = RunInputSchema.safeParse(e.input);
  if (!parsed.success) return [];
  return parsed.data.messages.flatMap((m) => (m.role === "tool" && m.toolCallId ? [m.toolCallId] : []));
}

/**
 * Where `entries` may be cut (an index: the entries before it are summarised): before a run's
 * input or an LLM turn, and only where no tool call made before it is answered at or after it,
 * so a call and its result are always on the same side. Ascending; never 0.
 */
export function cutPoints(entries: HistoryEntry[]): number[] {
  const answeredAt = new Map<string, number>();
  entries.forEach((e, i) => {
    if (e.kind === "step" && e.step.kind === "tool" && e.step.status === "succeeded") {
      answeredAt.set(ToolOutputSchema.parse(e.step.output).tool_call_id, i);
    } else if (e.kind === "input") {
      for (const id of inputAnswers(e)) answeredAt.set(id, Math.max(answeredAt.get(id) ?? -1, i));
    }
  });
  const points: number[] = [];
  let lastAnswer = -1; // the latest index answering a call made so far
  entries.forEach((e, i) => {
    const turnStart = e.kind === "input" || (e.step.kind === "llm" && e.step.status === "succeeded");
    if (i > 0 && turnStart && lastAnswer < i) points.push(i);
    if (e.kind === "step" && e.step.kind === "llm" && e.step.status === "succeeded") {
      for (const call of LlmOutputSchema.parse(e.step.output).tool_calls) lastAnswer = Math.max(lastAnswer, answeredAt.get(call.id) ?? -1);
    }
  });
  return points;
}

/** What the model gets instead of a tool result longer than `max` characters. */
export function toolResultStub(toolCallId: string, content: string, max: number): string {
  const limit = Math.min(max, READ_RESULT_MAX_LIMIT);
  return (
    `[This tool result is ${content.length} characters, more than the ${max} sent whole (the agent's context.tool_result_max_chars); ` +
    `its first ${STUB_PREVIEW_CHARS} follow. Read the rest in slices with the ${READ_RESULT} tool: ` +
    `{"tool_call_id": ${JSON.stringify(toolCallId)}, "offset": ${STUB_PREVIEW_CHARS}, "limit": ${limit}}]\n` +
    content.slice(0, STUB_PREVIEW_CHARS)
  );
}

/** Which tool results stubToolResults may stub. */
export interface StubOptions {
  /** whether read_result can read the result back (a committed tool step of the thread): others are sent whole */
  readable?: (toolCallId: string) => boolean;
  /** the results of the latest turn (after the last assistant message) are sent whole too */
  keepLatest?: boolean;
}

/**
 * `messages` with every tool result over `max` characters replaced by its stub, except
 * read_result's own (bounded already), those read_result could not read back, and with
 * `keepLatest` those of the latest turn (the model has not seen them yet).
 */
export function stubToolResults(messages: ChatMessage[], max: number, options: StubOptions = {}): { messages: ChatMessage[]; stubbed: number } {
  const names = new Map<string, string>();
  let latest = -1;
  if (options.keepLatest) for (let i = messages.length - 1; i >= 0 && latest < 0; i--) if (messages[i]!.role === "assistant") latest = i;
  let stubbed = 0;
  const out = messages.map((m, i) => {
    if (m.role === "assistant") for (const call of m.tool_calls) names.set(call.id, call.name);
    if (m.role !== "tool" || m.content.length <= max || names.get(m.tool_call_id) === READ_RESULT) return m;
    if (options.readable && !options.readable(m.tool_call_id)) return m;
    if (options.keepLatest && latest >= 0 && i > latest) return m;
    stubbed++;
    return { ...m, content: toolResultStub(m.tool_call_id, m.content, max) };
  });
  return { messages: out, stubbed };
}

/** The tool call ids whose results are committed tool steps of `entries` (what read_result reads: db/sql/threadToolResult.ts). */
function committedResults(entries: HistoryEntry[]): Set<string> {
  const ids = new Set<string>();
  for (const e of entries) {
    if (e.kind === "step" && e.step.kind === "tool" && e.step.status === "succeeded") ids.add(ToolOutputSchema.parse(e.step.output).tool_call_id);
  }
  return ids;
}

/** The user message that stands for the summarised turns. */
export function summaryMessage(summary: string): ChatMessage {
  return {
    role: "user",
    content: `(The earlier part of this conversation is not shown: to stay within the context budget it was summarised. Summary:)\n${summary}`,
  };
}

/**
 * What a managed call sends: the latest summary, then the turns after it, large tool results
 * stubbed (with `keepLatest`, not those of the latest turn).
 */
function assemble(entries: HistoryEntry[], summary: string | undefined, settings: ContextSettings, inputState: boolean, keepLatest = false) {
  const committed = committedResults(entries);
  const { messages, stubbed } = stubToolResults(chatMessages(entries, { inputState }), settings.toolResultMaxChars, {
    readable: (id) => committed.has(id),
    keepLatest,
  });
  return { messages: summary === undefined ? messages : [summaryMessage(summary), ...messages], stubbed };
}

/** The figures an LLM step records of what it sent (its input.context), for the next call's estimate. */
export interface ContextFigures {
  chars: number;
  estimated_tokens: number;
  budget: number;
}

export type ContextPlan =
  /**
   * send `messages`; `stubbed`: how many tool results were stubbed; `summarized`: they begin with a
   * summary (read_result is offered when either: a stub or a summary may name a call id);
   * `figures`: what the step records, for the next call's estimate
   */
  | { kind: "send"; messages: ChatMessage[]; stubbed: number; summarized: boolean; figures: ContextFigures }
  /** over the budget: compact first */
  | { kind: "compact"; compaction: PlannedCompaction }
  /** over the budget and nothing left to summarise */
  | { kind: "overflow"; message: string };

export interface PlannedCompaction {
  settings: ContextSettings;
  previous: CompactionOutput | undefined;
  /** the history entries to summarise (after the previous summary) and the entry the new one covers through */
  summarize: HistoryEntry[];
  through: EntryKey;
  keptTurns: number;
  tokensBefore: number;
  /** what the call after the compaction sends besides the summary: for its estimate */
  keptChars: number;
  fixedChars: number;
  last: SentFigures | undefined;
  inputState: boolean;
}

/**
 * What the next LLM call sends, or that a compaction must come first. `definitions(stubbed)`: the
 * tools the call offers (read_result among them when results are stubbed and it is not listed).
 */
export function planContext(
  history: HistoryEntry[],
  config: AgentConfig,
  settings: ContextSettings,
  options: { inputState: boolean; definitions: (stubbed: boolean) => ToolDefinition[] },
): ContextPlan {
  const compacted = latestCompaction(history);
  const after = compacted ? history.slice(compacted.index + 1) : history;
  const last = lastSent(history);
  const measure = (keepLatest: boolean) => {
    const sent = assemble(after, compacted?.output.summary, settings, options.inputState, keepLatest);
    const fixed = fixedChars(config, options.definitions(sent.stubbed > 0 || compacted !== null));
    const chars = fixed + messagesChars(sent.messages);
    return { ...sent, fixed, chars, tokens: estimateTokens(chars, last) };
  };
  // the latest turn's results go whole when the call fits so (the model has not seen them yet);
  // older ones over tool_result_max_chars are stubs, and the latest too when needed to fit
  let sending = measure(true);
  if (sending.tokens > settings.budget) sending = measure(false);
  const { messages, stubbed, fixed, chars, tokens } = sending;
  if (tokens <= settings.budget) {
    return { kind: "send", messages, stubbed, summarized: compacted !== null, figures: { chars, estimated_tokens: tokens, budget: settings.budget } };
  }

  const overflow = (why: string): ContextPlan => ({
    kind: "overflow",
    message:
      `the next LLM call would send about ${tokens} tokens, over the agent's context budget of ${settings.budget}, and ${why}: ` +
      `raise context.max_tokens (within the model's window), lower context.tool_result_max_chars or context.keep_turns, or shorten the system prompt`,
  });
  // a compaction that just ran and did not get under the budget is not run again: it would loop
  const lastEntry = history[history.length - 1];
  if (lastEntry?.kind === "step" && lastEntry.step.kind === "compaction") return overflow("the compaction just committed did not get it under");
  const points = cutPoints(after);
  if (points.length === 0) return overflow("the conversation since the last summary is a single turn, which cannot be summarised without splitting it");

  // Keep the last keep_turns turns, fewer while they need more than TARGET_FRACTION of the
  // budget (so the turns to come have room), and at least the last one.
  const summaryChars = Math.ceil(settings.summaryMaxTokens * charsPerToken(last)) + summaryMessage("").content.length;
  const keptCharsFrom = (cut: number) => messagesChars(assemble(after.slice(cut), undefined, settings, options.inputState).messages);
  const tokensWith = (cut: number) => estimateTokens(fixed + summaryChars + keptCharsFrom(cut), last);
  let j = Math.max(0, points.length - settings.keepTurns);
  while (j < points.length - 1 && tokensWith(points[j]!) > settings.budget * TARGET_FRACTION) j++;
  const cut = points[j]!;
  if (tokensWith(cut) > settings.budget) {
    return overflow(`even the latest turn alone, with a summary of the rest, would be about ${tokensWith(cut)} tokens`);
  }
  return {
    kind: "compact",
    compaction: {
      settings,
      previous: compacted?.output,
      summarize: after.slice(0, cut),
      through: entryKey(after[cut - 1]!),
      keptTurns: points.length - j,
      tokensBefore: tokens,
      keptChars: keptCharsFrom(cut),
      fixedChars: fixed,
      last,
      inputState: options.inputState,
    },
  };
}

/** The instructions of a summary call. */
function summaryInstructions(maxTokens: number): string {
  return (
    "You compact the working memory of an AI agent that is in the middle of a long task, so it can go on within its context budget. " +
    "You are given the summary so far (if any) and the next part of the agent's conversation. Write one new summary that replaces both. " +
    "Keep: the user's goal and instructions, constraints, decisions and why, facts and findings with their sources, names, numbers and ids " +
    "that later steps need (tool call ids of results worth re-reading with read_result), what has been done, and what remains to do. " +
    `Drop pleasantries and repetition. Write plain text, at most about ${maxTokens} tokens. Reply with the summary only.`
  );
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)} […${text.length - max} more characters]`;
}

function transcriptLine(m: ChatMessage, max: number): string {
  if (m.role === "assistant") {
    const calls = m.tool_calls.map((c) => `\n[assistant called ${c.name} (call ${c.id})] ${clip(JSON.stringify(c.arguments), 1000)}`).join("");
    return `[assistant] ${clip(m.content, max)}${calls}`;
  }
  if (m.role === "tool") return `[result of call ${m.tool_call_id}] ${clip(m.content, max)}`;
  return `[${m.role}] ${clip(m.content, max)}`;
}

/**
 * The conversation to summarise as plain text, at most `maxChars`. The first user message (the
 * task) and system or developer messages are given whole, within half of `maxChars` together;
 * every other message is cut to TRANSCRIPT_MESSAGE_CHARS, and the oldest of them are dropped
 * first, saying so, when the whole would be longer.
 */
export function transcript(messages: ChatMessage[], maxChars: number): string {
  const firstUser = messages.findIndex((m) => m.role === "user");
  const pinned = messages.map((m, i) => i === firstUser || m.role === "system" || m.role === "developer");
  const pinnedCount = pinned.filter(Boolean).length;
  const pinnedChars = messages.reduce((n, m, i) => n + (pinned[i] ? m.content.length : 0), 0);
  // together within half the transcript: each cut to its share when they are longer than that
  const pinnedMax = pinnedChars <= maxChars / 2 ? Infinity : Math.floor(maxChars / 2 / Math.max(1, pinnedCount));
  const lines = messages.map((m, i) => transcriptLine(m, pinned[i] ? pinnedMax : TRANSCRIPT_MESSAGE_CHARS));
  let total = lines.reduce((n, l) => n + l.length + 2, 0);
  const dropped = new Set<number>();
  for (let i = 0; total > maxChars && i < lines.length - 1; i++) {
    if (pinned[i]) continue;
    dropped.add(i);
    total -= lines[i]!.length + 2;
  }
  const parts: string[] = [];
  lines.forEach((line, i) => {
    if (!dropped.has(i)) parts.push(line);
    else if (!dropped.has(i - 1)) {
      let n = 0;
      while (dropped.has(i + n)) n++;
      parts.push(`[${n} message(s) omitted here: too long to summarise at once]`);
    }
  });
  return clip(parts.join("\n\n"), maxChars);
}

/**
 * The settings a summary call takes from the agent: where and how to reach the provider (its API,
 * base_url, key), the call's timeout and retry policy, and the scripted provider's script. Not its
 * sampling or reasoning settings (temperature, thinking, effort, reasoning_effort: the summary
 * model gets its own, below), nor model_info and prices unless the summary model is the agent's.
 */
const SUMMARY_INHERITED = ["provider", "api", "base_url", "api_key_env", "api_key_secret", "llm_timeout_ms", "retry", "script"] as const;

/**
 * The config of a compaction's summary calls: the summary model with thinking or reasoning off
 * where the models table says it can be (else its lowest effort), no tools, and max_tokens the
 * summary's length (twice that for a model that thinks anyway: its thinking counts too).
 */
export function summaryConfig(config: AgentConfig, settings: ContextSettings): AgentConfig {
  const source = config as Record<string, unknown>;
  const model = settings.summaryModel ?? config.model;
  const sameModel = model === config.model;
  const out: Record<string, unknown> = { system_prompt: summaryInstructions(settings.summaryMaxTokens), tools: [] };
  for (const key of SUMMARY_INHERITED) if (source[key] !== undefined) out[key] = source[key];
  if (model !== undefined) out.model = model;
  if (sameModel && config.model_info) out.model_info = config.model_info;
  if (sameModel && config.prices) out.prices = config.prices;
  const info = modelInfo(config.provider, model, sameModel ? config.model_info : undefined);
  let thinksAnyway = false;
  if (config.provider === "anthropic") {
    if (info.thinking_off === false) {
      thinksAnyway = true;
      if (info.effort_levels?.[0] !== undefined) out.effort = info.effort_levels[0];
    } else {
      out.thinking = "off";
    }
  } else if (config.provider === "openai" && info.reasoning === true) {
    // OpenAI's reasoning models take no "off"; "low" is the lowest effort every one of them takes
    thinksAnyway = true;
    out.reasoning_effort = "low";
  }
  const room = thinksAnyway ? 2 * settings.summaryMaxTokens : settings.summaryMaxTokens;
  out.max_tokens = info.max_output_tokens !== undefined ? Math.min(room, info.max_output_tokens) : room;
  return AgentConfigSchema.parse(out);
}

function withTimeout(signal: AbortSignal, ms: number): AbortSignal {
  return AbortSignal.any([signal, AbortSignal.timeout(ms)]);
}

/**
 * The compaction step: asks the model (or context.summary_model) for a summary of the previous
 * summary and the turns to summarise, and commits it with the entry it covers through, the
 * figures and the call's usage. A provider failure goes up as a ProviderError: the step is
 * retried with the agent's retry policy, as an LLM step is.
 */
export async function runCompactionStep(scope: StepScope, provider: Provider, plan: PlannedCompaction, callIndex: number): Promise<StepOutcome> {
  const { writer, config, seq } = scope;
  const { settings } = plan;
  const started = performance.now();
  const summarizing = chatMessages(plan.summarize, { inputState: plan.inputState });
  const name = stepName(seq, "compaction", settings.summaryModel ?? config.provider);
  writer.push({ type: "STEP_STARTED", stepName: name });

  // the summary call must itself fit: its transcript gets what the budget leaves besides its
  // instructions and output, in characters at the thread's observed ratio (budget.ts charsPerToken)
  const ratio = charsPerToken(plan.last);
  const transcriptChars = Math.max(4000, Math.floor((settings.budget - settings.summaryMaxTokens) * ratio) - 2000);
  const previous = plan.previous ? `Summary so far:\n${plan.previous.summary}\n\n` : "";
  const request: ChatMessage = {
    role: "user",
    content: `${previous}Conversation to add to it:\n\n${transcript(summarizing, transcriptChars - previous.length)}`,
  };
  const summaryCfg = summaryConfig(config, settings);
  let result;
  try {
    result = await provider.complete(
      {
        config: summaryCfg,
        messages: [request],
        tools: [],
        callIndex,
        attempt: scope.attempt,
        runId: scope.runId,
        threadId: scope.threadId,
        signal: withTimeout(scope.signal, config.llm_timeout_ms),
        purpose: "summary",
        ...(scope.secrets && { secrets: scope.secrets }),
      },
      { onTextDelta: () => {}, onReasoningDelta: () => {}, onToolCallStart: () => {}, onToolCallArgs: () => {} },
    );
  } catch (error) {
    if (scope.signal.aborted) throw error;
    if (error instanceof DOMException && error.name === "TimeoutError") {
      throw new ProviderError(`the summary call timed out after ${config.llm_timeout_ms} ms`, { retryable: true, code: "timeout", cause: error });
    }
    if (error instanceof StepAbort && error.reason === "timeout") throw new ProviderError(error.message, { retryable: true, code: "timeout", cause: error });
    throw error;
  }
  const text = result.text.trim();
  if (text === "") throw new ProviderError("the summary call returned no text", { retryable: true, code: "empty_summary" });
  // a provider that ignored max_tokens does not get more room than was planned for
  const summary = text.slice(0, Math.floor(settings.summaryMaxTokens * ratio));
  const tokensAfter = estimateTokens(plan.fixedChars + messageChars(summaryMessage(summary)) + plan.keptChars, plan.last);

  const usage: Usage = { ...tokenUsage(result.usage), cost_usd: costUsd(summaryCfg, result.model, result.usage, scope.prices) };
  const output: CompactionOutput = {
    summary,
    through: plan.through,
    tokens_before: plan.tokensBefore,
    tokens_after: tokensAfter,
    budget: settings.budget,
    summarized_messages: summarizing.length,
    kept_turns: plan.keptTurns,
    model: result.model,
  };
  const step: StepRecord = {
    kind: "compaction",
    name: result.model,
    status: "succeeded",
    input: { previous_through: plan.previous?.through ?? null, messages: summarizing.length, transcript_chars: request.content.length },
    output,
    usage,
  };
  const { summary: _omitted, ...figures } = output;
  return {
    step,
    events: [
      {
        type: "CUSTOM",
        name: "everruns.compaction",
        value: { ...figures, summary_chars: summary.length, usage, duration_ms: Math.round(performance.now() - started) },
      },
      { type: "STEP_FINISHED", stepName: name },
    ],
    next: { type: "continue" },
  };
}
