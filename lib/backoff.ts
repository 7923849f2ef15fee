// The one retry delay policy: LLM calls, tool calls and reconnects all back off this way.

/** The longest delay between two tries (ms): the ceiling of `retry.initial_delay_ms` and `retry.max_delay_ms`. */
export const MAX_RETRY_DELAY_MS = 3_600_000;
/** The longest server-asked delay (Retry-After) honoured (ms): longer ones are cut to it. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/** An exponential backoff policy (the agent config's `retry`, or a reconnect loop's). */
export interface BackoffPolicy {
  initial_delay_ms: number;
  max_delay_ms: number;
  multiplier: number;
  /** the longest Retry-After honoured (ms); MAX_RETRY_AFTER_MS when absent */
  max_retry_after_ms?: number;
}

/** `ms` as a whole number of milliseconds from 0 to `max` (NaN and negatives: 0). */
export function clampMs(ms: number, max: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.round(Math.min(ms, max));
}

/**
 * Delay before the next try after `failures` failed tries (1 = the first failure): exponential
 * with "equal jitter" (half fixed, half random), never below the server's Retry-After (itself
 * cut to the policy's max_retry_after_ms). Always a whole number of ms from 0 to
 * max(MAX_RETRY_DELAY_MS, max_retry_after_ms), whatever the policy and header say.
 */
export function backoffMs(policy: BackoffPolicy, failures: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const cap = clampMs(policy.max_delay_ms, MAX_RETRY_DELAY_MS);
  const growth = policy.multiplier ** Math.max(0, failures - 1);
  const exponential = clampMs(Math.min(cap, clampMs(policy.initial_delay_ms, MAX_RETRY_DELAY_MS) * growth), cap); // 0 * Infinity is NaN: 0
  const jittered = exponential / 2 + random() * (exponential / 2);
  const asked = clampMs(retryAfterMs ?? 0, clampMs(policy.max_retry_after_ms ?? MAX_RETRY_AFTER_MS, MAX_RETRY_AFTER_MS));
  return clampMs(Math.max(jittered, asked), Math.max(MAX_RETRY_DELAY_MS, MAX_RETRY_AFTER_MS));
}
