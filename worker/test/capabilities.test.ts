// Agent capabilities end to end against a real Postgres and real workers: real providers
// through their SDKs against a fake server, http tools, durable waits, external events,
// approvals, client tools, threads, versioning, cost.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getRun,
  getSteps,
  llmInput,
  llmOutput,
  startRun,
  toolOutput,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { fromDatabaseError } from "../../db/errors.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";
import { spawnWorker } from "./worker-process.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let worker: WorkerHandle | null;
let llm: FakeLlmServer;
const log = consoleLogger("[test-worker]", "warn");
const fast = { initial_delay_ms: 10, max_delay_ms: 100, multiplier: 2 };

async function startInProcessWorker() {
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
}

beforeAll(async () => {
  db = await createTestDatabase();
  llm = await FakeLlmServer.start();
  process.env.EVERRUNS_TEST_OPENAI_KEY = "test-key";
  process.env.EVERRUNS_TEST_ANTHROPIC_KEY = "test-key";
  await startInProcessWorker();
});

afterAll(async () => {
  await worker?.stop();
  await llm?.close();
  await db?.drop();
});

async function startRunWith(agentId: string, input: Record<string, unknown>, threadId?: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3) returning id", [
    agentId,
    JSON.stringify(input),
    threadId ?? null,
  ]);
  return rows[0]!.id;
}

async function resume(runId: string, answers: unknown): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [runId, JSON.stringify(answers)]);
  return rows[0]!.id;
}

async function sqlError(sql: string, params: unknown[]): Promise<Error> {
  try {
    await db.pool.query(sql, params);
  } catch (error) {
    return fromDatabaseError(error) as Error;
  }
  throw new Error("expected an error");
}

/** A local HTTP server for http tools: records requests, answers as told. */
class ToolServer {
  requests: Array<{ key: string | undefined; body: unknown; at: number }> = [];
  aborted = 0;
  handler: (req: IncomingMessage, body: unknown, n: number) => { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number } = () => ({
    status: 200,
    body: { ok: true },
  });
  private server!: Server;
  url = "";
  async start() {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (d: Buffer) => (raw += d.toString()));
      req.on("end", () => {
        const body = raw ? (JSON.parse(raw) as unknown) : null;
        this.requests.push({ key: req.headers["idempotency-key"] as string | undefined, body, at: performance.now() });
        const answer = this.handler(req, body, this.requests.length);
        res.on("close", () => {
          if (!res.writableFinished) this.aborted++;
        });
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
          res.end(JSON.stringify(answer.body ?? {}));
        }, answer.delayMs ?? 0);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  close() {
    this.server.closeAllConnections();
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe("real providers through their SDKs", () => {
  for (const [provider, api] of [
    ["openai", "responses"],
    ["openai", "chat_completions"],
    ["anthropic", undefined],
  ] as const) {
    it(`${provider}${api ? ` (${api})` : ""}: streams text and tool calls into AG-UI events, with usage and cost`, async () => {
      llm.reset();
      llm.reply(
        { text: "Let me echo that.", toolCalls: [{ name: "echo", arguments: { word: "hi" } }], usage: { input_tokens: 100, output_tokens: 20 } },
        { text: "The echo said hi.", usage: { input_tokens: 150, output_tokens: 10 } },
      );
      const agent = await createAgent(db.pool, {
        provider,
        model: provider === "openai" ? "gpt-4o-mini" : "claude-sonnet-4-5",
        ...(api && { api }),
        base_url: provider === "openai" ? llm.openaiBaseURL : llm.anthropicBaseURL,
        api_key_env: provider === "openai" ? "EVERRUNS_TEST_OPENAI_KEY" : "EVERRUNS_TEST_ANTHROPIC_KEY",
        system_prompt: "Be brief.",
        tools: ["echo"],
        retry: { max_attempts: 3, ...fast },
      });
      const runId = await startRun(db.pool, agent, "say hi");
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.error).toBeNull();
      expect(run.output).toEqual({ text: "The echo said hi." });
      expect(run.usage.input_tokens).toBe(250);
      expect(run.usage.output_tokens).toBe(30);
      expect(run.usage.cost_usd).toBeGreaterThan(0);
      const steps = await getSteps(db.pool, runId);
      expect(steps.map((s) => s.kind)).toEqual(["llm", "tool", "llm"]);
      expect(toolOutput(steps[1]).content).toBe('{"word":"hi"}');
      // the second call carried the tool call and its result
      expect(JSON.stringify(llm.requests[1]!.body)).toContain('{\\"word\\":\\"hi\\"}');
      const events = await getEvents(db.pool, runId);
      await assertValidAgUiLog(events);
      expect(
        events
          .filter((e) => e.type === "TEXT_MESSAGE_CONTENT")
          .map((e) => e.event.delta)
          .join(""),
      ).toBe("Let me echo that.The echo said hi.");
      expect(events.find((e) => e.type === "TOOL_CALL_START")!.event.toolCallName).toBe("echo");
      expect(events.at(-1)!.event.usage).toEqual([expect.objectContaining({ inputTokens: 250, outputTokens: 30 })]);
    });
  }

  it("recovers from a provider outage mid-stream, and honours Retry-After on 429", async () => {
    llm.reset();
    llm.reply(
      { text: "this stream will die halfway", dieAfterChunks: 3 },
      { error: { status: 429, retryAfter: "1", message: "slow down" } },
      { text: "Back online." },
    );
    const agent = await createAgent(db.pool, {
      provider: "openai",
      model: "gpt-4o-mini",
      base_url: llm.openaiBaseURL,
      api_key_env: "EVERRUNS_TEST_OPENAI_KEY",
      retry: { max_attempts: 5, ...fast },
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "Back online." });
    const events = await getEvents(db.pool, runId);
    const retries = events
      .filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.retry")
      .map((e) => e.event.value as { delay_ms: number; error: { status?: number } });
    expect(retries).toHaveLength(2);
    expect(retries[1]!.error.status).toBe(429);
    expect(retries[1]!.delay_ms).toBeGreaterThanOrEqual(1000); // Retry-After: 1, over a 10 ms policy
    // the third request came at least a second after the second
    await assertValidAgUiLog(events);
    // whatever the dead stream had written was closed; the final message is whole
    const last = events.filter((e) => e.type === "TEXT_MESSAGE_START").at(-1)!.event.messageId;
    expect(
      events
        .filter((e) => e.type === "TEXT_MESSAGE_CONTENT" && e.event.messageId === last)
        .map((e) => e.event.delta)
        .join(""),
    ).toBe("Back online.");
  });

  it("a missing API key fails the run with a message that says which variable to set", async () => {
    const agent = await createAgent(db.pool, { provider: "anthropic", model: "claude-x", api_key_env: "EVERRUNS_NO_SUCH_KEY", base_url: llm.anthropicBaseURL });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error!.message).toMatch(/EVERRUNS_NO_SUCH_KEY/);
  });
});

describe("http tools", () => {
  let server: ToolServer;
  beforeAll(async () => {
    server = await new ToolServer().start();
  });
  afterAll(async () => server?.close());

  it("POSTs the arguments with a stable Idempotency-Key, retries 5xx and honours Retry-After", async () => {
    server.requests = [];
    server.handler = (_req, body, n) =>
      n === 1
        ? { status: 503, body: { error: "down" } }
        : n === 2
          ? { status: 429, headers: { "retry-after": "1" } }
          : { status: 200, body: { received: body } };
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [
        {
          name: "notify",
          type: "http",
          url: `${server.url}/notify`,
          parameters: { type: "object", properties: { msg: { type: "string" } }, required: ["msg"] },
        },
      ],
      retry: { max_attempts: 5, ...fast },
      script: [{ tool_calls: [{ name: "notify", arguments: { msg: "hello" } }] }, { text: "notified" }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    expect(server.requests).toHaveLength(3);
    const steps = await getSteps(db.pool, runId);
    const callId = llmOutput(steps[0]).tool_calls[0]!.id;
    expect(new Set(server.requests.map((r) => r.key))).toEqual(new Set([`${runId}:${callId}`]));
    expect(server.requests[0]!.body).toEqual({ msg: "hello" });
    expect(server.requests[2]!.at - server.requests[1]!.at).toBeGreaterThanOrEqual(950);
    expect(steps[1]!.output).toMatchObject({ content: '{"received":{"msg":"hello"}}', is_error: false });
    expect(steps[1]!.attempt).toBe(3);
  });

  it("validates arguments against the tool's JSON schema, and gives 4xx errors to the model", async () => {
    server.requests = [];
    server.handler = () => ({ status: 404, body: { error: "no such thing" } });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [
        {
          name: "notify",
          type: "http",
          url: `${server.url}/notify`,
          parameters: { type: "object", properties: { msg: { type: "string" } }, required: ["msg"] },
        },
      ],
      script: [{ tool_calls: [{ name: "notify", arguments: { message: 1 } }] }, { tool_calls: [{ name: "notify", arguments: { msg: "x" } }] }, { text: "ok" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const steps = await getSteps(db.pool, runId);
    expect(toolOutput(steps[1]).content).toMatch(/invalid arguments for notify: .*must have required property 'msg'/);
    expect(toolOutput(steps[3]).content).toMatch(/answered 404/);
    expect(toolOutput(steps[3]).is_error).toBe(true);
    expect(server.requests).toHaveLength(1); // the invalid call was never sent
  });

  it("cancel aborts a slow http call within a second", async () => {
    server.requests = [];
    server.aborted = 0;
    server.handler = () => ({ status: 200, delayMs: 30_000 });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "slow", type: "http", url: `${server.url}/slow`, timeout_ms: 60_000 }],
      script: [{ tool_calls: [{ name: "slow", arguments: {} }] }],
    });
    const runId = await startRun(db.pool, agent);
    await waitFor("the request to arrive", () => server.requests.length === 1);
    const t0 = performance.now();
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    await waitFor("the request to be aborted", () => server.aborted === 1, 5000);
    expect(performance.now() - t0).toBeLessThan(1000);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });

  it("a call retried after kill -9 carries the same Idempotency-Key; a committed call is not repeated", async () => {
    await worker?.stop();
    worker = null;
    server.requests = [];
    server.handler = (_req, _body, n) => (n === 1 ? { status: 200, delayMs: 2000, body: { slow: true } } : { status: 200, body: { n } });
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "charge", type: "http", url: `${server.url}/charge` }],
      script: [{ tool_calls: [{ name: "charge", arguments: { cents: 100 } }] }, { text: "charged" }],
    });
    const a = await spawnWorker(db.url);
    const runId = await startRun(db.pool, agent);
    await waitFor("the first request", () => server.requests.length === 1);
    a.child.kill("SIGKILL");
    await a.exited;
    const b = await spawnWorker(db.url);
    try {
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status).toBe("succeeded");
      expect(server.requests).toHaveLength(2);
      expect(server.requests[0]!.key).toBe(server.requests[1]!.key);
      const steps = await getSteps(db.pool, runId);
      expect(steps.filter((s) => s.kind === "tool")).toHaveLength(1);
      expect(toolOutput(steps[1]).content).toBe('{"n":2}');
      // replaying every job of the finished run sends nothing more
      await sleep(500);
      expect(server.requests).toHaveLength(2);
    } finally {
      b.child.kill("SIGKILL");
      await b.exited;
      await startInProcessWorker();
    }
  });
});

describe("durable waits and external events", () => {
  it("sleep survives a full worker restart: no worker runs while the run waits", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 1 } }] }, { text: "woke up" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["waiting"]);
    await worker!.stop(); // every worker gone
    worker = null;
    await sleep(1500); // past the timer
    expect((await getRun(db.pool, runId)).status).toBe("waiting");
    await startInProcessWorker();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "woke up" });
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });

  it("wait_for_event wakes on send_event with its payload", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "payment", timeout_seconds: 3600 } }] }, { text: "paid" }],
    });
    const runId = await startRun(db.pool, agent);
    const waiting = await waitForStatus(db.pool, runId, ["waiting"]);
    expect((waiting as unknown as { waiting: { type: string; name: string } }).waiting).toMatchObject({ type: "event", name: "payment" });
    const { rows } = await db.pool.query<{ woke: boolean }>("select everruns.send_event($1, 'payment', $2) as woke", [runId, JSON.stringify({ amount: 42 })]);
    expect(rows[0]!.woke).toBe(true);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "paid" });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "wait", "tool", "llm"]);
    expect(JSON.parse(toolOutput(steps[2]).content)).toEqual({ event: "payment", payload: { amount: 42 } });
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });

  it("wait_for_event times out when nothing comes, and keeps an event that arrives early", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event", "simulate_work"],
      script: [
        { tool_calls: [{ name: "wait_for_event", arguments: { name: "never", timeout_seconds: 1 } }] },
        { tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] },
        { tool_calls: [{ name: "wait_for_event", arguments: { name: "early", timeout_seconds: 3600 } }] },
        { text: "done" },
      ],
    });
    const runId = await startRun(db.pool, agent);
    await waitFor("the simulate_work step", async () => (await getSteps(db.pool, runId)).some((s) => s.kind === "tool" && s.name === "wait_for_event"));
    // sent while the run is busy elsewhere: kept for its next wait of that name
    const { rows } = await db.pool.query<{ woke: boolean }>("select everruns.send_event($1, 'early', '\"x\"') as woke", [runId]);
    expect(rows[0]!.woke).toBe(false);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const tools = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool" && s.name === "wait_for_event");
    expect(JSON.parse(toolOutput(tools[0]).content)).toMatchObject({ event: "never", timed_out: true });
    expect(JSON.parse(toolOutput(tools[1]).content)).toEqual({ event: "early", payload: "x" });
    const err = await sqlError("select everruns.send_event($1, 'late', null)", [runId]);
    expect(err.message).toMatch(/has finished \(succeeded\); it can no longer receive events/);
  });
});

describe("human in the loop", () => {
  const approvalAgent = () =>
    createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "I need to echo.", tool_calls: [{ name: "echo", arguments: { amount: 5 } }] }, { text: "Done after the decision." }],
    });

  async function interrupted(agentId: string) {
    const runId = await startRun(db.pool, agentId);
    await waitForStatus(db.pool, runId, ["interrupted"]);
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const finished = events.at(-1)!.event as { outcome: { type: string; interrupts: Array<{ id: string; toolCallId: string; metadata: unknown }> } };
    expect(finished.outcome.type).toBe("interrupt");
    return { runId, interrupt: finished.outcome.interrupts[0]! };
  }

  it("approve: the tool runs in a continuation run on the same thread", async () => {
    const { runId, interrupt } = await interrupted(await approvalAgent());
    expect(interrupt.metadata).toEqual({ toolName: "echo", arguments: { amount: 5 } });
    const nextId = await resume(runId, [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }]);
    expect(await resume(runId, [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true } }])).toBe(nextId); // idempotent
    const next = await waitForStatus(db.pool, nextId, ["succeeded", "failed"]);
    expect(next.output).toEqual({ text: "Done after the decision." });
    const steps = await getSteps(db.pool, nextId);
    expect(steps.map((s) => [s.kind, s.name])).toEqual([
      ["tool", "echo"],
      ["llm", "scripted"],
    ]);
    expect(toolOutput(steps[0]).content).toBe('{"amount":5}');
    const { rows } = await db.pool.query(
      "select thread_id, parent_run_id, (select continued_by from everruns.runs where id = $1) as continued_by from everruns.runs where id = $2",
      [runId, nextId],
    );
    expect(rows[0]).toMatchObject({ parent_run_id: runId, continued_by: nextId });
    await assertValidAgUiLog(await getEvents(db.pool, nextId));
  });

  it("reject: the model is told and the tool never runs", async () => {
    const { runId, interrupt } = await interrupted(await approvalAgent());
    const nextId = await resume(runId, [{ interruptId: interrupt.id, status: "resolved", payload: { approved: false, reason: "too expensive" } }]);
    await waitForStatus(db.pool, nextId, ["succeeded"]);
    const steps = await getSteps(db.pool, nextId);
    expect(toolOutput(steps[0]).content).toMatch(/rejected this call to echo; it was not executed\. Reason: too expensive/);
  });

  it("edit: the tool runs with the edited arguments", async () => {
    const { runId, interrupt } = await interrupted(await approvalAgent());
    const nextId = await resume(runId, [{ interruptId: interrupt.id, status: "resolved", payload: { approved: true, arguments: { amount: 1 } } }]);
    await waitForStatus(db.pool, nextId, ["succeeded"]);
    expect(toolOutput((await getSteps(db.pool, nextId))[0]).content).toBe('{"amount":1}');
  });

  it("refuses a resume that does not answer every open interrupt, or answers a run that is not waiting", async () => {
    const { runId, interrupt } = await interrupted(await approvalAgent());
    expect((await sqlError("select everruns.resume_run($1, '[]')", [runId])).message).toMatch(/open interrupts that this resume does not answer: approval-/);
    expect((await sqlError("select everruns.resume_run($1, $2)", [runId, JSON.stringify([{ interruptId: interrupt.id, status: "maybe" }])])).message).toMatch(
      /"status": "resolved" or "cancelled"/,
    );
    expect(
      (
        await sqlError("select everruns.resume_run($1, $2)", [
          runId,
          JSON.stringify([
            { interruptId: interrupt.id, status: "resolved" },
            { interruptId: "other", status: "resolved" },
          ]),
        ])
      ).message,
    ).toMatch(/no open interrupt other/);
    // a plain new run on the thread must answer too
    const { rows } = await db.pool.query<{ thread_id: string; agent_id: string }>("select thread_id, agent_id from everruns.runs where id = $1", [runId]);
    expect(
      (
        await sqlError("insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, $3)", [
          rows[0]!.agent_id,
          rows[0]!.thread_id,
          JSON.stringify({ messages: [{ role: "user", content: "ignore it" }] }),
        ])
      ).message,
    ).toMatch(/does not answer/);
    const done = await startRun(db.pool, await createAgent(db.pool, { provider: "scripted" }));
    await waitForStatus(db.pool, done, ["succeeded"]);
    expect((await sqlError("select everruns.resume_run($1, '[]')", [done])).message).toMatch(/is not waiting for an answer \(status succeeded\)/);
  });

  it("client tools: the run stops with the pending tool call ids; the client's tool message continues it", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      script: [{ text: "Which color?", tool_calls: [{ name: "pick_color", arguments: { options: ["red", "blue"] } }] }, { text: "You picked it." }],
    });
    const tools = [{ name: "pick_color", description: "Ask the user for a color", parameters: { type: "object" } }];
    const runId = await startRunWith(agent, { messages: [{ role: "user", content: "paint" }], tools });
    await waitForStatus(db.pool, runId, ["interrupted"]);
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const outcome = events.at(-1)!.event.outcome as { type: string; pendingToolCallIds: string[] };
    expect(outcome.type).toBe("success");
    expect(outcome.pendingToolCallIds).toHaveLength(1);
    const { rows } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [runId]);
    const nextId = await startRunWith(
      agent,
      { messages: [{ role: "tool", toolCallId: outcome.pendingToolCallIds[0], content: "blue" }], tools },
      rows[0]!.thread_id,
    );
    const next = await waitForStatus(db.pool, nextId, ["succeeded", "failed"]);
    expect(next.output).toEqual({ text: "You picked it." });
    const steps = await getSteps(db.pool, nextId);
    expect(steps.map((s) => s.kind)).toEqual(["tool", "llm"]);
    expect(toolOutput(steps[0]).content).toBe("blue");
    // the model saw: user, assistant+call, tool result
    expect(llmInput(steps[1]).messages).toBe(3);
  });
});

describe("threads, versions and cost", () => {
  it("a new run on a thread sees the conversation of the earlier runs", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "noted" }] });
    const first = await startRun(db.pool, agent, "my name is Ada");
    await waitForStatus(db.pool, first, ["succeeded"]);
    const { rows } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [first]);
    const second = await startRunWith(agent, { messages: [{ role: "user", content: "what is my name?" }] }, rows[0]!.thread_id);
    await waitForStatus(db.pool, second, ["succeeded"]);
    const steps = await getSteps(db.pool, second);
    expect(llmInput(steps[0]).messages).toBe(3); // Ada's message, the reply, the new question
  });

  it("a run keeps the agent version it started with when the agent is edited mid-run", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 0.5 } }] }, { text: "version one" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["waiting"]);
    await db.pool.query("update everruns.agents set config = $2 where id = $1", [
      agent,
      JSON.stringify({ provider: "scripted", script: [{ text: "version two" }] }),
    ]);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "version one" });
    const later = await startRun(db.pool, agent);
    expect((await waitForStatus(db.pool, later, ["succeeded"])).output).toEqual({ text: "version two" });
  });

  it("cost is queryable per agent and per day", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "a fairly long answer to cost something" }] });
    for (let i = 0; i < 2; i++) await waitForStatus(db.pool, await startRun(db.pool, agent), ["succeeded"]);
    const { rows } = await db.pool.query<{ runs: number; llm_calls: number; input_tokens: number; output_tokens: number; cost_usd: number; today: boolean }>(
      "select runs, llm_calls, input_tokens, output_tokens, cost_usd, day = (now() at time zone 'UTC')::date as today from everruns.usage_daily where agent_id = $1",
      [agent],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ runs: 2, llm_calls: 2, today: true });
    expect(rows[0]!.cost_usd).toBeGreaterThan(0);
    const sum = await db.pool.query<{ total: number }>("select sum((usage ->> 'cost_usd')::numeric) as total from everruns.runs where agent_id = $1", [agent]);
    expect(rows[0]!.cost_usd).toBeCloseTo(Number(sum.rows[0]!.total), 6);
  });
});
