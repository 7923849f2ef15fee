// What a tool is: a definition the model sees and an `execute` that returns its result, or
// `park(...)` to wait durably (the run is parked with no worker held, and the call is executed
// again, with `ctx.resumed`, when it is woken).
import type { ToolDefinition } from "../providers/types.ts";

export interface ToolContext {
  runId: string;
  toolCallId: string;
  /** `<run_id>:<tool_call_id>`: the same on every retry of this call. */
  idempotencyKey: string;
  signal: AbortSignal;
  /** true when this call parked the run (`park`) and the run has been woken since */
  resumed: boolean;
  /** events sent to the run (everruns.send_event) and not consumed yet, oldest first */
  signals: ReadonlyArray<{ id: number; name: string; payload: unknown }>;
  /** Reports a long call's progress: a `CUSTOM everruns.tool_progress` event (at most about 4 a second). */
  progress?: (p: { progress: number; total?: number; message?: string }) => void;
}

export interface Tool {
  definition: ToolDefinition;
  /** A plain value (sent to the model as JSON, or as is when a string), `result(...)` or `park(...)`. */
  execute(args: Record<string, unknown>, ctx: ToolContext): Promise<unknown>;
}

const KIND = Symbol("everruns.toolResult");

/** What a parked run waits for (runs.waiting): a timer, or an event everruns.send_event wakes it with. */
export type WaitFor = { type: "timer" } | { type: "event"; name: string };

export type ToolResult =
  | { [KIND]: "value"; value: unknown; consumesSignal?: number }
  | {
      [KIND]: "wait";
      /** wake the run after this long at the latest */
      delayMs: number;
      /** what the run waits for besides the timer */
      waiting: WaitFor;
      /** stored as the wait step's output */
      output: Record<string, unknown>;
    };

/** A result that also consumes a signal of ctx.signals (it is not delivered again). */
export function result(value: unknown, options: { consumesSignal?: number } = {}): ToolResult {
  return { [KIND]: "value", value, ...(options.consumesSignal !== undefined && { consumesSignal: options.consumesSignal }) };
}

/** The longest durable wait a tool may ask for (seconds): 30 days. */
export const MAX_PARK_SECONDS = 2_592_000;
/** MAX_PARK_SECONDS in ms: a wait of a `park(...)` longer than this (or not a number of ms from 0) fails the tool call. */
export const MAX_PARK_MS = MAX_PARK_SECONDS * 1000;

/** Parks the run: a durable wait of at most `delayMs` (0 to MAX_PARK_MS), or until an event wakes it. */
export function park(wait: { delayMs: number; waiting: WaitFor; output?: Record<string, unknown> }): ToolResult {
  return { [KIND]: "wait", delayMs: wait.delayMs, waiting: wait.waiting, output: wait.output ?? {} };
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
