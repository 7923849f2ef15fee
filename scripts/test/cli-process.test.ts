// Process life as the README tour does it, on an embedded Postgres of its own: `npm start`
// prints the server's own pid; a second start beside it refuses before starting anything;
// SIGINT to npm's pid stops everything; `kill -9 <pid>` mid-step leaves the embedded Postgres
// (status and stop say so), and the next start resumes the run with attempt = 2; `everruns
// stop` stops a running start.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../database.ts";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const NPM_BIN_DIR = path.join(PROJECT_ROOT, "node_modules", ".bin");
let root: string;
let env: NodeJS.ProcessEnv;
let pgPort: number;
let apiPort: number;
const children: ChildProcess[] = [];

interface Started {
  child: ChildProcess;
  output: () => string;
}

function launch(command: string, args: string[]): Started {
  let output = "";
  const child = spawn(command, args, { env, cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  children.push(child);
  return { child, output: () => output };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, output?: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}${output ? `:\n${output()}` : ""}`);
    await sleep(100);
  }
}

async function startedPid(s: Started): Promise<number> {
  await until("everruns start", () => s.output().includes("Everruns is running") || s.child.exitCode !== null, 400_000, s.output);
  const match = /^ {2}pid {10}(\d+) /m.exec(s.output());
  expect(match, s.output()).not.toBeNull();
  return Number(match![1]);
}

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extra }, cwd: PROJECT_ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    // a start that is not refused would run until stopped: stop it, and let the test fail on its output
    const timer = setTimeout(() => child.kill("SIGTERM"), 120_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), "everruns-process-"));
  pgPort = await freePort();
  apiPort = await freePort();
  env = {
    ...process.env,
    PATH: `${NPM_BIN_DIR}:${process.env.PATH}`,
    DATABASE_URL: "",
    EVERRUNS_DATA_DIR: path.join(root, "pg"),
    EVERRUNS_PG_PORT: String(pgPort),
    EVERRUNS_RUN_DIR: path.join(root, "run"),
    PORT: String(apiPort),
    EVERRUNS_WEB_PORT: String(await freePort()),
    EVERRUNS_API_KEY: "",
    EVERRUNS_API_KEY_FILE: path.join(root, "admin-key"),
    EVERRUNS_SECRET_KEY: randomBytes(32).toString("base64"),
  };
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await cli(["stop"]); // whatever is left, the embedded Postgres included
  rmSync(root, { recursive: true, force: true });
}, 120_000);

describe("process life", () => {
  it("npm start prints the server's pid; a second start refuses; SIGINT to npm's pid stops everything", async () => {
    const npm = launch("npm", ["start", "--silent"]);
    const pid = await startedPid(npm);
    expect(pid).not.toBe(npm.child.pid);

    const second = await cli(["start"]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^everruns: everruns is already running on :${apiPort} \\(pid ${pid}, console http://`));
    expect(second.stderr.split("\n")).toHaveLength(2);
    expect(second.stderr + second.stdout).not.toMatch(/worker|migrat/i); // nothing started

    // another PORT, the same embedded Postgres: refused too (the first to stop would stop it under the other)
    const sharing = await cli(["start"], { PORT: String(await freePort()), EVERRUNS_WEB_PORT: String(await freePort()) });
    expect(sharing.code).toBe(1);
    expect(sharing.stderr).toMatch(new RegExp(`^everruns: everruns is already running on :${apiPort} \\(pid ${pid}\\) with the embedded Postgres in `));

    const status = await cli(["status", "--json"]);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as {
      instances: Array<{ pid: number; alive: boolean; apiHealth: string; embeddedPostgres: { port: number; pid: number } }>;
    };
    expect(report.instances).toMatchObject([{ pid, alive: true, apiHealth: "ok", embeddedPostgres: { port: pgPort } }]);
    const pgPid = report.instances[0]!.embeddedPostgres.pid;
    expect(alive(pgPid)).toBe(true);
    const readable = await cli(["status"]);
    expect(readable.stdout).toContain(`everruns start  pid ${pid}, running`);
    expect(readable.stdout).toContain(`health: ok`);

    npm.child.kill("SIGINT");
    await until("npm start to exit", () => npm.child.exitCode !== null || npm.child.signalCode !== null, 60_000, npm.output);
    await until("the server to exit", () => !alive(pid) && !alive(pgPid), 60_000, npm.output);
    const order = [...npm.output().matchAll(/stopped (console|API|worker|embedded Postgres)/g)].map((m) => m[1]);
    expect(order).toEqual(["console", "API", "worker", "embedded Postgres"]);
    expect((await cli(["status"])).stdout).toBe("everruns is not running here (no everruns start in this checkout)\n");
  }, 500_000);

  it("the tour: kill -9 <pid> mid-step leaves Postgres (status, stop say so); the next start resumes the run with attempt = 2", async () => {
    const first = launch(process.execPath, [CLI, "start"]);
    const pid = await startedPid(first);
    const started = await cli(["run", "demo", "hello"]);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    const url = `postgres://postgres@127.0.0.1:${pgPort}/everruns`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // the demo's simulate_work step holds its worker for 8 s: kill the server during it
      await until(
        "the demo's slow step",
        async () =>
          (await client.query(`select 1 from everruns.run_events where run_id = $1 and event ->> 'toolCallName' = 'simulate_work'`, [runId])).rowCount! > 0,
        60_000,
      );
      await sleep(1500);
      process.kill(pid, "SIGKILL");
      await until("the killed server to go", () => !alive(pid), 10_000);
    } finally {
      await client.end();
    }
    const status = await cli(["status"]);
    expect(status.stdout).toContain(`a stopped everruns start (pid ${pid}`);
    expect(status.stdout).toMatch(new RegExp(`embedded Postgres left running: pid \\d+, port ${pgPort}`));
    const stop = await cli(["stop"]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(new RegExp(`^stopped the embedded Postgres \\(pid \\d+, port ${pgPort}, data in `));

    const second = launch(process.execPath, [CLI, "start"]);
    await startedPid(second);
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    try {
      await until(
        "the run to finish",
        async () => (await check.query<{ status: string }>(`select status from everruns.runs where id = $1`, [runId])).rows[0]?.status === "succeeded",
        120_000,
        second.output,
      );
      const { rows } = await check.query<{ attempt: number }>(`select max(attempt) as attempt from everruns.run_steps where run_id = $1`, [runId]);
      expect(rows[0]!.attempt).toBe(2);
    } finally {
      await check.end();
    }
    const stopped = await cli(["stop"]);
    expect(stopped.stdout).toMatch(new RegExp(`^stopped everruns start \\(pid ${second.child.pid}, API http://127\\.0\\.0\\.1:${apiPort}\\)`));
    // stop saw the process gone; this process learns its exit status when it reaps it, a moment later
    if (second.child.exitCode === null && second.child.signalCode === null) await new Promise((resolve) => second.child.once("exit", resolve));
    expect(second.child.exitCode).toBe(0);
  }, 600_000);

  it("SIGTERM to npm start's pid stops everything too", async () => {
    const npm = launch("npm", ["start", "--silent"]);
    const pid = await startedPid(npm);
    npm.child.kill("SIGTERM");
    await until("npm start to exit", () => npm.child.exitCode !== null || npm.child.signalCode !== null, 60_000, npm.output);
    await until("the server to exit", () => !alive(pid), 60_000, npm.output);
    expect(npm.output()).toContain("received SIGTERM: stopping Postgres watchdog, console, API, worker, embedded Postgres");
    expect(npm.output()).toContain("everruns stopped");
    const status = await cli(["status", "--json"]);
    expect(JSON.parse(status.stdout)).toEqual({ instances: [], leftBehind: [] });
  }, 500_000);
});
