// What one step does between begin and commit: an LLM turn or a tool call. Each returns the
// checkpoint to commit, its closing events and what comes next; neither touches the database
// (live events go through the EventWriter).
import { randomUUID } from "node:crypto";
import type { AgUiEvent } from "../db/sql/appendEvents.ts";
import type { NextStep, StepRecord } from "../db/sql/commitStep.ts";
import type { AgentConfig, LlmOutput, ToolCall, ToolOutput, Usage } from "../db/schemas.ts";
import { StepAbort } from "./abort.ts";
import type { EventWriter } from "./event-writer.ts";
import { costUsd } from "./pricing.ts";
import { ProviderError, type ChatMessage, type Provider, type ToolDefinition } from "./providers/types.ts";
import { sleepDefinition } from "./tools/builtin.ts";
import { ToolError, type Tool } from "./tools/types.ts";

export interface StepOutcome {
  step: StepRecord;
  events: AgUiEvent[];
  next: NextStep;
}

export interface StepScope {
  runId: string;
  threadId: string;
  seq: number;
  /** failed tries of this step so far + 1 */
  attempt: number;
  config: AgentConfig;
  writer: EventWriter;
  signal: AbortSignal;
  /** the run's usage before this step */
  usage: Usage;
}

export function stepName(seq: number, kind: string, name: string): string {
  return `step ${seq}: ${kind} ${name}`;
}

/** The tools this agent may call, by name. */
export function agentTools(config: AgentConfig, registry: Record<string, Tool>): Map<string, ToolDefinition> {
  const out = new Map<string, ToolDefinition>();
  for (const spec of config.tools) {
    const name = typeof spec === "string" ? spec : spec.name;
    if (name === "sleep") {
      out.set(name, sleepDefinition);
      continue;
    }
    const builtin = registry[name];
    if (typeof spec === "string") {
      if (builtin) out.set(name, builtin.definition);
    } else {
      out.set(name, {
        name,
        description: spec.description ?? builtin?.definition.description ?? "",
        parameters: spec.parameters ?? builtin?.definition.parameters ?? { type: "object" },
      });
    }
  }
  return out;
}

function withTimeout(signal: AbortSignal, ms: number, what: string): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new StepAbort("timeout", `${what} timed out after ${ms} ms`)), ms);
  signal.addEventListener("abort", () => {
    clearTimeout(timer);
    controller.abort(signal.reason);
  }, { once: true });
  controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  if (signal.aborted) controller.abort(signal.reason);
  return controller.signal;
}

export async function runLlmStep(
  scope: StepScope,
  provider: Provider,
  messages: ChatMessage[],
  tools: ToolDefinition[],
  callIndex: number,
): Promise<StepOutcome> {
  const { writer, runId, seq, config } = scope;
  const name = stepName(seq, "llm", config.model ?? config.provider);
  writer.push({ type: "STEP_STARTED", stepName: name });

  const messageId = randomUUID();
  const reasoningId = randomUUID();
  let reasoningOpen = false;
  let textOpen = false;
  const openCalls = new Set<string>();
  const startedCalls = new Set<string>();
  const closeReasoning = () => {
    if (!reasoningOpen) return;
    writer.push({ type: "REASONING_MESSAGE_END", messageId: reasoningId });
    writer.push({ type: "REASONING_END", messageId: reasoningId });
    reasoningOpen = false;
  };
  const closeText = () => {
    if (!textOpen) return;
    writer.push({ type: "TEXT_MESSAGE_END", messageId });
    textOpen = false;
  };
  let textStarted = false;

  const signal = withTimeout(scope.signal, config.llm_timeout_ms, "the LLM call");
  let result;
  try {
    result = await provider.complete({ config, messages, tools, callIndex, attempt: scope.attempt, signal }, {
      onReasoningDelta(delta) {
        if (!delta) return;
        if (!reasoningOpen) {
          writer.push({ type: "REASONING_START", messageId: reasoningId });
          writer.push({ type: "REASONING_MESSAGE_START", messageId: reasoningId, role: "reasoning" });
          reasoningOpen = true;
        }
        writer.push({ type: "REASONING_MESSAGE_CONTENT", messageId: reasoningId, delta });
      },
      onTextDelta(delta) {
        if (!delta) return;
        closeReasoning();
        if (!textOpen) {
          writer.push({ type: "TEXT_MESSAGE_START", messageId, role: "assistant" });
          textOpen = true;
          textStarted = true;
        }
        writer.push({ type: "TEXT_MESSAGE_CONTENT", messageId, delta });
      },
      onToolCallStart(id, toolName) {
        closeReasoning();
        closeText();
        for (const open of openCalls) writer.push({ type: "TOOL_CALL_END", toolCallId: open });
        openCalls.clear();
        writer.push({ type: "TOOL_CALL_START", toolCallId: id, toolCallName: toolName, parentMessageId: messageId });
        openCalls.add(id);
        startedCalls.add(id);
      },
      onToolCallArgs(id, delta) {
        if (delta && openCalls.has(id)) writer.push({ type: "TOOL_CALL_ARGS", toolCallId: id, delta });
      },
    });
  } catch (error) {
    if (error instanceof StepAbort && error.reason === "timeout") {
      throw new ProviderError(error.message, { retryable: true, code: "timeout", cause: error });
    }
    throw error;
  }

  const events: AgUiEvent[] = [];
  if (reasoningOpen) {
    events.push({ type: "REASONING_MESSAGE_END", messageId: reasoningId }, { type: "REASONING_END", messageId: reasoningId });
  }
  if (textOpen) events.push({ type: "TEXT_MESSAGE_END", messageId });
  for (const open of openCalls) events.push({ type: "TOOL_CALL_END", toolCallId: open });
  if (!textStarted && result.text) {
    // a provider that did not stream its text
    events.push(
      { type: "TEXT_MESSAGE_START", messageId, role: "assistant" },
      { type: "TEXT_MESSAGE_CONTENT", messageId, delta: result.text },
      { type: "TEXT_MESSAGE_END", messageId },
    );
  }
  for (const call of result.tool_calls) {
    if (startedCalls.has(call.id)) continue;
    // a provider that did not stream this tool call
    events.push(
      { type: "TOOL_CALL_START", toolCallId: call.id, toolCallName: call.name, parentMessageId: messageId },
      { type: "TOOL_CALL_ARGS", toolCallId: call.id, delta: JSON.stringify(call.arguments) },
      { type: "TOOL_CALL_END", toolCallId: call.id },
    );
  }
  events.push({ type: "STEP_FINISHED", stepName: name });

  const usage: Usage = { ...result.usage, cost_usd: costUsd(config.provider, config.model, result.usage) };
  const output: LlmOutput = {
    message_id: messageId,
    text: result.text,
    ...(result.reasoning ? { reasoning: result.reasoning } : {}),
    tool_calls: result.tool_calls,
  };
  const step: StepRecord = {
    kind: "llm",
    name: result.model,
    status: "succeeded",
    input: { call_index: callIndex, messages: messages.length, tools: tools.map((t) => t.name) },
    output,
    usage,
  };
  if (result.tool_calls.length > 0) return { step, events, next: { type: "continue" } };

  const total: Usage = {
    input_tokens: scope.usage.input_tokens + usage.input_tokens,
    output_tokens: scope.usage.output_tokens + usage.output_tokens,
    cost_usd: Number((scope.usage.cost_usd + usage.cost_usd).toFixed(8)),
  };
  events.push({ type: "RUN_FINISHED", threadId: scope.threadId, runId, result: { text: result.text, usage: total } });
  return { step, events, next: { type: "succeed", output: { text: result.text } } };
}

export async function runToolStep(
  scope: StepScope,
  call: ToolCall,
  waited: boolean,
  available: Map<string, ToolDefinition>,
  registry: Record<string, Tool>,
): Promise<StepOutcome> {
  const { writer, runId, seq } = scope;
  const name = stepName(seq, "tool", call.name);
  writer.push({ type: "STEP_STARTED", stepName: name });
  const input = { tool_call_id: call.id, arguments: call.arguments };

  if (call.name === "sleep" && available.has("sleep")) {
    const seconds = call.arguments.seconds;
    const valid = typeof seconds === "number" && Number.isFinite(seconds) && seconds >= 0 && seconds <= 31_536_000;
    if (valid && !waited) {
      // A durable timer: commit the wait, and the next job runs when it is due. No worker is held.
      return {
        step: { kind: "wait", name: "sleep", status: "succeeded", input, output: { tool_call_id: call.id, seconds } },
        events: [{ type: "STEP_FINISHED", stepName: name }],
        next: { type: "continue", delay_ms: seconds * 1000 },
      };
    }
    return toolResult(scope, name, call, input,
      valid ? { content: JSON.stringify({ slept_seconds: seconds }), isError: false }
            : { content: `Error: sleep needs "seconds", a number from 0 to 31536000; got ${JSON.stringify(seconds)}`, isError: true });
  }

  const tool = available.has(call.name) ? registry[call.name] : undefined;
  if (!tool) {
    const names = [...available.keys()].join(", ") || "none";
    return toolResult(scope, name, call, input, { content: `Error: tool "${call.name}" is not available to this agent (available: ${names}).`, isError: true });
  }
  try {
    const value = await tool.execute(call.arguments, {
      runId,
      toolCallId: call.id,
      idempotencyKey: `${runId}:${call.id}`,
      signal: scope.signal,
    });
    return toolResult(scope, name, call, input, { content: typeof value === "string" ? value : JSON.stringify(value ?? null), isError: false });
  } catch (error) {
    if (error instanceof StepAbort || scope.signal.aborted) throw error;
    const message = error instanceof ToolError ? error.message : `${call.name} failed: ${(error as Error).message ?? String(error)}`;
    return toolResult(scope, name, call, input, { content: `Error: ${message}`, isError: true });
  }
}

function toolResult(
  scope: StepScope,
  name: string,
  call: ToolCall,
  input: unknown,
  result: { content: string; isError: boolean },
): StepOutcome {
  const messageId = randomUUID();
  const output: ToolOutput = { tool_call_id: call.id, message_id: messageId, content: result.content, is_error: result.isError };
  return {
    step: { kind: "tool", name: call.name, status: "succeeded", input, output },
    events: [
      { type: "TOOL_CALL_RESULT", messageId, toolCallId: call.id, content: result.content, role: "tool" },
      { type: "STEP_FINISHED", stepName: name },
    ],
    next: { type: "continue" },
  };
}
