import type { Queryable } from "../pool.ts";

export interface LateRun {
  id: string;
  status: string;
  step_cursor: number;
  step_attempt: number;
  step_errors: number;
  waiting: unknown;
  updated_ago_ms: number;
  /** the run's job (graphile-worker's public jobs view), null when it has none */
  job: { attempts: number; max_attempts: number; due_in_ms: number; locked_by: string | null; last_error: string | null } | null;
}

/** What the chaos check reports of runs that did not finish in time: the run's fence and its job. */
export async function chaosLateRuns(db: Queryable, runIds: string[]): Promise<LateRun[]> {
  const { rows } = await db.query<LateRun>(
    `select r.id, r.status, r.step_cursor, r.step_attempt, r.step_errors, r.waiting,
            round(extract(epoch from now() - r.updated_at) * 1000)::int as updated_ago_ms,
            (select jsonb_build_object('attempts', j.attempts, 'max_attempts', j.max_attempts,
                                       'due_in_ms', round(extract(epoch from j.run_at - now()) * 1000),
                                       'locked_by', j.locked_by, 'last_error', left(j.last_error, 200))
               from graphile_worker.jobs j where j.key = 'run:' || r.id::text) as job
       from everruns.runs r
      where r.id = any($1) and r.status not in ('succeeded', 'failed', 'cancelled', 'interrupted')`,
    [runIds],
  );
  return rows;
}
