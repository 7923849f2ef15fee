// The one retry delay policy: LLM calls, tool calls and reconnects all back off this way.

/** An exponential backoff policy (the agent config's `retry`, or a reconnect loop's). */
export interface BackoffPolicy {
  initial_delay_ms: number;
  max_delay_ms: number;
  multiplier: number;
}

/**
 * Delay before the next try after `failures` failed tries (1 = the first failure): exponential
 * with "equal jitter" (half fixed, half random), never below the server's Retry-After.
 */
export function backoffMs(policy: BackoffPolicy, failures: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.max_delay_ms, policy.initial_delay_ms * policy.multiplier ** Math.max(0, failures - 1));
  const jittered = exponential / 2 + random() * (exponential / 2);
  return Math.round(Math.max(jittered, retryAfterMs ?? 0));
}
