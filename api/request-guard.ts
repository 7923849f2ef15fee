// The browser-facing guard of the API and the console's server: the API has no authentication
// yet, so a web page that a user of `everruns start` happens to open must not be able to drive
// it. Two checks, both before anything else sees the request:
//
// - Host: every HTTP request and websocket upgrade must name this server by one of its own
//   names (localhost, 127.0.0.1, [::1] and the HOST it binds to, with its port or none) or one
//   listed in EVERRUNS_ALLOWED_HOSTS. A page on evil.example whose name is rebound to 127.0.0.1
//   (DNS rebinding) still sends `Host: evil.example`, and is refused. (/healthz is mounted
//   before the guard: load balancers probe it by IP, and it changes nothing.)
// - Origin: a websocket upgrade, and a state-changing request (anything but GET, HEAD and
//   OPTIONS) that carries an Origin, must come from this server's own origins, the console's,
//   an origin whose host is the request's (allowed) Host, or one in EVERRUNS_ALLOWED_ORIGINS.
//   Browsers always send Origin on those; requests without one (curl, the CLI, SDKs, other
//   servers) are not a browser's and pass.
//
// Refusals are 403 `{"error": {"code": "host_not_allowed" | "origin_not_allowed", "message"}}`;
// a refused upgrade is answered so before any websocket exists.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { RequestHandler } from "express";
import { normalizeHostEntry, normalizeOriginEntry, type AllowList } from "../db/env.ts";
import type { Logger } from "../lib/logger.ts";

export type { AllowList } from "../db/env.ts";

export interface Refusal {
  status: 403;
  code: "host_not_allowed" | "origin_not_allowed";
  message: string;
}

export interface GuardOptions {
  /** How messages name the server: "the API", "the console". */
  name: string;
  /** The port it listens on. */
  port: number;
  /** The address or name it binds to (HOST). */
  bindHost: string;
  /** EVERRUNS_ALLOWED_HOSTS: further host[:port] (an entry without a port allows any port); "*": no Host check (unsafe). */
  allowedHosts?: AllowList;
  /** EVERRUNS_ALLOWED_ORIGINS: further exact origins; "*": no Origin check (unsafe). */
  allowedOrigins?: AllowList;
  /** Origins allowed besides the server's own (the API: the console's). */
  trustedOrigins?: readonly string[];
  /** Refusals are logged at warn, once per distinct host or origin. */
  log?: Logger;
}

export interface RequestGuard {
  checkHost(host: string | undefined): Refusal | null;
  checkOrigin(origin: string | undefined, host: string | undefined): Refusal | null;
  /** An HTTP request: its Host, and its Origin when it is state-changing. */
  checkRequest(req: Pick<IncomingMessage, "method" | "url" | "headers">): Refusal | null;
  /** A websocket upgrade: its Host and its Origin. */
  checkUpgrade(req: Pick<IncomingMessage, "url" | "headers">): Refusal | null;
  /** What is allowed (for logs and tests). */
  readonly hosts: AllowList;
  readonly origins: AllowList;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const WILDCARD_HOSTS = new Set(["", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0"]);
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** A wildcard bind address (0.0.0.0, ::) names no host. */
export function isWildcardHost(host: string): boolean {
  return WILDCARD_HOSTS.has(host.toLowerCase());
}

/** The names a server bound to `bindHost` answers to by default: loopback's, and HOST's when it names one. */
export function serverNames(bindHost: string): string[] {
  const names = [...LOOPBACK_NAMES];
  const own = isWildcardHost(bindHost) ? null : normalizeHostEntry(bindHost);
  if (own && !names.includes(own)) names.push(own);
  return names;
}

/** http://<name>:<port> for each of serverNames(bindHost). */
export function serverOrigins(port: number, bindHost: string): string[] {
  return serverNames(bindHost).map((name) => normalizeOriginEntry(`http://${name}:${port}`)!);
}

/** GraphiQL (Ruru): never with NODE_ENV=production; otherwise as asked, by default only on a loopback HOST. */
export function graphiqlEnabled({ requested, nodeEnv, host }: { requested: boolean | undefined; nodeEnv: string | undefined; host: string }): boolean {
  if (nodeEnv === "production") return false;
  return requested ?? isLoopbackHost(host);
}

// Origins of the consoles this process serves (scripts/web.ts): a console on a port chosen at
// start (port 0) is known only once it listens, after the API started.
const inProcessOrigins = new Map<string, number>();

/** Lets every guard of this process allow `origins` until the returned function is called. */
export function trustOrigins(origins: readonly string[]): () => void {
  const normalized = origins.map((o) => normalizeOriginEntry(o) ?? o);
  for (const o of normalized) inProcessOrigins.set(o, (inProcessOrigins.get(o) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const o of normalized) {
      const n = (inProcessOrigins.get(o) ?? 1) - 1;
      if (n > 0) inProcessOrigins.set(o, n);
      else inProcessOrigins.delete(o);
    }
  };
}

/** "host:port" → "host", "[::1]:4000" → "[::1]". */
function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.indexOf(":");
  return colon < 0 ? host : host.slice(0, colon);
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

export function makeRequestGuard(opts: GuardOptions): RequestGuard {
  const { name, port, log } = opts;
  const names = serverNames(opts.bindHost);
  // exact Host values, and names allowed with any port
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  for (const n of names) exact.add(n).add(`${n}:${port}`);
  if (opts.allowedHosts !== "*") {
    for (const entry of opts.allowedHosts ?? []) (entry === hostnameOf(entry) ? anyPort : exact).add(entry);
  }
  const origins = new Set<string>([...serverOrigins(port, opts.bindHost), ...(opts.trustedOrigins ?? []).map((o) => normalizeOriginEntry(o) ?? o)]);
  if (opts.allowedOrigins !== "*") for (const o of opts.allowedOrigins ?? []) origins.add(o);

  const logged = new Set<string>();
  const refuse = (code: Refusal["code"], key: string, message: string, what: string): Refusal => {
    if (log && !logged.has(key) && logged.size < 100) {
      logged.add(key);
      log.warn(`refused ${what}: ${message}`);
    }
    return { status: 403, code, message };
  };

  const hostAllowed = (host: string | undefined) => {
    if (opts.allowedHosts === "*") return true;
    if (!host) return false;
    const h = host.toLowerCase();
    return exact.has(h) || anyPort.has(hostnameOf(h));
  };

  const checkHost = (host: string | undefined, what = "a request"): Refusal | null => {
    if (hostAllowed(host)) return null;
    return refuse(
      "host_not_allowed",
      `host ${host}`,
      host
        ? `${name} does not answer to the host name "${host}" (a guard against DNS rebinding); to reach it by that name, list it in EVERRUNS_ALLOWED_HOSTS (comma-separated host[:port])`
        : `${name} needs a Host header naming it`,
      what,
    );
  };

  const checkOrigin = (origin: string | undefined, host: string | undefined, what = "a request"): Refusal | null => {
    if (origin === undefined || opts.allowedOrigins === "*") return null;
    const o = normalizeOriginEntry(origin) ?? origin;
    if (origins.has(o) || inProcessOrigins.has(o)) return null;
    // same origin: a page this server itself served under an allowed name (GraphiQL, behind a proxy)
    if (host && originHost(o) === host.toLowerCase() && hostAllowed(host)) return null;
    return refuse(
      "origin_not_allowed",
      `origin ${o}`,
      `${name} does not accept requests from web pages at ${o} (a page of another site may not drive it); to allow that origin, list it in EVERRUNS_ALLOWED_ORIGINS (comma-separated)`,
      what,
    );
  };

  const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

  return {
    hosts: opts.allowedHosts === "*" ? "*" : [...exact, ...anyPort],
    origins: opts.allowedOrigins === "*" ? "*" : [...origins],
    checkHost: (host) => checkHost(host),
    checkOrigin: (origin, host) => checkOrigin(origin, host),
    checkRequest(req) {
      const host = header(req.headers.host);
      const what = `${req.method} ${req.url}`;
      const refusal = checkHost(host, what);
      if (refusal || SAFE_METHODS.has(req.method ?? "GET")) return refusal;
      return checkOrigin(header(req.headers.origin), host, what);
    },
    checkUpgrade(req) {
      const host = header(req.headers.host);
      const what = `a websocket on ${req.url}`;
      return checkHost(host, what) ?? checkOrigin(header(req.headers.origin), host, what);
    },
  };
}

function refusalBody(refusal: Refusal): string {
  return JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
}

/** Answers an HTTP request with the refusal. */
export function sendRefusal(res: ServerResponse, refusal: Refusal): void {
  const body = refusalBody(refusal);
  res.writeHead(refusal.status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Answers a websocket upgrade with the refusal (a plain HTTP response: no websocket is opened) and closes. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal): void {
  const body = refusalBody(refusal);
  socket.on("error", () => undefined); // the client may already be gone
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** Express middleware: refused requests end here; mount it after the routes that stay open (/healthz). */
export function guardMiddleware(guard: () => RequestGuard): RequestHandler {
  return (req, res, next) => {
    const refusal = guard().checkRequest(req);
    if (refusal) return sendRefusal(res, refusal);
    next();
  };
}
