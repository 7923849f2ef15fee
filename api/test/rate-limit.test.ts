// Rate limits and slow clients (api/rate-limit.ts, api/server.ts), against a real API and
// Postgres: the real defaults (db/env.ts) let a busy console through; a key over its limit gets
// 429 rate_limited with Retry-After on REST, SSE, AG-UI, GraphQL over HTTP and per graphql-ws
// operation, shared by two API processes on one database; the per-second burst; failed
// authentications per address; the in-memory insurance when the table cannot be reached; and
// the HTTP timeouts: slow headers and slow bodies are cut, SSE streams and websockets are not.
import { get as httpGet, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { createClient } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadApiLimitsEnv } from "../../db/env.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { sleep } from "../../lib/sleep.ts";
import type { RateLimitSettings } from "../rate-limit.ts";
import { startApi, type ApiHandle, type HttpTimeouts } from "../server.ts";
import { bearer, createTestKey, quietLog } from "./helpers.ts";

let db: TestDatabase;
let runId: string;
let agentName: string;
const apis: ApiHandle[] = [];

async function start(rateLimits: Partial<RateLimitSettings>, httpTimeouts: Partial<HttpTimeouts> = {}, heartbeatMs?: number): Promise<ApiHandle> {
  const api = await startApi({
    databaseUrl: db.url,
    port: 0,
    log: quietLog,
    graphiql: false,
    rateLimits: { perMinute: 0, burst: 0, authFailuresPerMinute: 0, ...rateLimits },
    httpTimeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, ...httpTimeouts },
    heartbeatMs,
  });
  apis.push(api);
  return api;
}

beforeAll(async () => {
  db = await createTestDatabase();
  agentName = `rl_${Date.now()}`;
  const agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, agentName);
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
  ]);
  runId = rows[0]!.id;
});

afterAll(async () => {
  for (const api of apis) await api.close();
  await db?.drop();
});

interface ErrorBody {
  error: { code: string; message: string };
}

async function get(api: ApiHandle, path: string, key: string): Promise<Response> {
  return fetch(`${api.url}${path}`, { headers: bearer(key) });
}

function expect429(res: Response, body: ErrorBody, limitText: RegExp): void {
  expect(res.status).toBe(429);
  expect(body.error.code).toBe("rate_limited");
  expect(body.error.message).toMatch(limitText);
  expect(body.error.message).toMatch(/retry in \d+ seconds?/);
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

describe("defaults", () => {
  it("are 1200 a minute and 200 a second per key, 60 failed authentications a minute per address, 10 s / 30 s / 5 s timeouts", () => {
    expect(loadApiLimitsEnv({})).toEqual({
      EVERRUNS_RATE_LIMIT_PER_MINUTE: 1200,
      EVERRUNS_RATE_LIMIT_BURST: 200,
      EVERRUNS_AUTH_FAILURES_PER_MINUTE: 60,
      EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: 10_000,
      EVERRUNS_HTTP_REQUEST_TIMEOUT_MS: 30_000,
      EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS: 5_000,
    });
    expect(loadApiLimitsEnv({ EVERRUNS_RATE_LIMIT_PER_MINUTE: "0" }).EVERRUNS_RATE_LIMIT_PER_MINUTE).toBe(0);
  });

  it("refuses bad settings with a clear message", () => {
    expect(() => loadApiLimitsEnv({ EVERRUNS_RATE_LIMIT_PER_MINUTE: "lots" })).toThrow(/EVERRUNS_RATE_LIMIT_PER_MINUTE must be a whole number/);
    expect(() => loadApiLimitsEnv({ EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: "10" })).toThrow(/EVERRUNS_HTTP_HEADERS_TIMEOUT_MS must be at least 1000/);
    expect(() => loadApiLimitsEnv({ EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: "40000" })).toThrow(
      /EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: must be at most EVERRUNS_HTTP_REQUEST_TIMEOUT_MS/,
    );
  });

  it("let a busy console through: 150 requests at once on REST, SSE, AG-UI and GraphQL, and the windows are in Postgres", async () => {
    const env = loadApiLimitsEnv({});
    const api = await startApi({
      databaseUrl: db.url,
      port: 0,
      log: quietLog,
      graphiql: false,
      rateLimits: {
        perMinute: env.EVERRUNS_RATE_LIMIT_PER_MINUTE,
        burst: env.EVERRUNS_RATE_LIMIT_BURST,
        authFailuresPerMinute: env.EVERRUNS_AUTH_FAILURES_PER_MINUTE,
      },
      httpTimeouts: {
        headersMs: env.EVERRUNS_HTTP_HEADERS_TIMEOUT_MS,
        requestMs: env.EVERRUNS_HTTP_REQUEST_TIMEOUT_MS,
        keepAliveMs: env.EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS,
      },
    });
    apis.push(api);
    expect(api.limits.settings).toEqual({ perMinute: 1200, burst: 200, authFailuresPerMinute: 60 });
    const key = await createTestKey(db.url);
    const statuses = await Promise.all([
      ...Array.from({ length: 120 }, (_, i) => get(api, i % 2 ? `/api/runs/${runId}` : "/api/whoami", key).then((r) => r.status)),
      ...Array.from({ length: 20 }, () =>
        fetch(`${api.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", ...bearer(key) },
          body: JSON.stringify({ query: "{ __typename }" }),
        }).then((r) => r.status),
      ),
      ...Array.from({ length: 10 }, async () => {
        const ctl = new AbortController();
        const r = await fetch(`${api.url}/api/runs/${runId}/events`, { headers: bearer(key), signal: ctl.signal });
        ctl.abort();
        return r.status;
      }),
    ]);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const { rows } = await db.pool.query<{ key: string; points: number }>("select key, points from everruns_private.rate_limits where key like 'evr_rl_key:%'");
    expect(rows.reduce((sum, r) => sum + r.points, 0)).toBeGreaterThanOrEqual(150);
    // a dozen bad keys from one address: still 401s
    for (let i = 0; i < 12; i++) expect((await get(api, "/api/whoami", `evr_${"A".repeat(43)}`)).status).toBe(401);
  });
});

describe("per key", () => {
  it("answers 429 rate_limited with Retry-After over the per-minute limit, on every surface, per key and shared by API processes; /healthz stays open", async () => {
    const a = await start({ perMinute: 5 });
    const b = await start({ perMinute: 5 });
    const key = await createTestKey(db.url);
    const other = await createTestKey(db.url);
    for (let i = 0; i < 3; i++) expect((await get(a, "/api/whoami", key)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await get(b, "/api/whoami", key)).status).toBe(200); // one window for both processes
    for (const api of [a, b]) {
      const res = await get(api, "/api/whoami", key);
      expect429(res, (await res.json()) as ErrorBody, /at most 5 requests per minute/);
    }
    // SSE, AG-UI, GraphQL over HTTP
    const sse = await get(a, `/api/runs/${runId}/events`, key);
    expect429(sse, (await sse.json()) as ErrorBody, /5 requests per minute/);
    const agui = await fetch(`${a.url}/api/agents/${agentName}/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...bearer(key) },
      body: JSON.stringify({ threadId: "t", runId: "r", messages: [{ id: "m", role: "user", content: "hi" }] }),
    });
    expect429(agui, (await agui.json()) as ErrorBody, /5 requests per minute/);
    const graphql = await fetch(`${b.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(key) },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect429(graphql, (await graphql.json()) as ErrorBody, /5 requests per minute/);
    // another key has its own window; /healthz is not limited
    expect((await get(a, "/api/whoami", other)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
  });

  it("limits graphql-ws operations per key: an error rate_limited on the operation", async () => {
    const api = await start({ perMinute: 3 });
    const key = await createTestKey(db.url);
    const client = createClient({ url: `${api.url.replace("http", "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: bearer(key) });
    try {
      const results: unknown[] = [];
      for (let i = 0; i < 5; i++) {
        results.push(
          await new Promise<unknown>((resolve) => {
            let value: unknown;
            client.subscribe({ query: "{ __typename }" }, { next: (v) => (value = v), error: resolve, complete: () => resolve(value) });
          }),
        );
      }
      expect(results.slice(0, 3)).toEqual(Array.from({ length: 3 }, () => ({ data: { __typename: "Query" } })));
      for (const refused of results.slice(3)) {
        const [error] = refused as Array<{ message: string; extensions: { code: string; retryAfter: number } }>;
        expect(error!.extensions.code).toBe("rate_limited");
        expect(error!.extensions.retryAfter).toBeGreaterThanOrEqual(1);
        expect(error!.message).toMatch(/at most 3 requests per minute.*retry in \d+ second/);
      }
    } finally {
      await client.dispose();
    }
  });

  it("caps the burst per second, and the next second is open again", async () => {
    const api = await start({ burst: 4 });
    const key = await createTestKey(db.url);
    expect((await get(api, "/api/whoami", key)).status).toBe(200); // the key is verified and remembered
    const statuses = await Promise.all(Array.from({ length: 8 }, () => get(api, "/api/whoami", key).then((r) => r.status)));
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(5);
    const res = await get(api, "/api/whoami", key);
    if (res.status === 429) expect429(res, (await res.json()) as ErrorBody, /at most 4 requests per second/);
    await sleep(1100);
    expect((await get(api, "/api/whoami", key)).status).toBe(200);
  });

  it("falls back to an in-memory limit of the same size when the table cannot be reached", async () => {
    await db.pool.query("alter table everruns_private.rate_limits rename to rate_limits_away");
    try {
      const api = await start({ perMinute: 3 });
      const key = await createTestKey(db.url);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await get(api, "/api/whoami", key)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await db.pool.query("alter table everruns_private.rate_limits_away rename to rate_limits");
    }
  });
});

describe("failed authentications", () => {
  it("answer 429 once an address has failed too often, before its key is checked; a key verified just before still works", async () => {
    await db.pool.query("delete from everruns_private.rate_limits where key like 'evr_rl_authfail:%'"); // the defaults test's bad keys
    const api = await start({ authFailuresPerMinute: 5 });
    const known = await createTestKey(db.url);
    const fresh = await createTestKey(db.url);
    expect((await get(api, "/api/whoami", known)).status).toBe(200);
    const bad = `evr_${"B".repeat(43)}`;
    for (let i = 0; i < 5; i++) expect((await get(api, "/api/whoami", bad)).status).toBe(401);
    const refused = await get(api, "/api/whoami", bad);
    expect429(refused, (await refused.json()) as ErrorBody, /too many failed authentications from this address: at most 5 invalid or missing keys per minute/);
    // no key at all counts as a failure too, and a valid key this process has not verified is not even looked at
    expect((await fetch(`${api.url}/api/whoami`)).status).toBe(429);
    expect((await get(api, "/api/whoami", fresh)).status).toBe(429);
    expect((await get(api, "/api/whoami", known)).status).toBe(200);
  });
});

/** Sends `text` one byte every `everyMs`; resolves with what the server answered and when the connection ended. */
function trickle(port: number, head: string, text: string, everyMs: number): Promise<{ answer: string; closedAfterMs: number; bytesSent: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket: Socket = connect(port, "127.0.0.1");
    let answer = "";
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on("data", (chunk) => (answer += chunk.toString()));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ answer, closedAfterMs: Date.now() - t0, bytesSent: sent });
    });
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => {
        if (sent >= text.length) return;
        socket.write(text[sent++]!);
      }, everyMs);
    });
  });
}

describe("slow clients", () => {
  it("a client sending its headers 1 byte a second is disconnected after headersTimeout", async () => {
    const api = await start({}, { headersMs: 2000, requestMs: 4000 });
    const key = await createTestKey(db.url);
    const headers = `Host: 127.0.0.1:${api.port}\r\nAuthorization: Bearer ${key}\r\nX-Padding: ${"x".repeat(200)}\r\n\r\n`;
    const result = await trickle(api.port, "GET /api/whoami HTTP/1.1\r\n", headers, 1000);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(result.closedAfterMs).toBeLessThan(4000);
    expect(result.bytesSent).toBeLessThan(6);
    expect(result.answer === "" || result.answer.startsWith("HTTP/1.1 408")).toBe(true);
  });

  it("a client sending its body slowly is answered 408 after requestTimeout", async () => {
    const api = await start({}, { headersMs: 1000, requestMs: 2000 });
    const key = await createTestKey(db.url);
    const body = JSON.stringify({ name: "slow", config: { provider: "scripted", script: [{ text: "x".repeat(100) }] } });
    const head =
      `POST /api/agents HTTP/1.1\r\nHost: 127.0.0.1:${api.port}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const result = await trickle(api.port, head, body, 100);
    expect(result.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(1900);
    expect(result.closedAfterMs).toBeLessThan(3500);
    expect(result.bytesSent).toBeLessThan(body.length);
  });

  it("an SSE stream and a websocket live well past requestTimeout", async () => {
    const api = await start({}, { headersMs: 1000, requestMs: 1000, keepAliveMs: 1000 }, 300);
    const key = await createTestKey(db.url);
    let received = "";
    let ended = false;
    const stream = await new Promise<IncomingMessage>((resolve, reject) =>
      httpGet(`${api.url}/api/runs/${runId}/events`, { headers: bearer(key) }, resolve).on("error", reject),
    );
    expect(stream.statusCode).toBe(200);
    stream.on("data", (chunk: Buffer) => (received += chunk.toString()));
    stream.on("close", () => (ended = true));
    stream.on("error", () => undefined);
    const client = createClient({
      url: `${api.url.replace("http", "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: bearer(key),
      lazy: false,
    });
    await sleep(4000);
    expect(api.sse.size).toBe(1);
    const heartbeats = received.split("\n").filter((line) => line.startsWith(":")).length;
    expect(heartbeats).toBeGreaterThanOrEqual(8);
    const late = await new Promise<unknown>((resolve) => {
      let value: unknown;
      client.subscribe({ query: "{ __typename }" }, { next: (v) => (value = v), error: resolve, complete: () => resolve(value) });
    });
    expect(late).toEqual({ data: { __typename: "Query" } });
    expect(ended).toBe(false);
    stream.destroy();
    await client.dispose();
  });
});
