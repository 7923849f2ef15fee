// A tool step, between begin and commit: run one tool call of the last LLM turn (built-in,
// http, a human-approved one, a client's answer), park the run when the tool asks for a durable
// wait (a `park(...)` result, worker/tools/types.ts), or end the run interrupted when only
// answers from outside are left. No tool is known here by name: built-ins come from
// worker/tools/registry.ts, http tools from the agent's config.
import { randomUUID } from "node:crypto";
import type { AgUiEvent } from "../db/sql/appendEvents.ts";
import type { AgentConfig, ToolCall, ToolOutput } from "../db/schemas.ts";
import { StepAbort } from "./abort.ts";
import { approvalId, type Decision } from "./conversation.ts";
import type { ToolDefinition } from "./providers/types.ts";
import { stepName, type StepOutcome, type StepScope } from "./steps.ts";
import type { WorkspaceSecrets } from "./secrets.ts";
import { httpTool } from "./tools/http.ts";
import { builtinTools } from "./tools/registry.ts";
import { isWait, MAX_PARK_MS, toToolResult, ToolError, TransientToolError, type Tool } from "./tools/types.ts";
import { argumentProblems } from "./tools/validate.ts";

export interface AgentTool {
  definition: ToolDefinition;
  requiresApproval: boolean;
  tool: Tool;
}

const BUILTINS = builtinTools();

/**
 * The tools this agent may call, by name: its configured tools, built-in or http. `secrets`: the
 * run's workspace secrets, which http tools' header references ({"secret": "<name>"}) resolve
 * from when called.
 */
export function agentTools(config: AgentConfig, builtins: Record<string, Tool> = BUILTINS, secrets?: WorkspaceSecrets): Map<string, AgentTool> {
  const out = new Map<string, AgentTool>();
  for (const spec of config.tools) {
    const name = typeof spec === "string" ? spec : spec.name;
    const requiresApproval = typeof spec === "object" && spec.requires_approval === true;
    if (typeof spec === "object" && spec.type === "http") {
      const tool = httpTool(spec, secrets ? { secrets } : {});
      out.set(name, { definition: tool.definition, requiresApproval, tool });
      continue;
    }
    const tool = builtins[name];
    if (!tool) continue;
    const base = tool.definition;
    // a built-in keeps its own parameter schema (the config schema refuses another): its bounds are what keep its arguments sane
    const definition = typeof spec === "object" ? { name, description: spec.description ?? base.description, parameters: base.parameters } : base;
    out.set(name, { definition, requiresApproval, tool });
  }
  return out;
}

function result(
  scope: StepScope,
  call: ToolCall,
  content: string,
  isError: boolean,
  extra: { messageId?: string; consumes_signal?: number } = {},
): StepOutcome {
  const messageId = extra.messageId ?? randomUUID();
  const output: ToolOutput = { tool_call_id: call.id, message_id: messageId, content, is_error: isError };
  return {
    step: {
      kind: "tool",
      name: call.name,
      status: "succeeded",
      input: { tool_call_id: call.id, arguments: call.arguments },
      output,
      ...(extra.consumes_signal !== undefined && { consumes_signal: extra.consumes_signal }),
    },
    events: [
      { type: "TOOL_CALL_RESULT", messageId, toolCallId: call.id, content, role: "tool" },
      { type: "STEP_FINISHED", stepName: stepName(scope.seq, "tool", call.name) },
    ],
    next: { type: "continue" },
  };
}

export interface ToolStepInput {
  call: ToolCall;
  /** a durable wait of this call was committed and the run has been woken since */
  waited: boolean;
  decision?: Decision;
  client?: { content: string };
  /** what the run waited for, when it was woken from a wait (runs.waiting) */
  waiting: Record<string, unknown> | null;
  signals: Array<{ id: number; name: string; payload: unknown }>;
}

export async function runToolStep(scope: StepScope, input: ToolStepInput, tools: Map<string, AgentTool>): Promise<StepOutcome> {
  const { call } = input;
  const name = stepName(scope.seq, "tool", call.name);
  scope.writer.push({ type: "STEP_STARTED", stepName: name });

  if (input.client) return result(scope, call, input.client.content, false);
  if (input.decision && !input.decision.approved) {
    const why = input.decision.reason ? ` Reason: ${input.decision.reason}` : "";
    return result(scope, call, `The user rejected this call to ${call.name}; it was not executed.${why}`, true);
  }
  const args = input.decision?.arguments ?? call.arguments;
  const agentTool = tools.get(call.name);
  if (!agentTool) {
    const names = [...tools.keys()].join(", ") || "none";
    return result(scope, call, `Error: tool "${call.name}" is not available to this agent (available: ${names}).`, true);
  }
  const problems = argumentProblems(agentTool.definition.parameters, args);
  if (problems) return result(scope, call, `Error: invalid arguments for ${call.name}: ${problems}. Nothing was executed.`, true);

  try {
    const value = await agentTool.tool.execute(args, {
      runId: scope.runId,
      toolCallId: call.id,
      idempotencyKey: `${scope.runId}:${call.id}`,
      signal: scope.signal,
      resumed: input.waited,
      signals: input.signals,
    });
    const outcome = toToolResult(value);
    if (isWait(outcome)) {
      if (input.waited) throw new ToolError(`${call.name} asked to wait again after its wait ended`);
      const delayMs = outcome.delayMs;
      if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_PARK_MS) {
        throw new ToolError(`${call.name} asked to wait ${String(delayMs)} ms; a wait must be from 0 to ${MAX_PARK_MS} ms (30 days)`);
      }
      return {
        step: {
          kind: "wait",
          name: call.name,
          status: "succeeded",
          input: { tool_call_id: call.id, arguments: args },
          output: { ...outcome.output, tool_call_id: call.id },
        },
        events: [{ type: "STEP_FINISHED", stepName: name }],
        next: { type: "wait", delay_ms: Math.round(delayMs), waiting: { ...outcome.waiting, tool_call_id: call.id } },
      };
    }
    const content = typeof outcome.value === "string" ? outcome.value : JSON.stringify(outcome.value ?? null);
    return result(scope, call, content, false, outcome.consumesSignal !== undefined ? { consumes_signal: outcome.consumesSignal } : {});
  } catch (error) {
    if (error instanceof StepAbort || scope.signal.aborted) throw error;
    if (error instanceof TransientToolError) {
      // retried with the agent's policy (run_step.ts); after the last attempt the model is told
      if (scope.attempt < scope.config.retry.max_attempts) throw error;
      return result(scope, call, `Error: ${error.message} (gave up after ${scope.attempt} attempts)`, true);
    }
    const message = error instanceof ToolError ? error.message : `${call.name} failed: ${(error as Error).message ?? String(error)}`;
    return result(scope, call, `Error: ${message}`, true);
  }
}

/** Ends the run interrupted: approvals for a human, and client tool calls for the client. */
export function runInterruptStep(scope: StepScope, approvals: ToolCall[], clientCalls: ToolCall[], lastText: string): StepOutcome {
  const name = stepName(scope.seq, "system", "interrupt");
  const interrupts = approvals.map((call) => ({
    id: approvalId(call.id),
    reason: "tool_approval",
    message: `Approve calling ${call.name} with ${JSON.stringify(call.arguments)}?`,
    toolCallId: call.id,
    responseSchema: {
      type: "object",
      properties: { approved: { type: "boolean" }, arguments: { type: "object" }, reason: { type: "string" } },
      required: ["approved"],
    },
    metadata: { toolName: call.name, arguments: call.arguments },
  }));
  const pending = clientCalls.map((c) => c.id);
  const outcome = interrupts.length > 0 ? { type: "interrupt", interrupts } : { type: "success", pendingToolCallIds: pending };
  const events: AgUiEvent[] = [
    { type: "STEP_STARTED", stepName: name },
    { type: "STEP_FINISHED", stepName: name },
    { type: "RUN_FINISHED", threadId: scope.threadId, runId: scope.runId, outcome, result: { text: lastText } },
  ];
  return {
    step: {
      kind: "system",
      name: "interrupt",
      status: "succeeded",
      output: { interrupts, pending_tool_call_ids: pending, asked_tool_call_ids: [...approvals, ...clientCalls].map((c) => c.id) },
    },
    events,
    next: { type: "interrupt", interrupts: { interrupts, pending_tool_call_ids: pending }, output: { text: lastText } },
  };
}
