// The one sleep: node's timer promise, rejecting with the signal's own reason when aborted (so
// callers can tell a cancel from a shutdown by what they aborted with).
import { setTimeout as delay } from "node:timers/promises";

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}
