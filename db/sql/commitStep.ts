import type { Pool } from "../pool.ts";
import type { AgUiEvent } from "./appendEvents.ts";
import type { Usage } from "../schemas.ts";

export interface StepRecord {
  kind: "llm" | "tool" | "wait" | "system";
  name: string;
  status: "succeeded" | "failed";
  input?: unknown;
  output?: unknown;
  error?: unknown;
  usage?: Usage;
  /** a run_signals id this step consumed (wait_for_event) */
  consumes_signal?: number;
}

export type NextStep =
  | { type: "continue" }
  /** park the run (status waiting) until the timer fires or an event wakes it */
  | { type: "wait"; delay_ms: number; waiting: { type: "timer" | "event"; name?: string; tool_call_id: string } }
  /** end the run interrupted: approvals to answer and/or client tool calls to run */
  | { type: "interrupt"; interrupts: { interrupts: Record<string, unknown>[]; pending_tool_call_ids: string[] }; output: Record<string, unknown> }
  | { type: "succeed"; output: Record<string, unknown> }
  | { type: "fail"; error: { code: string; message: string } & Record<string, unknown> };

/**
 * Commits a step in one transaction (everruns_private.commit_step): checkpoint, events, usage,
 * and the next job or the run's end. Returns false when this attempt lost the fence; then
 * nothing was written.
 */
export async function commitStep(
  pool: Pool,
  runId: string,
  seq: number,
  attempt: number,
  step: StepRecord,
  events: AgUiEvent[],
  next: NextStep,
): Promise<boolean> {
  const { rows } = await pool.query<{ committed: boolean }>(
    "select everruns_private.commit_step($1, $2, $3, $4, $5, $6) as committed",
    [runId, seq, attempt, JSON.stringify(step), JSON.stringify(events), JSON.stringify(next)],
  );
  return rows[0]!.committed;
}
