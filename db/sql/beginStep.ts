import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { deferringStatement, parseNotifications, type StepStatementOptions, type WithNotifications } from "./deferredNotifications.ts";

const CommittedStepSchema = z.object({
  seq: z.number().int(),
  kind: z.enum(["llm", "tool", "wait", "system", "compaction", "state"]),
  name: z.string(),
  status: z.enum(["succeeded", "failed"]),
  input: z.unknown(),
  output: z.unknown(),
});
export type CommittedStep = z.infer<typeof CommittedStepSchema>;

/** One item of a run's history, in order: a run's input, or one of its committed steps. */
export const HistoryEntrySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("input"), run_id: z.string(), input: z.unknown() }),
  z.object({ kind: z.literal("step"), run_id: z.string(), step: CommittedStepSchema }),
]);
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

const QuotaSchema = z.object({
  limit: z.enum(["max_tokens_per_day", "max_cost_usd_per_day"]),
  used: z.number(),
  max: z.number(),
  resets_at: z.string(),
  resets_in_ms: z.number(),
});
export type UsedUpQuota = z.infer<typeof QuotaSchema>;

export const BegunStepSchema = z.object({
  run: z.object({
    id: z.string(),
    /** whose secrets the run's steps resolve (worker/secrets.ts) */
    workspace_id: z.string(),
    thread_id: z.string(),
    agent_id: z.string(),
    agent_version: z.number().int(),
    parent_run_id: z.string().nullable(),
    input: z.unknown(),
    step_cursor: z.number().int(),
    step_attempt: z.number().int(),
    step_errors: z.number().int(),
    event_seq: z.number().int(),
    usage: z.unknown(),
    waiting: z.record(z.string(), z.unknown()).nullable(),
    /** the run's live state (000030: update_state), null when none; absent before that migration */
    state: z.record(z.string(), z.unknown()).nullable().optional(),
    /** the state it started from (000030: resolved at its first attempt, in the begin_step that returns it) */
    initial_state: z.record(z.string(), z.unknown()).nullable().optional(),
    created_at: z.string(),
    /** when the run was given a worker slot (000023); absent before that migration */
    admitted_at: z.string().nullable().optional(),
    /** the W3C traceparent its trace continues (000035), null: a trace of its own; absent before that migration */
    trace_parent: z.string().nullable().optional(),
    /** the W3C tracestate that goes with it (000042), sent unchanged with the traceparents its steps send; absent before that migration */
    trace_state: z.string().nullable().optional(),
  }),
  config: z.unknown(),
  /** from the last LLM turn of the run (or the runs it continues) on */
  history: z.array(HistoryEntrySchema),
  /** LLM calls so far in this run and the runs it continues: the next call's index */
  llm_count: z.number().int(),
  /** events sent to the run and not consumed yet */
  signals: z.array(z.object({ id: z.number(), name: z.string(), payload: z.unknown() })),
  closed: z.array(z.record(z.string(), z.unknown())),
  /** the workspace's daily quota when it is used up (000023): new LLM steps park until resets_in_ms */
  quota: QuotaSchema.nullable().optional(),
});
export type BegunStep = z.infer<typeof BegunStepSchema>;

const BEGIN_STEP = "select everruns_private.begin_step($1) as result";
const BEGIN_STEP_DEFERRED = deferringStatement("everruns_private.begin_step($1)");

/**
 * Begins an attempt at the run's current step, whatever it is (everruns_private.begin_step): a
 * step job means "advance this run". Returns null when the run has nothing to do (finished,
 * cancelled, interrupted). With `opts` it returns `{ begun, notifications }`: the notifications
 * the transaction would have sent, when `opts.deferNotifications` (deferredNotifications.ts).
 */
export async function beginStep(db: Queryable, runId: string): Promise<BegunStep | null>;
export async function beginStep(db: Queryable, runId: string, opts: StepStatementOptions): Promise<{ begun: BegunStep | null } & WithNotifications>;
export async function beginStep(
  db: Queryable,
  runId: string,
  opts?: StepStatementOptions,
): Promise<BegunStep | null | ({ begun: BegunStep | null } & WithNotifications)> {
  const { rows } = await db.query<{ result: unknown; notifications?: string | null }>(opts?.deferNotifications ? BEGIN_STEP_DEFERRED : BEGIN_STEP, [runId]);
  const result = rows[0]?.result;
  const begun = result == null ? null : BegunStepSchema.parse(result);
  return opts ? { begun, notifications: parseNotifications(rows[0]?.notifications) } : begun;
}
