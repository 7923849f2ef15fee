// Inline chaining (db/migrations/000003_inline_chaining.sql): a worker that commits step n
// begins step n+1 in the same transaction and runs it in the same job. Checked by what the
// database shows: how many jobs a run used, what a dead worker's job carries, that every step
// is committed once, and that a shutting-down worker stops chaining.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, getSteps, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
const processes = new Set<WorkerProcess>();
const log = consoleLogger("[test-worker]", "error");

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const w of processes) w.child.kill("SIGKILL");
  await db?.drop();
});

/** An agent of `turns` echo tool turns and a final answer: 2 * turns + 1 steps. */
function echoAgent(turns: number, extra: Record<string, unknown> = {}) {
  return createAgent(db.pool, {
    provider: "scripted",
    tools: ["echo"],
    max_steps: 2 * turns + 5,
    script: [...Array.from({ length: turns }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "done" }],
    ...extra,
  });
}

/** Jobs ever created in this database (graphile-worker's job id sequence). */
async function jobsCreated(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    "select coalesce(pg_sequence_last_value(pg_get_serial_sequence('graphile_worker._private_jobs', 'id')::regclass), 0)::int as n",
  );
  return rows[0]!.n;
}

async function runWith(inlineChainMs: number, turns: number): Promise<{ runId: string; jobs: number }> {
  const agent = await echoAgent(turns);
  const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, inlineChainMs, log });
  try {
    const before = await jobsCreated();
    const runId = await startRun(db.pool, agent, `inline ${inlineChainMs}`);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    return { runId, jobs: (await jobsCreated()) - before };
  } finally {
    await worker.stop();
  }
}

async function expectEachStepOnce(runId: string, steps: number): Promise<void> {
  const rows = await getSteps(db.pool, runId);
  expect(rows.map((s) => s.seq)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  const events = await getEvents(db.pool, runId);
  await assertValidAgUiLog(events);
  expect(events.filter((e) => e.type === "TOOL_CALL_RESULT")).toHaveLength((steps - 1) / 2);
  expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
}

describe("everruns_private.commit_step_and_begin_next", () => {
  // no worker runs during these: the test holds the run's job as a worker would
  const llmStep = { kind: "llm", name: "scripted", status: "succeeded", input: { call_index: 0 }, output: { text: "", tool_calls: [] } };
  async function heldRun(): Promise<{ runId: string; jobId: string }> {
    const runId = await startRun(db.pool, await echoAgent(2), "by hand");
    const { rows } = await db.pool.query(
      "update graphile_worker._private_jobs set locked_by = 'test-pool', locked_at = now(), attempts = 1 where key = $1 returning id::text",
      [`run:${runId}`],
    );
    await db.pool.query("select everruns_private.begin_step($1, 1)", [runId]);
    return { runId, jobId: rows[0].id };
  }
  const call = async (runId: string, attempt: number, job: Record<string, unknown>) =>
    (
      await db.pool.query("select everruns_private.commit_step_and_begin_next($1, 1, $2, $3, '[]', $4) as r", [
        runId, attempt, JSON.stringify(llmStep), JSON.stringify(job),
      ])
    ).rows[0].r;
  const jobsOf = async (runId: string) =>
    (await db.pool.query("select payload, locked_by, attempts from graphile_worker._private_jobs where payload->>'run_id' = $1 order by id", [runId])).rows;

  it("hands the job over and begins the next step in the commit's transaction", async () => {
    const { runId, jobId } = await heldRun();
    const result = await call(runId, 1, { id: jobId, locked_by: "test-pool" });
    expect(result.committed).toBe(true);
    expect(result.next.run).toMatchObject({ id: runId, step_cursor: 2, step_attempt: 1, status: "running", input: null });
    expect(result.next.config).toBeNull(); // the caller has it
    expect(result.next.llm_count).toBe(1);
    expect(result.next.history.map((e: { kind: string; step?: { seq: number } }) => e.step?.seq ?? e.kind)).toEqual(["input", 1]);
    expect(await jobsOf(runId)).toEqual([{ payload: { run_id: runId, seq: 2 }, locked_by: "test-pool", attempts: 1 }]);
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });

  it("enqueues the next step as a job when the job is not this worker's any more", async () => {
    const { runId, jobId } = await heldRun();
    const result = await call(runId, 1, { id: jobId, locked_by: "some-other-pool" });
    expect(result).toEqual({ committed: true, next: null });
    const jobs = await jobsOf(runId);
    expect(jobs.at(-1)).toEqual({ payload: { run_id: runId, seq: 2 }, locked_by: null, attempts: 0 });
    const { rows } = await db.pool.query("select step_cursor, step_attempt from everruns.runs where id = $1", [runId]);
    expect(rows[0]).toEqual({ step_cursor: 2, step_attempt: 0 });
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });

  it("when a sweeper freed the job meanwhile, the next step gets a job of its own that the attempt's completion cannot delete", async () => {
    for (const via of ["commit_step_and_begin_next", "commit_step", "reschedule_step"] as const) {
      const { runId, jobId } = await heldRun();
      // a sweeper judged this worker dead (its liveness connection dropped) and freed its job
      await db.pool.query("update graphile_worker._private_jobs set locked_by = null, locked_at = null where id = $1", [jobId]);
      const job = { id: jobId, locked_by: "test-pool" };
      if (via === "commit_step_and_begin_next") {
        expect(await call(runId, 1, job)).toEqual({ committed: true, next: null });
      } else if (via === "commit_step") {
        const { rows } = await db.pool.query("select everruns_private.commit_step($1, 1, 1, $2, '[]', $3) as ok", [
          runId, JSON.stringify(llmStep), JSON.stringify({ type: "continue", job }),
        ]);
        expect(rows[0].ok).toBe(true);
      } else {
        // a retry of step 1 (or a hand-back at shutdown)
        const { rows } = await db.pool.query("select everruns_private.reschedule_step($1, 1, 1, 0, true, '[]', $2) as ok", [runId, JSON.stringify(job)]);
        expect(rows[0].ok).toBe(true);
      }
      // graphile-worker completes the attempt's job: it deletes it by id
      await db.pool.query("delete from graphile_worker._private_jobs where id = $1", [jobId]);
      const seq = via === "reschedule_step" ? 1 : 2;
      expect(await jobsOf(runId), via).toEqual([{ payload: { run_id: runId, seq }, locked_by: null, attempts: 0 }]);
      await db.pool.query("select everruns.cancel_run($1)", [runId]);
    }
  });

  it("writes nothing for an attempt that lost its fence", async () => {
    const { runId, jobId } = await heldRun();
    await db.pool.query("select everruns_private.begin_step($1, 1)", [runId]); // another attempt begins
    expect(await call(runId, 1, { id: jobId, locked_by: "test-pool" })).toEqual({ committed: false });
    expect(await getSteps(db.pool, runId)).toEqual([]);
    expect(await jobsOf(runId)).toEqual([{ payload: { run_id: runId, seq: 1 }, locked_by: "test-pool", attempts: 1 }]);
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });
});

describe("everruns_private.commit_step: a wait for an event", () => {
  it("ends at once when the event came while the waiting step ran (send_event found the run running)", async () => {
    const runId = await startRun(db.pool, await echoAgent(1), "early event");
    const begin = async (seq: number) =>
      (await db.pool.query("select (everruns_private.begin_step($1, $2) -> 'run' ->> 'step_attempt')::int as attempt", [runId, seq])).rows[0].attempt as number;
    const commit = (seq: number, attempt: number, step: unknown, next: unknown) =>
      db.pool.query("select everruns_private.commit_step($1, $2, $3, $4, '[]', $5) as ok", [runId, seq, attempt, JSON.stringify(step), JSON.stringify(next)]);
    await commit(1, await begin(1), { kind: "llm", name: "scripted", status: "succeeded", input: { call_index: 0 }, output: { text: "", tool_calls: [] } }, { type: "continue" });
    const attempt = await begin(2);
    // the event arrives while step 2 (the wait_for_event call) is running: nothing to wake yet
    expect((await db.pool.query("select everruns.send_event($1, 'paid', '1') as woke", [runId])).rows[0].woke).toBe(false);
    await commit(2, attempt, { kind: "wait", name: "wait_for_event", status: "succeeded", output: { tool_call_id: "c1" } }, {
      type: "wait",
      delay_ms: 3_600_000,
      waiting: { type: "event", name: "paid", tool_call_id: "c1" },
    });
    const { rows } = await db.pool.query(
      "select run_at <= now() as due, (payload->>'seq')::int as seq from graphile_worker._private_jobs where key = $1",
      [`run:${runId}`],
    );
    expect(rows).toEqual([{ due: true, seq: 3 }]); // not in an hour
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });
});

describe("inline chaining", () => {
  it("runs a run's steps back to back in the job that began it; with it off, each step is its own job", async () => {
    const chained = await runWith(60_000, 10);
    await expectEachStepOnce(chained.runId, 21);
    expect(chained.jobs).toBe(1); // the insert's job carried all 21 steps
    expect((await getSteps(db.pool, chained.runId)).every((s) => s.attempt === 1)).toBe(true);

    const unchained = await runWith(0, 10);
    await expectEachStepOnce(unchained.runId, 21);
    expect(unchained.jobs).toBe(21);

    // the same conversation either way: each LLM call had the same index and saw as many
    // messages; each tool call got the same arguments (tool call ids are random)
    const inputs = async (runId: string) =>
      (await getSteps(db.pool, runId)).map((s) => [s.kind, s.kind === "llm" ? s.input : s.input.arguments]);
    expect(await inputs(chained.runId)).toEqual(await inputs(unchained.runId));
  });

  it("hands the run back to the queue when the job's budget is spent", async () => {
    const { runId, jobs } = await runWith(1, 10);
    await expectEachStepOnce(runId, 21);
    expect(jobs).toBeGreaterThan(1); // a budget of 1 ms cannot cover 21 steps
  });

  it("a worker killed mid-chain: its job names the step it had begun, and another worker runs that step, each step once", async () => {
    const agent = await echoAgent(4);
    // step 5 is begun inline, in the commit of step 4; the process dies right after
    const crasher = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: "after_begin:5" });
    processes.add(crasher);
    const runId = await startRun(db.pool, agent, "kill mid-chain");
    const { signal } = await crasher.exited;
    expect(signal, crasher.output()).toBe("SIGKILL");

    const { rows: jobs } = await db.pool.query("select payload, locked_by, attempts from graphile_worker._private_jobs where key = $1", [`run:${runId}`]);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].payload).toEqual({ run_id: runId, seq: 5 });
    expect(jobs[0].locked_by).toBe(crasher.poolId); // until a live worker's sweeper frees it
    expect(await getRun(db.pool, runId)).toMatchObject({ status: "running" });
    expect((await getSteps(db.pool, runId)).map((s) => s.seq)).toEqual([1, 2, 3, 4]);

    const rescuer = await spawnWorker(db.url);
    processes.add(rescuer);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    await expectEachStepOnce(runId, 9);
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 2, 1, 1, 1, 1]);
    await waitFor("no job left", async () => {
      const { rows } = await db.pool.query("select count(*)::int as n from graphile_worker.jobs");
      return rows[0].n === 0;
    });
    rescuer.child.kill("SIGKILL");
  });

  it("a worker that starts shutting down finishes the step in flight and chains no further", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      max_steps: 20,
      script: [
        ...Array.from({ length: 4 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 400 } }] })),
        { text: "done" },
      ],
    });
    let worker: WorkerHandle | null = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 5000, inlineChainMs: 60_000, log });
    const runId = await startRun(db.pool, agent, "drain");
    // under way: its STEP_STARTED is in the log (a step begun but not yet started when the
    // shutdown begins is handed back instead: see runStep)
    await waitFor("the first simulate_work step to be under way", async () => {
      const { rows } = await db.pool.query(
        "select count(*)::int as n from everruns.run_events where run_id = $1 and type = 'STEP_STARTED' and event->>'stepName' like '%simulate_work%'",
        [runId],
      );
      return rows[0].n > 0;
    }, 30_000, 5);
    await worker.stop();
    worker = null;
    // step 2 finished and committed; step 3 was not begun: it waits as a job for any worker
    expect((await getSteps(db.pool, runId)).map((s) => [s.seq, s.attempt])).toEqual([[1, 1], [2, 1]]);
    const { rows: runs } = await db.pool.query("select status, step_cursor, step_attempt from everruns.runs where id = $1", [runId]);
    expect(runs[0]).toEqual({ status: "running", step_cursor: 3, step_attempt: 0 });
    const run = runs[0];
    const { rows: jobs } = await db.pool.query("select payload, locked_by from graphile_worker._private_jobs where key = $1", [`run:${runId}`]);
    expect(jobs).toEqual([{ payload: { run_id: runId, seq: run.step_cursor }, locked_by: null }]);

    worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
    try {
      expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
      expect((await getSteps(db.pool, runId)).map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await worker.stop();
    }
  });
});
