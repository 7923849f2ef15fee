// An LLM turn, between begin and commit: it streams through the EventWriter and returns the
// checkpoint to commit, its closing events and what comes next (tool steps: tool-step.ts).
import { randomUUID } from "node:crypto";
import type { AgUiEvent } from "../db/sql/appendEvents.ts";
import type { NextStep, StepRecord } from "../db/sql/commitStep.ts";
import type { AgentConfig, LlmOutput, Usage } from "../db/schemas.ts";
import { StepAbort } from "./abort.ts";
import type { EventWriter } from "./event-writer.ts";
import { costUsd, type PriceOverrides } from "./pricing.ts";
import { ProviderError, type ChatMessage, type Provider, type TokenUsage, type ToolDefinition } from "./providers/types.ts";
import type { WorkspaceSecrets } from "./secrets.ts";
import { outputProblems } from "./tools/validate.ts";

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
  /** the run's workspace secrets, decrypted on use */
  secrets?: WorkspaceSecrets;
  /** the run's workspace's model prices (everruns.model_prices), over the built-in table */
  prices?: PriceOverrides;
  /** W3C traceparent naming this attempt's span, sent to http tools and MCP servers; set only when tracing is configured */
  traceparent?: string;
  /** W3C tracestate of the run's trace (runs.trace_state), sent unchanged with traceparent; set only with it */
  tracestate?: string;
}

/** The token counts of a provider's usage, without the parts it did not report (a step's usage). */
export function tokenUsage(u: TokenUsage): Omit<Usage, "cost_usd"> {
  return {
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    ...(u.cache_read_tokens ? { cache_read_tokens: u.cache_read_tokens } : {}),
    ...(u.cache_write_tokens ? { cache_write_tokens: u.cache_write_tokens } : {}),
    ...(u.reasoning_tokens ? { reasoning_tokens: u.reasoning_tokens } : {}),
  };
}

/** Two usages summed, as commit_step sums a run's (every count, and the cost to 8 decimals). */
export function addUsage(a: Usage, b: Usage): Usage {
  const sum = (k: "cache_read_tokens" | "cache_write_tokens" | "reasoning_tokens") => (a[k] ?? 0) + (b[k] ?? 0);
  return {
    input_tokens: a.input_tokens + b.input_tokens,
    output_tokens: a.output_tokens + b.output_tokens,
    ...(sum("cache_read_tokens") ? { cache_read_tokens: sum("cache_read_tokens") } : {}),
    ...(sum("cache_write_tokens") ? { cache_write_tokens: sum("cache_write_tokens") } : {}),
    ...(sum("reasoning_tokens") ? { reasoning_tokens: sum("reasoning_tokens") } : {}),
    cost_usd: Number((a.cost_usd + b.cost_usd).toFixed(8)),
  };
}

export function stepName(seq: number, kind: string, name: string): string {
  return `step ${seq}: ${kind} ${name}`;
}

function withTimeout(signal: AbortSignal, ms: number, what: string): AbortSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new StepAbort("timeout", `${what} timed out after ${ms} ms`)), ms);
  signal.addEventListener(
    "abort",
    () => {
      clearTimeout(timer);
      controller.abort(signal.reason);
    },
    { once: true },
  );
  controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  if (signal.aborted) controller.abort(signal.reason);
  return controller.signal;
}

/** The longest `output_errors` kept (the model reads them; a run's error names them). */
const MAX_OUTPUT_ERRORS_CHARS = 2000;

/**
 * A final answer read against the agent's output_schema: its JSON, or why it does not match.
 * Plain JSON text is expected (every provider is asked for it); a reply wrapped in a ```json
 * fence, as models write in prose, is forgiven.
 */
export function checkOutput(schema: Record<string, unknown>, text: string): { json: unknown } | { errors: string } {
  let json: unknown;
  const trimmed = text.trim();
  try {
    json = JSON.parse(trimmed);
  } catch (error) {
    const fenced = /^```(?:json)?\s*([\s\S]*?)\s*```$/i.exec(trimmed);
    try {
      if (!fenced) throw error;
      json = JSON.parse(fenced[1]!);
    } catch {
      const reason = trimmed === "" ? "it is empty" : (error as Error).message;
      return { errors: `the answer is not valid JSON (${reason})`.slice(0, MAX_OUTPUT_ERRORS_CHARS) };
    }
  }
  const problems = outputProblems(schema, json);
  return problems === null ? { json } : { errors: problems.slice(0, MAX_OUTPUT_ERRORS_CHARS) };
}

/** How many times this run's answers were already sent back for not matching its output_schema. */
function correctionsOf(runId: string, messages: ChatMessage[]): number {
  return messages.filter((m) => m.role === "user" && m.output_correction?.run_id === runId).length;
}

export async function runLlmStep(
  scope: StepScope,
  provider: Provider,
  messages: ChatMessage[],
  tools: ToolDefinition[],
  callIndex: number,
  /** what the call sends, when the agent's context is managed (worker/context/): recorded for the next call's estimate */
  context?: { summarized: boolean; figures: { chars: number; estimated_tokens: number; budget: number } },
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
    result = await provider.complete(
      {
        config,
        messages,
        tools,
        callIndex,
        attempt: scope.attempt,
        runId,
        threadId: scope.threadId,
        signal,
        ...(scope.secrets && { secrets: scope.secrets }),
        ...(config.output_schema && { outputSchema: config.output_schema }),
        ...(context?.summarized && { compacted: true }),
      },
      {
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
      },
    );
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

  const usage: Usage = { ...tokenUsage(result.usage), cost_usd: costUsd(config, result.model, result.usage, scope.prices) };
  const output: LlmOutput = {
    message_id: messageId,
    text: result.text,
    ...(result.reasoning ? { reasoning: result.reasoning } : {}),
    tool_calls: result.tool_calls,
    ...(result.replay && { replay: result.replay }),
  };
  const step: StepRecord = {
    kind: "llm",
    name: result.model,
    status: "succeeded",
    input: {
      call_index: callIndex,
      messages: messages.length,
      tools: tools.map((t) => t.name),
      ...(context && { context: { ...context.figures, summarized: context.summarized, input_tokens: result.usage.input_tokens } }),
    },
    output,
    usage,
  };
  if (result.tool_calls.length > 0) return { step, events, next: { type: "continue" } };

  // Structured output: the final answer must be JSON matching the agent's output_schema. The
  // first answer that is not goes back to the model once: the problems are committed with this
  // step (output_errors) and conversation.ts follows it with a correction message, so a retried
  // or resumed run rebuilds the same conversation. The next one fails the run. The count comes
  // from the committed conversation (its correction messages of this run), not from memory.
  let json: { value: unknown } | undefined;
  if (config.output_schema) {
    const checked = checkOutput(config.output_schema, result.text);
    if ("errors" in checked) {
      const corrections = correctionsOf(runId, messages);
      if (corrections === 0) {
        output.output_errors = checked.errors;
        events.push({ type: "CUSTOM", name: "everruns.output_invalid", value: { errors: checked.errors, corrections: 1 } });
        return { step, events, next: { type: "continue" } };
      }
      const message = `the answer did not match the agent's output_schema, after ${corrections} correction(s): ${checked.errors}`;
      const error = { code: "invalid_output", message };
      events.push({ type: "RUN_ERROR", message, code: error.code });
      return { step: { ...step, status: "failed", error }, events, next: { type: "fail", error } };
    }
    json = { value: checked.json };
  }

  const total = addUsage(scope.usage, usage);
  events.push({
    type: "RUN_FINISHED",
    threadId: scope.threadId,
    runId,
    outcome: { type: "success" },
    result: { text: result.text, ...(json && { json: json.value }), usage: total },
    usage: [
      {
        provider: config.provider,
        model: result.model,
        inputTokens: total.input_tokens,
        outputTokens: total.output_tokens,
        totalTokens: total.input_tokens + total.output_tokens,
      },
    ],
  });
  return { step, events, next: { type: "succeed", output: { text: result.text, ...(json && { json: json.value }) } } };
}
