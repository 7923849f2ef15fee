// Fair execution (issue 14, 000023): a workspace's max_running_runs is never exceeded, a free
// slot goes to the workspace with the least active runs per unit of weight, a run's priority
// moves it ahead within its workspace (and never starves an older one for ever), a waking run
// whose workspace is full waits for a slot, and explain_queue says why a run waits.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";

const INPUT = JSON.stringify({ messages: [{ role: "user", content: "go" }] });

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterEach(async () => {
  // each test starts with every slot free
  await db.pool.query("select everruns.cancel_run(id) from everruns.runs where status in ('queued', 'running', 'waiting')");
});

afterAll(async () => {
  await db?.drop();
});

async function workspace(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`ws_${randomBytes(4).toString("hex")}`]);
  return rows[0]!.id;
}

async function agentIn(ws: string, config: Record<string, unknown> = { provider: "scripted", script: [{ text: "hi" }] }): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    ws,
    `agent_${randomBytes(4).toString("hex")}`,
    JSON.stringify(config),
  ]);
  return rows[0]!.id;
}

async function insertRuns(agent: string, n: number, priority = 0): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    "insert into everruns.runs (agent_id, input, priority) select $1, $2, $4 from generate_series(1, $3) returning id",
    [agent, INPUT, n, priority],
  );
  return rows.map((r) => r.id);
}

async function setLimits(ws: string, limits: Record<string, unknown>): Promise<void> {
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify(limits)]);
}

interface Census {
  active: number;
  pending: number;
  jobs: number;
}

/** Active (admitted and not waiting or ended) and pending (queued, not admitted) runs of a workspace, and their jobs. */
async function census(ws: string): Promise<Census> {
  const { rows } = await db.pool.query<Census>(
    `select count(*) filter (where r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))::int as active,
            count(*) filter (where r.status = 'queued' and r.admitted_at is null)::int as pending,
            count(*) filter (where exists (select from graphile_worker.jobs j where j.key = 'run:' || r.id::text))::int as jobs
       from everruns.runs r where r.workspace_id = $1`,
    [ws],
  );
  return rows[0]!;
}

async function admittedOf(ids: string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns.runs where id = any ($1) and admitted_at is not null order by queue_at", [ids]);
  return rows.map((r) => r.id);
}

describe("without workers (the window is min_window)", () => {
  beforeAll(async () => {
    await db.pool.query("select everruns_private.set_scheduler(true, 6)");
  });

  it("max_running_runs: runs over it stay queued with no job; the transaction that ends one admits the next", async () => {
    const ws = await workspace();
    const agent = await agentIn(ws);
    await setLimits(ws, { max_running_runs: 2 });
    const ids = await insertRuns(agent, 5);
    expect(await census(ws)).toEqual({ active: 2, pending: 3, jobs: 2 });
    // the first two inserted, in order (queue_at follows insertion within a statement)
    expect(await admittedOf(ids)).toEqual(ids.slice(0, 2));

    const client = await db.pool.connect();
    try {
      await client.query("begin");
      await client.query("select everruns.cancel_run($1)", [ids[0]]);
      // inside the cancelling transaction, before it commits: the next run is admitted with its job
      const { rows } = await client.query<{ admitted: boolean; jobs: number }>(
        "select admitted_at is not null as admitted, (select count(*)::int from graphile_worker.jobs j where j.key = 'run:' || $1) as jobs from everruns.runs where id = $1::uuid",
        [ids[2]],
      );
      expect(rows[0]).toEqual({ admitted: true, jobs: 1 });
      await client.query("commit");
    } finally {
      client.release();
    }
    expect(await census(ws)).toEqual({ active: 2, pending: 2, jobs: 2 });

    // a pending run cancelled frees nothing; raising the limit admits at once
    await db.pool.query("select everruns.cancel_run($1)", [ids[4]]);
    expect(await census(ws)).toEqual({ active: 2, pending: 1, jobs: 2 });
    await setLimits(ws, { max_running_runs: 10 });
    expect(await census(ws)).toEqual({ active: 3, pending: 0, jobs: 3 });
    await setLimits(ws, { max_running_runs: null });
  });

  it("fair share: a flood from one workspace takes free slots only until another's runs come; then slots go by weight", async () => {
    const a = await workspace();
    const b = await workspace();
    await setLimits(b, { weight: 2 });
    const agentA = await agentIn(a);
    const agentB = await agentIn(b);
    // the window (6 slots) is A's while only A has work: nothing idles
    const flood = await insertRuns(agentA, 200);
    expect(await census(a)).toMatchObject({ active: 6, pending: 194 });
    const bIds = await insertRuns(agentB, 20);
    expect(await census(b)).toMatchObject({ active: 0, pending: 20 });

    // B's first run takes the very next free slot, ahead of A's 194 older runs
    const aActive = await admittedOf(flood);
    await db.pool.query("select everruns.cancel_run($1)", [aActive[0]]);
    expect(await admittedOf(bIds)).toEqual([bIds[0]]);

    // as A's runs end one by one, the 6 slots settle at 1:2 (A weight 1, B weight 2)
    for (let i = 1; i < 6; i++) await db.pool.query("select everruns.cancel_run($1)", [aActive[i]]);
    expect((await census(a)).active).toBe(2);
    expect((await census(b)).active).toBe(4);
    // an ended B run's slot goes back to B: with it B has (3 + 1) / 2 = 2 per unit of weight, A (2 + 1) / 1 = 3
    await db.pool.query("select everruns.cancel_run($1)", [bIds[0]]);
    expect((await census(b)).active).toBe(4);
    expect((await census(a)).active).toBe(2);

    // clean up: nothing of these workspaces is left in the window for the tests after
    await db.pool.query("select everruns.cancel_run(id) from everruns.runs where workspace_id = any ($1) and status in ('queued', 'running')", [[a, b]]);
  });

  it("priority moves a run ahead of its workspace's older runs, by minutes queued; an older run is never starved", async () => {
    const ws = await workspace();
    await setLimits(ws, { max_running_runs: 1 });
    const agent = await agentIn(ws, { provider: "scripted", script: [{ text: "hi" }], priority: 7 });
    const [first] = await insertRuns(agent, 1, -1);
    const low = await insertRuns(agent, 1000, -1);
    const [high] = await insertRuns(agent, 1, 100);
    // the agent's config.priority when the run gives none
    const [inherited] = await insertRuns(agent, 1);
    const { rows } = await db.pool.query<{ priority: number }>("select priority from everruns.runs where id = $1", [inherited]);
    expect(rows[0]!.priority).toBe(7);

    const explained = await db.pool.query<{ held_by: string; position: number; message: string }>("select * from everruns.explain_queue($1)", [high]);
    expect(explained.rows[0]).toMatchObject({ held_by: "max_running_runs", position: 1 });
    expect(explained.rows[0]!.message).toMatch(/is at max_running_runs 1; next in line/);
    const lowExplained = await db.pool.query<{ position: number }>("select position from everruns.explain_queue($1)", [low[0]]);
    expect(lowExplained.rows[0]!.position).toBe(3); // behind the priority-100 and the priority-7 runs

    await db.pool.query("select everruns.cancel_run($1)", [first]);
    expect(await admittedOf([high!, ...low])).toEqual([high]);

    // a low run that has waited longer than the priority gap goes first: priority is "queued that
    // many minutes earlier", so 101 minutes of waiting outrank a priority-100 run queued now
    await db.pool.query("update everruns.runs set queue_at = queue_at - interval '101 minutes' where id = $1", [low[500]]);
    const [late] = await insertRuns(agent, 1, 100);
    await db.pool.query("select everruns.cancel_run($1)", [high]);
    expect(await admittedOf([late!, low[500]!])).toEqual([low[500]]);
    await db.pool.query("select everruns.cancel_run(id) from everruns.runs where workspace_id = $1 and status in ('queued', 'running')", [ws]);
  });

  it("a waking run whose workspace is at max_running_runs waits queued, keeps what it waited for, and goes on when a slot frees", async () => {
    const ws = await workspace();
    await setLimits(ws, { max_running_runs: 1 });
    const agent = await agentIn(ws);
    const [sleeper] = await insertRuns(agent, 1);
    const begin = async (id: string) =>
      (await db.pool.query<{ begun: { run: { waiting: Record<string, unknown> | null } } | null }>("select everruns_private.begin_step($1) as begun", [id]))
        .rows[0]!.begun;
    expect(await begin(sleeper!)).not.toBeNull();
    // its step parks it on a timer: its slot frees
    await db.pool.query("select everruns_private.commit_step($1, 1, 1, $2, '[]', $3)", [
      sleeper,
      { kind: "wait", name: "sleep", status: "succeeded", input: {}, output: {} },
      { type: "wait", delay_ms: 0, waiting: { type: "timer", note: "kept" } },
    ]);
    expect(await census(ws)).toMatchObject({ active: 0, pending: 0 });
    const [holder] = await insertRuns(agent, 1);
    expect(await census(ws)).toMatchObject({ active: 1, pending: 0 });

    // the timer fires: the workspace is full, so the run goes back to the queue, not admitted
    expect(await begin(sleeper!)).toBeNull();
    const { rows } = await db.pool.query<{ status: string; admitted_at: string | null; waiting: Record<string, unknown> }>(
      "select status, admitted_at, waiting from everruns.runs where id = $1",
      [sleeper],
    );
    expect(rows[0]).toMatchObject({ status: "queued", admitted_at: null, waiting: { type: "timer", note: "kept" } });
    expect((await db.pool.query("select everruns.explain_queue($1)", [sleeper])).rows).toHaveLength(1);

    // the holder ends: the sleeper is admitted in that transaction and begins where it waited
    await db.pool.query("select everruns.cancel_run($1)", [holder]);
    expect(await census(ws)).toMatchObject({ active: 1, pending: 0, jobs: 1 });
    const begun = await begin(sleeper!);
    expect(begun?.run.waiting).toMatchObject({ type: "timer", note: "kept" });
    await db.pool.query("select everruns.cancel_run($1)", [sleeper]);
  });

  it("a run's cancel and inserts into its workspace at its running limit do not deadlock (000024: the limits row before the audit head)", async () => {
    const ws = await workspace();
    await setLimits(ws, { max_running_runs: 1 });
    const agent = await agentIn(ws);
    const [active] = await insertRuns(agent, 2);
    const open = await db.pool.connect();
    const second = await db.pool.connect();
    try {
      // an insert whose transaction stays open holds the limits row and the audit head
      await open.query("begin");
      await open.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agent, INPUT]);
      // another insert waits for the limits row; the cancel of the active run waits behind them
      const inserting = second.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agent, INPUT]);
      await sleep(200);
      const cancelling = db.pool.query("select everruns.cancel_run($1)", [active]);
      await sleep(200);
      await open.query("commit");
      // before 000024: "deadlock detected" between the second insert and the cancel
      await Promise.all([inserting, cancelling]);
    } finally {
      open.release();
      second.release();
    }
    expect(await census(ws)).toMatchObject({ active: 1, pending: 2, jobs: 1 });
  });

  it("a REPEATABLE READ insert whose snapshot predates an admission fails to serialize instead of exceeding max_running_runs", async () => {
    const ws = await workspace();
    await setLimits(ws, { max_running_runs: 1 });
    const agent = await agentIn(ws);
    const [sleeper] = await insertRuns(agent, 1);
    await db.pool.query("select everruns_private.begin_step($1)", [sleeper]);
    await db.pool.query("select everruns_private.commit_step($1, 1, 1, $2, '[]', $3)", [
      sleeper,
      { kind: "wait", name: "sleep", status: "succeeded", input: {}, output: {} },
      { type: "wait", delay_ms: 0, waiting: { type: "timer" } },
    ]);
    const rr = await db.pool.connect();
    try {
      await rr.query("begin isolation level repeatable read");
      await rr.query("select count(*) from everruns.runs where workspace_id = $1", [ws]); // the snapshot: no run active
      // meanwhile the sleeper wakes and takes the workspace's one slot
      expect((await db.pool.query<{ begun: unknown }>("select everruns_private.begin_step($1) as begun", [sleeper])).rows[0]!.begun).not.toBeNull();
      await expect(rr.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [agent, INPUT])).rejects.toMatchObject({ code: "40001" });
      await rr.query("rollback");
    } finally {
      rr.release();
    }
    expect(await census(ws)).toMatchObject({ active: 1, pending: 0 });
  });

  it("the fair-share window counts live workers only: a pool that died idle adds no slot", async () => {
    await db.pool.query("select everruns_private.set_scheduler(true, 6)");
    const gone = new pg.Client({ connectionString: db.url });
    await gone.connect();
    await gone.query("select everruns_private.register_worker('pool-died-idle', 'h', 1, 10000)");
    await gone.end();
    const ws = await workspace();
    const [run] = await insertRuns(await agentIn(ws), 10);
    const { rows } = await db.pool.query<{ slots: number }>("select slots from everruns.explain_queue($1)", [run]);
    expect(rows[0]!.slots).toBe(6);
    expect(await census(ws)).toMatchObject({ active: 6, pending: 4 });
  });

  it("repair gives a run whose job has a task its workspace no longer has (dedicated changed under it) a job of the right task", async () => {
    const ws = await workspace();
    const [run] = await insertRuns(await agentIn(ws), 1);
    // the job of the dedicated task, as one added just before the workspace stopped being dedicated
    await db.pool.query("select graphile_worker.add_job($1, json_build_object('run_id', $2::uuid), job_key => 'run:' || $2)", [`run_step:${ws}`, run]);
    const task = async () =>
      (await db.pool.query<{ task_identifier: string }>("select task_identifier from graphile_worker.jobs where key = 'run:' || $1", [run])).rows.map(
        (r) => r.task_identifier,
      );
    expect(await task()).toEqual([`run_step:${ws}`]);
    // past repair's 5 s gates
    await db.pool.query("update everruns.runs set updated_at = now() - interval '1 minute' where id = $1", [run]);
    await db.pool.query("update everruns_private.maintenance set repaired_at = now() - interval '1 minute'");
    expect((await db.pool.query<{ n: number }>("select everruns_private.repair_orphaned_runs() as n")).rows[0]!.n).toBe(1);
    expect(await task()).toEqual(["run_step"]);
  });

  it("refuses a priority outside -1000..1000 and bad limits, with messages that say what to do", async () => {
    const ws = await workspace();
    const agent = await agentIn(ws);
    await expect(insertRuns(agent, 1, 1001)).rejects.toMatchObject({ code: "EV003", message: "priority must be between -1000 and 1000, got 1001" });
    await expect(setLimits(ws, { weight: 0 })).rejects.toThrow(/weight must be a whole number from 1 to 1000, got 0/);
    await expect(setLimits(ws, { max_running_runs: "3" })).rejects.toThrow(/max_running_runs must be a whole number/);
    await expect(setLimits(ws, { max_parallel: 3 })).rejects.toThrow(/unknown limit max_parallel/);
  });
});

describe("with workers", () => {
  const log = consoleLogger("fair-admission", "warn");
  const workers: WorkerHandle[] = [];

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
  });

  for (const fair of [true, false]) {
    it(`the running limit holds exactly under 8 workers and 4 inserting connections (fair share ${fair ? "on" : "off"}): sampled hundreds of times, never above it; every run ends once`, async () => {
      await db.pool.query("select everruns_private.set_scheduler($1, 256)", [fair]);
      const ws = await workspace();
      const LIMIT = 3;
      await setLimits(ws, { max_running_runs: LIMIT });
      const agent = await agentIn(ws, {
        provider: "scripted",
        tools: [{ name: "sleep" }, { name: "echo" }],
        script: [
          { tool_calls: [{ name: "echo", arguments: { text: "a" } }], delay_ms: 5 },
          { tool_calls: [{ name: "sleep", arguments: { seconds: 0.02 } }] },
          { text: "done", delay_ms: 5 },
        ],
      });
      const pool8 = await Promise.all(
        Array.from({ length: 8 }, () => startWorker({ databaseUrl: db.url, concurrency: 2, dbConnections: 3, shutdownTimeoutMs: 2000, log })),
      );
      workers.push(...pool8);

      const RUNS_PER_INSERTER = 20;
      let inserting = true;
      const inserted: string[] = [];
      const inserters = Array.from({ length: 4 }, async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          for (let n = 0; n < RUNS_PER_INSERTER;) {
            const batch = Math.min(1 + (n % 3), RUNS_PER_INSERTER - n);
            const { rows } = await client.query<{ id: string }>(
              "insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id",
              [agent, INPUT, batch],
            );
            inserted.push(...rows.map((r) => r.id));
            n += batch;
            await sleep(5);
          }
        } finally {
          await client.end();
        }
      });
      const samples: number[] = [];
      const sampler = (async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          for (;;) {
            const { rows } = await client.query<{ active: number; open: number }>(
              `select count(*) filter (where status = 'running' or (status = 'queued' and admitted_at is not null))::int as active,
                      count(*) filter (where status in ('queued', 'running', 'waiting'))::int as open
                 from everruns.runs where workspace_id = $1`,
              [ws],
            );
            samples.push(rows[0]!.active);
            if (!inserting && rows[0]!.open === 0) break;
            await sleep(2);
          }
        } finally {
          await client.end();
        }
      })();
      await Promise.all(inserters);
      inserting = false;
      await Promise.race([sampler, sleep(120_000).then(() => Promise.reject(new Error("runs still open after 120 s")))]);
      await Promise.all(pool8.map((w) => w.stop()));
      workers.splice(workers.indexOf(pool8[0]!), 8);

      expect(samples.length).toBeGreaterThan(200);
      expect(Math.max(...samples)).toBeLessThanOrEqual(LIMIT);
      expect(Math.max(...samples)).toBe(LIMIT); // the limit was reached, not just respected by idling
      expect(inserted).toHaveLength(4 * RUNS_PER_INSERTER);
      // every run succeeded, each step committed once, and each that waited for a slot says so
      const { rows } = await db.pool.query<{ status: string; steps: number; llm: number; admitted_events: number }>(
        `select r.status,
                (select count(*)::int from everruns.run_steps s where s.run_id = r.id) as steps,
                (select count(*)::int from everruns.run_steps s where s.run_id = r.id and s.kind = 'llm') as llm,
                (select count(*)::int from everruns.run_events e where e.run_id = r.id and e.type = 'CUSTOM' and e.event ->> 'name' = 'everruns.admitted') as admitted_events
           from everruns.runs r where r.id = any ($1)`,
        [inserted],
      );
      expect(rows.filter((r) => r.status !== "succeeded")).toEqual([]);
      // 3 LLM calls, the echo, and the sleep's wait and its result: the same for every run
      expect(new Set(rows.map((r) => `${r.llm}/${r.steps}`))).toEqual(new Set(["3/6"]));
      // at most one admission event per run (a run parked on waking is admitted again, silently:
      // its log has its wait), and the runs that waited for their first slot have theirs
      for (const r of rows) expect(r.admitted_events).toBeLessThanOrEqual(1);
      expect(rows.filter((r) => r.admitted_events === 1).length).toBeGreaterThan(0);
    }, 180_000);
  }
});

describe("everruns scheduler", () => {
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), "scheduler", ...args], {
        env: { ...process.env, DATABASE_URL: db.url },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("shows the setting and the window, turns fair share off (admitting what waits) and on, and refuses bad values", async () => {
    await db.pool.query("select everruns_private.set_scheduler(true, 2)");
    const ws = await workspace();
    await insertRuns(await agentIn(ws), 5);
    const shown = await cli([]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/fair share\s+on/);
    expect(shown.stdout).toMatch(/waiting for a slot\s+3/);
    // the workspaces with runs waiting or active: this one, 2 holding the window's slots, 3 waiting
    const name = (await db.pool.query<{ name: string }>("select name from everruns.workspaces where id = $1", [ws])).rows[0]!.name;
    expect(shown.stdout).toMatch(new RegExp(`${name}\\s+3\\s+\\d+ s\\s+2\\s+1\\s+shared`));
    const listed = JSON.parse((await cli(["--json"])).stdout) as { workspaces: Array<{ workspace: string; waiting: number; active: number }> };
    expect(listed.workspaces).toEqual([expect.objectContaining({ workspace: name, waiting: 3, active: 2 })]);

    const off = await cli(["--fair", "off", "--json"]);
    expect(off.code).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ fair: false, minWindow: 2, pending: 0 });
    expect(await census(ws)).toMatchObject({ active: 5, pending: 0, jobs: 5 });
    const on = await cli(["--fair", "on", "--min-window", "256", "--json"]);
    expect(JSON.parse(on.stdout)).toMatchObject({ fair: true, minWindow: 256 });

    for (const [args, message] of [
      [["--fair", "maybe"], /--fair takes on or off, got "maybe"/],
      [["--min-window", "0"], /--min-window takes a whole number from 1/],
      [["extra"], /takes no arguments/],
    ] as const) {
      const bad = await cli([...args]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(message);
    }
  });
});
