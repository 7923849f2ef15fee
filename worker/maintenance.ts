// The data lifecycle's maintenance (issue 19, 000038): every worker process runs one. Shortly after
// it starts, then every EVERRUNS_MAINTENANCE_INTERVAL_MS (default 5 minutes), a round:
// 1. everruns_private.ensure_partitions: the monthly partitions of run_events and run_steps, from
//    this month through two months ahead, a month's two together or neither (attaching them waits
//    at most 500 ms for the locks; a month skipped is tried again next round, and logged);
// 2. everruns_private.apply_retention, unit after unit, until one does nothing or the round's time
//    budget (10 s) is spent: each unit drops one past month whose runs have all expired, or expires
//    a batch of finished runs past their workspace's retention_days (at most 200 runs and about
//    50k events and steps).
// Each round's start is delayed by a random 0 to interval/10 (the jitter), so that a fleet started
// together does not try the maintenance lock at the same instant every round.
// Each call is its own short transaction (statement timeout 30 s) that first takes the maintenance lock (an advisory lock
// held to that transaction's end only): one worker at a time does the work, the others skip the
// round, and no lock is held between units, so the engine's commits never wait behind a round.
// stop() ends the round after the unit in flight.
import { z } from "zod";
import { withTransaction, type Pool } from "../db/pool.ts";
import { applyRetention } from "../db/sql/applyRetention.ts";
import { ensurePartitions } from "../db/sql/ensurePartitions.ts";
import { ConfigError } from "../db/errors.ts";
import type { Logger } from "../lib/logger.ts";

export const MAINTENANCE_INTERVAL_MS_ENV = "EVERRUNS_MAINTENANCE_INTERVAL_MS";
export const DEFAULT_MAINTENANCE_INTERVAL_MS = 5 * 60_000;
/** The first round, this long after start plus the jitter (not at once: a fleet restarting together spreads out). */
const FIRST_ROUND_MS = 5_000;
/** A round's retention units stop once this much time went by; the rest waits for the next round. */
export const DEFAULT_ROUND_BUDGET_MS = 10_000;
/** Runs expired per retention unit (one transaction). */
export const DEFAULT_RETENTION_BATCH = 200;
/** Events and steps deleted per retention unit, about (a unit expires at least one run). */
export const DEFAULT_RETENTION_MAX_ROWS = 50_000;
/** Months of partitions created ahead of the current one. */
const MONTHS_AHEAD = 2;

const INTERVAL_ERROR = `${MAINTENANCE_INTERVAL_MS_ENV} must be a whole number of milliseconds from 1000 to 86400000`;
const MaintenanceEnvSchema = z.object({
  [MAINTENANCE_INTERVAL_MS_ENV]: z.coerce
    .number({ error: INTERVAL_ERROR })
    .int(INTERVAL_ERROR)
    .min(1000, INTERVAL_ERROR)
    .max(86_400_000, INTERVAL_ERROR)
    .optional()
    .default(DEFAULT_MAINTENANCE_INTERVAL_MS),
});

/** EVERRUNS_MAINTENANCE_INTERVAL_MS (1000..86400000, default 300000). An invalid value is a ConfigError naming it. */
export function maintenanceIntervalFromEnv(source: NodeJS.ProcessEnv = process.env): number {
  const parsed = MaintenanceEnvSchema.safeParse({ [MAINTENANCE_INTERVAL_MS_ENV]: source[MAINTENANCE_INTERVAL_MS_ENV]?.trim() || undefined });
  if (!parsed.success) {
    throw new ConfigError(`invalid environment: ${parsed.error.issues[0]!.message} (got ${JSON.stringify(source[MAINTENANCE_INTERVAL_MS_ENV])})`);
  }
  return parsed.data[MAINTENANCE_INTERVAL_MS_ENV];
}

export interface MaintenanceRound {
  /** false: another worker held the maintenance lock (it did the round) */
  ran: boolean;
  partitionsCreated: number;
  /** months whose partitions were not created because a lock was busy (tried again next round) */
  monthsSkipped: number;
  /** months that get no partitions because a DEFAULT partition holds rows of them */
  monthsHeldByDefault: number;
  runsExpired: number;
  rowsDeleted: number;
  partitionsDropped: number;
  /** retention units called (one transaction each) */
  units: number;
}

export interface MaintenanceOptions {
  pool: Pool;
  log: Logger;
  intervalMs?: number;
  roundBudgetMs?: number;
  batch?: number;
  maxRows?: number;
  /** the time retention counts from (tests); default the database clock */
  now?: () => Date | null;
}

export class Maintenance {
  private readonly opts: Required<Omit<MaintenanceOptions, "now">> & { now: () => Date | null };
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(opts: MaintenanceOptions) {
    this.opts = {
      pool: opts.pool,
      log: opts.log,
      intervalMs: opts.intervalMs ?? DEFAULT_MAINTENANCE_INTERVAL_MS,
      roundBudgetMs: opts.roundBudgetMs ?? DEFAULT_ROUND_BUDGET_MS,
      batch: opts.batch ?? DEFAULT_RETENTION_BATCH,
      maxRows: opts.maxRows ?? DEFAULT_RETENTION_MAX_ROWS,
      now: opts.now ?? (() => null),
    };
  }

  start(): void {
    this.schedule(Math.min(FIRST_ROUND_MS, this.opts.intervalMs) + this.jitter());
  }

  /** A random 0 to interval/10 ms added to each round's delay. */
  private jitter(): number {
    return Math.floor(Math.random() * (this.opts.intervalMs / 10));
  }

  /** No new round; the unit in flight ends its transaction first. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round now (also what the timer runs). */
  async round(): Promise<MaintenanceRound> {
    const { pool, roundBudgetMs, batch, maxRows } = this.opts;
    const result: MaintenanceRound = {
      ran: false,
      partitionsCreated: 0,
      monthsSkipped: 0,
      monthsHeldByDefault: 0,
      runsExpired: 0,
      rowsDeleted: 0,
      partitionsDropped: 0,
      units: 0,
    };
    const ensured = await withTransaction(pool, (client) => ensurePartitions(client, this.opts.now(), MONTHS_AHEAD));
    if (ensured === null) return result;
    result.ran = true;
    result.partitionsCreated = ensured.created;
    result.monthsSkipped = ensured.skipped;
    result.monthsHeldByDefault = ensured.heldByDefault;
    const deadline = Date.now() + roundBudgetMs;
    while (!this.stopped && Date.now() < deadline) {
      const unit = await withTransaction(pool, (client) => applyRetention(client, this.opts.now(), batch, maxRows));
      if (unit === null) break; // another worker took over
      result.units += 1;
      result.runsExpired += unit.runs_expired;
      result.rowsDeleted += unit.rows_deleted;
      result.partitionsDropped += unit.partitions_dropped;
      if (unit.runs_expired === 0 && unit.partitions_dropped === 0 && unit.rows_deleted === 0) break; // nothing left this round (a unit cleaning a month that became mixed deletes rows and expires none)
    }
    return result;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
        this.schedule(this.opts.intervalMs + this.jitter());
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const started = Date.now();
    try {
      const r = await this.round();
      if (r.monthsSkipped > 0) {
        this.opts.log.info(`maintenance: ${r.monthsSkipped} months' partitions not created (a lock was busy); the next round tries again`);
      }
      if (r.monthsHeldByDefault > 0) {
        this.opts.log.warn(
          `maintenance: ${r.monthsHeldByDefault} months get no partitions because everruns_partitions.run_events_pdefault or run_steps_pdefault holds rows of them (maintenance fell behind); their rows stay there and retention deletes them row by row`,
        );
      }
      if (r.partitionsCreated > 0 || r.runsExpired > 0 || r.partitionsDropped > 0) {
        this.opts.log.info(
          `maintenance: ${r.partitionsCreated} partitions created, ${r.runsExpired} runs' history expired (${r.rowsDeleted} rows deleted), ${r.partitionsDropped} months dropped in ${Date.now() - started} ms`,
        );
      }
    } catch (error) {
      // a lost connection, a statement timeout: the next round tries again
      this.opts.log.warn(`maintenance round failed (the next one, in ${this.opts.intervalMs} ms, tries again): ${(error as Error).message}`);
    }
  }
}
