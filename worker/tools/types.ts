// What a tool is: a definition the model sees and an `execute` that returns its result, or
// `park(...)` to wait durably (the run is parked with no worker held, and the call is executed
// again, with `ctx.resumed`, when it is woken). A resumed call may park again when it says so
// (`park({..., again: true})`: polling something long, e.g. an MCP task), at most
// MAX_WAITS_PER_CALL times; what it needs when woken travels in the run's `waiting` record
// (`park({..., state})` → `ctx.waiting.state`).
import type { AgentConfig } from "../../db/schemas.ts";
import type { CallerScope } from "../sub-agents.ts";
import type { ToolDefinition } from "../providers/types.ts";

export interface ToolContext {
  runId: string;
  toolCallId: string;
  /** `<run_id>:<tool_call_id>`: the same on every retry of this call. */
  idempotencyKey: string;
  signal: AbortSignal;
  /** true when this call parked the run (`park`) and the run has been woken since */
  resumed: boolean;
  /**
   * When resumed: the run's `waiting` record of this call's last wait (runs.waiting, kept until
   * the step commits, so a retried or crashed-and-restarted step sees it too): `{type,
   * tool_call_id, until, waits, state?}`, `waits` the number of waits of this call so far and
   * `state` what its last `park({state})` gave.
   */
  waiting?: Readonly<Record<string, unknown>>;
  /** events sent to the run (everruns.send_event) and not consumed yet, oldest first */
  signals: ReadonlyArray<{ id: number; name: string; payload: unknown }>;
  /** Reports a long call's progress: a `CUSTOM everruns.tool_progress` event (at most about 4 a second). */
  progress?: (p: { progress: number; total?: number; message?: string }) => void;
  /**
   * The run's state as committed before this step (runs.state; null: none yet), and the agent's
   * state_schema: what update_state patches and checks.
   */
  runState?: { read: () => Promise<Record<string, unknown> | null>; schema?: Record<string, unknown> };
  /**
   * Reads `limit` characters from `offset` of a tool result committed in the run's own thread
   * (read_result); null when the thread has none of that call. The step bounds `limit` by the
   * agent's context.tool_result_max_chars.
   */
  readToolResult?: (toolCallId: string, offset: number, limit: number) => Promise<{ total: number; slice: string } | null>;
  /** What a sub-agent call (a tool of type "agent", worker/sub-agents.ts) needs of its run; set for the engine's tool steps. */
  caller?: CallerScope;
  /** W3C traceparent of the step attempt's span, for the callee to continue the run's trace (set when tracing is configured) */
  traceparent?: string;
  /** W3C tracestate of the run's trace (runs.trace_state), sent unchanged with traceparent; set only with it */
  tracestate?: string;
}

/** An AG-UI event a tool's result adds to its step's commit (STATE_SNAPSHOT, STATE_DELTA, CUSTOM). */
export type ToolEvent = { type: string } & Record<string, unknown>;

/**
 * What a tool's result commits to the run with its step, besides its content: the run's new
 * state (runs.state), a progress report (runs.progress, stamped `at` by the database), and the
 * events that say so. All in the step's one commit: a step retried after a crash commits them
 * once, from the state before it.
 */
export interface RunUpdate {
  state?: Record<string, unknown>;
  progress?: { message: string; fraction: number | null };
  events: ToolEvent[];
}

export interface Tool {
  definition: ToolDefinition;
  /** The definition the model sees for this agent, when it depends on the agent's config (update_state: its state_schema). */
  definitionFor?(config: AgentConfig): ToolDefinition;
  /** A plain value (sent to the model as JSON, or as is when a string), `result(...)` or `park(...)`. */
  execute(args: Record<string, unknown>, ctx: ToolContext): Promise<unknown>;
}

const KIND = Symbol("everruns.toolResult");

/**
 * What a parked run waits for (runs.waiting): a timer, an event everruns.send_event wakes it
 * with, or its sub-agents (worker/sub-agents.ts: the end of a child wakes it, 000033).
 */
export type WaitFor = { type: "timer" } | { type: "event"; name: string } | { type: "children"; unstarted: number; active: number };

export type ToolResult =
  | { [KIND]: "value"; value: unknown; consumesSignal?: number; update?: RunUpdate }
  | {
      [KIND]: "wait";
      /** wake the run after this long at the latest */
      delayMs: number;
      /** what the run waits for besides the timer */
      waiting: WaitFor;
      /** stored as the wait step's output */
      output: Record<string, unknown>;
      /** a resumed call waits again (polling): allowed at most MAX_WAITS_PER_CALL times */
      again?: boolean;
      /** kept in the run's waiting record and given back as ctx.waiting.state when resumed */
      state?: Record<string, unknown>;
      /** AG-UI events committed with the wait step (a sub-agent call's CUSTOM everruns.child_started) */
      events?: ToolEvent[];
    };

/**
 * A result that also consumes a signal of ctx.signals (it is not delivered again), or commits a
 * change of the run's state or progress with its step (`update`).
 */
export function result(value: unknown, options: { consumesSignal?: number; update?: RunUpdate } = {}): ToolResult {
  return {
    [KIND]: "value",
    value,
    ...(options.consumesSignal !== undefined && { consumesSignal: options.consumesSignal }),
    ...(options.update !== undefined && { update: options.update }),
  };
}

/** The longest durable wait a tool may ask for (seconds): 30 days. */
export const MAX_PARK_SECONDS = 2_592_000;
/** MAX_PARK_SECONDS in ms: a wait of a `park(...)` longer than this (or not a number of ms from 0) fails the tool call. */
export const MAX_PARK_MS = MAX_PARK_SECONDS * 1000;

/** The most durable waits one tool call may make (`park` again while polling): past it the call fails. */
export const MAX_WAITS_PER_CALL = 10_000;

/**
 * Parks the run: a durable wait of at most `delayMs` (0 to MAX_PARK_MS), or until an event wakes
 * it. `again`: a resumed call waits once more (else a resumed call's park fails it); `state`:
 * what the call needs when woken (ctx.waiting.state), small JSON.
 */
export function park(wait: {
  delayMs: number;
  waiting: WaitFor;
  output?: Record<string, unknown>;
  again?: boolean;
  state?: Record<string, unknown>;
  events?: ToolEvent[];
}): ToolResult {
  return {
    [KIND]: "wait",
    delayMs: wait.delayMs,
    waiting: wait.waiting,
    output: wait.output ?? {},
    ...(wait.again === true && { again: true }),
    ...(wait.state !== undefined && { state: wait.state }),
    ...(wait.events !== undefined && wait.events.length > 0 && { events: wait.events }),
  };
}

/** What `execute` returned, as a ToolResult. */
export function toToolResult(value: unknown): ToolResult {
  return value !== null && typeof value === "object" && KIND in value ? (value as ToolResult) : result(value);
}

export function isWait(r: ToolResult): r is Extract<ToolResult, { [KIND]: "wait" }> {
  return r[KIND] === "wait";
}

/** A tool failure the model should see as the tool's result (not a run failure). */
export class ToolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ToolError";
  }
}

/**
 * The call's outcome cannot be known (e.g. the MCP task it started is no longer known to its
 * server): a tracked tool's step decides as after a crash mid-call, by the tool's annotations and
 * the agent's on_unknown_outcome (tool-step.ts); any other tool's model sees the message.
 */
export class OutcomeUnknownError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OutcomeUnknownError";
  }
}

/**
 * A failure worth trying again (timeout, network, 429, 5xx): the step is retried with the
 * agent's retry policy; after the last attempt the model sees the error as the tool's result.
 */
export class TransientToolError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /** true when the request surely never reached the tool's server (refused connection, unresolvable host): calling again is safe */
  readonly notDelivered: boolean;
  constructor(message: string, options: { code: string; status?: number; retryAfterMs?: number; notDelivered?: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "TransientToolError";
    this.code = options.code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.notDelivered = options.notDelivered ?? false;
  }
}
