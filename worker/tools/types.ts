import type { ToolDefinition } from "../providers/types.ts";

export interface ToolContext {
  runId: string;
  toolCallId: string;
  /** `<run_id>:<tool_call_id>`: the same on every retry of this call. */
  idempotencyKey: string;
  signal: AbortSignal;
}

export interface Tool {
  definition: ToolDefinition;
  execute(args: Record<string, unknown>, ctx: ToolContext): Promise<unknown>;
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
  constructor(message: string, options: { code: string; status?: number; retryAfterMs?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "TransientToolError";
    this.code = options.code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}
