// The API process: express 5 with PostGraphile at /graphql (websockets on the same path), REST
// and SSE under /api, the AG-UI endpoint, and /healthz. One pool and one LISTEN connection
// (the events hub) serve all of them.
import "./graphile-env.ts";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import express, { type Express } from "express";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { createPool, type Pool } from "../db/pool.ts";
import { ping } from "../db/sql/ping.ts";
import type { Logger } from "../lib/logger.ts";
import { agUiRouter } from "./agui.ts";
import { EventsHub } from "./events-hub.ts";
import { GRAPHIQL_PATH, GRAPHQL_PATH, makePreset } from "./graphql/preset.ts";
import { errorHandler, sendError } from "./http-errors.ts";
import { restRouter } from "./rest.ts";
import { SseStreams } from "./sse.ts";

export interface ApiOptions {
  databaseUrl: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** 127.0.0.1 unless told otherwise: the API is unauthenticated. */
  host?: string;
  log: Logger;
  /** Ruru (GraphiQL) at /graphiql; default: on unless NODE_ENV=production. */
  graphiql?: boolean;
  /** Heartbeat comment interval of SSE streams (default 15 s). */
  heartbeatMs?: number;
  /** Database connections for queries (default 20); the LISTEN connection is extra. */
  poolSize?: number;
}

export interface ApiHandle {
  /** http://host:port */
  url: string;
  port: number;
  server: Server;
  hub: EventsHub;
  sse: SseStreams;
  close(): Promise<void>;
}

/** The express app with every route but GraphQL (which needs the HTTP server for websockets). */
export function createApp({ pool, hub, sse, log }: { pool: Pool; hub: EventsHub; sse: SseStreams; log: Logger }): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);

  app.get("/healthz", async (_req, res) => {
    try {
      await ping(pool);
      res.json({ status: "ok", database: "ok", listening: hub.listening, sse_streams: sse.size, run_feeds: hub.openFeeds });
    } catch (error) {
      log.warn(`healthz: database unreachable: ${(error as Error).message}`);
      res.status(503).json({ status: "unavailable", database: "unreachable", listening: hub.listening, sse_streams: sse.size, run_feeds: hub.openFeeds });
    }
  });

  // JSON bodies for /api only: grafserv reads its own request bodies.
  app.use("/api", express.json({ limit: "10mb" })); // AG-UI clients send the whole conversation
  app.use(restRouter({ pool, hub, sse, log }));
  app.use(agUiRouter({ pool, hub, sse, log }));
  app.use("/api", (req, res) => sendError(res, { status: 404, code: "not_found", message: `no route ${req.method} ${req.originalUrl}` }));
  app.use("/api", errorHandler(log));
  return app;
}

export async function startApi(opts: ApiOptions): Promise<ApiHandle> {
  const host = opts.host ?? "127.0.0.1";
  const log = opts.log;
  const pool = createPool(opts.databaseUrl, "everruns-api", opts.poolSize ?? 20);
  const hub = new EventsHub({ databaseUrl: opts.databaseUrl, pool, log });
  const sse = new SseStreams({ heartbeatMs: opts.heartbeatMs ?? 15_000 });
  try {
    await hub.start();
  } catch (error) {
    await pool.end();
    throw error;
  }

  const app = createApp({ pool, hub, sse, log });
  const server = createServer(app);
  const pgl = postgraphile(makePreset({ pool, log, hub, graphiql: opts.graphiql ?? process.env.NODE_ENV !== "production" }));
  const serv = pgl.createServ(grafserv);
  try {
    await serv.addTo(app, server);
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
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
    log.warn(`the API listens on ${host}: it is unauthenticated, anyone who can reach ${url} can start and cancel runs`);
  }
  log.info(
    `API at ${url}  (GraphQL ${GRAPHQL_PATH}, ${(opts.graphiql ?? process.env.NODE_ENV !== "production") ? `GraphiQL ${GRAPHIQL_PATH}, ` : ""}REST /api, AG-UI /api/agents/:agent/agui)`,
  );

  // websocket connections leave the server's connection tracking once upgraded: keep our own
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (_req, socket: Duplex) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      sse.closeAll();
      for (const socket of upgraded) socket.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.resolve(pgl.release()).catch((error: Error) => log.warn(`PostGraphile release failed: ${error.message}`));
      await hub.close();
      await pool.end();
    })());
  return { url, port, server, hub, sse, close };
}
