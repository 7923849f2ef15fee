// Inline chaining (everruns_private.commit_step_and_begin_next): a worker that commits step n
// begins step n+1 in the same transaction and runs it in the same job, which means "advance
// this run" and so needs no change. Checked by what the database shows: how many jobs a run
// used, what a dead worker's job and its run look like, that every step is committed once, that
// a worker whose job was freed from it is told so, and that a shutting-down worker stops chaining.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getRun,
  getSteps,
  startRun,
  toolInput,
  waitFor,
  waitForStatus,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { startJobHolder, type JobHolder } from "../../db/test/job-holder.ts";
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

/**
 * Counts the jobs added while `fn` runs: graphile-worker's add_job announces every job it adds
 * on the `jobs:insert` channel (with a count), which idle workers listen to.
 */
async function countJobsAdded<T>(fn: () => Promise<T>): Promise<{ result: T; jobs: number }> {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  let jobs = 0;
  listener.on("notification", (msg) => (jobs += (JSON.parse(msg.payload ?? "{}") as { count?: number }).count ?? 0));
  await listener.query('listen "jobs:insert"');
  try {
    const result = await fn();
    await listener.query("select 1"); // notifications sent before this have been delivered
    return { result, jobs };
  } finally {
    await listener.end();
  }
}

async function runWith(inlineChainMs: number, turns: number): Promise<{ runId: string; jobs: number }> {
  const agent = await echoAgent(turns);
  // one slot: while it runs this run, the worker is full, so the job budget (not MAX_CHAIN_MS) applies
  const worker = await startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 2000, inlineChainMs, log });
  try {
    const { result: runId, jobs } = await countJobsAdded(async () => {
      // the same input either way: an LLM step records the characters it sent (docs/context.md)
      const id = await startRun(db.pool, agent, "inline chaining");
      const run = await waitForStatus(db.pool, id, ["succeeded", "failed"]);
      expect(run.status).toBe("succeeded");
      return id;
    });
    return { runId, jobs };
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

/** What everruns_private.commit_step_and_begin_next returns, as the database writes it (db/sql/commitStep.ts parses it). */
interface CommitAndBeginResult {
  committed: boolean;
  job_held?: boolean;
  next?: {
    run: Record<string, unknown>;
    config: unknown;
    llm_count: number;
    history: Array<{ kind: string; step?: { seq: number } }>;
  } | null;
}

describe("everruns_private.commit_step_and_begin_next", () => {
  // no Everruns worker runs during these: a graphile-worker pool takes the run's job and holds
  // it, and the test calls the engine as the worker holding that job would
  const llmStep = { kind: "llm", name: "scripted", status: "succeeded", input: { call_index: 0 }, output: { text: "", tool_calls: [] } };
  let holder: JobHolder;
  beforeAll(async () => {
    holder = await startJobHolder(db.url);
  });
  afterAll(async () => holder?.stop());

  async function heldRun(): Promise<{ runId: string; job: { id: string; locked_by: string } }> {
    const runId = await startRun(db.pool, await echoAgent(2), "by hand");
    const { ref } = await holder.take(runId);
    await db.pool.query("select everruns_private.begin_step($1)", [runId]);
    return { runId, job: ref };
  }
  async function done(runId: string): Promise<void> {
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    holder.release();
    await waitFor("the holder to let the job go", async () => (await jobsOf(runId)).every((j) => j.locked_by === null));
  }
  const call = async (runId: string, attempt: number, job: Record<string, unknown>) =>
    (
      await db.pool.query<{ r: CommitAndBeginResult }>("select everruns_private.commit_step_and_begin_next($1, 1, $2, $3, '[]', $4) as r", [
        runId,
        attempt,
        JSON.stringify(llmStep),
        JSON.stringify(job),
      ])
    ).rows[0]!.r;
  const jobsOf = async (runId: string) =>
    (
      await db.pool.query<{ id: string; locked_by: string | null; attempts: number }>(
        "select id::text, locked_by, attempts from graphile_worker.jobs where key = $1 order by id",
        [`run:${runId}`],
      )
    ).rows;

  it("begins the next step in the commit's transaction and leaves the job as it was", async () => {
    const { runId, job } = await heldRun();
    const result = await call(runId, 1, job);
    expect(result).toMatchObject({ committed: true, job_held: true });
    const next = result.next!;
    expect(next.run).toMatchObject({ id: runId, step_cursor: 2, step_attempt: 1, status: "running", input: null });
    expect(next.config).toBeNull(); // the caller has it
    expect(next.llm_count).toBe(1);
    expect(next.history.map((e) => e.step?.seq ?? e.kind)).toEqual(["input", 1]);
    expect(await jobsOf(runId)).toEqual([{ id: job.id, locked_by: holder.poolId, attempts: 1 }]);
    await done(runId);
  });

  it("enqueues the next step as a job when the job is not this worker's", async () => {
    const { runId, job } = await heldRun();
    const result = await call(runId, 1, { ...job, locked_by: "some-other-pool" });
    expect(result).toEqual({ committed: true, job_held: false, next: null });
    // the held job lost the run's key to a new one, due now
    const jobs = await jobsOf(runId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ locked_by: null, attempts: 0 });
    expect(jobs[0]!.id).not.toBe(job.id);
    const { rows } = await db.pool.query("select step_cursor, step_attempt from everruns.runs where id = $1", [runId]);
    expect(rows[0]).toEqual({ step_cursor: 2, step_attempt: 0 });
    await done(runId);
  });

  it("when a sweeper freed the job meanwhile, the attempt learns it must not complete the job, which carries the run on", async () => {
    for (const via of ["commit_step_and_begin_next", "commit_step", "reschedule_step"] as const) {
      const { runId, job } = await heldRun();
      // a sweeper judged this worker dead (its liveness connection dropped) and freed its job
      await db.pool.query("select graphile_worker.force_unlock_workers($1)", [[holder.poolId]]);
      let result: unknown;
      if (via === "commit_step_and_begin_next") {
        result = await call(runId, 1, job);
        expect(result, via).toEqual({ committed: true, job_held: false, next: null });
      } else if (via === "commit_step") {
        const { rows } = await db.pool.query<{ r: unknown }>("select everruns_private.commit_step($1, 1, 1, $2, '[]', $3, $4) as r", [
          runId,
          JSON.stringify(llmStep),
          JSON.stringify({ type: "continue" }),
          JSON.stringify(job),
        ]);
        expect(rows[0]!.r, via).toEqual({ committed: true, job_held: false });
      } else {
        // a retry of step 1 (or a hand-back at shutdown)
        const { rows } = await db.pool.query<{ r: unknown }>("select everruns_private.reschedule_step($1, 1, 1, 0, true, '[]', $2) as r", [
          runId,
          JSON.stringify(job),
        ]);
        expect(rows[0]!.r, via).toEqual({ rescheduled: true, job_held: false });
      }
      // the freed job is the run's one job, due for any worker: the worker that was told it no
      // longer holds it ends its task with JobTakenOverError instead of completing (deleting) it
      const jobs = await jobsOf(runId);
      expect(
        jobs.map((j) => [j.id, j.locked_by]),
        via,
      ).toEqual([[job.id, null]]);
      const { rows } = await db.pool.query<{ step_cursor: number }>("select step_cursor from everruns.runs where id = $1", [runId]);
      expect(rows[0]!.step_cursor, via).toBe(via === "reschedule_step" ? 1 : 2);
      await done(runId);
    }
  });

  it("writes nothing for an attempt that lost its fence", async () => {
    const { runId, job } = await heldRun();
    await db.pool.query("select everruns_private.begin_step($1)", [runId]); // another attempt begins
    expect(await call(runId, 1, job)).toEqual({ committed: false });
    expect(await getSteps(db.pool, runId)).toEqual([]);
    expect(await jobsOf(runId)).toEqual([{ id: job.id, locked_by: holder.poolId, attempts: 1 }]);
    await done(runId);
  });
});

describe("everruns_private.commit_step: a wait for an event", () => {
  it("ends at once when the event came while the waiting step ran (send_event found the run running)", async () => {
    const runId = await startRun(db.pool, await echoAgent(1), "early event");
    const begin = async () =>
      (await db.pool.query<{ attempt: number }>("select (everruns_private.begin_step($1) -> 'run' ->> 'step_attempt')::int as attempt", [runId])).rows[0]!
        .attempt;
    const commit = (seq: number, attempt: number, step: unknown, next: unknown) =>
      db.pool.query("select everruns_private.commit_step($1, $2, $3, $4, '[]', $5) as r", [runId, seq, attempt, JSON.stringify(step), JSON.stringify(next)]);
    await commit(
      1,
      await begin(),
      { kind: "llm", name: "scripted", status: "succeeded", input: { call_index: 0 }, output: { text: "", tool_calls: [] } },
      { type: "continue" },
    );
    const attempt = await begin();
    // the event arrives while step 2 (the wait_for_event call) is running: nothing to wake yet
    expect((await db.pool.query<{ woke: boolean }>("select everruns.send_event($1, 'paid', '1') as woke", [runId])).rows[0]!.woke).toBe(false);
    await commit(
      2,
      attempt,
      { kind: "wait", name: "wait_for_event", status: "succeeded", output: { tool_call_id: "c1" } },
      {
        type: "wait",
        delay_ms: 3_600_000,
        waiting: { type: "event", name: "paid", tool_call_id: "c1" },
      },
    );
    const { rows } = await db.pool.query("select run_at <= now() as due from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(rows).toEqual([{ due: true }]); // not in an hour
    expect((await getRun(db.pool, runId)).step_cursor).toBe(3);
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
  });
});

describe("a worker judged dead while it lives", () => {
  it("leaves the job freed from it to the run instead of completing it, and the run goes on, each step once", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      max_steps: 10,
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 600 } }] }, { text: "done" }],
    });
    const lines: string[] = [];
    const record = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
    const recording = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
    let worker: WorkerHandle | null = null;
    const state: { stopping: Promise<void> | null } = { stopping: null };
    // concurrency 1: while its one slot runs the step, the worker takes no job, not even the freed
    // one; and once step 2 has committed it stops taking jobs at all, so what its task does with
    // the job it ran in shows in the database
    worker = await startWorker({
      databaseUrl: db.url,
      concurrency: 1,
      shutdownTimeoutMs: 2000,
      inlineChainMs: 60_000,
      log: recording,
      crashPoint: (point, info) => {
        if (point === "after_commit" && info.seq === 2) state.stopping ??= worker!.stop();
      },
    });
    const runId = await startRun(db.pool, agent, "freed while alive");
    try {
      await waitFor(
        "the simulate_work step to be under way",
        async () => {
          const { rows } = await db.pool.query<{ n: number }>(
            "select count(*)::int as n from everruns.run_events where run_id = $1 and type = 'TOOL_CALL_START'",
            [runId],
          );
          return rows[0]!.n > 0;
        },
        30_000,
        5,
      );
      // a sweeper that lost sight of this worker's liveness connection (a partition) frees its job
      await db.pool.query("select graphile_worker.force_unlock_workers($1)", [[worker.poolId]]);
      await waitFor("step 2 to commit", () => state.stopping !== null);
      await state.stopping;
    } finally {
      await worker.stop();
    }
    // step 2 committed (its worker still held the fence); the worker learnt at that commit that the
    // job was no longer its own and left it, where graphile-worker would have deleted it by id
    expect(lines.some((l) => /was freed from this worker while it ran/.test(l))).toBe(true);
    const { rows: jobs } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(jobs).toEqual([{ locked_by: null }]);
    expect((await getRun(db.pool, runId)).step_cursor).toBe(3);

    // any worker carries the run on in that job, without the orphan repair
    worker = await startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 2000, log: recording });
    try {
      expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
    } finally {
      await worker.stop();
    }
    expect((await getSteps(db.pool, runId)).map((s) => [s.seq, s.attempt])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    await assertValidAgUiLog(await getEvents(db.pool, runId));
    expect(lines.filter((l) => /run\(s\) that had no job/.test(l))).toEqual([]);
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
    const inputs = async (runId: string) => (await getSteps(db.pool, runId)).map((s) => [s.kind, s.kind === "llm" ? s.input : toolInput(s).arguments]);
    expect(await inputs(chained.runId)).toEqual(await inputs(unchained.runId));
  });

  it("hands the run back to the queue when the job's budget is spent", async () => {
    const { runId, jobs } = await runWith(1, 10);
    await expectEachStepOnce(runId, 21);
    expect(jobs).toBeGreaterThan(1); // a budget of 1 ms cannot cover 21 steps
  });

  it("a worker killed mid-chain: the run's job stays its one job, and another worker runs the begun step, each step once", async () => {
    const agent = await echoAgent(4);
    // step 5 is begun inline, in the commit of step 4; the process dies right after
    const crasher = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: "after_begin:5" });
    processes.add(crasher);
    const runId = await startRun(db.pool, agent, "kill mid-chain");
    const { signal } = await crasher.exited;
    expect(signal, crasher.output()).toBe("SIGKILL");

    const { rows: jobs } = await db.pool.query("select locked_by, attempts from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    // until a live worker's sweeper frees it; the run's row names the step that was begun
    expect(jobs).toEqual([{ locked_by: crasher.poolId, attempts: 1 }]);
    expect(await getRun(db.pool, runId)).toMatchObject({ status: "running", step_cursor: 5 });
    expect((await getSteps(db.pool, runId)).map((s) => s.seq)).toEqual([1, 2, 3, 4]);

    const rescuer = await spawnWorker(db.url);
    processes.add(rescuer);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    await expectEachStepOnce(runId, 9);
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.attempt)).toEqual([1, 1, 1, 1, 2, 1, 1, 1, 1]);
    await waitFor("no job left", async () => {
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs");
      return rows[0]!.n === 0;
    });
    rescuer.child.kill("SIGKILL");
  });

  it("a worker that starts shutting down finishes the step in flight and chains no further", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      max_steps: 20,
      script: [...Array.from({ length: 4 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 400 } }] })), { text: "done" }],
    });
    let worker: WorkerHandle = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 5000, inlineChainMs: 60_000, log });
    const runId = await startRun(db.pool, agent, "drain");
    // under way: its STEP_STARTED is in the log (a step begun but not yet started when the
    // shutdown begins is handed back instead: see runStep)
    await waitFor(
      "the first simulate_work step to be under way",
      async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          "select count(*)::int as n from everruns.run_events where run_id = $1 and type = 'STEP_STARTED' and event->>'stepName' like '%simulate_work%'",
          [runId],
        );
        return rows[0]!.n > 0;
      },
      30_000,
      5,
    );
    await worker.stop();
    // step 2 finished and committed; step 3 was not begun: it waits as a job for any worker
    expect((await getSteps(db.pool, runId)).map((s) => [s.seq, s.attempt])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const { rows: runs } = await db.pool.query("select status, step_cursor, step_attempt from everruns.runs where id = $1", [runId]);
    expect(runs[0]).toEqual({ status: "running", step_cursor: 3, step_attempt: 0 });
    const { rows: jobs } = await db.pool.query("select locked_by, attempts from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(jobs).toEqual([{ locked_by: null, attempts: 0 }]);

    worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
    try {
      expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
      expect((await getSteps(db.pool, runId)).map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await worker.stop();
    }
  });
});
