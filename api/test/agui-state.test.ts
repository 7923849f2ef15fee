// A run's shared state through AG-UI, with the real @ag-ui/client HttpAgent against the API: an
// agent calling update_state several times (whole objects and JSON Patches, two in one turn)
// streams STATE_SNAPSHOT / STATE_DELTA, and the HttpAgent's `state` after the run equals the
// stored one (everruns.runs.state); a fresh HttpAgent on the same thread starts from the state
// the thread carries on; and so it stays when the worker processes running the run are killed
// (kill -9) during and after update_state steps while the client streams. The event log stays
// valid for AG-UI clients throughout (assertValidAgUiLog: @ag-ui/core's schemas, verifyEvents).
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";
import { MAX_STATE_BYTES } from "../../worker/tools/update-state.ts";
import { postJson, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;

const update = (patch: unknown[]) => ({ name: "update_state", arguments: { patch } });
const finding = (title: string) => ({ op: "add", path: "/findings/-", value: { title } });

/** A literature-review-like script: findings appended one by one (two updates in one turn), a status, progress. */
const SCRIPT = [
  { text: "Reading.", tool_calls: [update([finding("f1")])] },
  { tool_calls: [update([finding("f2")]), update([{ op: "add", path: "/status", value: "reviewing" }])] },
  { tool_calls: [{ name: "report_progress", arguments: { message: "Two findings", fraction: 0.5 } }] },
  {
    tool_calls: [
      update([
        { op: "test", path: "/status", value: "reviewing" },
        { op: "replace", path: "/status", value: "done" },
      ]),
    ],
  },
  { text: "Two findings." },
];

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  await createAgent(db.pool, { provider: "scripted", tools: ["update_state", "report_progress"], script: SCRIPT }, "reviewer");
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function storedState(runId: string): Promise<unknown> {
  const { rows } = await db.pool.query<{ state: unknown }>("select state from everruns.runs where id = $1", [runId]);
  return rows[0]!.state;
}

function agentOn(threadId: string, initialState?: Record<string, unknown>): HttpAgent {
  return new HttpAgent({ url: `${api.url}/api/agents/reviewer/agui`, headers: api.headers, threadId, ...(initialState && { initialState }) });
}

describe("HttpAgent: update_state", () => {
  let worker: WorkerHandle;

  beforeAll(async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it("the HttpAgent's state after the run equals runs.state; a fresh HttpAgent on the thread starts from the state it carries on", async () => {
    const threadId = randomUUID();
    const agent = agentOn(threadId, { findings: [] });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Review the literature" });
    const firstRunId = randomUUID();
    await agent.runAgent({ runId: firstRunId });
    await waitForStatus(db.pool, firstRunId, ["succeeded"]);
    const first = { findings: [{ title: "f1" }, { title: "f2" }], status: "done" };
    expect(await storedState(firstRunId)).toEqual(first);
    expect(agent.state).toEqual(first);
    const events = await getEvents(db.pool, firstRunId);
    await assertValidAgUiLog(events);
    // the client's state first (it sent a non-empty one), then one delta per update
    expect(events.filter((e) => e.type.startsWith("STATE_")).map((e) => e.type)).toEqual([
      "STATE_SNAPSHOT",
      "STATE_DELTA",
      "STATE_DELTA",
      "STATE_DELTA",
      "STATE_DELTA",
    ]);
    const progress = events.find((e) => e.type === "CUSTOM" && e.event.name === "everruns.progress")!.event.value;
    expect(progress).toEqual({ message: "Two findings", fraction: 0.5, at: expect.any(String) as unknown });
    // and through GraphQL, as the console reads a run
    const { status, body } = await postJson<{ data?: { runById: { state: unknown; progress: unknown } }; errors?: unknown }>(
      `${api.url}/graphql`,
      { query: "query ($id: UUID!) { runById(id: $id) { state progress } }", variables: { id: firstRunId } },
      api.headers,
    );
    expect(status, JSON.stringify(body.errors)).toBe(200);
    expect(body.data!.runById).toEqual({ state: first, progress });

    // another client joins the thread knowing nothing (state {}): it gets the thread's state, then the changes
    const fresh = agentOn(threadId);
    fresh.addMessage({ id: randomUUID(), role: "user", content: "Go on" });
    const secondRunId = randomUUID();
    await fresh.runAgent({ runId: secondRunId });
    await waitForStatus(db.pool, secondRunId, ["succeeded"]);
    const second = { findings: [{ title: "f1" }, { title: "f2" }, { title: "f1" }, { title: "f2" }], status: "done" };
    expect(await storedState(secondRunId)).toEqual(second);
    expect(fresh.state).toEqual(second);
    await assertValidAgUiLog(await getEvents(db.pool, secondRunId));
  });
});

describe("HttpAgent: a state the client sends", () => {
  it("over MAX_STATE_BYTES: refused before a run exists, with the reason", async () => {
    const threadId = randomUUID();
    const agent = agentOn(threadId, { notes: "x".repeat(MAX_STATE_BYTES) });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Too much" });
    const runId = randomUUID();
    const error = await agent.runAgent({ runId }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(`a run's state may be at most ${MAX_STATE_BYTES}`);
    const { rows } = await db.pool.query("select id from everruns.runs where id = $1", [runId]);
    expect(rows).toEqual([]);
  });
});

describe("HttpAgent: update_state across kill -9 of workers", () => {
  it("the client streams on while the workers die during and after update_state steps; its state equals runs.state", async () => {
    const agent = agentOn(randomUUID(), { findings: [] });
    agent.addMessage({ id: randomUUID(), role: "user", content: "Review, through crashes" });
    const runId = randomUUID();
    const streamed = agent.runAgent({ runId });
    // Steps: 1 llm, 2 tool (f1), 3 llm, 4 tool (f2), 5 tool (status), 6 llm, 7 tool (progress),
    // 8 llm, 9 tool (status done), 10 llm. Each worker kills itself at its point (EVERRUNS_CRASH_AT):
    // before the commit of f2's step, after the commit of the status step, before the last update's commit.
    const workers: WorkerProcess[] = [];
    try {
      for (const at of ["before_commit:4", "after_commit:5", "before_commit:9"]) {
        const w = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: at });
        workers.push(w);
        const { signal } = await w.exited;
        expect(signal, `the worker crashing at ${at}:\n${w.output().slice(-2000)}`).toBe("SIGKILL");
      }
      workers.push(await spawnWorker(db.url));
      await streamed;
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
    }
    const expected = { findings: [{ title: "f1" }, { title: "f2" }], status: "done" };
    expect(await storedState(runId)).toEqual(expected);
    expect(agent.state).toEqual(expected);
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    // each update streamed once, though two of their steps ran twice
    expect(events.filter((e) => e.type === "STATE_DELTA").length).toBe(4);
    const { rows } = await db.pool.query<{ seq: number; attempt: number }>(
      "select seq, attempt from everruns.run_steps where run_id = $1 and seq in (4, 9) order by seq",
      [runId],
    );
    expect(rows.map((r) => r.attempt >= 2)).toEqual([true, true]);
  }, 180_000);
});
