// Durability by doing the failure: kill -9 real worker processes mid-step, SIGTERM them, crash
// them at named points of a step, and check what was committed, exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, getSteps, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { percentile, spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
const workers = new Set<WorkerProcess>();

async function start(env: Record<string, string> = {}): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url, env);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await db?.drop();
});

async function stopAll(): Promise<void> {
  const all = [...workers];
  for (const w of all) w.child.kill("SIGKILL");
  await Promise.all(all.map((w) => w.exited));
}

/** The worker process whose pool holds the run's job right now. */
async function owner(runId: string): Promise<WorkerProcess> {
  const lockedBy = await waitFor("the run's job to be locked", async () => {
    const { rows } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    return rows[0]?.locked_by;
  });
  const w = [...workers].find((x) => x.poolId === lockedBy);
  if (!w) throw new Error(`no live worker process has pool ${lockedBy}`);
  return w;
}

async function stepAttempt(runId: string): Promise<{ cursor: number; attempt: number }> {
  const { rows } = await db.pool.query<{ cursor: number; attempt: number }>(
    "select step_cursor as cursor, step_attempt as attempt from everruns.runs where id = $1",
    [runId],
  );
  return rows[0]!;
}

async function expectNothingLocked(): Promise<void> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where locked_at is not null");
  expect(rows[0]!.n).toBe(0);
}

describe("kill -9", () => {
  it("resumes a killed worker's step on another worker, each step committed exactly once (12 kills)", async () => {
    const toolAgent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ text: "working", tool_calls: [{ name: "simulate_work", arguments: { ms: 2500 } }] }, { text: "finished" }],
    });
    const llmAgent = await createAgent(db.pool, {
      provider: "scripted",
      script: [{ text: "z".repeat(300), delay_ms: 2500 }],
    });
    await start();
    await start();

    const latencies: number[] = [];
    const runs: Array<{ id: string; kind: "tool" | "llm" }> = [];
    for (let i = 0; i < 12; i++) {
      const kind = i % 2 === 0 ? "tool" : "llm";
      const runId = await startRun(db.pool, kind === "tool" ? toolAgent : llmAgent, `kill ${i}`);
      runs.push({ id: runId, kind });
      const seq = kind === "tool" ? 2 : 1;
      // wait until the slow step is under way (and, for the LLM turn, has streamed text)
      await waitFor("the slow step to be under way", async () => {
        const events = await getEvents(db.pool, runId);
        return kind === "tool"
          ? events.some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work"))
          : events.some((e) => e.type === "TEXT_MESSAGE_CONTENT");
      });
      const victim = await owner(runId);
      const before = await stepAttempt(runId);
      expect(before.cursor).toBe(seq);
      victim.child.kill("SIGKILL");
      const killedAt = performance.now();
      await waitFor(
        "another worker to begin the step again",
        async () => {
          const now = await stepAttempt(runId);
          return now.cursor > seq || now.attempt > before.attempt;
        },
        10_000,
        2,
      );
      latencies.push(performance.now() - killedAt);
      await victim.exited;
      await start(); // keep two workers
    }

    for (const run of runs) {
      const row = await waitForStatus(db.pool, run.id, ["succeeded", "failed"]);
      expect(row.status, `run ${run.id}`).toBe("succeeded");
      const steps = await getSteps(db.pool, run.id);
      // A kill aimed at one run also hits the other runs its worker had in flight, so an
      // interrupted step may have run more than twice; it is still committed exactly once.
      if (run.kind === "tool") {
        expect(steps.map((s) => [s.seq, s.kind])).toEqual([
          [1, "llm"],
          [2, "tool"],
          [3, "llm"],
        ]);
        expect(steps[1]!.attempt).toBeGreaterThanOrEqual(2);
      } else {
        expect(steps.map((s) => [s.seq, s.kind])).toEqual([[1, "llm"]]);
        expect(steps[0]!.attempt).toBeGreaterThanOrEqual(2);
        expect(row.output).toEqual({ text: "z".repeat(300) });
      }
      const events = await getEvents(db.pool, run.id);
      await assertValidAgUiLog(events);
      expect(events.filter((e) => e.type === "RUN_STARTED")).toHaveLength(1);
      expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
      if (run.kind === "llm") {
        // the dead attempt's half message was closed and superseded by a snapshot
        expect(events.some((e) => e.type === "MESSAGES_SNAPSHOT")).toBe(true);
      }
    }
    await waitFor("no job locked", async () => {
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs");
      return rows[0]!.n === 0;
    });

    const p50 = percentile(latencies, 50);
    const max = Math.max(...latencies);
    console.log(
      `resume latency after kill -9 over ${latencies.length} kills: p50 ${p50.toFixed(0)} ms, p90 ${percentile(latencies, 90).toFixed(0)} ms, max ${max.toFixed(0)} ms [${latencies.map((l) => l.toFixed(0)).join(", ")}]`,
    );
    // Counts and ratios only, never absolute times, are asserted (shared, noisy machines): but a
    // resume that waited for graphile-worker's 4-hour lock or its 1 s poll would show up here.
    expect(latencies.filter((l) => l < 5000)).toHaveLength(latencies.length);
  });

  it("a crash right after the commit replays nothing; a crash right before it loses nothing", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "ok" }],
    });
    for (const point of ["after_commit", "before_commit", "after_begin"]) {
      await stopAll(); // only the crasher may take step 2
      const crasher = await start({ EVERRUNS_CRASH_AT: `${point}:2` });
      const runId = await startRun(db.pool, agent, point);
      const { signal } = await crasher.exited; // it kills itself at step 2
      expect(signal, crasher.output()).toBe("SIGKILL");
      await start();
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status).toBe("succeeded");
      const steps = await getSteps(db.pool, runId);
      expect(steps.map((s) => [s.seq, s.kind])).toEqual([
        [1, "llm"],
        [2, "tool"],
        [3, "llm"],
      ]);
      expect(steps[1]!.attempt).toBe(point === "after_commit" ? 1 : 2);
      await assertValidAgUiLog(await getEvents(db.pool, runId));
    }
  });
});

describe("SIGTERM", () => {
  it("lets an in-flight step finish, loses no completion, leaves nothing locked", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 1000 } }] }, { text: "after restart" }],
    });
    await stopAll();
    const w = await start({ WORKER_SHUTDOWN_TIMEOUT_MS: "10000" });
    const runId = await startRun(db.pool, agent);
    // its work under way, not only begun: a step begun as the shutdown starts is handed back untouched
    await waitFor("the tool step's work to start", async () => {
      const { rows } = await db.pool.query(
        "select 1 from everruns.run_events where run_id = $1 and type = 'STEP_STARTED' and event ->> 'stepName' like 'step 2:%'",
        [runId],
      );
      return rows.length > 0 && (await stepAttempt(runId)).attempt === 1;
    });
    w.child.kill("SIGTERM");
    const { code } = await w.exited;
    expect(code).toBe(0);
    // the tool step finished and committed during shutdown; its job completion was flushed
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "tool"]);
    await expectNothingLocked();
    // the run's next job waits for any worker, as does its cursor's step
    const { rows } = await db.pool.query("select locked_at, attempts from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(rows).toEqual([{ locked_at: null, attempts: 0 }]);
    expect(await stepAttempt(runId)).toMatchObject({ cursor: 3 });
    await start();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "after restart" });
    expect((await getSteps(db.pool, runId)).map((s) => s.attempt)).toEqual([1, 1, 1]);
  });

  it("hands back a step that outlives the shutdown timeout, without counting it as a failure", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 60_000 } }] }, { text: "never reached" }],
    });
    await stopAll();
    const w = await start({ WORKER_SHUTDOWN_TIMEOUT_MS: "300" });
    const runId = await startRun(db.pool, agent);
    await waitFor("the tool step to start", async () => {
      const a = await stepAttempt(runId);
      return a.cursor === 2 && a.attempt === 1;
    });
    const t0 = performance.now();
    w.child.kill("SIGTERM");
    const { code } = await w.exited;
    const exitMs = performance.now() - t0;
    expect(code).toBe(0);
    console.log(`worker exited ${exitMs.toFixed(0)} ms after SIGTERM with a 300 ms shutdown timeout`);
    await expectNothingLocked();
    const run = await getRun(db.pool, runId);
    expect(run.status).toBe("running");
    const { rows } = await db.pool.query<{ step_errors: number }>("select step_errors from everruns.runs where id = $1", [runId]);
    expect(rows[0]!.step_errors).toBe(0);
    const jobs = await db.pool.query("select locked_at from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(jobs.rows).toEqual([{ locked_at: null }]);
    expect(await stepAttempt(runId)).toMatchObject({ cursor: 2 });
    await assertValidAgUiLog(
      await getEvents(db.pool, runId).then((events) => [
        ...events,
        { seq: events.length + 1, type: "RUN_FINISHED", event: { type: "RUN_FINISHED", threadId: "t", runId } },
      ]),
    );
    // let the next worker take it up again, then cancel: the log ends cleanly
    await start();
    await waitFor("the handed-back step to start again", async () => (await stepAttempt(runId)).attempt === 2);
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });
});
