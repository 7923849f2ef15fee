// MCP tool calls across kill -9: real worker processes call a real MCP server (in this test's
// process, so it outlives them) and are killed while the server is working on the call. A tool
// the server marks read-only is called again by the next worker and the run succeeds; a tool
// with side effects is not called again until a person answers the unknown-outcome interrupt;
// answering it continues the run, and the call it authorizes carries the same idempotency key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getSteps, startRun, toolOutput, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startMcpTestServer } from "./fixtures/mcp-test-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
let server: Awaited<ReturnType<typeof startMcpTestServer>>;
const workers = new Set<WorkerProcess>();

async function start(): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

async function killAll(): Promise<void> {
  const all = [...workers];
  for (const w of all) w.child.kill("SIGKILL");
  await Promise.all(all.map((w) => w.exited));
}

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startMcpTestServer();
});

afterAll(async () => {
  await killAll();
  await server?.close();
  await db?.drop();
});

const keyOf = (c: { meta: unknown }) => (c.meta as Record<string, string> | undefined)?.["io.everruns/idempotency-key"];

/** Starts a run whose one tool call takes `ms` on the server, and kills its worker once the call has arrived there. */
async function runKilledMidCall(tool: "slow_write" | "slow_read", args: Record<string, unknown>): Promise<{ runId: string; agent: string }> {
  const agent = await createAgent(db.pool, {
    provider: "scripted",
    tools: [{ type: "mcp", name: "fx", url: server.url }],
    script: [{ text: "", tool_calls: [{ name: `fx__${tool}`, arguments: args }] }, { text: "finished" }],
  });
  await start();
  const runId = await startRun(db.pool, agent, `${tool} across a crash`);
  await waitFor(
    `the ${tool} call to reach the server`,
    () => (server.calls.some((c) => c.tool === tool && keyOf(c)?.startsWith(runId)) ? true : undefined),
    30_000,
  );
  await killAll();
  return { runId, agent };
}

describe("kill -9 mid MCP call", () => {
  it("a read-only tool is called again by the next worker and the run succeeds, the tool's result committed once", async () => {
    const { runId } = await runKilledMidCall("slow_read", { ms: 2000 });
    await start();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(run.status).toBe("succeeded");
    const calls = server.calls.filter((c) => c.tool === "slow_read" && keyOf(c)?.startsWith(runId));
    expect(calls).toHaveLength(2);
    expect(keyOf(calls[0]!)).toBe(keyOf(calls[1]!));
    const tools = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool");
    expect(tools).toHaveLength(1);
    expect(toolOutput(tools[0]).is_error).toBe(false);
    const { rows } = await db.pool.query<{ dispatches: number }>("select dispatches from everruns.tool_dispatches where run_id = $1", [runId]);
    expect(rows).toEqual([{ dispatches: 2 }]);
    await killAll();
  });

  it("a tool with side effects raises the unknown-outcome interrupt; answering retry calls it once more and the run succeeds", async () => {
    const { runId } = await runKilledMidCall("slow_write", { key: "crash", ms: 2000 });
    await start();
    const asked = await waitForStatus(db.pool, runId, ["succeeded", "failed", "interrupted"]);
    expect(asked.status).toBe("interrupted");
    const interrupt = (
      asked as unknown as { interrupts: { interrupts: Array<{ id: string; reason: string; toolCallId: string; metadata: { dispatches: number } }> } }
    ).interrupts.interrupts[0]!;
    expect(interrupt).toMatchObject({ reason: "tool_outcome_unknown", metadata: { dispatches: 1 } });
    const key = `${runId}:${interrupt.toolCallId}`;
    expect(server.calls.filter((c) => c.tool === "slow_write" && keyOf(c) === key)).toHaveLength(1);

    const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
      runId,
      JSON.stringify([{ interruptId: interrupt.id, status: "resolved", payload: { action: "retry" } }]),
    ]);
    const next = await waitForStatus(db.pool, rows[0]!.id, ["succeeded", "failed", "interrupted"]);
    expect(next.status).toBe("succeeded");
    expect(server.calls.filter((c) => c.tool === "slow_write" && keyOf(c) === key)).toHaveLength(2);
    const tools = (await getSteps(db.pool, rows[0]!.id)).filter((s) => s.kind === "tool");
    expect(tools.map((s) => toolOutput(s).content)).toEqual(["wrote crash"]);
    expect((await getSteps(db.pool, runId)).filter((s) => s.kind === "tool")).toHaveLength(0);
    await killAll();
  });
});
