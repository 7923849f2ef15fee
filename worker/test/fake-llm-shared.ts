// What the fake LLM server's parts share: the scripted replies' types and small helpers
// (fake-llm-server.ts serves them; fake-openai.ts and fake-anthropic.ts speak each wire format).
import type { IncomingHttpHeaders } from "node:http";

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

export function splitPieces(text: string, pieces: number): string[] {
  if (!text) return [];
  const n = Math.max(1, Math.min(pieces, text.length));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

let counter = 0;
export const nextId = (prefix: string) => `${prefix}_${(++counter).toString(36).padStart(6, "0")}`;

export function argsText(call: FakeToolCall): string {
  return typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments);
}

export function estimateUsage(reply: StreamReply): { input_tokens: number; output_tokens: number } {
  return reply.usage ?? { input_tokens: 10, output_tokens: 5 };
}
