import { describeStorableProblem, findStorableProblem, textProblem } from "../../lib/storable-json.ts";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/**
 * The largest signal payload everruns.send_event accepts, in bytes of JSON text
 * (everruns_private.max_signal_payload_bytes(), migration 000008; the database decides, this
 * only spares a round trip for a payload that is surely over).
 */
export const MAX_SIGNAL_PAYLOAD_BYTES = 65536;
/** How many signals no wait has consumed a run may hold (everruns_private.max_pending_signals()). */
export const MAX_PENDING_SIGNALS = 100;

/**
 * Sends an event to a run (everruns.send_event): it wakes the run at once when the run waits in
 * wait_for_event for that name, else it is kept for the run's next wait of that name. Returns
 * true when it woke the run.
 *
 * The name and payload are checked before they are serialised (REST bodies were already, in
 * parseBody; GraphQL arguments are here): no U+0000 or lone surrogate, no non-finite number,
 * nesting at most MAX_JSON_DEPTH deep, at most MAX_SIGNAL_PAYLOAD_BYTES. The database refuses
 * the same (EV011, "limit_exceeded"), and a run holding MAX_PENDING_SIGNALS unconsumed signals.
 */
export async function sendEvent(db: Queryable, runId: string, name: string, payload: unknown): Promise<boolean> {
  const nameProblem = textProblem(name);
  if (nameProblem) throw new ValidationError(`invalid event: name ${nameProblem}`);
  const problem = findStorableProblem(payload, "payload");
  if (problem) throw new ValidationError(`invalid event: ${describeStorableProblem(problem)}`);
  const json = payload === undefined ? null : JSON.stringify(payload);
  // jsonb's text form is never shorter than JSON.stringify's (it adds spaces), so this refuses
  // only what the database would refuse too
  if (json !== null && json.length > MAX_SIGNAL_PAYLOAD_BYTES && Buffer.byteLength(json) > MAX_SIGNAL_PAYLOAD_BYTES) {
    throw new ValidationError(
      `the event payload is ${Buffer.byteLength(json)} bytes; the limit is ${MAX_SIGNAL_PAYLOAD_BYTES} (max_signal_payload_bytes). ` +
        "Send a reference to the data (an id, a URL) rather than the data itself.",
      { code: "limit_exceeded" },
    );
  }
  try {
    const { rows } = await db.query<{ woke: boolean }>("select everruns.send_event($1, $2, $3) as woke", [runId, name, json]);
    return rows[0]!.woke;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
