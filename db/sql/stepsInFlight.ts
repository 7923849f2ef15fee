import type { Queryable } from "../pool.ts";

/** A step that a worker pool is running. */
export interface InFlightStep {
  runId: string;
  seq: number;
  attempt: number;
}

/**
 * The steps a worker pool is running right now: runs whose job (key `run:<run id>`, in
 * graphile-worker's public jobs view) that pool holds locked, and whose current step has begun.
 */
export async function stepsInFlight(db: Queryable, poolId: string): Promise<InFlightStep[]> {
  const { rows } = await db.query<InFlightStep>(
    `select r.id as "runId", r.step_cursor as seq, r.step_attempt as attempt
     from graphile_worker.jobs j join everruns.runs r on j.key = 'run:' || r.id::text
     where j.locked_by = $1 and r.status = 'running' and r.step_attempt > 0`,
    [poolId],
  );
  return rows;
}
