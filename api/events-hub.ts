// One LISTEN connection per API process, fanned out in memory to every SSE client and GraphQL
// subscriber.
//
// Why this shape: NOTIFY carries ids only ("<run_id>:<last seq>" on everruns:events,
// "<run_id>:<workspace_id>" on everruns:runs). A run watched by N clients has one *feed*: on a
// notification the feed reads the new rows once (`seq > fetched`, the primary key) and hands the
// same row objects to all N, so a burst of events costs one query per statement, not one per
// client. Each subscriber keeps its own cursor and drops what it has already seen.
//
// A notification is only a hint. Workers send them after their commit (a per-process notifier
// coalesces them a few ms later, issue 23), so a worker killed between its commit and that send
// loses them for good, and a dropped LISTEN connection loses what was sent while it was down.
// What a client sees never depends on one arriving: the database is the truth and the hub reads
// it on three occasions.
//   1. A notification: the feed's `target` rises to the announced seq and the feed reads up to it.
//   2. A periodic catch-up every `catchUpMs` (default 1 s): ONE query reads runs.event_seq of
//      every open feed (readEventSeqs) and raises the target of each feed whose log is ahead;
//      when runs are watched, a second query (readRunsUpdatedSince, from the previous tick's
//      database time) wakes the watchers of runs that changed. One or two queries per tick per
//      API process, whatever the number of clients; a tick is skipped while the previous one
//      runs. A lost notification so costs at most catchUpMs of latency, never an event, and
//      `stats.caughtUp` counts the ticks that found a feed behind (hints that were missed or late).
//   3. A reconnect of the LISTEN connection (with backoff): every feed sweeps the database past
//      its cursor and every run watcher is told about runs that changed since the connection was
//      last known alive.
//
// No gap and no duplicate at the seam between replay and live: a subscriber registers with the
// feed first, waits until the feed knows where it starts (`fetched` = runs.event_seq read after
// registration), and only then replays from the database. Everything at or below `fetched` was
// committed before the replay's snapshot, so the replay has it; everything above it reaches the
// feed through a later read (a notification sent after registration, or else the next catch-up,
// which reads runs.event_seq after the commit). The feed reads `seq > fetched` in order and moves
// `fetched` to the last row it delivered, whichever of the three woke it, so each seq is delivered
// once; the subscriber still dedupes by seq and, as a last line of defence, fills any hole it sees
// from the database before going on.
//
// Run watchers are woken, not fed: a wake means "read this run again". The catch-up's
// readRunsUpdatedSince keeps one second of slack for transactions that began before its `since`
// and committed after, so a run that changed near a tick may be woken twice (a harmless re-read);
// a run whose change committed after a tick is seen by the next one, since each tick reads from
// the database time of the tick before it.
import pg from "pg";
import { EverrunsError, NotFoundError, ValidationError } from "../db/errors.ts";
import { createClient } from "../db/connection-target.ts";
import { dbTimeouts, timeoutOptions, type Pool } from "../db/pool.ts";
import { databaseNow } from "../db/sql/databaseNow.ts";
import { markLive, noteDatabaseClock, observeDeliveryLag } from "./metrics.ts";
import { listen } from "../db/sql/listen.ts";
import { readEventSeq } from "../db/sql/readEventSeq.ts";
import { readEventSeqs } from "../db/sql/readEventSeqs.ts";
import { readLastEvent } from "../db/sql/readLastEvent.ts";
import { readRunEvents, type RunEventRow } from "../db/sql/readRunEvents.ts";
import { historyExpiredWhileOpening } from "../db/sql/runHistoryExpiry.ts";
import { readRunsUpdatedSince } from "../db/sql/readRunsUpdatedSince.ts";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";

export type { RunEventRow } from "../db/sql/readRunEvents.ts";

/** Events that end a run's stream: nothing follows them (AG-UI ordering rules). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set(["RUN_FINISHED", "RUN_ERROR"]);

export const EVENTS_CHANNEL = "everruns:events";
export const RUNS_CHANNEL = "everruns:runs";
/** A batch's counters or status changed (000025): payload the batch id. */
export const BATCHES_CHANNEL = "everruns:batches";

/** Wakes its holder when its batch changes (BATCHES_CHANNEL), or when the LISTEN connection came back. */
export interface BatchWaker {
  /** Resolves at the next change since the last call (at once if one came meanwhile), or after `timeoutMs`, or when `signal` aborts. */
  next(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close(): void;
}

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
  /**
   * Every this many ms, read the database for what notifications should have announced and did
   * not (a worker killed between its commit and its notifier's send): at most this much latency
   * per lost notification. 0 disables (then only notifications and reconnects wake the hub).
   */
  catchUpMs?: number;
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
  /** `fetched` is known (the run's event_seq at registration was read). */
  started = false;
  pumping = false;
  closed = false;
  readonly runId: string;
  readonly ready: Promise<boolean>;
  constructor(runId: string, start: Promise<number | null>) {
    this.runId = runId;
    this.ready = start.then((seq) => {
      if (seq === null) return false;
      this.fetched = seq;
      this.started = true;
      return true;
    });
  }
  deliver(rows: RunEventRow[]): void {
    markLive(rows); // /metrics: event delivery lag (api/metrics.ts)
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

/**
 * `ms` before the database time `now` (text of a timestamptz), as an ISO timestamp; `now` itself
 * when it does not parse (an unusual DateStyle): then only the function's second of slack looks back.
 */
function lookBack(now: string, ms: number): string {
  const at = Date.parse(now);
  return Number.isNaN(at) ? now : new Date(at - ms).toISOString();
}

/** Reconnects of the LISTEN connection: 100-200 ms, then doubling (half of it jitter) up to 5 s. */
const RECONNECT_BACKOFF: BackoffPolicy = { initial_delay_ms: 200, max_delay_ms: 5000, multiplier: 2 };

/**
 * The first runUpdated message of a workspace-wide watch (no run given): no run has this id
 * (the nil UUID); it says the watch is registered, so a client that listed runs before can list
 * them again and miss nothing in between.
 */
export const WATCH_STARTED = "00000000-0000-0000-0000-000000000000";

/**
 * Most runs one catch-up tick reads from readRunsUpdatedSince (newest first). Its window is about
 * two ticks (one tick and the function's second of slack); past this many changed runs in it, the
 * oldest, most of which the previous tick already saw, are dropped and a warning is logged once.
 */
const RUNS_CATCH_UP_LIMIT = 5000;

export class EventsHub {
  private readonly opts: Required<EventsHubOptions>;
  private client: pg.Client | null = null;
  private readonly feeds = new Map<string, RunFeed>();
  /** Run watchers by run id; "*" watches every run. */
  private readonly runWatchers = new Map<string, Set<(runId: string) => void>>();
  /** Batch watchers by batch id. */
  private readonly batchWatchers = new Map<string, Set<() => void>>();
  /** Runs announced on everruns:runs and not yet handed to watchers: run id → workspace id. */
  private readonly pendingRuns = new Map<string, string | null>();
  private pendingTimer: NodeJS.Timeout | null = null;
  private lastAliveAt: string | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private catchUpTimer: NodeJS.Timeout | null = null;
  private catchingUp = false;
  /** Database time of the last catch-up tick that completed (null: none since the hub was idle). */
  private catchUpSince: string | null = null;
  /** The current streak of failed catch-up ticks (one warning per streak). */
  private catchUpFailures = 0;
  private runsLimitWarned = false;
  readonly stats = {
    notifications: 0,
    reads: 0,
    reconnects: 0,
    /** Catch-up ticks that queried (a tick with no open feed and no watcher queries nothing). */
    catchUps: 0,
    /** Queries those ticks sent: at most two per tick, whatever the number of clients. */
    catchUpQueries: 0,
    /** Ticks that found a feed's log ahead of what notifications had announced. */
    caughtUp: 0,
    /** Feeds those ticks found behind (one per feed per tick). */
    caughtUpFeeds: 0,
    /** Watched runs a tick woke from readRunsUpdatedSince (includes re-wakes within its slack). */
    catchUpRunWakes: 0,
  };

  constructor(opts: EventsHubOptions) {
    this.opts = { pingIntervalMs: 5000, pageSize: 500, runCoalesceMs: 50, catchUpMs: 1000, ...opts };
  }

  /** Connects and LISTENs; rejects when the database cannot be reached at start. */
  async start(): Promise<void> {
    await this.connect();
    this.pingTimer = setInterval(() => void this.ping(), this.opts.pingIntervalMs);
    this.pingTimer.unref();
    if (this.opts.catchUpMs > 0) {
      this.catchUpTimer = setInterval(() => void this.catchUp(), this.opts.catchUpMs);
      this.catchUpTimer.unref();
    }
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
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
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
      await listen(client, [EVENTS_CHANNEL, RUNS_CHANNEL, BATCHES_CHANNEL]);
      const since = this.lastAliveAt;
      const sentAt = Date.now();
      this.lastAliveAt = await databaseNow(client);
      noteDatabaseClock(this.lastAliveAt, sentAt, Date.now()); // /metrics: event delivery lag
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
      const sentAt = Date.now();
      this.lastAliveAt = await Promise.race([databaseNow(client), timeout]);
      noteDatabaseClock(this.lastAliveAt, sentAt, Date.now()); // /metrics: event delivery lag
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
    for (const watchers of this.batchWatchers.values()) for (const wake of watchers) wake();
    if ([...this.runWatchers.keys()].some((key) => key.startsWith("*"))) {
      readRunsUpdatedSince(this.opts.pool, since, 1000).then(
        (runs) => runs.reverse().forEach((run) => this.notifyRun(run.id, run.workspace_id)),
        (error: Error) => this.opts.log.warn(`events hub: could not read runs changed while disconnected: ${error.message}`),
      );
    }
  }

  /**
   * One catch-up tick (see the header): one query for the log ends of every open feed, one more
   * when runs are watched. Reads on the pool, not on the LISTEN connection, so it works while
   * that one is down too. Never rejects; skipped while the previous tick still runs.
   */
  private async catchUp(): Promise<void> {
    if (this.catchingUp || this.closed) return;
    const feeds = [...this.feeds.values()].filter((feed) => feed.started && !feed.closed);
    if (feeds.length === 0 && this.runWatchers.size === 0) {
      // nothing to catch up: no query; the next watcher's first tick starts from its own time
      this.catchUpSince = null;
      return;
    }
    this.catchingUp = true;
    try {
      this.stats.catchUps++;
      this.stats.catchUpQueries++;
      const { now, seqs } = await readEventSeqs(
        this.opts.pool,
        feeds.map((feed) => feed.runId),
      );
      const byRun = new Map(feeds.map((feed) => [feed.runId, feed]));
      let behind = 0;
      for (const { id, event_seq } of seqs) {
        const feed = byRun.get(id);
        if (!feed || feed.closed || event_seq === null || event_seq <= Math.max(feed.target, feed.fetched)) continue;
        feed.target = event_seq;
        behind++;
        void this.pump(feed);
      }
      if (behind > 0) {
        this.stats.caughtUp++;
        this.stats.caughtUpFeeds += behind;
      }
      if (this.runWatchers.size > 0) {
        // from the previous tick's database time; a first tick (watchers new since the hub was
        // idle) looks back two ticks, before any of them registered (plus the function's slack)
        const since = this.catchUpSince ?? lookBack(now, 2 * this.opts.catchUpMs);
        this.stats.catchUpQueries++;
        const runs = await readRunsUpdatedSince(this.opts.pool, since, RUNS_CATCH_UP_LIMIT);
        if (runs.length === RUNS_CATCH_UP_LIMIT && !this.runsLimitWarned) {
          this.runsLimitWarned = true;
          this.opts.log.warn(
            `events hub: more than ${RUNS_CATCH_UP_LIMIT} runs changed within one catch-up window; watchers of the oldest rely on their notifications (lower catchUpMs to narrow the window)`,
          );
        }
        // oldest first, as they changed
        for (const run of runs.reverse()) {
          if (!this.runWatchers.has(run.id) && !this.runWatchers.has(`*:${run.workspace_id}`)) continue;
          this.stats.catchUpRunWakes++;
          this.notifyRun(run.id, run.workspace_id);
        }
      }
      this.catchUpSince = now;
      if (this.catchUpFailures > 0) this.opts.log.info(`events hub: catch-up works again after ${this.catchUpFailures} failed ticks`);
      this.catchUpFailures = 0;
    } catch (error) {
      // the next tick tries again, from the same `since`: a failed tick loses nothing
      if (this.catchUpFailures++ === 0 && !this.closed) {
        this.opts.log.warn(`events hub: catch-up from the database failed (${(error as Error).message}); retrying every ${this.opts.catchUpMs} ms`);
      }
    } finally {
      this.catchingUp = false;
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
    } else if (channel === BATCHES_CHANNEL) {
      for (const wake of this.batchWatchers.get(payload) ?? []) wake();
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
  async subscribeRunEvents(
    runId: string,
    after = 0,
    // transport: whose delivery lag the live rows count in when taken (/metrics; SSE counts its own writes, api/sse.ts)
    { cursorName = "after", transport }: { cursorName?: string; transport?: "graphql" } = {},
  ): Promise<Subscription<RunEventRow>> {
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
      if (last === 0 && feed.fetched > 0) {
        // the feed knew events (runs.event_seq, which retention leaves), and the log has none
        // now: retention removed them (as in the replay below)
        this.release(feed, inbox.push);
        throw new EverrunsError("history_expired", historyExpiredWhileOpening(runId));
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
    // the run's event_seq when its feed started (at least): a log that had events and reads empty
    // now lost them to retention
    const known = feed.fetched;
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
          if (replayed === 0 && (cursor > 0 || known > 0)) {
            // resuming at or past the end: done if the log already ended there
            const last = await readLastEvent(pool, runId);
            if (last && last.seq <= cursor && TERMINAL_EVENT_TYPES.has(last.type)) return;
            // events are only ever removed by retention (000038), a whole run's at once: it struck
            // between the caller's expiry check and this read. End here rather than wait for
            // events that will never come; the client's next request is answered 410.
            if (!last) throw new EverrunsError("history_expired", historyExpiredWhileOpening(runId));
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
                if (transport) observeDeliveryLag(transport, row);
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
  /**
   * A waker for one batch: its holder reads the batch, then waits for the next change (or a
   * fallback timeout: a notification lost with a dropped connection costs at most that). Whether
   * the holder may see the batch is the caller's to check.
   */
  watchBatch(batchId: string): BatchWaker {
    let changed = false;
    let resolve: (() => void) | null = null;
    const wake = () => {
      changed = true;
      resolve?.();
    };
    let watchers = this.batchWatchers.get(batchId);
    if (!watchers) this.batchWatchers.set(batchId, (watchers = new Set()));
    watchers.add(wake);
    return {
      next: (timeoutMs, signal) => {
        if (changed || signal?.aborted) {
          changed = false;
          return Promise.resolve();
        }
        return new Promise<void>((done) => {
          const finish = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", finish);
            resolve = null;
            changed = false;
            done();
          };
          const timer = setTimeout(finish, timeoutMs);
          signal?.addEventListener("abort", finish, { once: true });
          resolve = finish;
        });
      },
      close: () => {
        const set = this.batchWatchers.get(batchId);
        set?.delete(wake);
        if (set?.size === 0) this.batchWatchers.delete(batchId);
        resolve?.();
      },
    };
  }
}
