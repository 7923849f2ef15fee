// The fake's Anthropic side: the Messages API stream (fake-llm-server.ts serves it).
import { argsText, estimateUsage, nextId, splitPieces, type ErrorReply, type StreamReply } from "./fake-llm-shared.ts";

// --- Anthropic Messages ----------------------------------------------------------------------

export function anthropicFrames(reply: StreamReply, requested: string): string[] {
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

/**
 * The Anthropic API's rules the fake enforces and the state it keeps between requests (one per
 * server). `check` answers a request that breaks a rule with the API's error, before any queued
 * reply is used; `frames` streams a reply.
 */
export class FakeAnthropic {
  check(_body: Record<string, unknown>, _apiKey: string | undefined): ErrorReply | undefined {
    return undefined;
  }

  frames(reply: StreamReply, _body: Record<string, unknown>, model: string): string[] {
    return anthropicFrames(reply, model);
  }

  reset(): void {}
}
