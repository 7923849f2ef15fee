import type { Queryable } from "../pool.ts";

/** The attempt that committed each step of these runs, keyed "<run id>:<seq>". */
export async function committedStepAttempts(db: Queryable, runIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ run_id: string; seq: number; attempt: number }>(
    "select run_id, seq, attempt from everruns.run_steps where run_id = any($1)",
    [runIds],
  );
  return new Map(rows.map((r) => [`${r.run_id}:${r.seq}`, r.attempt]));
}
