// What every load scenario checks of the runs it started: the steps each committed, and that
// every event log is a valid AG-UI stream. Problems are collected, never thrown.
import type { Queryable } from "../../db/pool.ts";
import { eventLogsOfRuns } from "../../db/sql/eventLogsOfRuns.ts";
import { runStepCounts } from "../../db/sql/runStepCounts.ts";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";

/** What every load scenario takes. */
export interface LoadCommon {
  /** A migrated database the load may fill (use a scratch one). */
  databaseUrl: string;
  log: (line: string) => void;
}

/** Every run's steps are seq 1..k with k as expected, and its event log is valid AG-UI; returns the steps counted. */
export async function checkRuns(db: Queryable, ids: string[], stepsPerRun: number, problems: string[], what: string): Promise<number> {
  const rows = await runStepCounts(db, ids);
  const byRun = new Map(rows.map((r) => [r.run_id, r]));
  let bad = 0;
  for (const id of ids) {
    const r = byRun.get(id);
    if (!r || r.n !== stepsPerRun || r.max !== stepsPerRun) {
      if (++bad <= 5) problems.push(`${what}: run ${id} has ${r?.n ?? 0} steps (max seq ${r?.max ?? 0}), expected 1..${stepsPerRun}`);
    }
  }
  if (bad > 5) problems.push(`${what}: ${bad} runs in all with the wrong steps`);
  // event logs, a page of runs at a time
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    const logs = await eventLogsOfRuns(db, page);
    for (const id of page) {
      try {
        await assertValidAgUiLog(logs.get(id) ?? []);
      } catch (error) {
        if (++bad <= 10) problems.push(`${what}: run ${id}: ${(error as Error).message}`);
      }
    }
  }
  return rows.reduce((n, r) => n + r.n, 0);
}
