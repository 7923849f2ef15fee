// What a worker process measures of the steps it runs (lib/metrics/registry.ts; docs/observability.md,
// "Metrics"). EngineContext.metrics: absent, nothing is measured. Nothing here may slow or fail a
// step: every method catches its own errors, the few reads it makes (the database clock, resume
// latency after a crash) run beside the step, and their errors are dropped.
import type pg from "pg";
import { readMetricsResumeGap } from "../db/sql/readMetricsResumeGap.ts";
import { CappedLabel, DEFAULT_MAX_LABEL_VALUES, metricsOfProcess, type ProcessMetrics } from "../lib/metrics/registry.ts";

/** How a step attempt ended, as everruns_steps_total counts it. */
export type StepOutcomeLabel = "succeeded" | "failed" | "retried" | "fenced";

/** How often the offset of this machine's clock to the database's is measured again. */
const CLOCK_CHECK_MS = 5 * 60_000;
/** A clock reading whose round trip took longer is too loose to keep (unless none is kept yet). */
const CLOCK_MAX_RTT_MS = 50;

/**
 * What lives as long as the process, as its registry does (not a worker generation, which a
 * database outage replaces): the model label's cap and the database clock's offset.
 */
let modelsOfProcess: CappedLabel | null = null;
const clock: { offsetMs: number | null; rttMs: number; checkedAt: number; measuring: Promise<void> | null } = {
  offsetMs: null,
  rttMs: Infinity,
  checkedAt: -Infinity,
  measuring: null,
};

/** Reads the database clock on a connection already taken from the pool: only `select now()` is timed. */
async function measureClock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    const before = Date.now();
    const { rows } = await client.query<{ now: string }>("select now()::text as now");
    const after = Date.now();
    const db = Date.parse(rows[0]!.now);
    const rttMs = after - before;
    if (!Number.isFinite(db)) return;
    // the database read its clock somewhere in the round trip: its middle. A slow round trip is a
    // poor guess: kept only when nothing better is
    if (clock.offsetMs === null || rttMs <= CLOCK_MAX_RTT_MS || rttMs <= clock.rttMs) {
      clock.offsetMs = db - (before + after) / 2;
      clock.rttMs = rttMs;
    }
  } finally {
    client.release();
  }
}

export class WorkerMetrics {
  readonly #m: ProcessMetrics;
  readonly #pool: pg.Pool;
  readonly #models: CappedLabel;

  constructor(pool: pg.Pool, opts: { maxLabelValues?: number } = {}) {
    this.#m = metricsOfProcess();
    this.#pool = pool;
    this.#models = modelsOfProcess ??= new CappedLabel(opts.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES);
  }

  /**
   * A step attempt began (begin_step or an inline commit). Its run's first step: the time from
   * the run's insert (database clock) to now, through the measured clock offset. A later attempt
   * of a step: whether the attempt before died with its worker, and how long it took to resume.
   */
  stepBegan(run: { id: string; created_at: string; step_cursor: number; step_attempt: number; step_errors: number }): void {
    try {
      const at = Date.now(); // now, not when the clock offset is known
      if (run.step_cursor === 1 && run.step_attempt === 1) {
        this.#dbClockOffset()
          .then((offset) => {
            if (offset !== null) this.#observe(this.#m.queueToFirstStep, (at + offset - Date.parse(run.created_at)) / 1000);
          })
          .catch(() => undefined);
      } else if (run.step_attempt - 1 > run.step_errors) {
        // step_errors counts this step's attempts that ended `retried` (reschedule_step; both reset
        // at each commit): when every attempt before was one, none died and nothing is read (a
        // storm of 429s costs no query); otherwise the run_attempts row before tells
        readMetricsResumeGap(this.#pool, run.id, run.step_cursor, run.step_attempt)
          .then((gap) => {
            if (gap !== null) this.#observe(this.#m.resumeAfterCrash, gap);
          })
          .catch(() => undefined);
      }
    } catch {
      // a metric is never worth a step
    }
  }

  /** A step attempt ended: committed (succeeded/failed), retried, or fenced out. */
  stepEnded(kind: string, outcome: StepOutcomeLabel, seconds: number | null): void {
    try {
      this.#m.stepsTotal.inc({ kind, outcome });
      if (seconds !== null && (outcome === "succeeded" || outcome === "failed")) this.#observe(this.#m.stepDuration, seconds, { kind });
    } catch {
      // a metric is never worth a step
    }
  }

  /** An LLM call ended (its usage when it answered). */
  llmCall(provider: string, model: string | undefined, seconds: number, usage?: { input_tokens: number; output_tokens: number }): void {
    try {
      const m = this.#models.of(model ?? provider);
      this.#observe(this.#m.llmDuration, seconds, { provider, model: m });
      if (usage) {
        const labels = { gen_ai_provider_name: provider, gen_ai_request_model: m };
        this.#observe(this.#m.tokenUsage, usage.input_tokens, { ...labels, gen_ai_token_type: "input" });
        this.#observe(this.#m.tokenUsage, usage.output_tokens, { ...labels, gen_ai_token_type: "output" });
      }
    } catch {
      // a metric is never worth a step
    }
  }

  /** A transient failure retried with the agent's policy. */
  retried(kind: string, provider: string, reason: string): void {
    try {
      this.#m.stepRetries.inc({ kind, provider, reason });
    } catch {
      // a metric is never worth a step
    }
  }

  /** Observes a finite value (a histogram throws on others), negatives as 0. */
  #observe<K extends string>(
    h: { observe(labels: Partial<Record<K, string>>, value: number): void },
    value: number,
    labels: Partial<Record<K, string>> = {},
  ): void {
    if (typeof value === "number" && Number.isFinite(value)) h.observe(labels, Math.max(0, value));
  }

  /** Database clock minus this machine's, in ms, measured every few minutes (one measurement at a time); null if unknown. */
  async #dbClockOffset(): Promise<number | null> {
    if (clock.offsetMs === null || performance.now() - clock.checkedAt > CLOCK_CHECK_MS) {
      if (!clock.measuring) {
        clock.checkedAt = performance.now();
        clock.rttMs = clock.offsetMs === null ? Infinity : CLOCK_MAX_RTT_MS; // a fresh reading replaces an old one unless it is slow
        clock.measuring = measureClock(this.#pool)
          .catch(() => undefined)
          .finally(() => (clock.measuring = null));
      }
      await clock.measuring;
    }
    return clock.offsetMs;
  }
}
