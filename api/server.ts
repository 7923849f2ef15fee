// The API process: express 5 with PostGraphile at /graphql (websockets on the same path), REST
// and SSE under /api, the AG-UI endpoint, and /healthz. One pool and one LISTEN connection
// (the events hub) serve all of them. The request guard (api/request-guard.ts) checks every
// request's Host, and the Origin of websockets and state-changing requests, before any of them;
// then every route but /healthz needs an API key (api/auth.ts), and acts in its workspace,
// within the key's rate limits (api/rate-limit.ts). The HTTP server bounds how long a client may
// take to send a request (headers, then body: slowloris); responses, SSE streams and websockets
// are not bounded by that.
import "./graphile-env.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import express, { type Express, type RequestHandler } from "express";
import { CloseCode, makeServer, type ServerOptions } from "graphql-ws";
import { postgraphile } from "postgraphile";
import { makeGraphQLWSConfig, normalizeConnectionParams, type GrafservBase } from "postgraphile/grafserv";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { GraphQLError } from "postgraphile/graphql";
import { WebSocketServer, type WebSocket } from "ws";
import { loadApiLimitsEnv, loadConnectionBudgetEnv, loadMetricsEnv, loadRequestGuardEnv, type ApiLimitsEnv } from "../db/env.ts";
import { checkConnectionBudget } from "../db/connection-budget.ts";
import { checkSchemaVersion } from "../db/migrate.ts";
import { createPool, dbTimeouts, type Pool } from "../db/pool.ts";
import { ping } from "../db/sql/ping.ts";
import { addLogBindings, type Logger } from "../lib/logger.ts";
import { requestLogging } from "../lib/request-log.ts";
import { sleep } from "../lib/sleep.ts";
import { agUiRouter } from "./agui.ts";
import { authMiddleware, authOf, Authenticator } from "./auth.ts";
import { EventsHub } from "./events-hub.ts";
import { MAX_OPERATIONS_PER_SOCKET, MAX_REQUEST_BYTES, MAX_SOCKETS_PER_KEY } from "./graphql/limits.ts";
import { GRAPHIQL_PATH, GRAPHQL_PATH, makePreset } from "./graphql/preset.ts";
import { errorHandler, sendError } from "./http-errors.ts";
import {
  graphiqlEnabled,
  guardMiddleware,
  isLoopbackHost,
  makeRequestGuard,
  refuseUpgrade,
  sendRefusal,
  serverOrigins,
  type AllowList,
  type RequestGuard,
} from "./request-guard.ts";
import { ApiRateLimits, clientAddress, type RateLimitSettings } from "./rate-limit.ts";
import { mcpRouter } from "./mcp.ts";
import { McpOauthOperations, mcpOauthRouter } from "./mcp-oauth.ts";
import { restRouter } from "./rest.ts";
import { hookRateLimits, hooksRouter, type HooksDeps } from "./hooks.ts";
import { triggersRouter } from "./triggers.ts";
import { abortBatchUploads } from "./batches.ts";
import { startRequestDeadline } from "./request-deadline.ts";
import { SseStreams } from "./sse.ts";
import { httpMetrics, MetricsEndpoint } from "./metrics.ts";

/** The API pool's connections unless told otherwise (API_DB_CONNECTIONS's default). */
const DEFAULT_API_DB_CONNECTIONS = 10;
/** The metrics warm-up's pause before each of its windows, and again while the pool has anyone waiting. */
const WARM_UP_PAUSE_MS = 250;

export interface ApiOptions {
  databaseUrl: string;
  /**
   * A direct connection to the same database when `databaseUrl` is a transaction-mode pooler
   * (DATABASE_DIRECT_URL): the events hub's LISTEN connection and the schema-version check use
   * it, and the query pool is `pooled` (db/pool.ts: no startup parameters, no named statements).
   */
  directDatabaseUrl?: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** 127.0.0.1 unless told otherwise. */
  host?: string;
  log: Logger;
  /** Ruru (GraphiQL) at /graphiql: never with NODE_ENV=production; by default on when `host` is loopback. */
  graphiql?: boolean;
  /** Host names the API answers to besides loopback's and `host` (default EVERRUNS_ALLOWED_HOSTS; "*": any, unsafe). */
  allowedHosts?: AllowList;
  /** Web origins allowed besides the API's and the console's (default EVERRUNS_ALLOWED_ORIGINS; "*": any, unsafe). */
  allowedOrigins?: AllowList;
  /** The console's port, whose origins are allowed (default EVERRUNS_WEB_PORT, 3000). */
  webPort?: number;
  /** Heartbeat comment interval of SSE streams (default 15 s). */
  heartbeatMs?: number;
  /** Database connections for queries (default API_DB_CONNECTIONS, 10); the LISTEN connection is extra. */
  poolSize?: number;
  /** Connections of max_connections to leave to other clients (default EVERRUNS_DB_RESERVED_CONNECTIONS): db/connection-budget.ts. */
  reservedConnections?: number;
  /** How often live streams re-read what a lost notification did not announce (api/events-hub.ts; default 1000; 0: off, tests). */
  hubCatchUpMs?: number;
  /** Production: no GraphQL introspection nor suggestions (default: NODE_ENV=production). */
  production?: boolean;
  /** Rate limits (default EVERRUNS_RATE_LIMIT_PER_MINUTE, EVERRUNS_RATE_LIMIT_BURST, EVERRUNS_AUTH_FAILURES_PER_MINUTE). */
  rateLimits?: Partial<RateLimitSettings>;
  /** How long a client may take to send a request (default EVERRUNS_HTTP_HEADERS_TIMEOUT_MS, …_REQUEST_TIMEOUT_MS, …_KEEPALIVE_TIMEOUT_MS). */
  httpTimeouts?: Partial<HttpTimeouts>;
  /** How long POST /hooks/:id reuses a webhook's row and opened secrets (default 2000 ms; 0: read each time). */
  hookCacheMs?: number;
  /**
   * /metrics (api/metrics.ts): `port` a separate listener without a key on `host` (default
   * METRICS_PORT on METRICS_HOST, else 127.0.0.1; unset: none), `maxLabelValues` the label cap
   * (default METRICS_MAX_LABEL_VALUES, 50); `cacheMs`, `settleSeconds`: tests.
   */
  metrics?: { port?: number; host?: string; maxLabelValues?: number; cacheMs?: number; settleSeconds?: number };
}

export interface HttpTimeouts {
  /** The request's headers must all arrive within this (ms). */
  headersMs: number;
  /** The whole request, body included, must arrive within this (ms): 408 after. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this (ms). */
  keepAliveMs: number;
}

export interface ApiHandle {
  /** http://host:port */
  url: string;
  port: number;
  /** Whether /graphiql is served. */
  graphiql: boolean;
  server: Server;
  hub: EventsHub;
  authenticator: Authenticator;
  sse: SseStreams;
  limits: ApiRateLimits;
  /** /metrics of this process (api/metrics.ts) */
  metrics: MetricsEndpoint;
  /** The METRICS_PORT listener's http://host:port/metrics, when there is one. */
  metricsUrl?: string;
  close(): Promise<void>;
}

/**
 * The express app with every route but GraphQL (which needs the HTTP server for websockets);
 * `guard` runs before every route but /healthz (probed by IP, read-only), then authentication
 * (/api and /graphql: an API key).
 */
export function createApp({
  pool,
  hub,
  sse,
  log,
  guard,
  hostGuard,
  authenticator,
  limits,
  hooks = { pool, log },
  mcpOauth = new McpOauthOperations({ pool, log, secretKey: hooks.secretKey }),
  metrics = new MetricsEndpoint(pool),
}: {
  pool: Pool;
  hub: EventsHub;
  sse: SseStreams;
  log: Logger;
  guard?: RequestHandler;
  /** The Host check alone: inbound webhooks come from other systems, not from web pages (no Origin check). */
  hostGuard?: RequestHandler;
  authenticator: Authenticator;
  limits?: ApiRateLimits;
  /** POST /hooks/:id's dependencies (its rate limits, cache, secret key). */
  hooks?: HooksDeps;
  /** MCP OAuth's connect and disconnect, shared with GraphQL's mutations */
  mcpOauth?: McpOauthOperations;
  /** GET /metrics (api/metrics.ts): a workspace admin's key */
  metrics?: MetricsEndpoint;
}): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  // every line logged for a request carries its id and trace (lib/request-log.ts); an access line at its end
  app.use(requestLogging(log));
  app.use(httpMetrics()); // everruns_http_request_duration_seconds (api/metrics.ts)

  app.get("/healthz", async (_req, res) => {
    try {
      await ping(pool);
      res.json({ status: "ok", database: "ok", listening: hub.listening, sse_streams: sse.size, run_feeds: hub.openFeeds });
    } catch (error) {
      log.warn(`healthz: database unreachable: ${(error as Error).message}`);
      res.status(503).json({ status: "unavailable", database: "unreachable", listening: hub.listening, sse_streams: sse.size, run_feeds: hub.openFeeds });
    }
  });

  // Inbound webhooks: no API key (the signature is the proof), their raw body unparsed (it is
  // what is signed), before the Origin check and /api's authentication and JSON parsing.
  if (hostGuard) app.use("/hooks", hostGuard);
  app.use(hooksRouter(hooks));

  if (guard) app.use(guard);
  const authenticate = workspaceLogged(authMiddleware(authenticator, limits));
  // MCP OAuth (api/mcp-oauth.ts): before /api's authentication, its callback takes no key (the state is its credential)
  app.use(mcpOauthRouter({ pool, log, authenticate, limits, secretKey: hooks.secretKey, operations: mcpOauth }));
  app.use("/api", authenticate);
  app.use(GRAPHQL_PATH, authenticate);
  app.get("/metrics", authenticate, metrics.handler(log));
  // MCP (api/mcp.ts): its transport reads its own body (4 MiB), so before any JSON parser
  app.use(mcpRouter({ pool, hub, log, authenticate }));

  // JSON bodies for /api only: grafserv reads its own request bodies.
  app.use("/api", express.json({ limit: "10mb" })); // AG-UI clients send the whole conversation
  app.use(restRouter({ pool, hub, sse, log }));
  app.use(agUiRouter({ pool, hub, sse, log }));
  app.use(triggersRouter({ pool, log, hooks }));
  app.use("/api", (req, res) => sendError(res, { status: 404, code: "not_found", message: `no route ${req.method} ${req.originalUrl}` }));
  app.use("/api", errorHandler(log));
  return app;
}

/** `authenticate`, then the key's workspace on every line logged for the request from there on. */
function workspaceLogged(authenticate: RequestHandler): RequestHandler {
  return (req, res, next) =>
    authenticate(req, res, (error?: unknown) => {
      if (error === undefined) addLogBindings({ workspace_id: authOf(req).workspaceId });
      next(error as Error | undefined);
    });
}

export async function startApi(opts: ApiOptions): Promise<ApiHandle> {
  const host = opts.host ?? "127.0.0.1";
  const log = opts.log;
  const guardEnv = opts.allowedHosts === undefined || opts.allowedOrigins === undefined || opts.webPort === undefined ? loadRequestGuardEnv() : null;
  const allowedHosts = opts.allowedHosts ?? guardEnv?.EVERRUNS_ALLOWED_HOSTS ?? [];
  const allowedOrigins = opts.allowedOrigins ?? guardEnv?.EVERRUNS_ALLOWED_ORIGINS ?? [];
  const webPort = opts.webPort ?? guardEnv?.EVERRUNS_WEB_PORT ?? 3000;
  const limitsEnv: ApiLimitsEnv | null =
    opts.rateLimits?.perMinute === undefined ||
    opts.rateLimits.burst === undefined ||
    opts.rateLimits.authFailuresPerMinute === undefined ||
    opts.httpTimeouts?.headersMs === undefined ||
    opts.httpTimeouts.requestMs === undefined ||
    opts.httpTimeouts.keepAliveMs === undefined
      ? loadApiLimitsEnv()
      : null;
  const rateLimits: RateLimitSettings = {
    perMinute: opts.rateLimits?.perMinute ?? limitsEnv!.EVERRUNS_RATE_LIMIT_PER_MINUTE,
    burst: opts.rateLimits?.burst ?? limitsEnv!.EVERRUNS_RATE_LIMIT_BURST,
    authFailuresPerMinute: opts.rateLimits?.authFailuresPerMinute ?? limitsEnv!.EVERRUNS_AUTH_FAILURES_PER_MINUTE,
  };
  const timeouts: HttpTimeouts = {
    headersMs: opts.httpTimeouts?.headersMs ?? limitsEnv!.EVERRUNS_HTTP_HEADERS_TIMEOUT_MS,
    requestMs: opts.httpTimeouts?.requestMs ?? limitsEnv!.EVERRUNS_HTTP_REQUEST_TIMEOUT_MS,
    keepAliveMs: opts.httpTimeouts?.keepAliveMs ?? limitsEnv!.EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS,
  };
  if (!(timeouts.headersMs > 0 && timeouts.requestMs >= timeouts.headersMs && timeouts.keepAliveMs >= 0)) {
    throw new Error(`invalid HTTP timeouts ${JSON.stringify(timeouts)}: headers > 0 and at most the request's, keep-alive >= 0`);
  }
  const graphiql = graphiqlEnabled({ requested: opts.graphiql, nodeEnv: process.env.NODE_ENV, host });
  // Behind a transaction-mode pooler the pool's connections hold no session state (every use of
  // SET is set_config(…, true), local to its transaction); LISTEN needs a session of its own.
  const pooled = Boolean(opts.directDatabaseUrl);
  const directUrl = opts.directDatabaseUrl || opts.databaseUrl;
  const poolSize = opts.poolSize ?? DEFAULT_API_DB_CONNECTIONS;
  // An API whose connections would not fit beside every other Everruns process's and the reserve
  // for other clients refuses to start, naming the numbers. Behind a pooler only LISTEN counts.
  const budget = await checkConnectionBudget({
    databaseUrl: directUrl,
    who: "API",
    wanted: pooled ? 1 : poolSize + 1,
    reserved: opts.reservedConnections ?? loadConnectionBudgetEnv().EVERRUNS_DB_RESERVED_CONNECTIONS,
    connectTimeoutMs: dbTimeouts().connectMs,
  });
  log.info(budget.summary);
  for (const warning of budget.warnings) log.warn(warning);
  const pool = createPool(opts.databaseUrl, "everruns-api", poolSize, { pooled, log });
  const hub = new EventsHub({ databaseUrl: directUrl, pool, log, ...(opts.hubCatchUpMs !== undefined && { catchUpMs: opts.hubCatchUpMs }) });
  const sse = new SseStreams({ heartbeatMs: opts.heartbeatMs ?? 15_000 });
  const authenticator = new Authenticator(pool);
  const limits = new ApiRateLimits(pool, rateLimits, log);
  try {
    // a schema this code does not know stops the API before it serves anything (db/migrate.ts)
    await checkSchemaVersion(pooled ? directUrl : pool, { warn: (line) => log.warn(line) });
    await hub.start();
  } catch (error) {
    await pool.end();
    throw error;
  }

  // built on first use: the port is known once the server listens (port 0)
  let guard: RequestGuard | null = null;
  const getGuard = () =>
    (guard ??= makeRequestGuard({
      name: "the API",
      port: (server.address() as AddressInfo).port,
      bindHost: host,
      allowedHosts,
      allowedOrigins,
      trustedOrigins: webPort ? serverOrigins(webPort, host) : [],
      log,
    }));
  const hostGuard: RequestHandler = (req, res, next) => {
    const refusal = getGuard().checkHost(req.headers.host);
    if (refusal) return sendRefusal(res, refusal);
    next();
  };
  const hooks: HooksDeps = {
    pool,
    log,
    cacheMs: opts.hookCacheMs,
    limits: rateLimits.perMinute > 0 || rateLimits.burst > 0 || rateLimits.authFailuresPerMinute > 0 ? hookRateLimits(pool, rateLimits, log) : null,
  };
  const mcpOauth = new McpOauthOperations({ pool, log, secretKey: hooks.secretKey });
  const metricsEnv = opts.metrics?.port === undefined || opts.metrics.maxLabelValues === undefined ? loadMetricsEnv() : null;
  const metrics = new MetricsEndpoint(pool, {
    maxLabelValues: opts.metrics?.maxLabelValues ?? metricsEnv!.METRICS_MAX_LABEL_VALUES,
    ...(opts.metrics?.cacheMs !== undefined && { cacheMs: opts.metrics.cacheMs }),
    ...(opts.metrics?.settleSeconds !== undefined && { settleSeconds: opts.metrics.settleSeconds }),
  });
  const app = createApp({ pool, hub, sse, log, guard: guardMiddleware(getGuard), hostGuard, authenticator, limits, hooks, mcpOauth, metrics });
  // Slow clients: node answers 408 and closes a connection whose request's headers did not arrive
  // in time (it checks every connection that often); a request whose whole body did not arrive in
  // time gets the same from api/request-deadline.ts (a batch upload lifts it). A request counts
  // until it is received: the response (an SSE stream) and upgraded websockets are not timed.
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: 0,
      keepAliveTimeout: timeouts.keepAliveMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headersMs / 4))),
    },
    app,
  );
  server.on("request", (req: IncomingMessage, res: ServerResponse) => startRequestDeadline(req, res, timeouts.requestMs));
  const pgl = postgraphile(makePreset({ pool, log, hub, graphiql, authenticator, production: opts.production, mcpOauth }));
  const serv = pgl.createServ(grafserv);
  // websocket connections leave the server's connection tracking once upgraded: keep our own
  const upgraded = new Set<Duplex>();
  const sockets = new GraphqlSockets(serv, authenticator, limits);
  try {
    // grafserv's HTTP handling without its websockets: ours bound frames and operations, after
    // our upgrade listener checked Host and Origin
    await serv.addTo(app, server, false);
    const graphqlUpgrade = sockets.upgrade;
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgraded.add(socket);
      socket.once("close", () => upgraded.delete(socket));
      const refusal = getGuard().checkUpgrade(req);
      if (refusal) return refuseUpgrade(socket, refusal);
      if (graphqlUpgrade && serv.shouldHandleUpgrade(req, socket, head)) graphqlUpgrade(req, socket, head);
      else socket.destroy();
    });
    // anything grafserv did not take: a JSON 404, never express's HTML page
    app.use((req, res) => sendError(res, { status: 404, code: "not_found", message: `no route ${req.method} ${req.originalUrl}` }));
    app.use(errorHandler(log));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await Promise.resolve(pgl.release()).catch(() => undefined);
    await hub.close();
    await pool.end();
    throw error;
  }
  // the internal /metrics listener (METRICS_PORT): every workspace's series, no key
  const metricsPort = opts.metrics?.port ?? metricsEnv?.METRICS_PORT;
  let metricsListener: Awaited<ReturnType<typeof MetricsEndpoint.listen>> | null = null;
  if (metricsPort !== undefined) {
    try {
      metricsListener = await MetricsEndpoint.listen({
        endpoint: metrics,
        port: metricsPort,
        host: opts.metrics?.host ?? metricsEnv?.METRICS_HOST ?? "127.0.0.1",
        log,
      });
    } catch (error) {
      server.close();
      server.closeAllConnections();
      await Promise.resolve(pgl.release()).catch(() => undefined);
      await hub.close();
      await pool.end();
      throw error;
    }
  }
  // The first snapshot of a process counts the whole runs table once, in bounded windows (000036).
  // With a METRICS_PORT listener (Prometheus will scrape it) that is done ahead of the first
  // scrape, at low priority: once listening, one window (one statement, one connection) at a
  // time, each after a pause of WARM_UP_PAUSE_MS, repeated while anyone waits for a connection of
  // the pool. Without one, nothing here: the first scrape of /metrics (if any ever comes) reads
  // it, in the same bounded windows.
  const warmingUp = new AbortController();
  const warmUp =
    metricsListener === null
      ? Promise.resolve()
      : metrics.database
          .warmUp(async () => {
            do {
              await sleep(WARM_UP_PAUSE_MS, warmingUp.signal).catch(() => undefined);
            } while (pool.waitingCount > 0 && !warmingUp.signal.aborted);
          }, warmingUp.signal)
          .catch((error: Error) => log.warn(`metrics: the first database read failed (the next scrape goes on from where it stopped): ${error.message}`));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (!isLoopbackHost(host)) {
    const hosts = getGuard().hosts;
    if (hosts !== "*")
      log.info(`the API answers only to the host names ${hosts.join(", ")}: list any other name or address it is reached by in EVERRUNS_ALLOWED_HOSTS`);
  }
  if (allowedHosts === "*") log.warn("EVERRUNS_ALLOWED_HOSTS=*: the Host check is off; a web page can reach this API through DNS rebinding");
  if (allowedOrigins === "*") log.warn("EVERRUNS_ALLOWED_ORIGINS=*: the Origin check is off; any web page the user opens can drive this API");
  if (opts.graphiql && !graphiql) log.info("GraphiQL is off: NODE_ENV=production");
  log.info(`API at ${url}  (GraphQL ${GRAPHQL_PATH}, ${graphiql ? `GraphiQL ${GRAPHIQL_PATH}, ` : ""}REST /api, AG-UI /api/agents/:agent/agui)`);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      abortBatchUploads(server);
      warmingUp.abort();
      await metricsListener?.close();
      await warmUp;
      sse.closeAll();
      sockets.close();
      for (const socket of upgraded) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.resolve(pgl.release()).catch((error: Error) => log.warn(`PostGraphile release failed: ${error.message}`));
      await hub.close();
      await pool.end();
    })());
  return { url, port, graphiql, server, hub, sse, authenticator, limits, metrics, ...(metricsListener && { metricsUrl: metricsListener.url }), close };
}

/** graphql-ws' keepalive interval, as grafserv's. */
const KEEPALIVE_MS = 12_000;

/**
 * GraphQL over websockets (graphql-ws, grafserv's operation handling) with the limits of
 * api/graphql/limits.ts: frames of at most MAX_REQUEST_BYTES (ws closes the socket with 1009,
 * the frame unread), MAX_OPERATIONS_PER_SOCKET operations at once per socket,
 * MAX_SOCKETS_PER_KEY open sockets per API key (the key of connection_init or of the upgrade).
 * Each operation counts against its key's rate limits (api/rate-limit.ts): over them, the
 * operation gets an error `rate_limited` (extensions.retryAfter: seconds); a connection_init whose
 * key fails counts against the client address's failed authentications, and one from an
 * address over that limit is closed (4403) saying when to retry.
 */
class GraphqlSockets {
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_REQUEST_BYTES });
  readonly #perKey = new Map<string, number>();
  readonly #graphqlWs: ReturnType<typeof makeServer>;

  constructor(serv: GrafservBase, authenticator: Authenticator, limits: ApiRateLimits) {
    const config = makeGraphQLWSConfig(serv) as ServerOptions<
      Record<string, unknown> | undefined,
      { socket: WebSocket; request: IncomingMessage; keyId?: string }
    >;
    this.#graphqlWs = makeServer({
      ...config,
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        let keyId: string;
        try {
          const params = normalizeConnectionParams(ctx.connectionParams);
          const authorization = params?.authorization ?? request.headers.authorization;
          if (!authenticator.isRemembered(authorization)) {
            const blocked = await limits.authBlocked(clientAddress(request));
            if (blocked) {
              socket.close(CloseCode.Forbidden, `rate_limited: retry in ${blocked.retryAfterSeconds} s`);
              return false;
            }
          }
          keyId = (await authenticator.authenticate(authorization)).keyId;
        } catch {
          const limited = await limits.authFailed(clientAddress(request));
          if (limited) {
            socket.close(CloseCode.Forbidden, `rate_limited: retry in ${limited.retryAfterSeconds} s`);
            return false;
          }
          return true; // the first operation answers 4401 with the reason (api/graphql/access.ts)
        }
        if (socket.readyState !== socket.OPEN) return false; // closed while we looked the key up
        const open = this.#perKey.get(keyId) ?? 0;
        if (open >= MAX_SOCKETS_PER_KEY) {
          socket.close(CloseCode.Forbidden, `Forbidden: at most ${MAX_SOCKETS_PER_KEY} websockets per API key`);
          return false;
        }
        this.#perKey.set(keyId, open + 1);
        ctx.extra.keyId = keyId;
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        if (Object.keys(ctx.subscriptions).length >= MAX_OPERATIONS_PER_SOCKET) {
          return [
            new GraphQLError(`too many operations on this websocket: at most ${MAX_OPERATIONS_PER_SOCKET} at once; complete one first or open another socket`, {
              extensions: { code: "too_many_operations" },
            }),
          ];
        }
        const limited = ctx.extra.keyId ? await limits.consumeKey(ctx.extra.keyId) : null;
        if (limited) {
          return [new GraphQLError(limited.message, { extensions: { code: "rate_limited", retryAfter: limited.retryAfterSeconds } })];
        }
        return config.onSubscribe!(ctx, id, payload);
      },
      onClose: (ctx) => {
        const keyId = ctx.extra.keyId;
        if (!keyId) return;
        const open = (this.#perKey.get(keyId) ?? 1) - 1;
        if (open > 0) this.#perKey.set(keyId, open);
        else this.#perKey.delete(keyId);
      },
    });
    this.wss.on("connection", (socket: WebSocket, request: IncomingMessage) => this.#opened(socket, request));
  }

  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit("connection", ws, req));
  };

  #opened(socket: WebSocket, request: IncomingMessage): void {
    // keepalive: a ping every KEEPALIVE_MS; no pong before the next one ends the socket
    let alive = true;
    socket.on("pong", () => (alive = true));
    const keepalive = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, KEEPALIVE_MS);
    keepalive.unref();
    // a frame over maxPayload, a protocol violation: ws closes the socket (1009, 1002) and reports it here
    socket.on("error", () => undefined);
    const closed = this.#graphqlWs.opened(
      {
        protocol: socket.protocol,
        // a client that went away meanwhile gets nothing more (as graphql-ws's own ws adapter does)
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on("message", (data: Buffer) => {
            cb(data.toString()).catch((error: unknown) => {
              try {
                socket.close(CloseCode.InternalServerError, (error as Error).message.slice(0, 120));
              } catch {
                /* closed already */
              }
            });
          }),
      },
      { socket, request },
    );
    socket.once("close", (code, reason) => {
      clearInterval(keepalive);
      void closed(code, String(reason));
    });
  }

  close(): void {
    for (const socket of this.wss.clients) socket.terminate();
    this.wss.close();
  }
}
