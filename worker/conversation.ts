// The conversation of a run, derived from what is committed: the run's input messages plus
// the output of every committed step. The next step is planned from the same facts, so a job
// needs to carry nothing but (run_id, seq).
import type { CommittedStep } from "../db/sql/beginStep.ts";
import { LlmOutputSchema, ToolOutputSchema, type InputMessage, type LlmOutput, type ToolCall, type ToolOutput } from "../db/schemas.ts";
import type { ChatMessage } from "./providers/types.ts";

export type Plan =
  | { kind: "llm"; callIndex: number }
  /** `waited`: a durable wait (sleep) for this call has already been committed. */
  | { kind: "tool"; call: ToolCall; parentMessageId: string; waited: boolean };

/** `steps`: the committed history from (at least) the last LLM turn on; `llmCount`: all LLM turns so far. */
export function planStep(steps: CommittedStep[], llmCount: number): Plan {
  let lastLlm: { index: number; output: LlmOutput } | undefined;
  steps.forEach((step, index) => {
    if (step.kind === "llm" && step.status === "succeeded") lastLlm = { index, output: LlmOutputSchema.parse(step.output) };
  });
  if (!lastLlm) return { kind: "llm", callIndex: 0 };
  const later = steps.slice(lastLlm.index + 1);
  const answered = new Set(later.filter((s) => s.kind === "tool").map((s) => ToolOutputSchema.parse(s.output).tool_call_id));
  const waited = new Set(later.filter((s) => s.kind === "wait").map((s) => (s.output as { tool_call_id?: string }).tool_call_id));
  for (const call of lastLlm.output.tool_calls) {
    if (!answered.has(call.id)) {
      return { kind: "tool", call, parentMessageId: lastLlm.output.message_id, waited: waited.has(call.id) };
    }
  }
  return { kind: "llm", callIndex: llmCount };
}

function textOf(content: InputMessage["content"]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => (part && typeof part === "object" && "text" in part && typeof part.text === "string" ? part.text : ""))
      .join("");
  }
  return "";
}

interface AgUiToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

function parseArguments(raw: string): Record<string, unknown> {
  try {
    const value = JSON.parse(raw) as unknown;
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { raw };
  }
}

/** The run's conversation as provider-neutral messages (the system prompt is added by the provider). */
export function chatMessages(input: InputMessage[], steps: CommittedStep[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of input) {
    if (m.role === "tool") {
      out.push({ role: "tool", tool_call_id: m.toolCallId ?? "", content: textOf(m.content) });
    } else if (m.role === "assistant") {
      const calls = ((m.toolCalls ?? []) as AgUiToolCall[]).map((c) => ({
        id: c.id,
        name: c.function.name,
        arguments: parseArguments(c.function.arguments),
      }));
      out.push({ role: "assistant", content: textOf(m.content), tool_calls: calls });
    } else {
      out.push({ role: m.role, content: textOf(m.content) });
    }
  }
  for (const step of steps) {
    if (step.status !== "succeeded") continue;
    if (step.kind === "llm") {
      const o = LlmOutputSchema.parse(step.output);
      out.push({ role: "assistant", content: o.text, tool_calls: o.tool_calls });
    } else if (step.kind === "tool") {
      const o = ToolOutputSchema.parse(step.output);
      out.push({ role: "tool", tool_call_id: o.tool_call_id, content: o.content });
    }
  }
  return out;
}

/** The run's committed conversation as AG-UI messages, for MESSAGES_SNAPSHOT. */
export function agUiMessages(runId: string, input: InputMessage[], steps: CommittedStep[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = input.map((m, i) => ({ ...m, id: m.id ?? `${runId}:input:${i}` }));
  for (const step of steps) {
    if (step.status !== "succeeded") continue;
    if (step.kind === "llm") {
      const o: LlmOutput = LlmOutputSchema.parse(step.output);
      out.push({
        id: o.message_id,
        role: "assistant",
        content: o.text,
        ...(o.tool_calls.length > 0 && {
          toolCalls: o.tool_calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } })),
        }),
      });
    } else if (step.kind === "tool") {
      const o: ToolOutput = ToolOutputSchema.parse(step.output);
      out.push({ id: o.message_id, role: "tool", toolCallId: o.tool_call_id, content: o.content });
    }
  }
  return out;
}
