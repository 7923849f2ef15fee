// MCP tool calls dispatched (000027, everruns.tool_dispatches), for the worker: before a step
// sends a call it records the dispatch durably (markToolDispatched); a later attempt reads it
// (readToolDispatch) to learn whether an earlier attempt may have sent the call already; a failure
// that proves the request never reached the server settles it (settleToolDispatch). A call is
// keyed by the run whose LLM turn made it and its tool_call_id. Related operations kept together.
import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export type ToolDispatchState = "in_flight" | "not_delivered";

/** A tool call's dispatch record. */
export interface ToolDispatch {
  /** how many times the call was sent */
  dispatches: number;
  /** in_flight: sent, outcome unknown; not_delivered: the request surely never reached the server */
  state: ToolDispatchState;
  /** what allowed the last dispatch (an answer's interrupt id), or null */
  authorizedBy: string | null;
  /** the run, step and attempt that sent it last */
  lastRunId: string;
  lastSeq: number;
  lastAttempt: number;
  /** ISO 8601, the database clock */
  firstDispatchedAt: string;
  lastDispatchedAt: string;
}

const iso = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());
const DispatchRowSchema = z.object({
  dispatches: z.number().int(),
  state: z.enum(["in_flight", "not_delivered"]),
  authorized_by: z.string().nullable(),
  last_run_id: z.string(),
  last_seq: z.number().int(),
  last_attempt: z.number().int(),
  first_dispatched_at: iso,
  last_dispatched_at: iso,
});

const READ = `select dispatches, state, authorized_by, last_run_id, last_seq, last_attempt, first_dispatched_at, last_dispatched_at
                from everruns_private.tool_dispatch($1, $2)`;

/** The dispatch record of tool call `toolCallId` of `turnRunId`'s LLM turn; null: never dispatched. */
export async function readToolDispatch(db: Queryable, turnRunId: string, toolCallId: string): Promise<ToolDispatch | null> {
  try {
    const { rows } = await db.query(READ, [turnRunId, toolCallId]);
    if (!rows[0]) return null;
    const r = DispatchRowSchema.parse(rows[0]);
    return {
      dispatches: r.dispatches,
      state: r.state,
      authorizedBy: r.authorized_by,
      lastRunId: r.last_run_id,
      lastSeq: r.last_seq,
      lastAttempt: r.last_attempt,
      firstDispatchedAt: r.first_dispatched_at,
      lastDispatchedAt: r.last_dispatched_at,
    };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export interface MarkToolDispatched {
  /** the run whose step sends the call now (fenced by seq and attempt) */
  runId: string;
  seq: number;
  attempt: number;
  /** the run whose LLM turn made the call: runId, or an earlier run of its thread */
  turnRunId: string;
  toolCallId: string;
  /** the name the model called (<server>__<tool>) */
  toolName: string;
  /** what allows sending it again (an answer's interrupt id), or null */
  authorizedBy: string | null;
}

const MARK = "select everruns_private.mark_tool_dispatched($1, $2, $3, $4, $5, $6, $7) as dispatches";

/**
 * Records that the call is about to be sent (one more dispatch, in flight) and returns the
 * dispatch count. Durable when it returns: call it on the pool or a connection outside any
 * transaction of your own (inside one, the record is durable only once that commits).
 * StaleAttemptError when the attempt was fenced out: then do not send the call.
 */
export async function markToolDispatched(db: Queryable, mark: MarkToolDispatched): Promise<number> {
  try {
    const { rows } = await db.query<{ dispatches: number }>(MARK, [
      mark.runId,
      mark.seq,
      mark.attempt,
      mark.turnRunId,
      mark.toolCallId,
      mark.toolName,
      mark.authorizedBy,
    ]);
    return z.number().int().parse(rows[0]!.dispatches);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export interface SettleToolDispatch {
  runId: string;
  seq: number;
  attempt: number;
  turnRunId: string;
  toolCallId: string;
  /** the count markToolDispatched returned for the call that failed */
  dispatches: number;
}

const SETTLE = "select everruns_private.settle_tool_dispatch($1, $2, $3, $4, $5, $6) as settled";

/**
 * Marks the dispatch not_delivered (the request surely never reached the server), only when no
 * later dispatch of the call happened meanwhile. Returns whether it did. StaleAttemptError when
 * the attempt was fenced out.
 */
export async function settleToolDispatch(db: Queryable, settle: SettleToolDispatch): Promise<boolean> {
  try {
    const { rows } = await db.query<{ settled: boolean }>(SETTLE, [
      settle.runId,
      settle.seq,
      settle.attempt,
      settle.turnRunId,
      settle.toolCallId,
      settle.dispatches,
    ]);
    return rows[0]!.settled === true;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
