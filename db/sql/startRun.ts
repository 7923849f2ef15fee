import { describeStorableProblem, findStorableProblem, textProblem } from "../../lib/storable-json.ts";
import { fromDatabaseError, NotFoundError, ValidationError } from "../errors.ts";
import { isUuid, type Queryable } from "../pool.ts";
import { describeIssues, RunPrioritySchema } from "../schemas.ts";

export interface StartRunRequest {
  /** The agent, by id or by name (an id wins over a name that looks like one). */
  agent: string;
  /** The run input: {"messages": [...], "state"?, "context"?, "tools"?, "resume"?}. */
  input: unknown;
  /** A thread to continue, or the id to give a new one; a new thread when absent. */
  threadId?: string | null;
  /** Honour a client's id (AG-UI runId); otherwise the database picks one. */
  id?: string | null;
  /** The interrupted run this one answers; when absent the trigger looks for one on the thread. */
  parentRunId?: string | null;
  /**
   * Higher first within the workspace (-1000..1000, 000023). Absent or 0: the agent's
   * config.priority (a continuation: its parent's), else 0; the runs trigger decides that.
   */
  priority?: number | null;
}

export interface StartedRun {
  id: string;
  agent_id: string;
  status: string;
  thread_id: string;
}

/**
 * Starts a run: the one way REST, AG-UI, GraphQL and the CLI start one.
 *
 * The input goes to the runs trigger as it is: the trigger is what decides whether an input is
 * valid, for a plain SQL insert and an API call alike (EV003, a message naming the field).
 *
 * Finding the agent and inserting the run is one statement: one round trip, and no window in
 * which the agent could be renamed between the two. Zero rows back means no such agent. The
 * BEFORE trigger pins the agent version, finds or creates the thread and validates the input;
 * the AFTER trigger enqueues the first step. Whatever the triggers reject, nothing is left
 * behind: run, thread and job are all written by this one statement. Database errors come back
 * through fromDatabaseError (ValidationError, NotFoundError); a run id that is taken is a
 * ValidationError with code "conflict" (see isUniqueViolation).
 *
 * Before anything is serialised, the agent reference and the input must be storable
 * (lib/storable-json.ts: no U+0000 or lone surrogate, no non-finite number, nesting at most
 * MAX_JSON_DEPTH deep): a ValidationError naming the field, not a 500 from JSON.stringify or
 * Postgres. REST and AG-UI bodies were checked already (parseBody); GraphQL arguments are here.
 */
/** everruns_private.max_run_input_bytes() and max_run_messages() (000012). */
export const MAX_RUN_INPUT_BYTES = 4_194_304;
export const MAX_RUN_MESSAGES = 1000;

export async function startRun(db: Queryable, run: StartRunRequest): Promise<StartedRun> {
  for (const [what, value] of [
    ["thread id", run.threadId],
    ["run id", run.id],
    ["parent run id", run.parentRunId],
  ] as const) {
    if (value != null && !isUuid(value)) throw new ValidationError(`${what} must be a UUID, got "${value}"`, { code: "invalid_run_input" });
  }
  if (run.priority != null) {
    const priority = RunPrioritySchema.safeParse(run.priority);
    if (!priority.success) throw new ValidationError(`priority ${describeIssues(priority.error)}`, { code: "invalid_run_input" });
  }
  const agentProblem = textProblem(run.agent);
  if (agentProblem) throw new ValidationError(`agent ${agentProblem}`, { code: "invalid_run_input" });
  const problem = findStorableProblem(run.input ?? null, "input");
  if (problem) throw new ValidationError(`invalid run input: ${describeStorableProblem(problem)}`, { code: "invalid_run_input" });
  const messages = (run.input as { messages?: unknown } | null)?.messages;
  if (Array.isArray(messages) && messages.length > MAX_RUN_MESSAGES) {
    throw new ValidationError(
      `invalid run input: "messages" holds ${messages.length} messages; a run input may hold at most ${MAX_RUN_MESSAGES} (max_run_messages)`,
      {
        code: "invalid_run_input",
      },
    );
  }
  const input = JSON.stringify(run.input ?? null);
  // JSON.stringify's text is never longer than Postgres's (which adds spaces): this refuses only
  // what the runs trigger would refuse too (max_run_input_bytes, 000012)
  if (Buffer.byteLength(input) > MAX_RUN_INPUT_BYTES) {
    throw new ValidationError(`invalid run input: it is over ${MAX_RUN_INPUT_BYTES} bytes of JSON text (max_run_input_bytes)`, { code: "invalid_run_input" });
  }
  let rows: StartedRun[];
  try {
    ({ rows } = await db.query<StartedRun>(
      // priority 0 (absent): the runs trigger gives the run its agent's config.priority (a continuation: its parent's)
      `insert into everruns.runs (id, agent_id, input, thread_id, parent_run_id, priority)
       select coalesce($1::uuid, gen_random_uuid()), a.id, $4, $5, $6, coalesce($7::smallint, 0)
         from everruns.agents a
        where a.id = $2::uuid or a.name = $3
        order by (a.id = $2::uuid) desc nulls last
        limit 1
       returning id, agent_id, status, thread_id`,
      [run.id ?? null, isUuid(run.agent) ? run.agent : null, run.agent, input, run.threadId ?? null, run.parentRunId ?? null, run.priority ?? null],
    ));
  } catch (error) {
    throw fromDatabaseError(error);
  }
  if (!rows[0]) throw new NotFoundError(`no agent with id or name "${run.agent}"`);
  return rows[0];
}
