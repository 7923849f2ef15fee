// The output tokens an LLM call of an agent may produce, as its provider will ask for them: a
// context budget must leave them room, since the window holds the input and the output (Anthropic
// refuses a request whose input plus max_tokens exceeds it). Kept free of the provider modules
// (the API and the console load db/schemas.ts, which uses this), so the Anthropic defaults are
// repeated here; worker/test/compaction.test.ts checks they equal worker/providers/anthropic.ts's.
import type { ModelInfo } from "../../lib/models/catalog.ts";

/** worker/providers/anthropic.ts DEFAULT_ANTHROPIC_MAX_TOKENS: max_tokens for a model the table does not know. */
export const ANTHROPIC_DEFAULT_OUTPUT = 8192;
/** worker/providers/anthropic.ts ANTHROPIC_MAX_TOKENS_CAP: the most max_tokens defaults to. */
export const ANTHROPIC_OUTPUT_CAP = 32_000;

/** The share of the model's context window a call may use when the agent names no `context.max_tokens`. */
export const DEFAULT_WINDOW_FRACTION = 0.8;
/** The longest summary when the agent names no `context.summary_max_tokens` (also at most an eighth of the budget). */
export const DEFAULT_SUMMARY_MAX_TOKENS = 4000;

/**
 * The context budget of an agent that names no `context.max_tokens` (the worker's, and the check
 * when the agent is written): DEFAULT_WINDOW_FRACTION of the window, and never more than the
 * window less the output.
 */
export function defaultContextBudget(window: number, output: number): number {
  return Math.min(Math.floor(window * DEFAULT_WINDOW_FRACTION), window - output);
}

/** The longest summary of a budget when the agent names no `context.summary_max_tokens`. */
export function defaultSummaryMaxTokens(budget: number): number {
  return Math.max(100, Math.min(DEFAULT_SUMMARY_MAX_TOKENS, Math.floor(budget / 8)));
}

/** The settings of an agent that decide its output limit (every provider's config has these or fewer). */
export interface OutputSettings {
  provider: string;
  max_tokens?: number | undefined;
  thinking_budget_tokens?: number | undefined;
}

/**
 * The output tokens a call may produce: the agent's `max_tokens`, else the provider's default for
 * the model. Anthropic: the model's max_output_tokens up to ANTHROPIC_OUTPUT_CAP (8192 unknown),
 * and a thinking budget on top when max_tokens is not above it (as anthropic.ts sends it). OpenAI:
 * without max_tokens the model may answer up to its max_output_tokens. Others: max_tokens or 0.
 */
export function expectedOutputTokens(config: OutputSettings, info: ModelInfo): number {
  if (config.provider === "anthropic") {
    let max = config.max_tokens ?? Math.min(info.max_output_tokens ?? ANTHROPIC_DEFAULT_OUTPUT, ANTHROPIC_OUTPUT_CAP);
    const thinking = config.thinking_budget_tokens;
    if (thinking !== undefined && max <= thinking) max += thinking;
    return max;
  }
  if (config.provider === "openai") return config.max_tokens ?? info.max_output_tokens ?? 0;
  return config.max_tokens ?? 0;
}
