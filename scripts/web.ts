// The operations console (web/, Next.js): builds it when the build is missing or older than its
// sources, then serves it from a child process (scripts/web-server.ts) that also passes
// /graphql through to the API at `apiUrl`, and keeps the browser's login session (an API key in
// an httpOnly cookie, sent on to the API as `Authorization: Bearer`).
//
//   const web = await startWeb({ apiUrl: api.url, port: 3000, log });  // web.url, web.close()
//
// One build at a time: concurrent callers (test files running in parallel, two CLIs) take a
// lock directory under web/ and re-check staleness once they hold it, so a test run builds at
// most once.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serverOrigins, trustOrigins } from "../api/request-guard.ts";
import { EverrunsError } from "../db/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { sleep } from "../lib/sleep.ts";
import { parseTraceUrlTemplate, TRACE_URL_ENV } from "../web/lib/trace-url.ts";

export const WEB_DIR = fileURLToPath(new URL("../web", import.meta.url));
const PROJECT_ROOT = path.dirname(WEB_DIR);
const NEXT_BIN = path.join(PROJECT_ROOT, "node_modules", "next", "dist", "bin", "next");
const SERVER_SCRIPT = fileURLToPath(new URL("./web-server.ts", import.meta.url));
const BUILD_ID = path.join(WEB_DIR, ".next", "BUILD_ID");
const LOCK_DIR = path.join(WEB_DIR, ".build-lock");
const READY_TIMEOUT_MS = 60_000;
/** What `next build` reads besides web/'s sources. */
const EXTRA_INPUTS = [path.join(PROJECT_ROOT, "package-lock.json")];
/** Not sources: build output, files the build itself writes, the tests. */
const IGNORED = new Set([".next", ".build-lock", "test", "node_modules", "next-env.d.ts", ".gitignore", "README.md"]);

export interface WebOptions {
  /** The API the console talks to, e.g. http://127.0.0.1:4000 */
  apiUrl: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1 (plain http: on another address, serve it behind https). */
  host?: string;
  log: Logger;
  /** "auto" (default): build when missing or stale; "never": fail if there is no build. */
  build?: "auto" | "always" | "never";
  /** next dev instead of the production build: hot reload, for working on the console. */
  dev?: boolean;
}

export interface WebHandle {
  /** http://host:port */
  url: string;
  port: number;
  /** Resolves when the console's server process has exited (after close(), or if it died). */
  closed: Promise<void>;
  close(): Promise<void>;
}

export class WebError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("web_failed", message, options);
  }
}

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (IGNORED.has(entry.name) || entry.name.endsWith(".tsbuildinfo")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestSource(full));
    else newest = Math.max(newest, (await stat(full)).mtimeMs);
  }
  return newest;
}

/** Why the build must be (re)made, or null when web/.next is current. */
export async function buildStaleness(): Promise<string | null> {
  if (!existsSync(BUILD_ID)) return "there is no build yet";
  const built = (await stat(BUILD_ID)).mtimeMs;
  const sources = await newestSource(WEB_DIR);
  if (sources > built) return "web/ changed since the last build";
  for (const file of EXTRA_INPUTS) {
    if (existsSync(file) && (await stat(file)).mtimeMs > built) return `${path.basename(file)} changed since the last build`;
  }
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function withBuildLock<T>(fn: () => Promise<T>, log: Logger): Promise<T> {
  const owner = path.join(LOCK_DIR, "pid");
  let announced = false;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      await writeFile(owner, String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // a lock whose owner died is taken over
      let pid = 0;
      try {
        pid = Number(readFileSync(owner, "utf8"));
      } catch {
        // the owner is between mkdir and writeFile; check again shortly
      }
      if (pid && !pidAlive(pid)) {
        await rm(LOCK_DIR, { recursive: true, force: true });
        continue;
      }
      if (!announced) log.info("waiting for another process to finish building the console");
      announced = true;
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(LOCK_DIR, { recursive: true, force: true });
  }
}

/** Runs `next build` in web/ when needed; resolves once web/.next is current. */
export async function ensureWebBuild(log: Logger, mode: "auto" | "always" = "auto"): Promise<void> {
  if (mode === "auto" && !(await buildStaleness())) return;
  await withBuildLock(async () => {
    const reason = mode === "always" ? "a build was asked for" : await buildStaleness();
    if (!reason) return; // someone else built it while we waited
    log.info(`building the console (next build: ${reason}; about a minute on 2 cores, only when web/ changed)…`);
    const started = Date.now();
    // next build says nothing for most of that minute: a line every 10 s shows it is alive
    const progress = setInterval(() => log.info(`still building the console (${Math.round((Date.now() - started) / 1000)} s)…`), 10_000);
    const child = spawn(process.execPath, [NEXT_BIN, "build"], {
      cwd: WEB_DIR,
      env: { ...process.env, NODE_ENV: "production", NEXT_TELEMETRY_DISABLED: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, "exit").finally(() => clearInterval(progress))) as [number | null];
    if (code !== 0) {
      throw new WebError(`next build failed (exit ${code}); its output ends with:\n${output.split("\n").slice(-40).join("\n")}`);
    }
    log.info(`built the console in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, log);
}

/** Builds the console if needed and serves it; the console reaches the API through its /graphql. */
export async function startWeb(opts: WebOptions): Promise<WebHandle> {
  const { log } = opts;
  let apiUrl: URL;
  try {
    apiUrl = new URL(opts.apiUrl);
    if (apiUrl.protocol !== "http:") throw new Error("only http:// is supported");
  } catch (error) {
    throw new WebError(`apiUrl must be the API's http:// URL (e.g. http://127.0.0.1:4000), got ${JSON.stringify(opts.apiUrl)}: ${(error as Error).message}`);
  }
  // the run page's trace link (web/app/runs/[id]/layout.tsx reads it per request): refused here, named
  const trace = parseTraceUrlTemplate(process.env[TRACE_URL_ENV]);
  if (trace.problem) throw new WebError(trace.problem);
  const mode = opts.build ?? "auto";
  if (opts.dev) {
    log.info("console in development mode (next dev): pages compile on first visit");
  } else if (mode === "never") {
    if (!existsSync(BUILD_ID)) throw new WebError('the console has no build in web/.next: build it first (startWeb with build: "auto")');
  } else {
    await ensureWebBuild(log, mode);
  }

  const child: ChildProcess = spawn(process.execPath, [SERVER_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      NODE_ENV: opts.dev ? "development" : "production",
      NEXT_TELEMETRY_DISABLED: "1",
      EVERRUNS_WEB_DEV: opts.dev ? "1" : "0",
      EVERRUNS_WEB_API_URL: apiUrl.origin,
      EVERRUNS_WEB_PORT: String(opts.port),
      EVERRUNS_WEB_HOST: opts.host ?? "127.0.0.1",
    },
    // stdin stays open: the server exits when it closes (this process went away)
    stdio: ["pipe", "pipe", "pipe"],
  });
  const forward = (level: "info" | "warn") => (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line.trim() && !line.startsWith("everruns-web ready ")) log[level](line);
  };
  child.stderr!.on("data", forward("warn"));

  let closing: Promise<void> | null = null;
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /everruns-web ready (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.on("data", forward("info"));
        child.off("exit", onExit);
        resolve(match[1]!);
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new WebError(`the console server exited (${code}) before it was ready: ${out.trim()}`));
    };
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      child.kill("SIGKILL");
      reject(new WebError(`the console server was not ready after ${READY_TIMEOUT_MS / 1000} s: ${out.trim()}`));
    }, READY_TIMEOUT_MS);
    child.stdout!.on("data", onData);
    child.once("exit", onExit);
  });
  const port = Number(new URL(url).port);
  const closed = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", (code, signal) => {
      if (!closing) log.error(`the console's server exited unexpectedly (${signal ?? `exit ${code}`})`);
      resolve();
    });
  });
  // The browser's Origin reaches the API through the console's /graphql: an API in this process
  // allows this console's origins, whatever port it got (other APIs: EVERRUNS_WEB_PORT's, or
  // EVERRUNS_ALLOWED_ORIGINS).
  const untrust = trustOrigins(serverOrigins(port, opts.host ?? "127.0.0.1"));
  void closed.then(untrust);
  log.info(`console at ${url} (API ${apiUrl.origin})`);
  if (!["127.0.0.1", "localhost", "::1"].includes(opts.host ?? "127.0.0.1")) {
    log.warn(
      `the console listens on ${opts.host} over plain http: the API keys typed into its login page, and its session cookie, cross the network unencrypted; serve it behind an https proxy that sets X-Forwarded-Proto (the cookie is then Secure)`,
    );
  }

  const close = () =>
    (closing ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await closed;
      clearTimeout(timer);
    })());
  return { url, port, closed, close };
}
