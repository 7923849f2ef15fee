import type { Queryable } from "../pool.ts";

export interface RunOutcome {
  id: string;
  status: string;
  continued_by: string | null;
  parent_run_id: string | null;
  error: unknown;
}

/** How each of these runs and each of their continuations ended. */
export async function chaosRunOutcomes(db: Queryable, runIds: string[]): Promise<RunOutcome[]> {
  const { rows } = await db.query<RunOutcome>(
    "select id, status, continued_by, parent_run_id, error from everruns.runs where id = any($1) or parent_run_id = any($1)",
    [runIds],
  );
  return rows;
}
