import type { Queryable } from "../pool.ts";

/** What an interrupted run asks and who answered it (runs.interrupts, runs.continued_by). */
export interface RunInterrupts {
  /** The AG-UI interrupts the run ended with (`{"interrupts": [...], "pending_tool_call_ids": [...]}`), or null. */
  interrupts: { interrupts?: Array<Record<string, unknown>>; pending_tool_call_ids?: string[] } | null;
  /** The continuation run that answered it, or null while nobody has. */
  continued_by: string | null;
}

/** A run's interrupts and continuation, or null when there is no such run (in the session's workspace). */
export async function readRunInterrupts(db: Queryable, runId: string): Promise<RunInterrupts | null> {
  const { rows } = await db.query<RunInterrupts>("select interrupts, continued_by from everruns.runs where id = $1", [runId]);
  return rows[0] ?? null;
}
