import type { Queryable } from "../pool.ts";

export interface UnfinishedRun {
  id: string;
  status: string;
  waiting: { type?: string } | null;
  interrupts: { interrupts?: Array<{ id: string }> } | null;
  continued_by: string | null;
}

/** Those of these runs that have not finished, with what they wait for: what the chaos driver answers. */
export async function chaosUnfinishedRuns(db: Queryable, runIds: string[]): Promise<UnfinishedRun[]> {
  const { rows } = await db.query<UnfinishedRun>(
    "select id, status, waiting, interrupts, continued_by from everruns.runs where id = any($1) and status not in ('succeeded', 'failed', 'cancelled')",
    [runIds],
  );
  return rows;
}
