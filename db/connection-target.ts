// Where a database connection goes: libpq's multi-host URLs (`postgres://u@h1:5432,h2:5433/db`)
// and `target_session_attrs`, which node-postgres does not understand, so that a failover to a
// new primary is followed without a restart or a new DATABASE_URL.
//
// The hosts are tried in order (the one that last qualified first), each by its name: Node
// resolves it anew on every connect, so a DNS name moved to the new primary is followed too.
// With `read-write` a host qualifies when `show transaction_read_only` is off (as libpq checks);
// with `primary`, when `pg_is_in_recovery()` is false. When no host qualifies, connect fails
// with NoTargetHostError, which isConnectionError recognises (SQLSTATE class 08): the callers
// treat it as "the database is not back yet" and retry with backoff.
//
// A plain one-host URL without target_session_attrs is handed to pg as it is: same config, no
// extra round trip (createClient and createPool use pg's own Client for it).
import pg from "pg";
import { isConnectionError } from "./errors.ts";

export type TargetSessionAttrs = "any" | "read-write" | "primary";

export interface HostPort {
  /** As written in the URL (an IPv6 address without its brackets); resolved on every connect. */
  host: string;
  port: number;
}

export interface ConnectionTarget {
  /** The hosts in the order the URL lists them. */
  hosts: HostPort[];
  targetSessionAttrs: TargetSessionAttrs;
  /** false: a plain one-host URL, given to pg as it is. */
  routed: boolean;
  /** The URL for one of `hosts`: same credentials, database and other parameters, target_session_attrs dropped. */
  urlFor(host: HostPort): string;
}

const TARGET_SESSION_ATTRS: readonly string[] = ["any", "read-write", "primary"];
const DEFAULT_PORT = 5432;

/** A DATABASE_URL this module cannot follow (a bad host list, an unsupported target_session_attrs). */
export class ConnectionTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectionTargetError";
  }
}

/**
 * No host of the URL took a connection that qualifies (all unreachable, read-only or standbys):
 * during a failover, the new primary is not there yet. SQLSTATE 08001 (the client could not
 * establish a connection), so isConnectionError treats it as an outage to ride out.
 */
export class NoTargetHostError extends Error {
  readonly code = "08001";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NoTargetHostError";
  }
}

/**
 * Reads `connectionString` as libpq does for the parts node-postgres lacks: several `host[:port]`
 * separated by commas (`[::1]:5432` for IPv6; a host without a port gets the `port` parameter, or
 * 5432) and `target_session_attrs` (any, read-write, primary). Other parameters are kept, in the
 * URL each host gets. A string that is not a postgres:// URL (keyword=value, a socket path) is
 * left to pg, unrouted. Throws ConnectionTargetError naming what is wrong.
 */
export function parseConnectionTarget(connectionString: string): ConnectionTarget {
  const url = /^(postgres(?:ql)?:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(connectionString);
  if (!url) return unrouted(connectionString);
  const [, scheme, authority, path, search = "", fragment = ""] = url as unknown as [string, string, string, string, string | undefined, string | undefined];
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : "";
  const hostList = authority.slice(at + 1);

  const params = search
    .slice(1)
    .split("&")
    .filter((p) => p !== "");
  const paramName = (p: string) => decodeParam(p.split("=")[0]!);
  const paramValue = (p: string) => decodeParam(p.includes("=") ? p.slice(p.indexOf("=") + 1) : "");
  const attrsParams = params.filter((p) => paramName(p) === "target_session_attrs");
  const attrs = attrsParams.length > 0 ? paramValue(attrsParams[attrsParams.length - 1]!) : "any";
  if (!TARGET_SESSION_ATTRS.includes(attrs)) {
    throw new ConnectionTargetError(
      `the database URL's target_session_attrs is "${attrs}": Everruns supports any, read-write and primary (a worker and the API need a writable database)`,
    );
  }
  const entries = hostList.split(",");
  if (entries.length === 1 && attrs === "any") return unrouted(connectionString);

  const portParam = params.find((p) => paramName(p) === "port");
  const defaultPort = portParam === undefined ? DEFAULT_PORT : parsePort(paramValue(portParam), "the port parameter");
  if (params.some((p) => paramName(p) === "host")) {
    throw new ConnectionTargetError(
      "the database URL has a host parameter and a host list (or target_session_attrs): list the hosts in one place, postgres://user@host1:5432,host2:5432/db",
    );
  }
  const hosts = entries.map((entry) => parseHostEntry(entry, defaultPort));
  const kept = params.filter((p) => paramName(p) !== "target_session_attrs");
  const rest = `${path}${kept.length > 0 ? `?${kept.join("&")}` : ""}${fragment}`;
  return {
    hosts,
    targetSessionAttrs: attrs as TargetSessionAttrs,
    routed: true,
    urlFor: (host) => `${scheme}${userinfo}${host.host.includes(":") ? `[${host.host}]` : host.host}:${host.port}${rest}`,
  };
}

/** A query parameter's name or value as URLSearchParams reads it; as written when malformed. */
function decodeParam(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

function unrouted(connectionString: string): ConnectionTarget {
  return { hosts: [], targetSessionAttrs: "any", routed: false, urlFor: () => connectionString };
}

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ConnectionTargetError(`the database URL's ${what} "${text}" is not a port (1-65535)`);
  return port;
}

function parseHostEntry(entry: string, defaultPort: number): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d*))?$/.exec(entry);
  if (!m) {
    throw new ConnectionTargetError(`the database URL's host list has an invalid entry "${entry}": expected host[:port] or [ipv6]:port, separated by commas`);
  }
  const host = m[1] ?? decodeURIComponent(m[2]!);
  const port = m[3] === undefined || m[3] === "" ? defaultPort : parsePort(m[3], `port of ${host}`);
  return { host, port };
}

/** "host:port", "[::1]:5432": how hosts are named in messages and remembered. */
export function hostLabel(host: HostPort): string {
  return host.host.includes(":") ? `[${host.host}]:${host.port}` : `${host.host}:${host.port}`;
}

/** The host that last qualified, by URL: tried first next time (it is the primary until a failover). */
const lastGood = new Map<string, string>();

/** The hosts in the order to try them: the last good one first, then the others as listed. */
export function candidateOrder(connectionString: string, target: ConnectionTarget): HostPort[] {
  const good = lastGood.get(connectionString);
  const first = target.hosts.find((h) => hostLabel(h) === good);
  return first ? [first, ...target.hosts.filter((h) => h !== first)] : [...target.hosts];
}

const parsed = new Map<string, ConnectionTarget>();

/** parseConnectionTarget, once per connection string (every pooled connect asks). */
function targetOf(connectionString: string): ConnectionTarget {
  let target = parsed.get(connectionString);
  if (!target) {
    target = parseConnectionTarget(connectionString);
    if (parsed.size > 100) parsed.clear();
    parsed.set(connectionString, target);
  }
  return target;
}

/** Why `client`'s server does not qualify for `attrs`, or null when it does. */
async function disqualified(client: pg.Client, attrs: TargetSessionAttrs): Promise<string | null> {
  switch (attrs) {
    case "any":
      return null;
    case "read-write": {
      // what libpq asks (before Postgres 14 reports in_hot_standby itself)
      const { rows } = await client.query<{ transaction_read_only: string }>("show transaction_read_only");
      return rows[0]?.transaction_read_only === "off" ? null : "is read-only (a standby, or a primary being demoted)";
    }
    case "primary": {
      const { rows } = await client.query<{ in_recovery: boolean }>("select pg_catalog.pg_is_in_recovery() as in_recovery");
      return rows[0]?.in_recovery === false ? null : "is a standby (in recovery)";
    }
  }
}

/** EventEmitter's own fields: kept when a client is reset for its next host, so its listeners stay. */
const EMITTER_FIELDS = new Set<string | symbol>(["_events", "_eventsCount", "_maxListeners"]);

/** Events of a failed try that the client's users must not see (they would take it for a lost connection). */
const ATTEMPT_EVENTS = new Set<string | symbol>(["end", "error", "connect"]);

/**
 * A pg.Client for a routed URL (several hosts, or target_session_attrs): usable as pg.Pool's
 * `Client`, or alone through createClient. connect() tries the hosts until one qualifies; its
 * users see one connect, as with pg.Client: the events of the tries before ('end', 'error',
 * 'connect') are not passed on.
 *
 * pg.Client connects once; between tries the client takes the state of a fresh pg.Client for the
 * next host (every own field but its listeners), after the previous try's socket has closed.
 */
export class RoutedClient extends pg.Client {
  readonly #config: pg.ClientConfig & { connectionString: string };
  readonly #target: ConnectionTarget;
  #host: HostPort;
  #trying = false;
  #endCalled = false;

  constructor(config: pg.ClientConfig & { connectionString: string }) {
    const target = targetOf(config.connectionString);
    const first = candidateOrder(config.connectionString, target)[0];
    super(first ? { ...config, connectionString: target.urlFor(first) } : config);
    this.#config = config;
    this.#target = target;
    this.#host = first ?? { host: "", port: 0 };
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (this.#trying && ATTEMPT_EVENTS.has(event)) return false;
    return super.emit(event, ...args);
  }

  override end(): Promise<void>;
  override end(callback: (error: Error) => void): void;
  override end(callback?: (error: Error) => void): Promise<void> | void {
    this.#endCalled = true; // no further host is tried
    return callback ? super.end(callback) : super.end();
  }

  override connect(): Promise<void>;
  override connect(callback: (error: Error) => void): void;
  override connect(callback?: (error: Error) => void): Promise<void> | void {
    const connected = this.#connectToTarget();
    if (!callback) return connected;
    connected.then(() => (callback as (error: Error | null, client: pg.Client) => void)(null, this), callback);
  }

  async #connectToTarget(): Promise<void> {
    const { connectionString } = this.#config;
    const timeoutMs = this.#config.connectionTimeoutMillis ?? 0;
    const deadline = timeoutMs > 0 ? performance.now() + timeoutMs : Infinity;
    const failures: string[] = [];
    let firstError: Error | null = null;
    let onlyUnreachable = true;
    this.#trying = true;
    try {
      for (const [i, host] of candidateOrder(connectionString, this.#target).entries()) {
        if (i > 0 && (performance.now() >= deadline || this.#endCalled)) break;
        if (host !== this.#host) this.#resetFor(host);
        const connection = this.connection as unknown as NodeJS.EventEmitter & { stream: { destroy(): void } };
        const closed = new Promise((resolve) => connection.once("end", resolve));
        try {
          await super.connect();
        } catch (error) {
          firstError ??= error as Error;
          failures.push(`${hostLabel(host)} could not be reached (${(error as Error).message})`);
          if (!isConnectionError(error)) onlyUnreachable = false;
          connection.stream.destroy();
          await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1_000))]); // a try that never opened a socket has no 'end'
          await new Promise((resolve) => setImmediate(resolve)); // pg's own 'end' of this try, swallowed
          continue;
        }
        let why: string | null;
        try {
          why = await disqualified(this, this.#target.targetSessionAttrs);
        } catch (error) {
          firstError ??= error as Error;
          why = `could not be checked (${(error as Error).message})`;
        }
        if (why === null) {
          lastGood.set(connectionString, hostLabel(host));
          this.#trying = false;
          super.emit("connect");
          return;
        }
        failures.push(`${hostLabel(host)} ${why}`);
        await super.end().catch(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#trying = false;
    }
    if (this.#endCalled) throw new Error("Connection terminated: the client was ended while connecting");
    // an error that is no outage (a wrong password, an unknown database) is not retried forever
    if (!onlyUnreachable && firstError) throw firstError;
    const attrs = this.#target.targetSessionAttrs;
    throw new NoTargetHostError(
      `no database host ${attrs === "any" ? "could be reached" : `qualifies for target_session_attrs=${attrs}`}: ${failures.join("; ")}. ` +
        (attrs === "any" ? "The database is unreachable" : "The database is not writable yet (a failover may be under way)") +
        ": retrying; if it lasts, check DATABASE_URL's host list",
      { cause: firstError ?? undefined },
    );
  }

  /**
   * Every error the server sends (pg.Client's handler, not in its types). A read-only answer
   * (SQLSTATE 25006, read_only_sql_transaction) on a connection that qualified as writable means
   * the server was demoted under us: the error still goes to its query (isConnectionError
   * treats it as "not back yet"), and the connection is dropped, so that a pool does not hand it
   * out again and a standalone client's owner reconnects (to the new primary) on its 'end'.
   */
  _handleErrorMessage(msg: { code?: string }): void {
    (pg.Client.prototype as unknown as { _handleErrorMessage(msg: unknown): void })._handleErrorMessage.call(this, msg);
    if (msg.code !== "25006" || this.#trying || this.#target.targetSessionAttrs === "any") return;
    const self = this as unknown as { _queryable: boolean; connection: { stream: { destroy(): void } } };
    // what pg does on a broken socket: no query after this one, released clients leave the pool
    self._queryable = false;
    self.connection.stream.destroy();
  }

  /** This client as a fresh pg.Client for `host` would be, its listeners kept. */
  #resetFor(host: HostPort): void {
    const fresh = new pg.Client({ ...this.#config, connectionString: this.#target.urlFor(host) });
    // what the try set that a fresh client lacks (readyForQuery, processID, …) goes too
    for (const key of Reflect.ownKeys(this)) {
      if (typeof key === "symbol" || EMITTER_FIELDS.has(key) || Object.hasOwn(fresh, key)) continue;
      Reflect.deleteProperty(this, key);
    }
    for (const key of Reflect.ownKeys(fresh)) {
      if (typeof key === "symbol" || EMITTER_FIELDS.has(key)) continue;
      Object.defineProperty(this, key, Object.getOwnPropertyDescriptor(fresh, key)!);
    }
    this.#host = host;
  }
}

/**
 * A client for `connectionString` with pg's options `config` (application_name, timeouts,
 * keepAlive): a pg.Client for a plain URL, a RoutedClient for several hosts or
 * target_session_attrs. Attach listeners, then connect() it as a pg.Client.
 */
export function createClient(connectionString: string, config: Omit<pg.ClientConfig, "connectionString"> = {}): pg.Client {
  const target = targetOf(connectionString);
  return target.routed ? new RoutedClient({ ...config, connectionString }) : new pg.Client({ ...config, connectionString });
}

/**
 * createClient, connected: for a short-lived check (the worker's probe). Errors of the connection
 * after connect go to `onError` (by default nowhere: a query on it fails anyway). Ended when
 * connect fails.
 */
export async function connectClient(
  connectionString: string,
  config: Omit<pg.ClientConfig, "connectionString"> = {},
  onError: (error: Error) => void = () => undefined,
): Promise<pg.Client> {
  const client = createClient(connectionString, config);
  client.on("error", onError);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/** pg.Pool's `Client` option for `connectionString`: undefined (pg's own) for a plain URL. */
export function poolClientFor(connectionString: string): typeof pg.Client | undefined {
  return targetOf(connectionString).routed ? RoutedClient : undefined;
}
