import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { BegunStepSchema, type BegunStep } from "./beginStep.ts";
import type { AgUiEvent } from "./appendEvents.ts";
import type { Usage } from "../schemas.ts";
import { deferringStatement, parseNotifications, type StepStatementOptions, type WithNotifications } from "./deferredNotifications.ts";

export interface StepRecord {
  kind: "llm" | "tool" | "wait" | "system" | "compaction" | "state";
  name: string;
  status: "succeeded" | "failed";
  input?: unknown;
  output?: unknown;
  error?: unknown;
  usage?: Usage;
  /** a run_signals id this step consumed (wait_for_event) */
  consumes_signal?: number;
  /** the run's new state (update_state): commit_step_locked writes it to runs.state (000030) */
  state?: Record<string, unknown>;
  /** a progress report (report_progress): runs.progress, and its CUSTOM everruns.progress event's value, get it with `at` (000030) */
  progress?: { message: string; fraction: number | null };
}

export type NextStep =
  | { type: "continue" }
  /** park the run (status waiting) until the timer fires or an event wakes it */
  | {
      type: "wait";
      delay_ms: number;
      /** `waits`: how many times this call waited; `state`: what the tool keeps across its waits (an MCP task's id) */
      waiting: {
        type: "timer" | "event" | "children";
        name?: string;
        tool_call_id: string;
        waits?: number;
        state?: Record<string, unknown>;
        /** a `children` wait (000033, worker/sub-agents.ts): calls of the turn not started yet, and the unfinished children counted at the park */
        unstarted?: number;
        active?: number;
      };
    }
  /** park the run until its workspace's daily quota resets or is raised (set_workspace_admission wakes it) */
  | { type: "wait"; delay_ms: number; waiting: { type: "quota"; limit: string; used: number; max: number; resets_at: string } }
  /** end the run interrupted: approvals to answer and/or client tool calls to run */
  | { type: "interrupt"; interrupts: { interrupts: Record<string, unknown>[]; pending_tool_call_ids: string[] }; output: Record<string, unknown> }
  | { type: "succeed"; output: Record<string, unknown> }
  | { type: "fail"; error: { code: string; message: string } & Record<string, unknown> };

/** The graphile-worker job a step runs in (see everruns_private.job_held). */
export interface JobRef {
  id: string;
  locked_by: string;
}

const CommittedSchema = z.object({ committed: z.boolean(), job_held: z.boolean().optional() });

export interface Committed {
  /** false: this attempt lost the fence, nothing was written */
  committed: boolean;
  /** false: the worker no longer holds `job` (a sweeper freed it): it must not complete it */
  jobHeld: boolean;
}

const COMMIT_STEP_CALL = "everruns_private.commit_step($1, $2, $3, $4, $5, $6, $7)";
const COMMIT_STEP = `select ${COMMIT_STEP_CALL} as result`;
const COMMIT_STEP_DEFERRED = deferringStatement(COMMIT_STEP_CALL);

/**
 * Commits a step in one transaction (everruns_private.commit_step): checkpoint, events, usage,
 * and the next job or the run's end. `notifications`: what the commit would have sent, when
 * `opts.deferNotifications` (deferredNotifications.ts); else none (sent with the commit).
 */
export async function commitStep(
  db: Queryable,
  runId: string,
  seq: number,
  attempt: number,
  step: StepRecord,
  events: AgUiEvent[],
  next: NextStep,
  job?: JobRef,
  opts?: StepStatementOptions,
): Promise<Committed & WithNotifications> {
  const { rows } = await db.query<{ result: unknown; notifications?: string | null }>(opts?.deferNotifications ? COMMIT_STEP_DEFERRED : COMMIT_STEP, [
    runId,
    seq,
    attempt,
    JSON.stringify(step),
    JSON.stringify(events),
    JSON.stringify(next),
    job ? JSON.stringify(job) : null,
  ]);
  const result = CommittedSchema.parse(rows[0]!.result);
  return { committed: result.committed, jobHeld: result.job_held ?? true, notifications: parseNotifications(rows[0]!.notifications) };
}

const CommittedAndBegunSchema = CommittedSchema.extend({ next: BegunStepSchema.nullish() });

const COMMIT_AND_BEGIN_CALL = "everruns_private.commit_step_and_begin_next($1, $2, $3, $4, $5, $6)";
const COMMIT_AND_BEGIN = `select ${COMMIT_AND_BEGIN_CALL} as result`;
const COMMIT_AND_BEGIN_DEFERRED = deferringStatement(COMMIT_AND_BEGIN_CALL);

/**
 * Commits step `begun`, whose run simply continues, and in the same transaction begins the next
 * step, to be run at once in the job this worker holds (everruns_private.commit_step_and_begin_next).
 * `next` is null when the attempt lost the fence or the worker no longer holds `job` (then the
 * next step was enqueued as a job instead). `notifications` as for commitStep.
 */
export async function commitStepAndBeginNext(
  db: Queryable,
  begun: BegunStep,
  step: StepRecord,
  events: AgUiEvent[],
  job: JobRef,
  opts?: StepStatementOptions,
): Promise<Committed & { next: BegunStep | null } & WithNotifications> {
  const { run } = begun;
  const { rows } = await db.query<{ result: unknown; notifications?: string | null }>(opts?.deferNotifications ? COMMIT_AND_BEGIN_DEFERRED : COMMIT_AND_BEGIN, [
    run.id,
    run.step_cursor,
    run.step_attempt,
    JSON.stringify(step),
    JSON.stringify(events),
    JSON.stringify(job),
  ]);
  const result = CommittedAndBegunSchema.parse(rows[0]!.result);
  const committed = { committed: result.committed, jobHeld: result.job_held ?? true, notifications: parseNotifications(rows[0]!.notifications) };
  if (!result.next) return { ...committed, next: null };
  // The database leaves out what cannot have changed: the run's input and its pinned agent config.
  return { ...committed, next: { ...result.next, config: begun.config, run: { ...result.next.run, input: run.input } } };
}
