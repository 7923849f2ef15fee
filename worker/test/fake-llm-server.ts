// A local stand-in for the OpenAI and Anthropic HTTP APIs, so the real SDKs can be tested
// offline. It serves POST /v1/responses and /v1/chat/completions (OpenAI) and POST /v1/messages
// (Anthropic), streaming server-sent events the way those APIs do, from a queue of scripted
// replies; it records every request (headers and parsed body).
//
//   const server = await FakeLlmServer.start();
//   server.reply({ text: "Hello", pieces: 3 }, { error: { status: 429, retryAfter: "2" } });
//   new OpenAI({ baseURL: server.openaiBaseURL, apiKey: "k", maxRetries: 0 });
//   new Anthropic({ baseURL: server.anthropicBaseURL, apiKey: "k", maxRetries: 0 });
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { sleep } from "../../lib/sleep.ts";

export type FakeApi = "responses" | "chat_completions" | "anthropic";

export interface FakeToolCall {
  /** The provider's id for the call (call_id / tool_use id); generated when absent. */
  id?: string;
  name: string;
  /** Streamed as is when a string (so it can be invalid JSON), else JSON-encoded. */
  arguments: string | Record<string, unknown>;
}

/** A 200 streamed reply. Order in the stream: reasoning, text, tool calls. */
export interface StreamReply {
  text?: string;
  /** Reasoning summary (Responses), reasoning_content (Chat), thinking (Anthropic). */
  reasoning?: string;
  toolCalls?: FakeToolCall[];
  /** Into how many deltas each text, reasoning and arguments string is cut (default 3). */
  pieces?: number;
  /** Pause between frames. */
  delayMs?: number;
  /** Pause before the response headers are sent. */
  headersDelayMs?: number;
  /** Send this many SSE frames, then destroy the socket (a connection reset mid-stream). */
  dieAfterChunks?: number;
  /** Send this many SSE frames, then end the body cleanly (a response cut short without an error). */
  endAfterChunks?: number;
  /** After this many frames, send an error event in the API's in-stream format and end. */
  streamError?: { afterChunks: number; type?: string; message?: string };
  usage?: { input_tokens: number; output_tokens: number };
  /** The model the API reports (default: the requested one). */
  model?: string;
}

/** An HTTP error in the API's own error format. */
export interface ErrorReply {
  error: {
    status: number;
    message?: string;
    /** OpenAI error.type / Anthropic error.type (defaults per status). */
    type?: string;
    /** OpenAI error.code. */
    code?: string;
    /** Retry-After header: seconds or an HTTP date. */
    retryAfter?: string;
    /** retry-after-ms header. */
    retryAfterMs?: string;
  };
}

export type FakeReply = StreamReply | ErrorReply;

export interface RecordedRequest {
  api: FakeApi;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body. */
  body: Record<string, unknown>;
  /** The key sent as `Authorization: Bearer <key>` or `x-api-key: <key>`. */
  apiKey: string | undefined;
}

const ROUTES: Record<string, FakeApi> = {
  "/v1/responses": "responses",
  "/v1/chat/completions": "chat_completions",
  "/v1/messages": "anthropic",
};

export function splitPieces(text: string, pieces: number): string[] {
  if (!text) return [];
  const n = Math.max(1, Math.min(pieces, text.length));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

let counter = 0;
const nextId = (prefix: string) => `${prefix}_${(++counter).toString(36).padStart(6, "0")}`;

function argsText(call: FakeToolCall): string {
  return typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments);
}

function estimateUsage(reply: StreamReply): { input_tokens: number; output_tokens: number } {
  return reply.usage ?? { input_tokens: 10, output_tokens: 5 };
}

// --- OpenAI Responses ------------------------------------------------------------------------

function responsesFrames(reply: StreamReply, requested: string): string[] {
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
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage,
    metadata: {},
  });
  const output: unknown[] = [];
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
    const item = { id: item_id, type: "reasoning", summary: [part] };
    emit("response.output_item.done", { output_index, item });
    output.push(item);
  }
  if (reply.text) {
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
  for (const call of reply.toolCalls ?? []) {
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
  const usage = estimateUsage(reply);
  emit("response.completed", {
    response: response("completed", output, {
      input_tokens: usage.input_tokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage.output_tokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage.input_tokens + usage.output_tokens,
    }),
  });
  return frames;
}

// --- OpenAI Chat Completions -----------------------------------------------------------------

function chatFrames(reply: StreamReply, requested: string): string[] {
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
        prompt_tokens: usage.input_tokens,
        completion_tokens: usage.output_tokens,
        total_tokens: usage.input_tokens + usage.output_tokens,
      },
    })}\n\n`,
  );
  frames.push("data: [DONE]\n\n");
  return frames;
}

// --- Anthropic Messages ----------------------------------------------------------------------

function anthropicFrames(reply: StreamReply, requested: string): string[] {
  const model = reply.model ?? requested;
  const pieces = reply.pieces ?? 3;
  const frames: string[] = [];
  const emit = (type: string, data: Record<string, unknown>) => {
    frames.push(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  const usage = estimateUsage(reply);
  emit("message_start", {
    message: {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: usage.input_tokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  });
  emit("ping", {});
  let index = 0;
  if (reply.reasoning) {
    emit("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
    for (const thinking of splitPieces(reply.reasoning, pieces)) {
      emit("content_block_delta", { index, delta: { type: "thinking_delta", thinking } });
    }
    emit("content_block_delta", { index, delta: { type: "signature_delta", signature: "fake-signature" } });
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
    emit("content_block_start", { index, content_block: { type: "tool_use", id: call.id ?? nextId("toolu"), name: call.name, input: {} } });
    for (const partial_json of splitPieces(argsText(call), pieces)) {
      emit("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } });
    }
    emit("content_block_stop", { index });
    index++;
  }
  emit("message_delta", {
    delta: { stop_reason: reply.toolCalls?.length ? "tool_use" : "end_turn", stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  emit("message_stop", {});
  return frames;
}

// --- errors ----------------------------------------------------------------------------------

const OPENAI_ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "invalid_request_error",
  403: "permission_denied",
  404: "invalid_request_error",
  429: "rate_limit_exceeded",
};
const ANTHROPIC_ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error",
};

function errorBody(api: FakeApi, e: ErrorReply["error"]): unknown {
  const message = e.message ?? `fake error ${e.status}`;
  if (api === "anthropic") {
    return { type: "error", error: { type: e.type ?? ANTHROPIC_ERROR_TYPES[e.status] ?? "api_error", message }, request_id: nextId("req") };
  }
  return { error: { message, type: e.type ?? OPENAI_ERROR_TYPES[e.status] ?? "server_error", param: null, code: e.code ?? null } };
}

/** An error reported inside a stream that started with HTTP 200. */
function streamErrorFrame(api: FakeApi, e: NonNullable<StreamReply["streamError"]>): string {
  const message = e.message ?? "fake error mid-stream";
  if (api === "anthropic") {
    return `event: error\ndata: ${JSON.stringify({ type: "error", error: { type: e.type ?? "overloaded_error", message } })}\n\n`;
  }
  if (api === "responses") {
    return `event: error\ndata: ${JSON.stringify({ type: "error", code: e.type ?? "server_error", message, param: null, sequence_number: 999 })}\n\n`;
  }
  return `data: ${JSON.stringify({ error: { message, type: e.type ?? "server_error", param: null, code: null } })}\n\n`;
}

function apiKeyOf(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string" && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, "");
  const key = headers["x-api-key"];
  return typeof key === "string" ? key : undefined;
}

export class FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  /** Streams the client closed before the server finished them (an aborted request). */
  clientAborts = 0;
  private readonly queue: FakeReply[] = [];
  private readonly server: Server;
  /** When set, a request with another key gets a 401 (and consumes no reply). */
  expectedApiKey: string | undefined;
  url = "";

  private constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: `fake server failed: ${String(error)}`, type: "server_error" } }));
        } else {
          res.destroy();
        }
      });
    });
  }

  static async start(): Promise<FakeLlmServer> {
    const fake = new FakeLlmServer();
    fake.server.listen(0, "127.0.0.1");
    await once(fake.server, "listening");
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    return fake;
  }

  /** OpenAI's base URL includes /v1. */
  get openaiBaseURL(): string {
    return `${this.url}/v1`;
  }

  /** Anthropic's does not (the SDK adds /v1/messages). */
  get anthropicBaseURL(): string {
    return this.url;
  }

  /** Queue replies, consumed one per request in order, whatever the endpoint. */
  reply(...replies: FakeReply[]): void {
    this.queue.push(...replies);
  }

  /** Replies not consumed yet. */
  get pending(): number {
    return this.queue.length;
  }

  /** Forget queued replies and recorded requests. */
  reset(): void {
    this.queue.length = 0;
    this.requests.length = 0;
    this.expectedApiKey = undefined;
    this.clientAborts = 0;
  }

  get lastRequest(): RecordedRequest | undefined {
    return this.requests[this.requests.length - 1];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = (req.url ?? "/").split("?")[0]!;
    const api = ROUTES[path];
    if (req.method !== "POST" || !api) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `fake server: no route ${req.method} ${path}`, type: "invalid_request_error" } }));
      return;
    }
    const text = Buffer.concat(chunks).toString("utf8");
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { _unparsable: text };
    }
    const apiKey = apiKeyOf(req.headers);
    this.requests.push({ api, method: req.method, path, headers: req.headers, body, apiKey });

    if (this.expectedApiKey !== undefined && apiKey !== this.expectedApiKey) {
      return this.sendError(res, api, { status: 401, message: "Incorrect API key provided" });
    }
    const reply = this.queue.shift();
    if (!reply) {
      return this.sendError(res, api, { status: 500, message: "fake server: no reply queued for this request" });
    }
    if ("error" in reply) return this.sendError(res, api, reply.error);
    const model = typeof body.model === "string" ? body.model : "fake-model";
    const frames = api === "responses" ? responsesFrames(reply, model) : api === "chat_completions" ? chatFrames(reply, model) : anthropicFrames(reply, model);
    await this.stream(req, res, api, frames, reply);
  }

  private sendError(res: ServerResponse, api: FakeApi, error: ErrorReply["error"]): void {
    const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": nextId("req") };
    if (error.retryAfter !== undefined) headers["retry-after"] = error.retryAfter;
    if (error.retryAfterMs !== undefined) headers["retry-after-ms"] = error.retryAfterMs;
    res.writeHead(error.status, headers);
    res.end(JSON.stringify(errorBody(api, error)));
  }

  private async stream(req: IncomingMessage, res: ServerResponse, api: FakeApi, frames: string[], reply: StreamReply): Promise<void> {
    let closed = false;
    let cut = false;
    res.on("close", () => {
      closed = true;
      if (!res.writableEnded && !cut) this.clientAborts++;
    });
    if (reply.headersDelayMs) await sleep(reply.headersDelayMs);
    if (closed) return;
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
    let sent = 0;
    for (const frame of frames) {
      if (closed) return;
      if (reply.dieAfterChunks !== undefined && sent >= reply.dieAfterChunks) {
        // let what was written reach the client, then cut the connection without ending the body
        await sleep(20);
        cut = true;
        req.socket.destroy();
        return;
      }
      if (reply.endAfterChunks !== undefined && sent >= reply.endAfterChunks) break;
      if (reply.streamError && sent >= reply.streamError.afterChunks) {
        res.write(streamErrorFrame(api, reply.streamError));
        break;
      }
      if (reply.delayMs && sent > 0) await sleep(reply.delayMs);
      if (closed) return;
      res.write(frame);
      sent++;
    }
    res.end();
  }
}
