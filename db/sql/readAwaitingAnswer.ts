import type { Queryable } from "../pool.ts";

/** The ids of the `first` oldest interrupted runs nobody answered yet (runs_interrupted_idx). */
export async function readAwaitingAnswer(db: Queryable, first: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select id from everruns.runs
      where status = 'interrupted' and continued_by is null
      order by created_at, id
      limit $1`,
    [first],
  );
  return rows.map((r) => r.id);
}
