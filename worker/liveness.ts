// This worker's liveness connection, its crash sweeper and its cancel listener (see the
// comment above everruns_private.workers in db/migrations/000001_baseline.sql). One dedicated
// connection does all three, so a busy job pool never delays recovery.
//
// A `NOTIFY everruns:cancel` is only a hint: any session may send one (NOTIFY needs no right on
// anything), and aborting a step that was not cancelled makes it run again, repeating its side
// effects. So a step is aborted only once the database says its run is cancelled: the run ids
// notified meanwhile are checked in one query at a time on this connection (a flood of forged
// notifications costs one query per batch, and a sweep waits for at most one of them).
import { hostname } from "node:os";
import type pg from "pg";
import { createClient } from "../db/connection-target.ts";
import { dbTimeouts, isUuid, timeoutOptions } from "../db/pool.ts";
import { cancelledRuns } from "../db/sql/cancelledRuns.ts";
import { listen } from "../db/sql/listen.ts";
import { deregisterWorker, registerWorker, repairOrphanedRuns, sweepDeadWorkers } from "../db/sql/workerLiveness.ts";
import type { Logger } from "../lib/logger.ts";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";

export interface LivenessOptions {
  databaseUrl: string;
  poolId: string;
  concurrency: number;
  /** The dedicated workspace this pool serves (everruns worker --workspace); unset: a shared pool. */
  workspaceId?: string;
  log: Logger;
  /** Called for a run whose cancellation the database confirmed after a NOTIFY everruns:cancel. */
  onCancel: (runId: string) => void;
  /**
   * Given: this connection also LISTENs on graphile-worker's `jobs:insert` and calls this with the
   * count it announces (behind a transaction-mode pooler, graphile-worker's own LISTEN hears nothing).
   */
  onJobsAdded?: (count: number) => void;
  /** How often to look for dead workers' jobs. */
  sweepIntervalMs?: number;
  /** A lock younger than this is never swept (covers a new pool's first milliseconds). */
  sweepGraceMs?: number;
}

/** Cancel notifications checked per query, and at most waiting to be checked. */
const CANCEL_CHECK_BATCH = 500;
/** Delays between tries to get a lost liveness connection back. */
const RECONNECT_BACKOFF: BackoffPolicy = { initial_delay_ms: 500, max_delay_ms: 5_000, multiplier: 2 };
const MAX_CANCEL_HINTS = 10_000;
/** graphile-worker's new-job channel (add_job, add_jobs; our sweeper too): payload `{"count": n}`. */
const JOBS_CHANNEL = "jobs:insert";

/** The number of jobs a `jobs:insert` payload announces: at least 1 (a payload we cannot read still means "look"). */
function announcedJobs(payload: string | undefined): number {
  try {
    const count = (JSON.parse(payload ?? "") as { count?: unknown }).count;
    return typeof count === "number" && Number.isInteger(count) && count > 0 ? Math.min(count, 10_000) : 1;
  } catch {
    return 1;
  }
}

export class Liveness {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private sweeping = false;
  private sweeps = 0;
  /** Run ids notified as cancelled, not yet checked. */
  private readonly cancelHints = new Set<string>();
  private checkingCancels = false;
  private readonly opts: Required<Omit<LivenessOptions, "onJobsAdded" | "workspaceId">> & Pick<LivenessOptions, "onJobsAdded" | "workspaceId">;
  /** Resolves once this pool is registered as alive. */
  readonly ready: Promise<void>;

  constructor(opts: LivenessOptions) {
    this.opts = { sweepIntervalMs: 200, sweepGraceMs: 250, ...opts };
    this.ready = this.connect();
    this.ready.catch(() => undefined);
  }

  private async connect(): Promise<void> {
    // the engine's timeouts: a sweep stuck on a lock must not stall this pool's liveness for good;
    // a URL with several hosts goes to the writable one (db/connection-target.ts)
    const client = createClient(withoutApplicationName(this.opts.databaseUrl), {
      application_name: `everruns-worker:${this.opts.poolId}`,
      keepAlive: true,
      ...timeoutOptions(dbTimeouts()),
    });
    client.on("error", (error) => this.opts.log.warn(`liveness connection error: ${error.message}`));
    client.on("end", () => {
      if (this.client !== client) return; // never established (connect() fails and says so), or stopped
      this.client = null;
      if (!this.stopping) {
        this.opts.log.warn("liveness connection lost; reconnecting (meanwhile other workers may take this worker's jobs)");
        void this.reconnect();
      }
    });
    client.on("notification", (msg) => {
      if (msg.channel === "everruns:cancel" && msg.payload) this.cancelHint(msg.payload);
      else if (msg.channel === JOBS_CHANNEL) this.opts.onJobsAdded?.(announcedJobs(msg.payload));
    });
    try {
      await client.connect();
      await registerWorker(client, this.opts.poolId, hostname(), process.pid, this.opts.concurrency, this.opts.workspaceId);
      await listen(client, this.opts.onJobsAdded ? ["everruns:cancel", JOBS_CHANNEL] : ["everruns:cancel"]);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopping) {
      // stop() came while this connection was being made: it must not keep the pool alive
      await deregisterWorker(client, this.opts.poolId).catch(() => undefined);
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    if (!this.timer) this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs);
  }

  /** Reconnects with backoff until it succeeds or stop() is called; logs the first failure only. */
  private async reconnect(): Promise<void> {
    for (let failures = 1; !this.stopping; failures++) {
      await new Promise((resolve) => setTimeout(resolve, backoffMs(RECONNECT_BACKOFF, failures)));
      if (this.stopping) return;
      try {
        await this.connect();
        if (failures > 1 && !this.stopping) this.opts.log.info(`liveness connection back after ${failures} tries`);
        return;
      } catch (error) {
        if (failures === 1) this.opts.log.warn(`liveness reconnect failed: ${(error as Error).message}; retrying with backoff`);
      }
    }
  }

  private cancelHint(payload: string): void {
    if (!isUuid(payload)) {
      this.opts.log.warn(`ignored an everruns:cancel notification that names no run (${JSON.stringify(payload.slice(0, 64))})`);
      return;
    }
    if (this.cancelHints.size >= MAX_CANCEL_HINTS) return; // a flood: the fence still stops a cancelled run's step at its commit
    this.cancelHints.add(payload.toLowerCase());
    void this.checkCancels();
  }

  /** Aborts the steps of the hinted runs that are really cancelled; never throws. */
  private async checkCancels(): Promise<void> {
    if (this.checkingCancels) return; // the running check loops until no hint is left
    this.checkingCancels = true;
    try {
      while (this.cancelHints.size > 0) {
        const client = this.client;
        const runIds = [...this.cancelHints].slice(0, CANCEL_CHECK_BATCH);
        for (const runId of runIds) this.cancelHints.delete(runId);
        if (!client || this.stopping) continue;
        let cancelled: string[];
        try {
          cancelled = await cancelledRuns(client, runIds);
        } catch (error) {
          // not aborted: a cancelled run's step is still fenced out at its commit
          this.opts.log.warn(`could not check the cancellation of ${runIds.length} run(s): ${(error as Error).message}`);
          continue;
        }
        for (const runId of cancelled) this.opts.onCancel(runId);
        if (cancelled.length < runIds.length) {
          const ignored = runIds.filter((runId) => !cancelled.includes(runId));
          this.opts.log.warn(
            `ignored everruns:cancel for ${ignored.length} run(s) that are not cancelled (a NOTIFY not sent by everruns.cancel_run): ${ignored.slice(0, 5).join(", ")}`,
          );
        }
      }
    } finally {
      this.checkingCancels = false;
    }
  }

  private async sweep(): Promise<void> {
    const client = this.client;
    if (!client || this.sweeping || this.stopping) return;
    this.sweeping = true;
    try {
      const freed = await sweepDeadWorkers(client, this.opts.sweepGraceMs);
      if (freed.length > 0) this.opts.log.info(`freed the jobs of dead worker pool(s) ${freed.join(", ")}`);
      // about every second: re-enqueue any run left without a runnable job. The database runs it at
      // most every 5 s across all workers (repair_orphaned_runs, 000005), however short-lived they are.
      if (++this.sweeps % 5 === 0) {
        const repaired = await repairOrphanedRuns(client);
        if (repaired > 0) this.opts.log.warn(`re-enqueued ${repaired} run(s) that had no job`);
      }
    } catch (error) {
      this.opts.log.warn(`sweep failed: ${(error as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** Stops sweeping and deregisters. Call last: until then this pool's jobs are protected. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.client = null;
    if (!client) return;
    await deregisterWorker(client, this.opts.poolId).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * The sweepers may recognise a liveness session by its application_name (see live_workers), and
 * pg lets a URL's application_name win over the one a client is given: drop it from the URL. A
 * URL that WHATWG URL cannot parse (a socket path with credentials and no host) is left as is.
 */
export function withoutApplicationName(databaseUrl: string): string {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return withoutParam(databaseUrl, "application_name");
  }
  if (!url.searchParams.has("application_name")) return databaseUrl;
  url.searchParams.delete("application_name");
  return url.toString();
}

/** `name` dropped from a URL's query by hand: for what WHATWG URL cannot parse (a list of hosts). */
function withoutParam(databaseUrl: string, name: string): string {
  const m = /^([^?#]*)\?([^#]*)(#.*)?$/.exec(databaseUrl);
  if (!m) return databaseUrl;
  const params = m[2]!.split("&").filter((p) => p !== "");
  const kept = params.filter((p) => p.split("=")[0] !== name);
  if (kept.length === params.length) return databaseUrl;
  return `${m[1]!}${kept.length > 0 ? `?${kept.join("&")}` : ""}${m[3] ?? ""}`;
}
