import { fromDatabaseError } from "../../db/errors.ts";
import type { Queryable } from "./queryable.ts";

export interface NewRun {
  /** Honour a client's id (AG-UI runId); otherwise the database picks one. */
  id?: string;
  agentId: string;
  input: Record<string, unknown>;
  threadId?: string | null;
  parentRunId?: string | null;
}

export interface InsertedRun {
  id: string;
  status: string;
  thread_id: string;
}

/**
 * Starts a run: the one INSERT of the public contract. The BEFORE trigger validates the input,
 * pins the agent version and finds or creates the thread; the AFTER trigger enqueues the first
 * step in this same statement. Errors come back as ValidationError / NotFoundError.
 */
export async function insertRun(db: Queryable, run: NewRun): Promise<InsertedRun> {
  try {
    const { rows } = await db.query<InsertedRun>(
      `insert into everruns.runs (id, agent_id, input, thread_id, parent_run_id)
       values (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5)
       returning id, status, thread_id`,
      [run.id ?? null, run.agentId, JSON.stringify(run.input), run.threadId ?? null, run.parentRunId ?? null],
    );
    return rows[0]!;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** True when `error` says the run id is taken (a retried request that already inserted it). */
export function isDuplicateRun(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string; constraint?: string } } | null)?.cause;
  return cause?.code === "23505" && cause.constraint === "runs_pkey";
}
