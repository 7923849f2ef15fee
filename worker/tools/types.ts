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
