// The deterministic built-in model (README, "Agent config"): script[k] is its reply to
// its k-th call within a run. Used for offline demos, tests and benchmarks; it streams, fails
// on request and reports token counts like a real provider.
import { randomUUID } from "node:crypto";
import type { ScriptTurn } from "./scripted.config.ts";
import { sleep } from "../../lib/sleep.ts";
import { configOf, ProviderError, type ChatMessage, type LlmRequest, type LlmResult, type LlmStreamHandlers, type Provider } from "./types.ts";

const CHUNK_CHARS = 12;

function chunks(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += CHUNK_CHARS) out.push(text.slice(i, i + CHUNK_CHARS));
  return out;
}

function tokens(chars: number): number {
  return Math.ceil(chars / 4);
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === "user") return m.content;
  }
  return "";
}

function injectedError(turn: ScriptTurn): ProviderError {
  switch (turn.error) {
    case "rate_limit":
      return new ProviderError("scripted provider: rate limited (429)", { retryable: true, status: 429, code: "rate_limit" });
    case "server_error":
      return new ProviderError("scripted provider: server error (500)", { retryable: true, status: 500, code: "server_error" });
    case "timeout":
      return new ProviderError("scripted provider: the call timed out", { retryable: true, code: "timeout" });
    default:
      return new ProviderError("scripted provider: bad request (400)", { retryable: false, status: 400, code: "bad_request" });
  }
}

export class ScriptedProvider implements Provider {
  async complete(request: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult> {
    const config = configOf(request, "scripted");
    const script = config.script;
    const turn: ScriptTurn = script[request.callIndex] ?? {
      text: `Done: the script has ${script.length} turn(s) and all were played. Last user message: ${lastUserText(request.messages)}`,
    };
    const delay = turn.delay_ms ?? 0;
    if (turn.error && request.attempt <= (turn.times ?? 1)) {
      if (delay > 0) await sleep(delay, request.signal);
      throw injectedError(turn);
    }

    const text = turn.text ?? "";
    const reasoning = turn.reasoning ?? "";
    const calls = (turn.tool_calls ?? []).map((c) => ({ id: `call_${randomUUID()}`, name: c.name, arguments: c.arguments }));
    const pieces: Array<() => void> = [];
    for (const piece of chunks(reasoning)) pieces.push(() => handlers.onReasoningDelta(piece));
    for (const piece of chunks(text)) pieces.push(() => handlers.onTextDelta(piece));
    for (const call of calls) {
      pieces.push(() => handlers.onToolCallStart(call.id, call.name));
      for (const piece of chunks(JSON.stringify(call.arguments))) pieces.push(() => handlers.onToolCallArgs(call.id, piece));
    }
    // delay_ms is spread over the stream, so a slow turn is seen streaming.
    const pause = pieces.length > 0 ? delay / pieces.length : delay;
    if (pieces.length === 0 && delay > 0) await sleep(delay, request.signal);
    for (const emit of pieces) {
      if (pause > 0) await sleep(pause, request.signal);
      else if (request.signal.aborted) throw request.signal.reason;
      emit();
    }

    const promptChars = request.messages.reduce((n, m) => n + m.content.length, 0) + (config.system_prompt?.length ?? 0);
    const outputChars = text.length + reasoning.length + calls.reduce((n, c) => n + c.name.length + JSON.stringify(c.arguments).length, 0);
    return {
      text,
      reasoning: reasoning || undefined,
      tool_calls: calls,
      usage: { input_tokens: tokens(promptChars), output_tokens: tokens(outputChars) },
      model: config.model ?? "scripted",
    };
  }
}
