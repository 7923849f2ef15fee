// MCP servers as agent tools, end to end: a real worker, a real Postgres and a real MCP server
// (the SDK's, worker/test/fixtures/mcp-test-server.ts) over Streamable HTTP. Names and schemas the
// model sees, results and errors, progress, approvals, pinned tool lists and their cache, the
// idempotency key, cancellation, and what happens to a call whose outcome is unknown (here a
// timeout; mcp-crash.test.ts does it with kill -9).
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getRun,
  getSteps,
  llmInput,
  startRun,
  toolOutput,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { AgentConfigSchema, describeIssues } from "../../db/schemas.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { startMcpTestServer } from "./fixtures/mcp-test-server.ts";

let db: TestDatabase;
let worker: WorkerHandle | null = null;
let server: Awaited<ReturnType<typeof startMcpTestServer>>;
const log = consoleLogger("[test-worker]", "warn");
const fast = { initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startMcpTestServer();
  // stdio MCP servers for every workspace of this (in-process) worker: read when the first MCP tool is used
  process.env.EVERRUNS_MCP_STDIO = "1";
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
});

afterAll(async () => {
  delete process.env.EVERRUNS_MCP_STDIO;
  await worker?.stop();
  await server?.close();
  await db?.drop();
});

function mcp(extra: Record<string, unknown> = {}) {
  return { type: "mcp", name: "fx", url: server.url, ...extra };
}

async function resume(runId: string, answers: unknown): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [runId, JSON.stringify(answers)]);
  return rows[0]!.id;
}

const callsOf = (tool: string, key?: string) =>
  server.calls.filter(
    (c) => c.tool === tool && (key === undefined || (c.meta as Record<string, unknown> | undefined)?.["io.everruns/idempotency-key"] === key),
  );

describe("MCP tools", () => {
  it("are named <server>__<tool> with the server's schemas, filtered by allow; results, error results and the idempotency key", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo", mcp({ allow: ["echo", "fail", "struct*"] })],
      script: [
        {
          text: "calling",
          tool_calls: [
            { name: "fx__echo", arguments: { text: "hello" } },
            { name: "fx__fail", arguments: { message: "no such file" } },
            { name: "fx__echo", arguments: { text: 42 } },
            { name: "fx__structured", arguments: {} },
          ],
        },
        { text: "done" },
      ],
    });
    const runId = await startRun(db.pool, agent, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    const steps = await getSteps(db.pool, runId);
    expect(llmInput(steps[0]).tools.sort()).toEqual(["echo", "fx__echo", "fx__fail", "fx__structured"]);
    const [echo, fail, invalid, structured] = steps.slice(1, 5).map(toolOutput);
    expect(echo).toMatchObject({ is_error: false });
    expect(echo!.content).toContain("hello");
    expect(fail).toMatchObject({ is_error: true });
    expect(fail!.content).toContain("no such file");
    // arguments are checked against the server's schema before anything is sent
    expect(invalid).toMatchObject({ is_error: true });
    expect(invalid!.content).toMatch(/invalid arguments for fx__echo: \/text must be string. Nothing was executed/);
    expect(structured!.is_error).toBe(false);
    expect(JSON.parse(structured!.content)).toBeTruthy();
    // the server saw our idempotency key: <run id>:<tool call id>
    const callId = (steps[1]!.input as { tool_call_id: string }).tool_call_id;
    expect(callsOf("echo", `${runId}:${callId}`)).toHaveLength(1);
    expect(callsOf("echo").filter((c) => (c.args as { text?: unknown }).text === 42)).toHaveLength(0);
    // every call was recorded as dispatched once
    const { rows } = await db.pool.query<{ n: number; total: number }>(
      "select count(*)::int as n, sum(dispatches)::int as total from everruns.tool_dispatches where run_id = $1",
      [runId],
    );
    expect(rows[0]).toEqual({ n: 3, total: 3 });
  });

  it("streams progress as CUSTOM everruns.tool_progress events, and asks for approval where the config says", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp({ requires_approval: ["slow_write"], tool_list_ttl_s: 0 })],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_write", arguments: { key: "progress", ms: 800 } }] }, { text: "written" }],
    });
    const runId = await startRun(db.pool, agent, "write");
    const asked = await waitForStatus(db.pool, runId, ["interrupted", "failed"]);
    expect(asked.status).toBe("interrupted");
    expect(callsOf("slow_write")).toHaveLength(0);
    const interrupts = (asked as unknown as { interrupts: { interrupts: Array<{ id: string; reason: string }> } }).interrupts.interrupts;
    expect(interrupts[0]!.reason).toBe("tool_approval");
    const next = await resume(runId, [{ interruptId: interrupts[0]!.id, status: "resolved", payload: { approved: true } }]);
    const done = await waitForStatus(db.pool, next, ["succeeded", "failed"]);
    expect(done.error).toBeNull();
    const progress = (await getEvents(db.pool, next)).filter((e) => e.type === "CUSTOM" && (e.event as { name?: string }).name === "everruns.tool_progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect((progress[0]!.event as { value: Record<string, unknown> }).value).toMatchObject({ tool: "fx__slow_write" });
    // the call made in the answering run still carries the key of the run whose turn made it
    // the answering run called with the tool list its call was made with (pinned from the run it continues, not listed again)
    const pins = await db.pool.query<{ list_id: string }>("select list_id::text from everruns.run_mcp_tools where run_id = any($1)", [[runId, next]]);
    expect(pins.rows).toHaveLength(2);
    expect(pins.rows[0]!.list_id).toBe(pins.rows[1]!.list_id);
    const turn = (await getSteps(db.pool, runId)).find((s) => s.kind === "llm")!.output as { tool_calls: Array<{ id: string }> };
    expect(callsOf("slow_write", `${runId}:${turn.tool_calls[0]!.id}`)).toHaveLength(1);
  });

  it("pins the tool list to the run; new runs reuse it within tool_list_ttl_s and list again after", async () => {
    const cached = await createAgent(db.pool, { provider: "scripted", tools: [mcp({ allow: ["late_*", "echo"] })], script: [{ text: "hi" }] });
    const uncached = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp({ allow: ["late_*", "echo"], tool_list_ttl_s: 0 })],
      script: [{ text: "hi" }],
    });
    const first = await startRun(db.pool, cached, "one");
    await waitForStatus(db.pool, first, ["succeeded"]);
    server.addTool("late_tool");
    const second = await startRun(db.pool, cached, "two");
    const third = await startRun(db.pool, uncached, "three");
    await waitForStatus(db.pool, second, ["succeeded"]);
    await waitForStatus(db.pool, third, ["succeeded"]);
    const tools = async (runId: string) => llmInput((await getSteps(db.pool, runId))[0]).tools.sort();
    expect(await tools(first)).toEqual(["fx__echo"]);
    expect(await tools(second)).toEqual(["fx__echo"]); // the cached list: the server's change is not seen yet
    expect(await tools(third)).toEqual(["fx__echo", "fx__late_tool"]);
    const { rows } = await db.pool.query<{ run_id: string; list_id: string }>(
      "select run_id, list_id::text from everruns.run_mcp_tools where run_id = any($1) order by run_id",
      [[first, second]],
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]!.list_id).toBe(rows[1]!.list_id);
  });

  it("a call whose outcome is unknown (it timed out) asks a person by default; retry, skip and an entered result continue the run", async () => {
    const script = [{ text: "", tool_calls: [{ name: "fx__slow_write", arguments: { key: "unknown", ms: 1500, quiet: true } }] }, { text: "after" }];
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp({ timeout_ms: 200 })],
      retry: { max_attempts: 3, ...fast },
      script,
    });
    for (const answer of ["retry", "skip", "result"] as const) {
      const runId = await startRun(db.pool, agent, answer);
      const asked = await waitForStatus(db.pool, runId, ["interrupted", "failed", "succeeded"]);
      expect(asked.status).toBe("interrupted");
      const interrupt = (asked as unknown as { interrupts: { interrupts: Array<{ id: string; reason: string; toolCallId: string }> } }).interrupts
        .interrupts[0]!;
      expect(interrupt.reason).toBe("tool_outcome_unknown");
      expect(interrupt.id).toBe(`outcome-${interrupt.toolCallId}`);
      const key = `${runId}:${interrupt.toolCallId}`;
      expect(callsOf("slow_write", key)).toHaveLength(1); // called once, then not again without an answer
      const payload = answer === "result" ? { action: "result", result: "it was written" } : { action: answer };
      const next = await resume(runId, [{ interruptId: interrupt.id, status: "resolved", payload }]);
      const done = await waitForStatus(db.pool, next, ["succeeded", "failed", "interrupted"]);
      if (answer === "retry") {
        // called again once (it times out again: a second unknown outcome asks again)
        expect(callsOf("slow_write", key)).toHaveLength(2);
        expect(done.status).toBe("interrupted");
        continue;
      }
      expect(done.status).toBe("succeeded");
      expect(callsOf("slow_write", key)).toHaveLength(1);
      const out = toolOutput((await getSteps(db.pool, next)).find((s) => s.kind === "tool"));
      if (answer === "skip") expect(out).toMatchObject({ is_error: true });
      else expect(out).toMatchObject({ is_error: false, content: "it was written" });
    }
  });

  it("on_unknown_outcome retry calls again, fail ends the run, and a read-only tool is called again whatever the policy", async () => {
    const make = (policy: string, tool: string) =>
      createAgent(db.pool, {
        provider: "scripted",
        tools: [mcp({ timeout_ms: 200, on_unknown_outcome: policy })],
        retry: { max_attempts: 3, ...fast },
        script: [
          { text: "", tool_calls: [{ name: `fx__${tool}`, arguments: tool === "slow_write" ? { key: `p-${policy}`, ms: 1000, quiet: true } : { ms: 1000 } }] },
          { text: "after" },
        ],
      });
    const retry = await startRun(db.pool, await make("retry", "slow_write"), "retry");
    const fail = await startRun(db.pool, await make("fail", "slow_write"), "fail");
    const read = await startRun(db.pool, await make("fail", "slow_read"), "read");
    const [r, f, rd] = await Promise.all([retry, fail, read].map((id) => waitForStatus(db.pool, id, ["succeeded", "failed", "interrupted"])));
    // retry: every attempt calls; after the last the model is told it timed out
    expect(r!.status).toBe("succeeded");
    expect(callsOf("slow_write").filter((c) => (c.args as { key: string }).key === "p-retry")).toHaveLength(3);
    expect(f!.status).toBe("failed");
    expect(f!.error).toMatchObject({ code: "tool_outcome_unknown" });
    expect(callsOf("slow_write").filter((c) => (c.args as { key: string }).key === "p-fail")).toHaveLength(1);
    expect(rd!.status).toBe("succeeded");
    expect(callsOf("slow_read").filter((c) => (c.meta as Record<string, string>)["io.everruns/idempotency-key"]?.startsWith(read))).toHaveLength(3);
  });

  it("cancelling the run cancels the call on the server (notifications/cancelled)", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_write", arguments: { key: "cancel-me", ms: 20_000 } }] }, { text: "never" }],
    });
    const runId = await startRun(db.pool, agent, "cancel");
    await waitFor("the call to reach the server", () =>
      callsOf("slow_write").some((c) => (c.args as { key: string }).key === "cancel-me") ? true : undefined,
    );
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    await waitForStatus(db.pool, runId, ["cancelled"]);
    await waitFor("the server to hear the cancellation", () =>
      callsOf("slow_write").find((c) => (c.args as { key: string }).key === "cancel-me")?.cancelled ? true : undefined,
    );
  });

  it("a server that cannot be reached is retried with the agent's policy, then fails the run with mcp_unavailable and shows as an error", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "mcp", name: "gone", url: "http://127.0.0.1:1/mcp" }],
      retry: { max_attempts: 2, ...fast },
      script: [{ text: "never" }],
    });
    const runId = await startRun(db.pool, agent, "unreachable");
    const run = await waitForStatus(db.pool, runId, ["failed", "succeeded"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "mcp_unavailable" });
    expect(String((run.error as { message: string }).message)).toMatch(/MCP server gone could not list its tools/);
    const { rows } = await db.pool.query<{ status: string; last_error: string }>("select status, last_error from everruns.mcp_servers where agent_id = $1", [
      agent,
    ]);
    expect(rows).toEqual([expect.objectContaining({ status: "error" })]);
    expect((await getRun(db.pool, runId)).status).toBe("failed");
  });
});

describe("@modelcontextprotocol/server-everything over stdio", () => {
  const everything = createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/dist/index.js");
  const ev = { type: "mcp", name: "ev", transport: "stdio", command: [process.execPath, everything, "stdio"] };

  it("tools, structured content, progress and errors in a run; the child sees none of the worker's environment", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [ev],
      script: [
        { text: "", tool_calls: [{ name: "ev__get-sum", arguments: { a: 2, b: 3 } }] },
        { text: "", tool_calls: [{ name: "ev__get-structured-content", arguments: { location: "Chicago" } }] },
        { text: "", tool_calls: [{ name: "ev__trigger-long-running-operation", arguments: { duration: 1, steps: 4 } }] },
        { text: "", tool_calls: [{ name: "ev__get-sum", arguments: { a: "two", b: 3 } }] },
        { text: "", tool_calls: [{ name: "ev__get-env", arguments: {} }] },
        { text: "done" },
      ],
    });
    const runId = await startRun(db.pool, agent, "everything");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    const outputs = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool").map(toolOutput);
    expect(outputs).toHaveLength(5);
    expect(outputs[0]).toMatchObject({ is_error: false });
    expect(outputs[0]!.content).toContain("5");
    expect(outputs[1]!.content).toMatch(/Chicago|temperature/);
    expect(outputs[2]!.content).toMatch(/Long running operation completed/);
    expect(outputs[3]).toMatchObject({ is_error: true });
    expect(outputs[3]!.content).toMatch(/invalid arguments for ev__get-sum/);
    expect(outputs[4]!.content).not.toMatch(/DATABASE_URL|EVERRUNS_|TEST_DATABASE_URL/);
    expect(outputs[4]!.content).toMatch(/PATH/);
    const progress = (await getEvents(db.pool, runId)).filter((e) => e.type === "CUSTOM" && (e.event as { name?: string }).name === "everruns.tool_progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });

  it("cancelling the run ends a long operation's call at once", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [ev],
      script: [{ text: "", tool_calls: [{ name: "ev__trigger-long-running-operation", arguments: { duration: 60, steps: 60 } }] }, { text: "never" }],
    });
    const runId = await startRun(db.pool, agent, "long");
    await waitFor("the operation to report progress", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "CUSTOM" && (e.event as { name?: string }).name === "everruns.tool_progress") ? true : undefined,
    );
    const before = performance.now();
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    await waitFor("the step to let go", async () => {
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where key = $1 and locked_at is not null", [
        `run:${runId}`,
      ]);
      return rows[0]!.n === 0 ? true : undefined;
    });
    expect(performance.now() - before).toBeLessThan(10_000);
    expect((await getRun(db.pool, runId)).status).toBe("cancelled");
  });
});

describe("MCP server config", () => {
  const parse = (tool: unknown) => {
    const parsed = AgentConfigSchema.safeParse({ provider: "scripted", tools: [tool] });
    return parsed.success ? "ok" : describeIssues(parsed.error);
  };
  it("names what is wrong", () => {
    expect(parse({ type: "mcp", name: "gh", url: "https://example.com/mcp" })).toBe("ok");
    expect(parse({ type: "mcp", name: "gh" })).toMatch(/url.*required for an MCP server over http/);
    expect(parse({ type: "mcp", name: "a__b", url: "https://example.com/mcp" })).toMatch(/must not contain "__"/);
    expect(parse({ type: "mcp", name: "fs", transport: "stdio" })).toMatch(/command.*required/);
    expect(parse({ type: "mcp", name: "fs", transport: "stdio", command: ["x"], headers: { a: "b" } })).toMatch(/headers.*only for "transport": "http"/);
    expect(parse({ type: "mcp", name: "gh", url: "https://example.com/mcp", headers: { Authorization: "Bearer x" } })).toMatch(/sensitive header/);
    expect(parse({ type: "mcp", name: "gh", url: "https://example.com/mcp", on_unknown_outcome: "maybe" })).toMatch(/on_unknown_outcome/);
  });
});
