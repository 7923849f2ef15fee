import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export type AgUiEvent = { type: string } & Record<string, unknown>;

/**
 * Appends live events of an attempt in flight. Throws StaleAttemptError when the attempt has
 * been fenced out (cancelled, superseded by a newer attempt).
 */
export async function appendEvents(db: Queryable, runId: string, seq: number, attempt: number, events: AgUiEvent[]): Promise<number> {
  try {
    const { rows } = await db.query<{ last: number }>("select everruns_private.append_events($1, $2, $3, $4) as last", [
      runId,
      seq,
      attempt,
      JSON.stringify(events),
    ]);
    return rows[0]!.last;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
