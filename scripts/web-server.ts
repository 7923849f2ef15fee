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
// The session is this server's: the browser logs in with an API key, and the key lives in an
// httpOnly cookie (everruns_session: SameSite=Strict, Path=/, Secure over https, 12 h) that page
// scripts cannot read. The API never sees the cookie: the /graphql proxy drops every incoming
// Cookie and Authorization header and sends `Authorization: Bearer <the session's key>` instead
// (no session: no key, and the API answers 401, or closes the websocket with 4401).
//
//   POST   /session          {"key": "evr_…"} (Content-Type: application/json): checks the key with
//                            the API (GET /api/whoami) and sets the cookie; 200 whoami, or the
//                            API's 401 `{"error": {"code", "message"}}`
//   GET    /session          whoami of the session's key (workspace, role), or 401
//   DELETE /session          logs out: clears the cookie (also POST /session/logout)
//
// Logging in and out change state: the guard's Origin check is in front of them (a page of
// another site is refused 403), the cookie is SameSite=Strict, and POST /session takes only a
// JSON body (which a cross-site form cannot send).
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
import { API_KEY_PATTERN } from "../lib/api-key.ts";

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
const SESSION_PATH = "/session";
const SESSION_COOKIE = "everruns_session";
const SESSION_MAX_AGE_S = 12 * 60 * 60;
const SESSION_BODY_LIMIT = 8 * 1024;
const WHOAMI_TIMEOUT_MS = 10_000;

const apiUrl = new URL(process.env.EVERRUNS_WEB_API_URL ?? "http://127.0.0.1:4000");
const host = process.env.EVERRUNS_WEB_HOST || "127.0.0.1";
const port = Number(process.env.EVERRUNS_WEB_PORT ?? 3000);
const dev = process.env.EVERRUNS_WEB_DEV === "1";
// an API bound to every address (0.0.0.0, ::) is reached on loopback, under a name it answers to
const upstreamHostname = apiUrl.hostname === "0.0.0.0" ? "127.0.0.1" : apiUrl.hostname === "[::]" ? "[::1]" : apiUrl.hostname;
const upstreamHost = `${upstreamHostname}${apiUrl.port ? `:${apiUrl.port}` : ""}`;

function pathnameOf(url: string | undefined): string {
  return (url ?? "").split("?")[0]!;
}

function isGraphql(url: string | undefined): boolean {
  const pathname = pathnameOf(url);
  return pathname === GRAPHQL_PATH || pathname === `${GRAPHQL_PATH}/`;
}

function isSession(url: string | undefined): boolean {
  const pathname = pathnameOf(url);
  return pathname === SESSION_PATH || pathname === `${SESSION_PATH}/` || pathname === `${SESSION_PATH}/logout`;
}

// ---- the session cookie -------------------------------------------------------------------

/** The session's API key, from the request's cookie; null without one (or when it holds no key). */
function sessionKey(req: http.IncomingMessage): string | null {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    if (API_KEY_PATTERN.test(value)) return value;
  }
  return null;
}

/** Served over https: directly, or behind a proxy that terminates TLS and says so. */
function isHttps(req: http.IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  const proto = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(proto) ? proto[0] : proto)?.split(",")[0]?.trim().toLowerCase();
  return first === "https";
}

function sessionCookie(req: http.IncomingMessage, key: string | null): string {
  const attributes = ["Path=/", "HttpOnly", "SameSite=Strict", ...(isHttps(req) ? ["Secure"] : [])];
  if (key === null) return [`${SESSION_COOKIE}=`, "Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT", ...attributes].join("; ");
  return [`${SESSION_COOKIE}=${key}`, `Max-Age=${SESSION_MAX_AGE_S}`, ...attributes].join("; ");
}

// ---- the API ------------------------------------------------------------------------------

/**
 * The headers a request to the API carries: the browser's, less its cookies (the console's, never
 * the API's business) and any Authorization it sent; the session's key instead. The browser's
 * Origin goes on as it came: the API checks it too.
 */
function upstreamHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const { cookie: _cookie, authorization: _authorization, ...headers } = req.headers;
  const key = sessionKey(req);
  return { ...headers, host: upstreamHost, ...(key ? { authorization: `Bearer ${key}` } : {}) };
}

function upstreamOptions(req: http.IncomingMessage): http.RequestOptions {
  return {
    protocol: apiUrl.protocol,
    hostname: upstreamHostname.replace(/^\[(.*)\]$/, "$1"), // [::1] → ::1
    port: apiUrl.port || 80,
    method: req.method,
    path: req.url,
    headers: upstreamHeaders(req),
  };
}

interface ApiAnswer {
  status: number;
  body: unknown;
}

/** GET /api/whoami of the API with `key`: its status and JSON body. Rejects when the API is not reachable. */
function whoami(key: string): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const upstream = http.request(
      {
        protocol: apiUrl.protocol,
        hostname: upstreamHostname.replace(/^\[(.*)\]$/, "$1"),
        port: apiUrl.port || 80,
        method: "GET",
        path: "/api/whoami",
        headers: { host: upstreamHost, accept: "application/json", authorization: `Bearer ${key}` },
        timeout: WHOAMI_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          let body: unknown = null;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            // not JSON: the status says enough
          }
          resolve({ status: res.statusCode ?? 502, body });
        });
      },
    );
    upstream.on("timeout", () => upstream.destroy(new Error(`no answer within ${WHOAMI_TIMEOUT_MS / 1000} s`)));
    upstream.on("error", reject);
    upstream.end();
  });
}

// ---- /session -----------------------------------------------------------------------------

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

function sendSessionError(res: http.ServerResponse, status: number, code: string, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

/** The request's body as text, at most `limit` bytes (null when larger). */
function readBody(req: http.IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The API's answer to a key, as the session endpoints give it: whoami (200), the API's refusal, or 502. */
async function checkKey(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  key: string,
  onValid: (body: unknown) => http.OutgoingHttpHeaders,
): Promise<boolean> {
  let answer: ApiAnswer;
  try {
    answer = await whoami(key);
  } catch (error) {
    sendSessionError(res, 502, "api_unreachable", `the API at ${apiUrl.origin} is not reachable (${(error as Error).message}); try again when it is back`);
    return false;
  }
  if (answer.status === 200) {
    sendJson(res, 200, answer.body, onValid(answer.body));
    return true;
  }
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === "string" ? error.code : answer.status === 401 ? "invalid_key" : "api_error";
  const message = typeof error?.message === "string" ? error.message : `the API answered HTTP ${answer.status}`;
  // the key is refused (401, 403): no session with it; anything else is the API's trouble (5xx)
  const status = answer.status === 401 || answer.status === 403 ? answer.status : 502;
  sendSessionError(res, status, code, message, status === 401 ? { "set-cookie": sessionCookie(req, null) } : {});
  return false;
}

/** GET, POST, DELETE /session and POST /session/logout (the guard has passed the request). */
async function handleSession(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const logout = pathnameOf(req.url).endsWith("/logout");
  const method = req.method ?? "GET";
  if ((logout && method === "POST") || (!logout && method === "DELETE")) {
    req.resume();
    return sendJson(res, 200, { loggedOut: true }, { "set-cookie": sessionCookie(req, null) });
  }
  if (!logout && (method === "GET" || method === "HEAD")) {
    const key = sessionKey(req);
    if (!key) return sendSessionError(res, 401, "unauthenticated", "not logged in: log in with an API key");
    await checkKey(req, res, key, () => ({}));
    return;
  }
  if (!logout && method === "POST") {
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]!
      .trim()
      .toLowerCase();
    if (type !== "application/json") {
      req.resume();
      return sendSessionError(res, 415, "unsupported_media_type", 'send {"key": "evr_…"} as a JSON body with Content-Type: application/json');
    }
    const text = await readBody(req, SESSION_BODY_LIMIT);
    if (text === null) return sendSessionError(res, 413, "too_large", "the request body is too large");
    let key: unknown;
    try {
      key = (JSON.parse(text) as { key?: unknown } | null)?.key;
    } catch {
      return sendSessionError(res, 400, "invalid_json", 'the request body is not valid JSON: send {"key": "evr_…"}');
    }
    if (typeof key !== "string" || !key.trim()) return sendSessionError(res, 400, "missing_key", "enter an API key");
    const trimmed = key.trim();
    if (!API_KEY_PATTERN.test(trimmed)) {
      return sendSessionError(
        res,
        401,
        "unauthenticated",
        "this is not an Everruns API key: a key is evr_ followed by 43 letters, digits, - and _ (paste all of it)",
      );
    }
    await checkKey(req, res, trimmed, () => ({ "set-cookie": sessionCookie(req, trimmed) }));
    return;
  }
  req.resume();
  sendSessionError(res, 405, "method_not_allowed", `${method} ${pathnameOf(req.url)} is not supported (GET, POST or DELETE /session, POST /session/logout)`, {
    allow: logout ? "POST" : "GET, HEAD, POST, DELETE",
  });
}

/** An HTTP request to /graphql: streamed both ways; a 502 in GraphQL's shape when the API is down. */
function proxyRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  const upstream = http.request(upstreamOptions(req), (upRes) => {
    // the console's origin has one cookie, its own
    const { "set-cookie": _setCookie, ...headers }: http.OutgoingHttpHeaders = upRes.headers;
    // the session's key is refused (revoked, expired): the session ends with it
    if (upRes.statusCode === 401 && sessionKey(req)) headers["set-cookie"] = sessionCookie(req, null);
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, headers);
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
    if (isSession(req.url)) {
      return void handleSession(req, res).catch((error: Error) => {
        console.error(`console request ${req.method} ${req.url} failed: ${error.stack ?? error.message}`);
        if (!res.headersSent) sendSessionError(res, 500, "internal_error", "internal error; the console's log has the details");
        else res.destroy();
      });
    }
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
