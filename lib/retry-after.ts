// The one Retry-After reader, for LLM providers and http tools alike.
import { MAX_RETRY_AFTER_MS } from "./backoff.ts";

/**
 * Delay asked for by a response's headers: `retry-after-ms` (milliseconds), else `retry-after`
 * (seconds, or an HTTP date). Undefined when absent or unreadable. A whole number of ms, cut to
 * MAX_RETRY_AFTER_MS: a server cannot park a run for longer (nor overflow anything) by asking.
 */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "") {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return cut(value);
  }
  const after = headers.get("retry-after")?.trim();
  if (!after) return undefined;
  if (/^\d+(\.\d+)?$/.test(after)) return cut(Number(after) * 1000);
  const date = Date.parse(after);
  if (Number.isNaN(date)) return undefined;
  return cut(date - now);
}

function cut(ms: number): number {
  return Number.isFinite(ms) ? Math.round(Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS)) : MAX_RETRY_AFTER_MS;
}
