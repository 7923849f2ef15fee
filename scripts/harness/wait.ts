// Waiting for a condition: polled, or woken early by whatever the caller listens to.
import { sleep } from "../../lib/sleep.ts";

/**
 * Polls fn until it returns a truthy value; throws after timeoutMs. Between two polls it sleeps
 * everyMs, or awaits `between()` when given one (e.g. the next notification, at most so long).
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
  between: number | (() => Promise<void>) = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await (typeof between === "number" ? sleep(between) : between());
  }
}
