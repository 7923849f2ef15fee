// GET /metrics: Prometheus text format (prom-client; docs/observability.md, "Metrics").
//
// Two kinds of series. This process's own (lib/metrics/registry.ts: the worker's steps when it
// runs one, the API's requests and event delivery, prom-client's process metrics). And what
// describes the database, read at scrape time (everruns_private.metrics_snapshot, 000036: one
// statement per scrape, shared by every scrape within CACHE_MS), so every API process reports
// the same truth: runs started and finished, tokens and cost, queue depth, running, waiting and
// interrupted runs, live workers and their slots.
//
// Who sees what: on the API's port a workspace admin's key (else 401/403 as every route) gets its
// workspace's database series and this process's series that carry no other tenant's data (the
// default process metrics, HTTP timings by route template); the METRICS_PORT listener (an
// internal, network-restricted address; no key) gets every workspace's and all of this process's.
// Workspace and agent labels are capped (METRICS_MAX_LABEL_VALUES): per process and scope, a
// value gets its own series while there is room, and keeps it; the rest are folded into "_other"
// (a name no workspace or agent can have) for good, so no counter series ever goes down.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Counter, Gauge, Registry } from "prom-client";
import type { Queryable } from "../db/pool.ts";
import { readMetricsSnapshot, type MetricsSnapshot } from "../db/sql/readMetricsSnapshot.ts";
import { DEFAULT_MAX_LABEL_VALUES, metricsOfProcess, OTHER_LABEL } from "../lib/metrics/registry.ts";
import type { Logger } from "../lib/logger.ts";
import { authOf, requireRole } from "./auth.ts";
import { isLoopbackHost } from "./request-guard.ts";
import { sendError, toHttpError } from "./http-errors.ts";

/** How long one database snapshot serves every scrape of this process. */
export const CACHE_MS = 2_000;
/** How far behind the database clock run counters settle (000036 says why). */
export const SETTLE_SECONDS = 120;
/** The most runs' time one statement settles: a process's first read catches up in windows of it (000036). */
export const WINDOW_SECONDS = 7 * 24 * 3600;
/** Cost is counted in integer units of 1e-8 USD (000036), exported in USD. */
const COST_UNITS_PER_USD = 1e8;

const ENDED = ["succeeded", "failed", "cancelled"] as const;

/** Per (workspace, agent, status): runs and usage. Status "" holds the started count. */
interface Tally {
  started: number;
  ended: Map<string, number>;
  input: number;
  output: number;
  /** 1e-8 USD: integers, exact */
  costE8: number;
}

/** What the database says, aggregated, for every workspace. */
export interface DatabaseView {
  workspaces: Record<string, string>;
  agents: Record<string, string>;
  /** workspace id → agent id → tally */
  runs: Map<string, Map<string, Tally>>;
  snapshot: MetricsSnapshot;
}

const newTally = (): Tally => ({ started: 0, ended: new Map(), input: 0, output: 0, costE8: 0 });

function tallyOf(into: Map<string, Map<string, Tally>>, workspace: string, agent: string): Tally {
  let agents = into.get(workspace);
  if (!agents) into.set(workspace, (agents = new Map<string, Tally>()));
  let tally = agents.get(agent);
  if (!tally) agents.set(agent, (tally = newTally()));
  return tally;
}

function addRows(into: Map<string, Map<string, Tally>>, started: MetricsSnapshot["settled_started"], ended: MetricsSnapshot["settled_ended"]): void {
  for (const [ws, agent, runs] of started) tallyOf(into, ws, agent).started += runs;
  for (const [ws, agent, status, runs, input, output, costE8] of ended) {
    const t = tallyOf(into, ws, agent);
    if (runs > 0) t.ended.set(status, (t.ended.get(status) ?? 0) + runs);
    t.input += input;
    t.output += output;
    t.costE8 += costE8;
  }
}

/**
 * The database's side of /metrics, for this process: run counters settled so far (kept here, so
 * a scrape reads only what changed since: 000036) and a snapshot of the rest, at most one read
 * per CACHE_MS whatever the number of scrapes.
 */
export class DatabaseMetrics {
  readonly #db: Queryable;
  readonly #cacheMs: number;
  readonly #settleSeconds: number;
  readonly #windowSeconds: number;
  #settled = new Map<string, Map<string, Tally>>();
  #since: string | null = null;
  #agents: Record<string, string> = {};
  #current: { at: number; view: Promise<DatabaseView> } | null = null;
  #inFlight: Promise<DatabaseView> | null = null;
  /** A window warmUp() is reading. */
  #warming: Promise<MetricsSnapshot> | null = null;
  /** Database reads made (one statement each): what a burst of scrapes cost. */
  reads = 0;

  constructor(db: Queryable, opts: { cacheMs?: number; settleSeconds?: number; windowSeconds?: number } = {}) {
    this.#db = db;
    this.#cacheMs = opts.cacheMs ?? CACHE_MS;
    this.#settleSeconds = opts.settleSeconds ?? SETTLE_SECONDS;
    this.#windowSeconds = opts.windowSeconds ?? WINDOW_SECONDS;
  }

  /** The database's view: a read in flight, else one done within the cache time, else a new read. */
  view(): Promise<DatabaseView> {
    if (this.#inFlight) return this.#inFlight;
    if (this.#current && performance.now() - this.#current.at < this.#cacheMs) return this.#current.view;
    // one read at a time: a slow one (the first, which catches up on the whole table) is joined, not repeated
    const view = this.#read().finally(() => {
      this.#inFlight = null;
    });
    this.#inFlight = view;
    view.then(
      () => (this.#current = { at: performance.now(), view }),
      () => undefined, // a failed read is not kept: the next scrape tries again
    );
    return view;
  }

  /**
   * Catches up on the settled run counters before the first scrape (a process with a METRICS_PORT
   * listener, which Prometheus will scrape), at low priority: one window (one statement, on one
   * connection) at a time, each after `pause()` (the caller's way to give way, e.g. until its
   * pool has no one waiting). A scrape that comes meanwhile takes over at full speed (its read
   * goes on from the last window kept); the catch-up stops then, once complete, or when `signal`
   * aborts. A failed window rejects; the next scrape goes on from where it stopped.
   */
  async warmUp(pause: () => Promise<void>, signal: AbortSignal): Promise<void> {
    for (;;) {
      await pause();
      if (signal.aborted || this.#inFlight || this.#current) return;
      const window = this.#readWindow();
      this.#warming = window;
      try {
        if ((await window).complete) return;
      } finally {
        this.#warming = null;
      }
    }
  }

  /** The next window after #since (one statement), kept: the counters settled in it added, the cut moved to its end. */
  async #readWindow(): Promise<MetricsSnapshot> {
    this.reads++;
    const snapshot = await readMetricsSnapshot(this.#db, this.#since, this.#settleSeconds, this.#windowSeconds);
    // one read at a time (view(), warmUp()): each window follows the one before, the cut never goes back
    addRows(this.#settled, snapshot.settled_started, snapshot.settled_ended);
    this.#since = snapshot.cut;
    // names as they are now (an agent renamed shows its whole history under its new name)
    this.#agents = { ...this.#agents, ...snapshot.agents };
    return snapshot;
  }

  async #read(): Promise<DatabaseView> {
    // a window of the warm-up in flight is waited for, and kept (or, failed, read again below)
    await this.#warming?.catch(() => undefined);
    let snapshot: MetricsSnapshot;
    // a first read catches up window by window (000036), each one kept as soon as it is read: a
    // read that fails or times out half way goes on from there at the next scrape
    do {
      snapshot = await this.#readWindow();
    } while (!snapshot.complete);
    const runs = new Map<string, Map<string, Tally>>();
    for (const [ws, agents] of this.#settled) {
      for (const [agent, t] of agents) {
        const copy = tallyOf(runs, ws, agent);
        copy.started = t.started;
        copy.ended = new Map(t.ended);
        copy.input = t.input;
        copy.output = t.output;
        copy.costE8 = t.costE8;
      }
    }
    addRows(runs, snapshot.live_started, snapshot.live_ended);
    return { workspaces: snapshot.workspaces, agents: this.#agents, runs, snapshot };
  }
}

/**
 * Label values kept, per scope, for the life of the process: `kept` grows while there is room
 * (new keys by their weight, largest first; ties by key) and nothing ever leaves it, so a key
 * folded into "_other" stays there and no series moves between the two (a counter would go down).
 */
function admit(kept: Set<string>, weights: Map<string, number>, max: number): (key: string) => boolean {
  if (kept.size < max) {
    const fresh = [...weights.entries()].filter(([k]) => !kept.has(k)).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    for (const [k] of fresh) {
      if (kept.size >= max) break;
      kept.add(k);
    }
  }
  return (key) => kept.has(key);
}

/** Whose series a scrape gets: every workspace's, or one workspace's. */
export type MetricsScope = { workspaceId: string } | "all";

/** The label values a scope's series keep (admit()). */
interface KeptLabels {
  workspaces: Set<string>;
  agents: Set<string>;
}

/**
 * The database series of `scope` from `view`, label values capped at `maxLabels` workspaces and
 * `maxLabels` (workspace, agent) pairs (`kept`, sticky); the rest folded into "_other".
 */
function databaseSeries(view: DatabaseView, scope: MetricsScope, maxLabels: number, kept: KeptLabels) {
  const inScope = (ws: string | null) => scope === "all" || ws === scope.workspaceId;
  const byWorkspace = new Map<string, number>();
  const byAgent = new Map<string, number>();
  for (const [ws, agents] of view.runs) {
    if (!inScope(ws)) continue;
    for (const [agent, t] of agents) {
      byWorkspace.set(ws, (byWorkspace.get(ws) ?? 0) + t.started);
      byAgent.set(`${ws}/${agent}`, t.started);
    }
  }
  for (const s of view.snapshot.states) if (inScope(s.workspace_id) && !byWorkspace.has(s.workspace_id)) byWorkspace.set(s.workspace_id, 0);
  const keepWs = admit(kept.workspaces, byWorkspace, maxLabels);
  const keepAgent = admit(kept.agents, byAgent, maxLabels);
  const wsLabel = (ws: string) => (keepWs(ws) ? (view.workspaces[ws] ?? ws) : OTHER_LABEL);
  const agentLabel = (ws: string, agent: string) => (keepAgent(`${ws}/${agent}`) ? (view.agents[agent] ?? agent) : OTHER_LABEL);

  const add = <K extends string>(into: Map<string, { labels: Record<K, string>; value: number }>, labels: Record<K, string>, value: number) => {
    const key = JSON.stringify(labels);
    const hit = into.get(key);
    if (hit) hit.value += value;
    else into.set(key, { labels, value });
  };
  type Series<K extends string> = Map<string, { labels: Record<K, string>; value: number }>;
  const started: Series<"workspace" | "agent"> = new Map();
  const finished: Series<"workspace" | "agent" | "status"> = new Map();
  const tokens: Series<"workspace" | "agent" | "type"> = new Map();
  const cost: Series<"workspace" | "agent"> = new Map();
  for (const [ws, agents] of view.runs) {
    if (!inScope(ws)) continue;
    for (const [agent, t] of agents) {
      const labels = { workspace: wsLabel(ws), agent: agentLabel(ws, agent) };
      add(started, labels, t.started);
      for (const status of ENDED) add(finished, { ...labels, status }, t.ended.get(status) ?? 0);
      add(tokens, { ...labels, type: "input" }, t.input);
      add(tokens, { ...labels, type: "output" }, t.output);
      add(cost, labels, t.costE8);
    }
  }
  const running: Series<"workspace"> = new Map();
  const interrupted: Series<"workspace"> = new Map();
  const queueDepth: Series<"workspace"> = new Map();
  const oldest = new Map<string, number>();
  const waiting: Series<"workspace" | "reason"> = new Map();
  for (const s of view.snapshot.states) {
    if (!inScope(s.workspace_id)) continue;
    const workspace = wsLabel(s.workspace_id);
    add(running, { workspace }, s.running);
    add(interrupted, { workspace }, s.interrupted);
    add(queueDepth, { workspace }, s.queued);
    if (s.oldest_queued_s !== null) oldest.set(workspace, Math.max(oldest.get(workspace) ?? 0, s.oldest_queued_s));
  }
  let busy = 0;
  for (const j of view.snapshot.jobs) {
    if (!inScope(j.workspace_id)) continue;
    const workspace = wsLabel(j.workspace_id);
    add(queueDepth, { workspace }, j.ready);
    if (j.oldest_ready_s !== null) oldest.set(workspace, Math.max(oldest.get(workspace) ?? 0, j.oldest_ready_s));
    busy += j.busy;
  }
  for (const [ws, reason, runs] of view.snapshot.waiting) if (inScope(ws)) add(waiting, { workspace: wsLabel(ws), reason }, runs);
  // a workspace sees the shared workers and its own dedicated ones
  let live = 0;
  let slots = 0;
  for (const w of view.snapshot.workers) {
    if (w.workspace_id !== null && !inScope(w.workspace_id)) continue;
    live += w.live;
    slots += w.slots;
  }
  return { started, finished, tokens, cost, running, interrupted, queueDepth, oldest, waiting, live, slots, busy };
}

/** A registry of the database series of one scope, filled by collect() from the shared view at each scrape. */
function databaseRegistry(source: () => Promise<DatabaseView>, scope: MetricsScope, maxLabels: number): Registry {
  const registry = new Registry();
  const registers = [registry];
  let series: Promise<ReturnType<typeof databaseSeries>> | null = null;
  let seriesOf: DatabaseView | null = null;
  const kept: KeptLabels = { workspaces: new Set(), agents: new Set() };
  // one computation per database view, shared by every metric of the scrape
  const current = async () => {
    const view = await source();
    if (seriesOf !== view || !series) {
      seriesOf = view;
      series = Promise.resolve(databaseSeries(view, scope, maxLabels, kept));
    }
    return series;
  };
  // a counter never goes down: each series exports at least what it exported last (a run's usage
  // lowered by hand, a series whose agent was renamed back); `scale` divides integer units
  const counter = <K extends string>(
    name: string,
    help: string,
    labelNames: K[],
    pick: (s: Awaited<ReturnType<typeof current>>) => Map<string, { labels: Record<K, string>; value: number }>,
    scale = 1,
  ) => {
    const last = new Map<string, number>();
    return new Counter<K>({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const s = pick(await current());
        this.reset();
        for (const [key, { labels, value }] of s) {
          const v = Math.max(value, last.get(key) ?? 0);
          last.set(key, v);
          this.inc(labels as never, v / scale);
        }
      },
    });
  };
  const gauge = <K extends string>(
    name: string,
    help: string,
    labelNames: K[],
    pick: (s: Awaited<ReturnType<typeof current>>) => Map<string, { labels: Record<K, string>; value: number }>,
  ) =>
    new Gauge<K>({
      name,
      help,
      labelNames,
      registers,
      async collect() {
        const s = pick(await current());
        this.reset();
        for (const { labels, value } of s.values()) this.set(labels as never, value);
      },
    });
  counter("everruns_runs_started_total", "Runs inserted (everruns.runs rows), by workspace and agent", ["workspace", "agent"], (s) => s.started);
  counter(
    "everruns_runs_finished_total",
    "Runs ended, by workspace, agent and status (succeeded, failed, cancelled)",
    ["workspace", "agent", "status"],
    (s) => s.finished,
  );
  counter(
    "everruns_tokens_total",
    "LLM tokens of runs (runs.usage), by workspace, agent and type (input, output)",
    ["workspace", "agent", "type"],
    (s) => s.tokens,
  );
  counter("everruns_cost_usd_total", "USD of runs (runs.usage.cost_usd), by workspace and agent", ["workspace", "agent"], (s) => s.cost, COST_UNITS_PER_USD);
  gauge("everruns_runs_running", "Runs running now (a worker holds or is about to take their step)", ["workspace"], (s) => s.running);
  gauge("everruns_runs_waiting", "Runs parked with no worker held, by reason (timer, event, children, quota)", ["workspace", "reason"], (s) => s.waiting);
  gauge(
    "everruns_runs_interrupted",
    "Interrupted runs awaiting an answer (an approval, a client's tool result, a budget question)",
    ["workspace"],
    (s) => s.interrupted,
  );
  gauge(
    "everruns_queue_depth",
    "Runs queued for a slot of their workspace plus step jobs due and free, not yet taken by a worker",
    ["workspace"],
    (s) => s.queueDepth,
  );
  gauge("everruns_queue_oldest_age_seconds", "How long the oldest of everruns_queue_depth has waited", ["workspace"], (s) => {
    const out = new Map<string, { labels: Record<"workspace", string>; value: number }>();
    for (const [workspace, value] of s.oldest) out.set(workspace, { labels: { workspace }, value });
    return out;
  });
  gauge("everruns_workers_live", "Worker processes (pools) whose liveness connection is open", [], (s) => new Map([["", { labels: {}, value: s.live }]]));
  gauge(
    "everruns_worker_slots",
    "Step slots of the live workers: total, and busy (holding a step job)",
    ["state"],
    (s) =>
      new Map([
        ["busy", { labels: { state: "busy" }, value: s.busy }],
        ["total", { labels: { state: "total" }, value: s.slots }],
      ]),
  );
  return registry;
}

/**
 * This process's series a workspace admin's scrape gets: those that carry nothing of another
 * tenant (prom-client's default process metrics, HTTP timings by method, route template and
 * status class). The worker's steps, LLM calls and retries (model, provider and error labels of
 * every workspace's agents) and event delivery are the METRICS_PORT listener's only.
 */
async function ownSeriesOfWorkspace(): Promise<string> {
  const { registry } = metricsOfProcess();
  const names = registry
    .getMetricsAsArray()
    .map((m) => m.name)
    .filter((name) => name === "everruns_http_request_duration_seconds" || !/^(everruns_|gen_ai_)/.test(name));
  const texts = await Promise.all(names.map((name) => registry.getSingleMetricAsString(name)));
  return `${texts.join("\n\n")}\n`;
}

/** The most workspace registries kept (a workspace admin's scrapes): one per workspace scraping, least recently used out first. */
const MAX_SCOPES = 1000;

/** /metrics of this process: its own series and the database's, per scope. */
export class MetricsEndpoint {
  readonly database: DatabaseMetrics;
  readonly #maxLabels: number;
  readonly #scopes = new Map<string, Registry>();

  constructor(db: Queryable, opts: { maxLabelValues?: number; cacheMs?: number; settleSeconds?: number; windowSeconds?: number } = {}) {
    this.database = new DatabaseMetrics(db, opts);
    this.#maxLabels = opts.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES;
  }

  get contentType(): string {
    return metricsOfProcess().registry.contentType;
  }

  /**
   * The text of a scrape: this process's series, then the database's of `scope`. A workspace's
   * scrape gets only the process series that carry nothing of another tenant (ownSeriesOfWorkspace).
   */
  async render(scope: MetricsScope): Promise<string> {
    const key = scope === "all" ? "*" : scope.workspaceId;
    let registry = this.#scopes.get(key);
    if (registry) {
      this.#scopes.delete(key); // least recently used first: a hit moves to the end
    } else {
      if (this.#scopes.size >= MAX_SCOPES) this.#scopes.delete(this.#scopes.keys().next().value!);
      registry = databaseRegistry(() => this.database.view(), scope, this.#maxLabels);
    }
    this.#scopes.set(key, registry);
    const [own, database] = await Promise.all([scope === "all" ? metricsOfProcess().registry.metrics() : ownSeriesOfWorkspace(), registry.metrics()]);
    return `${own}\n${database}`;
  }

  /** GET /metrics on the API's port, after authentication: a workspace admin's key, its workspace's series. */
  handler(log: Logger): RequestHandler {
    return (req, res, next) => {
      const auth = authOf(req);
      try {
        requireRole(auth, "admin", "reading /metrics");
      } catch (error) {
        return next(error);
      }
      this.render({ workspaceId: auth.workspaceId }).then(
        (text) => {
          res.set("Content-Type", this.contentType);
          res.set("Cache-Control", "no-store");
          res.send(text);
        },
        (error: unknown) => sendError(res, toHttpError(error, log)),
      );
    };
  }

  /**
   * The internal listener (METRICS_PORT): GET /metrics, every workspace's series, no key (its
   * address is the protection: METRICS_HOST, default 127.0.0.1). With `db` null (a worker
   * process) only this process's own series.
   */
  static async listen(opts: {
    endpoint: MetricsEndpoint | null;
    port: number;
    host: string;
    log: Logger;
  }): Promise<{ server: Server; url: string; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" || path !== "/metrics") {
        res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: "only GET /metrics here" } }));
        return;
      }
      const text = opts.endpoint ? opts.endpoint.render("all") : metricsOfProcess().registry.metrics();
      text.then(
        (body) => res.writeHead(200, { "Content-Type": metricsOfProcess().registry.contentType, "Cache-Control": "no-store" }).end(body),
        (error: unknown) => {
          opts.log.warn(`metrics: a scrape failed: ${(error as Error).message}`);
          res
            .writeHead(503, { "Content-Type": "application/json" })
            .end(JSON.stringify({ error: { code: "unavailable", message: "the metrics could not be read (the database?); retry shortly" } }));
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}/metrics`;
    opts.log.info(`metrics at ${url} (no key: keep this address internal)`);
    if (!isLoopbackHost(opts.host))
      opts.log.warn(
        `METRICS_HOST=${opts.host}: /metrics answers without a key on ${url}${opts.endpoint ? " with every workspace's series" : ""}: only on a network nothing but Prometheus reaches`,
      );
    return {
      server,
      url,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }
}

/**
 * Times every request by method, route template and status class: express's matched route
 * (base URL and path pattern, never the raw path with its ids), else the mount it went to
 * (/graphql, /mcp) or "unmatched".
 */
export function httpMetrics(): RequestHandler {
  const histogram = metricsOfProcess().httpDuration;
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      const route = (req.route as { path?: unknown } | undefined)?.path;
      const template =
        typeof route === "string"
          ? `${req.baseUrl}${route}`
          : (/^\/(graphql|graphiql|mcp|healthz|metrics)(\/|$)/.exec(req.path)?.[0]?.replace(/\/$/, "") ?? "unmatched");
      histogram.observe({ method: req.method, route: template, status: `${Math.floor(res.statusCode / 100)}xx` }, (performance.now() - started) / 1000);
    };
    res.once("finish", end);
    res.once("close", end);
    next();
  };
}

// Event delivery lag: an event's `timestamp` is the database clock when it was appended
// (append_events_locked: clock_timestamp() in ms, just before its commit); the lag is the
// database clock when it is written to a follower minus that. This process reads the database
// clock through an offset the events hub measures on each liveness probe of its LISTEN
// connection (noteDatabaseClock). Only rows the hub delivered live count (markLive): a replay's
// are old by design.
/** The offset kept: the one of the fastest probe within CLOCK_KEEP_MS (a slow probe's middle is a poor guess). */
let clock: { offsetMs: number; rttMs: number; at: number } | null = null;
const CLOCK_KEEP_MS = 5 * 60_000;
const liveRows = new WeakSet<object>();

/** The database clock read as `dbNow` between `sentAt` and `receivedAt` (Date.now() values). */
export function noteDatabaseClock(dbNow: string, sentAt: number, receivedAt: number): void {
  const db = Date.parse(dbNow);
  const rttMs = receivedAt - sentAt;
  if (!Number.isFinite(db) || !(rttMs >= 0)) return;
  const now = performance.now();
  if (clock === null || rttMs <= clock.rttMs || now - clock.at > CLOCK_KEEP_MS) clock = { offsetMs: db - (sentAt + receivedAt) / 2, rttMs, at: now };
}

/** Rows the events hub read for its live followers (not a replay). */
export function markLive(rows: readonly object[]): void {
  for (const row of rows) liveRows.add(row);
}

/** A live row was just written to a follower over `transport`. */
export function observeDeliveryLag(transport: "sse" | "graphql", row: { event: Record<string, unknown> }): void {
  if (clock === null || !liveRows.has(row)) return;
  const at = row.event.timestamp;
  if (typeof at !== "number") return;
  const lagMs = Date.now() + clock.offsetMs - at;
  // within the offset's uncertainty (half its probe's round trip, the timestamp's ms) a lag below
  // zero is zero; further below, the offset is wrong (a clock stepped): not a measurement
  if (!Number.isFinite(lagMs) || lagMs < -(clock.rttMs / 2 + 2)) return;
  metricsOfProcess().eventDeliveryLag.observe({ transport }, Math.max(0, lagMs) / 1000);
}
