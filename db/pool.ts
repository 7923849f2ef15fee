import pg from "pg";
import { consoleLogger, type Logger, type LogLevel } from "../lib/logger.ts";
import { poolClientFor } from "./connection-target.ts";
import { DB_TIMEOUT_DEFAULTS, loadDbTimeoutsEnv } from "./env.ts";

// bigint columns (count(*), ids) as numbers: our counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
// numeric as numbers (durations, costs): display values, not money arithmetic.
pg.types.setTypeParser(1700, (v) => Number.parseFloat(v));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * What every db/sql function runs on: a pool, a checked-out client (a transaction, PostGraphile's
 * client in a mutation) or a dedicated connection (the API's LISTEN connection). pg.Pool,
 * pg.PoolClient and pg.Client all satisfy it as they are.
 */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` reads as a Postgres uuid (so `$1::uuid` will not fail on it). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The engine's database timeouts, in ms (0: off); from EVERRUNS_DB_*_TIMEOUT_MS (db/env.ts). */
export interface DbTimeouts {
  statementMs: number;
  lockMs: number;
  idleInTransactionMs: number;
  /** a new connection, and a free one of a pool */
  connectMs: number;
}

/** This process's timeouts, from its environment (validated: an invalid value throws ConfigError naming it). */
export function dbTimeouts(source: NodeJS.ProcessEnv = process.env): DbTimeouts {
  const env = loadDbTimeoutsEnv(source);
  return {
    statementMs: env.EVERRUNS_DB_STATEMENT_TIMEOUT_MS,
    lockMs: env.EVERRUNS_DB_LOCK_TIMEOUT_MS,
    idleInTransactionMs: env.EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    connectMs: env.EVERRUNS_DB_CONNECT_TIMEOUT_MS,
  };
}

/**
 * pg options that give a connection `timeouts`: the server settings travel in the startup
 * packet, so they cost no query per use; 0 leaves a setting to the server.
 */
export function timeoutOptions(
  timeouts: DbTimeouts,
): Pick<pg.ClientConfig, "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" | "connectionTimeoutMillis"> {
  return {
    ...(timeouts.statementMs > 0 ? { statement_timeout: timeouts.statementMs } : {}),
    ...(timeouts.lockMs > 0 ? { lock_timeout: timeouts.lockMs } : {}),
    ...(timeouts.idleInTransactionMs > 0 ? { idle_in_transaction_session_timeout: timeouts.idleInTransactionMs } : {}),
    ...(timeouts.connectMs > 0 ? { connectionTimeoutMillis: timeouts.connectMs } : {}),
  };
}

export interface PoolOptions {
  /**
   * For applying migrations: no statement, lock or idle-in-transaction timeout. A migration may
   * run long, and migrating processes queue on one advisory lock (db/migrate.ts) for as long as
   * the one ahead of them takes.
   */
  migrations?: boolean;
  /** Overrides of the environment's timeouts (tests). */
  timeouts?: Partial<DbTimeouts>;
  /**
   * The URL is a transaction-mode pooler (PgBouncer; DATABASE_DIRECT_URL is set): its connections
   * carry no startup parameters the pooler would refuse (the statement, lock and idle-in-transaction
   * timeouts: set them at the pooler or on the role, docs/deploy.md) and use no named prepared
   * statements (a statement prepared in one transaction is gone, or another's, in the next). Only
   * transaction-scoped state may be used on such a pool: no SET, session advisory locks, LISTEN
   * or temporary tables.
   */
  pooled?: boolean;
  /**
   * Where the pool's diagnostics go (slow waits for a connection, lost connections): warn lines
   * with the pool's name in `pool`. The API passes its own (component api); by default the
   * process's "db" logger (defaultPoolLogger).
   */
  log?: Logger;
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
let poolLogger: Logger | undefined;

/**
 * The logger of pools made without one: component "db", at LOG_LEVEL (when it names a level),
 * in the format of LOG_FORMAT (lib/logger.ts); made once per process.
 */
function defaultPoolLogger(): Logger {
  const level = LOG_LEVELS.find((l) => l === process.env.LOG_LEVEL) ?? "info";
  poolLogger ??= consoleLogger("[db]", level);
  return poolLogger;
}

/**
 * The URL of a direct connection to the database: DATABASE_DIRECT_URL when DATABASE_URL goes
 * through a transaction-mode pooler, else DATABASE_URL itself. LISTEN, the worker's liveness
 * connection, migrations and the start-up checks use it; queries use DATABASE_URL.
 */
export function directUrl(env: { DATABASE_URL: string; DATABASE_DIRECT_URL?: string | undefined }): string {
  return env.DATABASE_DIRECT_URL || env.DATABASE_URL;
}

/**
 * `Base` whose queries are never named (`{ name, text }` runs as an unnamed statement): a named
 * statement is prepared on one server connection, and behind a transaction-mode pooler the next
 * query may run on another (PgBouncer 1.18 has no prepared-statement support). PostGraphile's pg
 * adaptor and graphile-worker both name their queries by default.
 */
function withoutNamedStatements(Base: typeof pg.Client): typeof pg.Client {
  const query = Reflect.get(Base.prototype, "query") as (...args: unknown[]) => unknown;
  class UnnamedStatementsClient extends Base {}
  Object.defineProperty(UnnamedStatementsClient.prototype, "query", {
    configurable: true,
    writable: true,
    value: function (this: pg.Client, ...args: unknown[]): unknown {
      const config = args[0] as { name?: unknown; submit?: unknown } | null;
      if (config && typeof config === "object" && config.name !== undefined) {
        // a Submittable (pg.Query, a cursor) is used as it is: unname it in place
        if (typeof config.submit === "function") config.name = undefined;
        else args[0] = { ...config, name: undefined };
      }
      return query.apply(this, args);
    },
  });
  return UnnamedStatementsClient;
}

/** A wait for a pool's connection at least this long counts as slow and is logged. */
const SLOW_WAIT_MS = 1_000;
/** At most one slow-wait line per pool this often. */
const SLOW_WAIT_REPORT_MS = 30_000;

/** How a pool's callers waited for its connections (EnginePool.waits); null for a pool not made by createPool. */
export function poolWaits(pool: pg.Pool): { slow: number; maxMs: number } | null {
  return pool instanceof EnginePool ? { ...pool.waits } : null;
}

/** A free connection of a pool was not there within connectionTimeoutMillis. */
export class PoolTimeoutError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PoolTimeoutError";
  }
}

/**
 * pg.Pool whose "timeout exceeded when trying to connect" (every connection busy for
 * connectionTimeoutMillis) says what happened and what to change. pg-pool's query() goes
 * through connect() too.
 */
class EnginePool extends pg.Pool {
  /**
   * Waits for a connection of this pool (a free one, or a new one while under max): how many
   * took longer than SLOW_WAIT_MS, and the longest. A worker's thousand slots share a few
   * connections; when commits queue for them this is where it shows (and in a log line).
   */
  readonly waits = { slow: 0, maxMs: 0 };
  private slowUnreported = 0;
  private slowMaxUnreportedMs = 0;
  private slowReportedAt = -Infinity;
  /** Where the slow-wait lines go (createPool's PoolOptions.log; pg-pool has a `log` of its own). */
  diagnostics: Logger = defaultPoolLogger();

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(
    callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void,
  ): Promise<pg.PoolClient> | void {
    const since = performance.now();
    if (!callback) {
      return super.connect().then(
        (client) => {
          this.waited(performance.now() - since);
          return client;
        },
        (error: unknown) => {
          throw this.explain(error);
        },
      );
    }
    super.connect((error, client, done) => {
      if (!error) this.waited(performance.now() - since);
      callback(error ? (this.explain(error) as Error) : error, client, done);
    });
  }

  /** Counts a wait; one log line per SLOW_WAIT_REPORT_MS at most while waits are slow. */
  private waited(ms: number): void {
    if (ms > this.waits.maxMs) this.waits.maxMs = ms;
    if (ms < SLOW_WAIT_MS) return;
    this.waits.slow++;
    this.slowUnreported++;
    this.slowMaxUnreportedMs = Math.max(this.slowMaxUnreportedMs, ms);
    const now = performance.now();
    if (now - this.slowReportedAt < SLOW_WAIT_REPORT_MS) return;
    this.slowReportedAt = now;
    const name = String(this.options.application_name);
    this.diagnostics.warn(
      `${name}: ${this.slowUnreported} wait(s) for a database connection took over ${SLOW_WAIT_MS} ms ` +
        `(longest ${Math.round(this.slowMaxUnreportedMs)} ms): all ${this.options.max} connections of the pool were busy. ` +
        "Raise the pool (worker: --db-connections / WORKER_DB_CONNECTIONS; API: API_DB_CONNECTIONS) within the connection budget, or look for slow statements",
      {
        pool: name,
        waits: this.slowUnreported,
        slowest_ms: Math.round(this.slowMaxUnreportedMs),
        threshold_ms: SLOW_WAIT_MS,
        max_connections: this.options.max,
        waits_total: this.waits.slow,
      },
    );
    this.slowUnreported = 0;
    this.slowMaxUnreportedMs = 0;
  }

  private explain(error: unknown): unknown {
    if ((error as Error | null)?.message !== "timeout exceeded when trying to connect") return error;
    const ms = this.options.connectionTimeoutMillis;
    return new PoolTimeoutError(
      `no database connection came free within ${ms} ms (EVERRUNS_DB_CONNECT_TIMEOUT_MS=${ms}): all ${this.options.max} connections of this pool ` +
        `(${String(this.options.application_name)}) were busy; look for slow statements, or raise EVERRUNS_DB_CONNECT_TIMEOUT_MS (0: wait forever) or the pool size`,
      { cause: error },
    );
  }
}

/**
 * A pool for the engine (worker, API) or a command. Its connections carry the timeouts of the
 * environment (EVERRUNS_DB_*_TIMEOUT_MS, or none for `migrations`; only the connect timeout when
 * `pooled`: behind PgBouncer), and follow a DATABASE_URL
 * with several hosts or target_session_attrs to the writable one (db/connection-target.ts); a
 * plain URL gets pg's own client.
 */
export function createPool(connectionString: string, applicationName: string, max = 10, options: PoolOptions = {}): pg.Pool {
  const timeouts: DbTimeouts = {
    ...dbTimeouts(),
    ...(options.migrations ? { statementMs: 0, lockMs: 0, idleInTransactionMs: 0 } : {}),
    ...options.timeouts,
  };
  const routed = poolClientFor(connectionString);
  const Client = options.pooled ? withoutNamedStatements(routed ?? pg.Client) : routed;
  // behind a pooler only the client-side connect timeout applies; the server-side ones would be
  // startup parameters, which PgBouncer refuses ("unsupported startup parameter")
  const timeoutConfig = timeoutOptions(options.pooled ? { ...timeouts, statementMs: 0, lockMs: 0, idleInTransactionMs: 0 } : timeouts);
  const pool = new EnginePool({
    connectionString,
    application_name: applicationName,
    max,
    idleTimeoutMillis: 30_000,
    // TCP keepalive: a connection to a host that vanished (a partition) is noticed by the kernel
    // rather than waited on for ever; the server side needs its own (docs/deploy.md)
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...timeoutConfig,
    ...(Client ? { Client } : {}),
  });
  const log = options.log ?? defaultPoolLogger();
  pool.diagnostics = log;
  // A client that loses its connection must not crash the process (an 'error' event with no
  // listener would); the next query gets a fresh connection. An outage drops every connection
  // at once, and an idle one reports it twice (pool and client): one line per pool per outage.
  const lost = lostConnectionLog(applicationName, log);
  pool.on("error", lost);
  pool.on("connect", (client) => client.on("error", lost));
  return pool;
}

/** Logs a lost connection of a pool, then stays quiet for a while but for a count of those lost meanwhile. */
function lostConnectionLog(applicationName: string, log: Logger): (error: Error) => void {
  const QUIET_MS = 10_000;
  let quietUntil = 0;
  let unreported = 0;
  return (error) => {
    const now = performance.now();
    if (now < quietUntil) {
      unreported++;
      return;
    }
    const more = unreported > 0 ? ` (and ${unreported} more since the last such line)` : "";
    const fields = { pool: applicationName, err: error, ...(unreported > 0 && { lost_unreported: unreported }) };
    unreported = 0;
    quietUntil = now + QUIET_MS;
    log.warn(`${applicationName}: database connection lost: ${error.message}${timeoutHint(error) ?? ""}${more}`, fields);
  };
}

/** Which of our timeouts an error is, by its SQLSTATE and message; null when none. */
function whichTimeout(error: unknown): { name: string; variable: string; fallbackMs: number } | null {
  const e = error as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === "string" ? e.message : "";
  if (e?.code === "57014" && /statement timeout/i.test(message)) {
    return { name: "statement timeout", variable: "EVERRUNS_DB_STATEMENT_TIMEOUT_MS", fallbackMs: DB_TIMEOUT_DEFAULTS.statementMs };
  }
  if (e?.code === "55P03" && /lock timeout/i.test(message)) {
    return { name: "lock timeout", variable: "EVERRUNS_DB_LOCK_TIMEOUT_MS", fallbackMs: DB_TIMEOUT_DEFAULTS.lockMs };
  }
  if (e?.code === "25P03") {
    return { name: "idle-in-transaction timeout", variable: "EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", fallbackMs: DB_TIMEOUT_DEFAULTS.idleInTransactionMs };
  }
  if (error instanceof PoolTimeoutError || /Connection terminated due to connection timeout|timeout expired/.test(message)) {
    return { name: "connect timeout", variable: "EVERRUNS_DB_CONNECT_TIMEOUT_MS", fallbackMs: DB_TIMEOUT_DEFAULTS.connectMs };
  }
  return null;
}

/** True when `error` (or its cause) is one of the engine's database timeouts. */
export function isDbTimeout(error: unknown, depth = 0): boolean {
  if (!error || depth > 5) return false;
  if (whichTimeout(error)) return true;
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && cause !== error && isDbTimeout(cause, depth + 1);
}

/**
 * When `error` (or its cause) is one of the engine's database timeouts: a sentence naming it, its
 * value and the variable that sets it, for the log line of the failure; null otherwise.
 * E.g. "the database lock timeout fired (EVERRUNS_DB_LOCK_TIMEOUT_MS=10000 ms): …".
 */
export function describeTimeout(error: unknown, depth = 0): string | null {
  if (!error || depth > 5) return null;
  const which = whichTimeout(error);
  if (!which) {
    const cause = (error as { cause?: unknown }).cause;
    return cause !== undefined && cause !== error ? describeTimeout(cause, depth + 1) : null;
  }
  let ms: number;
  try {
    const env = loadDbTimeoutsEnv();
    ms = env[which.variable as keyof typeof env];
  } catch {
    ms = which.fallbackMs;
  }
  const what =
    which.name === "lock timeout"
      ? "a statement waited that long for a lock another session holds"
      : which.name === "statement timeout"
        ? "a statement ran that long"
        : which.name === "idle-in-transaction timeout"
          ? "a session sat that long in an open transaction and the server ended it"
          : "no database connection was had in that time";
  return `the database ${which.name} fired (${which.variable}=${ms} ms): ${what}; if that is expected, raise ${which.variable} (0: off)`;
}

/** " (the database … timeout fired …)" for appending to a log line, or null. */
export function timeoutHint(error: unknown): string | null {
  const described = describeTimeout(error);
  return described ? ` (${described})` : null;
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await fn(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
