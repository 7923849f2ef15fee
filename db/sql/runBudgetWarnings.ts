import type { Queryable } from "../pool.ts";

/**
 * The budget warnings (CUSTOM everruns.budget, level "warning") written in the event logs of
 * `runIds` (a run and the runs it continues), a dead attempt's events included: the log is
 * append-only, so a warning one attempt streamed is seen by the next, which then writes none.
 * Each with the value in force it warned of: a limit raised since warns again.
 * Read only once a limit is near (worker/run-budget.ts).
 */
export async function runBudgetWarnings(db: Queryable, runIds: string[]): Promise<Array<{ limit: string; max: number }>> {
  const { rows } = await db.query<{ limit: string; max: number }>(
    `select distinct e.event -> 'value' ->> 'limit' as limit, (e.event -> 'value' ->> 'max')::float8 as max
       from everruns.run_events e
      where e.run_id = any($1::uuid[]) and e.type = 'CUSTOM' and e.event ->> 'name' = 'everruns.budget'
        and e.event -> 'value' ->> 'level' = 'warning'`,
    [runIds],
  );
  return rows;
}
