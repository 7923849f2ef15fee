// In flight: thousands of slow steps (LLM calls of --turn-ms each) on a few database connections
// (issue 23). Real `everruns worker` processes with --max-in-flight slots and a pool of
// --db-connections; every run inserted by one statement; how close the wall time comes to the
// ideal, how many connections it took, what the workers used (memory, CPU), and, with
// `inflight-kill`, how fast ~1,000 in-flight steps of a kill -9'd worker resume on the survivor,
// each step still committed exactly once.
//
// The slow LLM call is the `scripted` provider's `delay_ms` (a timer in the worker, spread over
// the reply's stream): from the engine's side the same as a slow HTTP call, holding a slot and no
// connection, without the SDK's parsing. The shared fake HTTP server (worker/test/fake-llm-server.ts)
// answers from one queue in arrival order, which cannot script 5,000 interleaved runs turn by turn.
// A run is `turns` LLM calls: turns − 1 that each call the `echo` tool (a tool step, no delay)
// and a final answer, so 2 × turns − 1 steps.
import { createPool, type Pool, type Queryable } from "../../db/pool.ts";
import { benchExactlyOnce, type ExactlyOnce } from "../../db/sql/benchExactlyOnce.ts";
import { benchLlmStepDurations } from "../../db/sql/benchLlmStepDurations.ts";
import { benchResumeLatencies } from "../../db/sql/benchResumeLatencies.ts";
import { benchRunningAttempts } from "../../db/sql/benchRunningAttempts.ts";
import { benchStepTimings, type StepTimings } from "../../db/sql/benchStepTimings.ts";
import { connectionsByApplication } from "../../db/sql/connectionsByApplication.ts";
import { databaseNow } from "../../db/sql/databaseNow.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { seedRuns } from "../../db/sql/seedRuns.ts";
import { freePort } from "../../lib/free-port.ts";
import { sleep } from "../../lib/sleep.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { cpuShares, cpuSnapshot, peakRssMiB, processesNamed, type CpuGroups } from "../harness/machine.ts";
import { spawnApiProcess, spawnWorkerProcess, stopAll, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import { countIn, createAgent, FINISHED } from "../harness/runs.ts";
import { summarize } from "../harness/stats.ts";

export interface InflightShape {
  /** worker processes */
  workers: number;
  /** --max-in-flight of each */
  maxInFlight: number;
}

export interface InflightOptions {
  serverUrl: string;
  /** runs, all inserted by one statement */
  runs: number;
  /** LLM calls per run (the last one answers, each other one calls `echo`) */
  turns: number;
  /** how long each LLM call takes (ms) */
  turnMs: number;
  shapes: InflightShape[];
  /** --db-connections of each worker (and the API's pool) */
  dbConnections: number;
  /** spawn one API process beside the workers, so that the connections counted include its own */
  api: boolean;
  /** give up waiting after so long (ms) and report what was reached */
  timeoutMs: number;
  log: (line: string) => void;
}

/** What a bench of slow runs reached (this one's shapes and the pooler's fleet), from the database clock. */
export interface SlowRunsFigures {
  runs: number;
  /** runs succeeded when the wait ended */
  succeeded: number;
  /** all runs succeeded within the timeout */
  finished: boolean;
  steps: number;
  /** first run's creation to the last step's commit (database clock) */
  seconds: number;
  /** runs × turns × turn-ms ÷ slots (workers × max in flight), and never less than one run's own turns */
  idealSeconds: number;
  stepsPerSec: number;
  gapP50: number;
  gapP99: number;
}

/** SlowRunsFigures of `runs` runs of `turns` LLM calls of turnMs on `slots` slots, from their step timings. */
export function slowRunsFigures(t: StepTimings, runs: number, succeeded: number, turns: number, turnMs: number, slots: number): SlowRunsFigures {
  return {
    runs,
    succeeded,
    finished: succeeded === runs,
    steps: t.steps,
    seconds: Number(t.seconds),
    idealSeconds: Math.max(turns * turnMs, (runs * turns * turnMs) / slots) / 1000,
    stepsPerSec: t.steps / Number(t.seconds),
    gapP50: Number(t.gap_p50),
    gapP99: Number(t.gap_p99),
  };
}

/** One shape's figures; its ExactlyOnce counts (steps committed twice, runs whose steps are not 2 × turns − 1) must be 0. */
export interface InflightRow extends InflightShape, SlowRunsFigures, ExactlyOnce {
  /** begin → commit of the LLM steps (turn-ms of it is the call) */
  llmStepP50: number;
  llmStepP99: number;
  /** the most connections of the workers (and API) at once, and by application_name at that moment */
  peakConnections: number;
  peakByApp: Record<string, number>;
  /** workers × (db connections + 1 LISTEN + 1 liveness) + the API's pool + 1 LISTEN */
  connectionBound: number;
  /** VmHWM of each worker process, MiB */
  workerPeakRssMiB: Array<number | null>;
  apiPeakRssMiB: number | null;
  /** CPU seconds ÷ wall seconds over the measurement: each worker, all postgres processes of the server, the machine (of all cores) */
  workerCpu: Array<number | null>;
  postgresCpu: number | null;
  machineBusy: number | null;
}

/** The agent of every bench run: `turns` LLM calls of turnMs, echo tool steps between them. */
export function inflightConfig(turns: number, turnMs: number): Record<string, unknown> {
  return {
    provider: "scripted",
    tools: ["echo"],
    max_steps: 2 * turns + 10,
    script: [
      ...Array.from({ length: turns - 1 }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }], delay_ms: turnMs })),
      { text: "done", delay_ms: turnMs },
    ],
  };
}

/** A loop the benches run beside their runs (connection censuses): `sample`, then a pause of everyMs, until stopped. */
export interface Sampler {
  /** Ends the loop after its current sample; resolves when it has ended, rejects with the sample's failure. */
  stop(): Promise<void>;
}

export function sampleEvery(everyMs: number, sample: () => Promise<void>): Sampler {
  let running = true;
  const loop = (async () => {
    while (running) {
      await sample();
      await sleep(everyMs);
    }
  })();
  return {
    stop: () => {
      running = false;
      return loop;
    },
  };
}

/**
 * Ends what a bench of worker processes started, in this order: the sampler (it queries one of the
 * pools), the API, the workers, then the bench's pools.
 */
export async function stopFleet(sampler: Sampler | null, api: ApiProcess | null, workers: WorkerProcess[], pools: Pool[]): Promise<void> {
  await sampler?.stop().catch(() => undefined);
  await api?.stop(10_000);
  await stopAll(workers, 15_000);
  for (const p of pools) await p.end();
}

/** CPU groups of a shape: each worker on its own, and every postgres process of this machine (the server runs on 127.0.0.1 here). */
function cpuGroups(workers: WorkerProcess[]): CpuGroups {
  return {
    ...Object.fromEntries(workers.map((w, i) => [`worker ${i}`, () => [w.pid]])),
    postgres: () => processesNamed("postgres"),
  };
}

// --- the parts ---------------------------------------------------------------------------------

const fmt = (n: number | null, digits = 0) => (n === null || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const pct = (n: number | null) => (n === null ? "n/a" : `${Math.round(n * 100)} %`);

/** Waits for every run to finish (or the deadline); a worker that dies fails the bench. */
async function waitFinished(db: Queryable, ids: string[], workers: WorkerProcess[], timeoutMs: number): Promise<Record<string, number>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const counts = await runStatusCounts(db, ids);
    if (countIn(counts, FINISHED) === ids.length || performance.now() > deadline) return counts;
    for (const w of workers) if (!w.alive()) throw new Error(`a bench worker died:\n${w.output().slice(-2000)}`);
    await sleep(250);
  }
}

/** When the runs did not finish: what each worker said last (its warnings and errors). */
function logWorkerTail(log: (line: string) => void, workers: WorkerProcess[]): void {
  for (const w of workers) {
    const lines = w
      .output()
      .split("\n")
      .filter((l) => /warn|error|fail/i.test(l));
    log(`    worker ${w.poolId} (pid ${w.pid}): ${lines.length} warning/error lines kept; the last ones:`);
    for (const l of lines.slice(-8)) log(`      ${l.slice(0, 400)}`);
  }
}

async function shapeRow(opts: InflightOptions, shape: InflightShape): Promise<InflightRow> {
  return withScratchDatabase(opts.serverUrl, "everruns_bench", async (url) => {
    const pool = createPool(url, "everruns-bench", 2);
    const census = createPool(url, "everruns-bench-census", 1);
    const workers: WorkerProcess[] = [];
    let api: ApiProcess | null = null;
    let sampler: Sampler | null = null;
    try {
      const agent = await createAgent(pool, "bench-inflight", inflightConfig(opts.turns, opts.turnMs));
      const env = { WORKER_DB_CONNECTIONS: String(opts.dbConnections), API_DB_CONNECTIONS: String(opts.dbConnections) };
      // `everruns worker --concurrency N` (the former name of --max-in-flight) with WORKER_DB_CONNECTIONS
      workers.push(...(await Promise.all(Array.from({ length: shape.workers }, () => spawnWorkerProcess(url, shape.maxInFlight, { env })))));
      if (opts.api) api = await spawnApiProcess(url, await freePort(), { env });

      // connections of everything but the bench itself, every 100 ms; the peak is of the sum at one moment
      let peak = 0;
      let peakByApp: Record<string, number> = {};
      sampler = sampleEvery(100, async () => {
        const counts = await connectionsByApplication(census);
        const ours = Object.fromEntries(Object.entries(counts).filter(([app]) => !app.startsWith("everruns-bench")));
        const total = Object.values(ours).reduce((a, b) => a + b, 0);
        if (total > peak) [peak, peakByApp] = [total, ours];
      });

      const groups = cpuGroups(workers);
      const before = cpuSnapshot(groups);
      const ids = await seedRuns(pool, agent, opts.runs, "inflight"); // one statement
      const counts = await waitFinished(pool, ids, workers, opts.timeoutMs);
      const after = cpuSnapshot(groups);
      if (countIn(counts, FINISHED) < ids.length) logWorkerTail(opts.log, workers);
      const workerPeakRssMiB = workers.map((w) => peakRssMiB(w.pid));
      const apiPeakRssMiB = api ? peakRssMiB(api.pid) : null;
      await sampler.stop();

      const t = await benchStepTimings(pool, ids);
      const llm = await benchLlmStepDurations(pool, ids);
      const once = await benchExactlyOnce(pool, ids, 2 * opts.turns - 1);
      const cpu = cpuShares(before, after);
      return {
        ...shape,
        ...slowRunsFigures(t, opts.runs, counts.succeeded ?? 0, opts.turns, opts.turnMs, shape.workers * shape.maxInFlight),
        llmStepP50: llm.p50,
        llmStepP99: llm.p99,
        peakConnections: peak,
        peakByApp,
        connectionBound: shape.workers * (opts.dbConnections + 2) + (api ? opts.dbConnections + 1 : 0),
        workerPeakRssMiB,
        apiPeakRssMiB,
        workerCpu: workers.map((_, i) => cpu.groups[`worker ${i}`] ?? null),
        postgresCpu: cpu.groups.postgres ?? null,
        machineBusy: cpu.machine,
        ...once,
      };
    } finally {
      await stopFleet(sampler, api, workers, [census, pool]);
    }
  });
}

/**
 * Each shape (worker processes × max in flight) on a fresh database: opts.runs runs of
 * opts.turns slow LLM calls, inserted at once, until all succeeded (or opts.timeoutMs).
 */
export async function runInflightBench(opts: InflightOptions): Promise<InflightRow[]> {
  const rows: InflightRow[] = [];
  const steps = 2 * opts.turns - 1;
  opts.log(
    `inflight: ${opts.runs} runs of ${opts.turns} LLM calls of ${opts.turnMs} ms each (scripted provider's delay_ms; an echo tool step after each but the last: ${steps} steps a run), ` +
      `inserted by one statement; --db-connections ${opts.dbConnections} per worker${opts.api ? ", one API process beside them (its pool as large)" : ""}; a fresh database per shape`,
  );
  for (const shape of opts.shapes) {
    const r = await shapeRow(opts, shape);
    rows.push(r);
    const by = Object.entries(r.peakByApp)
      .map(([app, n]) => `${app} ${n}`)
      .join(", ");
    opts.log(`  ${shape.workers} worker process(es) × max in flight ${shape.maxInFlight}:`);
    opts.log(
      r.finished
        ? `    all ${r.runs} runs succeeded: ${r.steps} steps in ${r.seconds.toFixed(1)} s = ${r.stepsPerSec.toFixed(0)} steps/s; ideal ${r.idealSeconds.toFixed(1)} s: ${(r.seconds / r.idealSeconds).toFixed(2)}× the ideal`
        : `    NOT FINISHED after ${opts.timeoutMs / 1000} s: ${r.succeeded} of ${r.runs} runs succeeded, ${r.steps} of ${r.runs * steps} steps committed (${r.stepsPerSec.toFixed(0)} steps/s over ${r.seconds.toFixed(1)} s)`,
    );
    opts.log(
      `    step→next step p50 ${fmt(r.gapP50, 1)} ms, p99 ${fmt(r.gapP99, 1)} ms; LLM step begin→commit p50 ${fmt(r.llmStepP50)} ms, p99 ${fmt(r.llmStepP99)} ms (the call itself ${opts.turnMs} ms)`,
    );
    opts.log(`    connections at most ${r.peakConnections} at once (${by}); bound ${r.connectionBound}`);
    opts.log(
      `    peak RSS (VmHWM): worker(s) ${r.workerPeakRssMiB.map((m) => `${fmt(m)} MiB`).join(", ")}${opts.api ? `; API ${fmt(r.apiPeakRssMiB)} MiB` : ""}`,
    );
    opts.log(
      `    CPU (share of one core over the run): worker(s) ${r.workerCpu.map(pct).join(", ")}; postgres (all its processes on the server) ${pct(r.postgresCpu)}; machine busy ${pct(r.machineBusy)} of its cores`,
    );
    opts.log(`    exactly once: ${r.duplicateCommits} steps committed twice, ${r.wrongStepCounts} runs with a step count other than ${steps}`);
    if (r.duplicateCommits > 0 || r.wrongStepCounts > 0) throw new Error(`inflight: a step was committed more than once or is missing (${JSON.stringify(r)})`);
  }
  opts.log("");
  opts.log(
    "| workers × max in flight | runs × turns × turn | steps | wall | ideal | ÷ ideal | steps/s | step→next p50 / p99 | LLM step p99 | peak connections (bound) | worker peak RSS | worker CPU | postgres CPU |",
  );
  opts.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    opts.log(
      `| ${r.workers} × ${r.maxInFlight} | ${r.runs} × ${opts.turns} × ${opts.turnMs} ms | ${r.steps}${r.finished ? "" : " (unfinished)"} | ${r.seconds.toFixed(1)} s | ${r.idealSeconds.toFixed(1)} s | ${(r.seconds / r.idealSeconds).toFixed(2)}× | ${r.stepsPerSec.toFixed(0)} | ${fmt(r.gapP50, 1)} / ${fmt(r.gapP99, 0)} ms | ${fmt(r.llmStepP99)} ms | ${r.peakConnections} (${r.connectionBound}) | ${r.workerPeakRssMiB.map((m) => fmt(m)).join(", ")} MiB | ${r.workerCpu.map(pct).join(", ")} | ${pct(r.postgresCpu)} |`,
    );
  }
  return rows;
}

export interface InflightKillOptions {
  serverUrl: string;
  runs: number;
  turns: number;
  turnMs: number;
  /** --max-in-flight of each of the two workers */
  maxInFlight: number;
  dbConnections: number;
  timeoutMs: number;
  log: (line: string) => void;
}

export interface InflightKillResult extends ExactlyOnce {
  /** attempts worker A was running when it was killed (counted just before) */
  inFlightAtKill: number;
  /** runs whose step the kill interrupted */
  interrupted: number;
  /** per interrupted run, ms from the kill to the sweeper freeing its job */
  freedMs: number[];
  /** per interrupted run, ms from the kill to its next attempt on the survivor */
  resumeMs: number[];
  finished: boolean;
  seconds: number;
}

/**
 * Two workers × maxInFlight; once worker A runs about as many steps as it can (90 % of its share),
 * it is kill -9'd. Per interrupted run: kill → the next attempt begun on the survivor (database
 * clock), and every step committed exactly once.
 */
export async function runInflightKillBench(opts: InflightKillOptions): Promise<InflightKillResult> {
  return withScratchDatabase(opts.serverUrl, "everruns_bench", async (url) => {
    const pool = createPool(url, "everruns-bench", 2);
    const workers: WorkerProcess[] = [];
    try {
      const agent = await createAgent(pool, "bench-inflight-kill", inflightConfig(opts.turns, opts.turnMs));
      const env = { WORKER_DB_CONNECTIONS: String(opts.dbConnections) };
      workers.push(...(await Promise.all([0, 1].map(() => spawnWorkerProcess(url, opts.maxInFlight, { env })))));
      const [a, b] = workers as [WorkerProcess, WorkerProcess];
      const target = Math.floor(0.9 * Math.min(opts.maxInFlight, Math.ceil(opts.runs / 2)));
      const ids = await seedRuns(pool, agent, opts.runs, "inflight-kill");
      // A's running attempts, until the target (or 60 s: then kill with what it has, and say so)
      let inFlight = 0;
      const waitUntil = performance.now() + 60_000;
      while ((inFlight = await benchRunningAttempts(pool, a.poolId)) < target && performance.now() < waitUntil) await sleep(20);
      const killedAt = await databaseNow(pool);
      await a.kill9();
      const counts = await waitFinished(pool, ids, [b], opts.timeoutMs);
      if (countIn(counts, FINISHED) < ids.length) logWorkerTail(opts.log, [b]);
      const t = await benchStepTimings(pool, ids);
      const { interrupted, freed, resumed } = await benchResumeLatencies(pool, ids, a.poolId, killedAt);
      const once = await benchExactlyOnce(pool, ids, 2 * opts.turns - 1);
      const finished = (counts.succeeded ?? 0) === ids.length;
      const steps = 2 * opts.turns - 1;
      opts.log(
        `inflight-kill: ${opts.runs} runs of ${opts.turns} LLM calls of ${opts.turnMs} ms (${steps} steps a run), 2 workers × max in flight ${opts.maxInFlight}, --db-connections ${opts.dbConnections}; ` +
          `worker A kill -9'd with ${inFlight} attempts running (target ${target})`,
      );
      opts.log(`  detection, kill → the sweeper frees the interrupted attempt's job: ${summarize(freed)}`);
      opts.log(
        `  resume, kill → the interrupted run's next attempt begun on the survivor (busy with its own share of the runs: freed runs wait for its free slots and connections): ` +
          `${summarize(resumed)}; ${interrupted - resumed.length} of ${interrupted} interrupted runs never resumed`,
      );
      opts.log(
        finished
          ? `  all ${ids.length} runs succeeded, ${t.steps} steps, ${Number(t.seconds).toFixed(1)} s from the insert to the last commit (ideal without the kill ${((opts.turns * opts.turnMs * Math.max(1, opts.runs / (2 * opts.maxInFlight))) / 1000).toFixed(1)} s)`
          : `  NOT FINISHED after ${opts.timeoutMs / 1000} s: ${JSON.stringify(counts)}`,
      );
      opts.log(`  exactly once: ${once.duplicateCommits} steps committed twice, ${once.wrongStepCounts} runs with a step count other than ${steps}`);
      if (once.duplicateCommits > 0 || once.wrongStepCounts > 0 || interrupted !== resumed.length) {
        throw new Error("inflight-kill: a step was committed twice, a run has the wrong number of steps, or an interrupted run never resumed (see above)");
      }
      return { inFlightAtKill: inFlight, interrupted, freedMs: freed, resumeMs: resumed, finished, ...once, seconds: Number(t.seconds) };
    } finally {
      await stopAll(workers, 15_000);
      await pool.end();
    }
  });
}
