// Human in the loop over the API: the real HttpAgent meets an approval interrupt and answers it
// with `resume`, runs a client tool and answers it with a tool message, and REST / GraphQL
// resume an interrupted run.
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { postJson, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "I will transfer.", tool_calls: [{ name: "echo", arguments: { transfer: 100 } }] }, { text: "Transfer handled." }],
    },
    "banker",
  );
  await createAgent(
    db.pool,
    {
      provider: "scripted",
      script: [{ text: "Pick one.", tool_calls: [{ name: "pick_color", arguments: { options: ["red", "blue"] } }] }, { text: "Nice choice." }],
    },
    "painter",
  );
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

describe("HttpAgent: interrupts and resume", () => {
  it("an approval interrupt ends the run; runAgent({resume}) continues it on the same thread", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/banker/agui`, headers: api.headers, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Send 100" });
    const firstRunId = randomUUID();
    await agent.runAgent({ runId: firstRunId });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    const pending = (agent as unknown as { pendingInterrupts: Array<{ id: string; toolCallId?: string; reason: string }> }).pendingInterrupts;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ reason: "tool_approval", id: expect.stringMatching(/^approval-/) as unknown });

    const secondRunId = randomUUID();
    await agent.runAgent({ runId: secondRunId, resume: [{ interruptId: pending[0]!.id, status: "resolved", payload: { approved: true } }] });
    const second = await waitForStatus(db.pool, secondRunId, ["succeeded", "failed"]);
    expect(second.output).toEqual({ text: "Transfer handled." });
    const { rows } = await db.pool.query("select parent_run_id, thread_id from everruns.runs where id = $1", [secondRunId]);
    expect(rows[0]).toEqual({ parent_run_id: firstRunId, thread_id: agent.threadId });
    const contents = agent.messages.map((m) => `${m.role}:${typeof m.content === "string" ? m.content : ""}`);
    expect(contents).toContain('tool:{"transfer":100}');
    expect(contents.at(-1)).toBe("assistant:Transfer handled.");
    await assertValidAgUiLog(await getEvents(db.pool, firstRunId));
    await assertValidAgUiLog(await getEvents(db.pool, secondRunId));
  });

  it("a client tool: the run reports the pending tool call; the client's tool message continues it", async () => {
    const agent = new HttpAgent({ url: `${api.url}/api/agents/painter/agui`, headers: api.headers, threadId: randomUUID() });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Paint my room" });
    const tools = [
      { name: "pick_color", description: "Ask the user to pick a color", parameters: { type: "object", properties: { options: { type: "array" } } } },
    ];
    const firstRunId = randomUUID();
    const first = await agent.runAgent({ runId: firstRunId, tools });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    const call = agent.messages
      .flatMap((m) => (m as { toolCalls?: Array<{ id: string; function: { name: string } }> }).toolCalls ?? [])
      .find((c) => c.function.name === "pick_color");
    expect(call).toBeDefined();
    expect(first.newMessages.some((m) => m.role === "assistant")).toBe(true);

    agent.addMessage({ id: randomUUID(), role: "tool", toolCallId: call!.id, content: "blue" });
    const secondRunId = randomUUID();
    await agent.runAgent({ runId: secondRunId, tools });
    const second = await waitForStatus(db.pool, secondRunId, ["succeeded", "failed"]);
    expect(second.output).toEqual({ text: "Nice choice." });
    const steps = await db.pool.query<{ kind: string; output: Record<string, unknown> }>(
      "select kind, output from everruns.run_steps where run_id = $1 order by seq",
      [secondRunId],
    );
    expect(steps.rows.map((r) => r.kind)).toEqual(["tool", "llm"]);
    expect(steps.rows[0]!.output.content).toBe("blue");
  });
});

describe("REST and GraphQL resume", () => {
  async function interruptedRun(): Promise<{ runId: string; interruptId: string }> {
    const { rows } = await db.pool.query<{ id: string }>("select id from everruns.agents where name = 'banker'");
    const runId = await startRun(db.pool, rows[0]!.id, "send money");
    const run = await waitForStatus(db.pool, runId, ["interrupted"]);
    const interrupts = (run as unknown as { interrupts: { interrupts: Array<{ id: string }> } }).interrupts.interrupts;
    return { runId, interruptId: interrupts[0]!.id };
  }

  it("POST /api/runs/:id/resume answers the interrupt and returns the continuation, idempotently", async () => {
    const { runId, interruptId } = await interruptedRun();
    const resume = [{ interruptId, status: "resolved", payload: { approved: false } }];
    const res = await postJson<StartedRunBody>(`${api.url}/api/runs/${runId}/resume`, { resume }, api.headers);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      status: expect.any(String) as unknown,
      thread_id: expect.any(String) as unknown,
    });
    expect(res.body.id).not.toBe(runId);
    const again = await postJson<StartedRunBody>(`${api.url}/api/runs/${runId}/resume`, { resume }, api.headers);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(res.body.id);
    const { rows } = await db.pool.query<{ id: string; parent_run_id: string }>("select id, parent_run_id from everruns.runs where parent_run_id = $1", [
      runId,
    ]);
    expect(rows).toEqual([{ id: res.body.id, parent_run_id: runId }]); // one continuation, however often asked
    const next = await waitForStatus(db.pool, res.body.id, ["succeeded", "failed"]);
    expect(next.status).toBe("succeeded");
    const incomplete = await postJson<ApiErrorBody>(
      `${api.url}/api/runs/${(await interruptedRun()).runId}/resume`,
      {
        resume: [{ interruptId: "nope", status: "resolved" }],
      },
      api.headers,
    );
    expect(incomplete.status).toBe(400);
    expect(incomplete.body.error).toEqual({ code: "invalid_resume", message: expect.stringMatching(/does not answer: approval-/) as unknown });
  });

  it("the resumeRun mutation does the same", async () => {
    const { runId, interruptId } = await interruptedRun();
    const res = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...api.headers },
      body: JSON.stringify({
        query: "mutation ($runId: UUID!, $resume: JSON!) { resumeRun(runId: $runId, resume: $resume) { runId } }",
        variables: { runId, resume: [{ interruptId, status: "resolved", payload: { approved: true } }] },
      }),
    }).then((r) => r.json() as Promise<{ data?: { resumeRun: { runId: string } }; errors?: unknown[] }>);
    expect(res.errors).toBeUndefined();
    const next = await waitForStatus(db.pool, res.data!.resumeRun.runId, ["succeeded", "failed"]);
    expect(next.output).toEqual({ text: "Transfer handled." });
  });
});
