import { EverrunsError } from "../../db/errors.ts";
import type { AgentConfig, ToolCall } from "../../db/schemas.ts";
import type { WorkspaceSecrets } from "../secrets.ts";

/** A message of the conversation, provider-neutral. */
export type ChatMessage =
  | { role: "system" | "developer"; content: string }
  /**
   * `output_correction`: the engine's reply to a final answer that did not match the agent's
   * output_schema (worker/conversation.ts), with the run it belongs to: steps.ts counts a run's
   * corrections from these. Providers send it as an ordinary user message.
   */
  | { role: "user"; content: string; output_correction?: { run_id: string } }
  /**
   * `replay`: what the provider that wrote this turn needs back, verbatim, on later calls
   * (Anthropic's signed thinking blocks, OpenAI's reasoning items): committed with the LLM step
   * (LlmOutput.replay), so a retried or resumed run sends exactly what the API returned.
   */
  | { role: "assistant"; content: string; tool_calls: ToolCall[]; replay?: ProviderReplay }
  | { role: "tool"; tool_call_id: string; content: string };

/**
 * A provider's own record of an assistant turn, replayed to the same provider on later calls;
 * another provider ignores it, and a provider may ignore one of another `model` (Anthropic does:
 * a thinking signature is only known to be good for the model that made it). `data` is the
 * provider's to define and to check.
 */
export interface ProviderReplay {
  provider: string;
  model: string;
  data: unknown;
}

/**
 * Tokens of one LLM call as the provider reported them. `input_tokens` counts every input token
 * processed, cached or not; `cache_read_tokens` and `cache_write_tokens` are the parts of it read
 * from and written to the provider's prompt cache. `reasoning_tokens` is the part of
 * `output_tokens` spent on reasoning (billed as output).
 */
export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens?: number;
  cache_write_tokens?: number;
  reasoning_tokens?: number;
}

export interface ToolDefinition {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface LlmRequest<C extends AgentConfig = AgentConfig> {
  config: C;
  messages: ChatMessage[];
  tools: ToolDefinition[];
  /** 0 for the run's first LLM call, 1 for the second... (the scripted provider's turn index) */
  callIndex: number;
  /** 1 for the first try of this call, 2 after one failure... */
  attempt: number;
  signal: AbortSignal;
  /** the run and its thread (OpenAI's prompt_cache_key is the thread) */
  runId?: string;
  threadId?: string;
  /** the run's workspace secrets (an agent's api_key_secret) */
  secrets?: WorkspaceSecrets;
  /**
   * The agent's output_schema: the final answer must be JSON matching it. A provider asks its API
   * for it (OpenAI `json_schema` formats, an Anthropic output tool) and returns the JSON as `text`;
   * the engine validates it (steps.ts).
   */
  outputSchema?: Record<string, unknown>;
  /**
   * "summary": a compaction step's call (worker/context/compaction.ts), not one of the run's
   * turns: one user message asking for a summary, no tools. The scripted provider answers it
   * with a deterministic summary instead of its script.
   */
  purpose?: "summary";
  /**
   * The messages begin with a summary of earlier turns (a compaction, worker/context/): a provider
   * that keeps the conversation on its side (OpenAI Responses with `store: true`) sends them in
   * full instead of continuing from its stored response, which still holds every turn.
   */
  compacted?: boolean;
}

/** The name under which an output schema is given to an API that wants one (OpenAI's format name). */
export const OUTPUT_SCHEMA_NAME = "output";

/** Streaming callbacks; the engine turns them into AG-UI events. */
export interface LlmStreamHandlers {
  onTextDelta(delta: string): void;
  onReasoningDelta(delta: string): void;
  onToolCallStart(id: string, name: string): void;
  onToolCallArgs(id: string, delta: string): void;
}

export interface LlmResult {
  text: string;
  reasoning?: string;
  tool_calls: ToolCall[];
  usage: TokenUsage;
  model: string;
  /** what to send back on later calls of the run (committed as LlmOutput.replay) */
  replay?: ProviderReplay;
}

/** A provider's implementation (worker/providers/<name>.ts), loaded on first use (registry.ts). */
export interface Provider {
  /** `request.config.provider` is this provider's name (configOf narrows it) */
  complete(request: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult>;
}

/** The request's config, checked to be of `provider` (the registry routes by config.provider). */
export function configOf<P extends AgentConfig["provider"]>(request: LlmRequest, provider: P): Extract<AgentConfig, { provider: P }> {
  const config = request.config;
  if (config.provider !== provider) {
    throw new ProviderError(`the ${provider} provider was called for an agent of provider ${config.provider}`, { retryable: false, code: "bad_request" });
  }
  return config as Extract<AgentConfig, { provider: P }>;
}

/** Tool-call arguments as the model wrote them: an object, or `{_raw}` when they are not a JSON object. */
export function parseToolArguments(raw: string): Record<string, unknown> {
  if (raw.trim() === "") return {};
  try {
    const value: unknown = JSON.parse(raw);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // kept raw below
  }
  return { _raw: raw };
}

/**
 * A failed LLM call. `retryable` failures (429, 5xx, timeouts, network) are retried with the
 * agent's policy; the others fail the run at once.
 */
export class ProviderError extends EverrunsError {
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { retryable: boolean; status?: number; retryAfterMs?: number; code?: string; cause?: unknown }) {
    super(options.code ?? "provider_error", message, { cause: options.cause });
    this.retryable = options.retryable;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}
