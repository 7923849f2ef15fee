// Everruns as an MCP server (api/mcp.ts, issue 17), driven by the MCP SDK's own Client over
// Streamable HTTP against a real API, a real worker and a real Postgres: the handshake and tool
// schemas, start_run → wait_run with progress notifications, get_run, interrupts answered with
// answer_interrupt, events, cancellation, roles and workspaces, the transcript resources, the
// HTTP edges (401 with its challenge, 405, 413), and a client that goes away in the middle of a
// wait_run and comes back to a run that finished without it, and an API killed during a
// wait_run whose restarted self answers the next one.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, LoggingMessageNotificationSchema, type CallToolResult, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createAgent, createTestDatabase, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { MAX_MCP_BODY_BYTES, transcriptUri } from "../mcp.ts";
import { bearer, createTestKey, freePort, kill9, spawnApi, startTestApi, waitUntil, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
const keys = { operator: "", viewer: "", elsewhere: "" };
const clients: Client[] = [];

const TOOLS = ["answer_interrupt", "cancel_run", "get_run", "list_agents", "send_event", "start_run", "wait_run"];

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  keys.operator = await createTestKey(db.url, { role: "operator", name: "mcp-operator" });
  keys.viewer = await createTestKey(db.url, { role: "viewer", name: "mcp-viewer" });
  const other = await createWorkspace(db.pool, "mcp-elsewhere");
  keys.elsewhere = await createTestKey(db.url, { role: "admin", workspaceId: other.id, name: "mcp-elsewhere-admin" });
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "Echoing.", delay_ms: 1000, tool_calls: [{ name: "echo", arguments: { a: 1 } }] },
        { text: "Done.", delay_ms: 100 },
      ],
    },
    "mcp-echo",
  );
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "I will transfer.", tool_calls: [{ name: "echo", arguments: { transfer: 100 } }] }, { text: "Transfer handled." }],
    },
    "mcp-banker",
  );
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "went on" }],
    },
    "mcp-waiter",
  );
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow and steady", delay_ms: 3000 }] }, "mcp-slow");
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "never seen", delay_ms: 120_000 }] }, "mcp-stuck");
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

/** The SDK's client over Streamable HTTP with `key` as bearer. */
async function connect(key: string): Promise<Client> {
  const client = new Client({ name: "everruns-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(`${api.url}/mcp`), { requestInit: { headers: bearer(key) } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>, opts: { onprogress?: (p: Progress) => void } = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args }, CallToolResultSchema, { timeout: 120_000, ...opts })) as CallToolResult;
}

/** A successful tool result's structured content. */
function ok<T = Record<string, unknown>>(result: CallToolResult): T {
  expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
  const text = (result.content[0] as { text: string }).text;
  expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(result.structuredContent)));
  return result.structuredContent as T;
}

/** An error result's message. */
function refused(result: CallToolResult): string {
  expect(result.isError, JSON.stringify(result.content)).toBe(true);
  return (result.content[0] as { text: string }).text;
}

interface Started {
  run_id: string;
  thread_id: string;
  status: string;
}

describe("MCP handshake and tool list", () => {
  it("initializes with tools, resources and logging, and lists every tool with its schema and truthful annotations", async () => {
    const client = await connect(keys.operator);
    expect(client.getServerVersion()).toMatchObject({ name: "everruns" });
    expect(client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {}, logging: {} });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    for (const t of tools) {
      expect(t.description, t.name).toBeTruthy();
      expect(t.inputSchema.type, t.name).toBe("object");
    }
    expect(byName.start_run!.inputSchema.required).toEqual(["agent"]);
    expect(Object.keys(byName.start_run!.inputSchema.properties ?? {}).sort()).toEqual(["agent", "input", "message", "priority", "thread_id"]);
    expect(byName.wait_run!.inputSchema.properties?.timeout_s).toMatchObject({ type: "integer", minimum: 1, maximum: 300 });
    expect(byName.answer_interrupt!.inputSchema.required).toEqual(["run_id", "resume"]);
    const hints = Object.fromEntries(tools.map((t) => [t.name, [t.annotations?.readOnlyHint, t.annotations?.destructiveHint, t.annotations?.idempotentHint]]));
    expect(hints).toEqual({
      list_agents: [true, false, true],
      get_run: [true, false, true],
      wait_run: [true, false, true],
      start_run: [false, false, false],
      answer_interrupt: [false, false, true],
      send_event: [false, false, false],
      cancel_run: [false, true, true],
    });
    const templates = await client.listResourceTemplates();
    expect(templates.resourceTemplates.map((t) => t.uriTemplate)).toEqual(["everruns://runs/{run_id}/transcript"]);
  });

  it("list_agents shows the key's workspace's agents", async () => {
    const client = await connect(keys.viewer);
    const { agents } = ok<{ agents: Array<{ name: string; provider: string }> }>(await call(client, "list_agents", {}));
    expect(agents.map((a) => a.name)).toEqual(["mcp-banker", "mcp-echo", "mcp-slow", "mcp-stuck", "mcp-waiter"]);
    expect(agents[0]).toMatchObject({ provider: "scripted" });
  });
});

describe("start_run, wait_run, get_run, transcripts", () => {
  it("start_run returns at once; wait_run streams a progress notification per step until the run succeeded; get_run and the transcript agree", async () => {
    const client = await connect(keys.operator);
    const started = ok<Started>(await call(client, "start_run", { agent: "mcp-echo", message: "hello there" }));
    expect(started).toMatchObject({ run_id: expect.any(String) as unknown, thread_id: expect.any(String) as unknown, status: "queued" });
    const progress: Progress[] = [];
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });
    const done = ok(await call(client, "wait_run", { run_id: started.run_id, timeout_s: 60 }, { onprogress: (p) => progress.push(p) }));
    expect(done).toMatchObject({ run_id: started.run_id, status: "succeeded", output: { text: "Done." }, error: null, interrupts: [], continued_by: null });
    expect(done.usage).toMatchObject({ output_tokens: expect.any(Number) as unknown });
    // three steps (llm, tool, llm), each reported once, in order (the first takes a second: the
    // wait begins before it ends)
    expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
    expect(progress.map((p) => p.message)).toEqual([
      `run ${started.run_id}: step 1: llm scripted finished`,
      `run ${started.run_id}: step 2: tool echo finished`,
      `run ${started.run_id}: step 3: llm scripted finished`,
    ]);
    expect(logs).toEqual([`run ${started.run_id} succeeded`]);

    const run = ok<{ status: string; events: Array<{ seq: number; type: string }> }>(await call(client, "get_run", { run_id: started.run_id }));
    expect(run.status).toBe("succeeded");
    expect(run.events.length).toBeGreaterThan(0);
    expect(run.events.length).toBeLessThanOrEqual(20);
    expect(run.events.at(-1)!.type).toBe("RUN_FINISHED");
    const seqs = run.events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    // wait_run on a run that already ended answers at once
    const again = ok(await call(client, "wait_run", { run_id: started.run_id }));
    expect(again).toMatchObject({ status: "succeeded" });

    const { resources } = await client.listResources();
    expect(resources.length).toBeLessThanOrEqual(20);
    const mine = resources.find((r) => r.uri === transcriptUri(started.run_id));
    expect(mine).toMatchObject({ name: `run ${started.run_id}`, mimeType: "text/plain" });
    const read = await client.readResource({ uri: transcriptUri(started.run_id) });
    const text = (read.contents[0] as { text: string }).text;
    expect(text).toContain("user: hello there\n");
    expect(text).toContain("assistant: Echoing.\n");
    expect(text).toContain('assistant calls echo({"a":1})\n');
    expect(text).toContain('tool echo: {"a":1}\n');
    expect(text).toContain("assistant: Done.\n");
    expect(text.trimEnd().endsWith("[run succeeded]")).toBe(true);
  });

  it("a second run on the same thread (thread_id), with a whole run input", async () => {
    const client = await connect(keys.operator);
    const first = ok<Started>(await call(client, "start_run", { agent: "mcp-echo", message: "one" }));
    await waitForStatus(db.pool, first.run_id, ["succeeded"]);
    const second = ok<Started>(
      await call(client, "start_run", { agent: "mcp-echo", input: { messages: [{ role: "user", content: "two" }] }, thread_id: first.thread_id, priority: 5 }),
    );
    expect(second.thread_id).toBe(first.thread_id);
    expect(ok(await call(client, "wait_run", { run_id: second.run_id }))).toMatchObject({ status: "succeeded" });
  });

  it("invalid requests are tool errors that say what to do, and nothing is started", async () => {
    const client = await connect(keys.operator);
    const before = (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs")).rows[0]!.n;
    expect(refused(await call(client, "start_run", { agent: "mcp-echo" }))).toMatch(/give either `message`.*or `input`/);
    expect(refused(await call(client, "start_run", { agent: "mcp-echo", message: "x", input: { messages: [] } }))).toMatch(/not both/);
    expect(refused(await call(client, "start_run", { agent: "no-such-agent", message: "x" }))).toBe('not_found: no agent with id or name "no-such-agent"');
    expect(refused(await call(client, "start_run", { agent: "mcp-echo", input: { messages: "hi" } }))).toMatch(
      /^invalid_run_input: invalid run input: "messages" must be an array/,
    );
    expect(refused(await call(client, "get_run", { run_id: "not-a-uuid" }))).toMatch(/run_id/);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect(refused(await call(client, "get_run", { run_id: unknown }))).toBe(`not_found: unknown run ${unknown}`);
    expect(refused(await call(client, "wait_run", { run_id: unknown }))).toBe(`not_found: unknown run ${unknown}`);
    expect(refused(await call(client, "wait_run", { run_id: unknown, timeout_s: 301 }))).toMatch(/timeout_s/);
    await expect(client.readResource({ uri: transcriptUri(unknown) })).rejects.toThrow(/unknown run/);
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs")).rows[0]!.n).toBe(before);
  });
});

describe("interrupts, events, cancellation", () => {
  it("wait_run ends at an interrupt and shows it; answer_interrupt starts the continuation, which wait_run follows to its end", async () => {
    const client = await connect(keys.operator);
    const started = ok<Started>(await call(client, "start_run", { agent: "mcp-banker", message: "send 100" }));
    const interrupted = ok<{ status: string; interrupts: Array<{ id: string; reason: string }> }>(
      await call(client, "wait_run", { run_id: started.run_id, timeout_s: 60 }),
    );
    expect(interrupted.status).toBe("interrupted");
    expect(interrupted.interrupts).toHaveLength(1);
    expect(interrupted.interrupts[0]).toMatchObject({ reason: "tool_approval", id: expect.stringMatching(/^approval-/) as unknown });
    const resume = [{ interruptId: interrupted.interrupts[0]!.id, status: "resolved", payload: { approved: true } }];
    const answered = ok<{ continuation_run_id: string; thread_id: string }>(await call(client, "answer_interrupt", { run_id: started.run_id, resume }));
    expect(answered.thread_id).toBe(started.thread_id);
    // answering again returns the same continuation (idempotent)
    expect(ok(await call(client, "answer_interrupt", { run_id: started.run_id, resume }))).toMatchObject({ continuation_run_id: answered.continuation_run_id });
    const finished = ok(await call(client, "wait_run", { run_id: answered.continuation_run_id, timeout_s: 60 }));
    expect(finished).toMatchObject({ status: "succeeded", output: { text: "Transfer handled." }, parent_run_id: started.run_id });
    // the original: answered, so no open interrupt, and it names its continuation
    expect(ok(await call(client, "get_run", { run_id: started.run_id }))).toMatchObject({
      status: "interrupted",
      interrupts: [],
      continued_by: answered.continuation_run_id,
    });
    expect(refused(await call(client, "answer_interrupt", { run_id: answered.continuation_run_id, resume }))).toMatch(
      /^invalid_resume: .*not waiting for an answer/,
    );
  });

  it("send_event wakes a run waiting for it; a wait_run that outlasts its bound says still_running", async () => {
    const client = await connect(keys.operator);
    const started = ok<Started>(await call(client, "start_run", { agent: "mcp-waiter", message: "wait" }));
    await waitForStatus(db.pool, started.run_id, ["waiting"]);
    const t0 = Date.now();
    expect(ok(await call(client, "wait_run", { run_id: started.run_id, timeout_s: 1 }))).toEqual({
      still_running: true,
      run_id: started.run_id,
      status: "waiting",
      waited_s: 1,
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(ok(await call(client, "send_event", { run_id: started.run_id, name: "go", payload: { ok: true } }))).toEqual({
      run_id: started.run_id,
      name: "go",
      woke: true,
    });
    expect(ok(await call(client, "wait_run", { run_id: started.run_id, timeout_s: 60 }))).toMatchObject({ status: "succeeded", output: { text: "went on" } });
  });

  it("cancel_run stops a running run; a second cancel changes nothing", async () => {
    const client = await connect(keys.operator);
    const started = ok<Started>(await call(client, "start_run", { agent: "mcp-stuck", message: "go" }));
    await waitForStatus(db.pool, started.run_id, ["running"]);
    expect(ok(await call(client, "cancel_run", { run_id: started.run_id }))).toEqual({ run_id: started.run_id, cancelled: true, status: "cancelled" });
    expect(ok(await call(client, "wait_run", { run_id: started.run_id, timeout_s: 30 }))).toMatchObject({ status: "cancelled" });
    expect(ok(await call(client, "cancel_run", { run_id: started.run_id }))).toEqual({ run_id: started.run_id, cancelled: false, status: "cancelled" });
  });
});

describe("who is asking", () => {
  it("a viewer key reads but cannot act: each refusal is a tool error naming the role", async () => {
    const operator = await connect(keys.operator);
    const run = ok<Started>(await call(operator, "start_run", { agent: "mcp-echo", message: "for the viewer" }));
    const viewer = await connect(keys.viewer);
    const needs = (what: string) => `forbidden: ${what} needs an API key with role operator or admin; this key's role is viewer`;
    expect(refused(await call(viewer, "start_run", { agent: "mcp-echo", message: "x" }))).toBe(needs("starting a run"));
    expect(refused(await call(viewer, "cancel_run", { run_id: run.run_id }))).toBe(needs("cancelling a run"));
    expect(refused(await call(viewer, "send_event", { run_id: run.run_id, name: "go" }))).toBe(needs("sending an event to a run"));
    expect(refused(await call(viewer, "answer_interrupt", { run_id: run.run_id, resume: [{ interruptId: "x", status: "resolved" }] }))).toBe(
      needs("answering a run's interrupts"),
    );
    expect(ok(await call(viewer, "wait_run", { run_id: run.run_id, timeout_s: 60 }))).toMatchObject({ status: "succeeded" });
    expect(ok(await call(viewer, "get_run", { run_id: run.run_id }))).toMatchObject({ status: "succeeded" });
  });

  it("another workspace's key: the runs and agents are unknown, its resource list is its own (empty)", async () => {
    const operator = await connect(keys.operator);
    const run = ok<Started>(await call(operator, "start_run", { agent: "mcp-echo", message: "mine" }));
    await waitForStatus(db.pool, run.run_id, ["succeeded"]);
    const other = await connect(keys.elsewhere);
    const unknown = `not_found: unknown run ${run.run_id}`;
    for (const [tool, args] of [
      ["get_run", { run_id: run.run_id }],
      ["wait_run", { run_id: run.run_id, timeout_s: 1 }],
      ["cancel_run", { run_id: run.run_id }],
      ["send_event", { run_id: run.run_id, name: "go" }],
      ["answer_interrupt", { run_id: run.run_id, resume: [{ interruptId: "x", status: "resolved" }] }],
    ] as const) {
      expect(refused(await call(other, tool, args)), tool).toMatch(tool === "answer_interrupt" ? /^not_found: .*run/ : new RegExp(`^${unknown}$`));
    }
    expect(refused(await call(other, "start_run", { agent: "mcp-echo", message: "x" }))).toBe('not_found: no agent with id or name "mcp-echo"');
    expect(ok(await call(other, "list_agents", {}))).toEqual({ agents: [] });
    expect((await other.listResources()).resources).toEqual([]);
    await expect(other.readResource({ uri: transcriptUri(run.run_id) })).rejects.toThrow(/unknown run/);
  });
});

describe("HTTP", () => {
  const initialize = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  });
  const mcpHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };

  it("no key, or not a key: 401 JSON with WWW-Authenticate: Bearer", async () => {
    for (const headers of [{}, bearer("nope"), bearer(`evr_${"A".repeat(43)}`)]) {
      const res = await fetch(`${api.url}/mcp`, { method: "POST", headers: { ...mcpHeaders, ...headers }, body: initialize });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="everruns"');
      expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^(unauthenticated|invalid_key)$/);
    }
    // the SDK client sees it as an error at connect
    const client = new Client({ name: "no-key", version: "1" });
    const error = await client.connect(new StreamableHTTPClientTransport(new URL(`${api.url}/mcp`))).then(
      () => null,
      (e: unknown) => e as { code?: number; message: string },
    );
    expect(error).toMatchObject({ code: 401, message: expect.stringContaining("this API needs a key: send Authorization: Bearer <key>") as unknown });
  });

  it("GET and DELETE: 405 with Allow: POST (stateless: no standalone stream, no session)", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${api.url}/mcp`, { method, headers: { ...bearer(keys.operator), accept: "text/event-stream" } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
    }
  });

  it("a body over 4 MiB: 413, unread", async () => {
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "start_run", arguments: { agent: "mcp-echo", message: "x".repeat(MAX_MCP_BODY_BYTES) } },
    });
    const res = await fetch(`${api.url}/mcp`, { method: "POST", headers: { ...mcpHeaders, ...bearer(keys.operator) }, body: big });
    expect(res.status).toBe(413);
    await res.body?.cancel();
    // and one just under it is read (a JSON-RPC answer, whatever the tool thinks of it)
    const fine = await fetch(`${api.url}/mcp`, { method: "POST", headers: { ...mcpHeaders, ...bearer(keys.operator) }, body: initialize });
    expect(fine.status).toBe(200);
    await fine.body?.cancel();
  });

  it("a web page of another origin is refused before the key is looked at (403)", async () => {
    const res = await fetch(`${api.url}/mcp`, {
      method: "POST",
      headers: { ...mcpHeaders, ...bearer(keys.operator), origin: "http://evil.example" },
      body: initialize,
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("origin_not_allowed");
  });
});

describe("a client that goes away", () => {
  it("closing the client during wait_run releases the wait; a new client's wait_run finds the run finished anyway", async () => {
    const first = await connect(keys.operator);
    const started = ok<Started>(await call(first, "start_run", { agent: "mcp-slow", message: "take your time" }));
    const feedsBefore = api.hub.openFeeds;
    const waiting = call(first, "wait_run", { run_id: started.run_id, timeout_s: 120 });
    const settled = waiting.then(
      () => "answered",
      () => "failed",
    );
    // the server is following the run for this wait
    await waitUntil("wait_run to follow the run", () => api.hub.openFeeds > feedsBefore);
    await first.close();
    expect(await settled).toBe("failed");
    // the server let go of it: no feed left behind by the dead request
    await waitUntil("the abandoned wait to be released", () => api.hub.openFeeds === feedsBefore, 10_000);
    expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [started.run_id])).rows[0]!.status).not.toBe("succeeded");

    await waitForStatus(db.pool, started.run_id, ["succeeded"]);
    const second = await connect(keys.operator);
    expect(ok(await call(second, "wait_run", { run_id: started.run_id, timeout_s: 60 }))).toMatchObject({
      status: "succeeded",
      output: { text: "slow and steady" },
    });
  });

  it("the API itself is killed (-9) during wait_run: a new client of the restarted API picks the run up", async () => {
    const port = await freePort();
    let child = await spawnApi(db.url, port);
    try {
      const url = new URL(`http://127.0.0.1:${port}/mcp`);
      const first = new Client({ name: "before-restart", version: "1" });
      await first.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: bearer(keys.operator) } }));
      clients.push(first);
      const started = ok<Started>(await call(first, "start_run", { agent: "mcp-slow", message: "outlive the API" }));
      const waiting = call(first, "wait_run", { run_id: started.run_id, timeout_s: 120 }).then(
        () => "answered",
        () => "failed",
      );
      await waitForStatus(db.pool, started.run_id, ["running"]);
      await sleep(300); // the wait_run request is in the API (the run still has seconds to go)
      await kill9(child);
      // the assistant restarts too (its SDK client may keep retrying a broken stream until closed)
      await first.close();
      expect(await waiting).toBe("failed");
      expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [started.run_id])).rows[0]!.status).toBe("running");
      child = await spawnApi(db.url, port);
      const second = new Client({ name: "after-restart", version: "1" });
      await second.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: bearer(keys.operator) } }));
      clients.push(second);
      expect(ok(await call(second, "wait_run", { run_id: started.run_id, timeout_s: 60 }))).toMatchObject({
        status: "succeeded",
        output: { text: "slow and steady" },
      });
    } finally {
      await kill9(child);
    }
  });
});
