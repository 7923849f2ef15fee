import type { Queryable } from "../pool.ts";

/**
 * Answers every interrupt of each of these interrupted runs with approval (everruns.resume_run);
 * returns each run's continuation.
 */
export async function approveInterrupts(db: Queryable, runIds: string[]): Promise<Array<{ runId: string; continuation: string }>> {
  const { rows } = await db.query<{ runId: string; continuation: string }>(
    `select r.id as "runId",
            everruns.resume_run(r.id, (select jsonb_agg(jsonb_build_object('interruptId', i ->> 'id', 'status', 'resolved', 'payload', '{"approved": true}'::jsonb))
                                       from jsonb_array_elements(r.interrupts -> 'interrupts') i)) as continuation
     from everruns.runs r where r.id = any($1)`,
    [runIds],
  );
  return rows;
}
