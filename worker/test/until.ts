// Polling for the outage tests: wait until `fn` gives a value, or fail naming what was awaited
// and what the processes printed (the context), so a timeout explains itself.
import { sleep } from "../../lib/sleep.ts";

export type Until = <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs?: number) => Promise<T>;

/** An `until` whose timeout error ends with `context()` (e.g. the worker's output). Errors of `fn` count as "not yet". */
export function untilWith(context: () => string): Until {
  return async (what, fn, timeoutMs, everyMs = 25) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await fn().catch(() => null);
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
      await sleep(everyMs);
    }
  };
}
