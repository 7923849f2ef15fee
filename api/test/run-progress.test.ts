// Live numbers and attempt history (issue "Operator experience", points 7 and 8), against a real
// API, real worker processes and Postgres:
// - a runUpdated subscriber sees a running run's usage, step count and step in progress move
//   with every committed step, before the run ends (it used to fire on status changes only);
// - after a kill -9 of the worker mid-step, the run's attempt history says attempt 1 was lost
//   with its worker (pool id, host), its job freed by the sweeper, the gap until attempt 2 began,
//   and which events of the log the dead attempt wrote and which closed it.
import { hostname } from "node:os";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getEvents, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";
import { bearer, createTestKey, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let viewerKey: string;
let ws: Client;
const workers = new Set<WorkerProcess>();

async function startWorkerProcess(): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

interface Attempt {
  seq: number;
  attempt: number;
  stepKind: string | null;
  stepName: string | null;
  poolId: string | null;
  hostname: string | null;
  workerPid: number | null;
  startedAt: string;
  endedAt: string | null;
  lastEventAt: string | null;
  freedAt: string | null;
  outcome: string | null;
  eventsFrom: number;
  lastEventSeq: number | null;
  closedThroughSeq: number | null;
}

const ATTEMPT_FIELDS = `seq attempt stepKind stepName poolId hostname workerPid startedAt endedAt lastEventAt freedAt outcome eventsFrom lastEventSeq closedThroughSeq`;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  // a viewer may read all of it
  viewerKey = await createTestKey(db.url, { role: "viewer", name: "progress-viewer" });
  ws = createClient({ url: `${api.url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: bearer(viewerKey) });
  await startWorkerProcess();
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await ws?.dispose();
  await api?.close();
  await db?.drop();
});

describe("runUpdated carries live numbers", () => {
  it("fires on each committed step: usage, step count and the step in progress move before the run ends", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [
        { text: "first", tool_calls: [{ name: "simulate_work", arguments: { ms: 800 } }] },
        { text: "second", tool_calls: [{ name: "simulate_work", arguments: { ms: 800 } }] },
        { text: "done" },
      ],
    });
    const runId = await startRun(db.pool, agent, "live numbers");
    const seen: Array<{ status: string; outputTokens: number; cost: number; steps: number; current: Attempt | null }> = [];
    for await (const r of ws.iterate<{
      runUpdated: {
        run: {
          status: string;
          usage: { output_tokens?: number; cost_usd?: number };
          runStepsByRunId: { totalCount: number };
          runAttemptsByRunId: { nodes: Attempt[] };
        };
      };
    }>({
      query: `subscription ($id: UUID!) { runUpdated(runId: $id) { run {
        status usage runStepsByRunId { totalCount }
        runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) { nodes { ${ATTEMPT_FIELDS} } }
      } } }`,
      variables: { id: runId },
    })) {
      if (r.errors) throw new Error(r.errors.map((e) => e.message).join("; "));
      const run = r.data!.runUpdated.run;
      seen.push({
        status: run.status,
        outputTokens: Number(run.usage.output_tokens ?? 0),
        cost: Number(run.usage.cost_usd ?? 0),
        steps: run.runStepsByRunId.totalCount,
        current: run.runAttemptsByRunId.nodes[0] ?? null,
      });
      if (run.status === "succeeded") break;
    }
    const whileRunning = seen.filter((s) => s.status === "running");
    // before: only status changes were pushed, so a running run never showed a committed step
    const stepCounts = [...new Set(whileRunning.map((s) => s.steps))];
    // (steps committed a few ms apart arrive as one: the hub coalesces them)
    expect(stepCounts.length, JSON.stringify(seen)).toBeGreaterThanOrEqual(2);
    // (0 too: the first step's start is pushed before its commit when the hub reads it in time)
    expect(
      stepCounts.every((n) => n >= 0 && n < 5),
      JSON.stringify(stepCounts),
    ).toBe(true);
    expect(stepCounts.some((n) => n >= 1)).toBe(true);
    expect(whileRunning.some((s) => s.outputTokens > 0 && s.cost > 0)).toBe(true);
    // the step in progress, with its name, was pushed while it ran (the 800 ms tool call)
    expect(
      whileRunning.some((s) => s.current?.outcome === null && s.current.stepName?.includes("simulate_work") && s.current.stepKind === "tool"),
      JSON.stringify(whileRunning.map((s) => s.current)),
    ).toBe(true);
    const last = seen.at(-1)!;
    expect(last.steps).toBe(5);
    expect(last.outputTokens).toBeGreaterThan(Math.max(...whileRunning.map((s) => s.outputTokens)) - 1);
  });
});

describe("attempt history", () => {
  it("after kill -9 mid-step: attempt 1 lost with its worker's pool and host, job freed, the gap, attempt 2 committed", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ text: "working", tool_calls: [{ name: "simulate_work", arguments: { ms: 4000 } }] }, { text: "finished" }],
    });
    const [victim] = [...workers];
    const runId = await startRun(db.pool, agent, "crash me");
    await waitFor("the slow tool step to be under way", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
    );
    const rescuer = await startWorkerProcess();
    victim!.child.kill("SIGKILL");
    await victim!.exited;
    await waitForStatus(db.pool, runId, ["succeeded"]);

    const res = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(viewerKey) },
      body: JSON.stringify({
        query: `query ($id: UUID!) { runById(id: $id) { runAttemptsByRunId(orderBy: PRIMARY_KEY_ASC) { nodes { ${ATTEMPT_FIELDS} } } } }`,
        variables: { id: runId },
      }),
    });
    const body = (await res.json()) as { data?: { runById: { runAttemptsByRunId: { nodes: Attempt[] } } }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    const attempts = body.data!.runById.runAttemptsByRunId.nodes;
    const ofTool = attempts.filter((a) => a.seq === 2);
    expect(ofTool.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, "worker_died"],
      [2, "committed"],
    ]);
    const [lost, won] = ofTool as [Attempt, Attempt];
    expect(lost.poolId).toBe(victim!.poolId);
    expect(lost.hostname).toBe(hostname());
    expect(lost.workerPid).toBe(victim!.child.pid);
    expect(lost.stepName).toContain("simulate_work");
    expect(lost.freedAt).not.toBeNull();
    expect(won.poolId).toBe(rescuer.poolId);
    // the gap: from the dead attempt's last event to the next attempt's start
    const gapMs = Date.parse(won.startedAt) - Date.parse(lost.lastEventAt!);
    expect(gapMs).toBeGreaterThan(0);
    expect(Date.parse(lost.freedAt!)).toBeLessThanOrEqual(Date.parse(won.startedAt));
    // every other step committed on its first attempt
    expect(attempts.filter((a) => a.seq !== 2).every((a) => a.attempt === 1 && a.outcome === "committed")).toBe(true);

    // the dead attempt's events, and the STEP_FINISHED the next attempt wrote to close its step
    const events = await getEvents(db.pool, runId);
    const own = events.filter((e) => e.seq > lost.eventsFrom && e.seq <= lost.lastEventSeq!);
    expect(own.some((e) => e.type === "STEP_STARTED")).toBe(true);
    const closing = events.filter((e) => e.seq > lost.lastEventSeq! && e.seq <= lost.closedThroughSeq!);
    expect(closing.map((e) => e.type)).toContain("STEP_FINISHED");
    expect(won.eventsFrom).toBe(lost.closedThroughSeq);
  });
});
