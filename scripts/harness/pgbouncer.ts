// A real PgBouncer (Debian's `pgbouncer` package) in transaction mode in front of a Postgres
// server, for tests and benchmarks of Everruns behind a pooler: its own ini and auth file in a
// temp dir, a free 127.0.0.1 port, stopped and cleaned up by stop().
//
// PgBouncer refuses to run as root: as root it runs as the `postgres` OS user (its files are
// made that user's). It has no prepared-statement support (1.18) and refuses startup parameters
// it does not know but for `ignore_startup_parameters`: the engine's pooled connections must
// carry neither (db/pool.ts, `pooled`). The engine's server-side timeouts cannot travel as
// startup parameters through it, so each server connection gets them from `connect_query`; a
// deployment can do that, or set them on the engine's roles (docs/deploy.md).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { dbTimeouts, type DbTimeouts } from "../../db/pool.ts";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";

const run = promisify(execFile);

export const PGBOUNCER_BINARY = process.env.PGBOUNCER_BINARY ?? "/usr/sbin/pgbouncer";

export interface PgBouncerOptions {
  /** Server connections per database and user (default 5). */
  defaultPoolSize?: number;
  /** Client connections PgBouncer accepts (default 2000). */
  maxClientConn?: number;
  /**
   * The server-side timeouts every server connection gets (connect_query `SET …`); default the
   * environment's EVERRUNS_DB_*_TIMEOUT_MS (db/pool.ts dbTimeouts), 0: the server's own.
   */
  timeouts?: Partial<Pick<DbTimeouts, "statementMs" | "lockMs" | "idleInTransactionMs">>;
  /** Startup parameters to ignore besides extra_float_digits (none by default: the engine must send none). */
  ignoreStartupParameters?: string[];
}

/** A row of the admin console's SHOW POOLS. */
export interface PgBouncerPool {
  database: string;
  user: string;
  cl_active: number;
  cl_waiting: number;
  sv_active: number;
  sv_idle: number;
  sv_used: number;
  maxwait: number;
  pool_mode: string;
}

export interface PgBouncer {
  /** The server URL with PgBouncer's host and port: same user, password and database. */
  url: string;
  port: number;
  /** SHOW POOLS (the admin console). */
  pools(): Promise<PgBouncerPool[]>;
  /** The local ports of PgBouncer's server connections (SHOW SERVERS): pg_stat_activity.client_port of its backends. */
  serverPorts(): Promise<number[]>;
  /** What PgBouncer printed (its log). */
  output(): string;
  /** SIGTERM (immediate shutdown), then removes its files. Idempotent. */
  stop(): Promise<void>;
}

/** True when the PgBouncer binary is installed (`apt-get install -y pgbouncer`). */
export async function pgbouncerInstalled(): Promise<boolean> {
  try {
    await run(PGBOUNCER_BINARY, ["--version"]);
    return true;
  } catch {
    return false;
  }
}

/** The `postgres` OS user's ids when we are root (PgBouncer will not run as root), else null. */
async function runAs(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  try {
    return {
      uid: Number((await run("id", ["-u", "postgres"])).stdout.trim()),
      gid: Number((await run("id", ["-g", "postgres"])).stdout.trim()),
    };
  } catch {
    throw new Error("PgBouncer refuses to run as root and there is no `postgres` OS user to run it as: create one (useradd postgres) or run as another user");
  }
}

/** An ini value in single quotes (PgBouncer's connstring syntax: a quote is doubled). */
function quoted(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** `"user" "password"`, as PgBouncer's auth_file wants it. */
function authLine(user: string, password: string): string {
  return `"${user.replaceAll('"', '""')}" "${password.replaceAll('"', '""')}"\n`;
}

/** Starts PgBouncer in transaction mode in front of the server of `serverUrl`; resolves once it accepts connections. */
export async function startPgBouncer(serverUrl: string, opts: PgBouncerOptions = {}): Promise<PgBouncer> {
  if (!(await pgbouncerInstalled())) {
    throw new Error(`no PgBouncer at ${PGBOUNCER_BINARY}: install it (apt-get install -y pgbouncer; .ci/run does) or set PGBOUNCER_BINARY`);
  }
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username) || "postgres";
  const password = decodeURIComponent(server.password);
  const timeouts = { ...dbTimeouts(), ...opts.timeouts };
  const sets = [
    ...(timeouts.statementMs > 0 ? [`SET statement_timeout = ${timeouts.statementMs}`] : []),
    ...(timeouts.lockMs > 0 ? [`SET lock_timeout = ${timeouts.lockMs}`] : []),
    ...(timeouts.idleInTransactionMs > 0 ? [`SET idle_in_transaction_session_timeout = ${timeouts.idleInTransactionMs}`] : []),
  ];
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), "everruns-pgbouncer-"));
  const ini = path.join(dir, "pgbouncer.ini");
  const authFile = path.join(dir, "userlist.txt");
  // every database name is forwarded to the server (the `*` fallback), as the same user
  const target = [
    `host=${server.hostname.replace(/^\[|\]$/g, "")}`,
    `port=${server.port || "5432"}`,
    ...(sets.length > 0 ? [`connect_query=${quoted(sets.join("; "))}`] : []),
  ].join(" ");
  const config = `[databases]
* = ${target}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
pidfile = ${path.join(dir, "pgbouncer.pid")}
; clients are trusted (tests on loopback); the auth file's password logs in to the server
auth_type = trust
auth_file = ${authFile}
admin_users = ${user}
pool_mode = transaction
default_pool_size = ${opts.defaultPoolSize ?? 5}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = ${opts.maxClientConn ?? 2000}
ignore_startup_parameters = ${["extra_float_digits", ...(opts.ignoreStartupParameters ?? [])].join(",")}
server_reset_query =
log_connections = 0
log_disconnections = 0
stats_period = 60
`;
  const as = await runAs();
  await writeFile(ini, config, { mode: 0o600 });
  await writeFile(authFile, authLine(user, password), { mode: 0o600 });
  if (as) {
    for (const file of [dir, ini, authFile]) await chown(file, as.uid, as.gid);
  }
  await chmod(dir, 0o700);

  let out = "";
  const child: ChildProcess = spawn(PGBOUNCER_BINARY, [ini], { ...(as ?? {}), stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  child.on("error", (error) => (out += `\n${error.message}`));
  // a process that could not be spawned emits 'error' and never 'exit'
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  let ended = false;
  void exited.then(() => (ended = true));
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (!ended) child.kill("SIGTERM");
      await exited;
      await rm(dir, { recursive: true, force: true });
    })());

  const url = new URL(serverUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  const adminUrl = new URL(url);
  adminUrl.pathname = "/pgbouncer";
  const admin = async <R extends pg.QueryResultRow>(text: string): Promise<R[]> => {
    const client = new pg.Client({ connectionString: adminUrl.toString() });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return (await client.query<R>(text)).rows; // the admin console speaks the simple protocol only
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  // ready: the admin console answers
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (ended) {
      await stop();
      throw new Error(`pgbouncer exited before accepting connections (${JSON.stringify(await exited)}):\n${out}`);
    }
    try {
      await admin("SHOW VERSION");
      break;
    } catch (error) {
      if (performance.now() > deadline) {
        await stop();
        throw new Error(`pgbouncer did not accept connections on 127.0.0.1:${port} within 10 s (${(error as Error).message}):\n${out}`, { cause: error });
      }
      await sleep(20);
    }
  }

  return {
    url: url.toString(),
    port,
    async pools() {
      const rows = await admin<Record<string, string>>("SHOW POOLS");
      return rows.map((r) => ({
        database: r.database!,
        user: r.user!,
        cl_active: Number(r.cl_active),
        cl_waiting: Number(r.cl_waiting),
        sv_active: Number(r.sv_active),
        sv_idle: Number(r.sv_idle),
        sv_used: Number(r.sv_used),
        maxwait: Number(r.maxwait),
        pool_mode: r.pool_mode!,
      }));
    },
    async serverPorts() {
      const rows = await admin<{ local_port: string }>("SHOW SERVERS");
      return rows.map((r) => Number(r.local_port));
    },
    output: () => out,
    stop,
  };
}
