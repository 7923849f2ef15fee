// A Postgres cluster a test owns (embedded binaries, scripts/embedded-postgres.ts), to stop and
// start again on the same data directory and port: a database outage, done for real. Server
// settings (max_connections for a connection budget, ...) can be given for the whole cluster.
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { migrate } from "../../db/migrate.ts";
import { createPool } from "../../db/pool.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../embedded-postgres.ts";

const run = promisify(execFile);

export interface ThrowawayCluster {
  url: string;
  /** `pg_ctl stop -m immediate`: every connection drops at once, as in a crash. */
  stopImmediate(): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export interface ThrowawayClusterOptions {
  /**
   * Server settings, postgresql.conf names to values (e.g. `{ max_connections: "50" }`): written
   * with ALTER SYSTEM, then the server restarts (max_connections and the like take effect only
   * at start), before the cluster is migrated. They stay for stopImmediate()/start().
   */
  settings?: Record<string, string>;
}

export async function startThrowawayCluster(opts: ThrowawayClusterOptions = {}): Promise<ThrowawayCluster> {
  const root = await mkdtemp(path.join(tmpdir(), "everruns-outage-"));
  const requested = path.join(root, "pg");
  // durable: a non-durable cluster (synchronous_commit off) loses its last acknowledged commits
  // in an immediate stop, which a real database never does: the outage would rewind the runs
  const options = { dataDir: requested, port: 0, durable: true, database: "everruns" };
  let pg1: EmbeddedPostgres = await startEmbeddedPostgres(options);
  const pgCtl = ((await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string }).pg_ctl;
  // as root the server runs as the data directory's owner (`postgres`)
  const owner = await stat(pg1.dataDir);
  const as = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  const settings = Object.entries(opts.settings ?? {});
  if (settings.length > 0) {
    try {
      pg1 = await applySettings(pg1, settings, () => startEmbeddedPostgres({ ...options, port: pg1.port }));
    } catch (error) {
      await pg1.stop();
      await rm(root, { recursive: true, force: true });
      if (pg1.dataDir !== requested) await rm(pg1.dataDir, { recursive: true, force: true });
      throw error;
    }
  }
  const pool = createPool(pg1.url, "everruns-test-migrate", 2, { migrations: true });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return {
    url: pg1.url,
    async stopImmediate() {
      await run(pgCtl, ["stop", "-D", pg1.dataDir, "-m", "immediate", "-w", "-t", "30"], { ...as, cwd: pg1.dataDir });
    },
    async start() {
      pg1 = await startEmbeddedPostgres({ ...options, port: pg1.port });
    },
    async destroy() {
      await pg1.stop();
      await rm(root, { recursive: true, force: true });
      if (pg1.dataDir !== requested) await rm(pg1.dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * ALTER SYSTEM for each setting (it refuses an unknown name or a bad value, naming it), then a
 * restart: startEmbeddedPostgres initialises and starts in one go, and max_connections and the
 * like take effect only at a start.
 */
async function applySettings(server: EmbeddedPostgres, settings: Array<[string, string]>, restart: () => Promise<EmbeddedPostgres>): Promise<EmbeddedPostgres> {
  for (const [name, value] of settings) {
    // ALTER SYSTEM takes no parameters: format() quotes the name (%I) and the value (%L)
    const [{ sql }] = (await query<{ sql: string }>(server.url, "select format('alter system set %I = %L', $1::text, $2::text) as sql", [name, value])) as [
      { sql: string },
    ];
    await query(server.url, sql);
  }
  await server.stop();
  const restarted = await restart();
  const pending = await query<{ name: string }>(restarted.url, "select name from pg_settings where name = any($1) and pending_restart", [
    settings.map(([name]) => name),
  ]);
  if (pending.length > 0) throw new Error(`throwaway cluster: settings still pending after the restart: ${pending.map((r) => r.name).join(", ")}`);
  return restarted;
}

/** A client on `url` for one query, for checks while the cluster may be down. */
export async function query<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
