// This worker's liveness connection, its crash sweeper and its cancel listener (see the
// comment above everruns_private.workers in db/migrations/000001_baseline.sql). One dedicated
// connection does all three, so a busy job pool never delays recovery.
import { hostname } from "node:os";
import pg from "pg";
import { listen } from "../db/sql/listen.ts";
import { deregisterWorker, registerWorker, repairOrphanedRuns, sweepDeadWorkers } from "../db/sql/workerLiveness.ts";
import type { Logger } from "../lib/logger.ts";

export interface LivenessOptions {
  databaseUrl: string;
  poolId: string;
  concurrency: number;
  log: Logger;
  onCancel: (runId: string) => void;
  /** How often to look for dead workers' jobs. */
  sweepIntervalMs?: number;
  /** A lock younger than this is never swept (covers a new pool's first milliseconds). */
  sweepGraceMs?: number;
}

export class Liveness {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private sweeping = false;
  private sweeps = 0;
  private readonly opts: Required<LivenessOptions>;
  /** Resolves once this pool is registered as alive. */
  readonly ready: Promise<void>;

  constructor(opts: LivenessOptions) {
    this.opts = { sweepIntervalMs: 200, sweepGraceMs: 250, ...opts };
    this.ready = this.connect();
    this.ready.catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: withoutApplicationName(this.opts.databaseUrl), application_name: `everruns-worker:${this.opts.poolId}` });
    client.on("error", (error) => this.opts.log.warn(`liveness connection error: ${error.message}`));
    client.on("end", () => {
      if (this.client === client) this.client = null;
      if (!this.stopping) {
        this.opts.log.warn("liveness connection lost; reconnecting (meanwhile other workers may take this worker's jobs)");
        setTimeout(() => void this.connect().catch((e: Error) => this.opts.log.error(`liveness reconnect failed: ${e.message}`)), 500);
      }
    });
    client.on("notification", (msg) => {
      if (msg.channel === "everruns:cancel" && msg.payload) this.opts.onCancel(msg.payload);
    });
    await client.connect();
    await registerWorker(client, this.opts.poolId, hostname(), process.pid, this.opts.concurrency);
    await listen(client, ["everruns:cancel"]);
    this.client = client;
    if (!this.timer) this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs);
  }

  private async sweep(): Promise<void> {
    const client = this.client;
    if (!client || this.sweeping || this.stopping) return;
    this.sweeping = true;
    try {
      const freed = await sweepDeadWorkers(client, this.opts.sweepGraceMs);
      if (freed.length > 0) this.opts.log.info(`freed the jobs of dead worker pool(s) ${freed.join(", ")}`);
      // about every 10 s: re-enqueue any run left without a job (see repair_orphaned_runs)
      if (++this.sweeps % 50 === 0) {
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
    return databaseUrl;
  }
  if (!url.searchParams.has("application_name")) return databaseUrl;
  url.searchParams.delete("application_name");
  return url.toString();
}
