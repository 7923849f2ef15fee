// A tool step, between begin and commit: run one tool call of the last LLM turn (built-in,
// http, a human-approved one, a client's answer), park the run when the tool asks for a durable
// wait (a `park(...)` result, worker/tools/types.ts), or end the run interrupted when only
// answers from outside are left. No tool is known here by name: built-ins come from
// worker/tools/registry.ts, http tools from the agent's config.
//
// A call woken from its own wait is "resumed" (the run's `waiting` record names it): it may park
// again when it says so (`park({again: true})`, polling an MCP task), at most MAX_WAITS_PER_CALL
// times, and gets the waiting record (ctx.waiting) with what its last park kept (`state`). A
// resumed tracked (MCP) call skips the dispatch decision and marking: its dispatch was the call
// that started the wait, and what it does now (polls) is read-only. A tool that finds its outcome
// unknown (OutcomeUnknownError: an MCP task its server no longer knows) is decided as after a
// crash mid-call: called again when safe, else on_unknown_outcome.
import { randomUUID } from "node:crypto";
import type { AgUiEvent } from "../db/sql/appendEvents.ts";
import type { AgentConfig, ToolCall, ToolOutput } from "../db/schemas.ts";
import { StepAbort } from "./abort.ts";
import { approvalId, outcomeId, type ClientResult, type Decision, type OutcomeDecision } from "./conversation.ts";
import type { ToolDefinition } from "./providers/types.ts";
import { stepName, type StepOutcome, type StepScope } from "./steps.ts";
import type { WorkspaceSecrets } from "./secrets.ts";
import { httpTool } from "./tools/http.ts";
import { agentTool, type CallerScope } from "./sub-agents.ts";
import { builtinTools } from "./tools/registry.ts";
import {
  isWait,
  MAX_PARK_MS,
  MAX_WAITS_PER_CALL,
  OutcomeUnknownError,
  toToolResult,
  ToolError,
  TransientToolError,
  type RunUpdate,
  type Tool,
  type ToolContext,
} from "./tools/types.ts";
import { argumentProblems } from "./tools/validate.ts";

export interface AgentTool {
  definition: ToolDefinition;
  requiresApproval: boolean;
  tool: Tool;
  /**
   * Set for tools whose calls are recorded as dispatched before they are made (MCP tools): after
   * a crash mid-call the next attempt knows the outcome is unknown and decides by `idempotent`
   * (the tool says it is safe to call again) and the agent's `policy` (on_unknown_outcome).
   */
  dispatch?: { idempotent: boolean; policy: "interrupt" | "retry" | "fail" };
}

/** A tool call's dispatch records (db/sql/toolDispatches.ts), bound to the engine's pool. */
export interface DispatchLog {
  read(turnRunId: string, toolCallId: string): Promise<{ dispatches: number; state: string; authorizedBy: string | null; lastDispatchedAt: string } | null>;
  mark(call: { turnRunId: string; toolCallId: string; toolName: string; authorizedBy: string | null }): Promise<number>;
  settle(call: { turnRunId: string; toolCallId: string; dispatches: number }): Promise<boolean>;
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
    if (typeof spec === "object" && spec.type === "agent") {
      const tool = agentTool(spec, config);
      out.set(name, { definition: tool.definition, requiresApproval, tool });
      continue;
    }
    const tool = builtins[name];
    if (!tool) continue;
    const base = tool.definitionFor?.(config) ?? tool.definition;
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
  extra: { messageId?: string; consumes_signal?: number; clientHasIt?: boolean; update?: RunUpdate } = {},
): StepOutcome {
  const messageId = extra.messageId ?? randomUUID();
  const finished: AgUiEvent = { type: "STEP_FINISHED", stepName: stepName(scope.seq, "tool", call.name) };
  const output: ToolOutput = { tool_call_id: call.id, message_id: messageId, content, is_error: isError };
  // the run's new state or progress (update_state, report_progress): committed with this step, its events before the result
  const update = extra.update;
  const updates: AgUiEvent[] = update?.events ?? [];
  return {
    step: {
      kind: "tool",
      name: call.name,
      status: "succeeded",
      input: { tool_call_id: call.id, arguments: call.arguments },
      output,
      ...(extra.consumes_signal !== undefined && { consumes_signal: extra.consumes_signal }),
      ...(update?.state !== undefined && { state: update.state }),
      ...(update?.progress !== undefined && { progress: update.progress }),
    },
    // a client's own tool message is not streamed back to it: an AG-UI client adds every
    // TOOL_CALL_RESULT as a message, and would show the result it sent twice
    events: extra.clientHasIt ? [finished] : [...updates, { type: "TOOL_CALL_RESULT", messageId, toolCallId: call.id, content, role: "tool" }, finished],
    next: { type: "continue" },
  };
}

export interface ToolStepInput {
  call: ToolCall;
  /** the run whose LLM turn made the call (the idempotency key's run) */
  turnRunId: string;
  /** an answer to this call's unknown-outcome interrupt */
  outcome?: OutcomeDecision;
  /** the text of the turn that made the call (an interrupt's RUN_FINISHED carries it) */
  turnText?: string;
  /** where dispatches of tracked tools (AgentTool.dispatch) are recorded */
  dispatches?: DispatchLog;
  /** this is the step's first attempt (runs.step_attempt 1): no earlier attempt can have dispatched its call */
  firstAttempt?: boolean;
  /** a durable wait of this call was committed and the run has been woken since */
  waited: boolean;
  decision?: Decision;
  client?: ClientResult;
  /** what the run waited for, when it was woken from a wait (runs.waiting) */
  waiting: Record<string, unknown> | null;
  signals: Array<{ id: number; name: string; payload: unknown }>;
  /** reads the run's state as committed before this step (runs.state), for update_state */
  readState?: () => Promise<Record<string, unknown> | null>;
  /**
   * Whether the run's event log holds a STATE_* event yet. A run begun by a worker of the
   * previous release has no starting STATE_SNAPSHOT: its first change is streamed as a snapshot,
   * a delta would have no base at the client.
   */
  stateStreamed?: () => Promise<boolean>;
  /** reads a slice of a tool result of the run's thread (read_result; worker/context/) */
  readToolResult?: ToolContext["readToolResult"];
  /** what a sub-agent call needs of this run (worker/sub-agents.ts) */
  caller?: CallerScope;
}

export async function runToolStep(scope: StepScope, input: ToolStepInput, tools: Map<string, AgentTool>): Promise<StepOutcome> {
  const { call } = input;
  const name = stepName(scope.seq, "tool", call.name);
  scope.writer.push({ type: "STEP_STARTED", stepName: name });

  if (input.client) {
    // the client's answer keeps the id of its tool message (known to the thread: threadMessageIds)
    const own = input.client.messageId;
    return result(scope, call, input.client.content, false, own !== undefined ? { messageId: own, clientHasIt: true } : {});
  }
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

  // Woken from this call's own wait. A tracked call's wait may be in an earlier run of the thread
  // (its poll found the outcome unknown, and this run answers that interrupt): then it has no
  // waiting record here, and it is a new call, decided and marked as any.
  const waitingRecord = input.waiting !== null && input.waiting.tool_call_id === call.id ? input.waiting : undefined;
  const resumed = input.waited && (agentTool.dispatch === undefined || waitingRecord !== undefined);

  let dispatched: number | undefined;
  if (agentTool.dispatch && !resumed) {
    if (!input.dispatches) throw new Error(`${call.name} is a tracked tool, and this step has no dispatch log`);
    const decided = await decideDispatch(scope, input, agentTool.dispatch, args, name);
    if (decided.outcome) return decided.outcome;
    dispatched = await input.dispatches.mark({ turnRunId: input.turnRunId, toolCallId: call.id, toolName: call.name, authorizedBy: decided.authorizedBy });
  }

  const context = (asResumed: boolean): ToolContext => ({
    runId: scope.runId,
    toolCallId: call.id,
    // A tracked call keeps the key of the run whose turn made it, so that calling it again from
    // the run answering its unknown outcome sends the same key; any other tool's key is this
    // run's (README: an approved http call runs, with its key, in the run that answers)
    idempotencyKey: `${agentTool.dispatch ? input.turnRunId : scope.runId}:${call.id}`,
    signal: scope.signal,
    resumed: asResumed,
    ...(scope.traceparent && { traceparent: scope.traceparent }),
    ...(scope.tracestate && { tracestate: scope.tracestate }),
    ...(asResumed && waitingRecord !== undefined && { waiting: waitingRecord }),
    signals: input.signals,
    progress: progressReporter(scope, call),
    ...(input.readState && {
      runState: { read: input.readState, ...(scope.config.state_schema !== undefined && { schema: scope.config.state_schema }) },
    }),
    ...(input.readToolResult && { readToolResult: input.readToolResult }),
    ...(input.caller && { caller: input.caller }),
  });

  try {
    let value: unknown;
    // whether the value came from a resumed execution (a call made again below is not)
    let fromResumed = resumed;
    try {
      value = await agentTool.tool.execute(args, context(resumed));
    } catch (error) {
      if (!(error instanceof OutcomeUnknownError) || !agentTool.dispatch || scope.signal.aborted) throw error;
      // what the call started is lost (an MCP task its server forgot): as after a crash mid-call
      const policy = agentTool.dispatch;
      if (!policy.idempotent && policy.policy !== "retry") return unknownOutcome(scope, input, policy, args, name, error.message, null);
      scope.writer.push({
        type: "CUSTOM",
        name: "everruns.tool_progress",
        value: { tool_call_id: call.id, tool: call.name, progress: 0, message: `${error.message.slice(0, 400)}; calling it again` },
      });
      dispatched = await input.dispatches!.mark({ turnRunId: input.turnRunId, toolCallId: call.id, toolName: call.name, authorizedBy: null });
      fromResumed = false;
      value = await agentTool.tool.execute(args, context(false));
    }
    const outcome = toToolResult(value);
    if (isWait(outcome)) {
      const waits = fromResumed ? waitsOf(waitingRecord) + 1 : 1;
      if (fromResumed && outcome.again !== true) throw new ToolError(`${call.name} asked to wait again after its wait ended`);
      if (waits > MAX_WAITS_PER_CALL) {
        throw new ToolError(`${call.name} waited ${MAX_WAITS_PER_CALL} times (the most one call may); it was given up, and what it started may still go on`);
      }
      const delayMs = outcome.delayMs;
      if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_PARK_MS) {
        throw new ToolError(`${call.name} asked to wait ${String(delayMs)} ms; a wait must be from 0 to ${MAX_PARK_MS} ms (30 days)`);
      }
      // runs.waiting: what the run waits for, this call, its count of waits and what it keeps for its next wake
      const waiting = { ...outcome.waiting, tool_call_id: call.id, waits, ...(outcome.state !== undefined && { state: outcome.state }) };
      return {
        step: {
          kind: "wait",
          name: call.name,
          status: "succeeded",
          input: { tool_call_id: call.id, arguments: args },
          output: { ...outcome.output, tool_call_id: call.id, ...(waits > 1 && { waits }) },
        },
        events: [...(outcome.events ?? []), { type: "STEP_FINISHED", stepName: name }],
        next: { type: "wait", delay_ms: Math.round(delayMs), waiting },
      };
    }
    const content = typeof outcome.value === "string" ? outcome.value : JSON.stringify(outcome.value ?? null);
    let update = outcome.update;
    if (update?.state && update.events.some((e) => e.type === "STATE_DELTA") && input.stateStreamed && !(await input.stateStreamed())) {
      const snapshot = update.state;
      update = { ...update, events: update.events.map((e) => (e.type === "STATE_DELTA" ? { type: "STATE_SNAPSHOT", snapshot } : e)) };
    }
    return result(scope, call, content, false, {
      ...(outcome.consumesSignal !== undefined && { consumes_signal: outcome.consumesSignal }),
      ...(update !== undefined && { update }),
    });
  } catch (error) {
    if (error instanceof StepAbort || scope.signal.aborted) throw error;
    if (error instanceof TransientToolError) {
      // the request surely never reached the server: the next attempt calls again without asking
      if (dispatched !== undefined && error.notDelivered) {
        await input.dispatches!.settle({ turnRunId: input.turnRunId, toolCallId: call.id, dispatches: dispatched });
      }
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

/** The least time between two progress events of one call; the last before the result may be dropped. */
const PROGRESS_EVERY_MS = 250;

function progressReporter(scope: StepScope, call: ToolCall): NonNullable<ToolContext["progress"]> {
  let last = -Infinity;
  return (p) => {
    const now = performance.now();
    const done = p.total !== undefined && p.progress >= p.total;
    if (!done && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    scope.writer.push({
      type: "CUSTOM",
      name: "everruns.tool_progress",
      value: {
        tool_call_id: call.id,
        tool: call.name,
        progress: p.progress,
        ...(p.total !== undefined && { total: p.total }),
        ...(p.message !== undefined && { message: p.message.slice(0, 500) }),
      },
    });
  };
}

/**
 * Whether a tracked tool may be called now. Its call was dispatched by an earlier attempt that
 * did not commit a result (a worker killed mid-call, a timeout): whether it took effect is
 * unknown. A person's answer decides (once: an answer authorizes one call again), else a tool
 * that is safe to call again is called, else the agent's on_unknown_outcome: call again, fail
 * the run, or end it interrupted asking a person.
 */
async function decideDispatch(
  scope: StepScope,
  input: ToolStepInput,
  policy: NonNullable<AgentTool["dispatch"]>,
  args: Record<string, unknown>,
  stepLabel: string,
): Promise<{ outcome?: StepOutcome; authorizedBy: string | null }> {
  const { call } = input;
  // The call's first try in the run whose turn made it: nothing can have dispatched it yet (a
  // commit resets the attempt; every later try of the step, a retry, a hand-back or a crash's,
  // is attempt 2 or more, and any other run's try reads). One round trip fewer per call.
  if (input.firstAttempt === true && input.turnRunId === scope.runId) return { authorizedBy: null };
  const prior = await input.dispatches!.read(input.turnRunId, call.id);
  if (!prior) return { authorizedBy: null };
  // the last dispatch never reached the server: whatever answer authorized it still authorizes
  // this one (and is spent by it), so a crash during this call asks again
  if (prior.state !== "in_flight") return { authorizedBy: prior.authorizedBy };
  // an answer given before the last dispatch was spent by it: that call's outcome is unknown too
  const answer = input.outcome && input.outcome.answeredIn !== prior.authorizedBy ? input.outcome : undefined;
  if (answer?.action === "retry") return { authorizedBy: answer.answeredIn };
  if (answer?.action === "result") return { outcome: result(scope, call, answer.result ?? "", false), authorizedBy: null };
  if (answer?.action === "skip") {
    const content = `Error: ${call.name} was not run again: its earlier call's outcome is unknown (the step making it ended before its result was recorded), and a person chose to skip it.`;
    return { outcome: result(scope, call, content, true), authorizedBy: null };
  }
  if (policy.idempotent || policy.policy === "retry") return { authorizedBy: null };
  const what =
    `${call.name} was called with ${JSON.stringify(args).slice(0, 500)} (${prior.dispatches} time(s), last at ${prior.lastDispatchedAt}) ` +
    "and the step making it ended before its result was recorded (its worker stopped, or the call timed out or lost its connection): whether it took effect is unknown";
  return { outcome: unknownOutcome(scope, input, policy, args, stepLabel, what, prior), authorizedBy: null };
}

/** How many waits of this call the waiting record counts (1 for a record written before they were counted). */
function waitsOf(waiting: Record<string, unknown> | undefined): number {
  const waits = waiting?.waits;
  return typeof waits === "number" && Number.isInteger(waits) && waits > 0 ? waits : 1;
}

/**
 * A tracked call whose outcome is unknown and that may not simply be called again: the run fails
 * (on_unknown_outcome "fail") or ends interrupted asking a person (`outcome-<call id>`).
 */
function unknownOutcome(
  scope: StepScope,
  input: ToolStepInput,
  policy: NonNullable<AgentTool["dispatch"]>,
  args: Record<string, unknown>,
  stepLabel: string,
  what: string,
  prior: { dispatches: number; lastDispatchedAt: string } | null,
): StepOutcome {
  const { call } = input;
  if (policy.policy === "fail") {
    const message = `${what}; the agent's on_unknown_outcome is "fail" (the tool is not marked read-only or idempotent)`;
    const error = { code: "tool_outcome_unknown", message };
    return {
      step: { kind: "tool", name: call.name, status: "failed", input: { tool_call_id: call.id, arguments: args }, error },
      events: [
        { type: "STEP_FINISHED", stepName: stepLabel },
        { type: "RUN_ERROR", message, code: error.code },
      ],
      next: { type: "fail", error },
    };
  }
  const interrupt = {
    id: outcomeId(call.id),
    reason: "tool_outcome_unknown",
    message: `${what}. Call it again, skip it, or enter its result.`,
    toolCallId: call.id,
    responseSchema: {
      type: "object",
      properties: { action: { type: "string", enum: ["retry", "skip", "result"] }, result: { type: "string" } },
      required: ["action"],
    },
    metadata: {
      toolName: call.name,
      arguments: args,
      ...(prior && { dispatches: prior.dispatches, lastDispatchedAt: prior.lastDispatchedAt }),
    },
  };
  const interrupts = [interrupt];
  return {
    step: {
      kind: "system",
      name: "interrupt",
      status: "succeeded",
      output: { interrupts, pending_tool_call_ids: [], asked_tool_call_ids: [] },
    },
    events: [
      { type: "STEP_FINISHED", stepName: stepLabel },
      {
        type: "RUN_FINISHED",
        threadId: scope.threadId,
        runId: scope.runId,
        outcome: { type: "interrupt", interrupts },
        result: { text: input.turnText ?? "" },
      },
    ],
    next: { type: "interrupt", interrupts: { interrupts, pending_tool_call_ids: [] }, output: { text: input.turnText ?? "" } },
  };
}
