// The browser-facing guard (api/request-guard.ts) against a real API, real websockets and the
// real console server: a web page on another origin cannot open the API's websocket or POST to
// it, a page reaching it through DNS rebinding (a foreign Host) gets nothing but /healthz, while
// the console, the CLI (no Origin) and configured hosts and origins work.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { createClient } from "graphql-ws";
import { WebSocket as UndiciWebSocket } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "../../db/test/helpers.ts";
import { ConfigError } from "../../db/errors.ts";
import { loadEnv } from "../../db/env.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { graphiqlEnabled, isLoopbackHost, makeRequestGuard, serverNames } from "../request-guard.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { quietLog, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

const EVIL = "http://evil.example";
const hello = { messages: [{ role: "user", content: "hello" }] };

let db: TestDatabase;
let api: TestApiHandle;
let runId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  const agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "guarded");
  runId = await startRun(db.pool, agentId);
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

interface RawResponse {
  status: number;
  body: string;
  json<T = ApiErrorBody>(): T;
}

/** An HTTP request with any headers (fetch will not send a foreign Host). */
function raw(
  url: string,
  { method = "GET", headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method,
        headers: { ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}), ...headers },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body: text, json: <T>() => JSON.parse(text) as T }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** A websocket handshake on /graphql: 101 when it upgrades, or the status and body of the answer. */
function upgrade(baseUrl: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const u = new URL(`${baseUrl}/graphql`);
  return new Promise((resolve, reject) => {
    const req = http.request({
      hostname: u.hostname,
      port: u.port,
      path: u.pathname,
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        "sec-websocket-protocol": "graphql-transport-ws",
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, body: "", json: () => ({}) as never });
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, body: text, json: <T>() => JSON.parse(text) as T }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A WebSocket class that sends `origin` (Node's own sends none, a browser always does), and `headers` on its upgrade request. */
function webSocketWithOrigin(origin: string | undefined, headers: Record<string, string> = {}): unknown {
  return class extends UndiciWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, { protocols, headers: { ...headers, ...(origin ? { origin } : {}) } });
    }
  };
}

/**
 * Runs `{ __typename }` over graphql-ws; records every message the server sent. `auth`: the API
 * key in the connection_init payload (the API's clients), or headers of the upgrade request (the
 * console's session cookie).
 */
async function queryOverWebsocket(
  baseUrl: string,
  origin: string | undefined,
  auth: { key?: string; headers?: Record<string, string> } = {},
): Promise<{ result?: unknown; error?: unknown; messages: number; connected: boolean }> {
  let messages = 0;
  let connected = false;
  const client = createClient({
    url: `${baseUrl.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: webSocketWithOrigin(origin, auth.headers),
    retryAttempts: 0,
    connectionParams: auth.key ? { authorization: `Bearer ${auth.key}` } : undefined,
    on: { message: () => void messages++, connected: () => void (connected = true) },
  });
  try {
    const result = await new Promise<unknown>((resolve, reject) => {
      let value: unknown;
      client.subscribe({ query: "{ __typename }" }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
    });
    return { result, messages, connected };
  } catch (error) {
    return { error, messages, connected };
  } finally {
    await client.dispose();
  }
}

async function countRuns(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs");
  return rows[0]!.n;
}

const startRunMutation = { query: 'mutation { startRun(agent: "guarded", input: {messages: [{role: "user", content: "hi"}]}) { __typename } }' };

describe("websockets (graphql-ws on /graphql)", () => {
  it("refuses a page on another origin with a 403 before the upgrade: no websocket, no GraphQL message", async () => {
    const res = await upgrade(api.url, { origin: EVIL });
    expect(res.status).toBe(403);
    expect(res.json().error.code).toBe("origin_not_allowed");
    expect(res.json().error.message).toMatch(/EVERRUNS_ALLOWED_ORIGINS/);

    // a valid key changes nothing
    expect((await upgrade(api.url, { origin: EVIL, ...api.headers })).status).toBe(403);
    const ws = await queryOverWebsocket(api.url, EVIL, { key: api.key });
    expect(ws.error).toBeDefined();
    expect(ws.connected).toBe(false);
    expect(ws.messages).toBe(0);
  });

  it("accepts the console's origin (EVERRUNS_WEB_PORT on localhost and 127.0.0.1), the API's own, and no Origin at all", async () => {
    for (const origin of ["http://127.0.0.1:3000", "http://localhost:3000", api.url, undefined]) {
      expect((await upgrade(api.url, origin ? { origin } : {})).status, String(origin)).toBe(101);
      const ws = await queryOverWebsocket(api.url, origin, { key: api.key });
      expect(ws.error, String(origin)).toBeUndefined();
      expect(ws.result).toEqual({ data: { __typename: "Query" } });
      expect(ws.connected).toBe(true);
    }
  });

  it("lets an accepted websocket through to the API key check: none closes it with 4401", async () => {
    const ws = await queryOverWebsocket(api.url, "http://localhost:3000");
    expect(ws.connected).toBe(true);
    expect(ws.error).toMatchObject({ code: 4401 });
  });

  it("refuses a foreign Host (DNS rebinding) even with a matching Origin", async () => {
    const res = await upgrade(api.url, { host: `evil.example:${api.port}`, origin: `http://evil.example:${api.port}`, ...api.headers });
    expect(res.status).toBe(403);
    expect(res.json().error.code).toBe("host_not_allowed");
    expect(res.json().error.message).toMatch(/EVERRUNS_ALLOWED_HOSTS/);
  });
});

describe("HTTP", () => {
  it("refuses a foreign Host on GET /api/runs/:id and POST /graphql (DNS rebinding)", async () => {
    const created = await raw(`${api.url}/api/runs`, { method: "POST", headers: api.headers, body: { agent: "guarded", input: hello } });
    expect(created.status).toBe(201);
    const id = created.json<StartedRunBody>().id;
    expect((await raw(`${api.url}/api/runs/${id}`, { headers: api.headers })).status).toBe(200);

    for (const host of ["evil.example", `evil.example:${api.port}`, `0.0.0.0:${api.port}`]) {
      // with a valid key or without one: the Host check comes first
      for (const headers of [api.headers, {}]) {
        const get = await raw(`${api.url}/api/runs/${runId}`, { headers: { host, ...headers } });
        expect(get.status, host).toBe(403);
        expect(get.json().error.code).toBe("host_not_allowed");
        expect(get.body).not.toContain(runId);
      }
    }
    const before = await countRuns();
    const post = await raw(`${api.url}/graphql`, { method: "POST", headers: { host: `evil.example:${api.port}`, ...api.headers }, body: startRunMutation });
    expect(post.status).toBe(403);
    expect(post.json().error.code).toBe("host_not_allowed");
    expect(await countRuns()).toBe(before);
  });

  it("answers to localhost, 127.0.0.1 and [::1], with the API's port or none", async () => {
    for (const host of [`localhost:${api.port}`, "localhost", `127.0.0.1:${api.port}`, `[::1]:${api.port}`, "LOCALHOST"]) {
      expect((await raw(`${api.url}/api/runs/${runId}`, { headers: { host, ...api.headers } })).status, host).toBe(200);
    }
    expect((await raw(`${api.url}/api/runs/${runId}`, { headers: { host: "localhost:1", ...api.headers } })).status).toBe(403);
  });

  it("refuses a cross-origin POST /api/runs and starts no run; without Origin (curl, the CLI) it works", async () => {
    const before = await countRuns();
    // without a key it is still the Origin check that answers (it comes before authentication)...
    const anonymous = await raw(`${api.url}/api/runs`, { method: "POST", headers: { origin: EVIL }, body: { agent: "guarded", input: hello } });
    expect(anonymous.status).toBe(403);
    expect(anonymous.json().error.code).toBe("origin_not_allowed");
    // ...and a valid key does not get a page of another origin through
    const refused = await raw(`${api.url}/api/runs`, { method: "POST", headers: { origin: EVIL, ...api.headers }, body: { agent: "guarded", input: hello } });
    expect(refused.status).toBe(403);
    expect(refused.json().error).toMatchObject({ code: "origin_not_allowed" });
    expect(refused.json().error.message).toContain(EVIL);
    const gql = await raw(`${api.url}/graphql`, { method: "POST", headers: { origin: EVIL, ...api.headers }, body: startRunMutation });
    expect(gql.status).toBe(403);
    expect(gql.json().error.code).toBe("origin_not_allowed");
    expect(await countRuns()).toBe(before);

    const res = await fetch(`${api.url}/api/runs`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify({ agent: "guarded", input: hello }),
    });
    expect(res.status).toBe(201);
    expect(await countRuns()).toBe(before + 1);
    // same origin (a page the API served) and the console's origin work too
    expect(
      (await raw(`${api.url}/api/runs`, { method: "POST", headers: { origin: api.url, ...api.headers }, body: { agent: "guarded", input: hello } })).status,
    ).toBe(201);
    expect(
      (await raw(`${api.url}/graphql`, { method: "POST", headers: { origin: "http://localhost:3000", ...api.headers }, body: startRunMutation })).status,
    ).toBe(200);
    expect(await countRuns()).toBe(before + 3);
  });

  it("lets a cross-origin GET through (the browser keeps the answer from the page: no CORS)", async () => {
    const res = await raw(`${api.url}/api/runs/${runId}`, { headers: { origin: EVIL, ...api.headers } });
    expect(res.status).toBe(200);
    expect(res.body).not.toContain("access-control");
  });

  it("answers /healthz whatever the Host (load balancers probe it by IP)", async () => {
    for (const host of ["evil.example", "10.1.2.3:4000", api.url.slice("http://".length)]) {
      const res = await raw(`${api.url}/healthz`, { headers: { host } });
      expect(res.status, host).toBe(200);
      expect(res.json<{ status: string }>().status).toBe("ok");
    }
  });
});

describe("configuration", () => {
  it("EVERRUNS_ALLOWED_HOSTS and EVERRUNS_ALLOWED_ORIGINS extend the lists; * turns a check off", async () => {
    const env = loadEnv({
      EVERRUNS_ALLOWED_HOSTS: "Everruns.example.com, api.internal:4000",
      EVERRUNS_ALLOWED_ORIGINS: "https://console.example.com/,http://localhost:5173",
    });
    expect(env.EVERRUNS_ALLOWED_HOSTS).toEqual(["everruns.example.com", "api.internal:4000"]);
    expect(env.EVERRUNS_ALLOWED_ORIGINS).toEqual(["https://console.example.com", "http://localhost:5173"]);
    const extended = await startApi({
      databaseUrl: db.url,
      port: 0,
      log: quietLog,
      graphiql: false,
      allowedHosts: env.EVERRUNS_ALLOWED_HOSTS,
      allowedOrigins: env.EVERRUNS_ALLOWED_ORIGINS,
      webPort: 3000,
    });
    try {
      // a listed name without a port: any port; with a port: that port only
      expect((await raw(`${extended.url}/api/runs/${runId}`, { headers: { host: "everruns.example.com", ...api.headers } })).status).toBe(200);
      expect((await raw(`${extended.url}/api/runs/${runId}`, { headers: { host: "everruns.example.com:8443", ...api.headers } })).status).toBe(200);
      expect((await raw(`${extended.url}/api/runs/${runId}`, { headers: { host: "api.internal:4000", ...api.headers } })).status).toBe(200);
      expect((await raw(`${extended.url}/api/runs/${runId}`, { headers: { host: "api.internal:4001", ...api.headers } })).status).toBe(403);
      expect((await raw(`${extended.url}/api/runs/${runId}`, { headers: { host: "evil.example", ...api.headers } })).status).toBe(403);
      // a listed origin, and a same-origin page under a listed host
      expect((await upgrade(extended.url, { origin: "https://console.example.com" })).status).toBe(101);
      expect((await upgrade(extended.url, { origin: "http://localhost:5173" })).status).toBe(101);
      expect((await upgrade(extended.url, { origin: "https://everruns.example.com", host: "everruns.example.com" })).status).toBe(101);
      expect((await upgrade(extended.url, { origin: "https://console.example.com:444" })).status).toBe(403);
      expect((await upgrade(extended.url, { origin: EVIL })).status).toBe(403);
    } finally {
      await extended.close();
    }

    const open = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, allowedHosts: "*", allowedOrigins: "*", webPort: 3000 });
    try {
      expect((await raw(`${open.url}/api/runs/${runId}`, { headers: { host: "evil.example", ...api.headers } })).status).toBe(200);
      expect((await upgrade(open.url, { origin: EVIL })).status).toBe(101);
    } finally {
      await open.close();
    }
  });

  it("rejects a bad entry with a message naming the variable", () => {
    expect(loadEnv({ EVERRUNS_ALLOWED_HOSTS: "*" }).EVERRUNS_ALLOWED_HOSTS).toBe("*");
    expect(loadEnv({ EVERRUNS_ALLOWED_HOSTS: "::1,[fd00::1]:4000" }).EVERRUNS_ALLOWED_HOSTS).toEqual(["[::1]", "[fd00::1]:4000"]);
    expect(() => loadEnv({ EVERRUNS_ALLOWED_HOSTS: "http://everruns.example.com" })).toThrow(ConfigError);
    expect(() => loadEnv({ EVERRUNS_ALLOWED_HOSTS: "http://everruns.example.com" })).toThrow(
      /EVERRUNS_ALLOWED_HOSTS: EVERRUNS_ALLOWED_HOSTS has an invalid entry "http:\/\/everruns.example.com": expected host\[:port\]/,
    );
    expect(() => loadEnv({ EVERRUNS_ALLOWED_HOSTS: "example.com:99999" })).toThrow(/EVERRUNS_ALLOWED_HOSTS has an invalid entry "example.com:99999"/);
    expect(() => loadEnv({ EVERRUNS_ALLOWED_ORIGINS: "console.example.com" })).toThrow(
      /EVERRUNS_ALLOWED_ORIGINS: EVERRUNS_ALLOWED_ORIGINS has an invalid entry "console.example.com": expected an origin/,
    );
    expect(() => loadEnv({ EVERRUNS_ALLOWED_ORIGINS: "https://console.example.com/app" })).toThrow(/EVERRUNS_ALLOWED_ORIGINS has an invalid entry/);
    expect(loadEnv({ EVERRUNS_ALLOWED_ORIGINS: "" }).EVERRUNS_ALLOWED_ORIGINS).toBeUndefined();
  });

  it("derives the default names from HOST: a wildcard adds none, a name or address is added", () => {
    expect(serverNames("127.0.0.1")).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(serverNames("0.0.0.0")).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(serverNames("::")).toEqual(["localhost", "127.0.0.1", "[::1]"]);
    expect(serverNames("10.0.0.5")).toEqual(["localhost", "127.0.0.1", "[::1]", "10.0.0.5"]);
    expect(serverNames("fd00::5")).toEqual(["localhost", "127.0.0.1", "[::1]", "[fd00::5]"]);
    const guard = makeRequestGuard({ name: "the API", port: 4000, bindHost: "Box.lan" });
    expect(guard.checkHost("box.lan:4000")).toBeNull();
    expect(guard.checkHost("box.lan:3000")?.code).toBe("host_not_allowed");
    expect(guard.checkHost(undefined)?.code).toBe("host_not_allowed");
    expect(guard.checkOrigin("http://box.lan:4000", "localhost:4000")).toBeNull();
    expect(guard.checkOrigin("null", "localhost:4000")?.code).toBe("origin_not_allowed");
    // GET is not checked for Origin; POST, PUT, PATCH and DELETE are
    expect(guard.checkRequest({ method: "GET", url: "/", headers: { host: "localhost:4000", origin: EVIL } })).toBeNull();
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      expect(guard.checkRequest({ method, url: "/", headers: { host: "localhost:4000", origin: EVIL } })?.code, method).toBe("origin_not_allowed");
    }
  });
});

describe("GraphiQL", () => {
  it("is never served with NODE_ENV=production, and by default only on a loopback HOST", () => {
    expect(graphiqlEnabled({ requested: true, nodeEnv: "production", host: "127.0.0.1" })).toBe(false);
    expect(graphiqlEnabled({ requested: undefined, nodeEnv: "production", host: "127.0.0.1" })).toBe(false);
    expect(graphiqlEnabled({ requested: undefined, nodeEnv: "development", host: "127.0.0.1" })).toBe(true);
    expect(graphiqlEnabled({ requested: undefined, nodeEnv: undefined, host: "localhost" })).toBe(true);
    expect(graphiqlEnabled({ requested: undefined, nodeEnv: undefined, host: "0.0.0.0" })).toBe(false);
    expect(graphiqlEnabled({ requested: true, nodeEnv: undefined, host: "0.0.0.0" })).toBe(true);
    expect(graphiqlEnabled({ requested: false, nodeEnv: undefined, host: "127.0.0.1" })).toBe(false);
    expect(isLoopbackHost("127.0.0.2")).toBe(true);
    expect(isLoopbackHost("[::1]")).toBe(true);
    expect(isLoopbackHost("10.0.0.1")).toBe(false);
  });

  it("an API asked for GraphiQL serves it, except with NODE_ENV=production", async () => {
    const withGraphiql = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: true, webPort: 3000, allowedHosts: [], allowedOrigins: [] });
    try {
      expect((await raw(`${withGraphiql.url}/graphiql`)).status).toBe(200);
    } finally {
      await withGraphiql.close();
    }
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    let production: ApiHandle;
    try {
      production = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: true, webPort: 3000, allowedHosts: [], allowedOrigins: [] });
    } finally {
      process.env.NODE_ENV = saved;
    }
    try {
      expect((await raw(`${production.url}/graphiql`)).status).toBe(404);
    } finally {
      await production.close();
    }
  });
});

describe("the console's server", () => {
  let web: WebHandle;
  // an origin the console is told to allow and the API is not: the API's own check still applies
  const CONSOLE_ONLY = "https://console-only.example";
  /** A logged-in browser's cookie: the console's server sends its key on to the API (scripts/web-server.ts). */
  const session = () => ({ cookie: `everruns_session=${api.key}` });
  beforeAll(async () => {
    const saved = process.env.EVERRUNS_ALLOWED_ORIGINS;
    process.env.EVERRUNS_ALLOWED_ORIGINS = CONSOLE_ONLY; // read by the console's server process only
    try {
      web = await startWeb({ apiUrl: api.url, port: 0, log: quietLog });
    } finally {
      if (saved === undefined) delete process.env.EVERRUNS_ALLOWED_ORIGINS;
      else process.env.EVERRUNS_ALLOWED_ORIGINS = saved;
    }
  }, 180_000);
  afterAll(async () => {
    await web?.close();
  });

  it("checks Host on its pages and its /graphql", async () => {
    const page = await raw(`${web.url}/runs`, { headers: { host: `evil.example:${web.port}` } });
    expect(page.status).toBe(403);
    expect(page.json().error.code).toBe("host_not_allowed");
    expect((await raw(`${web.url}/graphql`, { method: "POST", headers: { host: "evil.example" }, body: { query: "{ __typename }" } })).status).toBe(403);
    expect((await upgrade(web.url, { host: "evil.example" })).status).toBe(403);
    expect((await raw(`${web.url}/runs`, { headers: { host: `localhost:${web.port}` } })).status).toBe(200);
  });

  it("passes its own pages' websockets and POSTs through to the API, and refuses other origins", async () => {
    expect((await upgrade(web.url, { origin: web.url, ...session() })).status).toBe(101);
    const ws = await queryOverWebsocket(web.url, web.url, { headers: session() });
    expect(ws.error).toBeUndefined();
    expect(ws.result).toEqual({ data: { __typename: "Query" } });

    const refused = await upgrade(web.url, { origin: EVIL, ...session() });
    expect(refused.status).toBe(403);
    expect(refused.json().error.code).toBe("origin_not_allowed");
    const before = await countRuns();
    const post = await raw(`${web.url}/graphql`, { method: "POST", headers: { origin: EVIL, ...session() }, body: startRunMutation });
    expect(post.status).toBe(403);
    expect(await countRuns()).toBe(before);
    const own = await raw(`${web.url}/graphql`, { method: "POST", headers: { origin: web.url, ...session() }, body: startRunMutation });
    expect(own.status).toBe(200);
    expect(await countRuns()).toBe(before + 1);
  });

  it("passes the browser's Origin on to the API, which checks it too, and relays its refusal", async () => {
    const res = await upgrade(web.url, { origin: CONSOLE_ONLY, ...session() });
    expect(res.status).toBe(403);
    expect(res.json().error.code).toBe("origin_not_allowed");
    expect(res.json().error.message).toMatch(/^the API does not accept requests from web pages at https:\/\/console-only\.example/);
    const post = await raw(`${web.url}/graphql`, { method: "POST", headers: { origin: CONSOLE_ONLY, ...session() }, body: startRunMutation });
    expect(post.status).toBe(403);
    expect(post.json().error.message).toMatch(/^the API /);
  });
});
