// The console's HTTP server, run as a child process by scripts/web.ts: Next.js serves the
// production build in web/.next, and /graphql (HTTP requests and websocket upgrades) is passed
// through to the API, so the browser talks to one origin and needs no CORS or API URL.
//
// Why a process of its own: Next.js patches globals when it loads (module resolution of
// react, fetch, NODE_ENV); the API and the worker that `everruns start` runs in its process
// must not see that.
//
// Every request and upgrade passes the request guard first (api/request-guard.ts): its Host must
// name this server (localhost, 127.0.0.1, [::1], EVERRUNS_WEB_HOST, EVERRUNS_ALLOWED_HOSTS), and
// a websocket or a state-changing request must come from the console's own origin (or one in
// EVERRUNS_ALLOWED_ORIGINS). The browser's Origin is passed on to the API, which checks it again.
//
// Environment: EVERRUNS_WEB_API_URL (http://host:port of the API), EVERRUNS_WEB_PORT (0 picks a
// free one), EVERRUNS_WEB_HOST, EVERRUNS_WEB_DEV=1 (next dev: no build, hot reload; for working
// on the console), EVERRUNS_ALLOWED_HOSTS, EVERRUNS_ALLOWED_ORIGINS. Prints `everruns-web ready
// <url>` once it listens; exits when its parent goes away (stdin closes) or on SIGTERM.
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { makeRequestGuard, refuseUpgrade, sendRefusal, type RequestGuard } from "../api/request-guard.ts";
import { loadRequestGuardEnv } from "../db/env.ts";

// next is loaded through require and typed here by hand: importing its types would bring its
// global declarations (a narrowed process.env.NODE_ENV, React's JSX) into the rest of the
// project's type check.
interface NextApp {
  prepare(): Promise<void>;
  getRequestHandler(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  getUpgradeHandler(): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
  close(): Promise<void>;
}
type CreateNextApp = (options: { dev: boolean; dir: string; hostname: string; port: number; httpServer: http.Server; quiet: boolean }) => NextApp;
const next = createRequire(import.meta.url)("next") as CreateNextApp;

const WEB_DIR = fileURLToPath(new URL("../web", import.meta.url));
const GRAPHQL_PATH = "/graphql";

const apiUrl = new URL(process.env.EVERRUNS_WEB_API_URL ?? "http://127.0.0.1:4000");
const host = process.env.EVERRUNS_WEB_HOST || "127.0.0.1";
const port = Number(process.env.EVERRUNS_WEB_PORT ?? 3000);
const dev = process.env.EVERRUNS_WEB_DEV === "1";
// an API bound to every address (0.0.0.0, ::) is reached on loopback, under a name it answers to
const upstreamHostname = apiUrl.hostname === "0.0.0.0" ? "127.0.0.1" : apiUrl.hostname === "[::]" ? "[::1]" : apiUrl.hostname;
const upstreamHost = `${upstreamHostname}${apiUrl.port ? `:${apiUrl.port}` : ""}`;

function isGraphql(url: string | undefined): boolean {
  const pathname = (url ?? "").split("?")[0];
  return pathname === GRAPHQL_PATH || pathname === `${GRAPHQL_PATH}/`;
}

function upstreamOptions(req: http.IncomingMessage): http.RequestOptions {
  return {
    protocol: apiUrl.protocol,
    hostname: upstreamHostname.replace(/^\[(.*)\]$/, "$1"), // [::1] → ::1
    port: apiUrl.port || 80,
    method: req.method,
    path: req.url,
    // the browser's Origin goes on as it came: the API checks it too
    headers: { ...req.headers, host: upstreamHost },
  };
}

/** An HTTP request to /graphql: streamed both ways; a 502 in GraphQL's shape when the API is down. */
function proxyRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const upstream = http.request(upstreamOptions(req), (upRes) => {
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.headers);
    upRes.pipe(res);
  });
  upstream.on("error", (error) => {
    if (res.headersSent) return void res.destroy(error);
    res.writeHead(502, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ errors: [{ message: `the API at ${apiUrl.origin} is not reachable (${error.message})`, extensions: { code: "api_unreachable" } }] }),
    );
  });
  req.pipe(upstream);
}

/** A websocket upgrade on /graphql: the API's 101 is relayed, then the two sockets are piped. */
function proxyUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, sockets: Set<Duplex>): void {
  const upstream = http.request(upstreamOptions(req));
  upstream.on("upgrade", (upRes, upSocket, upHead) => {
    const lines = [`HTTP/1.1 101 ${upRes.statusMessage ?? "Switching Protocols"}`];
    for (let i = 0; i < upRes.rawHeaders.length; i += 2) lines.push(`${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (upHead.length) socket.write(upHead);
    if (head.length) upSocket.write(head);
    sockets.add(upSocket);
    const end = () => {
      socket.destroy();
      upSocket.destroy();
      sockets.delete(upSocket);
    };
    upSocket.on("error", end).on("close", end);
    socket.on("error", end).on("close", end);
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  upstream.on("response", (upRes) => {
    // the API answered without upgrading (a refusal): pass its status and body on and close
    const chunks: Buffer[] = [];
    let size = 0;
    upRes.on("data", (chunk: Buffer) => {
      if ((size += chunk.length) <= 64 * 1024) chunks.push(chunk);
    });
    upRes.on("error", () => socket.destroy());
    upRes.on("end", () => {
      const body = Buffer.concat(chunks);
      const type = upRes.headers["content-type"] ? `content-type: ${upRes.headers["content-type"]}\r\n` : "";
      socket.write(`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n${type}connection: close\r\ncontent-length: ${body.length}\r\n\r\n`);
      socket.end(body);
    });
  });
  upstream.on("error", () => socket.destroy());
  upstream.end();
}

async function main(): Promise<void> {
  const guardEnv = loadRequestGuardEnv(); // an invalid EVERRUNS_ALLOWED_* stops the console here, named
  const server = http.createServer();
  // built on first use: the port is known once the server listens (port 0)
  let guard: RequestGuard | null = null;
  const getGuard = () =>
    (guard ??= makeRequestGuard({
      name: "the console",
      port: (server.address() as AddressInfo).port,
      bindHost: host,
      allowedHosts: guardEnv.EVERRUNS_ALLOWED_HOSTS,
      allowedOrigins: guardEnv.EVERRUNS_ALLOWED_ORIGINS,
      log: { debug: () => undefined, info: () => undefined, warn: (message) => console.error(message), error: (message) => console.error(message) },
    }));
  const app = next({ dev, dir: WEB_DIR, hostname: host, port, httpServer: server, quiet: !dev });
  await app.prepare();
  const handle = app.getRequestHandler();
  const upgrade = dev ? app.getUpgradeHandler() : null;

  const sockets = new Set<Duplex>();
  server.on("request", (req, res) => {
    const refusal = getGuard().checkRequest(req);
    if (refusal) return sendRefusal(res, refusal);
    if (isGraphql(req.url)) return proxyRequest(req, res);
    handle(req, res).catch((error: Error) => {
      console.error(`console request ${req.method} ${req.url} failed: ${error.stack ?? error.message}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error");
    });
  });
  server.on("upgrade", (req, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    const refusal = getGuard().checkUpgrade(req);
    if (refusal) return refuseUpgrade(socket, refusal);
    if (isGraphql(req.url)) proxyUpgrade(req, socket, head, sockets);
    else if (upgrade)
      upgrade(req, socket, head).catch(() => socket.destroy()); // hot reload (dev)
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${actual}`;
  console.log(`everruns-web ready ${url}`);

  let closing = false;
  const close = async () => {
    if (closing) return;
    closing = true;
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await app.close().catch(() => undefined);
    process.exit(0);
  };
  process.on("SIGTERM", () => void close());
  process.on("SIGINT", () => void close());
  // the parent holds our stdin: when it goes away (even kill -9), so do we
  process.stdin.on("end", () => void close());
  process.stdin.on("error", () => void close());
  process.stdin.resume();
}

main().catch((error: Error) => {
  console.error(`the console server failed to start: ${error.stack ?? error.message}`);
  process.exit(1);
});
