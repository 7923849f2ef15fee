// Run budgets over the API (docs/budgets.md): the real AG-UI HttpAgent meets a budget interrupt
// (reason "budget") and answers it with a raise in runAgent({resume}), the work going on where it
// stopped; REST resume refuses a raise that is not above the spend (400 invalid_resume, naming the
// limit) and takes a stop; GraphQL's Run.budgetSpend gives the spend of the run and the runs it
// continues, as the API's role reads it.
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { postJson, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
let agentId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  // every LLM call passes max_tokens 1: the run stops before the tool call its first turn asks for
  agentId = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "Searching.", tool_calls: [{ name: "echo", arguments: { q: 1 } }] }, { text: "Found it." }],
      budget: { max_tokens: 1 },
    },
    "researcher",
  );
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

interface Interrupt {
  id: string;
  reason: string;
  message: string;
  metadata: { spent: Record<string, number>; reached: string[] };
}

async function budgetInterrupt(runId: string): Promise<Interrupt> {
  const { rows } = await db.pool.query<{ interrupts: { interrupts: Interrupt[] } }>("select interrupts from everruns.runs where id = $1", [runId]);
  return rows[0]!.interrupts.interrupts[0]!;
}

describe("run budgets over the API", () => {
  it("HttpAgent: the budget interrupt ends the run; a raise in runAgent({resume}) goes on where it stopped", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/researcher/agui`, headers: api.headers, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Find it" });
    const firstRunId = randomUUID();
    await agent.runAgent({ runId: firstRunId });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    const pending = (agent as unknown as { pendingInterrupts: Array<{ id: string; reason: string; message?: string }> }).pendingInterrupts;
    expect(pending).toEqual([expect.objectContaining({ id: `budget-${firstRunId}`, reason: "budget" })]);
    expect(pending[0]!.message).toContain("The run reached its budget: max_tokens 1");
    const spent = (await budgetInterrupt(firstRunId)).metadata.spent.max_tokens!;

    const secondRunId = randomUUID();
    await agent.runAgent({
      runId: secondRunId,
      resume: [{ interruptId: pending[0]!.id, status: "resolved", payload: { action: "raise", budget: { max_tokens: spent + 10_000 } } }],
    });
    const second = await waitForStatus(db.pool, secondRunId, ["succeeded", "failed", "interrupted"]);
    expect(second.status, JSON.stringify(second.error)).toBe("succeeded");
    expect(second.output).toEqual({ text: "Found it." });
    // the call held back is made in the continuation, then the last turn
    const { rows } = await db.pool.query<{ kind: string }>("select kind from everruns.run_steps where run_id = $1 order by seq", [secondRunId]);
    expect(rows.map((r) => r.kind)).toEqual(["tool", "llm"]);
    expect(agent.messages.at(-1)).toMatchObject({ role: "assistant", content: "Found it." });
    await assertValidAgUiLog(await getEvents(db.pool, firstRunId));
    await assertValidAgUiLog(await getEvents(db.pool, secondRunId));

    // GraphQL: the continuation's spend is both runs'
    const res = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify({ query: "query ($id: UUID!) { runById(id: $id) { budgetSpend } }", variables: { id: secondRunId } }),
    }).then((r) => r.json() as Promise<{ data?: { runById: { budgetSpend: Record<string, unknown> } }; errors?: unknown[] }>);
    expect(res.errors).toBeUndefined();
    const spend = res.data!.runById.budgetSpend;
    const [first, next] = [await getRun(db.pool, firstRunId), await getRun(db.pool, secondRunId)];
    const tokens = (r: typeof first) => Number(r.usage.input_tokens) + Number(r.usage.output_tokens);
    expect(spend).toMatchObject({ chain: [firstRunId, secondRunId], tokens: tokens(first) + tokens(next), tool_calls: 1 });
    expect(spend.answers).toEqual([
      expect.objectContaining({ interruptId: `budget-${firstRunId}`, payload: { action: "raise", budget: { max_tokens: spent + 10_000 } } }),
    ]);
  });

  it("REST resume: a raise not above the spend is a 400 naming the limit; a stop ends the work succeeded", async () => {
    const runId = await startRun(db.pool, agentId, "find it");
    await waitForStatus(db.pool, runId, ["interrupted"]);
    const interrupt = await budgetInterrupt(runId);
    const spent = interrupt.metadata.spent.max_tokens!;

    const low = await postJson<ApiErrorBody>(
      `${api.url}/api/runs/${runId}/resume`,
      { resume: [{ interruptId: interrupt.id, status: "resolved", payload: { action: "raise", budget: { max_tokens: spent } } }] },
      api.headers,
    );
    expect(low.status).toBe(400);
    expect(low.body.error).toEqual({
      code: "invalid_resume",
      message: expect.stringContaining(`budget.max_tokens must be a number above the ${spent} already spent`) as unknown,
    });

    const stop = await postJson<StartedRunBody>(
      `${api.url}/api/runs/${runId}/resume`,
      { resume: [{ interruptId: interrupt.id, status: "resolved", payload: { action: "stop" } }] },
      api.headers,
    );
    expect(stop.status).toBe(201);
    const done = await waitForStatus(db.pool, stop.body.id, ["succeeded", "failed", "interrupted"]);
    expect(done.status).toBe("succeeded");
    expect(done.output).toEqual({ text: "Searching." });
    await assertValidAgUiLog(await getEvents(db.pool, stop.body.id));
  });
});
