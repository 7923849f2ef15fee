// What `everruns start` leaves on disk so that `everruns status`, `everruns stop` and a second
// start can tell what runs where: one JSON file per API port, <run dir>/start-<port>.json
// (run dir: EVERRUNS_RUN_DIR, default .everruns/), written when start begins and removed when
// it stops. A start killed with kill -9 leaves its file behind, with its embedded Postgres
// (pg_ctl starts it detached, so that the next start reuses it): status and stop find both.
import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { PROJECT_ROOT } from "../database.ts";
import { sleep } from "../../lib/sleep.ts";

export interface InstanceRecord {
  pid: number;
  /** starting: migrating, building the console; running: everything is up */
  state: "starting" | "running";
  host: string;
  apiPort: number;
  apiUrl: string | null;
  webUrl: string | null;
  /** the database URL (no password) */
  database: string | null;
  /** dataDir: where the server's data is; configured: EVERRUNS_DATA_DIR or its default (they differ as root: embedded-postgres.ts) */
  embedded: { dataDir: string; configured: string; port: number } | null;
  startedAt: string;
}

export function runDir(environment: NodeJS.ProcessEnv = process.env): string {
  return environment.EVERRUNS_RUN_DIR || path.join(PROJECT_ROOT, ".everruns");
}

function recordFile(apiPort: number): string {
  return path.join(runDir(), `start-${apiPort}.json`);
}

/** A URL without its password, for printing. */
export function withoutPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/, "$1:***@");
}

/**
 * Whether `pid` is a live `everruns` process: a pid is reused after its process dies (after a
 * reboot, a record's pid may be anything), so on Linux its command line must name everruns.
 */
export function everrunsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) [ZX] /.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("everruns");
  } catch {
    return false;
  }
}

export async function writeRecord(record: InstanceRecord): Promise<void> {
  await mkdir(runDir(), { recursive: true });
  await writeFile(recordFile(record.apiPort), JSON.stringify(record, null, 2) + "\n");
}

/** Removes this process's record (not one a newer start wrote over it). */
export async function removeRecord(apiPort: number): Promise<void> {
  const record = await readRecord(recordFile(apiPort));
  if (record && record.pid === process.pid) await rm(recordFile(apiPort), { force: true });
}

async function readRecord(file: string): Promise<InstanceRecord | null> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as InstanceRecord;
    return typeof parsed.pid === "number" && typeof parsed.apiPort === "number" ? parsed : null;
  } catch {
    return null;
  }
}

/** Every record in the run dir, with whether its process still lives. */
export async function listRecords(): Promise<Array<InstanceRecord & { alive: boolean; file: string }>> {
  const names = await readdir(runDir()).catch(() => [] as string[]);
  const out: Array<InstanceRecord & { alive: boolean; file: string }> = [];
  for (const name of names.filter((n) => /^start-\d+\.json$/.test(n)).sort()) {
    const file = path.join(runDir(), name);
    const record = await readRecord(file);
    if (record) out.push({ ...record, alive: everrunsAlive(record.pid), file });
  }
  return out;
}

/** The live start that serves (or is starting to serve) the API on `apiPort`, if any. */
export async function runningOn(apiPort: number): Promise<InstanceRecord | null> {
  const record = await readRecord(recordFile(apiPort));
  return record && record.pid !== process.pid && everrunsAlive(record.pid) ? record : null;
}

/** Whether something listens on host:port (a connect succeeds). */
export function portInUse(host: string, port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = net.connect({ host: host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host, port });
    const done = (inUse: boolean) => {
      socket.destroy();
      resolve(inUse);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** The embedded Postgres running on `dataDir` (its postmaster.pid names a live process), or null. */
export async function embeddedPostgresRunning(dataDir: string): Promise<{ pid: number; port: number } | null> {
  const text = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => null);
  if (text === null) return null;
  const lines = text.split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  if (/\) [ZX] /.test(stat)) return null;
  return { pid, port };
}

/** Sends `signal` to `pid` and waits up to `timeoutMs` for it to go; true when it went. */
export async function signalAndWait(pid: number, signal: NodeJS.Signals, timeoutMs: number, alive: (pid: number) => boolean): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return !alive(pid);
  }
  const deadline = performance.now() + timeoutMs;
  while (alive(pid)) {
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** Whether a process (any, zombies excluded) lives. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return process.platform !== "linux";
  }
}
