// Real processes for the chaos run, the load scenarios and the benchmark: `everruns worker` and
// `everruns api` spawned as child processes, so they can be kill -9'd and measured from outside.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { createPool } from "../../db/pool.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { PROJECT_ROOT } from "../database.ts";

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
  /** An admin key of the default workspace, made for this API's clients. */
  key: string;
  /** fetch with the key's Authorization header (for followRunEvents' `fetch` and REST calls). */
  fetch: typeof fetch;
}

/** fetch that sends `Authorization: Bearer <key>` on every request. */
export function fetchWithKey(key: string): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${key}`);
    return fetch(input, { ...init, headers });
  };
}

function spawnCli(
  args: string[],
  databaseUrl: string,
  opts: ChildOptions,
  ready: RegExp,
  what: string,
): Promise<{ handle: ProcessHandle; match: RegExpExecArray }> {
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
  child.stdout.on("data", append);
  child.stderr.on("data", append);
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
      child.stdout.off("data", check);
      child.stderr.off("data", check);
      resolve({ handle, match });
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready:\n${out.slice(-4000)}`));
    });
  });
}

/** `everruns worker --max-in-flight N` as a child process; resolves once its pool is registered. */
export async function spawnWorkerProcess(databaseUrl: string, concurrency: number, opts: ChildOptions = {}): Promise<WorkerProcess> {
  const { handle, match } = await spawnCli(["worker", "--max-in-flight", String(concurrency)], databaseUrl, opts, /worker pool (\S+) started/, "worker");
  return { ...handle, poolId: match[1]! };
}

/** n worker processes, started side by side. */
export async function spawnWorkerProcesses(databaseUrl: string, n: number, concurrency: number): Promise<WorkerProcess[]> {
  return Promise.all(Array.from({ length: n }, () => spawnWorkerProcess(databaseUrl, concurrency)));
}

/** Stops processes gracefully (SIGTERM, then SIGKILL after graceMs), side by side. */
export async function stopAll(processes: Array<ProcessHandle | null | undefined>, graceMs = 15_000): Promise<void> {
  await Promise.all(processes.map((p) => (p ? p.stop(graceMs) : Promise.resolve())));
}

/** `everruns api` as a child process on 127.0.0.1:port, with an admin key for its clients; resolves once it listens. */
export async function spawnApiProcess(databaseUrl: string, port: number, opts: ChildOptions = {}): Promise<ApiProcess> {
  const pool = createPool(databaseUrl, "everruns-harness-key", 1);
  let key: string;
  try {
    ({ key } = await createApiKey(pool, { name: "harness", role: "admin" }));
  } finally {
    await pool.end();
  }
  const { handle, match } = await spawnCli(
    ["api"],
    databaseUrl,
    { ...opts, env: { PORT: String(port), LOG_LEVEL: "warn", ...opts.env } },
    /API listening on (\S+)/,
    "API",
  );
  return { ...handle, url: match[1]!, key, fetch: fetchWithKey(key) };
}
