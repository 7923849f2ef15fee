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
  | { role: "assistant"; content: string; tool_calls: ToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

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
  /** the run's workspace secrets (an agent's api_key_secret) */
  secrets?: WorkspaceSecrets;
  /**
   * The agent's output_schema: the final answer must be JSON matching it. A provider asks its API
   * for it (OpenAI `json_schema` formats, an Anthropic output tool) and returns the JSON as `text`;
   * the engine validates it (steps.ts).
   */
  outputSchema?: Record<string, unknown>;
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
  usage: { input_tokens: number; output_tokens: number };
  model: string;
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
