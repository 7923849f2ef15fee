// How much of its thread an agent's LLM call may send (config.context, docs/context.md), and how
// many tokens a call would send. No network tokenizer: the provider's own count of the previous
// call (its reported input_tokens) plus a character estimate of what changed since.
import type { HistoryEntry } from "../../db/sql/beginStep.ts";
import type { AgentConfig } from "../../db/schemas.ts";
import { ConfigError } from "../../db/errors.ts";
import { modelInfo } from "../../lib/models/catalog.ts";
import type { ChatMessage, ToolDefinition } from "../providers/types.ts";
import { lastTurnIndex } from "../conversation.ts";
import { defaultContextBudget, defaultSummaryMaxTokens, expectedOutputTokens } from "./output.ts";

/** About 4 characters a token: OpenAI's and Anthropic's own rule of thumb for English text and JSON. */
export const CHARS_PER_TOKEN = 4;
/** What a message costs besides its text (role, separators, a tool call's id): counted as this many characters. */
export const MESSAGE_OVERHEAD_CHARS = 16;

/** An agent's context settings, resolved against the models table. */
export interface ContextSettings {
  /** the most tokens a call may send (system prompt, tools and messages) */
  budget: number;
  keepTurns: number;
  toolResultMaxChars: number;
  /** the model that writes summaries (the agent's own when it names none) */
  summaryModel: string | undefined;
  summaryMaxTokens: number;
}

const resolved = new WeakMap<AgentConfig, ContextSettings | null>();

/**
 * The agent's context settings, or null when nothing is managed: `strategy: "off"`, or no budget
 * (no `context.max_tokens` and a model whose context window the models table does not know).
 * The default budget (output.ts defaultContextBudget) is DEFAULT_WINDOW_FRACTION of the window, and never more than the window
 * less the call's output limit (the agent's `max_tokens`, else the provider's default for the
 * model, a thinking budget included: output.ts), so the answer always has room.
 * Resolved once per parsed config (run_step.ts keeps those per agent version).
 */
export function contextSettings(config: AgentConfig): ContextSettings | null {
  const known = resolved.get(config);
  if (known !== undefined) return known;
  const settings = resolve(config);
  resolved.set(config, settings);
  return settings;
}

function resolve(config: AgentConfig): ContextSettings | null {
  const context = config.context;
  if (context?.strategy === "off") return null;
  let budget = context?.max_tokens;
  if (budget === undefined) {
    const info = modelInfo(config.provider, config.model, config.model_info);
    const window = info.context_window;
    if (window === undefined) return null;
    budget = defaultContextBudget(window, expectedOutputTokens(config, info));
    if (budget <= 0) return null;
  }
  return {
    budget,
    keepTurns: context?.keep_turns ?? 4,
    toolResultMaxChars: context?.tool_result_max_chars ?? 20_000,
    summaryModel: context?.summary_model ?? config.model,
    summaryMaxTokens: context?.summary_max_tokens ?? defaultSummaryMaxTokens(budget),
  };
}

/** The characters a message counts for: its text, its tool calls' names and arguments, and MESSAGE_OVERHEAD_CHARS. */
export function messageChars(m: ChatMessage): number {
  let n = m.content.length + MESSAGE_OVERHEAD_CHARS;
  if (m.role === "assistant") for (const call of m.tool_calls) n += call.id.length + call.name.length + JSON.stringify(call.arguments).length;
  return n;
}

/** The characters of what a call sends besides its messages: the system prompt and the tools' definitions. */
export function fixedChars(config: AgentConfig, tools: ToolDefinition[]): number {
  let n = config.system_prompt?.length ?? 0;
  for (const t of tools) n += t.name.length + t.description.length + JSON.stringify(t.parameters).length;
  return n;
}

export function messagesChars(messages: ChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += messageChars(m);
  return n;
}

/** What the previous LLM call sent, as its step recorded it (steps.ts: input.context). */
export interface SentFigures {
  /** the characters it sent (fixedChars + messagesChars) */
  chars: number;
  /** the input tokens its provider reported for it */
  input_tokens: number;
}

/**
 * The characters a token stands for in this thread: CHARS_PER_TOKEN, or fewer when the previous
 * call's provider counted more tokens than that for its characters (dense text: CJK, base64,
 * JSON come near one token a character). Never more than CHARS_PER_TOKEN: a sparser count is not
 * trusted to hold for what is added next.
 */
export function charsPerToken(last: SentFigures | undefined): number {
  if (!last) return CHARS_PER_TOKEN;
  return Math.min(CHARS_PER_TOKEN, last.chars / last.input_tokens);
}

/**
 * The tokens a call of `chars` characters sends: the previous call's reported input tokens plus
 * the difference in characters at that call's ratio (charsPerToken; the difference may be
 * negative: a compaction shrank the conversation), or the characters over CHARS_PER_TOKEN when
 * there is no previous call.
 */
export function estimateTokens(chars: number, last: SentFigures | undefined): number {
  if (!last) return Math.ceil(chars / CHARS_PER_TOKEN);
  return Math.max(0, last.input_tokens + Math.ceil((chars - last.chars) / charsPerToken(last)));
}

function isSentFigures(value: unknown): value is SentFigures {
  const v = value as Partial<SentFigures> | null;
  return typeof v?.chars === "number" && v.chars > 0 && typeof v.input_tokens === "number" && v.input_tokens > 0;
}

/** The figures of the latest LLM call of `history` that recorded them (its step's input.context), if any. */
export function lastSent(history: HistoryEntry[]): SentFigures | undefined {
  const e = history[lastTurnIndex(history)];
  if (e?.kind !== "step") return undefined;
  const context = (e.step.input as { context?: unknown } | null)?.context;
  // the latest call counts even without figures (a release before compaction, or strategy off then): no older estimate is better
  return isSentFigures(context) ? { chars: context.chars, input_tokens: context.input_tokens } : undefined;
}

/** The operator's switch (docs/context.md, README): "off" turns context management off on this worker. */
export const CONTEXT_COMPACTION_ENV = "EVERRUNS_CONTEXT_COMPACTION";

/**
 * Whether this worker manages agents' contexts: EVERRUNS_CONTEXT_COMPACTION "on" (the default) or
 * "off" (every call sends the whole thread, as before context management; for a rolling deploy,
 * turn it on once every worker runs a release that knows compaction steps). Anything else is a
 * ConfigError naming it.
 */
export function compactionFromEnv(source: NodeJS.ProcessEnv = process.env): boolean {
  const raw = source[CONTEXT_COMPACTION_ENV]?.trim().toLowerCase() || "on";
  if (raw !== "on" && raw !== "off") {
    throw new ConfigError(`invalid environment: ${CONTEXT_COMPACTION_ENV} must be "on" or "off" (got ${JSON.stringify(source[CONTEXT_COMPACTION_ENV])})`);
  }
  return raw === "on";
}
