import type { Queryable } from "../pool.ts";

export interface CommittedStepRow {
  run_id: string;
  seq: number;
  kind: string;
  name: string;
  attempt: number;
  input: { tool_call_id?: string } | null;
  output: { content?: string } | null;
}

/** The committed steps of these runs and of their continuations, in order. */
export async function chaosCommittedSteps(db: Queryable, runIds: string[]): Promise<CommittedStepRow[]> {
  const { rows } = await db.query<CommittedStepRow>(
    `select run_id, seq, kind, name, attempt, input, output from everruns.run_steps
     where run_id in (select id from everruns.runs where id = any($1) or parent_run_id = any($1))
     order by run_id, seq`,
    [runIds],
  );
  return rows;
}
