import type { Queryable } from "../pool.ts";

/** Sends the same event to each of these runs (everruns.send_event); one flag per run: did it wake the run. */
export async function sendEventToRuns(db: Queryable, runIds: string[], name: string, payload: unknown): Promise<boolean[]> {
  const { rows } = await db.query<{ woke: boolean }>("select everruns.send_event(id, $2, $3) as woke from unnest($1::uuid[]) id", [
    runIds,
    name,
    JSON.stringify(payload),
  ]);
  return rows.map((r) => r.woke);
}
