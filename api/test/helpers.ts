// Helpers of the API tests: an API and a worker against a test database, API keys to call it
// with, SSE read over real HTTP, and small statistics.
import "../graphile-env.ts";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import express from "express";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/express/v4";
import { waitFor } from "../../db/test/helpers.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import type { ApiKeyRole } from "../../lib/api-key.ts";
import { consoleLogger, type Logger } from "../../lib/logger.ts";
import { authMiddleware, Authenticator } from "../auth.ts";
import { GRAPHQL_PATH, makePreset } from "../graphql/preset.ts";
import { errorHandler } from "../http-errors.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { sseMessages, type RunEvent } from "../../client/index.ts";

export const quietLog = consoleLogger("[test-api]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

/** The workspace everything a test inserts through the (superuser) test pool lands in. */
export const DEFAULT_WORKSPACE_ID = "00000000-0000-0000-0000-000000000001";

/**
 * Creates an API key in `databaseUrl` (a short-lived pool as the test database's superuser):
 * by default an admin key of the `default` workspace. Returns the key itself.
 */
export async function createTestKey(databaseUrl: string, opts: { role?: ApiKeyRole; workspaceId?: string; name?: string } = {}): Promise<string> {
  const pool = createPool(databaseUrl, "everruns-test-keys", 1);
  try {
    const { key } = await createApiKey(pool, {
      name: opts.name ?? `test-${opts.role ?? "admin"}`,
      role: opts.role ?? "admin",
      workspaceId: opts.workspaceId ?? null,
    });
    return key;
  } finally {
    await pool.end();
  }
}

/** The Authorization header of a key. */
export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

export interface TestApiHandle extends ApiHandle {
  /** An admin key of the default workspace. */
  key: string;
  /** `{ authorization: "Bearer <key>" }` */
  headers: Record<string, string>;
}

export async function startTestApi(
  databaseUrl: string,
  extra: { heartbeatMs?: number; poolSize?: number; hubCatchUpMs?: number } = {},
): Promise<TestApiHandle> {
  const key = await createTestKey(databaseUrl, { name: "test-api-admin" });
  const api = await startApi({ databaseUrl, port: 0, log: quietLog, graphiql: false, ...extra });
  return Object.assign(api, { key, headers: bearer(key) });
}

/**
 * The API's GraphQL alone (no REST, no hub), with `plugins` on top of its preset, authenticated
 * as the API does it: every request needs a key, and runs in the key's workspace as its role.
 * Answers at `url` (…/graphql).
 */
export async function serveGraphql(pool: Pool, log: Logger, plugins: GraphileConfig.Plugin[] = []): Promise<{ url: string; close(): Promise<void> }> {
  const authenticator = new Authenticator(pool);
  const pgl = postgraphile({ extends: [makePreset({ pool, log, authenticator })], plugins });
  const app = express();
  app.use(GRAPHQL_PATH, authMiddleware(authenticator));
  const server = createServer(app);
  await pgl.createServ(grafserv).addTo(app, server, false);
  app.use(errorHandler(log));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${GRAPHQL_PATH}`,
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await pgl.release();
    },
  };
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
