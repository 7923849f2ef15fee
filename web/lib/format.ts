// Formatting of times, durations, tokens and money for the console's tables and cards.
import type { Usage } from "./types";

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : "—";
}

export function parseTime(value: string | null | undefined): number | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/** 850 ms, 12.3 s, 4 m 05 s, 2 h 10 m, 3 d 4 h */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return "—";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "12 s ago", "5 min ago", "3 h ago", else a date. */
export function formatAgo(value: string | null | undefined, now: number): string {
  const t = parseTime(value);
  if (t == null) return "—";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ago`;
  return formatDateTime(value);
}

export function formatDateTime(value: string | number | null | undefined): string {
  const t = typeof value === "number" ? value : parseTime(value);
  if (t == null || !Number.isFinite(t)) return "—";
  const d = new Date(t);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

/**
 * The full instant, for a tooltip: local date and time with milliseconds and the zone, and UTC:
 * "2026-12-03 14:02:07.123 (local, UTC+01:00) · 2026-12-03T13:02:07.123Z".
 */
export function formatInstant(value: string | number | null | undefined): string {
  const t = typeof value === "number" ? value : parseTime(value);
  if (t == null || !Number.isFinite(t)) return "";
  const d = new Date(t);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const offset = -d.getTimezoneOffset();
  const zone = `UTC${offset >= 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return `${local} (local, ${zone}) · ${d.toISOString()}`;
}

/**
 * A timestamp of the event log or an API object (an ISO string, or epoch milliseconds as AG-UI
 * events carry them) as people read it: "12 s ago" for the last day, else the date and time.
 * Never the raw epoch number. Pair it with formatInstant in a tooltip (<Timestamp> does).
 */
export function formatTimestamp(value: string | number | null | undefined, now: number): string {
  const t = typeof value === "number" ? value : parseTime(value);
  if (t == null || !Number.isFinite(t)) return "—";
  return formatAgo(new Date(t).toISOString(), now);
}

export function formatClock(t: number, withDate = false): string {
  const d = new Date(t);
  if (withDate) return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function formatNumber(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  return n.toLocaleString("en-US");
}

/**
 * Money, the same way everywhere (tables, cards, charts): always four decimals, so a column of
 * costs lines up and $0.0031 never sits beside $0.12 and $0.000012. Less than a hundredth of a
 * cent shows as "<$0.0001" (never as $0.0000 for a run that did cost something).
 */
export const COST_DECIMALS = 4;
export function formatCost(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  const sign = usd < 0 ? "-" : "";
  const abs = Math.abs(usd);
  if (abs > 0 && abs < 10 ** -COST_DECIMALS) return `${sign}<$${(10 ** -COST_DECIMALS).toFixed(COST_DECIMALS)}`;
  return `${sign}$${abs.toLocaleString("en-US", { minimumFractionDigits: COST_DECIMALS, maximumFractionDigits: COST_DECIMALS })}`;
}

/** The exact amount, for a tooltip: "$0.000012345 (USD)". */
export function formatCostExact(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "no cost recorded";
  return `$${usd.toLocaleString("en-US", { maximumFractionDigits: 9 })} (USD)`;
}

/**
 * The one wording for attempts and retries across the console and the CLI: "attempt 2 of 5"
 * (or "attempt 2" when the policy's maximum is not known). Never "2/5" nor "retry 1/4".
 */
export function formatAttempt(attempt: number | null | undefined, maxAttempts?: number | null): string {
  if (attempt == null) return "attempt ?";
  return maxAttempts ? `attempt ${attempt} of ${maxAttempts}` : `attempt ${attempt}`;
}

/**
 * A retry: the attempt that failed and the next one. `failedAttempt` is the attempt that failed
 * (the RUN_ERROR/retry event's `attempt`): "attempt 1 of 5 failed · attempt 2 of 5 in 1.0 s".
 */
export function formatRetry(failedAttempt: number | null | undefined, maxAttempts?: number | null, delayMs?: number | null): string {
  const failed = `${formatAttempt(failedAttempt, maxAttempts)} failed`;
  if (failedAttempt == null) return failed;
  const next = formatAttempt(failedAttempt + 1, maxAttempts);
  return delayMs != null ? `${failed} · ${next} in ${formatDuration(delayMs)}` : `${failed} · ${next} next`;
}

export function totalTokens(usage: Usage | null | undefined): number {
  return (usage?.input_tokens ?? 0) + (usage?.output_tokens ?? 0);
}

export function formatPercent(ratio: number | null): string {
  if (ratio == null || !Number.isFinite(ratio)) return "—";
  const p = ratio * 100;
  return `${p >= 99.95 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** Run duration: from start (or creation) to finish (or now). */
export function runDurationMs(run: { createdAt: string; startedAt: string | null; finishedAt: string | null }, now: number): number | null {
  const start = parseTime(run.startedAt) ?? parseTime(run.createdAt);
  if (start == null) return null;
  return (parseTime(run.finishedAt) ?? now) - start;
}

export function prettyJson(value: unknown): string {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2) ?? String(value);
}

const CONFIG_ORDER = ["provider", "model", "system_prompt", "tools", "max_steps", "llm_timeout_ms", "retry", "script"];

/** An agent config as its author would write it: the main keys first, the rest by name. */
export function configJson(config: unknown): string {
  if (!config || typeof config !== "object" || Array.isArray(config)) return JSON.stringify(config, null, 2);
  const c = config as Record<string, unknown>;
  const rank = (k: string) => (CONFIG_ORDER.includes(k) ? CONFIG_ORDER.indexOf(k) : CONFIG_ORDER.length);
  const keys = Object.keys(c).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, c[k]])), null, 2);
}

/** JSON with keys sorted at every level, for stable diffs. */
export function stableJson(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value), null, 2);
}

export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) =>
        part && typeof part === "object" && "text" in part && typeof (part as { text: unknown }).text === "string" ? (part as { text: string }).text : "",
      )
      .join("");
  }
  if (content == null) return "";
  return JSON.stringify(content);
}

/** a is an earlier instant than b (ISO timestamps; millisecond precision is enough here). */
export function isBefore(a: string, b: string): boolean {
  return Date.parse(a) < Date.parse(b);
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value.trim());
}
