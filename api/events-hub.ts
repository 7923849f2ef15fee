// One LISTEN connection per API process, fanned out in memory to every SSE client and GraphQL
// subscriber.
//
// Why this shape: NOTIFY carries ids only ("<run_id>:<last seq>" on everruns:events, "<run_id>"
// on everruns:runs). A run watched by N clients has one *feed*: on a notification the feed reads
// the new rows once (`seq > fetched`, the primary key) and hands the same row objects to all N,
// so a burst of events costs one query per statement, not one per client. Each subscriber keeps
// its own cursor and drops what it has already seen.
//
// No gap and no duplicate at the seam between replay and live: a subscriber registers with the
// feed first, waits until the feed knows where it starts (`fetched` = runs.event_seq read after
// registration), and only then replays from the database. Everything at or below `fetched` was
// committed before the replay's snapshot, so the replay has it; everything above it reaches the
// feed through a notification sent after registration. The subscriber dedupes by seq and, as a
// last line of defence, fills any hole it sees from the database before going on.
//
// A dropped LISTEN connection loses the notifications sent while it was down. It is reconnected
// with backoff, and then every feed sweeps the database past its cursor and every run watcher is
// told about runs that changed since the connection was last known alive, so nothing is missed.
import pg from "pg";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { createClient } from "../db/connection-target.ts";
import { dbTimeouts, timeoutOptions, type Pool } from "../db/pool.ts";
import { databaseNow } from "../db/sql/databaseNow.ts";
import { listen } from "../db/sql/listen.ts";
import { readEventSeq } from "../db/sql/readEventSeq.ts";
import { readLastEvent } from "../db/sql/readLastEvent.ts";
import { readRunEvents, type RunEventRow } from "../db/sql/readRunEvents.ts";
import { readRunsUpdatedSince } from "../db/sql/readRunsUpdatedSince.ts";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";

export type { RunEventRow } from "../db/sql/readRunEvents.ts";

/** Events that end a run's stream: nothing follows them (AG-UI ordering rules). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(["RUN_FINISHED", "RUN_ERROR"]);

export const EVENTS_CHANNEL = "everruns:events";
export const RUNS_CHANNEL = "everruns:runs";

export interface EventsHubOptions {
  databaseUrl: string;
  /** Where rows are read (shared with the rest of the API). */
  pool: Pool;
  log: Logger;
  /** How often the LISTEN connection is checked with a query (a dead TCP peer is otherwise silent). */
  pingIntervalMs?: number;
  /** Rows per read when replaying or catching up. */
  pageSize?: number;
  /**
   * `everruns:runs` notifications of one run within this window wake its watchers once (a run
   * that commits a step every few ms is re-read at most this often per watcher; 0: at once).
   */
  runCoalesceMs?: number;
}

/** An async iterator that can also be closed from outside (a client went away). */
export interface Subscription<T> extends AsyncIterableIterator<T> {
  close(): void;
}

type Deliver = (rows: RunEventRow[]) => void;

class RunFeed {
  readonly subscribers = new Set<Deliver>();
  /** The last seq this feed has read and delivered; set from runs.event_seq when it starts. */
  fetched = 0;
  /** The highest seq a notification announced. */
  target = 0;
  /** Read until no rows come back (after a reconnect, or when a page was full). */
  sweep = false;
  pumping = false;
  closed = false;
  readonly runId: string;
  readonly ready: Promise<boolean>;
  constructor(runId: string, start: Promise<number | null>) {
    this.runId = runId;
    this.ready = start.then((seq) => {
      if (seq === null) return false;
      this.fetched = seq;
      return true;
    });
  }
  deliver(rows: RunEventRow[]): void {
    for (const deliver of this.subscribers) deliver(rows);
  }
}

/** A single-consumer mailbox: push never blocks, take waits until something arrives or the signal aborts. */
class Inbox<T> {
  private items: T[] = [];
  private waiter: (() => void) | null = null;
  readonly push = (item: T): void => {
    this.items.push(item);
    this.wake();
  };
  wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
  async take(signal: AbortSignal): Promise<T[] | null> {
    while (this.items.length === 0) {
      if (signal.aborted) return null;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const items = this.items;
    this.items = [];
    return items;
  }
}

/**
 * Wraps an async generator so that `return()` works even while the generator is parked in an
 * `await` (a plain async generator queues `return()` until its next `yield`, which for an idle
 * run may be never).
 */
function closable<T>(make: (signal: AbortSignal) => AsyncGenerator<T, void, undefined>, onAbort: () => void): Subscription<T> {
  const controller = new AbortController();
  const generator = make(controller.signal);
  const close = () => {
    if (controller.signal.aborted) return;
    controller.abort();
    onAbort();
  };
  return {
    next: () => generator.next(),
    async return(value?: unknown) {
      close();
      await generator.return(undefined);
      return { done: true, value: value as T };
    },
    async throw(error?: unknown) {
      close();
      return generator.throw(error);
    },
    close,
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Reconnects of the LISTEN connection: 100-200 ms, then doubling (half of it jitter) up to 5 s. */
const RECONNECT_BACKOFF: BackoffPolicy = { initial_delay_ms: 200, max_delay_ms: 5000, multiplier: 2 };

/**
 * The first runUpdated message of a workspace-wide watch (no run given): no run has this id
 * (the nil UUID); it says the watch is registered, so a client that listed runs before can list
 * them again and miss nothing in between.
 */
export const WATCH_STARTED = "00000000-0000-0000-0000-000000000000";

export class EventsHub {
  private readonly opts: Required<EventsHubOptions>;
  private client: pg.Client | null = null;
  private readonly feeds = new Map<string, RunFeed>();
  /** Run watchers by run id; "*" watches every run. */
  private readonly runWatchers = new Map<string, Set<(runId: string) => void>>();
  /** Runs announced on everruns:runs and not yet handed to watchers: run id → workspace id. */
  private readonly pendingRuns = new Map<string, string | null>();
  private pendingTimer: NodeJS.Timeout | null = null;
  private lastAliveAt: string | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly stats = { notifications: 0, reads: 0, reconnects: 0 };

  constructor(opts: EventsHubOptions) {
    this.opts = { pingIntervalMs: 5000, pageSize: 500, runCoalesceMs: 50, ...opts };
  }

  /** Connects and LISTENs; rejects when the database cannot be reached at start. */
  async start(): Promise<void> {
    await this.connect();
    this.pingTimer = setInterval(() => void this.ping(), this.opts.pingIntervalMs);
    this.pingTimer.unref();
  }

  get listening(): boolean {
    return this.client !== null;
  }

  get openFeeds(): number {
    return this.feeds.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    for (const feed of this.feeds.values()) feed.closed = true;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    // a URL with several hosts goes to the writable one (db/connection-target.ts); the engine's
    // timeouts bound its reads, and the idle LISTEN itself runs no statement they could cut
    const client = createClient(this.opts.databaseUrl, { application_name: "everruns-api-listen", keepAlive: true, ...timeoutOptions(dbTimeouts()) });
    client.on("notification", (msg) => this.onNotification(msg.channel, msg.payload ?? ""));
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    try {
      await client.connect();
      await listen(client, [EVENTS_CHANNEL, RUNS_CHANNEL]);
      const since = this.lastAliveAt;
      this.lastAliveAt = await databaseNow(client);
      if (this.closed) {
        await client.end();
        return;
      }
      this.client = client;
      if (since !== null) this.resync(since);
    } catch (error) {
      client.removeAllListeners("end");
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.removeAllListeners("end");
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.opts.log.warn(`events hub: LISTEN connection lost (${error.message}); reconnecting`);
    this.scheduleReconnect(1);
  }

  /** Reconnects after `failures` failed tries (1: the connection was just lost). */
  private scheduleReconnect(failures: number): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => void this.reconnect(failures), backoffMs(RECONNECT_BACKOFF, failures));
  }

  /** One reconnect try (the `failures`th); schedules the next when it fails. Never rejects. */
  private async reconnect(failures: number): Promise<void> {
    this.reconnectTimer = null;
    try {
      await this.connect();
      this.stats.reconnects++;
      const after = failures > 1 ? ` after ${failures} tries` : "";
      this.opts.log.info(`events hub: LISTEN connection re-established${after}; caught up from the database`);
    } catch (error) {
      // the first failure only: an outage of a minute is one line, not one per try
      if (failures === 1) this.opts.log.warn(`events hub: reconnect failed (${(error as Error).message}); retrying with backoff until it is back`);
      this.scheduleReconnect(failures + 1);
    }
  }

  /** A query on the LISTEN connection: proves it alive and records when (database clock). */
  private async ping(): Promise<void> {
    const client = this.client;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.pingIntervalMs} ms`)), this.opts.pingIntervalMs);
      });
      this.lastAliveAt = await Promise.race([databaseNow(client), timeout]);
    } catch (error) {
      this.lost(client, error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** After a reconnect: read past every feed's cursor, and tell watchers what changed meanwhile. */
  private resync(since: string): void {
    for (const feed of this.feeds.values()) {
      feed.sweep = true;
      void this.pump(feed);
    }
    for (const key of this.runWatchers.keys()) if (!key.startsWith("*")) this.notifyRun(key, null);
    if ([...this.runWatchers.keys()].some((key) => key.startsWith("*"))) {
      readRunsUpdatedSince(this.opts.pool, since, 1000).then(
        (runs) => runs.reverse().forEach((run) => this.notifyRun(run.id, run.workspace_id)),
        (error: Error) => this.opts.log.warn(`events hub: could not read runs changed while disconnected: ${error.message}`),
      );
    }
  }

  private onNotification(channel: string, payload: string): void {
    this.stats.notifications++;
    if (channel === EVENTS_CHANNEL) {
      const colon = payload.lastIndexOf(":");
      const feed = this.feeds.get(payload.slice(0, colon));
      if (!feed) return;
      const seq = Number(payload.slice(colon + 1));
      if (Number.isInteger(seq) && seq > feed.target) feed.target = seq;
      else if (!Number.isInteger(seq)) feed.sweep = true;
      void this.pump(feed);
    } else if (channel === RUNS_CHANNEL) {
      // `<run id>:<workspace id>`: since 000013 once per step commit too, so a busy run's
      // notifications are coalesced (one wake-up per run per window, whatever their number)
      const colon = payload.indexOf(":");
      if (colon > 0) this.coalesceRun(payload.slice(0, colon), payload.slice(colon + 1));
    }
  }

  /** Queues a run's wake-up for the end of the coalescing window (nothing but watched runs). */
  private coalesceRun(runId: string, workspaceId: string): void {
    if (!this.runWatchers.has(runId) && !this.runWatchers.has(`*:${workspaceId}`)) return;
    if (this.opts.runCoalesceMs <= 0) return this.notifyRun(runId, workspaceId);
    this.pendingRuns.set(runId, workspaceId);
    if (this.pendingTimer) return;
    this.pendingTimer = setTimeout(() => {
      this.pendingTimer = null;
      const due = [...this.pendingRuns];
      this.pendingRuns.clear();
      for (const [id, workspace] of due) this.notifyRun(id, workspace);
    }, this.opts.runCoalesceMs);
    this.pendingTimer.unref();
  }

  /** Wakes the watchers of the run, and those of every run of its workspace when it is known. */
  private notifyRun(runId: string, workspaceId: string | null): void {
    for (const watch of this.runWatchers.get(runId) ?? []) watch(runId);
    if (workspaceId) for (const watch of this.runWatchers.get(`*:${workspaceId}`) ?? []) watch(runId);
  }

  /** Reads the feed's new rows once and hands them to every subscriber; one pump per feed at a time. */
  private async pump(feed: RunFeed): Promise<void> {
    if (feed.pumping) return;
    feed.pumping = true;
    try {
      if (!(await feed.ready)) return;
      let misses = 0;
      while (!feed.closed && (feed.fetched < feed.target || feed.sweep)) {
        feed.sweep = false;
        this.stats.reads++;
        const rows = await readRunEvents(this.opts.pool, feed.runId, feed.fetched, this.opts.pageSize);
        if (rows.length > 0) {
          misses = 0;
          feed.fetched = rows[rows.length - 1]!.seq;
          feed.deliver(rows);
          if (rows.length === this.opts.pageSize) feed.sweep = true;
        } else if (feed.fetched < feed.target) {
          // Announced but not visible yet to this connection: give the commit a moment.
          if (++misses > 100) {
            this.opts.log.warn(`events hub: run ${feed.runId} announced seq ${feed.target} but its rows stay invisible; giving up on them`);
            feed.target = feed.fetched;
            break;
          }
          await sleep(5);
        }
      }
    } catch (error) {
      if (feed.closed) return;
      this.opts.log.warn(`events hub: reading events of run ${feed.runId} failed (${(error as Error).message}); retrying`);
      feed.sweep = true;
      setTimeout(() => void this.pump(feed), 250).unref();
    } finally {
      feed.pumping = false;
    }
  }

  private feedFor(runId: string): RunFeed {
    let feed = this.feeds.get(runId);
    if (!feed) {
      feed = new RunFeed(runId, readEventSeq(this.opts.pool, runId));
      // a failed start reads as "unknown run" only if the run is really missing: surface errors
      feed.ready.catch(() => undefined);
      this.feeds.set(runId, feed);
    }
    return feed;
  }

  private release(feed: RunFeed, deliver: Deliver): void {
    feed.subscribers.delete(deliver);
    if (feed.subscribers.size === 0 && this.feeds.get(feed.runId) === feed) {
      feed.closed = true;
      this.feeds.delete(feed.runId);
    }
  }

  /**
   * The events of a run after seq `after`: first those already stored, then live ones as they are
   * committed, each exactly once and in order, ending after the run's terminal event. Resuming at
   * the last seq of a log that already ended yields nothing and ends at once.
   * Rejects with NotFoundError when the run does not exist, and with a ValidationError
   * `invalid_cursor` when `after` is past the run's last event (no such seq was ever sent: the
   * stream would wait for events it then skips, terminal one included, forever). `cursorName`
   * is how the caller's client spelt the cursor (`Last-Event-ID`, `after`), for that message.
   */
  async subscribeRunEvents(runId: string, after = 0, { cursorName = "after" }: { cursorName?: string } = {}): Promise<Subscription<RunEventRow>> {
    const feed = this.feedFor(runId);
    const inbox = new Inbox<RunEventRow[]>();
    feed.subscribers.add(inbox.push);
    let exists: boolean;
    try {
      exists = await feed.ready;
    } catch (error) {
      this.release(feed, inbox.push);
      if (this.feeds.get(runId) === feed) this.feeds.delete(runId);
      throw error;
    }
    if (!exists) {
      this.release(feed, inbox.push);
      throw new NotFoundError(`unknown run ${runId}`);
    }
    if (after > feed.fetched) {
      // Past what the feed has read, which may lag the log by a notification: the log itself
      // decides. Read after registering, so no race: the log only grows, a seq a client saw was
      // committed before it asked, and whatever is appended from here on reaches the feed.
      let last: number;
      try {
        last = (await readLastEvent(this.opts.pool, runId))?.seq ?? 0;
      } catch (error) {
        this.release(feed, inbox.push);
        throw error;
      }
      if (after > last) {
        this.release(feed, inbox.push);
        throw new ValidationError(
          `${cursorName} ${after} is past the end of run ${runId}'s event log: its last event is seq ${last}; resume with ${cursorName} ≤ ${last}`,
          { code: "invalid_cursor" },
        );
      }
    }
    const { pool, pageSize } = this.opts;
    const release = () => this.release(feed, inbox.push);
    return closable(
      async function* (signal) {
        try {
          let cursor = after;
          let replayed = 0;
          // 1. replay what is stored
          for (;;) {
            const rows = await readRunEvents(pool, runId, cursor, pageSize);
            for (const row of rows) {
              yield row;
              cursor = row.seq;
              replayed++;
              if (TERMINAL_EVENT_TYPES.has(row.type)) return;
            }
            if (rows.length < pageSize || signal.aborted) break;
          }
          if (replayed === 0 && cursor > 0) {
            // resuming at or past the end: done if the log already ended there
            const last = await readLastEvent(pool, runId);
            if (last && last.seq <= cursor && TERMINAL_EVENT_TYPES.has(last.type)) return;
          }
          // 2. live, deduplicated by seq
          for (;;) {
            const batches = await inbox.take(signal);
            if (batches === null) return;
            for (const rows of batches) {
              for (const row of rows) {
                if (row.seq <= cursor) continue;
                if (row.seq > cursor + 1) {
                  // a hole (should not happen): fill it from the database before going on
                  for (const missing of await readRunEvents(pool, runId, cursor, row.seq - cursor - 1)) {
                    yield missing;
                    cursor = missing.seq;
                    if (TERMINAL_EVENT_TYPES.has(missing.type)) return;
                  }
                }
                yield row;
                cursor = row.seq;
                if (TERMINAL_EVENT_TYPES.has(row.type)) return;
              }
            }
          }
        } finally {
          release();
        }
      },
      () => {
        release();
        inbox.wake();
      },
    );
  }

  /**
   * Ids of runs as they change: created, status changed, a step committed (usage, step count), a
   * retry or hand-back, a re-attempt, a job freed from a dead worker (000013); coalesced per run
   * over `runCoalesceMs`. Of one run, or of every run
   * of workspace `workspaceId` when `runId` is null. A watch of one run yields its id once at the
   * start, so a client can read the current state without racing the first change. (Whether the
   * watcher may see that run is the caller's to check: api/graphql/subscriptions.ts.)
   */
  watchRuns(runId: string | null, workspaceId: string | null = null): Subscription<string> {
    if (runId === null && !workspaceId) throw new Error("watchRuns: watching every run needs a workspace");
    const key = runId ?? `*:${workspaceId}`;
    const inbox = new Inbox<string>();
    let watchers = this.runWatchers.get(key);
    if (!watchers) this.runWatchers.set(key, (watchers = new Set()));
    watchers.add(inbox.push);
    const unwatch = () => {
      const set = this.runWatchers.get(key);
      set?.delete(inbox.push);
      if (set?.size === 0) this.runWatchers.delete(key);
    };
    return closable(
      async function* (signal) {
        try {
          // the run's current state first; a workspace's watcher first hears that it is watching:
          // what it read before now, it reads again (the changes from here on all reach it)
          yield runId ?? WATCH_STARTED;
          for (;;) {
            const ids = await inbox.take(signal);
            if (ids === null) return;
            // several changes of one run in a burst: one re-read is enough
            for (const id of new Set(ids)) yield id;
          }
        } finally {
          unwatch();
        }
      },
      () => {
        unwatch();
        inbox.wake();
      },
    );
  }
}
