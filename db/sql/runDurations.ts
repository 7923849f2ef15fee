import type { Queryable } from "../pool.ts";

/** Milliseconds from created to finished of each of these runs that has finished (database clock). */
export async function runDurations(db: Queryable, runIds: string[]): Promise<number[]> {
  const { rows } = await db.query<{ ms: number }>(
    "select extract(epoch from (finished_at - created_at)) * 1000 as ms from everruns.runs where id = any($1) and finished_at is not null",
    [runIds],
  );
  return rows.map((r) => r.ms);
}
