// A primary and a streaming standby a test owns (embedded binaries, scripts/embedded-postgres.ts),
// for failovers done for real: stop the primary as in a crash, promote the standby.
//
// The standby is a copy of the primary's data directory taken while the primary is stopped
// cleanly (no pg_basebackup: the embedded package has none, and the machine's may be of another
// major version), with standby.signal and primary_conninfo added. Replication is synchronous
// once the standby streams: a commit the primary acknowledged is on the standby, as a managed
// database's failover promises, so a test can count what was committed exactly.
import { execFile } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { migrate } from "../../db/migrate.ts";
import { createPool } from "../../db/pool.ts";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../scripts/embedded-postgres.ts";
import { query } from "../../scripts/harness/throwaway-cluster.ts";

const run = promisify(execFile);

export interface PrimaryStandby {
  /** Both hosts, the standby first, with target_session_attrs=read-write: what a worker is given. */
  url: string;
  primaryUrl: string;
  standbyUrl: string;
  primaryPort: number;
  standbyPort: number;
  /** `pg_ctl stop -m immediate` of the primary: every connection drops at once, as in a crash. */
  stopPrimaryImmediate(): Promise<void>;
  /** `pg_ctl promote` of the standby; resolves once it takes writes. */
  promoteStandby(): Promise<void>;
  /** Stops both and removes their data. */
  destroy(): Promise<void>;
}

/** `sql` until it returns a truthy first column, or throws after `timeoutMs` naming `what`. */
async function until(url: string, sql: string, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await query<{ ok: boolean }>(url, sql).catch(() => []);
    if (rows[0]?.ok) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export async function startPrimaryStandby(): Promise<PrimaryStandby> {
  const root = await mkdtemp(path.join(tmpdir(), "everruns-failover-"));
  const requested = path.join(root, "primary");
  const options = { dataDir: requested, port: 0, durable: true, database: "everruns" };
  let primary: EmbeddedPostgres = await startEmbeddedPostgres(options);
  const primaryDir = primary.dataDir; // as root: a directory the `postgres` user can reach
  const standbyDir = `${primaryDir}-standby`;
  const dirs = [root, primaryDir, standbyDir];
  let standby: EmbeddedPostgres | null = null;
  const cleanup = async () => {
    await primary.stop();
    await standby?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  };
  try {
    const pgCtl = ((await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string }).pg_ctl;
    // as root the servers run as the data directory's owner (`postgres`)
    const owner = await stat(primaryDir);
    const as = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
    const pool = createPool(primary.url, "everruns-test-migrate", 2, { migrations: true });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }

    // initdb's pg_hba.conf lets 127.0.0.1 replicate (trust); wal_level is replica by default
    const hba = await readFile(path.join(primaryDir, "pg_hba.conf"), "utf8");
    if (!/^host\s+replication\s+all\s+127\.0\.0\.1\/32/m.test(hba)) {
      await appendFile(path.join(primaryDir, "pg_hba.conf"), "\nhost replication all 127.0.0.1/32 trust\n");
    }
    const primaryPort = primary.port;
    await primary.stop(); // a clean stop: the copy is a consistent cluster
    await run("cp", ["-a", primaryDir, standbyDir]);
    await rm(path.join(standbyDir, "postmaster.pid"), { force: true });
    await rm(path.join(standbyDir, "server.log"), { force: true });
    await writeFile(path.join(standbyDir, "standby.signal"), "");
    await appendFile(
      path.join(standbyDir, "postgresql.auto.conf"),
      `\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=standby'\n`,
    );
    if (process.getuid?.() === 0) await run("chown", ["-R", `${owner.uid}:${owner.gid}`, standbyDir]);

    primary = await startEmbeddedPostgres({ ...options, dataDir: primaryDir, port: primaryPort });
    standby = await startEmbeddedPostgres({ ...options, dataDir: standbyDir, port: await freePort() });
    const standbyUrl = standby.url;
    await until(standbyUrl, "select pg_catalog.pg_is_in_recovery() as ok", "the copy to run as a standby");
    await until(primary.url, "select count(*) > 0 as ok from pg_catalog.pg_stat_replication where state = 'streaming'", "the standby to stream");
    await query(primary.url, "alter system set synchronous_standby_names = 'standby'");
    await query(primary.url, "select pg_catalog.pg_reload_conf()");
    await until(primary.url, "select bool_or(sync_state = 'sync') as ok from pg_catalog.pg_stat_replication", "synchronous replication");

    const standbyPort = standby.port;
    return {
      url: `postgres://postgres@127.0.0.1:${standbyPort},127.0.0.1:${primaryPort}/everruns?target_session_attrs=read-write`,
      primaryUrl: primary.url,
      standbyUrl,
      primaryPort,
      standbyPort,
      async stopPrimaryImmediate() {
        await run(pgCtl, ["stop", "-D", primaryDir, "-m", "immediate", "-w", "-t", "30"], { ...as, cwd: primaryDir });
      },
      async promoteStandby() {
        await run(pgCtl, ["promote", "-D", standbyDir, "-w", "-t", "60"], { ...as, cwd: standbyDir });
        await until(standbyUrl, "select not pg_catalog.pg_is_in_recovery() as ok", "the promoted standby to take writes");
      },
      destroy: cleanup,
    };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}
