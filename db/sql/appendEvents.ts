import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { deferringStatement, parseNotifications, type StepStatementOptions, type WithNotifications } from "./deferredNotifications.ts";

export type AgUiEvent = { type: string } & Record<string, unknown>;

const APPEND_EVENTS = "select everruns_private.append_events($1, $2, $3, $4) as result";
const APPEND_EVENTS_DEFERRED = deferringStatement("everruns_private.append_events($1, $2, $3, $4)");

/**
 * Appends live events of an attempt in flight; returns the run's last event seq. Throws
 * StaleAttemptError when the attempt has been fenced out (cancelled, superseded by a newer
 * attempt). With `opts` it returns `{ last, notifications }`: the notifications the transaction
 * would have sent, when `opts.deferNotifications` (deferredNotifications.ts).
 */
export async function appendEvents(db: Queryable, runId: string, seq: number, attempt: number, events: AgUiEvent[]): Promise<number>;
export async function appendEvents(
  db: Queryable,
  runId: string,
  seq: number,
  attempt: number,
  events: AgUiEvent[],
  opts: StepStatementOptions,
): Promise<{ last: number } & WithNotifications>;
export async function appendEvents(
  db: Queryable,
  runId: string,
  seq: number,
  attempt: number,
  events: AgUiEvent[],
  opts?: StepStatementOptions,
): Promise<number | ({ last: number } & WithNotifications)> {
  try {
    const { rows } = await db.query<{ result: number; notifications?: string | null }>(opts?.deferNotifications ? APPEND_EVENTS_DEFERRED : APPEND_EVENTS, [
      runId,
      seq,
      attempt,
      JSON.stringify(events),
    ]);
    const last = rows[0]!.result;
    return opts ? { last, notifications: parseNotifications(rows[0]!.notifications) } : last;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
