// The MCP client connection layer (worker/mcp/connections.ts, names.ts, results.ts) against real
// MCP servers in real processes, no mocks: the SDK-built fixture (worker/test/fixtures/
// mcp-test-server.ts), in this process and as a child process that can be killed, and
// @modelcontextprotocol/server-everything over stdio, Streamable HTTP and the older HTTP+SSE.
// Every HTTP request goes through a real egress guard whose allow list names 127.0.0.1.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/free-port.ts";
import type { Logger } from "../../lib/logger.ts";
import { EgressAllowList } from "../../lib/egress/config.ts";
import { EgressGuard } from "../../lib/egress/guard.ts";
import { McpConnections, type McpProgress, type McpServerSpec } from "../mcp/connections.ts";
import { allowed, exposedToolName } from "../mcp/names.ts";
import { toolResultText } from "../mcp/results.ts";
import { MissingSecretError, type WorkspaceSecrets } from "../secrets.ts";
import { ToolError, TransientToolError } from "../tools/types.ts";
import { startMcpTestServer, type McpTestServer } from "./fixtures/mcp-test-server.ts";

const require = createRequire(import.meta.url);
const everything = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
const fixtureScript = fileURLToPath(new URL("./fixtures/mcp-test-server.ts", import.meta.url));

const logs: string[] = [];
const log: Logger = {
  debug: (m) => logs.push(`debug ${m}`),
  info: (m) => logs.push(`info ${m}`),
  warn: (m) => logs.push(`warn ${m}`),
  error: (m) => logs.push(`error ${m}`),
};
const loopback = new EgressGuard({ allow: EgressAllowList.parse("127.0.0.1") });
const nothingAllowed = new EgressGuard({ allow: EgressAllowList.empty });

/** A workspace's secrets, in memory (worker/secrets.ts reads them from the database). */
function secretsOf(workspaceId: string, values: Record<string, string>): WorkspaceSecrets {
  return {
    workspaceId,
    resolve(names) {
      const missing = names.filter((n) => !(n in values));
      if (missing.length > 0) return Promise.reject(new MissingSecretError(missing));
      return Promise.resolve(new Map(names.map((n) => [n, values[n]!])));
    },
  };
}

const http = (url: string, extra: Partial<McpServerSpec> = {}): McpServerSpec => ({ name: "test", transport: "http", url, ...extra });
const call = (tool: string, args: Record<string, unknown> = {}, extra: { signal?: AbortSignal; onProgress?: (p: McpProgress) => void } = {}) => ({
  tool,
  arguments: args,
  idempotencyKey: `run-1:${randomUUID()}`,
  signal: extra.signal ?? AbortSignal.timeout(30_000),
  ...(extra.onProgress && { onProgress: extra.onProgress }),
});
const never = () => AbortSignal.timeout(30_000);
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

/** A child process and the line it prints when ready (on stdout or stderr). */
async function spawnReady(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) resolve();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code}) before it was ready: ${output}`)));
    setTimeout(() => reject(new Error(`${args.join(" ")} was not ready within 20 s: ${output}`)), 20_000).unref();
  });
  return child;
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** A plain HTTP server answering every request with `answer` (headers recorded). */
async function plainServer(
  answer: (headers: IncomingHttpHeaders) => { status: number; headers?: Record<string, string>; body: string },
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    const a = answer(req.headers);
    res.writeHead(a.status, { "content-type": "text/plain", ...a.headers }).end(a.body);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

describe("names and results (pure)", () => {
  it("exposes <server>__<tool> with safe characters, at most 64 of them", () => {
    expect(exposedToolName("github", "search_issues")).toBe("github__search_issues");
    expect(exposedToolName("my server", "get.file/v2")).toBe("my_server__get_file_v2");
    const long = exposedToolName("a-server", "x".repeat(80));
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^a-server__x+_[0-9a-f]{6}$/);
    expect(exposedToolName("a-server", `${"x".repeat(80)}y`)).not.toBe(long);
  });

  it("matches allow globs against the whole name", () => {
    expect(allowed("search_issues")).toBe(true);
    expect(allowed("search_issues", ["search_*"])).toBe(true);
    expect(allowed("get_issue", ["search_*", "get_issue"])).toBe(true);
    expect(allowed("get_issues", ["get_issue"])).toBe(false);
    expect(allowed("x.y", ["x*y"])).toBe(true);
    expect(allowed("xzy", ["x.y"])).toBe(false);
    expect(allowed("anything", [])).toBe(false);
  });

  it("turns a result into text: images referenced, structured content as JSON, cut at a character boundary", () => {
    expect(
      toolResultText(
        {
          content: [
            { type: "text", text: "one" },
            { type: "image", data: "aGVsbG8=", mimeType: "image/png" },
            { type: "resource_link", uri: "file:///a.txt", name: "a.txt" },
            { type: "resource", resource: { uri: "file:///b.txt", text: "bee" } },
            { type: "text", text: "two" },
          ],
        },
        1000,
      ),
    ).toBe("one\n[image image/png, 5 bytes]\n[resource file:///a.txt a.txt]\nbee\ntwo");
    expect(toolResultText({ content: [], structuredContent: { a: 1 } }, 1000)).toBe('{"a":1}');
    expect(toolResultText({ content: [{ type: "text", text: "ééé" }] }, 3)).toBe("é [cut: 4 bytes more]");
  });
});

describe("against the fixture server (Streamable HTTP, stateful)", () => {
  let server: McpTestServer;
  let mcp: McpConnections;
  const ws = randomUUID();

  beforeAll(async () => {
    server = await startMcpTestServer();
    mcp = new McpConnections({ guard: loopback, log });
  });
  afterAll(async () => {
    await mcp.close();
    await server.close();
  });

  it("lists every page of tools, with annotations and the server's identity", async () => {
    const { tools, serverInfo } = await mcp.listTools(ws, http(server.url), undefined, never());
    expect(tools.map((t) => t.name).sort()).toEqual(["big", "echo", "fail", "image", "set_value", "slow_read", "slow_write", "structured"]);
    expect(tools.find((t) => t.name === "echo")!.annotations).toMatchObject({ readOnlyHint: true });
    expect(tools.find((t) => t.name === "set_value")!.annotations).toMatchObject({ idempotentHint: true });
    expect(tools.find((t) => t.name === "slow_write")!.annotations).toBeUndefined();
    expect(tools.find((t) => t.name === "echo")!.inputSchema).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
    expect(serverInfo).toMatchObject({ name: "everruns-mcp-test", version: "1.2.3" });
    expect(serverInfo.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    server.addTool("added");
    const again = await mcp.listTools(ws, http(server.url), undefined, never());
    expect(again.tools).toHaveLength(9);
  });

  it("calls a tool with the idempotency key in _meta, over one connection (one initialize)", async () => {
    const before = server.initializes();
    const spec = http(server.url, { timeout_ms: 10_000 });
    const c = call("echo", { text: "hello" });
    expect(await mcp.callTool(ws, spec, undefined, c)).toEqual({ content: "hello", isError: false });
    expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "again" }))).toEqual({ content: "again", isError: false });
    await Promise.all([1, 2, 3].map((n) => mcp.callTool(ws, spec, undefined, call("set_value", { key: "k", value: String(n) }))));
    expect(server.initializes() - before).toBe(1);
    const recorded = server.calls.find((r) => (r.args as { text?: string }).text === "hello")!;
    expect(recorded.meta).toMatchObject({ "io.everruns/idempotency-key": c.idempotencyKey });
  });

  it("reports progress and resets the timeout on it", async () => {
    const progress: McpProgress[] = [];
    // 1.2 s of work under a 600 ms timeout: progress every 100 ms keeps it alive
    const result = await mcp.callTool(
      ws,
      http(server.url, { timeout_ms: 600 }),
      undefined,
      call("slow_write", { key: "p", ms: 1200 }, { onProgress: (p) => progress.push(p) }),
    );
    expect(result).toEqual({ content: "wrote p", isError: false });
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatchObject({ total: 1200, message: "writing p" });
    expect(server.calls.find((r) => (r.args as { key?: string }).key === "p")!.meta).toHaveProperty("progressToken");
  });

  it("cancels: the caller's abort rejects with its reason and notifications/cancelled reaches the server", async () => {
    const controller = new AbortController();
    const pending = mcp.callTool(ws, http(server.url), undefined, call("slow_write", { key: "cancel-me", ms: 10_000 }, { signal: controller.signal }));
    await expect.poll(() => server.calls.some((r) => (r.args as { key?: string }).key === "cancel-me")).toBe(true);
    const reason = new Error("the run was cancelled");
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    await expect.poll(() => server.calls.find((r) => (r.args as { key?: string }).key === "cancel-me")!.cancelled).toBe(true);
    // the connection is still good
    expect(await mcp.callTool(ws, http(server.url), undefined, call("echo", { text: "still" }))).toMatchObject({ content: "still" });
  });

  it("times out as an unknown outcome", async () => {
    const error = await rejection(mcp.callTool(ws, http(server.url, { timeout_ms: 300 }), undefined, call("slow_read", { ms: 3000 })));
    expect(error).toBeInstanceOf(TransientToolError);
    expect(error).toMatchObject({ code: "timeout", notDelivered: false });
    expect((error as Error).message).toMatch(/did not answer within 300 ms/);
  });

  it("returns isError results, throws JSON-RPC errors as ToolError, renders images and structured content", async () => {
    expect(await mcp.callTool(ws, http(server.url), undefined, call("fail", { message: "it broke" }))).toEqual({ content: "it broke", isError: true });
    const error = await rejection(mcp.callTool(ws, http(server.url), undefined, call("protocol_error")));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toMatch(/test: protocol_error failed: .*-32602.*bad parameters/);
    // the server's text is never read as an HTTP status (a "503" there must not make a retry look safe)
    const echoed = await rejection(mcp.callTool(ws, http(server.url), undefined, call("protocol_error", { message: "upstream said Not Found (HTTP 503)" })));
    expect(echoed).toBeInstanceOf(ToolError);
    expect((await mcp.callTool(ws, http(server.url), undefined, call("image"))).content).toMatch(/^\[image image\/png, \d+ bytes\]$/);
    expect((await mcp.callTool(ws, http(server.url), undefined, call("structured"))).content).toBe('{"answer":42,"word":"forty-two"}');
  });

  it("cuts a result at max_result_bytes and refuses one far over it on the wire", async () => {
    const spec = http(server.url, { max_result_bytes: 1000 });
    const cut = await mcp.callTool(ws, spec, undefined, call("big", { bytes: 5000 }));
    expect(cut.content).toBe(`${"x".repeat(1000)} [cut: 4000 bytes more]`);
    const error = await rejection(mcp.callTool(ws, spec, undefined, call("big", { bytes: 300_000 })));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toMatch(/the result of big is over \d+ bytes on the wire/);
    // the cap closed that answer only
    expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "after" }))).toMatchObject({ content: "after" });
  });

  it("sends a secret header, and a missing secret is a ToolError saying how to set it", async () => {
    const spec = http(server.url, { headers: { Authorization: { secret: "token" }, "X-Plain": "plain" } });
    await mcp.callTool(ws, spec, secretsOf(ws, { token: "Bearer s3cret-value" }), call("echo", { text: "auth" }));
    expect(server.requests.some((r) => r.headers.authorization === "Bearer s3cret-value" && r.headers["x-plain"] === "plain")).toBe(true);
    const missing = await rejection(mcp.callTool(ws, spec, secretsOf(ws, {}), call("echo", { text: "x" })));
    expect(missing).toBeInstanceOf(ToolError);
    expect((missing as Error).message).toMatch(/secret "token" is not set.*everruns secrets set token/);
    expect(logs.join("\n")).not.toContain("s3cret-value");
  });
});

describe("failures", () => {
  const ws = randomUUID();
  let mcp: McpConnections;
  const servers: Server[] = [];
  const children: ChildProcess[] = [];

  beforeAll(() => {
    mcp = new McpConnections({ guard: loopback, log });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await stop(child);
    for (const server of servers.splice(0)) server.close();
  });
  afterAll(() => mcp.close());

  it("refuses loopback when the egress guard does not allow it", async () => {
    const server = await startMcpTestServer();
    const guarded = new McpConnections({ guard: nothingAllowed, log });
    try {
      const error = await rejection(guarded.callTool(ws, http(server.url), undefined, call("echo", { text: "x" })));
      expect(error).toBeInstanceOf(ToolError);
      expect((error as Error).message).toMatch(/refused by the egress guard: loopback addresses are not allowed/);
      expect(server.calls).toHaveLength(0);
    } finally {
      await guarded.close();
      await server.close();
    }
  });

  it("a server that is not there is mcp_unreachable, not delivered", async () => {
    const port = await freePort();
    const error = await rejection(mcp.callTool(ws, http(`http://127.0.0.1:${port}/mcp`), undefined, call("echo", { text: "x" })));
    expect(error).toBeInstanceOf(TransientToolError);
    expect(error).toMatchObject({ code: "mcp_unreachable", notDelivered: true });
  });

  it("429 with Retry-After is not delivered, and keeps the retry delay", async () => {
    const { url, server } = await plainServer(() => ({ status: 429, headers: { "retry-after": "7" }, body: "slow down" }));
    servers.push(server);
    const error = await rejection(mcp.callTool(ws, http(url), undefined, call("echo", { text: "x" })));
    expect(error).toBeInstanceOf(TransientToolError);
    expect(error).toMatchObject({ code: "http_429", notDelivered: true, retryAfterMs: 7000 });
  });

  it("never puts a secret header's value in an error, even when the server echoes it", async () => {
    const { url, server } = await plainServer((headers) => ({ status: 403, body: `forbidden for ${headers.authorization}` }));
    servers.push(server);
    const spec = http(url, { headers: { Authorization: { secret: "token" } } });
    const error = await rejection(mcp.callTool(ws, spec, secretsOf(ws, { token: "Bearer very-secret-token" }), call("echo", { text: "x" })));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toMatch(/answered 403/);
    expect((error as Error).message).not.toContain("very-secret-token");
    expect(logs.join("\n")).not.toContain("very-secret-token");
  });

  it("reconnects once after the server restarts (its session is gone: 404)", async () => {
    const port = await freePort();
    let server = await startMcpTestServer({ port });
    const spec = http(server.url);
    try {
      expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "one" }))).toMatchObject({ content: "one" });
      await server.close();
      // (a moment for the client to see its kept-alive sockets closed: a request written on one
      // the server is closing has an unknown outcome, which is right, but not this test's point)
      await settle();
      // while it is down: not delivered
      const down = await rejection(mcp.callTool(ws, spec, undefined, call("echo", { text: "down" })));
      expect(down).toMatchObject({ code: "mcp_unreachable", notDelivered: true });
      server = await startMcpTestServer({ port });
      expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "two" }))).toMatchObject({ content: "two" });
      expect(server.initializes()).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("a session that expires between calls is reconnected once, transparently", async () => {
    const port = await freePort();
    let server = await startMcpTestServer({ port });
    const spec = http(server.url);
    try {
      expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "one" }))).toMatchObject({ content: "one" });
      await server.close();
      await settle();
      server = await startMcpTestServer({ port });
      expect(await mcp.callTool(ws, spec, undefined, call("echo", { text: "two" }))).toMatchObject({ content: "two" });
      expect(server.calls.map((c) => c.tool)).toEqual(["echo"]);
      expect(logs.some((l) => /no longer knows this session.*reconnecting once/.test(l))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("a server killed during a call is an unknown outcome (network), reported at once", async () => {
    const port = await freePort();
    const child = await spawnReady([fixtureScript, "--port", String(port)], /listening on/);
    children.push(child);
    const started = Date.now();
    const pending = mcp.callTool(ws, http(`http://127.0.0.1:${port}/mcp`, { timeout_ms: 30_000 }), undefined, call("slow_write", { key: "k", ms: 20_000 }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.kill("SIGKILL");
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(TransientToolError);
    expect(error).toMatchObject({ code: "network", notDelivered: false });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("closes idle connections (ending their sessions) and keeps at most maxConnections", async () => {
    const server = await startMcpTestServer();
    const small = new McpConnections({ guard: loopback, log, idleMs: 300, maxConnections: 1 });
    try {
      await small.callTool(ws, http(server.url), undefined, call("echo", { text: "a" }));
      await small.callTool(ws, http(server.url, { timeout_ms: 5000 }), undefined, call("echo", { text: "b" }));
      expect(small.size).toBe(1);
      await expect.poll(() => server.sessions()).toBe(1);
      await expect.poll(() => small.size).toBe(0);
      await expect.poll(() => server.sessions()).toBe(0);
    } finally {
      await small.close();
      await server.close();
    }
  });

  it("a later abort of the caller's signal sends nothing for a finished call", async () => {
    const server = await startMcpTestServer();
    const controller = new AbortController();
    try {
      await mcp.callTool(ws, http(server.url), undefined, call("echo", { text: "done" }, { signal: controller.signal }));
      const before = server.requests.length;
      controller.abort(new Error("the step ended"));
      await settle();
      expect(server.requests.length).toBe(before);
    } finally {
      await server.close();
    }
  });

  it("stateless servers work too (no session)", async () => {
    const server = await startMcpTestServer({ stateless: true });
    try {
      const { tools } = await mcp.listTools(ws, http(server.url), undefined, never());
      expect(tools).toHaveLength(8);
      expect(await mcp.callTool(ws, http(server.url), undefined, call("echo", { text: "sl" }))).toMatchObject({ content: "sl" });
    } finally {
      await server.close();
    }
  });
});

describe("against @modelcontextprotocol/server-everything", () => {
  const ws = randomUUID();
  let mcp: McpConnections;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    mcp = new McpConnections({ guard: loopback, log, stdio: `${randomUUID()},${ws}` });
  });
  afterAll(async () => {
    await mcp.close();
    for (const child of children) await stop(child);
  });

  it("Streamable HTTP: lists its tools and reports a long operation's progress", async () => {
    const port = await freePort();
    children.push(await spawnReady([everything, "streamableHttp"], /listening on port/, { PORT: String(port) }));
    const spec = http(`http://127.0.0.1:${port}/mcp`);
    const { tools, serverInfo } = await mcp.listTools(ws, spec, undefined, never());
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["echo", "get-sum", "trigger-long-running-operation"]));
    expect(serverInfo.name).toBe("mcp-servers/everything");
    const progress: McpProgress[] = [];
    const result = await mcp.callTool(
      ws,
      spec,
      undefined,
      call("trigger-long-running-operation", { duration: 0.6, steps: 3 }, { onProgress: (p) => progress.push(p) }),
    );
    expect(result.content).toMatch(/Long running operation completed/);
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
  });

  it("falls back to the older HTTP+SSE transport", async () => {
    const port = await freePort();
    children.push(await spawnReady([everything, "sse"], /running on port/, { PORT: String(port) }));
    const spec = http(`http://127.0.0.1:${port}/sse`);
    const { tools } = await mcp.listTools(ws, spec, undefined, never());
    expect(tools.map((t) => t.name)).toContain("echo");
    expect(await mcp.callTool(ws, spec, undefined, call("echo", { message: "over sse" }))).toEqual({ content: "Echo: over sse", isError: false });
    expect(logs.some((l) => /trying the older HTTP\+SSE transport/.test(l))).toBe(true);
  });

  it("stdio is refused unless the operator enabled it for the workspace", async () => {
    const spec: McpServerSpec = { name: "files", transport: "stdio", command: [process.execPath, everything, "stdio"] };
    const off = new McpConnections({ log });
    const error = await rejection(off.listTools(ws, spec, undefined, never()));
    expect(error).toBeInstanceOf(ToolError);
    expect((error as Error).message).toMatch(/EVERRUNS_MCP_STDIO/);
    const other = await rejection(mcp.listTools(randomUUID(), spec, undefined, never()));
    expect(other).toBeInstanceOf(ToolError);
    await off.close();
  });

  it("stdio: close() ends the server processes", async () => {
    const own = new McpConnections({ log, stdio: "1" });
    const children = () =>
      execFileSync("ps", ["-o", "args=", "--ppid", String(process.pid)], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes(everything));
    const before = children().length;
    await own.listTools(ws, { name: "files", transport: "stdio", command: [process.execPath, everything, "stdio"] }, undefined, never());
    expect(children()).toHaveLength(before + 1);
    await own.close();
    expect(children()).toHaveLength(before);
  });

  it("stdio: a minimal environment plus the spec's env, secrets resolved (and redacted from results)", async () => {
    const before = process.env.DATABASE_URL;
    process.env.DATABASE_URL = "postgres://worker:do-not-leak@db/everruns";
    try {
      const spec: McpServerSpec = {
        name: "files",
        transport: "stdio",
        command: [process.execPath, everything, "stdio"],
        env: { PLAIN_SETTING: "on", SERVICE_TOKEN: { secret: "svc" } },
      };
      const secrets = secretsOf(ws, { svc: "tok-123456-secret" });
      const { tools, serverInfo } = await mcp.listTools(ws, spec, secrets, never());
      expect(tools.map((t) => t.name)).toContain("get-env");
      expect(serverInfo.protocolVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const { content } = await mcp.callTool(ws, spec, secrets, call("get-env"));
      const env = JSON.parse(content) as Record<string, string>;
      expect(env.PLAIN_SETTING).toBe("on");
      expect(env.SERVICE_TOKEN).toBe("[secret svc]");
      expect(env.DATABASE_URL).toBeUndefined();
      expect(content).not.toContain("do-not-leak");
      expect(Object.keys(env).filter((k) => k.startsWith("EVERRUNS_"))).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = before;
    }
  });
});
