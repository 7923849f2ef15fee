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

export function formatDateTime(value: string | null | undefined): string {
  const t = parseTime(value);
  if (t == null) return "—";
  const d = new Date(t);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
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

export function formatCost(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0";
  // two significant digits for small amounts: $0.000012, $0.0031
  if (usd < 0.000001) return "<$0.000001";
  if (usd < 0.01) return `$${Number(usd.toPrecision(2))}`;
  if (usd < 100) return `$${usd.toFixed(2)}`;
  return `$${Math.round(usd).toLocaleString("en-US")}`;
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
