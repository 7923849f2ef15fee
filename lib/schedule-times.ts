// When a schedule fires (issue 16): the occurrences of a cron expression in an IANA time zone, or
// of a fixed interval counted from an anchor. Pure computation, no database: the worker's ticker
// asks which occurrences are due, the API and the CLI validate specs and show the next fire times.
//
// Cron expressions are evaluated by croner (public interface only) with these options:
// - mode "5-or-6-parts": 5 fields, or 6 with seconds first; croner's 7th (year) field and its
//   one-off ISO dates ("2030-01-23T00:00:00") are refused. Nicknames (@hourly, @daily, @midnight,
//   @weekly, @monthly, @yearly, @annually) are accepted; @reboot is not. Croner's other
//   extensions within 5 or 6 fields are accepted as croner reads them: `?`, `L`, `W`, `#`, and `+`
//   (day-of-month AND day-of-week). Without `+`, day-of-month and day-of-week are ORed as in
//   Vixie cron (croner's default `domAndDow: false`; the deprecated `legacyMode` is not used).
// - fixedTimeRule "no-wildcard", which decides what happens at daylight-saving transitions:
//   * a "fixed-time" expression (no `*`, `?` or step in its second, minute and hour fields, e.g.
//     `30 2 * * *` or `30 2,14 * * *`) fires once per matching day: a wall-clock time that occurs
//     twice (fall back) fires at its FIRST occurrence only; a time that does not exist (spring
//     forward) fires at the first valid instant after the gap, i.e. at the transition itself
//     (Europe/Berlin 2026-03-29: 02:30 fires at 03:00 CEST, 01:00Z), never skipping the day.
//   * an "interval" expression (a `*`, `?` or step in those fields, e.g. `0 * * * *`,
//     `*/15 * * * *`) fires on every real instant whose wall-clock time matches: the repeated
//     hour's instants are distinct UTC instants and BOTH fire (an hourly job fires once per real
//     hour: 02:00 CEST and 02:00 CET), and the times inside a gap do not exist, so they do not
//     fire (the hour 02:00-03:00 is absent, but no real hour is left without its run).
//   croner's default rule ("single-value") would treat `30 2,14 * * *` as an interval expression:
//   its 02:30 would fire twice on the fall-back day and not at all on the spring-forward day. The
//   "no-wildcard" rule (Vixie cron's) keeps such a list fixed-time. Steps without `*` (`0 0-23/2
//   * * *`) stay interval expressions in croner.
//
// Speed: croner in a time zone costs ~35 µs per occurrence (Intl conversions), too slow to count
// the ~260k occurrences an every-second schedule misses in 3 days. Away from a zone's transitions
// its offset is constant, and croner with that fixed `utcOffset` gives the same instants ~25x
// faster; so the walk goes one hour at a time, and an hour within 2 h after, or containing, an
// offset change is walked in the zone itself (those are the only instants the DST rules move).
// The walk is capped (MAX_WALK_STEPS); beyond it, the count is extrapolated (see scanCron).
import { Cron, type CronOptions } from "croner";

export interface ScheduleSpec {
  /** 5 or 6 fields (6: seconds first), or a nickname; exactly one of cron / intervalSeconds */
  cron: string | null;
  /** integer 1..MAX_INTERVAL_SECONDS */
  intervalSeconds: number | null;
  /** IANA name, e.g. "Europe/Berlin"; "UTC" default is the caller's job */
  timezone: string;
  /** intervals count from here (the schedule's creation time); ignored for cron */
  anchor: Date;
}

export type CatchUp = "skip" | "once" | "all";

export interface DuePlan {
  /** occurrences to fire now, oldest first */
  fire: Date[];
  /** occurrences in [from, now] that are NOT fired (dropped by the catch-up policy) */
  missed: number;
  /** the first occurrence strictly after `now` (the schedule's next_fire_at afterwards) */
  next: Date;
}

/** The longest interval: 365 days. */
export const MAX_INTERVAL_SECONDS = 31_536_000;
/** The most occurrences `nextOccurrences` lists at once. */
export const MAX_LISTED_OCCURRENCES = 1000;
/** The largest `catchUpMax`: every kept occurrence is materialised. */
export const MAX_CATCH_UP = 10_000;
/** The most occurrences within the grace fired by one call; older ones beyond it count as missed. */
export const MAX_GRACE_FIRES = 10_000;
/** The most occurrences one cron scan walks; beyond, the count is extrapolated. */
export const MAX_WALK_STEPS = 1_000_000;

const CRON_OPTIONS = { mode: "5-or-6-parts", fixedTimeRule: "no-wildcard", paused: true } as const satisfies CronOptions;
const CRON_EXPECTED =
  'expected 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 9 * * 1-5"), 6 with seconds first, or a nickname such as @hourly or @daily';
const HOUR_MS = 3_600_000;
/** How long after an offset change the zone's DST rules may still move instants (a repeated hour). */
const TRANSITION_MARGIN_MS = 2 * HOUR_MS;

/** null when valid, else a message that names the problem and says what is expected. */
export function scheduleSpecError(spec: ScheduleSpec): string | null {
  const zoneError = timezoneError(spec.timezone);
  if (zoneError) return zoneError;
  const hasCron = spec.cron !== null && spec.cron !== undefined;
  const hasInterval = spec.intervalSeconds !== null && spec.intervalSeconds !== undefined;
  if (hasCron && hasInterval) return "a schedule takes either cron or intervalSeconds, not both: set the other to null";
  if (!hasCron && !hasInterval) return `a schedule needs cron (e.g. "0 9 * * 1-5") or intervalSeconds (a whole number from 1 to ${MAX_INTERVAL_SECONDS})`;
  if (hasInterval) return intervalError(spec.intervalSeconds, spec.anchor);
  return cronError(spec.cron, spec.timezone);
}

/** The first `count` occurrences strictly after `after` (count 1..1000). Throws on an invalid spec. */
export function nextOccurrences(spec: ScheduleSpec, after: Date, count: number): Date[] {
  const schedule = compile(spec);
  const afterMs = instant(after, "after");
  if (!Number.isInteger(count) || count < 1 || count > MAX_LISTED_OCCURRENCES) {
    throw new RangeError(`count must be a whole number from 1 to ${MAX_LISTED_OCCURRENCES}, got ${String(count)}`);
  }
  if (schedule.kind === "interval") {
    const first = intervalAtOrAfter(schedule, afterMs + 1);
    return Array.from({ length: count }, (_, i) => new Date(first + i * schedule.stepMs));
  }
  // nextRuns drops milliseconds and returns runs strictly after the (truncated) instant, which
  // is strictly after `after` too: a run in the same second as `after` is not after it.
  return schedule.zoned.nextRuns(count, new Date(afterMs));
}

/**
 * The occurrences due in [from, now]: `from` is the schedule's stored next_fire_at (the first occurrence
 * not yet handled). An occurrence older than `graceMs` before `now` counts as missed (everything was down);
 * the ones within the grace are always fired (at most MAX_GRACE_FIRES, the latest). Missed ones: "skip"
 * fires none, "once" fires only the latest missed, "all" fires the most recent `catchUpMax` of them (the
 * rest count as missed).
 *
 * `next` is the first occurrence strictly after `now` and not before `from`: when `from` is still
 * ahead of `now`, nothing is due and `next` is the first occurrence at or after `from` (a schedule
 * never goes back to an occurrence it has handled).
 *
 * `missed` is exact while the walk of the missed occurrences stays within MAX_WALK_STEPS (an
 * every-second schedule down 11 days); beyond, it is extrapolated from the walked part's average
 * spacing. Intervals are pure arithmetic and always exact.
 */
export function dueOccurrences(spec: ScheduleSpec, opts: { from: Date; now: Date; catchUp: CatchUp; catchUpMax: number; graceMs: number }): DuePlan {
  const schedule = compile(spec);
  const fromMs = instant(opts.from, "from");
  const nowMs = instant(opts.now, "now");
  if (!Number.isInteger(opts.catchUpMax) || opts.catchUpMax < 0 || opts.catchUpMax > MAX_CATCH_UP) {
    throw new RangeError(`catchUpMax must be a whole number from 0 to ${MAX_CATCH_UP}, got ${String(opts.catchUpMax)}`);
  }
  if (!Number.isFinite(opts.graceMs) || opts.graceMs < 0)
    throw new RangeError(`graceMs must be a finite number of milliseconds >= 0, got ${String(opts.graceMs)}`);
  const keepMissed = keptByPolicy(opts.catchUp, opts.catchUpMax);

  const graceStartMs = nowMs - opts.graceMs;
  const missed = scan(schedule, fromMs, graceStartMs, keepMissed);
  const recent = scan(schedule, Math.max(fromMs, graceStartMs), nowMs + 1, MAX_GRACE_FIRES);
  const nextMs = atOrAfter(schedule, Math.max(fromMs, nowMs + 1));
  if (nextMs === null) throw new Error(`schedule ${describeSpec(spec)} has no occurrence after ${new Date(nowMs).toISOString()}`);
  return {
    fire: [...missed.kept, ...recent.kept].map((ms) => new Date(ms)),
    missed: missed.count - missed.kept.length + (recent.count - recent.kept.length),
    next: new Date(nextMs),
  };
}

// ---- validation ----

function timezoneError(timezone: unknown): string | null {
  const expected = 'an IANA time zone name such as "Europe/Berlin" or "UTC"';
  if (typeof timezone !== "string" || timezone.trim() === "") return `timezone is missing: expected ${expected}`;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return null;
  } catch {
    return `timezone ${JSON.stringify(timezone)} is not a known time zone: expected ${expected}`;
  }
}

function intervalError(seconds: unknown, anchor: unknown): string | null {
  if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1 || seconds > MAX_INTERVAL_SECONDS) {
    return `intervalSeconds must be a whole number from 1 to ${MAX_INTERVAL_SECONDS} (365 days), got ${JSON.stringify(seconds)}`;
  }
  if (!(anchor instanceof Date) || Number.isNaN(anchor.getTime()))
    return "anchor must be a valid date (the schedule's creation time), from which intervals count";
  return null;
}

function cronError(cron: unknown, timezone: string): string | null {
  if (typeof cron !== "string" || cron.trim() === "") return `cron is empty: ${CRON_EXPECTED}`;
  const text = cron.trim();
  if (!text.startsWith("@")) {
    // croner would read a single field as a one-off ISO date, and 7 fields as seconds..year.
    const fields = text.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      const why = fields === 7 ? " (a year field is not supported)" : "";
      return `cron ${JSON.stringify(cron)} has ${fields} field${fields === 1 ? "" : "s"}${why}: ${CRON_EXPECTED}`;
    }
  }
  let job: Cron;
  try {
    job = new Cron(text, { ...CRON_OPTIONS, timezone });
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/^CronPattern:\s*/, "");
    return `cron ${JSON.stringify(cron)} is invalid: ${reason}; ${CRON_EXPECTED}`;
  }
  if (job.getOnce() !== null) return `cron ${JSON.stringify(cron)} is a date, not a recurring expression: ${CRON_EXPECTED}`;
  // Syntactically valid but impossible (e.g. "0 0 31 2 *"): croner finds no run at all.
  if (job.nextRun(new Date(0)) === null) return `cron ${JSON.stringify(cron)} never matches a date (e.g. the 31st of a 30-day month): ${CRON_EXPECTED}`;
  return null;
}

// ---- compiled schedules ----

interface IntervalSchedule {
  kind: "interval";
  anchorMs: number;
  stepMs: number;
}

interface CronSchedule {
  kind: "cron";
  pattern: string;
  timezone: string;
  /** croner in the zone: the reference for every instant, DST rules included */
  zoned: Cron;
  /** croner at a fixed UTC offset (minutes), for stretches where the zone's offset is constant */
  fixed: Map<number, Cron>;
  offsets: OffsetReader;
}

type Schedule = IntervalSchedule | CronSchedule;

function compile(spec: ScheduleSpec): Schedule {
  const error = scheduleSpecError(spec);
  if (error) throw new RangeError(`invalid schedule: ${error}`);
  if (spec.cron === null || spec.cron === undefined) {
    return { kind: "interval", anchorMs: spec.anchor.getTime(), stepMs: (spec.intervalSeconds as number) * 1000 };
  }
  const pattern = spec.cron.trim();
  return {
    kind: "cron",
    pattern,
    timezone: spec.timezone,
    zoned: new Cron(pattern, { ...CRON_OPTIONS, timezone: spec.timezone }),
    fixed: new Map(),
    offsets: new OffsetReader(spec.timezone),
  };
}

function describeSpec(spec: ScheduleSpec): string {
  return spec.cron !== null ? `cron ${JSON.stringify(spec.cron)} in ${spec.timezone}` : `every ${String(spec.intervalSeconds)} s`;
}

function instant(date: Date, name: string): number {
  const ms = date instanceof Date ? date.getTime() : NaN;
  if (Number.isNaN(ms)) throw new RangeError(`${name} must be a valid date`);
  return ms;
}

function keptByPolicy(catchUp: CatchUp, catchUpMax: number): number {
  switch (catchUp) {
    case "skip":
      return 0;
    case "once":
      return 1;
    case "all":
      return catchUpMax;
    default:
      throw new RangeError(`catchUp must be "skip", "once" or "all", got ${JSON.stringify(catchUp)}`);
  }
}

/** The first occurrence at or after `ms`, or null when there is none (a cron past year 9999). */
function atOrAfter(schedule: Schedule, ms: number): number | null {
  return schedule.kind === "interval" ? intervalAtOrAfter(schedule, ms) : cronAtOrAfter(schedule.zoned, ms);
}

function intervalAtOrAfter(schedule: IntervalSchedule, ms: number): number {
  const { anchorMs, stepMs } = schedule;
  let k = Math.ceil((ms - anchorMs) / stepMs);
  // the division is floating point: settle k on the exact integers
  while (anchorMs + k * stepMs < ms) k++;
  while (anchorMs + (k - 1) * stepMs >= ms) k--;
  return anchorMs + k * stepMs;
}

/** croner drops milliseconds and looks strictly after the second: from ms - 1, a run at `ms` (whole second) is found. */
function cronAtOrAfter(job: Cron, ms: number): number | null {
  return job.nextRun(new Date(ms - 1))?.getTime() ?? null;
}

// ---- counting: the occurrences in [fromMs, untilMs), keeping the latest `keep` ----

interface Tally {
  count: number;
  /** the latest `keep` occurrences (ms), oldest first */
  kept: number[];
}

function scan(schedule: Schedule, fromMs: number, untilMs: number, keep: number): Tally {
  if (fromMs >= untilMs) return { count: 0, kept: [] };
  return schedule.kind === "interval" ? scanInterval(schedule, fromMs, untilMs, keep) : scanCron(schedule, fromMs, untilMs, keep);
}

function scanInterval(schedule: IntervalSchedule, fromMs: number, untilMs: number, keep: number): Tally {
  const first = intervalAtOrAfter(schedule, fromMs);
  if (first >= untilMs) return { count: 0, kept: [] };
  const count = Math.floor((untilMs - 1 - first) / schedule.stepMs) + 1;
  const kept = Math.min(keep, count);
  return { count, kept: Array.from({ length: kept }, (_, i) => first + (count - kept + i) * schedule.stepMs) };
}

/** The latest `size` values pushed, without holding more than `size`. */
class Ring {
  private readonly items: number[] = [];
  private pushed = 0;
  private readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
  push(value: number): void {
    if (this.size === 0) return;
    this.items[this.pushed % this.size] = value;
    this.pushed++;
  }
  ordered(): number[] {
    if (this.pushed <= this.size) return this.items.slice();
    const start = this.pushed % this.size;
    return [...this.items.slice(start), ...this.items.slice(0, start)];
  }
}

/**
 * Walk the occurrences an hour at a time (see the header: fixed-offset croner where the zone's
 * offset is constant, the zoned croner near a transition), counting and keeping the latest
 * `keep`. After MAX_WALK_STEPS occurrences the walk stops: the latest `keep` before `untilMs`
 * are read backwards (croner's previousRuns), and the occurrences between the two parts are
 * estimated from the walked part's average spacing (exact for evenly spaced schedules).
 */
function scanCron(schedule: CronSchedule, fromMs: number, untilMs: number, keep: number): Tally {
  const ring = new Ring(keep);
  let count = 0;
  let firstMs = NaN;
  let lastMs = NaN;
  let cursor = fromMs;
  walk: while (cursor < untilMs) {
    // jump to the next occurrence first: a sparse schedule costs one look-up per occurrence
    const first = cronAtOrAfter(schedule.zoned, cursor);
    if (first === null || first >= untilMs) break;
    const blockEnd = Math.min(untilMs, first + HOUR_MS);
    const job = walkerFor(schedule, first, blockEnd);
    for (const run of job.enumerate(new Date(first - 1))) {
      const ms = run.getTime();
      if (ms >= blockEnd) break;
      if (count === 0) firstMs = ms;
      lastMs = ms;
      ring.push(ms);
      count++;
      if (count >= MAX_WALK_STEPS) break walk;
    }
    cursor = blockEnd;
  }
  if (count < MAX_WALK_STEPS) return { count, kept: ring.ordered() };
  return extrapolate(schedule, { count, kept: ring.ordered() }, firstMs, lastMs, untilMs, keep);
}

function extrapolate(schedule: CronSchedule, walked: Tally, firstMs: number, lastMs: number, untilMs: number, keep: number): Tally {
  const tail =
    keep === 0
      ? []
      : schedule.zoned
          .previousRuns(keep, new Date(untilMs))
          .map((d) => d.getTime())
          .filter((ms) => ms > lastMs && ms < untilMs)
          .reverse();
  const kept = keep === 0 ? [] : [...walked.kept, ...tail].slice(-keep);
  // fewer than `keep` found backwards: the tail reached the walked part, nothing lies between
  if (keep > 0 && tail.length < keep) return { count: walked.count + tail.length, kept };
  const spacing = (lastMs - firstMs) / (walked.count - 1);
  const between = tail.length > 0 ? Math.max(0, Math.round((tail[0]! - lastMs) / spacing) - 1) : Math.max(0, Math.ceil((untilMs - lastMs) / spacing) - 1);
  return { count: walked.count + between + tail.length, kept };
}

/** croner at the zone's fixed offset when it holds on [fromMs - margin, toMs], else the zoned croner. */
function walkerFor(schedule: CronSchedule, fromMs: number, toMs: number): Cron {
  const offset = schedule.offsets.constantOver(fromMs - TRANSITION_MARGIN_MS, toMs);
  if (offset === null) return schedule.zoned;
  let job = schedule.fixed.get(offset);
  if (!job) {
    job = new Cron(schedule.pattern, { ...CRON_OPTIONS, utcOffset: offset });
    schedule.fixed.set(offset, job);
  }
  return job;
}

/** A zone's UTC offset (whole minutes) at an instant, through Intl. */
class OffsetReader {
  private readonly format: Intl.DateTimeFormat;
  constructor(timezone: string) {
    this.format = new Intl.DateTimeFormat("en-US", { timeZone: timezone, timeZoneName: "longOffset" });
  }

  /** The offset when it is the same at `fromMs`, every hour after it, and `toMs`; null when it changes. */
  constantOver(fromMs: number, toMs: number): number | null {
    const offset = this.at(fromMs);
    if (offset === null) return null;
    for (let ms = fromMs + HOUR_MS; ms < toMs; ms += HOUR_MS) if (this.at(ms) !== offset) return null;
    return this.at(toMs) === offset ? offset : null;
  }

  /** Minutes east of UTC; null for an offset croner's utcOffset cannot express (seconds, historic LMT). */
  at(ms: number): number | null {
    const name = this.format.formatToParts(ms).find((part) => part.type === "timeZoneName")?.value ?? "";
    if (name === "GMT") return 0;
    const match = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name);
    if (!match) return null;
    const minutes = Number(match[2]) * 60 + Number(match[3]);
    return match[1] === "-" ? -minutes : minutes;
  }
}
