// Export of runs' spans to the OTLP endpoint (docs/observability.md, "Traces"), on the workers that
// have tracing configured (lib/tracing/config.ts); a worker without it loads none of this and pays
// nothing per step.
//
// After a step commits, run_step.ts hands the run's id to afterCommit(): nothing else happens on
// the step's path. Every FLUSH_MS the ids gathered are exported together: claim the runs
// (everruns_private.trace_exports: a lease, so two exporters never send the same run's spans at
// once; fenced by its token), read their steps and attempts past each run's marker in one
// statement (at most STEPS_PER_READ steps a run: a long run goes out in several flushes), build
// the spans (lib/tracing/spans.ts), send them in requests of at most MAX_SPANS spans with the
// official OTLP exporter, renewing the leases just before when a third of them is gone, and only when the endpoint accepted a
// request move its runs' markers. A failed request of several runs is sent again one run at a time
// (a run the endpoint refuses, say too large, must not hold up the others); a run that fails alone
// backs off (trace_exports.retry_at, doubling up to MAX_BACKOFF_MS), and when a lone run fails
// first the endpoint is taken as down: this exporter backs off too (pending runs wait in memory,
// the sweep pauses). A worker that dies between a commit and that moment leaves the marker behind:
// the sweep (every SWEEP_MS, one worker at a time) finds runs behind their markers from the
// markers themselves, plus runs never claimed among running runs and runs that ended in the last
// SWEEP_WINDOW_MS (through indexes), oldest first, and exports them the same way. Ids are
// deterministic, so what is sent twice (a lease that ran out mid-export) carries the same ids;
// backends do not all merge such duplicates (docs/observability.md).
import { ExportResultCode } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import type { Pool } from "../db/pool.ts";
import { readRunTraces } from "../db/sql/readRunTraces.ts";
import {
  claimTraceExports,
  findTraceBacklog,
  markTraceExported,
  pruneTraceExports,
  releaseTraceExports,
  renewTraceExports,
  type ClaimedTraceExport,
} from "../db/sql/traceExports.ts";
import type { Logger } from "../lib/logger.ts";
import { createSpanExporter, tracingResource, type TracingConfig } from "../lib/tracing/config.ts";
import { buildRunSpans } from "../lib/tracing/spans.ts";
import type { RunTraceRows } from "../db/sql/readRunTraces.ts";

/** How long committed steps' runs are gathered before one export sends them. */
export const FLUSH_MS = 200;
/** Between two sweeps of this worker. */
export const SWEEP_MS = 5_000;
/** Runs that ended this long ago or less are looked at by the sweep (with every running run). */
export const SWEEP_WINDOW_MS = 15 * 60_000;
/** Runs one export claims at most; the rest wait for the next flush. */
const BATCH_RUNS = 200;
/** Spans one OTLP request holds at most (one run's STEPS_PER_READ steps with many retries may hold more, alone). */
export const MAX_SPANS = 512;
/** Steps of a run one export reads at most; the rest go with the next flush. */
export const STEPS_PER_READ = 128;
/** The first backoff after a failed export (of a run, and of this exporter), doubled per failure in a row. */
export const BACKOFF_MS = 1_000;
/** A run's backoff at most (trace_exports.retry_at). */
const MAX_BACKOFF_MS = 10 * 60_000;
/** This exporter's backoff at most (an endpoint down). */
const MAX_EXPORTER_BACKOFF_MS = 60_000;
/**
 * A claim's lease: longer than an export may take (the exporter gives up after
 * OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT, 10 s by default), and what an exporter that died mid-export
 * delays its runs' spans by at most (then the sweep takes them over).
 */
function leaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000);
  return (Number.isFinite(timeout) && timeout > 0 ? Math.min(timeout, 300_000) : 10_000) + 5_000;
}
/** Markers of runs whose root span went out this long ago are deleted. */
const PRUNE_AFTER_MS = 24 * 3_600_000;
/** The same failure is logged once per this long. */
const REPEAT_LOG_MS = 30_000;

export interface TraceExportOptions {
  pool: Pool;
  log: Logger;
  config: TracingConfig;
  /** default: createSpanExporter(config) */
  exporter?: SpanExporter;
  /** default: tracingResource(config) */
  resource?: Resource;
  flushMs?: number;
  sweepMs?: number;
  sweepWindowMs?: number;
  /** the first backoff after a failure (default BACKOFF_MS) */
  backoffMs?: number;
}

export interface TraceExportStats {
  /** spans the endpoint accepted */
  spans: number;
  /** OTLP requests that succeeded */
  exports: number;
  /** exports that failed (their runs are tried again by the sweep) */
  failures: number;
  /** runs a sweep found behind */
  swept: number;
}

/** Sends spans with `exporter` (its callback as a promise); rejects with what the endpoint said. */
export function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  if (spans.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    exporter.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) resolve();
      else reject(result.error ?? new Error("the OTLP endpoint did not accept the spans"));
    });
  });
}

type Lease = { runId: string; token: string };

export class TraceExport {
  readonly stats: TraceExportStats = { spans: 0, exports: 0, failures: 0, swept: 0 };
  private readonly pending = new Set<string>();
  /** the runs the flush under way exports (those pending when it started, and those it read in part) */
  private due: Set<string> | null = null;
  private flushTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastLog = new Map<string, number>();
  private readonly flushMs: number;
  private readonly sweepMs: number;
  private readonly sweepWindowMs: number;
  private readonly backoffMs: number;
  private readonly leaseMs = leaseMs();
  /** exports that failed in a row with the endpoint taken as down, and until when this exporter waits */
  private downCount = 0;
  private backoffUntil = 0;

  private readonly opts: TraceExportOptions;
  private readonly exporter: SpanExporter;
  private readonly resource: Resource;

  private constructor(opts: TraceExportOptions, exporter: SpanExporter, resource: Resource) {
    this.opts = opts;
    this.exporter = exporter;
    this.resource = resource;
    this.flushMs = opts.flushMs ?? FLUSH_MS;
    this.sweepMs = opts.sweepMs ?? SWEEP_MS;
    this.sweepWindowMs = opts.sweepWindowMs ?? SWEEP_WINDOW_MS;
    this.backoffMs = opts.backoffMs ?? BACKOFF_MS;
  }

  static async create(opts: TraceExportOptions): Promise<TraceExport> {
    const exporter = opts.exporter ?? (await createSpanExporter(opts.config));
    const resource = opts.resource ?? (await tracingResource(opts.config));
    return new TraceExport(opts, exporter, resource);
  }

  /** A step of `runId` committed: its spans go out with the next flush. Never waits, never throws. */
  afterCommit(runId: string): void {
    if (this.stopped) return;
    this.pending.add(runId);
    this.schedule(this.flushMs);
  }

  private schedule(ms: number): void {
    this.flushTimer ??= setTimeout(
      () => {
        this.flushTimer = undefined;
        void this.serially(() => this.flush()); // never rejects: serially logs
      },
      Math.max(ms, this.backoffUntil - Date.now()),
    );
  }

  /** Starts the sweep. */
  start(): void {
    const tick = () => {
      this.sweepTimer = setTimeout(() => {
        void this.serially(() => this.sweep()).then(() => {
          if (!this.stopped) tick();
        });
      }, this.sweepMs);
      this.sweepTimer.unref?.();
    };
    tick();
  }

  /**
   * Stops the timers, sends what is pending within `withinMs` (unless the endpoint is down: then
   * the sweep of a worker still running sends it), and shuts the exporter down.
   */
  async stop(withinMs = 4_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.sweepTimer);
    this.flushTimer = undefined;
    const deadline = Date.now() + withinMs;
    await this.serially(() => this.flush(deadline, true));
    await this.exporter.shutdown().catch(() => undefined);
  }

  /** Runs one flush or sweep at a time; a failure is logged, never thrown. */
  private serially(fn: () => Promise<unknown>): Promise<void> {
    this.running = this.running.then(fn).then(
      () => undefined,
      (error: unknown) => this.warn("export", `traces: ${(error as Error).message}`),
    );
    return this.running;
  }

  /**
   * Exports the runs pending when it starts, in batches of BATCH_RUNS (a run read in part goes on
   * in the same flush). Runs whose steps commit meanwhile wait for the next flush, FLUSH_MS later
   * (afterCommit scheduled it): a flush that went on with them would export again at once, a run's
   * every step or two one claim, read, request and mark, on the steps' connections. `drain`
   * (stop): until none is pending.
   */
  private async flush(deadline = Infinity, drain = false): Promise<void> {
    const due = new Set(this.pending);
    this.due = due;
    try {
      while (this.pending.size > 0 && Date.now() < deadline) {
        if (Date.now() < this.backoffUntil) {
          // the endpoint is down: the pending runs wait (in memory) for the backoff's end
          if (!this.stopped) this.schedule(this.flushMs);
          return;
        }
        const ids = [...this.pending].filter((id) => drain || due.has(id)).slice(0, BATCH_RUNS);
        if (ids.length === 0) break;
        for (const id of ids) {
          this.pending.delete(id);
          due.delete(id);
        }
        await this.exportRuns(ids);
      }
    } finally {
      this.due = null;
    }
    if (this.pending.size > 0 && !this.stopped) this.schedule(this.flushMs);
  }

  /** One sweep: runs found behind their markers are exported; old markers are pruned. */
  async sweep(): Promise<number> {
    if (Date.now() < this.backoffUntil) return 0;
    const behind = await findTraceBacklog(this.opts.pool, this.sweepWindowMs, BATCH_RUNS);
    if (behind.length > 0) {
      this.stats.swept += behind.length;
      await this.exportRuns(behind);
    }
    if (Math.random() < 0.01) await pruneTraceExports(this.opts.pool, PRUNE_AFTER_MS);
    return behind.length;
  }

  /**
   * Exports the spans of `runIds` past their markers: claims them, reads, sends, marks. Returns
   * the runs it could not claim (`busy`: another exporter holds them, or they back off; the sweep
   * comes back to them) and how many spans went out. A run read only in part (STEPS_PER_READ) goes
   * on with the next flush.
   */
  async exportRuns(runIds: readonly string[]): Promise<{ spans: number; busy: string[] }> {
    const { pool } = this.opts;
    let claimed: ClaimedTraceExport[];
    let leasedAt = 0;
    try {
      leasedAt = Date.now();
      claimed = await claimTraceExports(pool, runIds, this.leaseMs);
    } catch (error) {
      // a deadlock, a timeout or an outage alike: the sweep tries again
      this.warn("db", `traces: could not claim runs for export (${(error as Error).message}); the sweep tries again`);
      return { spans: 0, busy: [] };
    }
    const got = new Set(claimed.map((c) => c.run_id));
    const busy = runIds.filter((id) => !got.has(id.toLowerCase()));
    if (claimed.length === 0) return { spans: 0, busy };
    const leases = new Map(claimed.map((c) => [c.run_id, c]));
    let rows: RunTraceRows[];
    try {
      rows = await readRunTraces(
        pool,
        claimed.map((c) => ({ runId: c.run_id, afterSeq: c.exported_through_seq })),
        STEPS_PER_READ,
      );
    } catch (error) {
      await releaseTraceExports(pool, claimed.map(lease)).catch(() => undefined);
      this.warn("db", `traces: could not read the steps of ${claimed.length} run(s) (${(error as Error).message}); the sweep tries again`);
      return { spans: 0, busy };
    }
    // runs gone meanwhile: nothing to send
    const read = new Set(rows.map((r) => r.id));
    const gone = claimed.filter((c) => !read.has(c.run_id));
    if (gone.length > 0) await releaseTraceExports(pool, gone.map(lease)).catch(() => undefined);

    // each run's spans, then requests of at most MAX_SPANS spans (a run is never split)
    const items: RunSpans[] = rows.map((run) => {
      const claim = leases.get(run.id)!;
      const last = run.through_seq === run.last_seq;
      const root = last && run.finished_us !== null && !claim.root_exported;
      return {
        runId: run.id,
        token: claim.token,
        leasedAt,
        spans: buildRunSpans(run, { resource: this.resource, genAiLatest: this.opts.config.genAiLatest, root }),
        throughSeq: run.through_seq,
        rootExported: last && run.finished_us !== null,
        more: !last,
      };
    });
    const groups: RunSpans[][] = [];
    let size = Infinity;
    for (const item of items) {
      if (size + item.spans.length > MAX_SPANS) {
        groups.push([]);
        size = 0;
      }
      groups[groups.length - 1]!.push(item);
      size += item.spans.length;
    }
    let sent = 0;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      const outcome = await this.send(group, group.length > 1);
      if (outcome === "down") {
        // the rest waits for the endpoint with this exporter (they did not fail themselves)
        const rest = groups.slice(g + 1).flat();
        await releaseTraceExports(pool, rest).catch(() => undefined);
        for (const r of rest) this.requeue(r.runId);
        break;
      }
      sent += outcome;
    }
    return { spans: sent, busy };
  }

  /**
   * Sends one request of runs and marks them; a failed request of several runs (`isolate`) is sent
   * again one run at a time. Returns the spans accepted, or "down" when the endpoint refused a
   * lone run before accepting any (the caller's runs are released; this exporter backs off).
   */
  private async send(group: RunSpans[], isolate: boolean): Promise<number | "down"> {
    const { pool } = this.opts;
    // renewed just before when a third of the lease is gone (a long read, a request that failed
    // first): another exporter must not take these runs mid-send
    let mine = group;
    if (group.some((r) => Date.now() - r.leasedAt > this.leaseMs / 3)) {
      let held: Map<string, string>;
      const at = Date.now();
      try {
        held = await renewTraceExports(pool, group, this.leaseMs);
      } catch (error) {
        await releaseTraceExports(pool, group).catch(() => undefined);
        this.warn("db", `traces: could not renew the leases of ${group.length} run(s) (${(error as Error).message}); the sweep tries again`);
        return 0;
      }
      mine = group.filter((r) => held.has(r.runId)).map((r) => ({ ...r, token: held.get(r.runId)!, leasedAt: at }));
    }
    if (mine.length === 0) return 0;
    const spans = mine.flatMap((r) => r.spans);
    try {
      await exportSpans(this.exporter, spans);
    } catch (error) {
      this.stats.failures++;
      if (isolate && mine.length > 1) {
        // still leased (their tokens renewed above): each is sent alone
        let accepted = 0;
        for (let i = 0; i < mine.length; i++) {
          const outcome = await this.send([mine[i]!], false);
          if (outcome === "down" && accepted === 0) {
            const rest = mine.slice(i + 1);
            await releaseTraceExports(pool, rest).catch(() => undefined);
            for (const r of rest) this.requeue(r.runId);
            return "down";
          }
          if (outcome !== "down") accepted += outcome;
          else {
            // the endpoint is up (it took another run): only that run backs off, not this exporter
            this.downCount = 0;
            this.backoffUntil = 0;
          }
        }
        return accepted;
      }
      await releaseTraceExports(pool, mine, this.runBackoff()).catch(() => undefined);
      this.downCount++;
      this.backoffUntil = Date.now() + Math.min(MAX_EXPORTER_BACKOFF_MS, this.backoffMs * 2 ** (this.downCount - 1));
      this.warn(
        "export",
        `traces: the OTLP endpoint did not take the spans of ${mine.length} run(s) (${(error as Error).message}); ` +
          `trying again in ${this.backoffUntil - Date.now()} ms (the runs back off, the sweep sends them)`,
      );
      return "down";
    }
    this.downCount = 0;
    this.backoffUntil = 0;
    this.stats.spans += spans.length;
    if (spans.length > 0) this.stats.exports++;
    try {
      await markTraceExported(pool, mine);
    } catch (error) {
      // sent but not recorded: the lease runs out and the spans are sent again (the same ids)
      this.warn("db", `traces: could not record the export of ${mine.length} run(s) (${(error as Error).message})`);
      return spans.length;
    }
    for (const r of mine) {
      if (!r.more) continue;
      this.requeue(r.runId);
      this.due?.add(r.runId); // the rest of its steps go on in this flush
    }
    return spans.length;
  }

  /** `runId` goes with the next flush (during stop() too). */
  private requeue(runId: string): void {
    this.pending.add(runId);
    if (!this.stopped) this.schedule(this.flushMs);
  }

  private runBackoff(): { backoffMs: number; maxBackoffMs: number } {
    return { backoffMs: this.backoffMs, maxBackoffMs: MAX_BACKOFF_MS };
  }

  private warn(key: string, message: string): void {
    const now = Date.now();
    if ((this.lastLog.get(key) ?? 0) + REPEAT_LOG_MS > now) return;
    this.lastLog.set(key, now);
    this.opts.log.warn(message);
  }
}

interface RunSpans extends Lease {
  /** when its lease was taken or renewed (this process's clock) */
  leasedAt: number;
  spans: ReadableSpan[];
  throughSeq: number;
  rootExported: boolean;
  /** read in part: the rest goes with the next flush */
  more: boolean;
}

function lease(c: ClaimedTraceExport): Lease {
  return { runId: c.run_id, token: c.token };
}
