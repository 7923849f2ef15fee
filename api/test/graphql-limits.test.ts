// What one GraphQL request may cost (api/graphql/limits.ts), against a real API and Postgres:
// the alias bomb after a large run input, too many aliases, too deep, too expensive, page sizes
// (maximum, default, negative), websocket frames and operations, sockets per key, introspection
// and suggestions in production, and what liveWorkers tells a viewer.
import { createClient, type Client } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { DEFAULT_PAGE_SIZE, MAX_OPERATIONS_PER_SOCKET, MAX_PAGE_SIZE, MAX_SOCKETS_PER_KEY } from "../graphql/limits.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { bearer, createTestKey, quietLog, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let viewerKey: string;
let liveness: pg.Client;

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

async function gql<T = unknown>(query: string, variables: Record<string, unknown> = {}, headers = api.headers, url = api.url): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

const messages = (res: GraphQLResponse<unknown>) => (res.errors ?? []).map((e) => e.message).join("; ");

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  viewerKey = await createTestKey(db.url, { role: "viewer" });
  const agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, "limits-agent");
  // one large run input (2 MB) and 150 small runs: more than a default page
  await db.pool.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content: "x".repeat(2_000_000) }] }),
  ]);
  await db.pool.query(
    "insert into everruns.runs (agent_id, input) select $1, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'q' || i))) from generate_series(1, 150) i",
    [agentId],
  );
  // a live worker (a liveness connection that registered)
  liveness = new pg.Client({ connectionString: db.url, application_name: "everruns-worker:limits-pool" });
  await liveness.connect();
  await liveness.query("select everruns_private.register_worker('limits-pool', 'secret-host', 4242, 2)");
});

afterAll(async () => {
  await liveness?.end();
  await api?.close();
  await db?.drop();
});

describe("query limits", () => {
  it("refuses the alias bomb (1,000 aliases of allRuns{nodes{input}}) before running it, without the heap growing", async () => {
    const query = `{ ${Array.from({ length: 1000 }, (_, i) => `a${i}: allRuns { nodes { input } }`).join(" ")} }`;
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const res = await gql(query);
    const ms = performance.now() - t0;
    const grewMb = (process.memoryUsage().rss - rssBefore) / 1e6;
    console.log(`alias bomb: answered in ${ms.toFixed(0)} ms, RSS grew ${grewMb.toFixed(1)} MB`);
    expect(res.data ?? null).toBeNull();
    expect(messages(res)).toMatch(/too many aliases: more than 30/);
    // no gate on the time (shared, noisy machines): it is printed above; what must hold is that
    // the bomb is refused before anything runs, and the heap does not follow the answer size
    expect(grewMb).toBeLessThan(150);
  });

  it("refuses 2,000 aliases", async () => {
    const res = await gql(`{ ${Array.from({ length: 2000 }, (_, i) => `a${i}: allRuns { totalCount }`).join(" ")} }`);
    expect(messages(res)).toMatch(/too many aliases/);
  });

  it("refuses a query too expensive (pages × fields) or too deep, saying why", async () => {
    const costly = await gql(`{ allAgents(first: 1000) { nodes { runsByAgentId(first: 1000) { nodes { id status } } } } }`);
    expect(messages(costly)).toMatch(/query too expensive: it may read more than 500000 fields × rows/);
    const fine = await gql(`{ allAgents(first: 100) { totalCount nodes { runsByAgentId(first: 100) { totalCount nodes { id status } } } } }`);
    expect(fine.errors).toBeUndefined();
    let nested = "id";
    for (let i = 0; i < 8; i++) nested = `agentByAgentId { runsByAgentId(first: 1) { nodes { ${nested} } } }`;
    const deep = await gql(`{ allRuns(first: 1) { nodes { ${nested} } } }`);
    expect(messages(deep)).toMatch(/query too deep: more than 12 levels/);
  });

  it("bounds page sizes: at most the maximum, a default when absent, never negative", async () => {
    const huge = await gql(`{ allRunEvents(first: 2147483647) { nodes { seq } } }`);
    expect(messages(huge)).toMatch(new RegExp(`\`first\` must be at most ${MAX_PAGE_SIZE}, got 2147483647`));
    const viaVariable = await gql(`query ($n: Int) { allRuns(first: $n) { nodes { id } } }`, { n: 5000 });
    expect(messages(viaVariable)).toMatch(/`first` must be at most 1000/);
    const negative = await gql(`{ allRuns(first: -1) { nodes { id } } }`);
    expect(messages(negative)).toMatch(/`first` must be a whole number ≥ 0, got -1/);
    const negativeOffset = await gql(`{ allRuns(offset: -5) { nodes { id } } }`);
    expect(messages(negativeOffset)).toMatch(/`offset` must be a whole number ≥ 0, got -5/);

    const byDefault = await gql<{ allRuns: { totalCount: number; nodes: unknown[] } }>(`{ allRuns { totalCount nodes { id } } }`);
    expect(byDefault.errors).toBeUndefined();
    expect(byDefault.data!.allRuns.totalCount).toBe(151);
    expect(byDefault.data!.allRuns.nodes).toHaveLength(DEFAULT_PAGE_SIZE);
    const all = await gql<{ allRuns: { nodes: unknown[] } }>(`{ allRuns(first: 1000) { nodes { id } } }`);
    expect(all.data!.allRuns.nodes).toHaveLength(151);
    const last = await gql<{ allRuns: { nodes: unknown[] } }>(`{ allRuns(last: 3) { nodes { id } } }`);
    expect(last.errors).toBeUndefined();
    expect(last.data!.allRuns.nodes).toHaveLength(3);
  });

  it("tells a viewer what the workers are, but not their hosts and pids", async () => {
    const query = `{ liveWorkers { poolId hostname pid concurrency } }`;
    const asViewer = await gql<{ liveWorkers: unknown[] }>(query, {}, bearer(viewerKey));
    expect(asViewer.errors).toBeUndefined();
    expect(asViewer.data!.liveWorkers).toEqual([{ poolId: "limits-pool", hostname: null, pid: null, concurrency: 2 }]);
    const asAdmin = await gql<{ liveWorkers: unknown[] }>(query);
    expect(asAdmin.data!.liveWorkers).toEqual([{ poolId: "limits-pool", hostname: "secret-host", pid: 4242, concurrency: 2 }]);
  });
});

describe("database errors", () => {
  it("names no constraint in a conflict", async () => {
    const create = `mutation ($name: String!) { createAgent(input: { agent: { name: $name, config: { provider: "scripted", script: [{ text: "x" }] } } }) { agent { id } } }`;
    expect((await gql(create, { name: "twice" })).errors).toBeUndefined();
    const again = await gql(create, { name: "twice" });
    expect(again.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^conflict: another agent has the same (unique key|workspace_id, name)$/) as unknown,
      extensions: { code: "conflict" },
    });
    expect(messages(again)).not.toMatch(/constraint|_key|_pkey/);
  });
});

describe("production", () => {
  let prod: ApiHandle;
  beforeAll(async () => {
    prod = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false, production: true });
  });
  afterAll(async () => {
    await prod?.close();
  });

  it("answers no introspection and no suggestions in production; development does", async () => {
    const introspection = `{ __schema { queryType { name } } }`;
    expect(messages(await gql(introspection, {}, api.headers, prod.url))).toMatch(/introspection has been disabled/);
    expect((await gql<{ __schema: unknown }>(introspection)).data?.__schema).toEqual({ queryType: { name: "Query" } });
    const typo = `{ allRunz { totalCount } }`;
    expect(messages(await gql(typo))).toMatch(/Did you mean "allRuns"/);
    const prodTypo = messages(await gql(typo, {}, api.headers, prod.url));
    expect(prodTypo).toMatch(/Cannot query field "allRunz" on type "Query"\./);
    expect(prodTypo).not.toMatch(/Did you mean/);
  });
});

describe("websockets", () => {
  const wsUrl = () => `${api.url.replace(/^http/, "ws")}/graphql`;

  /** A raw graphql-transport-ws socket, initialised with `key`: resolves once acknowledged (or closed). */
  function openSocket(key: string): Promise<{ socket: WebSocket; received: string[]; closed: Promise<{ code: number; reason: string }>; acked: boolean }> {
    return new Promise((resolve) => {
      const socket = new WebSocket(wsUrl(), "graphql-transport-ws");
      const received: string[] = [];
      const closed = new Promise<{ code: number; reason: string }>((done) => socket.addEventListener("close", (e) => done({ code: e.code, reason: e.reason })));
      socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: bearer(key) })));
      socket.addEventListener("message", (e) => {
        received.push(String(e.data));
        if ((JSON.parse(String(e.data)) as { type: string }).type === "connection_ack") resolve({ socket, received, closed, acked: true });
      });
      void closed.then(() => resolve({ socket, received, closed, acked: false }));
    });
  }

  it("closes a socket that sends a 2 MB message, without executing it", async () => {
    const { socket, received, closed, acked } = await openSocket(api.key);
    expect(acked).toBe(true);
    const query = `{ __typename } # ${"x".repeat(2_000_000)}`;
    socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query } }));
    const { code } = await closed;
    expect(code).toBe(1009); // message too big
    expect(received.filter((m) => (JSON.parse(m) as { type: string }).type === "next")).toEqual([]);
  });

  it(`refuses operation ${MAX_OPERATIONS_PER_SOCKET + 1} on one socket`, async () => {
    const client: Client = createClient({ url: wsUrl(), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: bearer(api.key) });
    try {
      const disposers: Array<() => void> = [];
      for (let i = 0; i < MAX_OPERATIONS_PER_SOCKET; i++) {
        disposers.push(client.subscribe({ query: `subscription { runUpdated { runId } }` }, { next() {}, error() {}, complete() {} }));
      }
      const refused = await new Promise<unknown>((resolve) =>
        client.subscribe({ query: `subscription { runUpdated { runId } }` }, { next: resolve, error: resolve, complete() {} }),
      );
      expect(JSON.stringify(refused)).toMatch(/too many operations on this websocket/);
      for (const dispose of disposers) dispose();
    } finally {
      await client.dispose();
    }
  });

  it(`refuses socket ${MAX_SOCKETS_PER_KEY + 1} of one key, and takes it again once one closes`, async () => {
    const key = await createTestKey(db.url, { role: "viewer", name: "many-sockets" });
    const open = [];
    for (let i = 0; i < MAX_SOCKETS_PER_KEY; i++) {
      const s = await openSocket(key);
      expect(s.acked).toBe(true);
      open.push(s);
    }
    const extra = await openSocket(key);
    expect(extra.acked).toBe(false);
    expect(await extra.closed).toEqual({ code: 4403, reason: `Forbidden: at most ${MAX_SOCKETS_PER_KEY} websockets per API key` });
    // another key is not affected
    const other = await openSocket(api.key);
    expect(other.acked).toBe(true);
    other.socket.close();
    open[0]!.socket.close();
    await open[0]!.closed;
    await new Promise((r) => setTimeout(r, 50));
    const again = await openSocket(key);
    expect(again.acked).toBe(true);
    for (const s of [...open.slice(1), again]) s.socket.close();
  });
});
