// How the Schedules pages write fire times and specs: an instant in a schedule's own time zone
// (Intl, with the zone's abbreviation) and in UTC, "in 5 min" for what is still to come (lib/format's
// formatAgo is for the past), and a schedule's cron expression or interval in words.
import { formatDuration, parseTime } from "@/lib/format";

const pad = (n: number) => String(n).padStart(2, "0");

/** "2026-03-28 09:30:00 CET" in `timeZone` (an unknown zone: the instant in UTC, said so). */
export function formatInZone(value: string | null | undefined, timeZone: string): string {
  const t = parseTime(value);
  if (t == null) return "—";
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    }).formatToParts(new Date(t));
    const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
    return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")}:${part("second")} ${part("timeZoneName")}`;
  } catch {
    return `${formatUtc(value)} (unknown time zone ${timeZone})`;
  }
}

/** "2026-03-28 08:30:00 UTC" */
export function formatUtc(value: string | null | undefined): string {
  const t = parseTime(value);
  if (t == null) return "—";
  const d = new Date(t);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

/** "in 12 s", "in 5 min", "in 3 h 05 m", "in 2 d 4 h"; "due" once it has come. */
export function formatUntil(value: string | null | undefined, now: number): string {
  const t = parseTime(value);
  if (t == null) return "—";
  const ms = t - now;
  if (ms <= 0) return "due";
  if (ms < 60_000) return `in ${Math.ceil(ms / 1000)} s`;
  if (ms < 3_600_000) return `in ${Math.round(ms / 60_000)} min`;
  return `in ${formatDuration(ms)}`;
}

/** The cron expression as it is, or "every 15 m 00 s" for an interval. */
export function describeSpec(s: { cron: string | null; intervalSeconds: number | null }): string {
  if (s.cron) return s.cron;
  if (s.intervalSeconds != null) return `every ${formatInterval(s.intervalSeconds)}`;
  return "—";
}

/** 90 → "90 s", 3600 → "1 h", 5400 → "1 h 30 min", 86400 → "1 d". */
export function formatInterval(seconds: number): string {
  const units: Array<[number, string]> = [
    [86_400, "d"],
    [3600, "h"],
    [60, "min"],
  ];
  if (seconds < 60 || seconds % 60 !== 0) return `${seconds.toLocaleString("en-US")} s`;
  const out: string[] = [];
  let rest = seconds;
  for (const [size, unit] of units) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    }
  }
  return out.join(" ");
}
