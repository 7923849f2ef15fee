import { z } from "zod";
import type { Pool } from "../pool.ts";
import { BegunStepSchema, type BegunStep } from "./beginStep.ts";
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
 * and the next job or the run's end. `job`, the job the attempt runs in, lets the database keep
 * the run's next job apart from it if a sweeper freed it meanwhile (enqueue_step). Returns false
 * when this attempt lost the fence; then nothing was written.
 */
export async function commitStep(
  pool: Pool,
  runId: string,
  seq: number,
  attempt: number,
  step: StepRecord,
  events: AgUiEvent[],
  next: NextStep,
  job?: JobRef,
): Promise<boolean> {
  const { rows } = await pool.query<{ committed: boolean }>(
    "select everruns_private.commit_step($1, $2, $3, $4, $5, $6) as committed",
    [runId, seq, attempt, JSON.stringify(step), JSON.stringify(events), JSON.stringify(job ? { ...next, job } : next)],
  );
  return rows[0]!.committed;
}

/** The graphile-worker job a step runs in: handed over to the next step by commitStepAndBeginNext. */
export interface JobRef {
  id: string;
  locked_by: string;
}

const CommittedAndBegunSchema = z.object({ committed: z.boolean(), next: BegunStepSchema.nullish() });

/**
 * Commits step `begun` whose run continues and, in the same transaction, begins the next step in
 * this worker (everruns_private.commit_step_and_begin_next): `job`, the job this step runs in,
 * now carries the next step, so a crash from here on is recovered like any other. Returns
 * `committed: false` when this attempt lost the fence (nothing written), and `next: null` when
 * the job could not be handed over and the next step was enqueued as a job instead.
 */
export async function commitStepAndBeginNext(
  pool: Pool,
  begun: BegunStep,
  step: StepRecord,
  events: AgUiEvent[],
  job: JobRef,
): Promise<{ committed: boolean; next: BegunStep | null }> {
  const { run } = begun;
  const { rows } = await pool.query<{ result: unknown }>(
    "select everruns_private.commit_step_and_begin_next($1, $2, $3, $4, $5, $6) as result",
    [run.id, run.step_cursor, run.step_attempt, JSON.stringify(step), JSON.stringify(events), JSON.stringify(job)],
  );
  const result = CommittedAndBegunSchema.parse(rows[0]!.result);
  if (!result.next) return { committed: result.committed, next: null };
  // The database leaves out what cannot have changed: the run's input and its pinned agent config.
  return { committed: true, next: { ...result.next, config: begun.config, run: { ...result.next.run, input: run.input } } };
}
