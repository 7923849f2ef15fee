// The workflow engine (docs/workflows.md): one step of a workflow run. A workflow is an agent of
// `"kind": "workflow"` whose config holds an Amazon States Language definition
// (db/workflow-definition.ts); a workflow run is a run, and this is what its steps do.
//
// Where the run stands is read from its committed steps (db/sql/workflowPosition.ts): the latest
// `state` step (a state's visit finished: its output and the next state) or `wait` step (the
// visit parked: a Wait's timer, an event, child runs, a retry's backoff, an approval). Each step
// either finishes the current state's visit (a `state` step, then the next state or the run's end)
// or parks it (a `wait` step) — committed once, with its events and the run's AG-UI state
// ({current, data}), by commit_step like any step: a kill -9 anywhere resumes at the current
// state, and a committed transition never runs again.
//
// * Task `everruns:agent:<name>`, Parallel branches and Map items are child runs (the sub-agent
//   machinery of 000033: the wait step names the children to start, its commit inserts them, a
//   child's end wakes the run). Branches and items run this same workflow at its pinned version,
//   on the nested machine their input names (`input.workflow.scope`).
// * `everruns:approval` ends the run interrupted; the answer continues the workflow in a new run
//   on the thread (AG-UI's resume), whose first step reads the answer.
// * `everruns:wait_for_event` parks until everruns.send_event (or send_event_by_key with the
//   state's correlation key) delivers the event, or its TimeoutSeconds pass (States.Timeout).
// * `everruns:http:<tool>` calls the workflow's http tool (config.tools) at least once, with the
//   idempotency key `<run id>:<call id>` the same on every try.
// * Retry and Catch apply to Task, Parallel and Map errors; an error neither retries nor catches
//   fails the run with the ASL error name as its code.
//
// Timers: a parked state's job is scheduled for its deadline; when that job runs with nothing
// delivered, the deadline has passed (as wait_for_event's tool decides it): tests move time by
// running the job early (graphile_worker.reschedule_jobs), nothing reads the worker's clock.
import jsonPatch from "fast-json-patch";
import { z } from "zod";
import type { Queryable } from "../../db/pool.ts";
import { AgentConfigSchema, jsonTextBytes } from "../../db/schemas.ts";
import type { AgUiEvent } from "../../db/sql/appendEvents.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import type { NextStep, StepRecord } from "../../db/sql/commitStep.ts";
import { findAgentsByName } from "../../db/sql/findAgentsByName.ts";
import { readCallerTree, type ChildRun } from "../../db/sql/readCallerTree.ts";
import { readFanOut, readFanOutResults } from "../../db/sql/readFanOut.ts";
import { isValidRedrive, readAnswerer, readWorkflowPosition, type WorkflowPosition } from "../../db/sql/workflowPosition.ts";
import {
  parseTaskResource,
  scopeMachine,
  type MapState,
  type ParallelState,
  type TaskState,
  type WorkflowConfig,
  type WorkflowState,
} from "../../db/workflow-definition.ts";
import type { StepOutcome } from "../steps.ts";
import { childInterruptedEvents, childRunId } from "../sub-agents.ts";
import { agentTools } from "../tool-step.ts";
import type { WorkspaceSecrets } from "../secrets.ts";
import { isWait, MAX_PARK_MS, OutcomeUnknownError, toToolResult, ToolError, TransientToolError, type Tool, type ToolEvent } from "../tools/types.ts";
import { allowed, exposedToolName } from "../mcp/names.ts";
import { McpUnavailableError, type McpTools } from "../mcp/tools.ts";
import { outputProblems } from "../tools/validate.ts";
import { describeStorableProblem, findStorableProblem } from "../../lib/storable-json.ts";
import { nextOfChoice } from "./choice.ts";
import { applyParameters, applyResultPath, effectiveInput, readPath, selectPath, stateOutput, WorkflowError } from "./paths.ts";
import { catcherFor, matchingRetrier, retryDelayMs, waitUntil } from "./retry.ts";

/** The largest document a state may pass on (bytes of JSON text): Step Functions' own limit. */
export const MAX_WORKFLOW_DATA_BYTES = 262_144;
/** The most items one Map state runs. */
export const MAX_MAP_ITEMS = 10_000;
/** How deep runs started by workflows may nest (a workflow whose agent Task starts itself stops there). */
export const MAX_TREE_DEPTH = 10;
/** The longest user message an agent Task gives its child run (characters). */
const MAX_AGENT_TASK_CHARS = 200_000;

/** What a workflow step needs of its run and worker. */
export interface WorkflowStepScope {
  db: Queryable;
  runId: string;
  threadId: string;
  workspaceId: string;
  agentId: string;
  agentVersion: number;
  seq: number;
  input: Record<string, unknown>;
  /** the run's AG-UI state as committed before this step (runs.state) */
  runState: Record<string, unknown> | null;
  /** events sent to the run and not consumed yet (everruns.send_event) */
  signals: ReadonlyArray<{ id: number; name: string; payload: unknown }>;
  signal: AbortSignal;
  secrets?: WorkspaceSecrets;
  /** the fence's attempt of this step, and the run this one continues (MCP tool lists pinned per run carry over) */
  attempt: number;
  parentRunId: string | null;
  /** the worker's MCP client (everruns:mcp Tasks) */
  mcp?: McpTools;
  /** W3C traceparent naming this attempt's span, sent to http and MCP Tasks (as an agent step's: StepScope); set only when tracing is configured */
  traceparent?: string;
  /** W3C tracestate of the run's trace (runs.trace_state), sent unchanged with traceparent; set only with it */
  tracestate?: string;
}

/** The input a run of a workflow may carry besides AG-UI's: set by the engine for branches and items, and by everruns.redrive_run. */
const WorkflowRunInputSchema = z
  .object({
    scope: z.array(z.string()).max(10).optional(),
    start_at: z.string().max(80).optional(),
    input: z.unknown().optional(),
    item_index: z.number().int().min(0).optional(),
    redrive_of: z.string().optional(),
  })
  .loose();

/** What a wait step of a workflow keeps (its output), to carry the state's visit on when the run wakes. */
const WaitRecordSchema = z
  .object({
    state: z.string(),
    scope: z.array(z.string()).default([]),
    entered_at: z.string(),
    attempt_started_at: z.string().optional(),
    visit_seq: z.number().int(),
    retries: z.number().int().default(0),
    retry_counts: z.array(z.number().int()).default([]),
    reason: z.enum(["timer", "event", "children", "retry", "approval"]),
    until: z.string().optional(),
    /** the deadline is further than one park may wait (MAX_PARK_MS): the wake may come before it, and the state parks again */
    partial: z.boolean().optional(),
    interrupt_id: z.string().optional(),
    call_id: z.string().optional(),
    event: z.object({ name: z.string(), correlation_key: z.string().optional() }).optional(),
    schema: z.record(z.string(), z.unknown()).optional(),
    message: z.string().optional(),
  })
  .loose();
type WaitRecord = z.infer<typeof WaitRecordSchema>;

const StateRecordSchema = z.object({ state: z.string(), scope: z.array(z.string()).default([]), next: z.string().nullable(), output: z.unknown() }).loose();

/** A state being visited: where it sits, its raw input, and what earlier steps of the visit left. */
interface Visit {
  name: string;
  scope: string[];
  state: WorkflowState;
  raw: unknown;
  enteredAt: string;
  /** when this attempt at the state began (a retry begins a new one): TimeoutSeconds counts from it */
  attemptStart: string;
  /** the seq of the visit's first step: with `retries`, names its child runs and tool calls */
  visitSeq: number;
  retries: number;
  /** retries so far by retrier (the state's Retry[i]): each retrier counts its own MaxAttempts */
  retryCounts: number[];
  /** the visit's last wait, when the run was woken from it */
  woken: (WaitRecord & { runId: string }) | null;
  /** the database's clock as this step began (ms) */
  now: number;
  /** when the execution times out (the definition's TimeoutSeconds from its first run's creation), if it has a limit */
  executionDeadline?: number;
}

/** One workflow step: read where the run stands, then finish or park the current state. */
export async function runWorkflowStep(scope: WorkflowStepScope, config: WorkflowConfig): Promise<StepOutcome> {
  const position = await readWorkflowPosition(scope.db, scope.runId);
  if (!position.last && scope.input.workflow !== undefined) {
    // input.workflow steers where a run starts and with what: only the engine (a branch or Map
    // item: its caller is a run of this workflow) and a redrive (everruns.redrive_run) write it
    const engineChild = position.caller_agent_id === scope.agentId;
    if (!engineChild && !(await isValidRedrive(scope.db, scope.runId))) {
      return failRun(
        null,
        "invalid_run_input",
        'input.workflow is written by the engine (branches, Map items) and by everruns.redrive_run (a failed run from a state it reached, with the input it had there); start a workflow with its "state", or redrive a failed run',
      );
    }
  }
  const start = startOf(scope, config, position);
  if ("error" in start) return failRun(null, start.error, start.message);
  const { visit, context } = start;
  // the execution's own TimeoutSeconds (the definition's top level; a branch or item run is bounded by the run that holds it)
  const limit = visit.scope.length === 0 ? config.definition.TimeoutSeconds : undefined;
  if (limit !== undefined) {
    visit.executionDeadline = Date.parse(position.first.created_at) + limit * 1000;
    if (visit.now >= visit.executionDeadline) {
      return failRun(visit, "States.Timeout", `the workflow did not finish within its TimeoutSeconds (${limit} s); it was at state "${visit.name}"`);
    }
  }
  try {
    return await visitState(scope, config, visit, context);
  } catch (error) {
    if (!(error instanceof WorkflowError)) throw error;
    return onStateError(scope, visit, error);
  }
}

/** The ASL context object ($$) of a visit. */
type Context = Record<string, unknown>;

function startOf(
  scope: WorkflowStepScope,
  config: WorkflowConfig,
  position: WorkflowPosition,
): { visit: Visit; context: Context } | { error: string; message: string } {
  const { last, first } = position;
  const firstInput = WorkflowRunInputSchema.safeParse((first.input as { workflow?: unknown } | null)?.workflow ?? {});
  const executionInput = firstInput.success ? executionInputOf(first.input as Record<string, unknown>, firstInput.data) : null;
  const now = Date.parse(position.now);
  let visit: Omit<Visit, "state">;
  if (!last) {
    const run = WorkflowRunInputSchema.safeParse(scope.input.workflow ?? {});
    if (!run.success) return { error: "invalid_run_input", message: `invalid input.workflow: ${run.error.issues[0]?.message ?? "bad shape"}` };
    const path = run.data.scope ?? [];
    const machine = scopeMachine(config.definition, path);
    if (!machine)
      return { error: "invalid_run_input", message: `input.workflow.scope ${JSON.stringify(path)} names no Parallel branch or Map of this workflow` };
    const name = run.data.start_at ?? machine.StartAt;
    visit = {
      name,
      scope: path,
      raw: executionInputOf(scope.input, run.data),
      enteredAt: position.now,
      attemptStart: position.now,
      visitSeq: scope.seq,
      retries: 0,
      retryCounts: [],
      woken: null,
      now,
    };
  } else if (last.kind === "state") {
    const record = StateRecordSchema.parse(last.output);
    if (record.next === null) return { error: "internal_error", message: `the workflow ended at state "${record.state}" already` };
    visit = {
      name: record.next,
      scope: record.scope,
      raw: record.output ?? null,
      enteredAt: position.now,
      attemptStart: position.now,
      visitSeq: scope.seq,
      retries: 0,
      retryCounts: [],
      woken: null,
      now,
    };
  } else {
    const record = WaitRecordSchema.parse(last.output);
    const raw = (last.input as { input?: unknown } | null)?.input ?? null;
    visit = {
      name: record.state,
      scope: record.scope,
      raw,
      enteredAt: record.entered_at,
      attemptStart: record.attempt_started_at ?? record.entered_at,
      visitSeq: record.visit_seq,
      retries: record.retries,
      retryCounts: record.retry_counts,
      woken: { ...record, runId: last.run_id },
      now,
    };
    // a retry's backoff ended: the state is tried again from its start
    if (record.reason === "retry") visit = { ...visit, woken: null, attemptStart: position.now };
  }
  const machine = scopeMachine(config.definition, visit.scope);
  const state = machine && Object.hasOwn(machine.States, visit.name) ? machine.States[visit.name]! : null;
  if (!state) {
    return {
      error: "invalid_run_input",
      message: `state "${visit.name}" is not a state of this workflow${visit.scope.length ? ` (in ${visit.scope.join(" / ")})` : ""}`,
    };
  }
  const itemIndex = firstInput.success ? firstInput.data.item_index : undefined;
  const context: Context = {
    Execution: { Id: first.id, Name: first.id, StartTime: first.created_at, Input: executionInput, RoleArn: null },
    StateMachine: { Id: scope.agentId, Name: position.agent_name, Version: scope.agentVersion },
    State: { Name: visit.name, EnteredTime: visit.enteredAt, RetryCount: visit.retries },
    Task: { Token: `${scope.runId}:${visit.visitSeq}` },
    ...(itemIndex !== undefined && { Map: { Item: { Index: itemIndex, Value: executionInput } } }),
  };
  return { visit: { ...visit, state }, context };
}

/** A fresh execution's input: what the engine or a redrive gave (input.workflow.input), AG-UI's state, else the last user message (JSON when it is JSON). */
function executionInputOf(input: Record<string, unknown>, workflow: z.infer<typeof WorkflowRunInputSchema>): unknown {
  if (Object.hasOwn(workflow, "input")) return workflow.input ?? null;
  // AG-UI clients send a state always ({} when they have none): an empty one gives way to a message
  if (isObject(input.state) && Object.keys(input.state).length > 0) return input.state;
  const messages = Array.isArray(input.messages) ? (input.messages as Array<{ role?: unknown; content?: unknown }>) : [];
  const last = [...messages].reverse().find((m) => m.role === "user" && typeof m.content === "string");
  if (!last) return {};
  const text = (last.content as string).trim();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { message: last.content };
  }
}

async function visitState(scope: WorkflowStepScope, config: WorkflowConfig, visit: Visit, context: Context): Promise<StepOutcome> {
  const { state } = visit;
  switch (state.Type) {
    case "Pass": {
      const effective = effectiveInput(state, visit.raw, context);
      const result = state.Result !== undefined ? state.Result : effective;
      return finishState(scope, visit, stateOutput(state, visit.raw, result, context), nextOf(state));
    }
    case "Choice": {
      const effective = effectiveInput(state, visit.raw, context);
      // nextOfChoice applies the state's InputPath itself
      const next = nextOfChoice(state, visit.raw, context);
      return finishState(scope, visit, state.OutputPath === undefined ? effective : selectPath(effective, state.OutputPath, context), next);
    }
    case "Succeed": {
      const effective = effectiveInput(state, visit.raw, context);
      return finishState(scope, visit, state.OutputPath === undefined ? effective : selectPath(effective, state.OutputPath, context), null);
    }
    case "Fail": {
      const error = state.ErrorPath ? String(readPath(visit.raw, state.ErrorPath, context)) : (state.Error ?? "States.Fail");
      const cause = state.CausePath ? String(readPath(visit.raw, state.CausePath, context)) : (state.Cause ?? "");
      return failRun(visit, error, cause);
    }
    case "Wait": {
      const effective = effectiveInput(state, visit.raw, context);
      const now = visit.now;
      const woken = visit.woken?.reason === "timer" ? visit.woken : null;
      // woken from its timer: the time has come (a deadline past one park's longest waits again for the rest)
      const until = woken ? Date.parse(woken.until ?? "") : waitUntil(state, effective, now);
      if ((woken && !(woken.partial && until > now)) || !(until > now)) {
        return finishState(scope, visit, outputOnly(state, effective, context), nextOf(state));
      }
      const wait = { reason: "timer" as const, until: new Date(until).toISOString(), ...(until - now > MAX_PARK_MS && { partial: true }) };
      return parkState(scope, visit, wait, clampDelay(until - now), { type: "timer", tool_call_id: callIdOf(visit) });
    }
    case "Task":
      return visitTask(scope, config, visit, state, context);
    case "Parallel":
    case "Map":
      return visitFanOut(scope, config, visit, state, context);
  }
}

/** InputPath then OutputPath, for states with no result (Wait). */
function outputOnly(state: WorkflowState, effective: unknown, context: Context): unknown {
  const path = (state as { OutputPath?: string | null }).OutputPath;
  return path === undefined ? effective : selectPath(effective, path, context);
}

function nextOf(state: { Next?: string; End?: boolean }): string | null {
  return state.End ? null : (state.Next ?? null);
}

/** The name of a visit's child run or tool call: the same on every replay of the visit's steps. */
function callIdOf(visit: Visit): string {
  return `wf:${visit.name}:${visit.visitSeq}.${visit.retries}`;
}

/** The deadline of a Task, Parallel or Map (TimeoutSeconds / TimeoutSecondsPath from when this attempt at it began), or null. */
function deadlineOf(state: WorkflowState, visit: Visit, context: Context): number | null {
  const s = state as { TimeoutSeconds?: number; TimeoutSecondsPath?: string };
  let seconds = s.TimeoutSeconds;
  if (s.TimeoutSecondsPath) {
    const value = readPath(visit.raw, s.TimeoutSecondsPath, context);
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
      throw new WorkflowError("States.Runtime", `TimeoutSecondsPath ${s.TimeoutSecondsPath} must select a positive number, got ${JSON.stringify(value)}`);
    }
    seconds = value;
  }
  return seconds === undefined ? null : Date.parse(visit.attemptStart) + seconds * 1000;
}

async function visitTask(scope: WorkflowStepScope, config: WorkflowConfig, visit: Visit, state: TaskState, context: Context): Promise<StepOutcome> {
  const resource = parseTaskResource(state.Resource);
  if (!resource) throw new WorkflowError("States.Runtime", `state "${visit.name}": Resource ${state.Resource} names no Everruns capability`);
  const effective = effectiveInput(state, visit.raw, context);
  const deadline = deadlineOf(state, visit, context);
  const now = visit.now;
  const done = (result: unknown, extra: Record<string, unknown> = {}) =>
    finishState(scope, visit, stateOutput(state, visit.raw, result, context), nextOf(state), extra);

  switch (resource.kind) {
    case "approval": {
      const params = (effective ?? {}) as { message?: unknown; schema?: unknown };
      const schema = isObject(params.schema) ? params.schema : DEFAULT_APPROVAL_SCHEMA;
      const message = typeof params.message === "string" ? params.message : `Approve "${visit.name}"?`;
      const woken = visit.woken;
      if (woken?.reason === "approval" && woken.runId !== scope.runId) {
        // the run that answers the interrupt: its answer is the state's result
        const answer = resumeAnswer(scope.input, woken.interrupt_id ?? "");
        if (!answer || answer.status === "cancelled") {
          throw new WorkflowError("Everruns.ApprovalCancelled", `the approval "${visit.name}" was cancelled instead of answered`);
        }
        const problems = outputProblems(schema, answer.payload ?? null);
        if (problems) return askApproval(scope, visit, message, schema, effective, `the previous answer did not match the form: ${problems}`);
        const answeredBy = await readAnswerer(scope.db, scope.runId);
        return done(answer.payload ?? null, { answered_by: answeredBy });
      }
      return askApproval(scope, visit, message, schema, effective);
    }
    case "wait_for_event": {
      const params = (effective ?? {}) as { name?: unknown; correlation_key?: unknown };
      if (typeof params.name !== "string" || params.name.length < 1 || params.name.length > 200) {
        throw new WorkflowError(
          "States.Runtime",
          `state "${visit.name}": wait_for_event needs "name", a string of 1 to 200 characters; got ${JSON.stringify(params.name)}`,
        );
      }
      const key = params.correlation_key;
      if (key !== undefined && (typeof key !== "string" || key.length < 1 || key.length > 200)) {
        throw new WorkflowError("States.Runtime", `state "${visit.name}": correlation_key must be a string of 1 to 200 characters; got ${JSON.stringify(key)}`);
      }
      const signal = scope.signals.find((s) => s.name === params.name);
      if (signal)
        return done(signal.payload ?? null, { consumes_signal: signal.id, event: { name: params.name, ...(key !== undefined && { correlation_key: key }) } });
      if (visit.woken?.reason === "event" && deadline !== null && !(visit.woken.partial && deadline > now)) {
        throw new WorkflowError("States.Timeout", `no event "${params.name}"${key ? ` for ${key}` : ""} came within the state's TimeoutSeconds`);
      }
      const until = deadline ?? now + MAX_PARK_MS;
      return parkState(
        scope,
        visit,
        {
          reason: "event",
          ...(deadline !== null && { until: new Date(deadline).toISOString(), ...(deadline - now > MAX_PARK_MS && { partial: true }) }),
          event: { name: params.name, ...(key !== undefined && { correlation_key: key }) },
        },
        clampDelay(until - now),
        { type: "event", name: params.name, ...(key !== undefined && { correlation_key: key }), tool_call_id: callIdOf(visit) },
      );
    }
    case "agent": {
      const callId = callIdOf(visit);
      const tree = await readCallerTree(scope.db, scope.runId);
      const events = childInterruptedEvents(tree.unreported);
      const child = tree.children.find((c) => c.tool_call_id === callId);
      if (child && isTerminal(child.status)) {
        if (child.status !== "succeeded") throw childError(child, `the agent "${resource.agent}"`);
        return done(childResult(child), { child_run_id: child.run_id, events });
      }
      if (child) {
        if (deadline !== null && now >= deadline) {
          await cancelRun(scope.db, child.run_id);
          throw new WorkflowError("States.Timeout", `the agent "${resource.agent}" (run ${child.run_id}) did not finish within the state's TimeoutSeconds`);
        }
        return parkChildren(scope, visit, { tool_call_id: callId, unstarted: 0, active: 1 }, deadline, now, [], events);
      }
      if (tree.depth >= MAX_TREE_DEPTH) {
        throw new WorkflowError(
          "States.TaskFailed",
          `runs may nest at most ${MAX_TREE_DEPTH} deep (agent Tasks, branches and Map items); this run is at depth ${tree.depth}`,
        );
      }
      const agents = await findAgentsByName(scope.db, scope.workspaceId, [resource.agent]);
      const agentId = agents.get(resource.agent);
      if (!agentId) throw new WorkflowError("Everruns.AgentNotFound", `there is no agent named "${resource.agent}" in this workspace`);
      const text = typeof effective === "string" ? effective : JSON.stringify(effective ?? null);
      if (text.length > MAX_AGENT_TASK_CHARS) {
        throw new WorkflowError("States.DataLimitExceeded", `the agent's task is ${text.length} characters; at most ${MAX_AGENT_TASK_CHARS}`);
      }
      const runId = childRunId(scope.runId, callId);
      const start = [{ run_id: runId, tool_call_id: callId, agent_id: agentId, agent: resource.agent, input: { messages: [{ role: "user", content: text }] } }];
      events.push({ type: "CUSTOM", name: "everruns.child_started", value: { run_id: runId, agent: resource.agent, tool_call_id: callId } });
      return parkChildren(scope, visit, { tool_call_id: callId, unstarted: 0, active: 1 }, deadline, now, start, events);
    }
    case "http":
    case "mcp": {
      const tool = resource.kind === "http" ? workflowTool(config, resource.tool, scope.secrets) : await mcpTool(scope, config, resource.server, resource.tool);
      const label = resource.kind === "http" ? resource.tool : `${resource.server}/${resource.tool}`;
      const callId = callIdOf(visit);
      const controller = new AbortController();
      const onAbort = () => controller.abort(scope.signal.reason);
      scope.signal.addEventListener("abort", onAbort, { once: true });
      const timer = deadline !== null ? setTimeout(() => controller.abort(new Error("timeout")), Math.max(0, deadline - now)) : undefined;
      try {
        const returned = toToolResult(
          await tool.execute(isObject(effective) ? effective : { input: effective }, {
            runId: scope.runId,
            toolCallId: callId,
            idempotencyKey: `${scope.runId}:${callId}`,
            signal: controller.signal,
            resumed: false,
            signals: [],
            ...(scope.traceparent && { traceparent: scope.traceparent }),
            ...(scope.tracestate && { tracestate: scope.tracestate }),
          }),
        );
        if (isWait(returned))
          throw new WorkflowError("States.TaskFailed", `${label} runs as a long-running MCP task, which a workflow's Task cannot wait for yet`);
        return done((returned as { value?: unknown }).value ?? null);
      } catch (error) {
        if (scope.signal.aborted) throw error;
        if (controller.signal.aborted) throw new WorkflowError("States.Timeout", `${label} did not answer within the state's TimeoutSeconds`);
        if (error instanceof ToolError || error instanceof TransientToolError || error instanceof OutcomeUnknownError) {
          throw new WorkflowError("States.TaskFailed", error.message);
        }
        throw error;
      } finally {
        clearTimeout(timer);
        scope.signal.removeEventListener("abort", onAbort);
      }
    }
  }
}

const DEFAULT_APPROVAL_SCHEMA = {
  type: "object",
  properties: { approved: { type: "boolean" }, comment: { type: "string" } },
  required: ["approved"],
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clampDelay(ms: number): number {
  return Math.max(0, Math.min(Math.round(ms), MAX_PARK_MS));
}

/** The resume entry answering `interruptId` in a continuation's input. */
function resumeAnswer(input: Record<string, unknown>, interruptId: string): { status: string; payload?: unknown } | null {
  const resume = Array.isArray(input.resume) ? (input.resume as Array<Record<string, unknown>>) : [];
  const entry = resume.find((e) => e && e.interruptId === interruptId);
  return entry ? { status: String(entry.status), payload: entry.payload } : null;
}

/**
 * The tool `tool` of the workflow's MCP server `server` (config.tools), from the list pinned to
 * the run as an agent's (worker/mcp/tools.ts): a run keeps the list it first read.
 */
async function mcpTool(scope: WorkflowStepScope, config: WorkflowConfig, server: string, tool: string): Promise<Tool> {
  const spec = config.tools.find((t) => isObject(t) && t.type === "mcp" && t.name === server) as Record<string, unknown> | undefined;
  const given = spec?.allow;
  if (spec && Array.isArray(given) && !allowed(tool, given as string[])) {
    throw new WorkflowError("States.TaskFailed", `the MCP server "${server}"'s "allow" list leaves out the tool "${tool}"`);
  }
  // only this tool is listed (a server of hundreds of tools is no model's list here), and it is
  // called directly: a tool that runs as an MCP task would start work the Task cannot wait for
  const parsed = spec ? AgentConfigSchema.safeParse({ provider: "scripted", tools: [{ ...spec, allow: [tool], tasks: false }] }) : undefined;
  if (!parsed?.success) throw new WorkflowError("States.Runtime", `the workflow has no MCP server "${server}" (config.tools)`);
  if (!scope.mcp) throw new WorkflowError("States.TaskFailed", "this worker has no MCP client; the workflow's MCP servers cannot be used");
  let tools;
  try {
    tools = await scope.mcp.forRun(
      { id: scope.runId, workspaceId: scope.workspaceId, seq: scope.seq, attempt: scope.attempt, parentRunId: scope.parentRunId },
      parsed.data,
      scope.secrets,
      scope.signal,
      new Set(),
    );
  } catch (error) {
    if (error instanceof McpUnavailableError || error instanceof TransientToolError) throw new WorkflowError("States.TaskFailed", error.message);
    throw error;
  }
  const found = tools.get(exposedToolName(server, tool));
  if (!found) throw new WorkflowError("States.TaskFailed", `the MCP server "${server}" offers no tool "${tool}" (or its "allow" list leaves it out)`);
  return found.tool;
}

/** The http tool `name` of the workflow's config.tools. */
function workflowTool(config: WorkflowConfig, name: string, secrets?: WorkspaceSecrets): Tool {
  const parsed = AgentConfigSchema.safeParse({ provider: "scripted", tools: config.tools });
  const tool = parsed.success ? agentTools(parsed.data, {}, secrets).get(name)?.tool : undefined;
  if (!tool) throw new WorkflowError("States.Runtime", `the workflow has no http tool "${name}" (config.tools)`);
  return tool;
}

function isTerminal(status: string): boolean {
  return status === "succeeded" || status === "failed" || status === "cancelled";
}

/** A child run's result: its structured output (json) when it has one, else its text. */
function childResult(child: ChildRun): unknown {
  const output = (child.output ?? {}) as { json?: unknown; text?: unknown };
  return output.json !== undefined ? output.json : (output.text ?? null);
}

/** The error a failed or cancelled child run raises in its state: its own error code when it has one (a workflow child's is an ASL error name). */
function childError(child: ChildRun, what: string): WorkflowError {
  if (child.status === "cancelled") return new WorkflowError("States.TaskFailed", `${what} (run ${child.run_id}) was cancelled`);
  const code = child.error?.code;
  const name = code && code !== "internal_error" ? code : "States.TaskFailed";
  return new WorkflowError(name, `${what} (run ${child.run_id}) failed: ${child.error?.message ?? code ?? "no error recorded"}`);
}

type StartEntry = { run_id: string; tool_call_id: string; agent_id: string; agent: string; agent_version?: number; input: Record<string, unknown> };

function parkChildren(
  scope: WorkflowStepScope,
  visit: Visit,
  counts: { tool_call_id: string; unstarted: number; active: number },
  deadline: number | null,
  now: number,
  start: StartEntry[],
  events: ToolEvent[],
): StepOutcome {
  return parkState(
    scope,
    visit,
    {
      reason: "children",
      call_id: counts.tool_call_id,
      ...(deadline !== null && { until: new Date(deadline).toISOString() }),
      ...(start.length > 0 && { start }),
    },
    clampDelay((deadline ?? now + MAX_PARK_MS) - now),
    { type: "children", ...counts },
    events,
  );
}

/**
 * Parallel and Map: their branches / items are child runs of this workflow at its pinned version.
 * Each step reads the children, records what ended, starts what may start (MaxConcurrency), and
 * either finishes the state (every child succeeded: results in order) or parks until a child
 * ends. A child that fails fails the state (the rest are cancelled): Retry and Catch apply.
 */
async function visitFanOut(
  scope: WorkflowStepScope,
  config: WorkflowConfig,
  visit: Visit,
  state: ParallelState | MapState,
  context: Context,
): Promise<StepOutcome> {
  const effective =
    state.Type === "Map" ? selectPath(visit.raw, state.InputPath === undefined ? "$" : state.InputPath, context) : effectiveInput(state, visit.raw, context);
  const deadline = deadlineOf(state, visit, context);
  const now = visit.now;
  const prefix = callIdOf(visit);

  // the children's inputs, in order
  let inputs: Array<{ scope: string[]; input: unknown; item_index?: number }>;
  let concurrency: number;
  if (state.Type === "Parallel") {
    inputs = state.Branches.map((_, i) => ({ scope: [...visit.scope, `${visit.name}[${i}]`], input: effective }));
    concurrency = inputs.length;
  } else {
    const items = readPath(effective, state.ItemsPath ?? "$", context);
    if (!Array.isArray(items))
      throw new WorkflowError("States.Runtime", `state "${visit.name}": ItemsPath ${state.ItemsPath ?? "$"} must select an array, got ${typeof items}`);
    if (items.length > MAX_MAP_ITEMS)
      throw new WorkflowError("States.DataLimitExceeded", `state "${visit.name}": ${items.length} items; a Map runs at most ${MAX_MAP_ITEMS}`);
    const selector = state.ItemSelector ?? state.Parameters;
    inputs = (items as unknown[]).map((item, i) => ({
      scope: [...visit.scope, visit.name],
      input: selector === undefined ? item : applyParameters(selector, effective, { ...context, Map: { Item: { Index: i, Value: item } } }),
      item_index: i,
    }));
    concurrency = state.MaxConcurrency ? state.MaxConcurrency : config.max_parallel_children;
  }
  const result = (results: unknown[], events: ToolEvent[]) => {
    const selected = state.ResultSelector === undefined ? results : applyParameters(state.ResultSelector, results, context);
    const withResult = applyResultPath(visit.raw, selected, state.ResultPath === undefined ? "$" : state.ResultPath);
    const output = state.OutputPath === undefined ? withResult : selectPath(withResult, state.OutputPath, context);
    return finishState(scope, visit, output, nextOf(state), { children: results.length, events });
  };
  if (inputs.length === 0) return result([], []);

  const fan = await readFanOut(scope.db, scope.runId, `${prefix}:`);
  const events = childInterruptedEvents(fan.unreported);
  const failed = fan.open.find((c) => isTerminal(c.status));
  const unfinished = fan.open.filter((c) => !isTerminal(c.status));
  const what = (i: number) => (state.Type === "Parallel" ? `branch ${i} of "${visit.name}"` : `item ${i} of "${visit.name}"`);
  if (failed) {
    for (const c of unfinished) await cancelRun(scope.db, c.run_id);
    throw childError({ ...failed, tool_call_id: `${prefix}:${failed.index}`, agent: "", output: null }, what(failed.index));
  }
  if (fan.succeeded === inputs.length) {
    const outputs = await readFanOutResults(scope.db, scope.runId, `${prefix}:`);
    return result(
      outputs.map((output) => childResult({ output } as ChildRun)),
      events,
    );
  }
  if (deadline !== null && now >= deadline) {
    for (const c of unfinished) await cancelRun(scope.db, c.run_id);
    throw new WorkflowError("States.Timeout", `state "${visit.name}" did not finish within its TimeoutSeconds`);
  }
  if (fan.started.length === 0 && fan.depth >= MAX_TREE_DEPTH) {
    throw new WorkflowError(
      "States.TaskFailed",
      `runs may nest at most ${MAX_TREE_DEPTH} deep (agent Tasks, branches and Map items); this run is at depth ${fan.depth}`,
    );
  }
  const started = new Set(fan.started);
  const start: StartEntry[] = [];
  let slots = concurrency - unfinished.length;
  for (let i = 0; i < inputs.length && slots > 0; i++) {
    if (started.has(i)) continue;
    const callId = `${prefix}:${i}`;
    const { scope: childScope, input, item_index } = inputs[i]!;
    start.push({
      run_id: childRunId(scope.runId, callId),
      tool_call_id: callId,
      agent_id: scope.agentId,
      agent: String((context.StateMachine as { Name: string }).Name),
      agent_version: scope.agentVersion,
      input: { messages: [], workflow: { scope: childScope, input, ...(item_index !== undefined && { item_index }) } },
    });
    // an input the runs table would refuse (nested too deep once wrapped, a lone surrogate) would fail every commit of this step
    const problem = findStorableProblem(start[start.length - 1]!.input, "input");
    if (problem) throw new WorkflowError("States.DataLimitExceeded", `${what(i)}: its input cannot be stored: ${describeStorableProblem(problem)}`);
    slots--;
  }
  // woken by any child's end (unstarted > 0: a free slot, or one more result to record)
  return parkChildren(
    scope,
    visit,
    { tool_call_id: prefix, unstarted: inputs.length - fan.succeeded, active: unfinished.length + start.length },
    deadline,
    now,
    start,
    events,
  );
}

/** A state's error: retried after its backoff, caught into another state, or the run's failure. */
function onStateError(scope: WorkflowStepScope, visit: Visit, error: WorkflowError): StepOutcome {
  const state = visit.state as { Retry?: Parameters<typeof retryDelayMs>[0]; Catch?: Parameters<typeof catcherFor>[0] };
  const counts = (state.Retry ?? []).map((_, i) => visit.retryCounts[i] ?? 0);
  // a backoff longer than one park (30 days) is cut to it
  const backoff = state.Retry ? retryDelayMs(state.Retry, error.errorName, counts) : null;
  const delay = backoff === null ? null : Math.min(backoff, MAX_PARK_MS);
  const failure = { Error: error.errorName, Cause: error.cause };
  if (delay !== null) {
    const index = matchingRetrier(state.Retry, error.errorName);
    counts[index] = (counts[index] ?? 0) + 1;
    return parkState(
      scope,
      visit,
      { reason: "retry", retries: visit.retries + 1, retry_counts: counts, until: new Date(visit.now + delay).toISOString(), error: failure },
      clampDelay(delay),
      { type: "timer", tool_call_id: callIdOf(visit) },
      [{ type: "CUSTOM", name: "everruns.retry", value: { state: visit.name, attempt: visit.retries + 1, delay_ms: delay, error: failure } }],
    );
  }
  const catcher = state.Catch ? catcherFor(state.Catch, error.errorName) : null;
  if (catcher) {
    let output: unknown;
    try {
      output = applyResultPath(visit.raw, failure, catcher.ResultPath === undefined ? "$" : catcher.ResultPath);
    } catch (pathError) {
      if (!(pathError instanceof WorkflowError)) throw pathError;
      return failRun(visit, pathError.errorName, pathError.cause);
    }
    return finishState(scope, visit, output, catcher.Next, { error: failure, caught: true });
  }
  return failRun(visit, error.errorName, error.cause);
}

/** The run's AG-UI state for a position: the current state and the document. */
function runStateOf(current: string | null, data: unknown): Record<string, unknown> {
  return { current, data: data ?? null };
}

function stateEvents(scope: WorkflowStepScope, name: string, next: Record<string, unknown>): AgUiEvent[] {
  const before = scope.runState;
  const events: AgUiEvent[] = [{ type: "STEP_STARTED", stepName: name }];
  if (before === null) events.push({ type: "STATE_SNAPSHOT", snapshot: next });
  else {
    const delta = jsonPatch.compare(before, next);
    if (delta.length > 0) events.push({ type: "STATE_DELTA", delta });
  }
  events.push({ type: "STEP_FINISHED", stepName: name });
  return events;
}

function dataTooLarge(visit: Visit, data: unknown): WorkflowError | null {
  const bytes = jsonTextBytes(data ?? null);
  return bytes > MAX_WORKFLOW_DATA_BYTES
    ? new WorkflowError("States.DataLimitExceeded", `state "${visit.name}" would pass on ${bytes} bytes of JSON; at most ${MAX_WORKFLOW_DATA_BYTES}`)
    : null;
}

/** A state's visit ends: a `state` step, then the next state (the same job may go on) or the run's end. */
function finishState(scope: WorkflowStepScope, visit: Visit, output: unknown, next: string | null, extra: Record<string, unknown> = {}): StepOutcome {
  const tooLarge = dataTooLarge(visit, output);
  if (tooLarge) return failRun(visit, tooLarge.errorName, tooLarge.cause);
  const { events: extraEvents, consumes_signal, ...record } = extra as { events?: ToolEvent[]; consumes_signal?: number } & Record<string, unknown>;
  const runState = runStateOf(next, output);
  const events = stateEvents(scope, visit.name, runState);
  events.splice(1, 0, ...((extraEvents ?? []) as AgUiEvent[]));
  const step: StepRecord = {
    kind: "state",
    name: visit.name,
    status: "succeeded",
    input: { input: visit.raw ?? null },
    output: {
      workflow: true,
      state: visit.name,
      type: visit.state.Type,
      scope: visit.scope,
      output: output ?? null,
      next,
      entered_at: visit.enteredAt,
      retries: visit.retries,
      ...record,
    },
    state: runState,
    ...(consumes_signal !== undefined && { consumes_signal }),
  };
  if (next !== null) return { step, events, next: { type: "continue" } };
  const text = JSON.stringify(output ?? null);
  events.push({ type: "RUN_FINISHED", threadId: scope.threadId, runId: scope.runId, outcome: { type: "success" }, result: output ?? null });
  return { step, events, next: { type: "succeed", output: { text, json: output ?? null } } };
}

/** A state parks: a `wait` step, and the run waits (no worker held) for its timer, event or children. */
function parkState(
  scope: WorkflowStepScope,
  visit: Visit,
  wait: Partial<WaitRecord> & { reason: WaitRecord["reason"] } & Record<string, unknown>,
  delayMs: number,
  waiting: Extract<NextStep, { type: "wait"; waiting: { tool_call_id: string } }>["waiting"] & Record<string, unknown>,
  extraEvents: ToolEvent[] = [],
): StepOutcome {
  // a park never outlasts the execution's deadline: the step that wakes then fails it with States.Timeout
  if (visit.executionDeadline !== undefined) delayMs = Math.max(0, Math.min(delayMs, visit.executionDeadline - visit.now));
  const runState = runStateOf(visit.name, visit.raw);
  const events = stateEvents(scope, visit.name, runState);
  events.splice(1, 0, ...(extraEvents as AgUiEvent[]), {
    type: "CUSTOM",
    name: "everruns.workflow_wait",
    value: { state: visit.name, reason: wait.reason, ...(wait.until && { until: wait.until }), ...(wait.event && { event: wait.event }) },
  });
  return {
    step: {
      kind: "wait",
      name: visit.name,
      status: "succeeded",
      input: { input: visit.raw ?? null },
      output: {
        workflow: true,
        state: visit.name,
        type: visit.state.Type,
        scope: visit.scope,
        entered_at: visit.enteredAt,
        attempt_started_at: visit.attemptStart,
        visit_seq: visit.visitSeq,
        retries: visit.retries,
        retry_counts: visit.retryCounts,
        ...wait,
      },
      state: runState,
    },
    events,
    next: { type: "wait", delay_ms: delayMs, waiting },
  };
}

/** An approval state asks: the run ends interrupted; the answer continues it in a new run on the thread. */
function askApproval(
  scope: WorkflowStepScope,
  visit: Visit,
  message: string,
  schema: Record<string, unknown>,
  effective: unknown,
  problem?: string,
): StepOutcome {
  const interruptId = `workflow-${scope.runId}-${scope.seq}`;
  const interrupt = {
    id: interruptId,
    reason: "workflow_approval",
    message: problem ? `${message} (${problem})` : message,
    responseSchema: schema,
    metadata: { state: visit.name, input: effective ?? null },
  };
  const runState = runStateOf(visit.name, visit.raw);
  const events = stateEvents(scope, visit.name, runState);
  events.push({
    type: "RUN_FINISHED",
    threadId: scope.threadId,
    runId: scope.runId,
    outcome: { type: "interrupt", interrupts: [interrupt] },
    result: { text: "" },
  });
  return {
    step: {
      kind: "wait",
      name: visit.name,
      status: "succeeded",
      input: { input: visit.raw ?? null },
      output: {
        workflow: true,
        state: visit.name,
        type: visit.state.Type,
        scope: visit.scope,
        entered_at: visit.enteredAt,
        visit_seq: visit.visitSeq,
        retries: visit.retries,
        reason: "approval",
        interrupt_id: interruptId,
        message,
        schema,
      },
      state: runState,
    },
    events,
    next: { type: "interrupt", interrupts: { interrupts: [interrupt], pending_tool_call_ids: [] }, output: { text: "" } },
  };
}

/** The run fails at a state (a Fail state, an error neither retried nor caught), or before one. */
function failRun(visit: Visit | null, code: string, message: string): StepOutcome {
  const name = visit?.name ?? "workflow";
  const error = { code, message: message || code };
  const events: AgUiEvent[] = [
    { type: "STEP_STARTED", stepName: name },
    { type: "STEP_FINISHED", stepName: name },
    { type: "RUN_ERROR", message: error.message, code },
  ];
  return {
    step: {
      kind: visit ? "state" : "system",
      name,
      status: "failed",
      input: { input: visit?.raw ?? null },
      output: visit
        ? {
            workflow: true,
            state: visit.name,
            type: visit.state.Type,
            scope: visit.scope,
            output: null,
            next: null,
            entered_at: visit.enteredAt,
            retries: visit.retries,
            error: { Error: code, Cause: message },
          }
        : null,
      error,
    },
    events,
    next: { type: "fail", error },
  };
}
