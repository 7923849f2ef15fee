// The step engine in one process against a real Postgres: the agent loop, the event log,
// retries, limits, cancellation, replays and races.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getRun,
  getSteps,
  llmOutput,
  startRun,
  toolOutput,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { runStep, type EngineContext } from "../tasks/run_step.ts";
import { Cancellations } from "../cancellations.ts";
import { ScriptedProvider } from "../providers/scripted.ts";
import { builtinTools } from "../tools/registry.ts";
import { sleep } from "../../lib/sleep.ts";

let db: TestDatabase;
let worker: WorkerHandle;
const log = consoleLogger("[test-worker]", "warn");

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 5000, log });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

const fast = { initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

describe("the agent loop", () => {
  it("runs LLM turn → tool calls → LLM turn to a final answer, one checkpoint per step", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [
        {
          text: "Calling two tools.",
          tool_calls: [
            { name: "echo", arguments: { a: 1 } },
            { name: "echo", arguments: { b: 2 } },
          ],
        },
        { text: "The answer is 42." },
      ],
    });
    const runId = await startRun(db.pool, agent, "what is the answer?");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    expect(run.output).toEqual({ text: "The answer is 42." });
    expect(run.usage.input_tokens).toBeGreaterThan(0);
    expect(run.usage.output_tokens).toBeGreaterThan(0);
    expect(run.usage.cost_usd).toBeGreaterThan(0);

    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => [s.seq, s.kind, s.name, s.status, s.attempt])).toEqual([
      [1, "llm", "scripted", "succeeded", 1],
      [2, "tool", "echo", "succeeded", 1],
      [3, "tool", "echo", "succeeded", 1],
      [4, "llm", "scripted", "succeeded", 1],
    ]);
    const calls = llmOutput(steps[0]).tool_calls;
    expect(steps[1]!.output).toMatchObject({ tool_call_id: calls[0]!.id, content: '{"a":1}', is_error: false });
    expect(steps[2]!.output).toMatchObject({ tool_call_id: calls[1]!.id, content: '{"b":2}', is_error: false });

    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("RUN_STARTED");
    expect(types.at(-1)).toBe("RUN_FINISHED");
    expect(types.filter((t) => t === "TOOL_CALL_RESULT")).toHaveLength(2);
    expect(types.filter((t) => t === "STEP_STARTED")).toHaveLength(4);
    const text = events
      .filter((e) => e.type === "TEXT_MESSAGE_CONTENT")
      .map((e) => e.event.delta)
      .join("");
    expect(text).toBe("Calling two tools.The answer is 42.");
    expect(events.at(-1)!.event).toMatchObject({ threadId: expect.any(String) as unknown, runId, result: { text: "The answer is 42." } });
    // every event carries the database clock
    expect(events.every((e) => typeof e.event.timestamp === "number")).toBe(true);
  });

  it("batches streamed text deltas instead of writing one row per chunk", async () => {
    const text = "x".repeat(600); // 50 chunks of 12 characters
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text, delay_ms: 500 }] });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const events = await getEvents(db.pool, runId);
    const deltas = events.filter((e) => e.type === "TEXT_MESSAGE_CONTENT");
    expect(deltas.map((e) => e.event.delta).join("")).toBe(text);
    // 500 ms of streaming in ~40 ms batches: a handful of rows, not 50
    expect(deltas.length).toBeGreaterThan(2);
    expect(deltas.length).toBeLessThan(25);
    await assertValidAgUiLog(events);
  });

  it("tells the model when it calls a tool the agent does not have", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ tool_calls: [{ name: "rm_rf", arguments: {} }] }, { text: "ok" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const steps = await getSteps(db.pool, runId);
    expect(toolOutput(steps[1]).is_error).toBe(true);
    expect(toolOutput(steps[1]).content).toMatch(/not available to this agent \(available: echo\)/);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });

  it("fails the run with RUN_ERROR when max_steps is reached", async () => {
    const loop = Array.from({ length: 10 }, () => ({ tool_calls: [{ name: "echo", arguments: {} }] }));
    const agent = await createAgent(db.pool, { provider: "scripted", tools: ["echo"], max_steps: 3, script: loop });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["failed", "succeeded"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "max_steps" });
    expect(run.error!.message).toMatch(/max_steps limit \(3\)/);
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "tool", "llm", "system"]);
    const events = await getEvents(db.pool, runId);
    expect(events.at(-1)).toMatchObject({ type: "RUN_ERROR", event: { code: "max_steps" } });
    await assertValidAgUiLog(events);
  });
});

describe("retries", () => {
  it("retries injected transient errors with backoff, visible as events, then succeeds", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      retry: { max_attempts: 5, ...fast },
      script: [{ text: "made it", error: "rate_limit", times: 2 }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const events = await getEvents(db.pool, runId);
    const retries = events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.retry");
    expect(retries.map((e) => (e.event.value as { attempt: number }).attempt)).toEqual([1, 2]);
    expect(retries[0]!.event.value).toMatchObject({ error: { code: "rate_limit", status: 429 } });
    const steps = await getSteps(db.pool, runId);
    expect(steps).toHaveLength(1);
    expect(steps[0]!.attempt).toBe(3);
    await assertValidAgUiLog(events);
  });

  it("fails with a RUN_ERROR that says why after max_attempts", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      retry: { max_attempts: 3, ...fast },
      script: [{ text: "never", error: "server_error", times: 10 }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error!.message).toMatch(/failed 3 time\(s\).*server error \(500\)/);
    const events = await getEvents(db.pool, runId);
    expect(events.filter((e) => e.type === "CUSTOM")).toHaveLength(2);
    expect(events.at(-1)!.type).toBe("RUN_ERROR");
    await assertValidAgUiLog(events);
    // the job goes: a failed run leaves nothing in the queue (graphile-worker deletes a job just
    // after its task returns, so a moment after the run's status)
    await waitFor("the run's job to be gone", async () => {
      const jobs = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where key = $1", [`run:${runId}`]);
      return jobs.rows[0]!.n === 0;
    });
  });

  it("does not retry a non-retryable error", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", retry: { max_attempts: 5, ...fast }, script: [{ error: "bad_request" }] });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error!.message).toMatch(/not retryable/);
    const events = await getEvents(db.pool, runId);
    expect(events.filter((e) => e.type === "CUSTOM")).toHaveLength(0);
    await assertValidAgUiLog(events);
  });

  it("times out a slow LLM call (llm_timeout_ms) and retries it", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      llm_timeout_ms: 100,
      retry: { max_attempts: 2, ...fast },
      script: [{ text: "too slow to ever finish", delay_ms: 5000 }],
    });
    const runId = await startRun(db.pool, agent);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error!.message).toMatch(/timed out after 100 ms/);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });
});

describe("cancellation", () => {
  it("aborts an in-flight tool call within a second and ends the log cleanly", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 30_000 } }] }, { text: "never" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitFor("the tool step to start", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
    );
    const t0 = Date.now();
    expect(await cancelRun(db.pool, runId)).toBe(true);
    expect(await cancelRun(db.pool, runId)).toBe(false);
    // the worker's slot is free again quickly: the aborted step released its job
    await waitFor(
      "the job to be released",
      async () => {
        const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where key = $1", [`run:${runId}`]);
        return rows[0]!.n === 0;
      },
      5000,
    );
    expect(Date.now() - t0).toBeLessThan(1000);
    const run = await getRun(db.pool, runId);
    expect(run.status).toBe("cancelled");
    const events = await getEvents(db.pool, runId);
    expect(events.at(-1)).toMatchObject({ type: "RUN_FINISHED", event: { outcome: { type: "cancelled" } } });
    await assertValidAgUiLog(events);
    expect(await getSteps(db.pool, runId)).toHaveLength(1);
  });

  it("aborts a streaming LLM call, closing the open message", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "y".repeat(400), delay_ms: 20_000 }] });
    const runId = await startRun(db.pool, agent);
    await waitFor("text to stream", async () => (await getEvents(db.pool, runId)).some((e) => e.type === "TEXT_MESSAGE_CONTENT"));
    await cancelRun(db.pool, runId);
    const events = await getEvents(db.pool, runId);
    expect(events.slice(-3).map((e) => e.type)).toEqual(["TEXT_MESSAGE_END", "STEP_FINISHED", "RUN_FINISHED"]);
    await assertValidAgUiLog(events);
    // the fenced-out attempt writes nothing more
    await sleep(300);
    expect(await getEvents(db.pool, runId)).toHaveLength(events.length);
  });
});

describe("exactly once", () => {
  const ctx = (): EngineContext => ({
    pool: db.pool,
    providers: { scripted: new ScriptedProvider() },
    tools: builtinTools(),
    cancellations: new Cancellations(),
    log,
  });

  it("a run's job delivered again after the run finished is a no-op", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ tool_calls: [{ name: "echo", arguments: {} }] }, { text: "done" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const before = await getEvents(db.pool, runId);
    // replay the run's job, as graphile-worker would after a lost completion, again and again
    for (let i = 0; i < 3; i++) expect(await runStep(ctx(), runId)).toBe(true);
    expect(await getSteps(db.pool, runId)).toHaveLength(3);
    expect(await getEvents(db.pool, runId)).toEqual(before);
  });

  it("two workers racing on one step commit it once", async () => {
    // paused: nobody else picks the job up while we race by hand
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "raced", delay_ms: 200 }] });
    const runId = await startRun(db.pool, agent);
    const results = await Promise.allSettled([runStep(ctx(), runId), runStep(ctx(), runId), runStep(ctx(), runId)]);
    expect(results.every((r) => r.status === "fulfilled")).toBe(true);
    const run = await waitForStatus(db.pool, runId, ["succeeded"]);
    expect(run.output).toEqual({ text: "raced" });
    const steps = await getSteps(db.pool, runId);
    expect(steps).toHaveLength(1);
    const events = await getEvents(db.pool, runId);
    expect(events.filter((e) => e.type === "RUN_STARTED")).toHaveLength(1);
    expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
    await assertValidAgUiLog(events);
  });
});

describe("durable timers", () => {
  it("sleep parks the run as waiting with no job running, then continues", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 1 } }] }, { text: "rested" }],
    });
    const runId = await startRun(db.pool, agent);
    await waitForStatus(db.pool, runId, ["waiting"]);
    const { rows } = await db.pool.query<{ locked_at: Date | null; future: boolean }>(
      "select locked_at, run_at > now() as future from graphile_worker.jobs where key = $1",
      [`run:${runId}`],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.locked_at).toBeNull();
    expect(rows[0]!.future).toBe(true);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "rested" });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "wait", "tool", "llm"]);
    expect(toolOutput(steps[2]).content).toBe('{"slept_seconds":1}');
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });
});
