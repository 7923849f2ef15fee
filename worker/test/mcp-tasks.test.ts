// MCP tools called as tasks (the MCP tasks extension), end to end: a real worker, a real Postgres
// and a real MCP server (worker/test/fixtures/mcp-test-server.ts with `tasks: true`, and
// @modelcontextprotocol/server-everything over stdio). The tools/call starts the task and the run
// parks (waiting, no job locked) between polls of tasks/get; the task's result, failure, request
// for input and loss reach the model (or the unknown-outcome policy); a worker restart between
// polls still finishes the run.
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getSteps,
  startRun,
  toolOutput,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { consoleLogger } from "../../lib/logger.ts";
import type { EventWriter } from "../event-writer.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { runToolStep } from "../tool-step.ts";
import { MAX_WAITS_PER_CALL, park, type ToolContext } from "../tools/types.ts";
import { startMcpTestServer } from "./fixtures/mcp-test-server.ts";

let db: TestDatabase;
let worker: WorkerHandle | null = null;
let server: Awaited<ReturnType<typeof startMcpTestServer>>;
const log = consoleLogger("[test-worker]", "warn");

const start = () => startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startMcpTestServer({ tasks: true });
  process.env.EVERRUNS_MCP_STDIO = "1";
  worker = await start();
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

const callsOf = (tool: string, runId: string) =>
  server.calls.filter((c) => c.tool === tool && ((c.meta as Record<string, string> | undefined)?.["io.everruns/idempotency-key"] ?? "").startsWith(runId));

/** The MCP task a wait step waited on. */
const taskIdOf = (step: { output: unknown }) => (step.output as { mcp_task: { task_id: string } }).mcp_task.task_id;

/** Watches the run until it ends: whether it was ever seen waiting with no job locked (its job scheduled later). */
async function watchParked(runId: string): Promise<{ parkedUnlocked: number }> {
  let parkedUnlocked = 0;
  for (;;) {
    const { rows } = await db.pool.query<{ status: string; locked: boolean | null }>(
      `select r.status, (select j.locked_at is not null from graphile_worker.jobs j where j.key = 'run:' || r.id::text) as locked
         from everruns.runs r where r.id = $1`,
      [runId],
    );
    const row = rows[0]!;
    if (row.status === "waiting" && row.locked !== true) parkedUnlocked++;
    if (["succeeded", "failed", "interrupted", "cancelled"].includes(row.status)) return { parkedUnlocked };
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("MCP task tools", () => {
  it("a ~3 s task: one tools/call, the run parked between polls (no job locked), several wait steps, the task's result to the model", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_task", arguments: { label: "report", ms: 3000 } }] }, { text: "finished" }],
    });
    const polls = server.taskPolls();
    const runId = await startRun(db.pool, agent, "research");
    const watched = await watchParked(runId);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("succeeded");
    expect(watched.parkedUnlocked).toBeGreaterThan(0);
    expect(callsOf("slow_task", runId)).toHaveLength(1);
    const steps = await getSteps(db.pool, runId);
    const waits = steps.filter((s) => s.kind === "wait");
    expect(waits.length).toBeGreaterThanOrEqual(3);
    expect(waits[0]!.output).toMatchObject({ mcp_task: { server: "fx", status: "working" } });
    const taskId = taskIdOf(waits[0]!);
    expect(waits.every((w) => taskIdOf(w) === taskId)).toBe(true);
    const tools = steps.filter((s) => s.kind === "tool");
    expect(tools.map((s) => toolOutput(s))).toMatchObject([{ content: "done report", is_error: false }]);
    expect(server.taskPolls() - polls).toBe(waits.length);
    // the task-creating call was recorded as dispatched once; the polls were not
    const { rows } = await db.pool.query<{ dispatches: number }>("select dispatches from everruns.tool_dispatches where run_id = $1", [runId]);
    expect(rows).toEqual([{ dispatches: 1 }]);
    // statusMessage → CUSTOM everruns.tool_progress
    const progress = (await getEvents(db.pool, runId)).filter((e) => e.event.name === "everruns.tool_progress");
    expect(progress.some((e) => String((e.event.value as { message?: string }).message).includes("working on report"))).toBe(true);
  });

  it("a worker restart between polls still finishes the run", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_task", arguments: { label: "restart", ms: 2500 } }] }, { text: "finished" }],
    });
    const runId = await startRun(db.pool, agent, "research");
    await waitFor("the run to park on its task", async () => (await getSteps(db.pool, runId)).some((s) => s.kind === "wait"));
    await worker!.stop();
    worker = null;
    await new Promise((r) => setTimeout(r, 500));
    worker = await start();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("succeeded");
    expect(callsOf("slow_task", runId)).toHaveLength(1);
    expect((await getSteps(db.pool, runId)).filter((s) => s.kind === "tool").map((s) => toolOutput(s).content)).toEqual(["done restart"]);
  });

  it("polls that cannot reach the server wait and poll again; the task's result still reaches the model", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_task", arguments: { label: "outage", ms: 3000 } }] }, { text: "finished" }],
    });
    const runId = await startRun(db.pool, agent, "research");
    await waitFor("the run to park on its task", async () => (await getSteps(db.pool, runId)).some((s) => s.kind === "wait"));
    server.refusePosts(2); // the next two polls find the server down
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("succeeded");
    expect(callsOf("slow_task", runId)).toHaveLength(1);
    const steps = await getSteps(db.pool, runId);
    expect(steps.filter((s) => s.kind === "tool").map((s) => toolOutput(s).content)).toEqual(["done outage"]);
    const failed = steps.filter((s) => s.kind === "wait").map((s) => (s.output as { mcp_task?: { failed_polls?: number } }).mcp_task?.failed_polls ?? 0);
    expect(Math.max(...failed)).toBe(2);
  });

  it("a task that fails, or asks for input, is an error result the model sees; an optional task tool runs as a task unless tasks: false", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [
        {
          text: "",
          tool_calls: [
            { name: "fx__slow_task", arguments: { label: "doomed", ms: 300, outcome: "fail" } },
            { name: "fx__slow_task", arguments: { label: "vague", ms: 300, outcome: "input" } },
            { name: "fx__opt_task", arguments: { label: "quick" } },
          ],
        },
        { text: "finished" },
      ],
    });
    const runId = await startRun(db.pool, agent, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.error).toBeNull();
    const steps = await getSteps(db.pool, runId);
    const [failed, input, optional] = steps.filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(failed).toMatchObject({ is_error: true });
    expect(failed!.content).toMatch(/MCP task \w+ failed.*failed doomed/);
    expect(input).toMatchObject({ is_error: true });
    expect(input!.content).toMatch(/asked for input: which vague\?, which Everruns cannot give \(MCP elicitation is not supported\)/);
    expect(optional).toMatchObject({ is_error: false, content: "opt quick" });
    // the optional one completed at once: one wait step of its own, the one that committed its task's id
    const optionalCall = steps.find((s) => s.kind === "tool" && toolOutput(s).content === "opt quick")!.input as { tool_call_id: string };
    expect(steps.filter((s) => s.kind === "wait" && s.output.tool_call_id === optionalCall.tool_call_id)).toHaveLength(1);

    const direct = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp({ tasks: false, tool_list_ttl_s: 0 })],
      script: [{ text: "", tool_calls: [{ name: "fx__opt_task", arguments: { label: "plain" } }] }, { text: "finished" }],
    });
    const plainRun = await startRun(db.pool, direct, "go");
    expect((await waitForStatus(db.pool, plainRun, ["succeeded", "failed", "interrupted"])).status).toBe("succeeded");
    expect((await getSteps(db.pool, plainRun)).filter((s) => s.kind === "tool").map((s) => toolOutput(s).content)).toEqual(["opt plain"]);
  });

  it("a task the server forgot is an unknown outcome: interrupt names the task; answering retry starts a new task and the run finishes", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_task", arguments: { label: "lost", ms: 4000 } }] }, { text: "finished" }],
    });
    const runId = await startRun(db.pool, agent, "go");
    await waitFor("the run to park on its task", async () => (await getSteps(db.pool, runId)).some((s) => s.kind === "wait"));
    server.forgetTasks();
    const asked = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(asked.status).toBe("interrupted");
    const interrupt = (asked as unknown as { interrupts: { interrupts: Array<{ id: string; reason: string; message: string }> } }).interrupts.interrupts[0]!;
    expect(interrupt.reason).toBe("tool_outcome_unknown");
    const taskId = taskIdOf((await getSteps(db.pool, runId)).find((s) => s.kind === "wait")!);
    expect(interrupt.message).toContain(taskId);

    const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
      runId,
      JSON.stringify([{ interruptId: interrupt.id, status: "resolved", payload: { action: "retry" } }]),
    ]);
    const next = await waitForStatus(db.pool, rows[0]!.id, ["succeeded", "failed", "interrupted"]);
    expect(next.error).toBeNull();
    expect(next.status).toBe("succeeded");
    expect(callsOf("slow_task", runId)).toHaveLength(2);
    expect((await getSteps(db.pool, rows[0]!.id)).filter((s) => s.kind === "tool").map((s) => toolOutput(s).content)).toEqual(["done lost"]);
  }, 30_000);

  it("on_unknown_outcome fail: a forgotten task fails the run naming the task", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [mcp({ on_unknown_outcome: "fail" })],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_task", arguments: { label: "gone", ms: 4000 } }] }, { text: "finished" }],
    });
    const runId = await startRun(db.pool, agent, "go");
    await waitFor("the run to park on its task", async () => (await getSteps(db.pool, runId)).some((s) => s.kind === "wait"));
    server.forgetTasks();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "tool_outcome_unknown" });
    const taskId = taskIdOf((await getSteps(db.pool, runId)).find((s) => s.kind === "wait")!);
    expect((run.error as { message: string }).message).toContain(taskId);
  });

  it("server-everything's simulate-research-query over stdio runs as a task and its report reaches the model", async () => {
    const require = createRequire(import.meta.url);
    const entry = require.resolve("@modelcontextprotocol/server-everything/dist/index.js");
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "mcp", name: "everything", transport: "stdio", command: [process.execPath, entry, "stdio"], allow: ["simulate-research-query"] }],
      script: [
        { text: "", tool_calls: [{ name: "everything__simulate-research-query", arguments: { topic: "durable execution", ambiguous: false } }] },
        { text: "finished" },
      ],
    });
    const runId = await startRun(db.pool, agent, "research");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"], 60_000);
    expect(run.error).toBeNull();
    const steps = await getSteps(db.pool, runId);
    expect(steps.filter((s) => s.kind === "wait").length).toBeGreaterThanOrEqual(2);
    const [report] = steps.filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(report).toMatchObject({ is_error: false });
    expect(report!.content).toContain("# Research Report: durable execution");
  }, 60_000);

  it("a resumed call parks again only when it says so, at most MAX_WAITS_PER_CALL times, and gets its waiting record", async () => {
    const config = AgentConfigSchema.parse({ provider: "scripted" });
    const call = { id: "call_1", name: "poller", arguments: {} };
    const seen: ToolContext[] = [];
    const step = (again: boolean, waiting: Record<string, unknown> | null) => {
      const tool = {
        definition: { name: "poller", description: "", parameters: { type: "object" } },
        execute: (_args: Record<string, unknown>, ctx: ToolContext) => {
          seen.push(ctx);
          return Promise.resolve(park({ delayMs: 10, waiting: { type: "timer" }, again, state: { n: 1 } }));
        },
      };
      return runToolStep(
        {
          runId: "r",
          threadId: "t",
          seq: 2,
          attempt: 1,
          config,
          writer: { push() {} } as unknown as EventWriter,
          signal: new AbortController().signal,
          usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
        },
        { call, turnRunId: "r", waited: waiting !== null, waiting, signals: [] },
        new Map([["poller", { definition: tool.definition, requiresApproval: false, tool }]]),
      );
    };
    const first = await step(false, null);
    expect(first.next).toEqual({ type: "wait", delay_ms: 10, waiting: { type: "timer", tool_call_id: "call_1", waits: 1, state: { n: 1 } } });
    const waiting = { type: "timer", tool_call_id: "call_1", waits: 1, state: { n: 1 }, until: "x" };
    const refused = await step(false, waiting);
    expect(refused.step.output).toMatchObject({ is_error: true, content: "Error: poller asked to wait again after its wait ended" });
    const again = await step(true, waiting);
    expect(again.next).toMatchObject({ type: "wait", waiting: { waits: 2, state: { n: 1 } } });
    expect(seen.at(-1)).toMatchObject({ resumed: true, waiting });
    const last = await step(true, { ...waiting, waits: MAX_WAITS_PER_CALL });
    expect(last.step.output).toMatchObject({ is_error: true });
    expect((last.step.output as { content: string }).content).toMatch(/poller waited 10000 times/);
  });
});
