// OpenAI through the official SDK: the Responses API (default) or Chat Completions (for
// OpenAI-compatible servers: `config.api = "chat_completions"`), always streaming. The SDK never
// retries (maxRetries 0): the engine retries with the agent's own policy, from the ProviderError
// that errors.ts makes of whatever went wrong.
import { randomUUID } from "node:crypto";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, OpenAIError } from "openai";
import { z } from "zod";
import type { CompletionUsage } from "openai/resources/completions";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions/completions";
import type {
  FunctionTool,
  Response as OpenAIResponse,
  ResponseCreateParamsStreaming,
  ResponseInputItem,
  ResponseOutputItem,
  ResponseStreamEvent,
  ResponseUsage,
} from "openai/resources/responses/responses";
import type { AgentConfig, AgentConfigOf, ToolCall } from "../../db/schemas.ts";
import { defaultEgressGuard } from "../../lib/egress/guard.ts";
import { modelInfo } from "../../lib/models/catalog.ts";
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
import { OPENAI_ENV } from "./openai.config.ts";
import { envValue } from "./spec.ts";
import {
  configOf,
  OUTPUT_SCHEMA_NAME,
  parseToolArguments,
  ProviderError,
  type ChatMessage,
  type LlmRequest,
  type LlmResult,
  type LlmStreamHandlers,
  type Provider,
  type ProviderReplay,
  type TokenUsage,
  type ToolDefinition,
} from "./types.ts";

export { parseToolArguments };

export const DEFAULT_OPENAI_KEY_ENV = OPENAI_ENV.apiKey;
const LABEL = "OpenAI";
const DEFAULT_URL = "https://api.openai.com/v1";
const SDK_ERRORS: SdkErrors = { base: OpenAIError, APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError };

type OpenAIConfig = AgentConfigOf<"openai">;

/** The JSON string sent back to the model for a call's arguments (the raw text if they were unparsable). */
export function toolArgumentsJson(args: Record<string, unknown>): string {
  const keys = Object.keys(args);
  if (keys.length === 1 && keys[0] === "_raw" && typeof args._raw === "string") return args._raw;
  return JSON.stringify(args);
}

export class OpenAIProvider implements Provider {
  private readonly clients = new Map<string, OpenAI>();

  async complete(anyRequest: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult> {
    const config = configOf(anyRequest, "openai");
    const request: LlmRequest<OpenAIConfig> = { ...anyRequest, config };
    const { signal } = request;
    // An agent may name only the variables the operator allows, and its own base_url only on a
    // host the operator allows (README, Configuration); the operator's OPENAI_BASE_URL is trusted.
    if (config.api_key_secret === undefined) allowedApiKeyEnv(LABEL, config.api_key_env, DEFAULT_OPENAI_KEY_ENV);
    const envBaseURL = envValue(OPENAI_ENV.baseUrl);
    const guarded = agentBaseUrlGuarded(LABEL, config.base_url, [envBaseURL, DEFAULT_URL], OPENAI_ENV.baseUrl);
    const baseURL = config.base_url ?? envBaseURL;
    const ctx: ErrorContext = {
      label: LABEL,
      defaultUrl: DEFAULT_URL,
      sdk: SDK_ERRORS,
      apiKeyEnv: config.api_key_secret === undefined ? (config.api_key_env ?? DEFAULT_OPENAI_KEY_ENV) : `the secret "${config.api_key_secret}"`,
      signal,
      baseURL,
      model: config.model,
    };
    if (signal.aborted) throw signal.reason;
    // The key: the agent's api_key_secret (a secret of the run's workspace, decrypted here) when
    // set, taking precedence over its environment variable.
    const { apiKey } = await resolveApiKey(LABEL, config, DEFAULT_OPENAI_KEY_ENV, requestSecrets(anyRequest));
    if (!config.model) throw new ProviderError("the agent config has no model: set config.model", { retryable: false, code: "bad_request" });
    const client = this.client(baseURL, apiKey, guarded);
    try {
      return config.api === "chat_completions"
        ? await completeChat(client, request, handlers, isOpenAIHost(baseURL))
        : await completeResponses(client, request, handlers, isOpenAIHost(baseURL));
    } catch (error) {
      throw providerError(error, ctx);
    }
  }

  /** A client per base URL and key; `guarded`: its requests go through the egress guard (an agent's own base_url). */
  private client(baseURL: string | undefined, apiKey: string, guarded: boolean): OpenAI {
    const cacheKey = `${baseURL ?? ""}\n${apiKey}\n${guarded}`;
    let client = this.clients.get(cacheKey);
    if (!client) {
      if (this.clients.size >= 32) this.clients.clear();
      client = new OpenAI({ apiKey, baseURL: baseURL ?? DEFAULT_URL, maxRetries: 0, ...(guarded && { fetch: defaultEgressGuard().sdkFetch }) });
      this.clients.set(cacheKey, client);
    }
    return client;
  }
}

/** Whether requests go to OpenAI itself (no base URL, or one on openai.com), not to a compatible server. */
export function isOpenAIHost(baseURL: string | undefined): boolean {
  if (!baseURL) return true;
  try {
    // OpenAI's own API, or Azure OpenAI (which takes OpenAI's parameters)
    const host = new URL(baseURL).hostname;
    return host === "openai.com" || host.endsWith(".openai.com") || host.endsWith(".openai.azure.com");
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Responses API

/**
 * What the Responses API returned for an assistant turn (LlmResult.replay.data): its output items
 * in order (reasoning items with their encrypted content, function calls, messages), sent back on
 * later calls to the same model so a reasoning model keeps its reasoning across a tool loop, and
 * the response's id (`stored`: OpenAI kept it, so a later call may continue from it with
 * previous_response_id, and its items may be named by id).
 */
const ReplayItemSchema = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("reasoning"), id: z.string().min(1), summary: z.array(z.unknown()), encrypted_content: z.string().nullish() }),
  z.looseObject({ type: z.literal("function_call"), call_id: z.string().min(1), name: z.string(), arguments: z.string() }),
  z.looseObject({ type: z.literal("message"), role: z.literal("assistant"), content: z.array(z.unknown()) }),
]);
const OpenAIReplaySchema = z.object({
  response_id: z.string().min(1).optional(),
  stored: z.boolean().optional(),
  items: z.array(ReplayItemSchema),
});
export type OpenAIReplayData = z.infer<typeof OpenAIReplaySchema>;

const REPLAY_TYPES = new Set(["reasoning", "function_call", "message"]);

/** An assistant message's recorded OpenAI turn, when it is one this provider can send back. */
function openaiReplay(m: Extract<ChatMessage, { role: "assistant" }>): OpenAIReplayData | undefined {
  if (m.replay?.provider !== "openai") return undefined;
  const parsed = OpenAIReplaySchema.safeParse(m.replay.data);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Whether a recorded turn's model is the model called now: the same name, or one a prefix of the
 * other (an alias and its dated snapshot, as the API reports it: gpt-5 and gpt-5-2025-08-07).
 * Reasoning is the model's own: another model gets the turn rebuilt from text and tool calls.
 */
function sameModel(recorded: string, current: string): boolean {
  return recorded !== "" && current !== "" && (recorded.startsWith(current) || current.startsWith(recorded));
}

/**
 * The items of a turn worth sending back: a reasoning item only when a message or function call
 * follows it. A response cut short while reasoning (`incomplete`, max_output_tokens spent) holds a
 * lone reasoning item, and the API refuses every later input that carries one ("Item 'rs_…' of
 * type 'reasoning' was provided without its required following item").
 */
function answeredItems<T extends { type: string }>(items: T[]): T[] {
  return items.filter((item, n) => item.type !== "reasoning" || items[n + 1]?.type === "message" || items[n + 1]?.type === "function_call");
}

/**
 * An output item as input to a request that cannot name it: items of a response OpenAI did not
 * store are found by nothing (Azure and proxies refuse their ids: "Item with id … not found.
 * Items are not persisted when `store` is set to false"; OpenAI's own Codex client never sends
 * them back), so the id goes (a function call is linked to its output by call_id, a reasoning item
 * travels by its encrypted content), and so do null fields, which some servers refuse as unknown
 * parameters.
 */
function withoutIds(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([key, value]) => key !== "id" && value !== null));
}

/**
 * The recorded items of an assistant turn, to be sent back; undefined (rebuild from text and tool
 * calls) when there is no record worth sending: a foreign or malformed one, one of another model,
 * one whose function calls are not the committed tool calls, one without reasoning (once lone
 * reasoning items are dropped), or one with a reasoning item without encrypted content (with
 * store false the API has no copy to find, and refuses the whole input). `byId`: the request may
 * name the items by id (OpenAI stored them and the request is stored too); else ids are dropped.
 */
function replayedItems(m: Extract<ChatMessage, { role: "assistant" }>, model: string, byId: boolean): ResponseInputItem[] | undefined {
  const data = openaiReplay(m);
  if (!data || !sameModel(m.replay!.model, model)) return undefined;
  const callIds = data.items.flatMap((i) => (i.type === "function_call" ? [i.call_id] : []));
  if (callIds.length !== m.tool_calls.length || callIds.some((id, n) => id !== m.tool_calls[n]!.id)) return undefined;
  const items = answeredItems(data.items);
  const reasoning = items.filter((i) => i.type === "reasoning");
  // without reasoning the rebuilt items say the same (and suit compatible servers best)
  if (reasoning.length === 0 || reasoning.some((i) => !i.encrypted_content)) return undefined;
  // output items are valid input items (the API's own advice: append response.output)
  const sent = byId && data.stored === true ? items : items.map(withoutIds);
  return sent as unknown as ResponseInputItem[];
}

/**
 * The conversation as Responses input items. `replayModel`: the model called, to which an
 * assistant turn's recorded items (its reasoning) of the same model go back; undefined for a model
 * that does not reason (an agent moved to one mid-thread), which may refuse reasoning items.
 * `byId`: recorded items may keep the ids of a stored response (replayedItems).
 */
export function responsesInput(messages: ChatMessage[], replayModel?: string, byId = false): ResponseInputItem[] {
  const input: ResponseInputItem[] = [];
  for (const m of messages) {
    switch (m.role) {
      case "system":
      case "developer":
      case "user":
        input.push({ type: "message", role: m.role, content: m.content });
        break;
      case "assistant": {
        const replayed = replayModel === undefined ? undefined : replayedItems(m, replayModel, byId);
        if (replayed) {
          input.push(...replayed);
          break;
        }
        if (m.content) input.push({ type: "message", role: "assistant", content: m.content });
        for (const call of m.tool_calls) {
          input.push({ type: "function_call", call_id: call.id, name: call.name, arguments: toolArgumentsJson(call.arguments) });
        }
        break;
      }
      case "tool":
        input.push({ type: "function_call_output", call_id: m.tool_call_id, output: m.content });
        break;
    }
  }
  return input;
}

/**
 * With `store: true`: the stored response the request continues from (the last assistant turn's,
 * when OpenAI kept it) and the messages after that turn, the only ones to send with it.
 */
export function responsesContinuation(messages: ChatMessage[]): { previousResponseId: string; after: ChatMessage[] } | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== "assistant") continue;
    const data = openaiReplay(m);
    if (!data?.response_id || data.stored !== true) return undefined;
    return { previousResponseId: data.response_id, after: messages.slice(i + 1) };
  }
  return undefined;
}

export function responsesTools(tools: ToolDefinition[]): FunctionTool[] {
  return tools.map((t) => ({ type: "function", name: t.name, description: t.description, parameters: t.parameters, strict: false }));
}

/**
 * Whether the model reasons (and so returns reasoning items): the agent set reasoning_effort, or
 * the models table says so (lib/models/models.json, the operator's file, the agent's model_info);
 * for a model the table does not describe, its name tells (o1, o3, gpt-5..., not a -chat one).
 * Only these may ask for encrypted reasoning: OpenAI refuses `include: ["reasoning.encrypted_content"]`
 * for other models ("Encrypted content is not supported with this model").
 */
function reasons(config: OpenAIConfig): boolean {
  if (config.reasoning_effort !== undefined) return true;
  return modelInfo("openai", config.model, config.model_info).reasoning ?? (/^(o\d|gpt-5)/.test(config.model) && !/-chat/.test(config.model));
}

/**
 * The request (`input`: the whole conversation). `openaiHost`: the server is OpenAI's own (isOpenAIHost).
 * `byId`: recorded items may be named by id (responsesInput), false once the stored response is gone.
 */
export function responsesParams(config: OpenAIConfig, request: LlmRequest, openaiHost: boolean, byId = config.store === true): ResponseCreateParamsStreaming {
  const reasoning = reasons(config);
  const params: ResponseCreateParamsStreaming = {
    model: config.model,
    input: responsesInput(request.messages, reasoning ? config.model : undefined, byId),
    stream: true,
    // Nothing is kept at OpenAI unless the agent allows it; the reasoning then travels with us,
    // encrypted, and goes back (responsesInput). Also when stored: if the stored response is
    // gone, the full input with its encrypted reasoning still works.
    store: config.store === true,
  };
  if (reasoning) params.include = ["reasoning.encrypted_content"];
  // OpenAI routes requests with the same key to the same cache: a thread's calls share a prefix.
  // A compatible server may refuse a field it does not know (as on the Chat path).
  if (openaiHost && config.cache !== "off" && request.threadId) params.prompt_cache_key = request.threadId;
  if (config.system_prompt) params.instructions = config.system_prompt;
  if (request.tools.length > 0) params.tools = responsesTools(request.tools);
  if (config.temperature !== undefined) params.temperature = config.temperature;
  if (config.max_tokens !== undefined) params.max_output_tokens = config.max_tokens;
  if (config.reasoning_effort) params.reasoning = { effort: config.reasoning_effort, summary: "auto" };
  // Structured outputs: strict, so the model's JSON matches the schema by construction (OpenAI
  // accepts only its strict subset: every property required, additionalProperties false).
  if (request.outputSchema) {
    params.text = { format: { type: "json_schema", name: OUTPUT_SCHEMA_NAME, schema: request.outputSchema, strict: true } };
  }
  return params;
}

interface PendingCall {
  id: string;
  name: string;
  /** The arguments so far (the final ones once a `done` event gave them). */
  args: string;
  /** What of them went to onToolCallArgs. */
  sent: string;
  started: boolean;
  order: number;
}

async function completeResponses(client: OpenAI, request: LlmRequest<OpenAIConfig>, handlers: LlmStreamHandlers, openaiHost: boolean): Promise<LlmResult> {
  const { config, signal } = request;
  const params = responsesParams(config, request, openaiHost);
  // a compacted conversation is sent as it is: the stored response would bring back every turn
  const continuation = config.store === true && request.compacted !== true ? responsesContinuation(request.messages) : undefined;
  let stream;
  if (continuation) {
    try {
      stream = await client.responses.create(
        {
          ...params,
          previous_response_id: continuation.previousResponseId,
          input: responsesInput(continuation.after, reasons(config) ? config.model : undefined, true),
        },
        { signal },
      );
    } catch (error) {
      // The stored response expired or was deleted: the full input (the recorded items, with
      // their encrypted reasoning) says the same without it; its items went with it, so none is
      // named by id.
      if (!previousResponseNotFound(error)) throw error;
      stream = await client.responses.create(responsesParams(config, request, openaiHost, false), { signal });
    }
  } else {
    stream = await client.responses.create(params, { signal });
  }

  let model = config.model;
  let text = "";
  let reasoning = "";
  let reasoningPart = "";
  let final: OpenAIResponse | undefined;
  const calls = new Map<string, PendingCall>(); // by output item id
  const byIndex = new Map<number, string>(); // output_index → item id
  const doneItems = new Map<number, ResponseOutputItem>(); // output_index → the completed item

  const reason = (delta: string, part: string) => {
    if (!delta) return;
    // separate summary parts (and items) by a blank line, as one reasoning text
    const piece = reasoning && part !== reasoningPart ? `\n\n${delta}` : delta;
    reasoningPart = part;
    reasoning += piece;
    handlers.onReasoningDelta(piece);
  };
  const callFor = (itemId: string | undefined, outputIndex: number): PendingCall => {
    // output indexes are unique per item: they find an item first seen without its id
    const key = itemId !== undefined && calls.has(itemId) ? itemId : (byIndex.get(outputIndex) ?? itemId ?? `#${outputIndex}`);
    let call = calls.get(key);
    if (!call) {
      call = { id: "", name: "", args: "", sent: "", started: false, order: outputIndex };
      calls.set(key, call);
      byIndex.set(outputIndex, key);
    }
    return call;
  };
  const start = (call: PendingCall) => {
    if (call.started || !call.name) return;
    if (!call.id) call.id = `call_${randomUUID()}`;
    call.started = true;
    handlers.onToolCallStart(call.id, call.name);
    flush(call);
  };
  /** Streams what of the arguments was not streamed yet (when the final ones extend it). */
  const flush = (call: PendingCall) => {
    if (!call.started || call.args.length <= call.sent.length || !call.args.startsWith(call.sent)) return;
    handlers.onToolCallArgs(call.id, call.args.slice(call.sent.length));
    call.sent = call.args;
  };

  for await (const event of abortable<ResponseStreamEvent>(stream, signal)) {
    switch (event.type) {
      case "response.created":
      case "response.in_progress":
        if (event.response.model) model = event.response.model;
        break;
      case "response.output_item.added":
        if (event.item.type === "function_call") {
          const call = callFor(event.item.id ?? undefined, event.output_index);
          call.id = event.item.call_id || event.item.id || call.id;
          call.name = event.item.name;
          call.args += event.item.arguments ?? "";
          start(call);
        }
        break;
      case "response.function_call_arguments.delta": {
        const call = callFor(event.item_id, event.output_index);
        call.args += event.delta;
        flush(call);
        break;
      }
      case "response.function_call_arguments.done": {
        const call = callFor(event.item_id, event.output_index);
        call.args = event.arguments;
        flush(call);
        break;
      }
      case "response.output_item.done":
        doneItems.set(event.output_index, event.item);
        if (event.item.type === "function_call") {
          const call = callFor(event.item.id ?? undefined, event.output_index);
          call.id = call.id || event.item.call_id || event.item.id || "";
          call.name = call.name || event.item.name;
          call.args = event.item.arguments ?? call.args;
          if (call.started) flush(call);
          else start(call);
        }
        break;
      case "response.output_text.delta":
      case "response.refusal.delta":
        if (event.delta) {
          text += event.delta;
          handlers.onTextDelta(event.delta);
        }
        break;
      case "response.reasoning_summary_text.delta":
        reason(event.delta, `${event.item_id}:${event.summary_index}`);
        break;
      case "response.reasoning_text.delta":
        reason(event.delta, `${event.item_id}:text:${event.content_index}`);
        break;
      case "response.completed":
      case "response.incomplete":
        final = event.response;
        break;
      case "response.failed": {
        const error = event.response.error;
        const code = error?.code ?? "";
        const retryable = /server_error|rate_limit|timeout|unavailable|overloaded/i.test(code) || code === "";
        throw new ProviderError(`OpenAI reported the response failed${code ? ` (${code})` : ""}: ${error?.message ?? "no detail"}`, {
          retryable,
          code: retryable ? "server_error" : "bad_request",
        });
      }
      default:
        break;
    }
  }
  if (!final) throw truncatedStream(LABEL, "response.completed");
  if (final.model) model = final.model;

  // What the stream did not carry (a server that streams little), the final response does.
  if (!text) {
    for (const item of final.output ?? []) {
      if (item.type !== "message") continue;
      for (const part of item.content) if (part.type === "output_text") text += part.text;
    }
  }
  if (calls.size === 0) {
    (final.output ?? []).forEach((item, index) => {
      if (item.type !== "function_call") return;
      const id = item.call_id || item.id || `call_${randomUUID()}`;
      calls.set(item.id ?? `#${index}`, { id, name: item.name, args: item.arguments, sent: "", started: false, order: index });
    });
  }
  const tool_calls: ToolCall[] = [...calls.values()]
    .filter((c) => c.name)
    .sort((a, b) => a.order - b.order)
    .map((c) => ({ id: c.id || `call_${randomUUID()}`, name: c.name, arguments: parseToolArguments(c.args) }));

  const output = final.output?.length ? final.output : [...doneItems.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
  const replay = responsesReplay(output, tool_calls, final.id, config, model);
  return {
    text,
    ...(reasoning ? { reasoning } : {}),
    tool_calls,
    usage: responsesUsage(final.usage),
    model,
    ...(replay && { replay }),
  };
}

function previousResponseNotFound(error: unknown): boolean {
  return error instanceof APIError && (error.status === 400 || error.status === 404) && error.code === "previous_response_not_found";
}

/**
 * The turn's output items to send back later (OpenAIReplayData), in order, without a reasoning
 * item nothing follows (answeredItems). A function_call item carries the id the engine committed
 * for its tool call (the same, unless the server gave none): the tool result that follows it
 * names that id.
 */
function responsesReplay(
  output: ResponseOutputItem[],
  toolCalls: ToolCall[],
  responseId: string,
  config: OpenAIConfig,
  model: string,
): ProviderReplay | undefined {
  const items: Array<Record<string, unknown>> = [];
  let call = 0;
  for (const item of output) {
    if (!REPLAY_TYPES.has(item.type)) continue;
    if (item.type === "function_call") {
      const committed = toolCalls[call++];
      if (!committed) return undefined;
      items.push({ ...item, call_id: committed.id });
    } else {
      items.push({ ...item });
    }
  }
  if (call !== toolCalls.length) return undefined;
  const answered = answeredItems(items as Array<{ type: string }>);
  // worth keeping for its reasoning, or for its id when OpenAI stored it
  if (config.store !== true && !answered.some((i) => i.type === "reasoning")) return undefined;
  const data = { ...(responseId && { response_id: responseId }), stored: config.store === true, items: answered };
  if (!OpenAIReplaySchema.safeParse(data).success) return undefined;
  return { provider: "openai", model, data };
}

/**
 * The categories of a Responses usage, when reported: cached input, input written to the cache
 * (billed above the input rate from GPT-5.6 on), reasoning output.
 */
export function responsesUsage(usage: ResponseUsage | undefined | null): TokenUsage {
  const counted = tokenUsage(
    usage?.input_tokens,
    usage?.output_tokens,
    usage?.input_tokens_details?.cached_tokens,
    usage?.output_tokens_details?.reasoning_tokens,
  );
  const written = usage?.input_tokens_details?.cache_write_tokens;
  return written ? { ...counted, cache_write_tokens: written } : counted;
}

function chatUsage(usage: CompletionUsage): TokenUsage {
  return tokenUsage(
    usage.prompt_tokens,
    usage.completion_tokens,
    usage.prompt_tokens_details?.cached_tokens,
    usage.completion_tokens_details?.reasoning_tokens,
  );
}

function tokenUsage(
  input: number | undefined,
  output: number | undefined,
  cached: number | undefined | null,
  reasoningTokens: number | undefined | null,
): TokenUsage {
  return {
    input_tokens: input ?? 0,
    output_tokens: output ?? 0,
    ...(cached ? { cache_read_tokens: cached } : {}),
    ...(reasoningTokens ? { reasoning_tokens: reasoningTokens } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Chat Completions

export function chatMessages(config: Pick<AgentConfig, "system_prompt">, messages: ChatMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  if (config.system_prompt) out.push({ role: "system", content: config.system_prompt });
  for (const m of messages) {
    switch (m.role) {
      case "system":
      case "developer":
        // "developer" is OpenAI's newer name; compatible servers mostly know only "system"
        out.push({ role: "system", content: m.content });
        break;
      case "user":
        out.push({ role: "user", content: m.content });
        break;
      case "assistant":
        out.push({
          role: "assistant",
          content: m.content || null,
          ...(m.tool_calls.length > 0
            ? {
                tool_calls: m.tool_calls.map((c) => ({
                  id: c.id,
                  type: "function" as const,
                  function: { name: c.name, arguments: toolArgumentsJson(c.arguments) },
                })),
              }
            : {}),
        });
        break;
      case "tool":
        out.push({ role: "tool", tool_call_id: m.tool_call_id, content: m.content });
        break;
    }
  }
  return out;
}

export function chatTools(tools: ToolDefinition[]): ChatCompletionTool[] {
  return tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
}

interface ChatCall {
  id: string;
  name: string;
  args: string;
  started: boolean;
}

/** Reasoning text as OpenAI-compatible servers stream it (DeepSeek, vLLM, OpenRouter...). */
type ChatDelta = ChatCompletionChunk.Choice.Delta & { reasoning_content?: string | null; reasoning?: string | null };

async function completeChat(client: OpenAI, request: LlmRequest<OpenAIConfig>, handlers: LlmStreamHandlers, openaiHost: boolean): Promise<LlmResult> {
  const { config, signal } = request;
  const params: ChatCompletionCreateParamsStreaming = {
    model: config.model,
    messages: chatMessages(config, request.messages),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (request.tools.length > 0) params.tools = chatTools(request.tools);
  if (config.temperature !== undefined) params.temperature = config.temperature;
  if (config.max_tokens !== undefined) {
    // OpenAI itself wants max_completion_tokens (max_tokens is refused by reasoning models);
    // compatible servers mostly know only max_tokens.
    if (openaiHost) params.max_completion_tokens = config.max_tokens;
    else params.max_tokens = config.max_tokens;
  }
  if (config.reasoning_effort) params.reasoning_effort = config.reasoning_effort;
  // OpenAI's own caching takes the key; a compatible server may refuse a field it does not know
  if (openaiHost && config.cache !== "off" && request.threadId) params.prompt_cache_key = request.threadId;
  if (request.outputSchema) {
    params.response_format = { type: "json_schema", json_schema: { name: OUTPUT_SCHEMA_NAME, schema: request.outputSchema, strict: true } };
  }

  const stream = await client.chat.completions.create(params, { signal });
  let model = config.model;
  let text = "";
  let reasoning = "";
  let finished = false;
  let usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  const calls = new Map<number, ChatCall>();
  const start = (call: ChatCall) => {
    if (call.started) return;
    if (!call.id) call.id = `call_${randomUUID()}`;
    call.started = true;
    handlers.onToolCallStart(call.id, call.name);
    if (call.args) handlers.onToolCallArgs(call.id, call.args);
  };

  for await (const chunk of abortable<ChatCompletionChunk>(stream, signal)) {
    if (chunk.model) model = chunk.model;
    if (chunk.usage) usage = chatUsage(chunk.usage);
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const delta = (choice.delta ?? {}) as ChatDelta;
    const thought = delta.reasoning_content ?? delta.reasoning;
    if (thought) {
      reasoning += thought;
      handlers.onReasoningDelta(thought);
    }
    for (const piece of [delta.content, delta.refusal]) {
      if (!piece) continue;
      text += piece;
      handlers.onTextDelta(piece);
    }
    for (const tc of delta.tool_calls ?? []) {
      let call = calls.get(tc.index);
      if (!call) {
        call = { id: "", name: "", args: "", started: false };
        calls.set(tc.index, call);
      }
      if (tc.id && !call.id) call.id = tc.id;
      if (tc.function?.name && !call.started) call.name += tc.function.name;
      const args = tc.function?.arguments ?? "";
      call.args += args;
      if (!call.started) {
        if (call.id && call.name) start(call);
      } else if (args) {
        handlers.onToolCallArgs(call.id, args);
      }
    }
    if (choice.finish_reason) finished = true;
  }
  if (!finished) throw truncatedStream(LABEL, "its finish_reason");

  const tool_calls: ToolCall[] = [...calls.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, call]) => {
      start(call);
      return { id: call.id, name: call.name, arguments: parseToolArguments(call.args) };
    });
  return { text, ...(reasoning ? { reasoning } : {}), tool_calls, usage, model };
}
