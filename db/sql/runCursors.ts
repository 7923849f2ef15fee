import type { Queryable } from "../pool.ts";

export interface RunCursor {
  id: string;
  step_cursor: number;
  step_attempt: number;
  status: string;
}

/** Where each of these runs is: its step cursor, the attempt of that step, its status. */
export async function runCursors(db: Queryable, runIds: string[]): Promise<RunCursor[]> {
  const { rows } = await db.query<RunCursor>("select id, step_cursor, step_attempt, status from everruns.runs where id = any($1)", [runIds]);
  return rows;
}
