// Anthropic through the official SDK: the Messages API, streaming. The SDK never retries
// (maxRetries 0): the engine retries with the agent's own policy, from the ProviderError that
// errors.ts makes of whatever went wrong.
import { createHash, randomUUID, type Hash } from "node:crypto";
import Anthropic, { AnthropicError, APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  MessageCreateParamsStreaming,
  MessageParam,
  RawMessageStreamEvent,
  TextBlockParam,
  Tool,
  ToolChoice,
} from "@anthropic-ai/sdk/resources/messages/messages";
import { transformJSONSchema } from "@anthropic-ai/sdk/lib/transform-json-schema";
import { z } from "zod";
import type { AgentConfigOf, ToolCall } from "../../db/schemas.ts";
import { ANTHROPIC_ENV } from "./anthropic.config.ts";
import { modelInfo, type ModelInfo } from "../../lib/models/catalog.ts";
import { defaultEgressGuard } from "../../lib/egress/guard.ts";
import {
  abortable,
  agentBaseUrlGuarded,
  allowedApiKeyEnv,
  providerError,
  requestSecrets,
  resolveApiKey,
  truncatedStream,
  type ErrorContext,
  type SdkErrors,
} from "./errors.ts";
import { envValue } from "./spec.ts";
import {
  configOf,
  parseToolArguments,
  ProviderError,
  type ChatMessage,
  type LlmRequest,
  type LlmResult,
  type LlmStreamHandlers,
  type Provider,
  type ToolDefinition,
} from "./types.ts";

export const DEFAULT_ANTHROPIC_KEY_ENV = ANTHROPIC_ENV.apiKey;
const LABEL = "Anthropic";
const DEFAULT_URL = "https://api.anthropic.com";
const SDK_ERRORS: SdkErrors = { base: AnthropicError, APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError };

type AnthropicConfig = AgentConfigOf<"anthropic">;
/** max_tokens is required by the Messages API; this is ours when the agent sets none. */
export const DEFAULT_ANTHROPIC_MAX_TOKENS = 8192;
/**
 * The most max_tokens defaults to (the model's max_output_tokens above it): thinking counts
 * towards max_tokens, so 8192 is too little for a thinking model, and a model's whole 128k would
 * let one runaway call bill that much.
 */
export const ANTHROPIC_MAX_TOKENS_CAP = 32_000;
/** The beta that lets budget thinking think between tool calls (Claude 4 models before 4.6: the table's interleaved_thinking_beta). */
export const INTERLEAVED_THINKING_BETA = "interleaved-thinking-2025-05-14";

/** The system prompt: the agent's, then every system/developer message, in order. */
export function anthropicSystem(systemPrompt: string | undefined, messages: ChatMessage[]): string | undefined {
  const parts = [systemPrompt ?? "", ...messages.map((m) => (m.role === "system" || m.role === "developer" ? m.content : ""))];
  const joined = parts.filter((p) => p.trim() !== "").join("\n\n");
  return joined || undefined;
}

// Extended thinking across tool loops: the API wants the assistant turn whose tool_use a request
// answers to start with the thinking blocks the model wrote for it, unchanged (text and signature;
// redacted_thinking blocks' opaque data too). The provider returns the turn's whole content block
// sequence as the call's replay (committed with the LLM step), and anthropicMessages sends it back
// verbatim instead of rebuilding the turn from its text and tool calls, when the replay was made
// by the model the request goes to (a signature is only known to be good for its own model).
// What the API refuses back is never recorded, since a replay is re-sent on every later call and
// one bad block would refuse them all: whitespace-only text blocks, and thinking blocks without a
// signature (a turn cut off by max_tokens while thinking).

/** Text the API takes back in a content block: it refuses whitespace-only text. */
const hasText = (text: string) => text.trim() !== "";

/** A content block of an assistant turn as the API returned it (what a replay holds). */
const ReplayBlockSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().min(1) }),
  z.object({ type: z.literal("redacted_thinking"), data: z.string().min(1) }),
  z.object({ type: z.literal("text"), text: z.string().refine(hasText, "whitespace-only text") }),
  z.object({ type: z.literal("tool_use"), id: z.string().min(1), name: z.string(), input: z.record(z.string(), z.unknown()) }),
]);
/**
 * `prefix`: the digest (anthropicPrefix) of everything the request that produced the turn sent
 * before it (system, tools, messages); absent in replays recorded before it was kept.
 */
const ReplayDataSchema = z.object({ content: z.array(ReplayBlockSchema).min(1), prefix: z.string().optional() });
export type AnthropicReplayBlock = z.infer<typeof ReplayBlockSchema>;

// Preserved thinking (Fable and Mythos 5.1 and later, Opus 5.5, Sonnet 5.5, Haiku 5.5: Anthropic's
// "Prefix checks on thinking blocks"): a thinking block is bound to everything the request that
// produced it sent before it (system, tools, earlier messages); sent back after any of that
// changed, it fails the check and the request gets a 400 (every later call of the thread too,
// since the block stays in the history). A thread's system or tools do change between runs: a new
// agent version, a client tool declared on a later run, an MCP server's listing, a system message
// (joined into `system`). So a replay records the digest of the prefix it was produced under, and
// a turn whose prefix as about to be sent differs is sent without its thinking blocks, which the
// documentation allows ("remove thinking from the retained turns"); an unchanged prefix replays
// exactly. The API's own remedy, `thinking.block_binding.prefix_mismatch_behavior: "drop_block"`,
// is beta only (the thinking-binding-controls-2026-08-01 header) and drops the blocks all the same.
// The digest is over canonical JSON (keys sorted: a replay comes back from jsonb reordered; no
// cache_control, whose marks move; a string content as its one text block), so it only differs
// when what the model reads differs.

/** JSON with object keys sorted, without cache_control: what the prefix digest hashes. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => k !== "cache_control" && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A running digest of a request's prefix: system and tools, then each message block in order. */
export class AnthropicPrefix {
  private readonly hash: Hash = createHash("sha256");

  constructor(system: string | TextBlockParam[] | undefined, tools: readonly unknown[] | undefined) {
    const systemBlocks = typeof system === "string" ? [{ type: "text", text: system }] : (system ?? []);
    this.hash.update(`system\n${canonicalJson(systemBlocks)}\ntools\n${canonicalJson(tools ?? [])}\n`);
  }

  add(role: string, blocks: ContentBlockParam[] | string): void {
    const list = typeof blocks === "string" ? [{ type: "text", text: blocks }] : blocks;
    for (const block of list) this.hash.update(`${role}\n${canonicalJson(block)}\n`);
  }

  /** The digest of what was added so far (the running hash goes on). */
  digest(): string {
    return this.hash.copy().digest("base64url");
  }

  /** The digest of a whole request's prefix: its system, tools and messages. */
  static of(system: string | TextBlockParam[] | undefined, tools: readonly unknown[] | undefined, messages: MessageParam[]): string {
    const prefix = new AnthropicPrefix(system, tools);
    for (const m of messages) prefix.add(m.role, m.content);
    return prefix.digest();
  }
}

/** What an output-tool call (structured output, no tool step) is answered with when its turn is replayed. */
const OUTPUT_TOOL_RESULT = "Answer received.";

/**
 * Whether a replay made by `recorded` may be sent to `requested`: the same model, also when one
 * name is the other's alias, as the config may name the alias ("claude-sonnet-4-5" or
 * "claude-3-5-sonnet-latest") and the API reports the dated model it resolved to
 * ("claude-sonnet-4-5-20250929"). Only a date suffix counts: "claude-sonnet-4" is a prefix of
 * "claude-sonnet-4-5" but another model. A wrong "no" costs only the turn's thinking (rebuilt
 * without it); a wrong "yes" a 400 on every later call.
 */
export function anthropicSameModel(recorded: string, requested: string): boolean {
  const a = recorded.replace(/-latest$/, "");
  const b = requested.replace(/-latest$/, "");
  if (a === b) return true;
  const [shorter, longer] = a.length < b.length ? [a, b] : [b, a];
  return longer.startsWith(shorter) && /^-\d{8}$/.test(longer.slice(shorter.length));
}

/**
 * The assistant turn's recorded content, with the digest of the prefix it was produced under (when
 * recorded), when `m` carries an Anthropic replay that fits it: of `model` (anthropicSameModel; no
 * model given: any), valid, and naming the committed tool calls by their ids, in order (any other
 * tool_use in it is a call of the output tool). Anything else (another provider's or model's,
 * malformed): undefined, and the turn is built from its text and tool calls, without its thinking.
 */
function anthropicReplay(m: ChatMessage & { role: "assistant" }, model?: string): { content: AnthropicReplayBlock[]; prefix?: string } | undefined {
  if (m.replay?.provider !== "anthropic") return undefined;
  if (model !== undefined && !anthropicSameModel(m.replay.model, model)) return undefined;
  const parsed = ReplayDataSchema.safeParse(m.replay.data);
  if (!parsed.success) return undefined;
  const committed = new Set(m.tool_calls.map((c) => c.id));
  const replayed = parsed.data.content.flatMap((b) => (b.type === "tool_use" && committed.has(b.id) ? [b.id] : []));
  if (replayed.length !== m.tool_calls.length || replayed.some((id, i) => id !== m.tool_calls[i]!.id)) return undefined;
  return parsed.data;
}

/**
 * The conversation as Messages API turns: tool calls become `tool_use` blocks of the assistant
 * turn, tool results `tool_result` blocks of a user turn; consecutive turns of one role are
 * merged (the API wants user and assistant to alternate). An assistant turn with an Anthropic
 * replay of `model` (anthropicReplay) is sent as recorded; a call of the output tool in it
 * (no tool step answers it) gets a tool_result in the next user turn, as the API requires of every
 * tool_use. Whitespace-only text, which the API refuses, is left out.
 */
export function anthropicMessages(messages: ChatMessage[], model?: string, prefix?: AnthropicPrefix): MessageParam[] {
  const turns: Array<{ role: "user" | "assistant"; content: ContentBlockParam[] }> = [];
  let unanswered: string[] = [];
  const append = (role: "user" | "assistant", blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    prefix?.add(role, blocks);
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: [...blocks] });
  };
  // output-tool calls are answered after the turn's real tool results, before anything else
  const answerOutputCalls = () => {
    const ids = unanswered;
    unanswered = [];
    append(
      "user",
      ids.map((id) => ({ type: "tool_result", tool_use_id: id, content: OUTPUT_TOOL_RESULT })),
    );
  };
  const push = (role: "user" | "assistant", blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    if (unanswered.length > 0 && !(role === "user" && blocks.every((b) => b.type === "tool_result"))) answerOutputCalls();
    append(role, blocks);
  };
  for (const m of messages) {
    switch (m.role) {
      case "system":
      case "developer":
        break; // in `system`
      case "user":
        // the API refuses empty and whitespace-only text blocks
        push("user", hasText(m.content) ? [{ type: "text", text: m.content }] : []);
        break;
      case "assistant": {
        const replay = anthropicReplay(m, model);
        if (replay) {
          // answer pending output-tool calls first: they are part of this turn's prefix
          if (unanswered.length > 0) answerOutputCalls();
          // with `prefix` (the request's system and tools): a turn produced under another prefix
          // goes without its thinking (see "Preserved thinking" above)
          const stale = prefix !== undefined && replay.prefix !== undefined && replay.prefix !== prefix.digest();
          const recorded = stale ? replay.content.filter((b) => b.type !== "thinking" && b.type !== "redacted_thinking") : replay.content;
          push(
            "assistant",
            recorded.map((b) => ({ ...b })),
          );
          const committed = new Set(m.tool_calls.map((c) => c.id));
          unanswered = recorded.flatMap((b) => (b.type === "tool_use" && !committed.has(b.id) ? [b.id] : []));
          break;
        }
        push("assistant", [
          ...(hasText(m.content) ? [{ type: "text" as const, text: m.content }] : []),
          ...m.tool_calls.map((c) => ({ type: "tool_use" as const, id: c.id, name: c.name, input: c.arguments })),
        ]);
        break;
      }
      case "tool":
        push("user", [{ type: "tool_result", tool_use_id: m.tool_call_id, content: m.content }]);
        break;
    }
  }
  if (unanswered.length > 0) answerOutputCalls();
  return turns.map((t) => {
    const only = t.content.length === 1 ? t.content[0] : undefined;
    return { role: t.role, content: only && only.type === "text" ? only.text : t.content };
  });
}

// Thinking is one setting per assistant turn, and a tool loop is one turn: the API wants the
// last assistant message, when the request answers its tool_use, to start with a thinking block
// if thinking is enabled ("When `thinking` is enabled, a final `assistant` message must start
// with a thinking block"), and its documentation says to change the thinking configuration only
// between turns. A loop begun without thinking goes on without it: the agent's
// thinking_budget_tokens set while a client tool or an approval held the run, a turn rebuilt
// without its thinking (another model's replay). Such a request is sent without `thinking` (and
// with the tool_choice of a request without it); thinking comes back with the next user message.

/** Whether the request answers the tool calls of an assistant turn that has no thinking (above). */
export function anthropicLoopWithoutThinking(messages: MessageParam[]): boolean {
  const last = messages.at(-1);
  const turn = messages.at(-2);
  if (last?.role !== "user" || typeof last.content === "string" || !last.content.some((b) => b.type === "tool_result")) return false;
  if (turn?.role !== "assistant") return false;
  return typeof turn.content === "string" || !turn.content.some((b) => b.type === "thinking" || b.type === "redacted_thinking");
}

// Prompt caching (config.cache "auto" or absent). The API caches the request's prefix (tools,
// system, messages, in that order) up to each block marked with cache_control, at most 4 per
// request; a later request reads the longest cached prefix it shares, found at one of its own
// breakpoints or up to about 20 blocks before one. The marks:
// - the system prompt's last block: tools + system, shared by every call of the agent;
// - the last block of the last message: the whole conversation, read back by the next call (it
//   moves as the run grows);
// - the last block of the previous user turn, where the previous call put its moving mark: a hit
//   even when one turn added more than 20 blocks (many parallel tool calls and their results).
// Thinking blocks cannot be marked; the last other block of a turn is.

/** The API's limit of cache_control blocks per request. */
export const ANTHROPIC_MAX_CACHE_BREAKPOINTS = 4;
const EPHEMERAL = { type: "ephemeral" } as const;

/** Marks the last markable block of `turn` (its string content made a text block first); false when it has none. */
function markTurn(turn: MessageParam): boolean {
  if (typeof turn.content === "string") {
    if (turn.content === "") return false;
    turn.content = [{ type: "text", text: turn.content, cache_control: EPHEMERAL }];
    return true;
  }
  for (let i = turn.content.length - 1; i >= 0; i--) {
    const block = turn.content[i]!;
    if (block.type === "thinking" || block.type === "redacted_thinking") continue;
    turn.content[i] = { ...block, cache_control: EPHEMERAL };
    return true;
  }
  return false;
}

/** Cache breakpoints on the system prompt and the conversation (above); the system as text blocks. */
export function anthropicCacheBreakpoints(system: string | undefined, messages: MessageParam[]): { system?: TextBlockParam[]; marks: number } {
  let marks = 0;
  const out: { system?: TextBlockParam[]; marks: number } = { marks };
  if (system) {
    out.system = [{ type: "text", text: system, cache_control: EPHEMERAL }];
    marks++;
  }
  const last = messages.length - 1;
  if (last >= 0 && markTurn(messages[last]!)) marks++;
  // the previous user turn: the last call's moving mark
  const lastUser = messages.findLastIndex((t) => t.role === "user");
  const previousUser = messages.findLastIndex((t, i) => t.role === "user" && i < lastUser);
  if (previousUser >= 0 && marks < ANTHROPIC_MAX_CACHE_BREAKPOINTS && markTurn(messages[previousUser]!)) marks++;
  out.marks = marks;
  return out;
}

export function anthropicTools(tools: ToolDefinition[]): Tool[] {
  return tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: { ...t.parameters, type: "object" },
  }));
}

// Structured output (config.output_schema), two ways, by the models table:
// - a model that refuses forced tool use (`forced_tool_choice: false`: Opus 5.5, Sonnet 5.5,
//   Fable and Mythos 5.1 and 5.2 answer tool_choice `any`/`tool` with a 400) gets the schema as
//   `output_config.format` (JSON outputs, constrained decoding): its answer is the turn's text, and
//   no output tool is sent;
// - every other model keeps the output tool, which works on models without JSON outputs too (before
//   Claude 4.5) and whose behaviour the older models were tested with: the schema is the
//   input_schema of one more tool, and its call's input is the answer.
// Either way the answer is returned as the turn's text (streamed as text deltas), never as a tool
// call, so the engine validates it like any provider's JSON answer. How the model is made to call
// the output tool:
// - no agent tools: forced (`tool_choice: {type: "tool"}`): the answer can only be the JSON;
// - agent tools: `any`: it must call a tool, one of the agent's while it works, the output tool to
//   finish; forcing the output tool would take the agent's tools away, and `auto` would let it end
//   in prose;
// - thinking (thinking_budget_tokens, or thinking "adaptive"): the API accepts only `auto` with it,
//   so `auto` and a system instruction to answer through the tool; a prose answer is then validated
//   as JSON text, and one that is not gets the engine's one correction. Any text the model streamed before
//   calling the tool stays in the stream but not in the committed answer.

/** The output tool's name; an agent tool may not take it. */
export const ANTHROPIC_OUTPUT_TOOL = "final_answer";
const OUTPUT_TOOL_DESCRIPTION = "Give your final answer: call this tool once, with the answer as its input, when you are done.";
const OUTPUT_INSTRUCTION = `When you have the final answer, give it by calling the ${ANTHROPIC_OUTPUT_TOOL} tool with the answer as its input, not as text.`;

function anthropicOutputTool(schema: Record<string, unknown>): Tool {
  return { name: ANTHROPIC_OUTPUT_TOOL, description: OUTPUT_TOOL_DESCRIPTION, input_schema: { ...schema, type: "object" } };
}

/**
 * Whether structured output goes as `output_config.format` rather than through the output tool
 * (see above): a model that refuses forced tool use, and a model with JSON outputs while it thinks
 * (thinking takes only tool_choice `auto`, so the output tool would be a mere suggestion).
 */
export function anthropicUsesOutputFormat(info: ModelInfo, thinking = false): boolean {
  return info.forced_tool_choice === false || (thinking && info.output_format === true);
}

/**
 * The agent's output_schema as JSON outputs take it: a subset of JSON Schema (objects closed with
 * `additionalProperties: false`; unsupported keywords such as minimum or pattern moved into the
 * description), through the SDK's own transform. The engine still validates the answer against
 * the agent's original schema.
 */
export function anthropicOutputSchema(schema: Record<string, unknown>): Record<string, unknown> {
  try {
    return transformJSONSchema(schema);
  } catch (error) {
    throw new ProviderError(
      `the agent's output_schema cannot be sent as Anthropic JSON outputs (${error instanceof Error ? error.message : String(error)}): give every schema a "type" (or anyOf/enum/const)`,
      { retryable: false, code: "bad_request" },
    );
  }
}

/** How the model is made to call the output tool (see above). */
export function anthropicOutputToolChoice(thinking: boolean, agentTools: boolean): ToolChoice {
  if (thinking) return { type: "auto" };
  if (agentTools) return { type: "any" };
  return { type: "tool", name: ANTHROPIC_OUTPUT_TOOL };
}

/** Anthropic's base URL has no `/v1` (the SDK adds it); one given with it is forgiven. */
function normaliseBaseURL(url: string | undefined): string | undefined {
  if (!url) return undefined;
  return url.replace(/\/+$/, "").replace(/\/v1$/, "");
}

interface PendingBlock {
  /**
   * `output`: a call of the output tool (structured output); `extra_output`: a second one in the
   * same turn (ignored, but replayed)
   */
  type: "text" | "tool_use" | "output" | "extra_output" | "thinking" | "redacted_thinking" | "other";
  id: string;
  name: string;
  /** tool input JSON; a text block's text; a thinking block's thinking; redacted thinking's data */
  json: string;
  signature?: string;
}

/**
 * The turn's content as the API returned it, for the replay, without what the API refuses back:
 * whitespace-only text blocks and thinking blocks that never got their signature (cut off).
 */
function replayContent(blocks: Map<number, PendingBlock>): AnthropicReplayBlock[] {
  const out: AnthropicReplayBlock[] = [];
  for (const index of [...blocks.keys()].sort((a, b) => a - b)) {
    const b = blocks.get(index)!;
    if (b.type === "thinking" && b.signature) out.push({ type: "thinking", thinking: b.json, signature: b.signature });
    else if (b.type === "redacted_thinking" && b.json) out.push({ type: "redacted_thinking", data: b.json });
    else if (b.type === "text" && hasText(b.json)) out.push({ type: "text", text: b.json });
    else if (b.type === "tool_use" || b.type === "output" || b.type === "extra_output") {
      out.push({ type: "tool_use", id: b.id, name: b.name, input: parseToolArguments(b.json.trim() === "" ? "{}" : b.json) });
    }
  }
  return out;
}

export class AnthropicProvider implements Provider {
  private readonly clients = new Map<string, Anthropic>();

  async complete(anyRequest: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult> {
    const config = configOf(anyRequest, "anthropic");
    const request: LlmRequest<AnthropicConfig> = { ...anyRequest, config };
    const { signal } = request;
    // An agent may name only the variables the operator allows, and its own base_url only on a
    // host the operator allows (README, Configuration); the operator's ANTHROPIC_BASE_URL is trusted.
    if (config.api_key_secret === undefined) allowedApiKeyEnv(LABEL, config.api_key_env, DEFAULT_ANTHROPIC_KEY_ENV);
    const envBaseURL = envValue(ANTHROPIC_ENV.baseUrl);
    const guarded = agentBaseUrlGuarded(LABEL, config.base_url, [envBaseURL, DEFAULT_URL], ANTHROPIC_ENV.baseUrl);
    const baseURL = normaliseBaseURL(config.base_url ?? envBaseURL);
    const ctx: ErrorContext = {
      label: LABEL,
      defaultUrl: DEFAULT_URL,
      sdk: SDK_ERRORS,
      apiKeyEnv: config.api_key_secret === undefined ? (config.api_key_env ?? DEFAULT_ANTHROPIC_KEY_ENV) : `the secret "${config.api_key_secret}"`,
      signal,
      baseURL,
      model: config.model,
    };
    if (signal.aborted) throw signal.reason;
    // The key: the agent's api_key_secret (a secret of the run's workspace, decrypted here) when
    // set, taking precedence over its environment variable.
    const { apiKey } = await resolveApiKey(LABEL, config, DEFAULT_ANTHROPIC_KEY_ENV, requestSecrets(anyRequest));
    if (!config.model) throw new ProviderError("the agent config has no model: set config.model", { retryable: false, code: "bad_request" });
    const client = this.client(baseURL, apiKey, guarded);
    try {
      return await this.stream(client, request, handlers);
    } catch (error) {
      throw providerError(error, ctx);
    }
  }

  /** A client per base URL and key; `guarded`: its requests go through the egress guard (an agent's own base_url). */
  private client(baseURL: string | undefined, apiKey: string, guarded: boolean): Anthropic {
    const cacheKey = `${baseURL ?? ""}\n${apiKey}\n${guarded}`;
    let client = this.clients.get(cacheKey);
    if (!client) {
      if (this.clients.size >= 32) this.clients.clear();
      client = new Anthropic({ apiKey, baseURL: baseURL ?? DEFAULT_URL, maxRetries: 0, ...(guarded && { fetch: defaultEgressGuard().sdkFetch }) });
      this.clients.set(cacheKey, client);
    }
    return client;
  }

  private async stream(client: Anthropic, request: LlmRequest<AnthropicConfig>, handlers: LlmStreamHandlers): Promise<LlmResult> {
    const { config, signal } = request;
    // what the models table (and the agent's model_info) says of the model: which request shapes it refuses
    const info = modelInfo("anthropic", config.model, config.model_info);
    // A thinking budget on a model without budget thinking (a config stored before the table said
    // so; the write check refuses it now) runs as adaptive thinking rather than a 400 on every call.
    const budgetConfigured = info.thinking === false && info.adaptive_thinking !== false ? undefined : config.thinking_budget_tokens;
    const adaptiveConfigured = config.thinking === "adaptive" || (config.thinking_budget_tokens !== undefined && budgetConfigured === undefined);
    // a first pass of the conversation, for anthropicLoopWithoutThinking; the request's is built
    // below, once its system and tools are known (the prefix its replays are checked against)
    const draft = anthropicMessages(request.messages, config.model);
    // no budget thinking in a tool loop begun without it (anthropicLoopWithoutThinking). Adaptive
    // thinking has no such rule: the model may skip thinking on any turn, so a turn without it is
    // one the API takes back under adaptive thinking.
    const budget = anthropicLoopWithoutThinking(draft) ? undefined : budgetConfigured;
    const adaptive = budget === undefined && adaptiveConfigured;
    // the model thinks without being asked (the table's thinks_by_default: Fable, Mythos, Opus 5.5, Sonnet 5.5)
    const thinksByDefault = config.thinking === undefined && !adaptiveConfigured && info.thinks_by_default === true;
    const thinking = budget !== undefined || adaptive || thinksByDefault;
    // max_tokens counts the thinking too: the agent's, else the model's longest output up to
    // ANTHROPIC_MAX_TOKENS_CAP (8192 for a model the table does not know); with a budget it must
    // exceed the budget, so a smaller one is read as the answer's own allowance.
    let maxTokens = config.max_tokens ?? Math.min(info.max_output_tokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS, ANTHROPIC_MAX_TOKENS_CAP);
    if (budget !== undefined && maxTokens <= budget) maxTokens += budget;
    let system = anthropicSystem(config.system_prompt, request.messages);
    const tools = request.tools.length > 0 ? anthropicTools(request.tools) : undefined;
    // `temperature` is deprecated by the API and gone from this SDK's types; an agent that sets
    // it still gets it sent to the models that take it (older models honour it).
    const params: MessageCreateParamsStreaming & { temperature?: number } = {
      model: config.model,
      max_tokens: maxTokens,
      messages: [],
      stream: true,
    };
    if (tools) params.tools = tools;
    if (request.outputSchema && anthropicUsesOutputFormat(info, thinking)) {
      params.output_config = { ...params.output_config, format: { type: "json_schema", schema: anthropicOutputSchema(request.outputSchema) } };
    } else if (request.outputSchema) {
      if (request.tools.some((t) => t.name === ANTHROPIC_OUTPUT_TOOL)) {
        throw new ProviderError(
          `the agent has a tool named "${ANTHROPIC_OUTPUT_TOOL}", the name of the tool that gives Anthropic models its output_schema: rename the agent's tool`,
          { retryable: false, code: "bad_request" },
        );
      }
      params.tools = [...(params.tools ?? []), anthropicOutputTool(request.outputSchema)];
      params.tool_choice = anthropicOutputToolChoice(thinking, request.tools.length > 0);
      if (params.tool_choice.type !== "tool") system = system ? `${system}\n\n${OUTPUT_INSTRUCTION}` : OUTPUT_INSTRUCTION;
    }
    // the conversation; on a model with preserved thinking, each replayed turn checked against the
    // prefix it was produced under (elsewhere a turn's thinking is never bound to its prefix)
    params.messages = info.preserved_thinking === true ? anthropicMessages(request.messages, config.model, new AnthropicPrefix(system, params.tools)) : draft;
    if (config.cache === "off") {
      if (system) params.system = system;
    } else {
      const cached = anthropicCacheBreakpoints(system, params.messages);
      if (cached.system) params.system = cached.system;
    }
    // Adaptive thinking is sent with display "summarized": the models that default to "omitted"
    // (Opus 4.7 and later, Fable, Mythos) would stream empty thinking, and on Opus 5.5 and Sonnet
    // 5.5 the text between tool calls comes as thinking too, so an AG-UI client would see none of
    // it. A model that thinks by default gets the same, explicitly (the documentation: adding
    // `thinking: {type: "adaptive"}` to such a request changes nothing else).
    if (budget !== undefined) params.thinking = { type: "enabled", budget_tokens: budget };
    else if (adaptive || thinksByDefault) params.thinking = { type: "adaptive", display: "summarized" };
    else if (config.thinking === "off") params.thinking = { type: "disabled" };
    if (config.effort !== undefined) params.output_config = { ...params.output_config, effort: config.effort };
    // thinking accepts no temperature but the default, and the models the table marks refuse any
    // (modelCapabilityIssues refuses it when the agent is written; a config written before the
    // table said so still runs, without it)
    if (config.temperature !== undefined && !thinking && info.temperature !== false) {
      params.temperature = config.temperature;
    }
    // Budget thinking on Claude 4 models before 4.6 thinks between tool calls only with the
    // interleaved-thinking beta (adaptive thinking always does): without it, the calls after the
    // first of a tool loop answer without thinking, and the loop would go on without it
    // (anthropicLoopWithoutThinking).
    const interleaved = budget !== undefined && info.interleaved_thinking_beta === true;
    const stream = await client.messages.create(params, { signal, ...(interleaved && { headers: { "anthropic-beta": INTERLEAVED_THINKING_BETA } }) });
    let model = config.model;
    let text = "";
    let reasoning = "";
    let inputTokens = 0;
    let outputTokens = 0;
    let cacheRead = 0;
    let cacheWrite = 0;
    let thinkingTokens = 0;
    let stopReason: string | null | undefined;
    let stopped = false;
    const blocks = new Map<number, PendingBlock>();
    const calls: PendingBlock[] = [];
    let output: PendingBlock | undefined;

    for await (const event of abortable<RawMessageStreamEvent>(stream, signal)) {
      switch (event.type) {
        case "message_start": {
          const usage = event.message.usage;
          if (event.message.model) model = event.message.model;
          cacheRead = usage.cache_read_input_tokens ?? 0;
          cacheWrite = usage.cache_creation_input_tokens ?? 0;
          inputTokens = (usage.input_tokens ?? 0) + cacheWrite + cacheRead;
          outputTokens = usage.output_tokens ?? 0;
          thinkingTokens = usage.output_tokens_details?.thinking_tokens ?? 0;
          break;
        }
        case "content_block_start": {
          const cb = event.content_block;
          if (cb.type === "tool_use" && request.outputSchema && cb.name === ANTHROPIC_OUTPUT_TOOL) {
            // the answer; a second call of the output tool in one turn is ignored
            const block: PendingBlock = { type: output ? "extra_output" : "output", id: cb.id || `toolu_${randomUUID()}`, name: cb.name, json: "" };
            blocks.set(event.index, block);
            output ??= block;
          } else if (cb.type === "tool_use") {
            const block: PendingBlock = { type: "tool_use", id: cb.id || `toolu_${randomUUID()}`, name: cb.name, json: "" };
            blocks.set(event.index, block);
            calls.push(block);
            handlers.onToolCallStart(block.id, block.name);
          } else if (cb.type === "text") {
            blocks.set(event.index, { type: "text", id: "", name: "", json: cb.text ?? "" });
            if (cb.text) {
              text += cb.text;
              handlers.onTextDelta(cb.text);
            }
          } else if (cb.type === "thinking") {
            blocks.set(event.index, { type: "thinking", id: "", name: "", json: cb.thinking ?? "", signature: cb.signature ?? "" });
            if (cb.thinking) {
              reasoning += cb.thinking;
              handlers.onReasoningDelta(cb.thinking);
            }
          } else if (cb.type === "redacted_thinking") {
            blocks.set(event.index, { type: "redacted_thinking", id: "", name: "", json: cb.data });
          } else {
            blocks.set(event.index, { type: "other", id: "", name: "", json: "" });
          }
          break;
        }
        case "content_block_delta": {
          const delta = event.delta;
          const block = blocks.get(event.index);
          if (delta.type === "text_delta") {
            if (delta.text) {
              if (block?.type === "text") block.json += delta.text;
              text += delta.text;
              handlers.onTextDelta(delta.text);
            }
          } else if (delta.type === "thinking_delta") {
            if (delta.thinking) {
              if (block?.type === "thinking") block.json += delta.thinking;
              reasoning += delta.thinking;
              handlers.onReasoningDelta(delta.thinking);
            }
          } else if (delta.type === "signature_delta") {
            if (block?.type === "thinking") block.signature = (block.signature ?? "") + delta.signature;
          } else if (delta.type === "input_json_delta") {
            if (block?.type === "tool_use" && delta.partial_json) {
              block.json += delta.partial_json;
              handlers.onToolCallArgs(block.id, delta.partial_json);
            } else if (block?.type === "output" && delta.partial_json) {
              block.json += delta.partial_json;
              handlers.onTextDelta(delta.partial_json);
            } else if (block?.type === "extra_output" && delta.partial_json) {
              block.json += delta.partial_json;
            }
          }
          break;
        }
        case "message_delta": {
          const usage = event.usage;
          if (usage.output_tokens != null) outputTokens = usage.output_tokens;
          // cumulative counts, when the API repeats them here
          if (usage.cache_read_input_tokens != null) cacheRead = usage.cache_read_input_tokens;
          if (usage.cache_creation_input_tokens != null) cacheWrite = usage.cache_creation_input_tokens;
          if (usage.input_tokens != null) inputTokens = usage.input_tokens + cacheWrite + cacheRead;
          if (usage.output_tokens_details?.thinking_tokens != null) thinkingTokens = usage.output_tokens_details.thinking_tokens;
          if (event.delta.stop_reason) stopReason = event.delta.stop_reason;
          break;
        }
        case "message_stop":
          stopped = true;
          break;
        default:
          break;
      }
    }
    if (!stopped) throw truncatedStream(LABEL, "message_stop");
    // A refusal, or a turn cut off by max_tokens with nothing usable (no text, or a tool call or
    // structured answer whose input was cut), is not committed as the model's turn: retrying the
    // same request would do the same, so the error says what to change.
    if (stopReason === "refusal") {
      throw new ProviderError(
        `${LABEL} declined to answer (stop_reason "refusal", model ${model}): rephrase the request or change the conversation; retrying it unchanged gets the same refusal`,
        { retryable: false, code: "bad_request" },
      );
    }
    if (stopReason === "max_tokens" && (calls.length > 0 || output !== undefined || text.trim() === "")) {
      throw new ProviderError(
        `${LABEL} stopped at max_tokens (${maxTokens}) before a usable answer (thinking counts towards it): raise the agent's max_tokens (model ${model} allows up to ${info.max_output_tokens ?? "its own limit"}) or lower its effort`,
        { retryable: false, code: "bad_request" },
      );
    }
    if (output && output.json.trim() === "") {
      // an input streamed whole at the block's start ({}, as far as this API goes)
      output.json = "{}";
      handlers.onTextDelta(output.json);
    }

    const tool_calls: ToolCall[] = calls.map((c) => ({ id: c.id, name: c.name, arguments: parseToolArguments(c.json) }));
    // A turn with thinking is replayed as the API returned it (see anthropicMessages); one
    // without (or whose only thinking was cut off unsigned) is rebuilt from its text and tool
    // calls as well as from a record.
    const content = replayContent(blocks);
    const thought = content.some((b) => b.type === "thinking" || b.type === "redacted_thinking");
    return {
      // the output tool's input, as the model wrote it (the engine parses and validates it)
      text: output ? output.json : text,
      ...(reasoning ? { reasoning } : {}),
      tool_calls,
      usage: {
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        ...(cacheRead > 0 && { cache_read_tokens: cacheRead }),
        ...(cacheWrite > 0 && { cache_write_tokens: cacheWrite }),
        ...(thinkingTokens > 0 && { reasoning_tokens: thinkingTokens }),
      },
      model,
      // the prefix the turn is bound to, hashed only for a turn that thought (its replay's check)
      ...(thought && { replay: { provider: "anthropic", model, data: { content, prefix: AnthropicPrefix.of(system, params.tools, params.messages) } } }),
    };
  }
}
