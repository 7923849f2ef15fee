// `everruns load`: the engine under volume, against real worker and API processes.
//
//   concurrentRuns   N runs started at once all complete, nothing lost (wall time, steps/s)
//   parkedRuns       N runs parked on timers, external events and approvals hold no job lock and
//                    no worker (only future jobs for timers and event timeouts; interrupted runs
//                    have no job at all; every worker may even be stopped), and all resume when
//                    woken: timers elapse, everruns.send_event, everruns.resume_run
//   memorySoak       a worker process's resident memory over a few thousand steps (the slope)
//   connectionCensus database connections per process under load, by application_name, against
//                    the bounds docs/deploy.md promises
//
// Every function returns its figures and the problems it found; nothing asserts absolute times.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { assertValidAgUiLog } from "../lib/agui-log.ts";
import { ConfigError } from "../db/errors.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { followRunEvents } from "../api/client.ts";
import {
  connectionsByApplication,
  freePort,
  machineLine,
  percentile,
  rssKiB,
  scratchDatabase,
  sleep,
  slope,
  spawnApiProcess,
  spawnWorkerProcess,
  until,
  type WorkerProcess,
} from "./fleet.ts";

export interface LoadCommon {
  /** A migrated database the load may fill (use a scratch one). */
  databaseUrl: string;
  log: (line: string) => void;
}

async function createAgent(pool: Pool, prefix: string, config: Record<string, unknown>): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
    `${prefix}-${randomBytes(4).toString("hex")}`,
    JSON.stringify(config),
  ]);
  return rows[0]!.id;
}

/** Inserts n runs of an agent in batches (one statement each, as another system would). */
async function insertRuns(pool: Pool, agentId: string, n: number, content = "load"): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < n; done += 1000) {
    const { rows } = await pool.query<{ id: string }>(
      "insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id",
      [agentId, JSON.stringify({ messages: [{ role: "user", content }] }), Math.min(1000, n - done)],
    );
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}

async function countByStatus(pool: Pool, ids: string[]): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ status: string; n: number }>(
    "select status, count(*)::int as n from everruns.runs where id = any($1) group by 1",
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** Waits until every run is in one of `statuses`; returns the counts (problems if it timed out). */
async function waitForAll(pool: Pool, ids: string[], statuses: string[], timeoutMs: number, problems: string[], what: string): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await countByStatus(pool, ids);
    const done = statuses.reduce((n, s) => n + (counts[s] ?? 0), 0);
    if (done === ids.length) return counts;
    if (Date.now() > deadline) {
      problems.push(`${what}: after ${timeoutMs} ms only ${done} of ${ids.length} runs were ${statuses.join("/")} (${JSON.stringify(counts)})`);
      return counts;
    }
    await sleep(100);
  }
}

async function startWorkers(databaseUrl: string, n: number, concurrency: number): Promise<WorkerProcess[]> {
  return Promise.all(Array.from({ length: n }, () => spawnWorkerProcess(databaseUrl, concurrency)));
}

async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop(15_000)));
}

/** Every run's steps are seq 1..k with k as expected, and its event log is valid AG-UI. */
async function checkRuns(pool: Pool, ids: string[], stepsPerRun: number, problems: string[], what: string): Promise<number> {
  const { rows } = await pool.query<{ run_id: string; n: number; max: number }>(
    "select run_id, count(*)::int as n, max(seq) as max from everruns.run_steps where run_id = any($1) group by 1",
    [ids],
  );
  const byRun = new Map(rows.map((r) => [r.run_id, r]));
  let bad = 0;
  for (const id of ids) {
    const r = byRun.get(id);
    if (!r || r.n !== stepsPerRun || r.max !== stepsPerRun) {
      if (++bad <= 5) problems.push(`${what}: run ${id} has ${r?.n ?? 0} steps (max seq ${r?.max ?? 0}), expected 1..${stepsPerRun}`);
    }
  }
  if (bad > 5) problems.push(`${what}: ${bad} runs in all with the wrong steps`);
  // event logs, a page of runs at a time
  for (let i = 0; i < ids.length; i += 500) {
    const page = ids.slice(i, i + 500);
    const { rows: events } = await pool.query<{ run_id: string; seq: number; event: Record<string, unknown> }>(
      "select run_id, seq, event from everruns.run_events where run_id = any($1) order by run_id, seq",
      [page],
    );
    const logs = new Map<string, typeof events>();
    for (const e of events) {
      let list = logs.get(e.run_id);
      if (!list) logs.set(e.run_id, (list = []));
      list.push(e);
    }
    for (const id of page) {
      try {
        await assertValidAgUiLog(logs.get(id) ?? []);
      } catch (error) {
        if (++bad <= 10) problems.push(`${what}: run ${id}: ${(error as Error).message}`);
      }
    }
  }
  return rows.reduce((n, r) => n + r.n, 0);
}

// ─── 1. many concurrent runs ────────────────────────────────────────────────────────────────

export interface ConcurrentRunsOptions extends LoadCommon {
  runs: number;
  workers: number;
  concurrency: number;
  timeoutMs?: number;
}

export interface ConcurrentRunsReport {
  runs: number;
  succeeded: number;
  steps: number;
  expectedSteps: number;
  wallMs: number;
  stepsPerSec: number;
  /** created → finished of each run */
  runLatencyMs: { p50: number; p99: number; max: number };
  jobsLeft: number;
  problems: string[];
}

/** N runs (LLM turn → echo tool → final answer: 3 steps each) inserted at once; all must land. */
export async function concurrentRuns(opts: ConcurrentRunsOptions): Promise<ConcurrentRunsReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  try {
    const agent = await createAgent(pool, "load-concurrent", {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "Echoing.", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "Done." }],
    });
    workers = await startWorkers(opts.databaseUrl, opts.workers, opts.concurrency);
    const t0 = performance.now();
    const ids = await insertRuns(pool, agent, opts.runs);
    const counts = await waitForAll(pool, ids, ["succeeded", "failed", "cancelled"], opts.timeoutMs ?? 600_000, problems, "concurrent runs");
    const wallMs = performance.now() - t0;
    if ((counts.succeeded ?? 0) !== opts.runs) problems.push(`concurrent runs: ${JSON.stringify(counts)} of ${opts.runs}`);
    const steps = await checkRuns(pool, ids, 3, problems, "concurrent runs");
    const { rows: lat } = await pool.query<{ ms: number }>(
      "select extract(epoch from (finished_at - created_at)) * 1000 as ms from everruns.runs where id = any($1) and finished_at is not null",
      [ids],
    );
    const ms = lat.map((r) => r.ms);
    await stopWorkers(workers);
    workers = [];
    const { rows: jobs } = await pool.query<{ n: number }>("select count(*)::int as n from graphile_worker._private_jobs");
    if (jobs[0]!.n > 0) problems.push(`concurrent runs: ${jobs[0]!.n} job(s) left after every run finished`);
    const report: ConcurrentRunsReport = {
      runs: opts.runs,
      succeeded: counts.succeeded ?? 0,
      steps,
      expectedSteps: opts.runs * 3,
      wallMs,
      stepsPerSec: steps / (wallMs / 1000),
      runLatencyMs: { p50: percentile(ms, 50), p99: percentile(ms, 99), max: Math.max(...ms) },
      jobsLeft: jobs[0]!.n,
      problems,
    };
    opts.log(
      `concurrent runs: ${report.succeeded}/${report.runs} succeeded, ${report.steps}/${report.expectedSteps} steps in ${(wallMs / 1000).toFixed(1)} s ` +
        `= ${report.stepsPerSec.toFixed(0)} steps/s (${opts.workers} worker processes x concurrency ${opts.concurrency}); ` +
        `run created→finished p50 ${report.runLatencyMs.p50.toFixed(0)} ms, p99 ${report.runLatencyMs.p99.toFixed(0)} ms; ${report.jobsLeft} jobs left`,
    );
    return report;
  } finally {
    await stopWorkers(workers);
    await pool.end();
  }
}

// ─── 2. parked runs ─────────────────────────────────────────────────────────────────────────

export interface ParkedRunsOptions extends LoadCommon {
  /** runs in all, split evenly across timers, events and approvals */
  runs: number;
  workers: number;
  concurrency: number;
  timeoutMs?: number;
}

export interface ParkedRunsReport {
  timers: number;
  events: number;
  approvals: number;
  timerSeconds: number;
  parkMs: number;
  /** while every run was parked */
  parked: {
    waiting: number;
    interrupted: number;
    running: number;
    jobs: number;
    futureJobs: number;
    lockedJobs: number;
    interruptedWithJob: number;
    workerConnectionsActive: number;
  };
  wakeMs: number;
  resumed: { timers: number; events: number; approvals: number };
  steps: number;
  problems: string[];
}

export async function parkedRuns(opts: ParkedRunsOptions): Promise<ParkedRunsReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  const timeoutMs = opts.timeoutMs ?? 900_000;
  const third = Math.floor(opts.runs / 3);
  const n = { events: third, approvals: third, timers: opts.runs - 2 * third };
  try {
    const eventAgent = await createAgent(pool, "load-event", {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "wake", timeout_seconds: 86_400 } }] }, { text: "Woken." }],
    });
    const approvalAgent = await createAgent(pool, "load-approval", {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { ok: true } }] }, { text: "Approved and done." }],
    });
    workers = await startWorkers(opts.databaseUrl, opts.workers, opts.concurrency);

    // Events and approvals first: their rate tells how long the timers' runs will take to park,
    // and the timers are set to elapse only well after that.
    const t0 = performance.now();
    const eventIds = await insertRuns(pool, eventAgent, n.events, "wait for it");
    const approvalIds = await insertRuns(pool, approvalAgent, n.approvals, "ask first");
    await waitForAll(pool, eventIds, ["waiting"], timeoutMs, problems, "parking event runs");
    await waitForAll(pool, approvalIds, ["interrupted"], timeoutMs, problems, "parking approval runs");
    const perRunMs = (performance.now() - t0) / Math.max(1, n.events + n.approvals);
    const timerSeconds = Math.max(8, Math.ceil((3 * perRunMs * n.timers) / 1000) + 3);
    const timerAgent = await createAgent(pool, "load-timer", {
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: timerSeconds } }] }, { text: "Slept." }],
    });
    const timerIds = await insertRuns(pool, timerAgent, n.timers, "sleep on it");
    await waitForAll(pool, timerIds, ["waiting"], timeoutMs, problems, "parking timer runs");
    const parkMs = performance.now() - t0;
    const all = [...eventIds, ...approvalIds, ...timerIds];

    // Parked: no job locked, no run running, only future jobs (timers and event timeouts), and
    // none at all for interrupted runs. Then every worker is stopped: nothing needs one.
    const census = async () => {
      const { rows } = await pool.query<ParkedRunsReport["parked"]>(
        `select
           (select count(*)::int from everruns.runs where id = any($1) and status = 'waiting') as waiting,
           (select count(*)::int from everruns.runs where id = any($1) and status = 'interrupted') as interrupted,
           (select count(*)::int from everruns.runs where id = any($1) and status in ('queued', 'running')) as running,
           (select count(*)::int from graphile_worker._private_jobs) as jobs,
           (select count(*)::int from graphile_worker._private_jobs where run_at > now()) as "futureJobs",
           (select count(*)::int from graphile_worker._private_jobs where locked_at is not null) as "lockedJobs",
           (select count(*)::int from everruns.runs r where r.id = any($1) and r.status = 'interrupted'
              and exists (select 1 from graphile_worker._private_jobs j where j.key = 'run:' || r.id::text)) as "interruptedWithJob",
           (select count(*)::int from pg_stat_activity where datname = current_database()
              and application_name = 'everruns-worker' and state = 'active') as "workerConnectionsActive"`,
        [all],
      );
      return rows[0]!;
    };
    // graphile-worker deletes a completed job just after its task returns: give the last ones a moment
    const parked = await until("the parked runs' last jobs to complete", async () => {
      const c = await census();
      return c.lockedJobs === 0 && c.jobs === n.timers + n.events ? c : null;
    }, 30_000).catch(() => census());
    const expectJobs = n.timers + n.events;
    if (parked.waiting !== n.timers + n.events) problems.push(`parked: ${parked.waiting} runs waiting, expected ${n.timers + n.events}`);
    if (parked.interrupted !== n.approvals) problems.push(`parked: ${parked.interrupted} runs interrupted, expected ${n.approvals}`);
    if (parked.running !== 0) problems.push(`parked: ${parked.running} runs queued or running`);
    if (parked.lockedJobs !== 0) problems.push(`parked: ${parked.lockedJobs} jobs locked`);
    if (parked.jobs !== expectJobs || parked.futureJobs !== expectJobs) problems.push(`parked: ${parked.jobs} jobs (${parked.futureJobs} in the future), expected ${expectJobs}, all in the future`);
    if (parked.interruptedWithJob !== 0) problems.push(`parked: ${parked.interruptedWithJob} interrupted runs have a job`);
    opts.log(
      `parked ${all.length} runs (${n.timers} on ${timerSeconds} s timers, ${n.events} on events, ${n.approvals} on approvals) in ${(parkMs / 1000).toFixed(1)} s: ` +
        `${parked.waiting} waiting, ${parked.interrupted} interrupted, ${parked.running} running; ${parked.jobs} jobs, ${parked.futureJobs} in the future, ` +
        `${parked.lockedJobs} locked; ${parked.interruptedWithJob} interrupted runs with a job; ${parked.workerConnectionsActive} worker connections active`,
    );
    await stopWorkers(workers);
    workers = [];
    const afterStop = await census();
    if (afterStop.waiting !== parked.waiting || afterStop.interrupted !== parked.interrupted || afterStop.jobs !== parked.jobs || afterStop.lockedJobs !== 0) {
      problems.push(`stopping every worker changed the parked runs: ${JSON.stringify(afterStop)}`);
    }
    opts.log(`every worker stopped: ${afterStop.waiting} waiting, ${afterStop.interrupted} interrupted, ${afterStop.jobs} jobs (${afterStop.futureJobs} in the future), ${afterStop.lockedJobs} locked`);

    // Wake them: fresh workers; events sent; approvals answered; the timers elapse by themselves.
    workers = await startWorkers(opts.databaseUrl, opts.workers, opts.concurrency);
    const t1 = performance.now();
    for (let i = 0; i < eventIds.length; i += 500) {
      const { rows } = await pool.query<{ woke: boolean }>("select everruns.send_event(id, 'wake', '{\"by\": \"load\"}') as woke from unnest($1::uuid[]) id", [
        eventIds.slice(i, i + 500),
      ]);
      const notWoken = rows.filter((r) => !r.woke).length;
      if (notWoken > 0) problems.push(`send_event woke only ${rows.length - notWoken} of ${rows.length} runs`);
    }
    const continuations: string[] = [];
    for (let i = 0; i < approvalIds.length; i += 500) {
      const { rows } = await pool.query<{ id: string }>(
        `select everruns.resume_run(r.id, (select jsonb_agg(jsonb_build_object('interruptId', i ->> 'id', 'status', 'resolved', 'payload', '{"approved": true}'::jsonb))
                                           from jsonb_array_elements(r.interrupts -> 'interrupts') i)) as id
         from everruns.runs r where r.id = any($1)`,
        [approvalIds.slice(i, i + 500)],
      );
      continuations.push(...rows.map((r) => r.id));
    }
    const woken = [...eventIds, ...timerIds, ...continuations];
    await waitForAll(pool, woken, ["succeeded", "failed", "cancelled"], timeoutMs + timerSeconds * 1000, problems, "waking parked runs");
    const wakeMs = performance.now() - t1;
    const counts = {
      timers: (await countByStatus(pool, timerIds)).succeeded ?? 0,
      events: (await countByStatus(pool, eventIds)).succeeded ?? 0,
      approvals: (await countByStatus(pool, continuations)).succeeded ?? 0,
    };
    if (counts.timers !== n.timers || counts.events !== n.events || counts.approvals !== n.approvals) {
      problems.push(`woken: ${JSON.stringify(counts)} succeeded, expected ${JSON.stringify(n)}`);
    }
    let steps = await checkRuns(pool, [...eventIds, ...timerIds], 4, problems, "woken runs"); // llm, wait, tool, llm
    steps += await checkRuns(pool, approvalIds, 2, problems, "approval runs"); // llm, interrupt
    steps += await checkRuns(pool, continuations, 2, problems, "continuations"); // tool, llm
    opts.log(
      `woke them: ${counts.timers}/${n.timers} timers, ${counts.events}/${n.events} events, ${counts.approvals}/${n.approvals} approvals succeeded ` +
        `${(wakeMs / 1000).toFixed(1)} s after the wake-up began (the timers were due ${timerSeconds} s after they parked); ${steps} steps in all`,
    );
    return { ...n, timerSeconds, parkMs, parked, wakeMs, resumed: counts, steps, problems };
  } finally {
    await stopWorkers(workers);
    await pool.end();
  }
}

// ─── 3. memory soak ─────────────────────────────────────────────────────────────────────────

export interface MemorySoakOptions extends LoadCommon {
  /** steps to run through the one worker process */
  steps: number;
  concurrency: number;
  sampleMs?: number;
  /** Cap the worker's V8 old space (--max-old-space-size, MiB): a worker whose live data grew
   *  with the steps it ran would die of it; one that only caches a working set keeps going. */
  heapLimitMb?: number;
}

export interface MemorySoakReport {
  steps: number;
  wallMs: number;
  samples: Array<{ ms: number; steps: number; rssKiB: number }>;
  /** RSS once half of the steps had run (warm), and at the end */
  warmRssKiB: number;
  endRssKiB: number;
  maxRssKiB: number;
  /** least-squares slope of RSS over steps in the second half, in KiB per 1,000 steps */
  slopeKiBPer1000Steps: number;
  problems: string[];
}

export async function memorySoak(opts: MemorySoakOptions): Promise<MemorySoakReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 4);
  const problems: string[] = [];
  let worker: WorkerProcess | null = null;
  try {
    // 20 tool turns + the answer: 41 steps per run, with a streamed text in every turn
    const turns = 20;
    const perRun = 2 * turns + 1;
    const agent = await createAgent(pool, "load-soak", {
      provider: "scripted",
      tools: ["echo"],
      max_steps: 100,
      script: [
        ...Array.from({ length: turns }, (_, i) => ({ text: `Turn ${i}: ${"some words ".repeat(10)}`, tool_calls: [{ name: "echo", arguments: { i, pad: "x".repeat(200) } }] })),
        { text: "Finished." },
      ],
    });
    worker = await spawnWorkerProcess(
      opts.databaseUrl,
      opts.concurrency,
      opts.heapLimitMb ? { env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --max-old-space-size=${opts.heapLimitMb}`.trim() } } : {},
    );
    const runs = Math.ceil(opts.steps / perRun);
    const t0 = performance.now();
    const samples: MemorySoakReport["samples"] = [];
    // keep 2x concurrency runs in flight, so the worker is busy throughout
    const ids: string[] = [];
    let started = 0;
    for (;;) {
      const { rows } = await pool.query<{ active: number; steps: number }>(
        `select (select count(*)::int from everruns.runs where id = any($1) and status not in ('succeeded', 'failed', 'cancelled')) as active,
                (select count(*)::int from everruns.run_steps where run_id = any($1)) as steps`,
        [ids],
      );
      const { active, steps } = rows[0]!;
      const rss = rssKiB(worker.pid);
      if (rss !== null) samples.push({ ms: performance.now() - t0, steps, rssKiB: rss });
      if (started >= runs && active === 0) break;
      if (!worker.alive()) {
        problems.push(`the soak worker died:\n${worker.output().slice(-2000)}`);
        break;
      }
      const want = Math.min(runs - started, 2 * opts.concurrency - active);
      if (want > 0) {
        ids.push(...(await insertRuns(pool, agent, want, "soak")));
        started += want;
      }
      await sleep(opts.sampleMs ?? 250);
    }
    const wallMs = performance.now() - t0;
    const steps = await checkRuns(pool, ids, perRun, problems, "soak");
    const total = samples.at(-1)?.steps ?? 0;
    const warm = samples.filter((s) => s.steps >= total / 2);
    const warmRssKiB = warm[0]?.rssKiB ?? NaN;
    const endRssKiB = samples.at(-1)?.rssKiB ?? NaN;
    const slopeKiBPer1000Steps = slope(warm.map((s) => [s.steps, s.rssKiB])) * 1000;
    const report: MemorySoakReport = {
      steps,
      wallMs,
      samples,
      warmRssKiB,
      endRssKiB,
      maxRssKiB: Math.max(...samples.map((s) => s.rssKiB)),
      slopeKiBPer1000Steps,
      problems,
    };
    opts.log(
      `memory soak: ${steps} steps through one worker process (concurrency ${opts.concurrency}${opts.heapLimitMb ? `, old space capped at ${opts.heapLimitMb} MiB` : ""}) in ${(wallMs / 1000).toFixed(1)} s; ` +
        `RSS ${(warmRssKiB / 1024).toFixed(0)} MiB half way, ${(endRssKiB / 1024).toFixed(0)} MiB at the end, ` +
        `max ${(report.maxRssKiB / 1024).toFixed(0)} MiB; slope over the second half ${slopeKiBPer1000Steps.toFixed(0)} KiB per 1,000 steps (${samples.length} samples)`,
    );
    return report;
  } finally {
    await worker?.stop(15_000);
    await pool.end();
  }
}

// ─── 4. connection census ───────────────────────────────────────────────────────────────────

export interface ConnectionCensusOptions extends LoadCommon {
  workers: number;
  concurrency: number;
  /** SSE followers through the API while the load runs */
  followers: number;
  runs: number;
}

export interface ConnectionCensusReport {
  /** the most connections seen at once, by application_name */
  max: Record<string, number>;
  /** the bounds the sizing in docs/deploy.md promises, by application_name */
  bounds: Record<string, number>;
  samples: number;
  problems: string[];
}

/** The connections each kind of process holds under load, sampled from pg_stat_activity. */
export async function connectionCensus(opts: ConnectionCensusOptions): Promise<ConnectionCensusReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 2);
  const census = createPool(opts.databaseUrl, "everruns-load-census", 1);
  const problems: string[] = [];
  let workers: WorkerProcess[] = [];
  let api: Awaited<ReturnType<typeof spawnApiProcess>> | null = null;
  try {
    const agent = await createAgent(pool, "load-connections", {
      provider: "scripted",
      tools: ["echo", "simulate_work"],
      script: [
        { text: "Working. ".repeat(20), delay_ms: 300, tool_calls: [{ name: "simulate_work", arguments: { ms: 200 } }, { name: "echo", arguments: { a: 1 } }] },
        { text: "More. ".repeat(20), delay_ms: 300, tool_calls: [{ name: "echo", arguments: { b: 2 } }] },
        { text: "Done." },
      ],
    });
    workers = await startWorkers(opts.databaseUrl, opts.workers, opts.concurrency);
    api = await spawnApiProcess(opts.databaseUrl, await freePort());
    const max: Record<string, number> = {};
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const counts = await connectionsByApplication(census);
        for (const [app, n] of Object.entries(counts)) max[app] = Math.max(max[app] ?? 0, n);
        samples++;
        await sleep(50);
      }
    })();
    const ids = await insertRuns(pool, agent, opts.runs, "connections");
    const follow = ids.slice(0, opts.followers).map(async (id) => {
      for await (const _ of followRunEvents(api!.url, id, { retryDelayMs: 100 })) {
        // reading is the load
      }
    });
    // a burst of REST reads on top
    const reads = (async () => {
      for (let i = 0; i < 200; i++) await Promise.all(ids.slice(0, 10).map((id) => fetch(`${api!.url}/api/runs/${id}`).then((r) => r.arrayBuffer())));
    })();
    await waitForAll(pool, ids, ["succeeded", "failed", "cancelled"], 600_000, problems, "connection census runs");
    await Promise.all([...follow, reads]);
    sampling = false;
    await sampler;

    const bounds: Record<string, number> = {
      "everruns-worker": opts.workers * (opts.concurrency + 2),
      "everruns-worker:<pool id> (liveness)": opts.workers,
      "everruns-api": 20,
      "everruns-api-listen": 1,
    };
    for (const [app, bound] of Object.entries(bounds)) {
      if ((max[app] ?? 0) > bound) problems.push(`${max[app]} connections of ${app} at once, over the documented bound ${bound}`);
    }
    if ((max["everruns-worker:<pool id> (liveness)"] ?? 0) !== opts.workers) problems.push(`expected exactly ${opts.workers} liveness connections, saw at most ${max["everruns-worker:<pool id> (liveness)"] ?? 0}`);
    if ((max["everruns-api-listen"] ?? 0) !== 1) problems.push(`expected exactly 1 API LISTEN connection, saw at most ${max["everruns-api-listen"] ?? 0}`);
    opts.log(`connections at most, over ${samples} samples (${opts.workers} workers x concurrency ${opts.concurrency}, 1 API, ${opts.followers} SSE followers, ${opts.runs} runs):`);
    for (const app of Object.keys({ ...bounds, ...max }).sort()) {
      opts.log(`  ${app.padEnd(40)} ${String(max[app] ?? 0).padStart(4)}${bounds[app] !== undefined ? `   (bound ${bounds[app]})` : ""}`);
    }
    return { max, bounds, samples, problems };
  } finally {
    await api?.stop(10_000);
    await stopWorkers(workers);
    await census.end();
    await pool.end();
  }
}

// ─── 5. per-step cost against history size ──────────────────────────────────────────────────

export interface HistoryScalingOptions extends LoadCommon {
  /** total committed steps in the database (other runs' history) at which to measure */
  sizes: number[];
}

export interface HistoryScalingReport {
  /** begin_step's median and fastest time at each size */
  rows: Array<{ steps: number; beginMs: number; minMs: number }>;
  /** begin_step's fastest time at the largest size divided by that at the smallest (the fastest
   *  of many tries is the cost with the least noise from a shared machine) */
  ratio: number;
}

/**
 * What one step's begin_step costs as the database fills with other runs' history. A step's
 * work should depend on its own run only; this fills run_steps with synthetic history of other
 * runs and times begin_step (the real function, in a transaction rolled back) on a run that
 * always has the same 10 committed steps.
 */
export async function historyScaling(opts: HistoryScalingOptions): Promise<HistoryScalingReport> {
  const pool = createPool(opts.databaseUrl, "everruns-load", 2);
  try {
    const agent = await createAgent(pool, "load-history", { provider: "scripted", tools: ["echo"] });
    // runs inserted with no worker running: they stay queued, their steps are written by hand
    const others = await insertRuns(pool, agent, 1000, "history");
    const [probe] = await insertRuns(pool, agent, 1, "probe");
    // seq = from + g: every run of a batch has the same number of steps so far
    const fill = async (runIds: string[], from: number, perRun: number) => {
      await pool.query(
        `insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt, input, output, started_at, finished_at)
         select r.id, $2::int + g, r.workspace_id,
                case when g % 2 = 1 then 'llm' else 'tool' end, case when g % 2 = 1 then 'scripted' else 'echo' end, 'succeeded', 1,
                case when g % 2 = 1 then jsonb_build_object('call_index', ($2::int + g) / 2, 'messages', 1)
                     else '{"tool_call_id": "c", "arguments": {}}'::jsonb end,
                case when g % 2 = 1 then '{"text": "t", "tool_calls": [{"id": "c", "name": "echo", "arguments": {}}]}'::jsonb
                     else '{"tool_call_id": "c", "message_id": "m", "content": "{}", "is_error": false}'::jsonb end,
                now(), now()
         from everruns.runs r, generate_series(1, $3::int) g
         where r.id = any($1::uuid[])`,
        [runIds, from, perRun],
      );
    };
    await fill([probe!], 0, 10);
    const rows: HistoryScalingReport["rows"] = [];
    let have = 10;
    let each = 0; // steps of every other run so far
    for (const size of [...opts.sizes].sort((a, b) => a - b)) {
      const perRun = Math.floor((size - have) / others.length);
      if (perRun > 0) {
        await fill(others, each, perRun);
        each += perRun;
        have += perRun * others.length;
      }
      await pool.query("analyze everruns.run_steps");
      const client = await pool.connect();
      try {
        const time = async () => {
          const t = performance.now();
          await client.query("begin");
          await client.query("select everruns_private.begin_step($1, 1)", [probe]);
          await client.query("rollback");
          return performance.now() - t;
        };
        for (let i = 0; i < 5; i++) await time(); // warm plans and caches
        const samples: number[] = [];
        for (let i = 0; i < 40; i++) samples.push(await time());
        rows.push({ steps: have, beginMs: percentile(samples, 50), minMs: Math.min(...samples) });
      } finally {
        client.release();
      }
    }
    const ratio = rows.at(-1)!.minMs / rows[0]!.minMs;
    opts.log(
      `begin_step of a 10-step run, by committed steps of other runs in the database: ` +
        rows.map((r) => `${r.steps.toLocaleString("en")} → p50 ${r.beginMs.toFixed(2)} ms (min ${r.minMs.toFixed(2)})`).join(", ") +
        `; ratio of the minimums ${ratio.toFixed(1)}x`,
    );
    return { rows, ratio };
  } finally {
    await pool.end();
  }
}

// ─── the command ────────────────────────────────────────────────────────────────────────────

export const LOAD_DEFAULTS = { concurrentRuns: 1000, parkedRuns: 10_000, soakSteps: 20_000, workers: 2, concurrency: 10 };

export const LOAD_USAGE = `everruns load [--runs 1000] [--parked 10000] [--soak-steps 20000] [--heap-limit MiB] [--workers 2] [--concurrency 10]
               [--only concurrent,parked,soak,connections,history]
  concurrent   --runs runs inserted at once all complete; wall time and steps/s
  parked       --parked runs on timers, events and approvals hold no job lock and no worker, then resume
  soak         a worker process's memory (RSS) over --soak-steps steps; the slope (--heap-limit caps
               its V8 old space: a leak would kill it)
  connections  database connections per process under load, against the documented bounds
  history      begin_step's cost as other runs' history grows (0, 20,000 and 200,000 steps)
  Runs on throwaway databases on the server of DATABASE_URL.`;

/** `everruns load [flags]` against the Postgres server of databaseUrl. Returns the exit code. */
export async function loadCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const parse = () =>
    parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h", default: false },
        runs: { type: "string", default: String(LOAD_DEFAULTS.concurrentRuns) },
        parked: { type: "string", default: String(LOAD_DEFAULTS.parkedRuns) },
        "soak-steps": { type: "string", default: String(LOAD_DEFAULTS.soakSteps) },
        "heap-limit": { type: "string" },
        workers: { type: "string", default: String(LOAD_DEFAULTS.workers) },
        concurrency: { type: "string", default: String(LOAD_DEFAULTS.concurrency) },
        only: { type: "string", default: "concurrent,parked,soak,connections,history" },
      },
    });
  let values: ReturnType<typeof parse>["values"];
  try {
    ({ values } = parse());
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${LOAD_USAGE}`);
  }
  if (values.help) {
    log(LOAD_USAGE);
    return 0;
  }
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be a whole number from ${min} to ${max}, got ${v}`);
    return n;
  };
  const parts = new Set(values.only.split(",").map((p) => p.trim()));
  for (const p of parts) if (!["concurrent", "parked", "soak", "connections", "history"].includes(p)) throw new ConfigError(`--only takes concurrent, parked, soak, connections, history; got ${p}`);
  const workers = int("workers", values.workers, 1, 64);
  const concurrency = int("concurrency", values.concurrency, 1, 1000);
  const probe = createPool(databaseUrl, "everruns-load", 1);
  try {
    log(await machineLine(probe));
  } finally {
    await probe.end();
  }
  const problems: string[] = [];
  const fresh = async (fn: (url: string) => Promise<{ problems: string[] }>) => {
    const db = await scratchDatabase(databaseUrl, "everruns_load");
    try {
      problems.push(...(await fn(db.url)).problems);
    } finally {
      await db.drop();
    }
  };
  if (parts.has("concurrent")) await fresh((url) => concurrentRuns({ databaseUrl: url, log, workers, concurrency, runs: int("runs", values.runs, 1, 1_000_000) }));
  if (parts.has("parked")) await fresh((url) => parkedRuns({ databaseUrl: url, log, workers, concurrency, runs: int("parked", values.parked, 3, 1_000_000) }));
  if (parts.has("soak")) {
    const heapLimitMb = values["heap-limit"] === undefined ? undefined : int("heap-limit", values["heap-limit"], 16, 65_536);
    await fresh((url) => memorySoak({ databaseUrl: url, log, concurrency, steps: int("soak-steps", values["soak-steps"], 1, 10_000_000), heapLimitMb }));
  }
  if (parts.has("connections")) await fresh((url) => connectionCensus({ databaseUrl: url, log, workers, concurrency, followers: 20, runs: 200 }));
  if (parts.has("history")) {
    await fresh(async (url) => {
      const r = await historyScaling({ databaseUrl: url, log, sizes: [0, 20_000, 200_000] });
      return { problems: r.ratio > 3 ? [`begin_step costs ${r.ratio.toFixed(1)}x more with 200,000 steps of other runs in the database than with none: a step's cost should not depend on other runs' history`] : [] };
    });
  }
  for (const p of problems) log(`PROBLEM: ${p}`);
  log(problems.length === 0 ? "load: every check held" : `load: ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}
