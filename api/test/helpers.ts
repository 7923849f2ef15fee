// Helpers of the API tests: an API and a worker against a test database, SSE read over real
// HTTP, and small statistics.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { waitFor } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { sseMessages, type RunEvent } from "../../client/index.ts";

export const quietLog = consoleLogger("[test-api]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

export async function startTestApi(databaseUrl: string, extra: { heartbeatMs?: number; poolSize?: number } = {}): Promise<ApiHandle> {
  return startApi({ databaseUrl, port: 0, log: quietLog, graphiql: false, ...extra });
}

/** The body of every API error (api/http-errors.ts). */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** What POST /api/runs and POST /api/runs/:id/resume answer: the run they started. */
export interface StartedRunBody {
  id: string;
  status: string;
  thread_id: string;
}

/**
 * POSTs `body` (a string is sent as is) and reads the answer: parsed JSON typed as `T` (the caller
 * says what the route answers; `unknown` when the test only compares it), or the text when it is
 * not JSON.
 */
export async function postJson<T = unknown>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text, the test will say so
  }
  return { status: res.status, body: parsed as T };
}

export interface SseRead {
  status: number;
  contentType: string | null;
  events: RunEvent[];
  /** Every raw frame's id, in order (to check the `id:` lines). */
  ids: string[];
  comments: number;
}

/** Reads an SSE response to its end (the server closes after the terminal event). */
export async function readSse(url: string, init: RequestInit = {}, onEvent?: (e: RunEvent) => void): Promise<SseRead> {
  const res = await fetch(url, init);
  const out: SseRead = { status: res.status, contentType: res.headers.get("content-type"), events: [], ids: [], comments: 0 };
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return out;
  }
  for await (const message of sseMessages(res.body, { onComment: () => out.comments++ })) {
    if (message.id !== undefined) out.ids.push(message.id);
    const event = JSON.parse(message.data) as Record<string, unknown>;
    const e = { seq: Number(message.id), type: String(event.type), event };
    out.events.push(e);
    onEvent?.(e);
  }
  return out;
}

/** waitFor (db/test/helpers.ts) for a condition on in-process state, checked without a query. */
export async function waitUntil(what: string, condition: () => boolean, timeoutMs?: number, everyMs?: number): Promise<void> {
  await waitFor(what, () => Promise.resolve(condition()), timeoutMs, everyMs);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export { freePort } from "../../lib/free-port.ts";

const API_PROCESS = fileURLToPath(new URL("./api-process.ts", import.meta.url));

/** The API in a child process (so it can be kill -9'd); resolves once it listens. */
export async function spawnApi(databaseUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [API_PROCESS], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("ready ")) {
        child.stdout.off("data", onData);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`API process exited with ${code} before it was ready: ${out}`)));
  });
  return child;
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}
