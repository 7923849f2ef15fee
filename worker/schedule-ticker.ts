// The schedule ticker (issue 16): every worker process runs one. It wakes every `tickMs` (and on
// NOTIFY everruns:schedules, which worker/main.ts passes on as wake()), asks the database which
// schedules are due (everruns_private.due_schedules), and for each one runs one short transaction:
// lock the schedule (skip locked: another ticker has it, so this one moves on), compute its
// occurrences with lib/schedule-times.ts from the row and the database clock, and call
// everruns_private.fire_schedule, which starts the runs and advances next_fire_at before the
// commit. The cron arithmetic is here because croner is; exactly-once is the database's: the row
// lock, the next_fire_at fence and schedule_fires' unique (schedule_id, occurrence_at).
//
// Every worker ticks every schedule, dedicated-workspace workers (--workspace) included: the lock
// makes each tick of a schedule one worker's, so more tickers only mean a schedule is looked at
// sooner (and survives any one worker), never that it fires twice. A fire's run is an ordinary
// run: the workspace's workers (shared or dedicated) take it as any other.
//
// Failures: a schedule whose tick fails (a lock timeout on a run someone holds, a statement
// timeout) is logged and backed off: after n consecutive failures this ticker leaves it out of
// due_schedules (p_exclude) for min(60 s, 2^n s), and a success forgets them. Without that, the
// schedules that fail for good (the oldest next_fire_at, first in due_schedules' order) filled
// every batch and every tick, and starved all the others (issue 16, L-8/M-1). Within a tick, every
// schedule tried is left out of the next round, so a tick goes on while schedules it has not tried
// are due. A tick that loses the database ends there and the next one tries again (the worker's
// supervisor replaces this ticker with the pool after an outage). stop() awaits the tick in
// flight, so a shutdown never leaves a transaction half way.
import { z } from "zod";
import { withTransaction, type Pool } from "../db/pool.ts";
import { dueSchedules, fireSchedule, lockScheduleForTick, type ScheduleFirePlan, type TickedSchedule } from "../db/sql/scheduleTick.ts";
import { ConfigError, isConnectionError } from "../db/errors.ts";
import { dueOccurrences, nextOccurrences, scheduleSpecError, type ScheduleSpec } from "../lib/schedule-times.ts";
import type { Logger } from "../lib/logger.ts";

/** The channel schedule changes and schedule runs' ends are announced on (000026): a wake-up, never an order. */
export const SCHEDULES_CHANNEL = "everruns:schedules";
export const SCHEDULER_ENV = "EVERRUNS_SCHEDULER";
export const SCHEDULE_TICK_MS_ENV = "EVERRUNS_SCHEDULE_TICK_MS";
export const DEFAULT_SCHEDULE_TICK_MS = 1000;
/** Schedules asked for per due_schedules call (of each kind: due, not computed yet, with run ends to fold). */
export const DEFAULT_DUE_BATCH = 100;
/**
 * Rounds of due_schedules per tick: a tick goes on while schedules it has not tried yet are due,
 * this many rounds at most (the rest wait for the next tick, which comes at once when woken).
 */
const MAX_ROUNDS_PER_TICK = 10;
/** The longest a failing schedule is left out of the ticks: after n consecutive failures, min(this, 2^n s). */
export const MAX_FAILURE_BACKOFF_MS = 60_000;
/**
 * A failing schedule's backoff not renewed this long after it ended is forgotten: the schedule was
 * not due here since (deleted, paused, or ticked by another worker), and the map stays small.
 */
const FORGET_BACKOFF_AFTER_MS = 10 * 60_000;
/**
 * The least time between the starts of two ticks: a flood of notifications (anyone may NOTIFY)
 * costs at most one due_schedules query per this many ms.
 */
const MIN_TICK_GAP_MS = 20;
/** Past the next occurrence a tick saw, the ticker wakes this much later (timers may fire a little early). */
const WAKE_MARGIN_MS = 2;
/** The same failure is logged once per this long (a missing grant would fail every tick). */
const REPEAT_LOG_MS = 30_000;

const SchedulerEnvSchema = z.object({
  [SCHEDULER_ENV]: z
    .enum(["on", "off"], { error: `${SCHEDULER_ENV} must be "on" or "off"` })
    .optional()
    .default("on"),
  [SCHEDULE_TICK_MS_ENV]: z.coerce
    .number({ error: `${SCHEDULE_TICK_MS_ENV} must be a whole number of milliseconds from 10 to 60000` })
    .int(`${SCHEDULE_TICK_MS_ENV} must be a whole number of milliseconds from 10 to 60000`)
    .min(10, `${SCHEDULE_TICK_MS_ENV} must be a whole number of milliseconds from 10 to 60000`)
    .max(60_000, `${SCHEDULE_TICK_MS_ENV} must be a whole number of milliseconds from 10 to 60000`)
    .optional()
    .default(DEFAULT_SCHEDULE_TICK_MS),
});

/**
 * EVERRUNS_SCHEDULER ("on" by default; "off": this worker runs no ticker) and
 * EVERRUNS_SCHEDULE_TICK_MS (10..60000, default 1000). An invalid value is a ConfigError naming it.
 */
export function schedulerFromEnv(source: NodeJS.ProcessEnv = process.env): { enabled: boolean; tickMs: number } {
  const raw = {
    [SCHEDULER_ENV]: source[SCHEDULER_ENV]?.trim().toLowerCase() || undefined,
    [SCHEDULE_TICK_MS_ENV]: source[SCHEDULE_TICK_MS_ENV]?.trim() || undefined,
  };
  const parsed = SchedulerEnvSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ConfigError(`invalid environment: ${issue.message} (got ${JSON.stringify(source[name])})`);
  }
  return { enabled: parsed.data[SCHEDULER_ENV] === "on", tickMs: parsed.data[SCHEDULE_TICK_MS_ENV] };
}

/**
 * What one tick of one schedule fires, from its row and the database clock (pure):
 * - paused (locked only to fold its runs' ends): nothing;
 * - an invalid spec (a cron croner refuses, a zone Intl does not know): specError, which pauses it;
 * - next_fire_at not computed yet (new, changed or resumed): nothing fires, next is the first
 *   occurrence after the clock (an interval counts from created_at);
 * - else the occurrences from next_fire_at to the clock under the catch-up policy and grace.
 */
export function planTick(schedule: TickedSchedule): ScheduleFirePlan {
  const expectedNext = schedule.next_fire_at_text;
  if (schedule.paused) return { expectedNext, fire: [], missed: 0, next: schedule.next_fire_at };
  const spec: ScheduleSpec = {
    cron: schedule.cron,
    intervalSeconds: schedule.interval_seconds,
    timezone: schedule.timezone,
    anchor: schedule.created_at,
  };
  const specError = scheduleSpecError(spec);
  if (specError) return { expectedNext, fire: [], missed: 0, next: null, specError };
  try {
    if (schedule.next_fire_at === null) {
      return { expectedNext, fire: [], missed: 0, next: nextOccurrences(spec, schedule.clock, 1)[0]! };
    }
    const due = dueOccurrences(spec, {
      from: schedule.next_fire_at,
      now: schedule.clock,
      catchUp: schedule.catch_up,
      catchUpMax: schedule.catch_up_max,
      graceMs: schedule.misfire_grace_seconds * 1000,
    });
    return { expectedNext, fire: due.fire, missed: due.missed, next: due.next };
  } catch (error) {
    // the computation is deterministic: what fails now fails every tick (a cron with no occurrence
    // left), so the schedule is paused saying why rather than retried for ever
    return { expectedNext, fire: [], missed: 0, next: null, specError: error instanceof Error ? error.message : String(error) };
  }
}

/** How long a schedule whose tick failed `failures` times in a row is left out: min(60 s, 2^failures s). */
export function failureBackoffMs(failures: number): number {
  return Math.min(MAX_FAILURE_BACKOFF_MS, 1000 * 2 ** Math.min(Math.max(failures, 0), 30));
}

/**
 * True when `error` means the ticker lost the database (the tick ends there). A deadlock or a
 * serialization failure is the schedule's own failure: isConnectionError counts them (a step
 * retries them as an outage), but here they would end the tick for every other schedule.
 */
function lostDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return isConnectionError(error) && code !== "40P01" && code !== "40001";
}

export interface ScheduleTickOutcome {
  /** false: another ticker held the schedule (or it is gone); nothing was done */
  locked: boolean;
  started: number;
  /** occurrences this tick fired or handled (skipped, buffered) */
  fired: number;
  missed: number;
  specError: string | null;
  /**
   * When the schedule's next occurrence comes, on this process's performance.now() clock (the
   * database clock of the tick's transaction mapped onto it; null: none, or paused)
   */
  nextAt: number | null;
}

/** One tick of one schedule: one transaction (lock, compute, fire_schedule, commit). */
export async function tickSchedule(pool: Pool, scheduleId: string): Promise<ScheduleTickOutcome> {
  return withTransaction(pool, async (client) => {
    // the transaction's clock (now()) was taken at its begin, before this moment: an occurrence
    // mapped from it onto this process's clock is never early, at most late by the begin's round trip
    const readAt = performance.now();
    const schedule = await lockScheduleForTick(client, scheduleId);
    if (!schedule) return { locked: false, started: 0, fired: 0, missed: 0, specError: null, nextAt: null };
    const plan = planTick(schedule);
    const started = await fireSchedule(client, scheduleId, plan);
    return {
      locked: true,
      started,
      fired: plan.fire.length,
      missed: plan.missed,
      specError: plan.specError ?? null,
      nextAt: plan.next === null || schedule.paused ? null : readAt + (plan.next.getTime() - schedule.clock.getTime()),
    };
  });
}

export interface TickResult {
  /** schedules locked and ticked */
  ticked: number;
  /** runs started */
  started: number;
  /** schedules whose tick failed */
  failed: number;
  /** schedules left out because their earlier ticks failed (backed off) */
  backedOff: number;
  /** the earliest next occurrence among the schedules ticked, on performance.now()'s clock (null: none ticked) */
  nextAt: number | null;
}

export interface ScheduleTickerOptions {
  /** the worker's pool: each schedule's tick is one short transaction on it */
  pool: Pool;
  log: Logger;
  /** ms between ticks when nothing wakes the ticker sooner (default 1000) */
  tickMs?: number;
  /** schedules asked for per due_schedules call (default DEFAULT_DUE_BATCH; tests make it small) */
  dueBatch?: number;
}

/** A schedule whose ticks fail: how many times in a row, and until when (performance.now()) it is left out. */
interface Backoff {
  failures: number;
  until: number;
}

export class ScheduleTicker {
  /** ticks: completed ticks; started: runs started; failures: schedule ticks or whole ticks that failed */
  readonly stats = { ticks: 0, started: 0, failures: 0 };
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly tickMs: number;
  private readonly dueBatch: number;
  /** the schedules whose last tick here failed (a success deletes the entry) */
  private readonly backoff = new Map<string, Backoff>();
  private loop: Promise<void> | null = null;
  private stopping = false;
  /** a wake() came since the current tick began: tick again at once */
  private woken = false;
  private interrupt: (() => void) | null = null;
  private lastTickAt = -Infinity;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(opts: ScheduleTickerOptions) {
    this.pool = opts.pool;
    this.log = opts.log;
    this.tickMs = opts.tickMs ?? DEFAULT_SCHEDULE_TICK_MS;
    if (!Number.isInteger(this.tickMs) || this.tickMs < 1)
      throw new ConfigError(`tickMs must be a whole number of milliseconds of at least 1, got ${this.tickMs}`);
    this.dueBatch = opts.dueBatch ?? DEFAULT_DUE_BATCH;
    if (!Number.isInteger(this.dueBatch) || this.dueBatch < 1) throw new ConfigError(`dueBatch must be a whole number of at least 1, got ${this.dueBatch}`);
  }

  /** The schedules this ticker backs off from now (their ticks failed), with their consecutive failures. */
  backedOff(): Map<string, number> {
    const now = performance.now();
    return new Map([...this.backoff].filter(([, b]) => b.until > now).map(([id, b]) => [id, b.failures]));
  }

  /** Starts ticking (the first tick at once). */
  start(): void {
    if (this.loop || this.stopping) return;
    this.loop = this.run();
  }

  /** A hint (NOTIFY everruns:schedules): tick soon, without waiting for the period. */
  wake(): void {
    this.woken = true;
    this.interrupt?.();
  }

  /** Stops ticking; resolves once the tick in flight (its transaction) has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.interrupt?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const gap = this.lastTickAt + MIN_TICK_GAP_MS - performance.now();
      if (gap > 0) await this.pause(gap, false);
      if (this.stopping) break;
      this.woken = false;
      this.lastTickAt = performance.now();
      let delay = this.tickMs;
      try {
        const result = await this.tick();
        // the next occurrence this ticker saw, if it comes before the period is over
        if (result.nextAt !== null) delay = Math.min(delay, Math.max(0, result.nextAt - performance.now()) + WAKE_MARGIN_MS);
      } catch (error) {
        this.stats.failures++;
        const what = isConnectionError(error) ? "lost the database" : "failed";
        this.warn(`tick:${what}`, `schedule tick ${what}: ${(error as Error).message}; trying again next tick`);
      }
      if (this.stopping || this.woken) continue;
      await this.pause(delay, true);
    }
  }

  /** Waits `ms`, or less when stop() (or, if `wakeable`, wake()) comes. */
  private async pause(ms: number, wakeable: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.interrupt = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = () => {
        if (this.stopping || wakeable) done();
      };
    });
  }

  /**
   * One tick: the due schedules, each in its own transaction, round after round. Each round asks
   * due_schedules for schedules this tick has not tried yet, less the backed-off ones (p_exclude),
   * and tries those that never failed first; the tick ends when none is left (or after
   * MAX_ROUNDS_PER_TICK rounds). A schedule whose tick fails is logged and backed off; a lost
   * database ends the tick (thrown).
   */
  async tick(): Promise<TickResult> {
    const result: TickResult = { ticked: 0, started: 0, failed: 0, backedOff: 0, nextAt: null };
    const backedOff = this.backedOffIds(performance.now());
    result.backedOff = backedOff.length;
    // tried this tick (ticked, failed, or held by another ticker) or backed off: not asked for again
    const excluded = new Set<string>(backedOff);
    for (let round = 0; round < MAX_ROUNDS_PER_TICK && !this.stopping; round++) {
      const ids = (await dueSchedules(this.pool, this.dueBatch, [...excluded])).filter((id) => !excluded.has(id));
      if (ids.length === 0) break;
      // one that failed before (its backoff over) may fail again after its lock timeout: the
      // others go first (a stable sort keeps due_schedules' order otherwise)
      ids.sort((a, b) => Number(this.backoff.has(a)) - Number(this.backoff.has(b)));
      for (const id of ids) {
        if (this.stopping) break;
        excluded.add(id);
        let outcome: ScheduleTickOutcome;
        try {
          outcome = await tickSchedule(this.pool, id);
        } catch (error) {
          if (lostDatabase(error)) throw error;
          const { failures, until } = this.recordFailure(id);
          result.failed++;
          this.stats.failures++;
          const seconds = Math.round((until - performance.now()) / 1000);
          this.warn(
            `schedule:${id}`,
            `the tick of schedule ${id} failed (${failures} time(s) in a row): ${(error as Error).message}; it is looked at again in ${seconds} s`,
          );
          continue;
        }
        if (!outcome.locked) continue; // another ticker has it
        this.backoff.delete(id);
        result.ticked++;
        result.started += outcome.started;
        if (outcome.specError) this.log.warn(`schedule ${id} paused: its occurrences cannot be computed: ${outcome.specError}`);
        if (outcome.missed > 0) this.log.info(`schedule ${id}: ${outcome.missed} missed occurrence(s) not fired (its catch_up policy)`);
        if (outcome.nextAt !== null) result.nextAt = Math.min(result.nextAt ?? Infinity, outcome.nextAt);
      }
    }
    this.stats.ticks++;
    this.stats.started += result.started;
    return result;
  }

  /** Counts a failed tick of schedule `id` and backs it off: min(60 s, 2^failures s) from now. */
  private recordFailure(id: string): Backoff {
    const failures = (this.backoff.get(id)?.failures ?? 0) + 1;
    const entry = { failures, until: performance.now() + failureBackoffMs(failures) };
    this.backoff.set(id, entry);
    return entry;
  }

  /** The ids backed off at `now`; forgets the entries whose backoff ended long ago. */
  private backedOffIds(now: number): string[] {
    const ids: string[] = [];
    for (const [id, b] of this.backoff) {
      if (b.until > now) ids.push(id);
      else if (now - b.until > FORGET_BACKOFF_AFTER_MS) this.backoff.delete(id);
    }
    return ids;
  }

  /** Logs a warning, the same `key` at most once per REPEAT_LOG_MS (with the count it held back). */
  private warn(key: string, message: string): void {
    const now = performance.now();
    const last = this.lastLogged.get(key);
    if (last && now - last.at < REPEAT_LOG_MS) {
      last.suppressed++;
      return;
    }
    const held = last?.suppressed ? ` (${last.suppressed} more like it since the last report)` : "";
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    if (this.lastLogged.size > 1000) this.lastLogged.clear();
    this.log.warn(message + held);
  }
}
