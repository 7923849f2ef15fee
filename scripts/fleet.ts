// Real processes for the chaos test, the load tests and the benchmark: `everruns worker` and
// `everruns api` spawned as child processes (so they can be kill -9'd and measured from the
// outside), scratch databases, /proc sampling, pg_stat_activity counts and small statistics.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { migrate } from "../db/migrate.ts";
import { createPool } from "../db/pool.ts";
import { PROJECT_ROOT } from "./database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
/** Output kept per child: enough for the last lines of a failure, bounded for long soaks. */
const KEEP_OUTPUT = 256 * 1024;

export interface ChildOptions {
  env?: Record<string, string>;
  /** Run the child inside this network namespace (`ip netns exec`; root only). */
  netns?: string;
}

export interface ProcessHandle {
  child: ChildProcess;
  pid: number;
  /** Everything the child printed (the last KEEP_OUTPUT characters). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGKILL, resolved once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface WorkerProcess extends ProcessHandle {
  poolId: string;
}

export interface ApiProcess extends ProcessHandle {
  url: string;
}

function spawnCli(args: string[], databaseUrl: string, opts: ChildOptions, ready: RegExp, what: string): Promise<{ handle: ProcessHandle; match: RegExpExecArray }> {
  const argv = [process.execPath, CLI, ...args];
  const [cmd, ...rest] = opts.netns ? ["ip", "netns", "exec", opts.netns, ...argv] : argv;
  const child = spawn(cmd!, rest, {
    env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: "info", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 2 * KEEP_OUTPUT) out = out.slice(-KEEP_OUTPUT);
  };
  child.stdout!.on("data", append);
  child.stderr!.on("data", append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const handle: ProcessHandle = {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    alive,
    async kill9() {
      if (alive()) child.kill("SIGKILL");
      await exited;
    },
    async stop(graceMs = 15_000) {
      if (!alive()) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within 60 s:\n${out.slice(-4000)}`));
    }, 60_000);
    const check = () => {
      const match = ready.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off("data", check);
      child.stderr!.off("data", check);
      resolve({ handle, match });
    };
    child.stdout!.on("data", check);
    child.stderr!.on("data", check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready:\n${out.slice(-4000)}`));
    });
  });
}

/** `everruns worker --concurrency N` as a child process; resolves once its pool is registered. */
export async function spawnWorkerProcess(databaseUrl: string, concurrency: number, opts: ChildOptions = {}): Promise<WorkerProcess> {
  const { handle, match } = await spawnCli(["worker", "--concurrency", String(concurrency)], databaseUrl, opts, /worker pool (\S+) started/, "worker");
  return { ...handle, poolId: match[1]! };
}

/** `everruns api` as a child process on 127.0.0.1:port; resolves once it listens. */
export async function spawnApiProcess(databaseUrl: string, port: number, opts: ChildOptions = {}): Promise<ApiProcess> {
  const { handle, match } = await spawnCli(["api"], databaseUrl, { ...opts, env: { PORT: String(port), LOG_LEVEL: "warn", ...opts.env } }, /API listening on (\S+)/, "API");
  return { ...handle, url: match[1]! };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new, migrated database on the server at serverUrl (dropped by drop()). */
export async function scratchDatabase(serverUrl: string, prefix = "everruns_scratch"): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), "everruns-migrate", 2);
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  return {
    url: url.toString(),
    async drop() {
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await admin.end();
    },
  };
}

/** Resident set size of a process in KiB (Linux /proc), or null when it cannot be read. */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Database connections by application_name, on this database only. */
export async function connectionsByApplication(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ app: string; n: number }>(
    `select case when application_name like 'everruns-worker:%' then 'everruns-worker:<pool id> (liveness)' else application_name end as app,
            count(*)::int as n
     from pg_stat_activity
     where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
     group by 1 order by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.app || "(none)", r.n]));
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Least-squares slope of y over x. */
export function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function summarize(values: number[], unit = "ms"): string {
  if (values.length === 0) return "no samples";
  return `p50 ${percentile(values, 50).toFixed(0)} ${unit}, p99 ${percentile(values, 99).toFixed(0)} ${unit}, max ${Math.max(...values).toFixed(0)} ${unit} (n=${values.length})`;
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

/** One line naming the machine and the versions, for every printed figure. */
export async function machineLine(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ v: string; sc: string; mc: string }>(
    "select current_setting('server_version') as v, current_setting('synchronous_commit') as sc, current_setting('max_connections') as mc",
  );
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  const everruns = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
  return (
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model?.trim() ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}; ` +
    `load average ${load}\n` +
    `versions: everruns ${everruns}, node ${process.version}, postgres ${rows[0]!.v} (synchronous_commit ${rows[0]!.sc}, max_connections ${rows[0]!.mc}), ` +
    `graphile-worker ${packageVersion("graphile-worker")}, pg ${packageVersion("pg")}`
  );
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; throws after timeoutMs. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
