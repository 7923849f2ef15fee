// The fake's Anthropic side: the Messages API stream (fake-llm-server.ts serves it), and the
// API's rules that tests depend on: signed thinking blocks that must come back unchanged in a
// tool loop, every tool_use answered in the next message, no whitespace-only text, and the prompt
// cache (cache_control breakpoints, cache read/write tokens).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { argsText, estimateUsage, nextId, splitPieces, type ErrorReply, type StreamReply } from "./fake-llm-shared.ts";

/** A thinking or redacted_thinking block as the fake streamed it (and wants it back). */
type ThoughtBlock = { type: "thinking"; thinking: string; signature: string } | { type: "redacted_thinking"; data: string };

/** The usage a reply reports. */
interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

interface FrameOptions {
  /** leading thinking blocks (signed), streamed before the reply's text and tool calls */
  thoughts: ThoughtBlock[];
  usage: AnthropicUsage;
  /** told every tool_use id streamed */
  onToolUse?: (id: string) => void;
  /** the message_delta's stop_reason (default: tool_use when the reply calls tools, else end_turn) */
  stopReason?: string;
  /** usage.output_tokens_details.thinking_tokens (message_start and message_delta) */
  thinkingTokens?: number;
}

// --- Anthropic Messages ----------------------------------------------------------------------

export function anthropicFrames(reply: StreamReply, requested: string, options?: FrameOptions): string[] {
  const model = reply.model ?? requested;
  const pieces = reply.pieces ?? 3;
  const frames: string[] = [];
  const emit = (type: string, data: Record<string, unknown>) => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  const estimated = estimateUsage(reply);
  const usage = options?.usage ?? { ...estimated, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  emit("message_start", {
    message: {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: usage.input_tokens,
        output_tokens: 1,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        ...(options?.thinkingTokens !== undefined && { output_tokens_details: { thinking_tokens: 0 } }),
      },
    },
  });
  emit("ping", {});
  let index = 0;
  const thoughts = options?.thoughts ?? (reply.reasoning ? [{ type: "thinking" as const, thinking: reply.reasoning, signature: "fake-signature" }] : []);
  for (const thought of thoughts) {
    if (thought.type === "redacted_thinking") {
      emit("content_block_start", { index, content_block: { type: "redacted_thinking", data: thought.data } });
    } else {
      emit("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
      for (const thinking of splitPieces(thought.thinking, pieces)) {
        emit("content_block_delta", { index, delta: { type: "thinking_delta", thinking } });
      }
      // an unsigned block: cut off before its signature came
      if (thought.signature) emit("content_block_delta", { index, delta: { type: "signature_delta", signature: thought.signature } });
    }
    emit("content_block_stop", { index });
    index++;
  }
  if (reply.text) {
    emit("content_block_start", { index, content_block: { type: "text", text: "" } });
    for (const text of splitPieces(reply.text, pieces)) emit("content_block_delta", { index, delta: { type: "text_delta", text } });
    emit("content_block_stop", { index });
    index++;
  }
  for (const call of reply.toolCalls ?? []) {
    const id = call.id ?? nextId("toolu");
    options?.onToolUse?.(id);
    emit("content_block_start", { index, content_block: { type: "tool_use", id, name: call.name, input: {} } });
    for (const partial_json of splitPieces(argsText(call), pieces)) {
      emit("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } });
    }
    emit("content_block_stop", { index });
    index++;
  }
  emit("message_delta", {
    delta: { stop_reason: options?.stopReason ?? (reply.toolCalls?.length ? "tool_use" : "end_turn"), stop_sequence: null },
    usage: {
      ...(options?.usage ? { ...usage } : { output_tokens: usage.output_tokens }),
      ...(options?.thinkingTokens !== undefined && { output_tokens_details: { thinking_tokens: options.thinkingTokens } }),
    },
  });
  emit("message_stop", {});
  return frames;
}

// --- rules -----------------------------------------------------------------------------------

/** The API's limit of cache_control blocks per request. */
const MAX_BREAKPOINTS = 4;
/** The smallest prefix the API caches (Sonnet's; a shorter one is simply not cached). */
export const MIN_CACHEABLE_TOKENS = 1024;
/** How far back from a breakpoint the API looks for a cached prefix, in blocks. */
const LOOKBACK_BLOCKS = 20;
const CACHE_TTL_MS = 5 * 60_000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const blocksOf = (content: unknown): Json[] =>
  typeof content === "string" ? [{ type: "text", text: content }] : Array.isArray(content) ? content.filter(isObject) : [];
const tokensOf = (value: unknown) => Math.ceil(JSON.stringify(value).length / 4);

function refuse(message: string): ErrorReply {
  return { error: { status: 400, message, type: "invalid_request_error" } };
}

// Per-model request rules, as Anthropic's documentation states them (model pages, "What's new",
// adaptive thinking, effort, structured outputs), kept here apart from lib/models/models.json so a
// wrong entry there fails a test instead of agreeing with itself. A list names models; a dated
// snapshot of one (claude-opus-4-7-20260416) is that model.

/** Adaptive thinking only: `thinking: {type: "enabled", budget_tokens}` is a 400 (Claude 4.7 and later). */
const NO_BUDGET_THINKING = [
  "claude-opus-4-7",
  "claude-opus-4-8",
  "claude-opus-5",
  "claude-opus-5-5",
  "claude-sonnet-5",
  "claude-sonnet-5-5",
  "claude-haiku-5-5",
  "claude-fable-5",
  "claude-mythos-5",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-fable-5-2",
  "claude-mythos-5-2",
];
/**
 * `thinking: {type: "disabled"}` is a 400 without thinking by default: Opus 4.7 (adaptive only;
 * thinking is off unless asked for). Also refused by ALWAYS_THINKS.
 */
const NO_THINKING_OFF = ["claude-opus-4-7"];
/** Thinking always on: `thinking: {type: "disabled"}` is a 400, and a request without `thinking` thinks. */
const ALWAYS_THINKS = [
  "claude-opus-5-5",
  "claude-sonnet-5-5",
  "claude-fable-5",
  "claude-mythos-5",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-fable-5-2",
  "claude-mythos-5-2",
];
/** `thinking: {type: "disabled"}` only at effort high or below (absent effort: the model's default, high): Opus 5. */
const THINKING_OFF_UP_TO_HIGH = ["claude-opus-5"];
/**
 * Budget thinking thinks between tool calls only with the `interleaved-thinking-2025-05-14` beta
 * header (Claude 4 before 4.6): without it, a request answering tool results streams no thinking.
 */
const INTERLEAVED_WITH_BETA = ["claude-opus-4-5", "claude-opus-4-1", "claude-opus-4", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5"];
/** Before adaptive thinking (Claude 4.6): `thinking: {type: "adaptive"}` is a 400. */
const NO_ADAPTIVE_THINKING = [
  "claude-sonnet-4-5",
  "claude-opus-4-5",
  "claude-haiku-4-5",
  "claude-opus-4-1",
  "claude-sonnet-4",
  "claude-opus-4",
  "claude-3-7-sonnet",
];
/**
 * Preserved thinking ("Prefix checks on thinking blocks"): a thinking block's signature is bound to
 * everything before it (system, tools, earlier messages and blocks); sent back after any of that
 * changed, it is a 400.
 */
const PRESERVED_THINKING = [
  "claude-fable-5-2",
  "claude-mythos-5-2",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-opus-5-5",
  "claude-sonnet-5-5",
  "claude-haiku-5-5",
];
/**
 * Thinking `display` defaults to "omitted" (Opus 4.7 and later, Fable, Mythos; on Opus 5.5 and
 * Sonnet 5.5 the text between tool calls too): thinking blocks stream with empty text, signed,
 * unless the request's thinking sets `display: "summarized"`.
 */
const DISPLAY_OMITTED = [
  "claude-opus-4-7",
  "claude-opus-4-8",
  "claude-opus-5",
  "claude-opus-5-5",
  "claude-sonnet-5-5",
  "claude-fable-5",
  "claude-mythos-5",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-fable-5-2",
  "claude-mythos-5-2",
];
/** Forced tool use (`tool_choice` `any` or `tool`) is a 400. */
const NO_FORCED_TOOL_USE = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1", "claude-mythos-5-1", "claude-fable-5-2", "claude-mythos-5-2"];
/** A non-default `temperature` is a 400. */
const NO_TEMPERATURE = [
  "claude-opus-4-7",
  "claude-opus-4-8",
  "claude-opus-5",
  "claude-opus-5-5",
  "claude-sonnet-5-5",
  "claude-haiku-5-5",
  "claude-fable-5",
  "claude-mythos-5",
  "claude-fable-5-1",
  "claude-mythos-5-1",
  "claude-fable-5-2",
  "claude-mythos-5-2",
];
/** No JSON outputs (`output_config.format`): before Claude 4.5. */
const NO_OUTPUT_FORMAT = [
  "claude-opus-4-1",
  "claude-opus-4",
  "claude-sonnet-4",
  "claude-3-7-sonnet",
  "claude-3-5-sonnet",
  "claude-3-5-haiku",
  "claude-3-opus",
  "claude-3-haiku",
];

/** The per-model lists above, for a test that the models table agrees with them. */
export const FAKE_ANTHROPIC_MODEL_RULES = {
  NO_BUDGET_THINKING,
  ALWAYS_THINKS,
  NO_THINKING_OFF,
  THINKING_OFF_UP_TO_HIGH,
  INTERLEAVED_WITH_BETA,
  NO_ADAPTIVE_THINKING,
  PRESERVED_THINKING,
  DISPLAY_OMITTED,
  NO_FORCED_TOOL_USE,
  NO_TEMPERATURE,
  NO_OUTPUT_FORMAT,
} as const;

const isModel = (model: string, names: string[]) =>
  names.some((name) => model === name || (model.startsWith(`${name}-`) && /^-\d{8}$/.test(model.slice(name.length))));
const THINKING_HINT = 'Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.';

/**
 * The Anthropic API's rules the fake enforces and the state it keeps between requests (one per
 * server). `check` answers a request that breaks a rule with the API's error, before any queued
 * reply is used; `frames` streams a reply.
 *
 * - Content: text blocks must hold non-whitespace text; every tool_use of an assistant message
 *   must be answered by a tool_result in the next (user) message, and every tool_result must
 *   answer a tool_use of the assistant message before it.
 * - Thinking: each thinking block streamed is signed (an HMAC of its text with the server's
 *   secret); `redactedThinking` adds opaque redacted_thinking blocks. A thinking block anywhere in
 *   the request (any message, any position) with a bad or empty signature, or redacted data the
 *   fake did not make, is refused; with `thinking` enabled, the last assistant message, when the
 *   request answers its tool_use, must start with a thinking block, and its thinking blocks must
 *   be those the fake streamed for it, unchanged, in order and in their place (leading).
 * - Prompt cache (`countTokens`): tokens are estimated from the request (JSON characters / 4 per
 *   block), and cache_control breakpoints read and write prefixes per API key and model.
 * - Models (the lists above): budget thinking, disabled thinking, adaptive thinking, forced tool
 *   use, temperature and output_config.format are refused by the models the documentation says
 *   refuse them; thinking (enabled or adaptive) refuses forced tool use on every model. A model
 *   that always thinks streams its thinking without a `thinking` setting, and under adaptive or
 *   default thinking a tool loop's turn must come back with the thinking blocks the fake streamed
 *   for it, unchanged (a turn the model streamed without thinking needs none, nor one whose
 *   preserved thinking's prefix changed). Preserved thinking: signatures bound to the prefix
 *   (prefixDigests), a changed one refused with the API's error. Display: the models that default
 *   to "omitted" stream empty thinking unless `display: "summarized"`. Opus 5 takes thinking off
 *   only up to effort high. JSON outputs refuse an object schema not closed with
 *   `additionalProperties: false`. With `betaOf` wired, budget thinking on Claude 4 before 4.6
 *   streams no thinking after tool results without the interleaved-thinking beta. Usage reports
 *   `output_tokens_details.thinking_tokens`; `stopReason` scripts a refusal or a max_tokens stop.
 */
export class FakeAnthropic {
  /**
   * Estimate input and output tokens from the request and the reply and run the prompt cache;
   * off: every reply reports the fixed usage of fake-llm-shared.ts (10 / 5, no cache).
   */
  countTokens = false;
  /** Each reply to a request with `thinking` enabled also carries this many redacted_thinking blocks (after its thinking). */
  redactedThinking = 0;
  /**
   * Replies are cut off by max_tokens while thinking: the thinking block ends without its
   * signature, the message stops with `max_tokens` (script such a reply with reasoning only).
   */
  cutOffThinking = false;
  /**
   * The request's `anthropic-beta` header ("" when none), for the interleaved-thinking rule. The
   * server does not pass headers to frames (worker/test/fake-llm-server.ts), so a test that wants
   * the rule wires this to the recorded request; unset, the rule is off (every reply may think).
   * Kept across reset().
   */
  betaOf: (() => string) | undefined;
  /** The stop_reason of every reply (e.g. "refusal", "max_tokens"); undefined: the usual one. */
  stopReason: string | undefined;
  /** Cache entries' clock (tests may move it to expire entries). */
  now: () => number = () => Date.now();
  /** What the cache did, one entry per reply streamed with countTokens. */
  readonly cacheLog: Array<{ breakpoints: number; read: number; write: number; input: number }> = [];
  private secret = randomBytes(32);
  /** The key of the request last checked (fake-llm-server.ts calls check, then frames, for one request). */
  private apiKey: string | undefined;
  /** The thinking blocks streamed in a turn and the prefix it was streamed after, by each tool_use id of the turn. */
  private readonly thoughtsOf = new Map<string, { thoughts: ThoughtBlock[]; prefix: string }>();
  /** Cached prefixes (api key, model, prefix hash) and when they expire. */
  private readonly cache = new Map<string, number>();

  check(body: Json, apiKey: string | undefined): ErrorReply | undefined {
    const messages = Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
    const refused = this.modelRules(body);
    if (refused) return refused;
    // cache_control: at most 4, never on thinking blocks
    let marks = 0;
    for (const tool of Array.isArray(body.tools) ? body.tools.filter(isObject) : []) if (tool.cache_control) marks++;
    for (const block of Array.isArray(body.system) ? body.system.filter(isObject) : []) if (block.cache_control) marks++;
    for (const [n, m] of messages.entries()) {
      for (const [i, block] of blocksOf(m.content).entries()) {
        if (!block.cache_control) continue;
        if (block.type === "thinking" || block.type === "redacted_thinking") {
          return refuse(`messages.${n}.content.${i}.${String(block.type)}.cache_control: Extra inputs are not permitted`);
        }
        if (block.type === "text" && block.text === "") return refuse(`messages.${n}.content.${i}.text: cache_control cannot be set for empty text blocks`);
        marks++;
      }
    }
    if (marks > MAX_BREAKPOINTS) return refuse(`A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${marks}.`);

    // text blocks (a string content is one) must hold more than whitespace
    for (const [n, m] of messages.entries()) {
      for (const [i, block] of blocksOf(m.content).entries()) {
        if (block.type === "text" && (typeof block.text !== "string" || block.text.trim() === "")) {
          return refuse(`messages.${n}.content.${i}: text content blocks must contain non-whitespace text`);
        }
      }
    }

    // tool_use and tool_result pair up across adjacent messages
    for (const [n, m] of messages.entries()) {
      const previous = messages[n - 1];
      const asked = new Set(previous?.role === "assistant" ? blocksOf(previous.content).flatMap((b) => (b.type === "tool_use" ? [b.id] : [])) : []);
      for (const [i, block] of blocksOf(m.content).entries()) {
        if (block.type === "tool_result" && (m.role !== "user" || !asked.has(block.tool_use_id))) {
          return refuse(
            `messages.${n}.content.${i}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. ` +
              "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
          );
        }
      }
      if (m.role !== "assistant") continue;
      const next = messages[n + 1];
      const answered = new Set(next?.role === "user" ? blocksOf(next.content).flatMap((b) => (b.type === "tool_result" ? [b.tool_use_id] : [])) : []);
      const unanswered = blocksOf(m.content).flatMap((b) => (b.type === "tool_use" && !answered.has(b.id) ? [String(b.id)] : []));
      if (unanswered.length > 0) {
        return refuse(
          `messages.${n + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered.join(", ")}. ` +
            "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        );
      }
    }

    // every thinking block must be one the fake signed; on a model with preserved thinking, signed
    // for exactly what precedes it in this request (its prefix)
    const model = typeof body.model === "string" ? body.model : "";
    const preserved = isModel(model, PRESERVED_THINKING);
    const prefixes = prefixDigests(body);
    for (const [n, m] of messages.entries()) {
      for (const [i, block] of blocksOf(m.content).entries()) {
        if (block.type === "thinking" && preserved && typeof block.thinking === "string" && typeof block.signature === "string") {
          if (!this.signed(block.thinking, block.signature, prefixes.before[n]![i])) {
            return refuse(
              `messages.${n}.content.${i}: Invalid \`signature\` in \`thinking\` block. The block is bound to a different conversation. ` +
                'Remove the block, or set `thinking.block_binding.prefix_mismatch_behavior` to "drop_block".',
            );
          }
          continue;
        }
        if (
          block.type === "thinking" &&
          !(typeof block.thinking === "string" && typeof block.signature === "string" && this.signed(block.thinking, block.signature))
        ) {
          return refuse(`messages.${n}.content.${i}: Invalid \`signature\` in \`thinking\` block`);
        }
        if (block.type === "redacted_thinking" && !(typeof block.data === "string" && this.validRedacted(block.data))) {
          return refuse(`messages.${n}.content.${i}: Invalid \`data\` in \`redacted_thinking\` block`);
        }
      }
    }

    // thinking enabled: the assistant turn the request's tool results answer starts with its thinking
    const thinking = isObject(body.thinking) && body.thinking.type === "enabled";
    const lastAssistant = messages.findLastIndex((m) => m.role === "assistant");
    const answered = lastAssistant >= 0 && blocksOf(messages[lastAssistant + 1]?.content).some((b) => b.type === "tool_result");
    // adaptive (or a model's default) thinking: the model may have skipped thinking on that turn,
    // but what it streamed must come back, unchanged and leading
    if (!thinking && answered && thinksBy(body)) {
      const turn = blocksOf(messages[lastAssistant]!.content);
      const isThought = (b: Json) => b.type === "thinking" || b.type === "redacted_thinking";
      const firstToolUse = turn.find((b) => b.type === "tool_use");
      const record = typeof firstToolUse?.id === "string" ? this.thoughtsOf.get(firstToolUse.id) : undefined;
      // preserved thinking whose prefix changed is invalid anyway: the turn may come without it
      const stale = preserved && record !== undefined && record.prefix !== prefixes.before[lastAssistant]![0];
      const streamed = stale ? undefined : record?.thoughts;
      const sent = turn.filter(isThought).map(thoughtOf);
      const leading = turn.findIndex((b) => !isThought(b));
      if (streamed !== undefined && streamed.length > 0 && (JSON.stringify(sent) !== JSON.stringify(streamed) || (leading >= 0 && leading < sent.length))) {
        return refuse(
          `messages.${lastAssistant}.content: the \`thinking\` blocks of this turn are missing or were changed: ` +
            "in a tool loop, pass thinking blocks back unmodified, in their original order and place",
        );
      }
    }
    if (thinking && answered) {
      const turn = blocksOf(messages[lastAssistant]!.content);
      const isThought = (b: Json) => b.type === "thinking" || b.type === "redacted_thinking";
      // every thinking block of the turn, wherever it is: the fake streams them all first
      const sent = turn.filter(isThought).map(thoughtOf);
      const leading = turn.findIndex((b) => !isThought(b));
      const firstToolUse = turn.find((b) => b.type === "tool_use");
      const streamed = typeof firstToolUse?.id === "string" ? this.thoughtsOf.get(firstToolUse.id)?.thoughts : undefined;
      if (turn.length === 0 || !isThought(turn[0]!)) {
        return refuse(
          `messages.${lastAssistant}.content.0: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(turn[0]?.type)}\`. ` +
            "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of " +
            "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this " +
            "requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
        );
      }
      if (streamed !== undefined && (JSON.stringify(sent) !== JSON.stringify(streamed) || (leading >= 0 && leading < sent.length))) {
        return refuse(
          `messages.${lastAssistant}.content: the \`thinking\` and \`redacted_thinking\` blocks of this turn were changed: ` +
            "thinking blocks must be passed back unmodified and in their original order",
        );
      }
    }
    // the server streams right after a check passes: the key the reply's cache entries are under
    this.apiKey = apiKey;
    return undefined;
  }

  frames(reply: StreamReply, body: Json, model: string, apiKey = this.apiKey, beta?: string): string[] {
    const thinking = thinksBy(body);
    const requested = typeof body.model === "string" ? body.model : model;
    const preserved = isModel(requested, PRESERVED_THINKING);
    // display: omitted by default on the models that say so, unless the request asks for a summary
    const display = isObject(body.thinking) && typeof body.thinking.display === "string" ? body.thinking.display : undefined;
    const omitted = display === "omitted" || (display === undefined && isModel(requested, DISPLAY_OMITTED));
    const prefix = prefixDigests(body).all;
    const thoughts: ThoughtBlock[] = [];
    // budget thinking without the interleaved-thinking beta: no thinking after tool results
    const messages = Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
    const afterToolResults = blocksOf(messages.at(-1)?.content).some((b) => b.type === "tool_result");
    const budget = isObject(body.thinking) && body.thinking.type === "enabled";
    const betas = beta ?? this.betaOf?.();
    const interleaved = !(
      betas !== undefined &&
      budget &&
      afterToolResults &&
      isModel(requested, INTERLEAVED_WITH_BETA) &&
      !betas.split(",").some((b) => b.trim() === "interleaved-thinking-2025-05-14")
    );
    if (reply.reasoning && interleaved) {
      const shown = omitted ? "" : reply.reasoning;
      // bound to the request's prefix on a model with preserved thinking (the thought is the turn's first block)
      const signature = this.cutOffThinking ? "" : this.sign(shown, preserved ? prefix : undefined);
      thoughts.push({ type: "thinking", thinking: shown, signature });
    }
    if (thinking) for (let i = 0; i < this.redactedThinking; i++) thoughts.push({ type: "redacted_thinking", data: this.redactedData() });
    const usage = this.countTokens
      ? this.cached(body, model, apiKey, reply)
      : { ...estimateUsage(reply), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
    // the thinking's own tokens (what it cost, whether or not its text is shown), part of output_tokens
    const thinkingTokens = reply.reasoning ? tokensOf(reply.reasoning) : 0;
    usage.output_tokens = Math.max(usage.output_tokens, thinkingTokens + 1);
    return anthropicFrames(reply, model, {
      thoughts,
      usage,
      thinkingTokens,
      onToolUse: (id) => this.thoughtsOf.set(id, { thoughts, prefix }),
      ...(this.cutOffThinking ? { stopReason: "max_tokens" } : this.stopReason ? { stopReason: this.stopReason } : {}),
    });
  }

  /** The per-model rules (the lists above), and thinking's with tool_choice. */
  private modelRules(body: Json): ErrorReply | undefined {
    const model = typeof body.model === "string" ? body.model : "";
    const thinking = isObject(body.thinking) ? body.thinking.type : undefined;
    if (thinking === "enabled" && isModel(model, NO_BUDGET_THINKING))
      return refuse(`"thinking.type.enabled" is not supported for this model. ${THINKING_HINT}`);
    if (thinking === "disabled" && (isModel(model, ALWAYS_THINKS) || isModel(model, NO_THINKING_OFF)))
      return refuse(`"thinking.type.disabled" is not supported for this model. ${THINKING_HINT}`);
    const effort = isObject(body.output_config) ? body.output_config.effort : undefined;
    if (thinking === "disabled" && isModel(model, THINKING_OFF_UP_TO_HIGH) && (effort === "xhigh" || effort === "max")) {
      return refuse(`"thinking.type.disabled" is supported for this model only at effort "high" or below; got "${String(effort)}".`);
    }
    if (thinking === "adaptive" && isModel(model, NO_ADAPTIVE_THINKING)) {
      return refuse(`"thinking.type.adaptive" is not supported for this model. Use "thinking.type.enabled" with "budget_tokens".`);
    }
    const choice = isObject(body.tool_choice) ? body.tool_choice.type : undefined;
    if (choice === "any" || choice === "tool") {
      if (isModel(model, NO_FORCED_TOOL_USE)) {
        return refuse(
          `tool_choice.type: "${choice}" is not supported for this model: forced tool use is unavailable; use "auto" (and output_config.format for JSON answers)`,
        );
      }
      if (thinking === "enabled" || thinking === "adaptive") return refuse("Thinking may not be enabled when tool_choice forces tool use.");
    }
    if (body.temperature !== undefined && body.temperature !== 1 && isModel(model, NO_TEMPERATURE))
      return refuse("`temperature` is deprecated for this model.");
    const output = isObject(body.output_config) ? body.output_config : undefined;
    if (output?.format !== undefined && output.format !== null) {
      const format = output.format;
      if (!isObject(format) || format.type !== "json_schema" || !isObject(format.schema)) {
        return refuse('output_config.format: must be {"type": "json_schema", "schema": {...}}');
      }
      if (isModel(model, NO_OUTPUT_FORMAT)) return refuse(`output_config.format: structured outputs are not supported for model ${model}`);
      const open = openObject(format.schema, "output_config.format.schema");
      if (open) return refuse(`${open}: For 'object' type, 'additionalProperties' must be explicitly set to false`);
    }
    return undefined;
  }

  reset(): void {
    this.countTokens = false;
    this.redactedThinking = 0;
    this.cutOffThinking = false;
    this.stopReason = undefined;
    this.now = () => Date.now();
    this.cacheLog.length = 0;
    this.thoughtsOf.clear();
    this.cache.clear();
    this.secret = randomBytes(32);
  }

  /** A thinking block's signature: what the fake would sign it with (bound to `prefix`, a prefixDigests digest, on a model with preserved thinking). */
  sign(thinking: string, prefix?: string): string {
    const bound = prefix === undefined ? "" : `prefix ${prefix}\n`;
    return createHmac("sha256", this.secret).update(`${bound}thinking\n${thinking}`).digest("base64");
  }

  private signed(thinking: string, signature: string, prefix?: string): boolean {
    const expected = Buffer.from(this.sign(thinking, prefix));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  private redactedData(): string {
    const nonce = randomBytes(18).toString("base64");
    const mac = createHmac("sha256", this.secret).update(`redacted\n${nonce}`).digest("base64");
    return Buffer.from(`${nonce}.${mac}`).toString("base64");
  }

  private validRedacted(data: string): boolean {
    const [nonce, mac] = Buffer.from(data, "base64").toString("utf8").split(".");
    return nonce !== undefined && mac !== undefined && createHmac("sha256", this.secret).update(`redacted\n${nonce}`).digest("base64") === mac;
  }

  /**
   * The prompt cache. Blocks in the API's order (tools, system, messages); the prefix ending at
   * each block is hashed. The request reads the longest cached prefix that ends at one of its
   * breakpoints or up to 20 blocks before one, writes (or refreshes) the prefix at each breakpoint
   * of at least MIN_CACHEABLE_TOKENS, and is billed the rest as uncached input.
   */
  private cached(body: Json, model: string, apiKey: string | undefined, reply: StreamReply): AnthropicUsage {
    const blocks: Array<{ json: string; marked: boolean }> = [];
    const add = (where: string, block: Json) => {
      const { cache_control, ...rest } = block;
      blocks.push({ json: `${where}:${JSON.stringify(rest)}`, marked: Boolean(cache_control) });
    };
    for (const tool of Array.isArray(body.tools) ? body.tools.filter(isObject) : []) add("tool", tool);
    for (const block of blocksOf(body.system)) add("system", block);
    // what the messages are read under: a change of tools' use or thinking invalidates their cache
    add("settings", { tool_choice: body.tool_choice ?? null, thinking: body.thinking ?? null });
    const messages = Array.isArray(body.messages) ? body.messages.filter(isObject) : [];
    for (const [n, m] of messages.entries()) for (const [i, block] of blocksOf(m.content).entries()) add(`${String(m.role)}${i === 0 ? `#${n}` : ""}`, block);

    const hashes: string[] = [];
    const cumulative: number[] = [];
    let hash = createHash("sha256")
      .update(`${apiKey ?? ""}\n${model}`)
      .digest("hex");
    let tokens = 0;
    for (const b of blocks) {
      hash = createHash("sha256").update(hash).update(b.json).digest("hex");
      tokens += Math.ceil(b.json.length / 4);
      hashes.push(hash);
      cumulative.push(tokens);
    }
    const now = this.now();
    const live = (h: string) => (this.cache.get(h) ?? 0) > now;
    const breakpoints = blocks.flatMap((b, i) => (b.marked ? [i] : []));
    let read = 0;
    for (const bp of breakpoints) {
      for (let j = bp; j >= 0 && j > bp - LOOKBACK_BLOCKS; j--) {
        if (live(hashes[j]!)) {
          read = Math.max(read, cumulative[j]!);
          this.cache.set(hashes[j]!, now + CACHE_TTL_MS); // a hit refreshes the entry
          break;
        }
      }
    }
    let written = read;
    for (const bp of breakpoints) {
      if (cumulative[bp]! < MIN_CACHEABLE_TOKENS) continue;
      this.cache.set(hashes[bp]!, now + CACHE_TTL_MS);
      written = Math.max(written, cumulative[bp]!);
    }
    const usage: AnthropicUsage = {
      input_tokens: tokens - written,
      cache_read_input_tokens: read,
      cache_creation_input_tokens: written - read,
      output_tokens: Math.max(1, tokensOf(`${reply.reasoning ?? ""}${reply.text ?? ""}${(reply.toolCalls ?? []).map(argsText).join("")}`) - 1),
    };
    this.cacheLog.push({ breakpoints: breakpoints.length, read, write: usage.cache_creation_input_tokens, input: usage.input_tokens });
    return usage;
  }
}

/**
 * The digests of a request's prefix as preserved thinking binds a block to it: `before[n][i]`, of
 * everything before block i of message n (system, tools, then every earlier block with its role);
 * `all`, of the whole request (what the reply's first block follows). Canonical: keys sorted,
 * cache_control left out (it changes nothing the model reads), a string content as its text block.
 */
function prefixDigests(body: Json): { before: string[][]; all: string } {
  const canonical = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
    if (isObject(value)) {
      const keys = Object.keys(value)
        .filter((k) => k !== "cache_control" && value[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
    }
    return JSON.stringify(value);
  };
  const hash = createHash("sha256");
  hash.update(`system ${canonical(blocksOf(body.system))}\ntools ${canonical(Array.isArray(body.tools) ? body.tools : [])}\n`);
  const before: string[][] = [];
  for (const m of Array.isArray(body.messages) ? body.messages.filter(isObject) : []) {
    const digests: string[] = [];
    for (const block of blocksOf(m.content)) {
      digests.push(hash.copy().digest("hex"));
      hash.update(`${String(m.role)} ${canonical(block)}\n`);
    }
    // an empty message: its (absent) first block follows everything so far
    if (digests.length === 0) digests.push(hash.copy().digest("hex"));
    before.push(digests);
  }
  return { before, all: hash.digest("hex") };
}

/**
 * The path of the first object schema in `schema` not closed with `additionalProperties: false`
 * (JSON outputs' rule, structured outputs "JSON Schema limitations"), or undefined.
 */
function openObject(schema: unknown, path: string): string | undefined {
  if (Array.isArray(schema)) {
    for (const [i, s] of schema.entries()) {
      const found = openObject(s, `${path}.${i}`);
      if (found) return found;
    }
    return undefined;
  }
  if (!isObject(schema)) return undefined;
  if (schema.type === "object" && schema.additionalProperties !== false) return path;
  for (const key of ["properties", "$defs", "definitions"]) {
    const children = schema[key];
    if (!isObject(children)) continue;
    for (const [name, child] of Object.entries(children)) {
      const found = openObject(child, `${path}.${key}.${name}`);
      if (found) return found;
    }
  }
  for (const key of ["items", "anyOf", "allOf", "oneOf"]) {
    const found = schema[key] === undefined ? undefined : openObject(schema[key], `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

/** Whether the request's model thinks: thinking enabled or adaptive, or no setting on a model that always thinks. */
function thinksBy(body: Json): boolean {
  const type = isObject(body.thinking) ? body.thinking.type : undefined;
  if (type === "enabled" || type === "adaptive") return true;
  return type === undefined && typeof body.model === "string" && isModel(body.model, ALWAYS_THINKS);
}

function thoughtOf(block: Json): ThoughtBlock {
  return block.type === "redacted_thinking"
    ? { type: "redacted_thinking", data: String(block.data) }
    : { type: "thinking", thinking: String(block.thinking), signature: String(block.signature) };
}
