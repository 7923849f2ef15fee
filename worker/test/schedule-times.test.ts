// Schedule occurrences (lib/schedule-times.ts): cron in a time zone across daylight-saving
// transitions, intervals, catch-up after downtime, and the refusal of invalid specs. Pure
// computation: no database, croner's real behaviour.
import { describe, expect, it } from "vitest";
import { dueOccurrences, MAX_WALK_STEPS, nextOccurrences, scheduleSpecError, type CatchUp, type DuePlan, type ScheduleSpec } from "../../lib/schedule-times.ts";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ANCHOR = new Date("2026-01-01T00:00:00Z");

function cron(expression: string, timezone = "UTC"): ScheduleSpec {
  return { cron: expression, intervalSeconds: null, timezone, anchor: ANCHOR };
}

function every(seconds: number, anchor = ANCHOR): ScheduleSpec {
  return { cron: null, intervalSeconds: seconds, timezone: "UTC", anchor };
}

/** Every occurrence in [start, end), through nextOccurrences (croner in the zone), as ISO strings. */
function between(spec: ScheduleSpec, start: string, end: string): string[] {
  const endMs = Date.parse(end);
  const out: string[] = [];
  let after = new Date(Date.parse(start) - 1);
  for (;;) {
    const batch = nextOccurrences(spec, after, 1000);
    for (const d of batch) {
      if (d.getTime() >= endMs) return out;
      out.push(d.toISOString());
    }
    after = batch[batch.length - 1]!;
  }
}

/** Local wall-clock time of an instant, "YYYY-MM-DD HH:MM:SS ±HH:MM". */
function local(iso: string, timezone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "longOffset",
  }).formatToParts(new Date(iso));
  const get = (type: string) => parts.find((p) => p.type === type)?.value;
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${get("timeZoneName")?.replace("GMT", "")}`;
}

function gaps(isos: string[]): number[] {
  return isos.slice(1).map((iso, i) => Date.parse(iso) - Date.parse(isos[i]!));
}

function due(spec: ScheduleSpec, from: string, now: string, catchUp: CatchUp, catchUpMax: number, graceMs: number): DuePlan {
  return dueOccurrences(spec, { from: new Date(from), now: new Date(now), catchUp, catchUpMax, graceMs });
}

const iso = (ms: number) => new Date(ms).toISOString();
const isoList = (dates: Date[]) => dates.map((d) => d.toISOString());

// The 2026 transitions. Europe/Berlin: 03-29 01:00Z (02:00 CET -> 03:00 CEST), 10-25 01:00Z
// (03:00 CEST -> 02:00 CET). America/New_York: 03-08 07:00Z (02:00 EST -> 03:00 EDT), 11-01 06:00Z
// (02:00 EDT -> 01:00 EST). Each case: the local day's bounds in UTC.
const DAYS = {
  berlinSpring: { zone: "Europe/Berlin", start: "2026-03-28T23:00:00Z", end: "2026-03-29T22:00:00Z", hours: 23 },
  berlinFall: { zone: "Europe/Berlin", start: "2026-10-24T22:00:00Z", end: "2026-10-25T23:00:00Z", hours: 25 },
  newYorkSpring: { zone: "America/New_York", start: "2026-03-08T05:00:00Z", end: "2026-03-09T04:00:00Z", hours: 23 },
  newYorkFall: { zone: "America/New_York", start: "2026-11-01T04:00:00Z", end: "2026-11-02T05:00:00Z", hours: 25 },
};

describe("daylight-saving transitions", () => {
  it("a daily 02:30 fires exactly once on the spring-forward day, at the end of the gap (03:00 local)", () => {
    const berlin = between(cron("30 2 * * *", "Europe/Berlin"), DAYS.berlinSpring.start, DAYS.berlinSpring.end);
    expect(berlin).toEqual(["2026-03-29T01:00:00.000Z"]);
    expect(local(berlin[0]!, "Europe/Berlin")).toBe("2026-03-29 03:00:00 +02:00");
    const newYork = between(cron("30 2 * * *", "America/New_York"), DAYS.newYorkSpring.start, DAYS.newYorkSpring.end);
    expect(newYork).toEqual(["2026-03-08T07:00:00.000Z"]);
    expect(local(newYork[0]!, "America/New_York")).toBe("2026-03-08 03:00:00 -04:00");
  });

  it("a daily time in the repeated hour fires exactly once on the fall-back day, at its first occurrence", () => {
    const berlin = between(cron("30 2 * * *", "Europe/Berlin"), DAYS.berlinFall.start, DAYS.berlinFall.end);
    expect(berlin).toEqual(["2026-10-25T00:30:00.000Z"]);
    expect(local(berlin[0]!, "Europe/Berlin")).toBe("2026-10-25 02:30:00 +02:00");
    const newYork = between(cron("30 1 * * *", "America/New_York"), DAYS.newYorkFall.start, DAYS.newYorkFall.end);
    expect(newYork).toEqual(["2026-11-01T05:30:00.000Z"]);
    expect(local(newYork[0]!, "America/New_York")).toBe("2026-11-01 01:30:00 -04:00");
    // New York repeats 01:00-02:00: its 02:30 is an ordinary time that day.
    expect(between(cron("30 2 * * *", "America/New_York"), DAYS.newYorkFall.start, DAYS.newYorkFall.end)).toEqual(["2026-11-01T07:30:00.000Z"]);
  });

  it("a daily job asked from inside the repeated hour's second pass does not fire that time again", () => {
    // 2026-10-25 01:15Z is 02:15 CET, the second pass: 02:30 already fired at 00:30Z.
    const [next] = nextOccurrences(cron("30 2 * * *", "Europe/Berlin"), new Date("2026-10-25T01:15:00Z"), 1);
    expect(next!.toISOString()).toBe("2026-10-26T01:30:00.000Z");
    const plan = due(cron("30 2 * * *", "Europe/Berlin"), "2026-10-25T00:30:00.001Z", "2026-10-25T01:45:00Z", "all", 10, MINUTE);
    expect(plan).toEqual({ fire: [], missed: 0, next: new Date("2026-10-26T01:30:00Z") });
  });

  it("a daily job skips no day and doubles no day around any of the four transitions", () => {
    for (const [zone, start] of [
      ["Europe/Berlin", "2026-03-26T12:00:00Z"],
      ["Europe/Berlin", "2026-10-22T12:00:00Z"],
      ["America/New_York", "2026-03-05T12:00:00Z"],
      ["America/New_York", "2026-10-29T12:00:00Z"],
    ] as const) {
      for (const expression of ["30 2 * * *", "30 1 * * *", "0 2 * * *", "0 0 3 * * *"]) {
        const runs = between(cron(expression, zone), start, iso(Date.parse(start) + 6 * DAY));
        const days = runs.map((r) => local(r, zone).slice(0, 10));
        expect(new Set(days).size, `${expression} in ${zone}: ${runs.join(", ")}`).toBe(6);
        expect(runs).toHaveLength(6);
      }
    }
  });

  it("an hourly job fires once per real hour: 23 on the spring-forward day, 25 (both passes of the repeated hour) on the fall-back day", () => {
    for (const day of Object.values(DAYS)) {
      for (const expression of ["0 * * * *", "@hourly"]) {
        const runs = between(cron(expression, day.zone), day.start, day.end);
        expect(runs, `${expression} ${day.zone} ${day.start}`).toHaveLength(day.hours);
        expect(new Set(gaps(runs))).toEqual(new Set([HOUR]));
      }
    }
    const fall = between(cron("0 * * * *", "Europe/Berlin"), "2026-10-24T23:30:00Z", "2026-10-25T02:30:00Z");
    expect(fall.map((r) => local(r, "Europe/Berlin"))).toEqual(["2026-10-25 02:00:00 +02:00", "2026-10-25 02:00:00 +01:00", "2026-10-25 03:00:00 +01:00"]);
    const spring = between(cron("0 * * * *", "Europe/Berlin"), "2026-03-28T23:30:00Z", "2026-03-29T02:30:00Z");
    expect(spring.map((r) => local(r, "Europe/Berlin"))).toEqual(["2026-03-29 01:00:00 +01:00", "2026-03-29 03:00:00 +02:00", "2026-03-29 04:00:00 +02:00"]);
  });

  it("every 15 minutes stays every 15 real minutes through both transitions", () => {
    for (const day of Object.values(DAYS)) {
      const runs = between(cron("*/15 * * * *", day.zone), day.start, day.end);
      expect(runs, `${day.zone} ${day.start}`).toHaveLength(day.hours * 4);
      expect(new Set(gaps(runs))).toEqual(new Set([15 * MINUTE]));
    }
  });

  it("a list of fixed times (30 2,14 * * *) behaves like a fixed time: once a day each, never skipped nor doubled", () => {
    expect(between(cron("30 2,14 * * *", "Europe/Berlin"), DAYS.berlinSpring.start, DAYS.berlinSpring.end)).toEqual([
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T12:30:00.000Z",
    ]);
    expect(between(cron("30 2,14 * * *", "Europe/Berlin"), DAYS.berlinFall.start, DAYS.berlinFall.end)).toEqual([
      "2026-10-25T00:30:00.000Z",
      "2026-10-25T13:30:00.000Z",
    ]);
  });

  it("the ticker's plan agrees with croner in the zone through transitions (the fixed-offset fast path changes nothing)", () => {
    const cases: [string, string, string, string][] = [
      ["* * * * *", "Europe/Berlin", "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"],
      ["* * * * *", "Europe/Berlin", "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"],
      ["*/7 * * * * *", "America/New_York", "2026-11-01T02:00:00Z", "2026-11-01T10:00:00Z"],
      ["*/7 * * * * *", "America/New_York", "2026-03-08T04:00:00Z", "2026-03-08T10:00:00Z"],
      ["30 2,14 * * *", "Europe/Berlin", "2026-03-20T00:00:00Z", "2026-04-05T00:00:00Z"],
      ["*/10 1-3 * * *", "Australia/Lord_Howe", "2026-10-01T00:00:00Z", "2026-10-06T00:00:00Z"],
      ["15 2 * * *", "Australia/Lord_Howe", "2026-04-01T00:00:00Z", "2026-04-08T00:00:00Z"],
      ["15 2 * * *", "Australia/Lord_Howe", "2026-10-01T00:00:00Z", "2026-10-08T00:00:00Z"],
    ];
    for (const [expression, zone, from, now] of cases) {
      const spec = cron(expression, zone);
      const expected = between(spec, from, iso(Date.parse(now) + 1));
      expect(expected.length).toBeLessThan(10_000);
      const plan = due(spec, from, now, "all", 10_000, 0);
      expect(isoList(plan.fire), `${expression} in ${zone}`).toEqual(expected);
      expect(plan.missed).toBe(0);
    }
  });
});

describe("expressions", () => {
  it("reads 6 fields as seconds first, and nicknames", () => {
    expect(isoList(nextOccurrences(cron("*/20 * * * * *"), new Date("2026-05-01T10:00:00Z"), 3))).toEqual([
      "2026-05-01T10:00:20.000Z",
      "2026-05-01T10:00:40.000Z",
      "2026-05-01T10:01:00.000Z",
    ]);
    expect(isoList(nextOccurrences(cron("@daily", "Europe/Berlin"), new Date("2026-05-01T10:00:00Z"), 1))).toEqual(["2026-05-01T22:00:00.000Z"]);
    expect(isoList(nextOccurrences(cron("@weekly"), new Date("2026-05-01T10:00:00Z"), 1))).toEqual(["2026-05-03T00:00:00.000Z"]); // a Sunday
    expect(scheduleSpecError(cron("@monthly"))).toBeNull();
    expect(scheduleSpecError(cron("0 0 L * *"))).toBeNull();
  });

  it("lists occurrences strictly after `after`, milliseconds included", () => {
    const spec = cron("* * * * * *");
    expect(isoList(nextOccurrences(spec, new Date("2026-05-01T10:00:00.000Z"), 1))).toEqual(["2026-05-01T10:00:01.000Z"]);
    expect(isoList(nextOccurrences(spec, new Date("2026-05-01T10:00:00.999Z"), 1))).toEqual(["2026-05-01T10:00:01.000Z"]);
    expect(isoList(nextOccurrences(spec, new Date("2026-05-01T09:59:59.999Z"), 1))).toEqual(["2026-05-01T10:00:00.000Z"]);
  });
});

describe("intervals", () => {
  const anchor = new Date("2026-01-01T00:00:00.250Z");
  const spec = every(90, anchor);

  it("counts from the anchor: anchor + k * interval, strictly after any instant", () => {
    expect(isoList(nextOccurrences(spec, anchor, 3))).toEqual(["2026-01-01T00:01:30.250Z", "2026-01-01T00:03:00.250Z", "2026-01-01T00:04:30.250Z"]);
    expect(isoList(nextOccurrences(spec, new Date("2026-01-01T00:01:30.250Z"), 1))).toEqual(["2026-01-01T00:03:00.250Z"]);
    expect(isoList(nextOccurrences(spec, new Date("2026-01-01T00:01:30.249Z"), 1))).toEqual(["2026-01-01T00:01:30.250Z"]);
    expect(isoList(nextOccurrences(spec, new Date("2025-12-31T23:58:00Z"), 2))).toEqual(["2025-12-31T23:58:30.250Z", "2026-01-01T00:00:00.250Z"]);
    const far = nextOccurrences(spec, new Date("2031-07-15T12:34:56.789Z"), 1)[0]!;
    expect((far.getTime() - anchor.getTime()) % 90_000).toBe(0);
    expect(far.getTime() - Date.parse("2031-07-15T12:34:56.789Z")).toBeGreaterThan(0);
    expect(far.getTime() - Date.parse("2031-07-15T12:34:56.789Z")).toBeLessThanOrEqual(90_000);
  });

  it("plans by arithmetic: from off the grid, catch-up, next", () => {
    // [00:00:10, 01:00:00]: occurrences 00:01:30.250 .. 00:58:30.250 (39 of them); grace 5 min
    // keeps 00:55:30.250 and 00:57:00.250 and 00:58:30.250 fresh.
    const plan = due(spec, "2026-01-01T00:00:10Z", "2026-01-01T01:00:00Z", "all", 2, 5 * MINUTE);
    expect(isoList(plan.fire)).toEqual([
      "2026-01-01T00:52:30.250Z",
      "2026-01-01T00:54:00.250Z",
      "2026-01-01T00:55:30.250Z",
      "2026-01-01T00:57:00.250Z",
      "2026-01-01T00:58:30.250Z",
    ]);
    expect(plan.missed).toBe(39 - 5);
    expect(plan.next.toISOString()).toBe("2026-01-01T01:00:00.250Z");
    // an occurrence exactly at `now` is due; one exactly at `from` too
    const edge = due(spec, "2026-01-01T00:01:30.250Z", "2026-01-01T00:03:00.250Z", "skip", 0, MINUTE);
    expect(isoList(edge.fire)).toEqual(["2026-01-01T00:03:00.250Z"]);
    expect(edge.missed).toBe(1);
    expect(edge.next.toISOString()).toBe("2026-01-01T00:04:30.250Z");
  });

  it("has nothing due while `from` is ahead of `now`, and keeps `from` as next", () => {
    const plan = due(spec, "2026-01-01T00:04:30.250Z", "2026-01-01T00:02:00Z", "all", 10, MINUTE);
    expect(plan).toEqual({ fire: [], missed: 0, next: new Date("2026-01-01T00:04:30.250Z") });
  });

  it("a year-long interval and a one-second interval", () => {
    expect(isoList(nextOccurrences(every(31_536_000), ANCHOR, 2))).toEqual(["2027-01-01T00:00:00.000Z", "2028-01-01T00:00:00.000Z"]);
    // a grace of 0 still fires the occurrence exactly at `now`
    const plan = due(every(1), "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z", "all", 5, 0);
    expect(plan.fire).toHaveLength(5 + 1);
    expect(plan.fire[5]!.toISOString()).toBe("2026-01-04T00:00:00.000Z");
    expect(plan.missed).toBe(3 * 86_400 + 1 - 6);
  });
});

describe("catch-up after downtime", () => {
  // 3 h down, then the ticker runs at `now`; a grace of 60 s.
  const from = "2026-05-04T09:00:00Z";
  const now = "2026-05-04T12:00:00Z";
  const grace = 60 * SECOND;

  it("every minute: skip fires only the ones within the grace, once adds the latest missed, all the latest catchUpMax", () => {
    const spec = cron("* * * * *", "Europe/Berlin");
    // [09:00, 12:00]: 181 occurrences; within the grace [11:59, 12:00]: 2; missed: 179.
    const fresh = ["2026-05-04T11:59:00.000Z", "2026-05-04T12:00:00.000Z"];
    const skip = due(spec, from, now, "skip", 10, grace);
    expect(isoList(skip.fire)).toEqual(fresh);
    expect(skip.missed).toBe(179);
    expect(skip.next.toISOString()).toBe("2026-05-04T12:01:00.000Z");

    const once = due(spec, from, now, "once", 10, grace);
    expect(isoList(once.fire)).toEqual(["2026-05-04T11:58:00.000Z", ...fresh]);
    expect(once.missed).toBe(178);

    const all = due(spec, from, now, "all", 10, grace);
    expect(all.fire).toHaveLength(12);
    expect(all.fire[0]!.toISOString()).toBe("2026-05-04T11:49:00.000Z");
    expect(new Set(gaps(isoList(all.fire)))).toEqual(new Set([MINUTE]));
    expect(all.missed).toBe(169);

    const everything = due(spec, from, now, "all", 1000, grace);
    expect(everything.fire).toHaveLength(181);
    expect(everything.missed).toBe(0);

    const none = due(spec, from, now, "all", 0, grace);
    expect(isoList(none.fire)).toEqual(fresh);
    expect(none.missed).toBe(179);
  });

  it("every second: the same policies, counted without keeping the dropped ones", () => {
    const spec = cron("* * * * * *", "Europe/Berlin");
    // [09:00:00, 12:00:00]: 10,801; within the grace [11:59:00, 12:00:00]: 61; missed: 10,740.
    const skip = due(spec, from, now, "skip", 100, grace);
    expect(skip.fire).toHaveLength(61);
    expect(skip.fire[0]!.toISOString()).toBe("2026-05-04T11:59:00.000Z");
    expect(skip.missed).toBe(10_740);
    expect(skip.next.toISOString()).toBe("2026-05-04T12:00:01.000Z");

    const once = due(spec, from, now, "once", 100, grace);
    expect(once.fire).toHaveLength(62);
    expect(once.fire[0]!.toISOString()).toBe("2026-05-04T11:58:59.000Z");
    expect(once.missed).toBe(10_739);

    const all = due(spec, from, now, "all", 100, grace);
    expect(all.fire).toHaveLength(161);
    expect(all.fire[0]!.toISOString()).toBe("2026-05-04T11:57:20.000Z");
    expect(new Set(gaps(isoList(all.fire)))).toEqual(new Set([SECOND]));
    expect(all.missed).toBe(10_640);

    // the interval equivalent plans the same instants
    const interval = due(every(1), from, now, "all", 100, grace);
    expect(isoList(interval.fire)).toEqual(isoList(all.fire));
    expect(interval.missed).toBe(all.missed);
  });

  it("an every-second schedule down 3 days across the spring-forward: counts ~260k, materialises only what it fires", () => {
    const spec = cron("* * * * * *", "Europe/Berlin");
    const start = "2026-03-27T12:00:00Z";
    const end = "2026-03-30T12:00:00Z"; // 3 real days, one of them 23 local hours: still 259,200 real seconds
    const all = due(spec, start, end, "all", 50, 10 * SECOND);
    expect(all.fire).toHaveLength(50 + 11);
    expect(all.fire[0]!.toISOString()).toBe("2026-03-30T11:59:00.000Z");
    expect(all.fire[60]!.toISOString()).toBe(new Date(end).toISOString());
    expect(all.missed).toBe(259_201 - 61);
    expect(all.next.toISOString()).toBe("2026-03-30T12:00:01.000Z");
    const skip = due(spec, start, end, "skip", 50, 10 * SECOND);
    expect(skip.fire).toHaveLength(11);
    expect(skip.missed).toBe(259_201 - 11);
  });

  it("beyond the walk's cap (an every-second schedule down 30 days) the count is extrapolated and the latest missed still fire", () => {
    const spec = cron("* * * * * *", "UTC");
    const start = "2026-05-01T00:00:00Z";
    const end = "2026-05-31T00:00:00Z";
    const total = 30 * 86_400 + 1;
    expect(total).toBeGreaterThan(MAX_WALK_STEPS);
    const all = due(spec, start, end, "all", 3, 0);
    expect(isoList(all.fire)).toEqual(["2026-05-30T23:59:57.000Z", "2026-05-30T23:59:58.000Z", "2026-05-30T23:59:59.000Z", "2026-05-31T00:00:00.000Z"]);
    expect(all.missed).toBe(total - 4);
    const skip = due(spec, start, end, "skip", 3, 0);
    expect(isoList(skip.fire)).toEqual(["2026-05-31T00:00:00.000Z"]);
    expect(skip.missed).toBe(total - 1);
  });

  it("an occurrence exactly at the grace boundary is within the grace; one just older is missed", () => {
    const spec = cron("* * * * *");
    const plan = due(spec, "2026-05-04T11:58:00Z", "2026-05-04T12:00:00Z", "skip", 0, 60 * SECOND);
    expect(isoList(plan.fire)).toEqual(["2026-05-04T11:59:00.000Z", "2026-05-04T12:00:00.000Z"]);
    expect(plan.missed).toBe(1);
    const later = due(spec, "2026-05-04T11:58:00Z", "2026-05-04T12:00:00.001Z", "skip", 0, 60 * SECOND);
    expect(isoList(later.fire)).toEqual(["2026-05-04T12:00:00.000Z"]);
    expect(later.missed).toBe(2);
  });
});

describe("invalid specs", () => {
  const error = (spec: Partial<ScheduleSpec>) => scheduleSpecError({ cron: null, intervalSeconds: null, timezone: "UTC", anchor: ANCHOR, ...spec });

  it("names the problem and what is expected", () => {
    expect(error({ cron: "61 * * * *" })).toMatch(/cron "61 \* \* \* \*" is invalid: .*minute.*; expected 5 fields/);
    expect(error({ cron: "* * * *" })).toMatch(/has 4 fields: expected 5 fields/);
    expect(error({ cron: "0 0 0 1 1 * 2030" })).toMatch(/has 7 fields \(a year field is not supported\)/);
    expect(error({ cron: "2030-01-23T00:00:00" })).toMatch(/has 1 field: expected/);
    expect(error({ cron: "@reboot" })).toMatch(/cron "@reboot" is invalid/);
    expect(error({ cron: "@every 5m" })).toMatch(/cron "@every 5m" is invalid/);
    expect(error({ cron: "/10 * * * *" })).toMatch(/is invalid/);
    expect(error({ cron: "0 0 31 2 *" })).toMatch(/never matches a date/);
    expect(error({ cron: "" })).toMatch(/cron is empty/);
    expect(error({ cron: "0 9 * * *", timezone: "Mars/Olympus" })).toMatch(
      /timezone "Mars\/Olympus" is not a known time zone: expected an IANA time zone name/,
    );
    expect(error({ cron: "0 9 * * *", timezone: "" })).toMatch(/timezone is missing/);
    expect(error({ cron: "0 9 * * *", intervalSeconds: 60 })).toMatch(/either cron or intervalSeconds, not both/);
    expect(error({})).toMatch(/needs cron .* or intervalSeconds/);
    for (const bad of [0, -5, 1.5, 31_536_001, Number.NaN])
      expect(error({ intervalSeconds: bad })).toMatch(/intervalSeconds must be a whole number from 1 to 31536000/);
    expect(error({ intervalSeconds: 60, anchor: new Date(Number.NaN) })).toMatch(/anchor must be a valid date/);
    expect(error({ intervalSeconds: 31_536_000 })).toBeNull();
    expect(error({ cron: "0 9 * * 1-5", timezone: "America/New_York" })).toBeNull();
  });

  it("nextOccurrences and dueOccurrences throw on invalid specs and arguments", () => {
    expect(() => nextOccurrences(cron("0 0 0 1 1 * 2030"), ANCHOR, 1)).toThrow(/invalid schedule: .*7 fields/);
    expect(() => dueOccurrences(cron("0 9 * * *", "Nowhere"), { from: ANCHOR, now: ANCHOR, catchUp: "all", catchUpMax: 1, graceMs: 0 })).toThrow(
      /invalid schedule: timezone "Nowhere"/,
    );
    expect(() => nextOccurrences(cron("0 9 * * *"), ANCHOR, 0)).toThrow(/count must be a whole number from 1 to 1000/);
    expect(() => nextOccurrences(cron("0 9 * * *"), ANCHOR, 1001)).toThrow(/count must be a whole number from 1 to 1000/);
    expect(() => due(cron("0 9 * * *"), "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "all", -1, 0)).toThrow(/catchUpMax/);
    expect(() => due(cron("0 9 * * *"), "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "later" as CatchUp, 1, 0)).toThrow(/catchUp must be/);
    expect(() => due(cron("0 9 * * *"), "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "all", 1, -1)).toThrow(/graceMs/);
  });
});
