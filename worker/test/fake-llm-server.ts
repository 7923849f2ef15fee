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
import { FakeAnthropic } from "./fake-anthropic.ts";
import { nextId, type ErrorReply, type FakeApi, type FakeReply, type RecordedRequest, type StreamReply } from "./fake-llm-shared.ts";
import { FakeOpenAI } from "./fake-openai.ts";

export * from "./fake-llm-shared.ts";

const ROUTES: Record<string, FakeApi> = {
  "/v1/responses": "responses",
  "/v1/chat/completions": "chat_completions",
  "/v1/messages": "anthropic",
};

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
  /** The Anthropic API's rules and state (thinking signatures, prompt cache). */
  readonly anthropic = new FakeAnthropic();
  /** The OpenAI API's rules and state (reasoning items, stored responses, prompt cache). */
  readonly openai = new FakeOpenAI();
  /** When set, a request with another key gets a 401 (and consumes no reply). */
  expectedApiKey: string | undefined;
  /**
   * Answers a request when no reply is queued: a long conversation computed from what the model
   * is sent (context compaction's tests), instead of thousands of queued replies.
   */
  responder: ((request: RecordedRequest) => FakeReply) | undefined;
  /**
   * A model's context window: a request of more estimated input tokens (its JSON body's characters
   * / openai.charsPerToken, as the fakes count tokens) is refused with the API's context-length error, as a model
   * with that window refuses it. Unset: no limit.
   */
  maxInputTokens: number | undefined;
  /** The estimated input tokens of every request (the body's characters / openai.charsPerToken), in order. */
  readonly inputTokens: number[] = [];
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
    this.responder = undefined;
    this.maxInputTokens = undefined;
    this.inputTokens.length = 0;
    this.clientAborts = 0;
    this.anthropic.reset();
    this.openai.reset();
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
    const recorded: RecordedRequest = { api, method: req.method, path, headers: req.headers, body, apiKey };
    this.requests.push(recorded);
    const estimated = Math.ceil(text.length / this.openai.charsPerToken);
    this.inputTokens.push(estimated);
    if (this.maxInputTokens !== undefined && estimated > this.maxInputTokens) {
      const message =
        api === "anthropic"
          ? `prompt is too long: ${estimated} tokens > ${this.maxInputTokens} maximum`
          : `This model's maximum context length is ${this.maxInputTokens} tokens. However, your messages resulted in ${estimated} tokens. Please reduce the length of the messages.`;
      return this.sendError(res, api, { status: 400, message, type: "invalid_request_error", ...(api !== "anthropic" && { code: "context_length_exceeded" }) });
    }

    if (this.expectedApiKey !== undefined && apiKey !== this.expectedApiKey) {
      return this.sendError(res, api, { status: 401, message: "Incorrect API key provided" });
    }
    // a request the real API would refuse is refused, before it uses a queued reply
    const refused = api === "anthropic" ? this.anthropic.check(body, apiKey) : this.openai.check(api, body, apiKey);
    if (refused) return this.sendError(res, api, refused.error);
    const reply = this.queue.shift() ?? this.responder?.(recorded);
    if (!reply) {
      return this.sendError(res, api, { status: 500, message: "fake server: no reply queued for this request" });
    }
    if ("error" in reply) return this.sendError(res, api, reply.error);
    const model = typeof body.model === "string" ? body.model : "fake-model";
    const frames =
      api === "anthropic"
        ? this.anthropic.frames(reply, body, model, apiKey, [req.headers["anthropic-beta"] ?? ""].flat().join(","))
        : this.openai.frames(api, reply, body, model);
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
