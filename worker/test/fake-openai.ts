// The fake's OpenAI side: the Responses and Chat Completions streams (fake-llm-server.ts serves them).
import { createHmac, randomBytes } from "node:crypto";
import { argsText, estimateUsage, nextId, splitPieces, type ErrorReply, type StreamReply } from "./fake-llm-shared.ts";

// --- OpenAI Responses ------------------------------------------------------------------------

/** What a Responses stream needs beyond the reply: the request's choices and the API's state. */
export interface ResponsesStreamOptions {
  /** The encrypted_content of a reasoning item (set when the request includes it). */
  encrypt?: (itemId: string) => string;
  /** max_output_tokens ran out while reasoning: the response is `incomplete`, with only its reasoning item. */
  incomplete?: boolean;
  /** The usage to report (default: the reply's, or the fixed estimate). */
  usage?: { input_tokens: number; cached_tokens: number; output_tokens: number; reasoning_tokens: number };
  store?: boolean;
  previousResponseId?: string;
}

export function responsesFrames(reply: StreamReply, requested: string, options: ResponsesStreamOptions = {}): string[] {
  return responsesStream(reply, requested, options).frames;
}

export function responsesStream(
  reply: StreamReply,
  requested: string,
  options: ResponsesStreamOptions = {},
): { frames: string[]; id: string; output: Array<Record<string, unknown>> } {
  const model = reply.model ?? requested;
  const pieces = reply.pieces ?? 3;
  const frames: string[] = [];
  let seq = 0;
  const emit = (type: string, data: Record<string, unknown>) => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`);
  };
  const id = nextId("resp");
  const created_at = Math.floor(Date.now() / 1000);
  const response = (status: string, output: unknown[], usage: unknown) => ({
    id,
    object: "response",
    created_at,
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: options.previousResponseId ?? null,
    reasoning: { effort: null, summary: null },
    store: options.store ?? true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage,
    metadata: {},
  });
  const output: Array<Record<string, unknown>> = [];
  emit("response.created", { response: response("in_progress", [], null) });
  emit("response.in_progress", { response: response("in_progress", [], null) });

  if (reply.reasoning) {
    const output_index = output.length;
    const item_id = nextId("rs");
    emit("response.output_item.added", { output_index, item: { id: item_id, type: "reasoning", summary: [] } });
    emit("response.reasoning_summary_part.added", { item_id, output_index, summary_index: 0, part: { type: "summary_text", text: "" } });
    for (const delta of splitPieces(reply.reasoning, pieces)) {
      emit("response.reasoning_summary_text.delta", { item_id, output_index, summary_index: 0, delta });
    }
    emit("response.reasoning_summary_text.done", { item_id, output_index, summary_index: 0, text: reply.reasoning });
    const part = { type: "summary_text", text: reply.reasoning };
    emit("response.reasoning_summary_part.done", { item_id, output_index, summary_index: 0, part });
    const item = {
      id: item_id,
      type: "reasoning",
      summary: [part],
      ...(options.encrypt && { encrypted_content: options.encrypt(item_id) }),
    };
    emit("response.output_item.done", { output_index, item });
    output.push(item);
  }
  if (reply.text && !options.incomplete) {
    const output_index = output.length;
    const item_id = nextId("msg");
    emit("response.output_item.added", {
      output_index,
      item: { id: item_id, type: "message", status: "in_progress", role: "assistant", content: [] },
    });
    emit("response.content_part.added", { item_id, output_index, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    for (const delta of splitPieces(reply.text, pieces)) {
      emit("response.output_text.delta", { item_id, output_index, content_index: 0, delta, logprobs: [] });
    }
    emit("response.output_text.done", { item_id, output_index, content_index: 0, text: reply.text, logprobs: [] });
    const part = { type: "output_text", text: reply.text, annotations: [] };
    emit("response.content_part.done", { item_id, output_index, content_index: 0, part });
    const item = { id: item_id, type: "message", status: "completed", role: "assistant", content: [part] };
    emit("response.output_item.done", { output_index, item });
    output.push(item);
  }
  for (const call of options.incomplete ? [] : (reply.toolCalls ?? [])) {
    const output_index = output.length;
    const item_id = nextId("fc");
    const call_id = call.id ?? nextId("call");
    const args = argsText(call);
    emit("response.output_item.added", {
      output_index,
      item: { id: item_id, type: "function_call", status: "in_progress", call_id, name: call.name, arguments: "" },
    });
    for (const delta of splitPieces(args, pieces)) {
      emit("response.function_call_arguments.delta", { item_id, output_index, delta });
    }
    emit("response.function_call_arguments.done", { item_id, output_index, arguments: args });
    const item = { id: item_id, type: "function_call", status: "completed", call_id, name: call.name, arguments: args };
    emit("response.output_item.done", { output_index, item });
    output.push(item);
  }
  const usage = options.usage ?? { ...estimateUsage(reply), cached_tokens: 0, reasoning_tokens: 0 };
  const final = response(options.incomplete ? "incomplete" : "completed", output, {
    input_tokens: usage.input_tokens,
    input_tokens_details: { cached_tokens: usage.cached_tokens },
    output_tokens: usage.output_tokens,
    output_tokens_details: { reasoning_tokens: usage.reasoning_tokens },
    total_tokens: usage.input_tokens + usage.output_tokens,
  });
  if (options.incomplete) {
    emit("response.incomplete", { response: { ...final, incomplete_details: { reason: "max_output_tokens" } } });
  } else {
    emit("response.completed", { response: final });
  }
  return { frames, id, output };
}

// --- OpenAI Chat Completions -----------------------------------------------------------------

export function chatFrames(reply: StreamReply, requested: string, counted?: { input_tokens: number; cached_tokens: number }): string[] {
  const model = reply.model ?? requested;
  const pieces = reply.pieces ?? 3;
  const id = nextId("chatcmpl");
  const created = Math.floor(Date.now() / 1000);
  const frames: string[] = [];
  const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) => {
    const body = {
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason }],
      usage: null,
    };
    frames.push(`data: ${JSON.stringify(body)}\n\n`);
  };
  chunk({ role: "assistant", content: "" });
  for (const piece of splitPieces(reply.reasoning ?? "", pieces)) chunk({ reasoning_content: piece });
  for (const piece of splitPieces(reply.text ?? "", pieces)) chunk({ content: piece });
  (reply.toolCalls ?? []).forEach((call, index) => {
    chunk({ tool_calls: [{ index, id: call.id ?? nextId("call"), type: "function", function: { name: call.name, arguments: "" } }] });
    for (const piece of splitPieces(argsText(call), pieces)) chunk({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  chunk({}, reply.toolCalls?.length ? "tool_calls" : "stop");
  const usage = estimateUsage(reply);
  frames.push(
    `data: ${JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices: [],
      usage: {
        prompt_tokens: counted?.input_tokens ?? usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: (counted?.input_tokens ?? usage.input_tokens) + usage.output_tokens,
        ...(counted && { prompt_tokens_details: { cached_tokens: counted.cached_tokens } }),
      },
    })}\n\n`,
  );
  frames.push("data: [DONE]\n\n");
  return frames;
}

type Item = Record<string, unknown>;

/** What a request amounts to once its previous response is resolved (check → frames). */
interface Context {
  /** The stored context it continues and its own input, in order. */
  items: Item[];
  /** The prompt as the cache sees it (instructions, tools, items), for token counting. */
  prompt: string;
  apiKey: string | undefined;
}

/** Input items of a request body: a string input is one user message. */
function inputItems(input: unknown): Item[] {
  if (typeof input === "string") return [{ type: "message", role: "user", content: input }];
  return Array.isArray(input) ? (input as Item[]) : [];
}

/** About 4 characters a token, as OpenAI's own rule of thumb. */
const tokens = (chars: number) => Math.ceil(chars / 4);

const NOT_PERSISTED = "Items are not persisted when `store` is set to false. Try again with `store` set to true, or remove this item from your input.";

/**
 * The OpenAI API's rules the fake enforces and the state it keeps between requests (one per
 * server). `check` answers a request that breaks a rule with the API's error, before any queued
 * reply is used; `frames` streams a reply.
 *
 * - Encrypted reasoning: with `include: ["reasoning.encrypted_content"]`, a reasoning item carries
 *   encrypted_content, opaque to the client: the fake signs the item's id with a per-server secret
 *   (what the content stands for is the item; its summary is only a rendering and is not
 *   checked). A reasoning item given back must carry content the fake issued (for the item of
 *   its id, when it has one), or be known by id from a stored response; and a message or
 *   function call must follow it ("…provided without its required following item").
 * - Ids: an input item that names an id must name an item of a stored response. Azure OpenAI and
 *   proxies answer so ("Item with id … not found. Items are not persisted when `store` is set to
 *   false"); OpenAI itself accepts the id of a reasoning item its encrypted content vouches for.
 *   The fake is Azure's strictness: a client that works here works on both.
 * - Tool loops: every function_call in the context (stored context and input) needs its
 *   function_call_output ("No tool output found for function call …"). A function_call the fake
 *   emitted after a reasoning item must come after that reasoning item (given with encrypted
 *   content, or stored) when sent to the model that made it (another model gets no reasoning).
 *   Stricter than the API on purpose: the real API checks this only for a function_call that
 *   names its item id (fc_…); the fake checks every call it emitted, by call_id, so a provider
 *   that drops reasoning fails here with or without ids.
 * - Stored responses (`store` not false) are kept with their context; previous_response_id of one
 *   unknown or forgotten (forgetResponses) is a 400 previous_response_not_found.
 * - max_output_tokens below the reply's reasoning tokens: the response ends `incomplete` with only
 *   its reasoning item, as the API's response does when the budget runs out while reasoning.
 * - Prompt cache (with countTokens): input tokens ≈ characters / 4 of the instructions, tools and
 *   input items; cached tokens = the longest prefix seen before for the same API key and
 *   prompt_cache_key, in steps of 128 tokens, from 1024 tokens.
 */
export class FakeOpenAI {
  /** Report token counts computed from the request (input, cached, reasoning) instead of the replies' fixed usage. */
  countTokens = false;
  /** The characters a counted input token stands for (4: English text; 1: dense text such as CJK or base64). */
  charsPerToken = 4;
  /** The errors the rules answered, in order. */
  readonly refusals: string[] = [];
  private readonly secret = randomBytes(16);
  /** function_call call_id → the reasoning item emitted before it, the call's item id, and the model asked */
  private readonly reasoningOf = new Map<string, { reasoningId: string; itemId: string; model: string }>();
  /** stored responses: id → their whole context (earlier context, input, output) */
  private readonly stored = new Map<string, Item[]>();
  /** ids of the output items of stored responses: they may come back by id */
  private readonly storedItems = new Set<string>();
  /** prompts seen, per API key and prompt_cache_key */
  private readonly prompts = new Map<string, string[]>();
  private readonly contexts = new WeakMap<Record<string, unknown>, Context>();

  /** Simulates the expiry of every stored response (and the items they kept). */
  forgetResponses(): void {
    this.stored.clear();
    this.storedItems.clear();
  }

  /** The opaque token the fake puts in a reasoning item's encrypted_content: the item, signed. */
  encrypt(itemId: string): string {
    return `fake-enc:${itemId}:${this.sign(itemId)}`;
  }

  /** The reasoning item an encrypted_content was issued for; undefined when the fake did not issue it. */
  private decrypt(content: string): string | undefined {
    const match = /^fake-enc:([^:]+):([\w-]+)$/.exec(content);
    return match && match[2] === this.sign(match[1]!) ? match[1] : undefined;
  }

  private sign(itemId: string): string {
    return createHmac("sha256", this.secret).update(itemId).digest("base64url");
  }

  check(api: "responses" | "chat_completions", body: Record<string, unknown>, apiKey: string | undefined): ErrorReply | undefined {
    const refuse = (status: number, message: string, code?: string): ErrorReply => {
      this.refusals.push(message);
      return { error: { status, message, type: "invalid_request_error", ...(code && { code }) } };
    };
    if (api === "chat_completions") {
      this.contexts.set(body, { items: [], prompt: JSON.stringify([body.messages, body.tools ?? null]), apiKey });
      return undefined;
    }
    let earlier: Item[] = [];
    const previous = body.previous_response_id;
    if (typeof previous === "string") {
      const context = this.stored.get(previous);
      if (!context) return refuse(400, `Previous response with id '${previous}' not found.`, "previous_response_not_found");
      earlier = context;
    }
    const input = inputItems(body.input);
    const items = [...earlier, ...input];
    // the reasoning item each given reasoning item stands for: by its encrypted content, or its id
    const reasoningIds = new Map<Item, string>();
    for (const [n, item] of input.entries()) {
      const id = typeof item.id === "string" ? item.id : undefined;
      if (id !== undefined && !this.storedItems.has(id)) return refuse(404, `Item with id '${id}' not found. ${NOT_PERSISTED}`);
      if (item.type !== "reasoning") continue;
      if (typeof item.encrypted_content === "string") {
        const issuedFor = this.decrypt(item.encrypted_content);
        if (issuedFor === undefined || (id !== undefined && issuedFor !== id)) {
          return refuse(400, `The encrypted content for item ${id ?? `input[${n}]`} could not be verified.`, "invalid_encrypted_content");
        }
        reasoningIds.set(item, issuedFor);
      } else if (id !== undefined) {
        reasoningIds.set(item, id);
      } else {
        return refuse(400, `Missing required parameter: 'input[${n}].encrypted_content' (a reasoning item without an id).`, "missing_required_parameter");
      }
      const next = input[n + 1];
      if (!(next?.type === "function_call" || (next?.type === "message" && next.role === "assistant"))) {
        return refuse(400, `Item '${reasoningIds.get(item)}' of type 'reasoning' was provided without its required following item.`);
      }
    }
    const seenReasoning = new Set<string>();
    for (const [n, item] of items.entries()) {
      if (item.type === "reasoning") seenReasoning.add(reasoningIds.get(item) ?? (typeof item.id === "string" ? item.id : ""));
      if (item.type !== "function_call" || typeof item.call_id !== "string") continue;
      const callId = item.call_id;
      // every function_call the fake emitted comes after the reasoning item that led to it
      const required = this.reasoningOf.get(callId);
      if (required && required.model === body.model && !seenReasoning.has(required.reasoningId)) {
        const id = typeof item.id === "string" ? item.id : required.itemId;
        return refuse(400, `Item '${id}' of type 'function_call' was provided without its required 'reasoning' item: '${required.reasoningId}'.`);
      }
      // and every function_call has its output
      if (!items.slice(n + 1).some((i) => i.type === "function_call_output" && i.call_id === callId)) {
        return refuse(400, `No tool output found for function call ${callId}.`);
      }
    }
    this.contexts.set(body, {
      items,
      prompt: JSON.stringify([body.instructions ?? null, body.tools ?? null]) + items.map((i) => JSON.stringify(i)).join(""),
      apiKey,
    });
    return undefined;
  }

  frames(api: "responses" | "chat_completions", reply: StreamReply, body: Record<string, unknown>, model: string): string[] {
    const context = this.contexts.get(body) ?? {
      items: inputItems(body.input),
      prompt: JSON.stringify(body.input ?? body.messages ?? null),
      apiKey: undefined,
    };
    const counted = this.countTokens ? this.countPrompt(context.prompt, body, context.apiKey) : undefined;
    if (api === "chat_completions") return chatFrames(reply, model, counted);

    const include = Array.isArray(body.include) ? (body.include as unknown[]) : [];
    const store = body.store !== false;
    const outputChars = (reply.text ?? "").length + (reply.toolCalls ?? []).reduce((n, c) => n + argsText(c).length, 0);
    const reasoningTokens = tokens((reply.reasoning ?? "").length);
    const incomplete = typeof body.max_output_tokens === "number" && reasoningTokens >= body.max_output_tokens;
    const stream = responsesStream(reply, model, {
      ...(include.includes("reasoning.encrypted_content") && { encrypt: (id: string) => this.encrypt(id) }),
      ...(incomplete && { incomplete }),
      ...(counted && {
        usage: { ...counted, reasoning_tokens: reasoningTokens, output_tokens: reply.usage?.output_tokens ?? tokens(outputChars) + reasoningTokens },
      }),
      store,
      ...(typeof body.previous_response_id === "string" && { previousResponseId: body.previous_response_id }),
    });
    let reasoningId: string | undefined;
    for (const item of stream.output) {
      if (store) this.storedItems.add(item.id as string);
      if (item.type === "reasoning") reasoningId = item.id as string;
      if (item.type === "function_call" && reasoningId) {
        this.reasoningOf.set(item.call_id as string, { reasoningId, itemId: item.id as string, model });
      }
    }
    if (store) this.stored.set(stream.id, [...context.items, ...stream.output]);
    return stream.frames;
  }

  /** Input and cached tokens of a prompt, remembering it for later requests with the same key. */
  private countPrompt(prompt: string, body: Record<string, unknown>, apiKey: string | undefined): { input_tokens: number; cached_tokens: number } {
    const key = `${apiKey ?? ""}\n${typeof body.prompt_cache_key === "string" ? body.prompt_cache_key : ""}`;
    const seen = this.prompts.get(key) ?? [];
    let common = 0;
    for (const earlier of seen) {
      const max = Math.min(earlier.length, prompt.length);
      let n = 0;
      while (n < max && earlier.charCodeAt(n) === prompt.charCodeAt(n)) n++;
      common = Math.max(common, n);
    }
    seen.push(prompt);
    this.prompts.set(key, seen);
    const commonTokens = Math.floor(common / 4);
    const cached = commonTokens >= 1024 ? Math.floor(commonTokens / 128) * 128 : 0;
    return { input_tokens: Math.ceil(prompt.length / this.charsPerToken), cached_tokens: cached };
  }

  reset(): void {
    this.countTokens = false;
    this.charsPerToken = 4;
    this.refusals.length = 0;
    this.reasoningOf.clear();
    this.forgetResponses();
    this.prompts.clear();
  }
}
