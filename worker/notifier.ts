// Sends the notifications that step statements deferred (000017, db/sql/deferredNotifications.ts),
// one worker process's worth together.
//
// Why: a transaction that NOTIFYs holds Postgres's database-wide notify lock through its commit's
// WAL flush, so NOTIFY-ing step commits cannot group-commit (issue 23). Step statements therefore
// commit without notifying and hand their notifications here; this sends everything queued in one
// short transaction that writes nothing else (so no WAL flush), at most one send in flight and at most one per
// window (5 ms by default), so the lock is taken a few hundred times a second at most, each time
// without a flush wait, whatever the commit rate.
//
// A notification is a hint (db/CONVENTIONS.md): listeners re-read from their last seq, and the API
// reads runs updated since its last catch-up on its own. So a send that fails is logged (one line
// per 10 s, with a count) and its batch dropped: retrying would delay fresher ones behind it.
import type { Pool } from "../db/pool.ts";
import { sendNotifications, type Notification } from "../db/sql/deferredNotifications.ts";
import type { Logger } from "../lib/logger.ts";

export interface NotifierOptions {
  pool: Pool;
  log: Logger;
  /** the least time between the starts of two sends, in ms (default 5) */
  windowMs?: number;
}

const EVENTS_CHANNEL = "everruns:events";
const ERROR_LOG_EVERY_MS = 10_000;

export class Notifier {
  /** sent: notifications delivered; batches: sends that succeeded; dropped: notifications lost to failed sends or refused after stop() */
  readonly stats = { sent: 0, batches: 0, dropped: 0 };

  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly windowMs: number;
  /** by dedupe key: channel and payload, or for everruns:events channel and run (the highest seq wins) */
  private queue = new Map<string, Notification>();
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private lastSendAt = -Infinity;
  /** add() calls so far, and how many of them a finished send covered (flush waits on these) */
  private added = 0;
  private settled = 0;
  private stopped = false;
  private failuresUnreported = 0;
  private lastErrorLogAt = -Infinity;

  constructor(opts: NotifierOptions) {
    this.pool = opts.pool;
    this.log = opts.log;
    this.windowMs = opts.windowMs ?? 5;
  }

  /**
   * Queues notifications to send soon. Returns false (and counts them dropped) once stop() has
   * been called: the caller's commit stands, listeners catch up at their next read.
   */
  add(list: readonly Notification[]): boolean {
    if (list.length === 0) return true;
    if (this.stopped) {
      this.stats.dropped += list.length;
      return false;
    }
    for (const n of list) this.enqueue(n);
    this.added++;
    this.schedule();
    return true;
  }

  /**
   * Resolves when everything added before the call has been sent (or dropped), without waiting
   * for the window; what others add meanwhile does not keep it waiting.
   */
  async flush(): Promise<void> {
    const target = this.added;
    while (this.settled < target) {
      if (!this.inFlight) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.send();
      }
      await this.inFlight;
    }
  }

  /** Sends what is queued; later add()s are refused. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }

  private enqueue(n: Notification): void {
    if (n.channel === EVENTS_CHANNEL) {
      // "<run_id>:<last seq>": a listener reads everything up to the highest seq anyway
      const colon = n.payload.lastIndexOf(":");
      const seq = Number(n.payload.slice(colon + 1));
      if (colon > 0 && Number.isInteger(seq)) {
        const key = `${n.channel}\n${n.payload.slice(0, colon)}`;
        const queued = this.queue.get(key);
        if (!queued || Number(queued.payload.slice(queued.payload.lastIndexOf(":") + 1)) < seq) this.queue.set(key, n);
        return;
      }
    }
    this.queue.set(`${n.channel}\n${n.payload}`, n);
  }

  /** Arms the timer for the next send unless a send is in flight (its end arms it) or armed already. */
  private schedule(): void {
    if (this.timer || this.inFlight || this.queue.size === 0) return;
    const wait = Math.max(0, this.lastSendAt + this.windowMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.send();
    }, wait);
  }

  private send(): void {
    const batch = [...this.queue.values()];
    const covers = this.added;
    this.queue = new Map();
    this.lastSendAt = performance.now();
    this.inFlight = sendNotifications(this.pool, batch)
      .then(
        () => {
          this.stats.sent += batch.length;
          if (batch.length > 0) this.stats.batches++;
        },
        (error: unknown) => this.failed(batch.length, error),
      )
      .finally(() => {
        this.settled = covers;
        this.inFlight = null;
        this.schedule();
      });
  }

  private failed(count: number, error: unknown): void {
    this.stats.dropped += count;
    this.failuresUnreported++;
    const now = performance.now();
    if (now - this.lastErrorLogAt < ERROR_LOG_EVERY_MS) return;
    this.log.warn(
      `could not send ${count} deferred notification(s): ${error instanceof Error ? error.message : String(error)} ` +
        `(${this.failuresUnreported} failed send(s) since the last report, ${this.stats.dropped} notification(s) dropped in all); ` +
        `listeners catch up from their last seq, nothing to do unless the database stays unreachable`,
    );
    this.failuresUnreported = 0;
    this.lastErrorLogAt = now;
  }
}
