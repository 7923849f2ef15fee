// Retry, Catch and Wait timing for workflow states, following the Amazon States Language:
// - the FIRST retrier / catcher whose ErrorEquals matches the error is the one used (a matching
//   retrier that has used up its MaxAttempts means no retry: later retriers are not consulted);
// - each retrier counts its own attempts, so the engine keeps one counter per retrier
//   (`retriesByRetrier[i]`, checkpointed with the state) and increments the matched one;
// - States.ALL matches every error except States.Runtime, and States.TaskFailed every error
//   except States.Timeout and States.Runtime: a runtime error (a bad path, a bad ResultPath) is a
//   defect of the definition that retrying cannot fix, and AWS lets no wildcard retry or catch it.
//   A retrier never retries States.Runtime even when it names it; a catcher naming it catches it.
import { parseTimestamp, type Catcher, type Retrier, type WaitState } from "../../db/workflow-definition.ts";
import { readPath, WorkflowError } from "./paths.ts";

/** Whether an ErrorEquals list matches `errorName`. */
export function errorMatches(errorEquals: readonly string[], errorName: string): boolean {
  if (errorEquals.includes(errorName)) return true;
  if (errorName === "States.Runtime") return false;
  if (errorEquals.includes("States.ALL")) return true;
  return errorEquals.includes("States.TaskFailed") && errorName !== "States.Timeout";
}

/** The index of the retrier that handles `errorName`, or -1 (States.Runtime is never retried). */
export function matchingRetrier(retriers: readonly Retrier[] | undefined, errorName: string): number {
  if (errorName === "States.Runtime" || !retriers) return -1;
  return retriers.findIndex((r) => errorMatches(r.ErrorEquals, errorName));
}

/**
 * The delay before the next attempt, in ms, or null when the error is not retried (no retrier
 * matches, or the matching one has made MaxAttempts retries). `retriesByRetrier[i]` is how many
 * retries retrier i has made so far; on a non-null answer the caller increments the entry of
 * `matchingRetrier(...)`. Delay: IntervalSeconds × BackoffRate^retries, capped by MaxDelaySeconds;
 * JitterStrategy FULL draws uniformly in [0, delay].
 */
export function retryDelayMs(
  retriers: readonly Retrier[] | undefined,
  errorName: string,
  retriesByRetrier: readonly number[],
  random: () => number = Math.random,
): number | null {
  const index = matchingRetrier(retriers, errorName);
  if (index < 0) return null;
  const retrier = retriers![index]!;
  const done = retriesByRetrier[index] ?? 0;
  if (done >= (retrier.MaxAttempts ?? 3)) return null;
  let seconds = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done;
  if (retrier.MaxDelaySeconds !== undefined) seconds = Math.min(seconds, retrier.MaxDelaySeconds);
  if (retrier.JitterStrategy === "FULL") seconds *= random();
  return Math.round(seconds * 1000);
}

/** The catcher that handles `errorName` (the first whose ErrorEquals matches), or null. */
export function catcherFor(catchers: readonly Catcher[] | undefined, errorName: string): Catcher | null {
  return catchers?.find((c) => errorMatches(c.ErrorEquals, errorName)) ?? null;
}

/**
 * When a Wait state ends (ms since epoch). `input` is the Wait state's effective input (after
 * InputPath): SecondsPath must select a non-negative integer and TimestampPath an RFC 3339
 * timestamp, else States.Runtime. A timestamp in the past ends the wait at once (returned as is).
 */
export function waitUntil(state: WaitState, input: unknown, nowMs: number): number {
  if (state.Seconds !== undefined) return nowMs + state.Seconds * 1000;
  if (state.Timestamp !== undefined) return parseTimestamp(state.Timestamp)!;
  if (state.SecondsPath !== undefined) {
    const seconds = readPath(input, state.SecondsPath);
    if (!Number.isInteger(seconds) || (seconds as number) < 0) {
      throw new WorkflowError(
        "States.Runtime",
        `SecondsPath ${JSON.stringify(state.SecondsPath)} must select a non-negative integer, got ${JSON.stringify(seconds)}`,
      );
    }
    return nowMs + (seconds as number) * 1000;
  }
  if (state.TimestampPath !== undefined) {
    const value = readPath(input, state.TimestampPath);
    const ms = parseTimestamp(value);
    if (ms === null)
      throw new WorkflowError(
        "States.Runtime",
        `TimestampPath ${JSON.stringify(state.TimestampPath)} must select an RFC 3339 timestamp, got ${JSON.stringify(value)}`,
      );
    return ms;
  }
  throw new WorkflowError("States.Runtime", "a Wait state needs one of Seconds, Timestamp, SecondsPath, TimestampPath");
}
