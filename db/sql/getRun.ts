import type { Queryable } from "../pool.ts";

/** A run as the API shows it: the public columns, none of the step engine's fence. */
export interface RunView {
  id: string;
  agent_id: string;
  agent_version: number;
  thread_id: string;
  parent_run_id: string | null;
  status: string;
  input: unknown;
  output: unknown;
  error: unknown;
  usage: unknown;
  /** the run's live state (update_state, 000030), null when none */
  state: unknown;
  /** its latest report_progress: {message, fraction, at}, null when none */
  progress: unknown;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  /** when retention removed its events and steps (000038; the row stays as its summary), null while kept */
  history_expired_at: Date | null;
}

/** One run by id, or null when there is none. */
export async function getRun(db: Queryable, runId: string): Promise<RunView | null> {
  const { rows } = await db.query<RunView>(
    `select id, agent_id, agent_version, thread_id, parent_run_id, status, input, output, error, usage,
            state, progress, created_at, started_at, finished_at, updated_at, history_expired_at
       from everruns.runs where id = $1`,
    [runId],
  );
  return rows[0] ?? null;
}
