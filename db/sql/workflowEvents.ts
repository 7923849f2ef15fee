// Driving workflow runs from outside (000034, docs/workflows.md): an event by correlation key,
// and a redrive of a failed run from a state.
import { describeStorableProblem, findStorableProblem, textProblem } from "../../lib/storable-json.ts";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { MAX_SIGNAL_PAYLOAD_BYTES } from "./sendEvent.ts";

/**
 * Sends an event to the workflow runs of the caller's workspace that wait for its name and
 * correlation key (everruns.send_event_by_key); returns how many it reached. With none waiting,
 * the event is kept for the first run that waits for that name and key. The name, key and
 * payload are checked as sendEvent checks them; the database refuses the same (EV009, EV011).
 */
export async function sendEventByKey(db: Queryable, name: string, correlationKey: string, payload: unknown): Promise<number> {
  for (const [what, value] of [
    ["name", name],
    ["correlation key", correlationKey],
  ] as const) {
    const problem = textProblem(value);
    if (problem) throw new ValidationError(`invalid event: ${what} ${problem}`);
    if (value.length < 1 || value.length > 200) throw new ValidationError(`invalid event: the ${what} must be 1 to 200 characters`);
  }
  const problem = findStorableProblem(payload, "payload");
  if (problem) throw new ValidationError(`invalid event: ${describeStorableProblem(problem)}`);
  const json = payload === undefined ? null : JSON.stringify(payload);
  if (json !== null && Buffer.byteLength(json) > MAX_SIGNAL_PAYLOAD_BYTES) {
    throw new ValidationError(
      `the event payload is ${Buffer.byteLength(json)} bytes; the limit is ${MAX_SIGNAL_PAYLOAD_BYTES} (max_signal_payload_bytes). ` +
        "Send a reference to the data (an id, a URL) rather than the data itself.",
      { code: "limit_exceeded" },
    );
  }
  try {
    const { rows } = await db.query<{ n: number }>("select everruns.send_event_by_key($1, $2, $3) as n", [name, correlationKey, json]);
    return rows[0]!.n;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/**
 * Starts a failed workflow run again from a state (everruns.redrive_run; null: the state it
 * failed in) with the input that state had, as a new run on its thread. Returns the new run's id.
 */
export async function redriveRun(db: Queryable, runId: string, fromState: string | null): Promise<string> {
  if (fromState !== null && (fromState.length < 1 || fromState.length > 80)) {
    throw new ValidationError("the state to redrive from is a state name of 1 to 80 characters");
  }
  try {
    const { rows } = await db.query<{ id: string }>("select everruns.redrive_run($1::uuid, $2) as id", [runId, fromState]);
    return rows[0]!.id;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
