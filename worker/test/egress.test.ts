// The egress guard (lib/egress/): what the worker fetches on a tenant's behalf cannot reach
// loopback, private, link-local/metadata or other internal addresses unless the operator lists
// them in EVERRUNS_EGRESS_ALLOW. Real servers on loopback, refused or allowed by an explicit
// allow list; then real runs in a real worker process against real Postgres, with the
// worker's allow list narrowed so that the fake servers' 127.0.0.1 is refused.
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getSteps, startRun, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { loadEnv } from "../../db/env.ts";
import { freePort } from "../../lib/free-port.ts";
import { EgressAllowList, EgressAllowSchema, parseProviderKeyEnvs } from "../../lib/egress/config.ts";
import { EgressGuard, EgressRefusedError, type Resolver } from "../../lib/egress/guard.ts";
import { httpTool } from "../tools/http.ts";
import { ToolError, TransientToolError } from "../tools/types.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

/** A loopback HTTP server that counts every TCP connection and records every request. */
class Listener {
  connections = 0;
  requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  handler: (url: string) => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 200, body: '{"ok":true}' });
  private readonly server: Server;
  port = 0;
  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const answer = this.handler(req.url!);
        res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
        res.end(answer.body ?? "");
      });
    });
    this.server.on("connection", () => this.connections++);
  }
  async start(): Promise<this> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  url(host = "127.0.0.1", path = "/hook"): string {
    return `http://${host}:${this.port}${path}`;
  }
  reset(): void {
    this.connections = 0;
    this.requests = [];
    this.handler = () => ({ status: 200, body: '{"ok":true}' });
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const guards: EgressGuard[] = [];
function guard(allow: string, resolve?: Resolver): EgressGuard {
  const g = new EgressGuard({ allow: EgressAllowList.parse(allow), ...(resolve && { resolve }) });
  guards.push(g);
  return g;
}

const ctx = () => ({
  runId: "run-1",
  toolCallId: "call-1",
  idempotencyKey: "run-1:call-1",
  signal: new AbortController().signal,
  resumed: false,
  signals: [],
});

/** Calls an http tool at `url` through `g`; its result, or the error it threw. */
async function callTool(url: string, g: EgressGuard, headers: Record<string, string> = {}): Promise<unknown> {
  const tool = httpTool({ name: "hook", type: "http", url, headers }, { guard: g });
  try {
    return await tool.execute({ a: 1 }, ctx());
  } catch (error) {
    return error;
  }
}

let a: Listener;
let b: Listener;
beforeAll(async () => {
  a = await new Listener().start();
  b = await new Listener().start();
});
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await a?.close();
  await b?.close();
});

describe("the egress guard refuses internal addresses before connecting", () => {
  const cases: Array<[string, () => string, string]> = [
    ["127.0.0.1", () => a.url("127.0.0.1"), "loopback"],
    ["[::1]", () => a.url("[::1]"), "loopback"],
    ["localhost", () => a.url("localhost"), "loopback"],
    ["an IPv4-mapped IPv6 loopback", () => a.url("[::ffff:127.0.0.1]"), "loopback"],
    ["an IPv4-compatible IPv6 loopback", () => a.url("[::127.0.0.1]"), "loopback"],
    ["the cloud metadata address", () => "http://169.254.169.254/latest/meta-data/", "link-local"],
    ["a private 10.x address", () => "http://10.1.2.3:8080/", "private (RFC 1918)"],
    ["a private 192.168.x address", () => "http://192.168.0.1/", "private (RFC 1918)"],
    ["carrier-grade NAT", () => "http://100.64.0.1/", "carrier-grade NAT"],
    ["an IPv6 unique local address", () => "http://[fd00::1]/", "unique local"],
    ["IPv6 link-local", () => "http://[fe80::1]/", "link-local"],
    ["the unspecified address", () => a.url("0.0.0.0"), "unspecified"],
    ["NAT64 of a private address", () => "http://[64:ff9b::a00:1]/", "private (RFC 1918)"],
  ];
  for (const [name, url, kind] of cases) {
    it(`${name}: a ToolError naming EVERRUNS_EGRESS_ALLOW, and the server sees no connection`, async () => {
      a.reset();
      const error = await callTool(url(), guard(""));
      expect(error).toBeInstanceOf(ToolError);
      expect((error as Error).message).toMatch(
        /^hook: the request to \S+ was refused by the egress guard: .* addresses are not allowed; add the host to EVERRUNS_EGRESS_ALLOW to allow it$/,
      );
      expect((error as Error).message).toContain(kind);
      expect(a.connections).toBe(0);
    });
  }

  it("the guard's fetch rejects with the EgressRefusedError itself", async () => {
    await expect(guard("").fetch(a.url())).rejects.toBeInstanceOf(EgressRefusedError);
  });

  it("a redirect to a refused address is refused (each hop is checked)", async () => {
    a.reset();
    a.handler = () => ({ status: 302, headers: { location: "http://169.254.169.254/latest/meta-data/iam" } });
    const error = await callTool(a.url(), guard("127.0.0.1"));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toContain("the request to 169.254.169.254 was refused by the egress guard");
    expect(a.requests).toHaveLength(1);
  });

  it("a redirect from an allowed host to an unlisted loopback address is refused", async () => {
    a.reset();
    b.reset();
    a.handler = (url) => (url === "/hook" ? { status: 307, headers: { location: b.url("[::1]", "/internal") } } : { status: 200, body: "{}" });
    const error = await callTool(a.url(), guard("127.0.0.1"));
    expect((error as Error).message).toContain("the request to ::1 was refused by the egress guard: loopback addresses are not allowed");
    expect(b.connections).toBe(0);
  });
});

describe("what the operator lists is allowed", () => {
  for (const [allow, host] of [
    ["127.0.0.1", "127.0.0.1"],
    ["10.0.0.0/8,127.0.0.0/8", "127.0.0.1"],
    ["::ffff:127.0.0.0/104", "127.0.0.1"],
    ["LocalHost", "localhost"],
  ] as const) {
    it(`${host} with EVERRUNS_EGRESS_ALLOW=${allow}`, async () => {
      a.reset();
      expect(await callTool(a.url(host), guard(allow))).toEqual({ ok: true });
      expect(a.requests).toHaveLength(1);
      expect(a.requests[0]!.headers["idempotency-key"]).toBe("run-1:call-1");
    });
  }

  it("an address in a listed range does not make other addresses allowed", async () => {
    const error = await callTool("http://10.0.0.1/", guard("127.0.0.0/8,192.168.1.0/24"));
    expect((error as Error).message).toContain("private (RFC 1918) addresses are not allowed");
  });

  it("a bad entry is an error naming the variable", () => {
    expect(() => EgressAllowList.parse("127.0.0.1, not a host")).toThrow(/EVERRUNS_EGRESS_ALLOW has an invalid entry "not a host"/);
    expect(EgressAllowSchema.safeParse("10.0.0.0/33").error?.issues[0]?.message).toMatch(/EVERRUNS_EGRESS_ALLOW has an invalid entry "10.0.0.0\/33"/);
    expect(() => parseProviderKeyEnvs("OPENAI_KEY_2,lower-case")).toThrow(/EVERRUNS_PROVIDER_KEY_ENVS has an invalid entry "lower-case"/);
    // validated at start with the rest of the environment
    expect(() => loadEnv({ EVERRUNS_EGRESS_ALLOW: "127.0.0.1,http://x" })).toThrow(
      /EVERRUNS_EGRESS_ALLOW: EVERRUNS_EGRESS_ALLOW has an invalid entry "http:\/\/x"/,
    );
    expect(loadEnv({ EVERRUNS_EGRESS_ALLOW: "127.0.0.1,::1,localhost" }).EVERRUNS_EGRESS_ALLOW?.allowsHost("LOCALHOST")).toBe(true);
  });
});

describe("redirects", () => {
  it("a cross-origin redirect drops custom headers and the Idempotency-Key; a same-origin one keeps them", async () => {
    a.reset();
    b.reset();
    a.handler = (url) =>
      url === "/hook"
        ? { status: 307, headers: { location: "/same" } }
        : url === "/same"
          ? { status: 308, headers: { location: b.url("127.0.0.1", "/other") } }
          : { status: 200, body: "{}" };
    b.handler = () => ({ status: 200, body: '{"from":"b"}' });
    expect(await callTool(a.url(), guard("127.0.0.1"), { "X-Api-Key": "secret", Authorization: "Bearer secret" })).toEqual({ from: "b" });
    const [first, same] = a.requests;
    expect(same!.url).toBe("/same");
    expect(same!.headers["x-api-key"]).toBe("secret");
    expect(same!.headers.authorization).toBe("Bearer secret");
    expect(same!.headers["idempotency-key"]).toBe("run-1:call-1");
    expect(same!.body).toBe(first!.body);
    const other = b.requests[0]!;
    expect(other.method).toBe("POST"); // 307/308 keep the method and the body
    expect(other.body).toBe('{"a":1}');
    expect(other.headers["content-type"]).toBe("application/json");
    expect(other.headers["x-api-key"]).toBeUndefined();
    expect(other.headers.authorization).toBeUndefined();
    expect(other.headers["idempotency-key"]).toBeUndefined();
  });

  it("a 302 after POST becomes a GET without a body", async () => {
    a.reset();
    a.handler = (url) => (url === "/hook" ? { status: 302, headers: { location: "/done" } } : { status: 200, body: '{"done":true}' });
    expect(await callTool(a.url(), guard("127.0.0.1"))).toEqual({ done: true });
    expect(a.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ["POST", "/hook", '{"a":1}'],
      ["GET", "/done", ""],
    ]);
    expect(a.requests[1]!.headers["content-type"]).toBeUndefined();
  });

  it("more than 5 redirects is an error the model sees", async () => {
    a.reset();
    a.handler = (url) => ({ status: 307, headers: { location: `${url}x` } });
    const error = await callTool(a.url(), guard("127.0.0.1"));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toMatch(/redirected more than 5 times/);
    expect(a.requests).toHaveLength(6);
  });
});

describe("DNS pinning", () => {
  it("a public-looking name that resolves to a private address is refused before connecting", async () => {
    a.reset();
    const resolve: Resolver = () => Promise.resolve([{ address: "127.0.0.1", family: 4 }]);
    const error = await callTool(`http://metadata.example.com:${a.port}/`, guard("", resolve));
    expect((error as Error).message).toContain("the request to metadata.example.com was refused by the egress guard: loopback addresses");
    expect(a.connections).toBe(0);
  });

  it("a name is refused when any of its addresses is refused", async () => {
    const resolve: Resolver = () =>
      Promise.resolve([
        { address: "93.184.215.14", family: 4 },
        { address: "10.0.0.7", family: 4 },
      ]);
    const error = await callTool("http://mixed.example.com/", guard("", resolve));
    expect((error as Error).message).toContain("private (RFC 1918) addresses are not allowed");
  });

  it("the connection goes to the address that was checked, resolved once", async () => {
    a.reset();
    const asked: string[] = [];
    const resolve: Resolver = (hostname) => {
      asked.push(hostname);
      return Promise.resolve([{ address: "127.0.0.1", family: 4 }]);
    };
    // api.example.test exists in no DNS: the request can only arrive through the checked address.
    expect(await callTool(`http://api.example.test:${a.port}/hook`, guard("127.0.0.1", resolve))).toEqual({ ok: true });
    expect(asked).toEqual(["api.example.test"]);
    expect(a.requests[0]!.headers.host).toBe(`api.example.test:${a.port}`);
  });
});

describe("no port-scan oracle", () => {
  it("a refused address reads the same whether its port is open or closed", async () => {
    a.reset();
    const closed = await freePort();
    const g = guard("");
    const open = (await callTool(a.url(), g)) as Error;
    const shut = (await callTool(`http://127.0.0.1:${closed}/hook`, g)) as Error;
    expect(open).toBeInstanceOf(ToolError);
    expect(shut.message).toBe(open.message);
    expect(a.connections).toBe(0);
  });

  it("an allowed host that cannot be reached reads the same for a closed port and a reset connection", async () => {
    const closed = await freePort();
    const resetter = net.createServer((socket) => socket.destroy());
    resetter.listen(0, "127.0.0.1");
    await once(resetter, "listening");
    try {
      const g = guard("127.0.0.1");
      const refused = (await callTool(`http://127.0.0.1:${closed}/`, g)) as Error;
      const reset = (await callTool(`http://127.0.0.1:${(resetter.address() as AddressInfo).port}/`, g)) as Error;
      expect(refused).toBeInstanceOf(TransientToolError);
      expect(refused.message).toBe("hook: could not reach 127.0.0.1");
      expect(reset.message).toBe(refused.message);
    } finally {
      resetter.close();
    }
  });
});

describe("runs in a worker process whose allow list is narrowed to localhost", () => {
  let db: TestDatabase;
  let llm: FakeLlmServer;
  let fakeLlm: Listener;
  let worker: WorkerProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    llm = await FakeLlmServer.start();
    fakeLlm = await new Listener().start();
    worker = await spawnWorker(db.url, {
      EVERRUNS_EGRESS_ALLOW: "localhost",
      EVERRUNS_TEST_OPENAI_KEY: "sk-test",
    });
  });
  afterAll(async () => {
    worker?.child.kill("SIGKILL");
    await worker?.exited;
    await llm?.close();
    await fakeLlm?.close();
    await db?.drop();
  });

  it("an http tool to 127.0.0.1 gets the refusal as its result; the server sees no connection", async () => {
    a.reset();
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "hook", type: "http", url: a.url() }],
      script: [{ tool_calls: [{ name: "hook", arguments: {} }] }, { text: "done" }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const output = toolOutput((await getSteps(db.pool, runId))[1]);
    expect(output.is_error).toBe(true);
    expect(output.content).toBe(
      "Error: hook: the request to 127.0.0.1 was refused by the egress guard: loopback addresses are not allowed; add the host to EVERRUNS_EGRESS_ALLOW to allow it",
    );
    expect(a.connections).toBe(0);
  });

  for (const provider of ["openai", "anthropic"] as const) {
    it(`${provider}: a base_url whose host is not listed fails the run, and the server receives nothing`, async () => {
      fakeLlm.reset();
      const agent = await createAgent(db.pool, {
        provider,
        model: "m",
        base_url: fakeLlm.url("127.0.0.1", provider === "openai" ? "/v1" : ""),
        api_key_env: provider === "openai" ? "EVERRUNS_TEST_OPENAI_KEY" : undefined,
        retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 },
      });
      const runId = await startRun(db.pool, agent);
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status).toBe("failed");
      expect(run.error!.message).toMatch(/base_url http:\/\/127\.0\.0\.1:\d+\S* is not allowed: .*127\.0\.0\.1 is not on EVERRUNS_EGRESS_ALLOW/);
      expect(fakeLlm.connections).toBe(0);
    });
  }

  it("a base_url on a listed host goes through the guard and works", async () => {
    llm.reset();
    llm.reply({ text: "hello through the guard" });
    const agent = await createAgent(db.pool, {
      provider: "openai",
      model: "gpt-test",
      api: "chat_completions",
      base_url: `${llm.openaiBaseURL.replace("127.0.0.1", "localhost")}`,
      api_key_env: "EVERRUNS_TEST_OPENAI_KEY",
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    expect(run.output).toEqual({ text: "hello through the guard" });
    expect(llm.requests[0]!.apiKey).toBe("sk-test");
  });

  it("api_key_env naming DATABASE_URL fails the run; the variable is never sent", async () => {
    llm.reset();
    fakeLlm.reset();
    const agent = await createAgent(db.pool, {
      provider: "openai",
      model: "gpt-test",
      base_url: `${llm.openaiBaseURL.replace("127.0.0.1", "localhost")}`,
      api_key_env: "DATABASE_URL",
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error!.message).toMatch(/api_key_env names DATABASE_URL, which agents may not use.*EVERRUNS_PROVIDER_KEY_ENVS/);
    expect(run.error!.message).not.toContain(db.url);
    expect(llm.requests).toHaveLength(0);
  });
});
