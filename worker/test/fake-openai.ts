// The fake's OpenAI side: the Responses and Chat Completions streams (fake-llm-server.ts serves them).
import { argsText, estimateUsage, nextId, splitPieces, type ErrorReply, type StreamReply } from "./fake-llm-shared.ts";

// --- OpenAI Responses ------------------------------------------------------------------------

export function responsesFrames(reply: StreamReply, requested: string): string[] {
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

export function chatFrames(reply: StreamReply, requested: string): string[] {
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

/**
 * The OpenAI API's rules the fake enforces and the state it keeps between requests (one per
 * server). `check` answers a request that breaks a rule with the API's error, before any queued
 * reply is used; `frames` streams a reply.
 */
export class FakeOpenAI {
  check(_api: "responses" | "chat_completions", _body: Record<string, unknown>, _apiKey: string | undefined): ErrorReply | undefined {
    return undefined;
  }

  frames(api: "responses" | "chat_completions", reply: StreamReply, _body: Record<string, unknown>, model: string): string[] {
    return api === "responses" ? responsesFrames(reply, model) : chatFrames(reply, model);
  }

  reset(): void {}
}
