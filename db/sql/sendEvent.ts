import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * Sends an event to a run (everruns.send_event): it wakes the run at once when the run waits in
 * wait_for_event for that name, else it is kept for the run's next wait of that name. Returns
 * true when it woke the run.
 */
export async function sendEvent(db: Queryable, runId: string, name: string, payload: unknown): Promise<boolean> {
  try {
    const { rows } = await db.query<{ woke: boolean }>("select everruns.send_event($1, $2, $3) as woke", [
      runId,
      name,
      payload === undefined ? null : JSON.stringify(payload),
    ]);
    return rows[0]!.woke;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
