// Everruns through PgBouncer (transaction mode) on a small Postgres (issue 23), on a throwaway
// cluster of its own (max_connections as given, 50 by default) so that nobody else's connections
// move the counts. Two parts:
//
//   cost   per-step cost of one worker process with DATABASE_URL straight to the server next to
//          the same worker through PgBouncer (DATABASE_DIRECT_URL to the server), alternating in
//          the same run: runs of short steps (scripted provider, no delay; echo tool turns), the
//          ms per step from the database clock, and their ratio. Each statement through the
//          pooler crosses one more process and socket: that is what the ratio prices.
//   fleet  many worker processes × many slots in flight (10 × 200 by default) and one API, all
//          through one PgBouncer whose server pool fits in max_connections: runs of slow LLM turns
//          (the scripted provider's delay_ms), wall time next to the ideal, the most server
//          connections at once (pg_stat_activity of the whole cluster every 100 ms: by
//          application_name, backend type, and whether PgBouncer holds it), every run succeeded
//          and every step committed once, and where the CPU went.
//
// The slow LLM call is the scripted provider's delay_ms, as in inflight.ts (its agent config is
// reused): the shared fake HTTP server answers from one queue in arrival order and cannot script
// thousands of interleaved runs.
//
// What counts against the server's connection budget when everything is pooled: each worker
// checks the budget at start on the direct URL, wanting 1 (its liveness connection, which also
// LISTENs); the API wants 1 (its LISTEN). PgBouncer's server connections take the
// application_name of their last client (everruns-worker, everruns-api), so they count as
// Everruns' too: processes × 1 + the server pool + this bench's own must fit in
// max_connections − superuser_reserved_connections − EVERRUNS_DB_RESERVED_CONNECTIONS.
import { readdirSync } from "node:fs";
import { createPool, type Queryable } from "../../db/pool.ts";
import { benchBackendPid } from "../../db/sql/benchBackendPid.ts";
import { benchClusterConnections } from "../../db/sql/benchClusterConnections.ts";
import { benchExactlyOnce, type ExactlyOnce } from "../../db/sql/benchExactlyOnce.ts";
import { benchStepBreakdown } from "../../db/sql/benchStepBreakdown.ts";
import { benchStepTimings, type StepTimings } from "../../db/sql/benchStepTimings.ts";
import { readConnectionCensus } from "../../db/sql/connectionBudget.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { freePort } from "../../lib/free-port.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { childrenOf, cpuShares, cpuSnapshot, machineLine, parentPid, type CpuGroups } from "../harness/machine.ts";
import { startPgBouncer, type PgBouncer } from "../harness/pgbouncer.ts";
import { spawnApiProcess, spawnWorkerProcess, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import { countIn, createAgent, FINISHED, insertRuns } from "../harness/runs.ts";
import { median } from "../harness/stats.ts";
import { startThrowawayCluster, type ThrowawayCluster } from "../harness/throwaway-cluster.ts";
import { until } from "../harness/wait.ts";
import { inflightConfig, sampleEvery, slowRunsFigures, stopFleet, type Sampler, type SlowRunsFigures } from "./inflight.ts";
import { echoChainConfig } from "./ratio.ts";

/** The flags of `everruns bench --only pooler` (scripts/harness/args.ts specs), to spread into the bench's spec. */
export const POOLER_FLAGS = {
  "pooler-parts": { type: "choices", default: ["cost", "fleet"], choices: ["cost", "fleet"] },
  "pooler-max-connections": { type: "int", default: 50, min: 20, max: 10_000 },
  "pooler-pool-size": { type: "int", default: 20, min: 1, max: 10_000 },
  "pooler-max-client-conn": { type: "int", default: 2000, min: 10, max: 100_000 },
  "pooler-reserved-connections": { type: "int", min: 0, max: 10_000 },
  "pooler-db-connections": { type: "int", default: 10, min: 1, max: 1000 },
  "pooler-steps": { type: "int", default: 101, min: 3, max: 100_000 },
  "pooler-cost-runs": { type: "ints", default: [1, 10], min: 1, max: 10_000 },
  "pooler-repeat": { type: "int", default: 5, min: 1, max: 100 },
  "pooler-concurrency": { type: "int", default: 10, min: 1, max: 1000 },
  "pooler-workers": { type: "int", default: 10, min: 1, max: 64 },
  "pooler-max-in-flight": { type: "int", default: 200, min: 1, max: 20_000 },
  "pooler-runs": { type: "int", default: 2000, min: 1, max: 1_000_000 },
  "pooler-turns": { type: "int", default: 3, min: 1, max: 500 },
  "pooler-turn-ms": { type: "int", default: 1000, min: 0, max: 600_000 },
  "pooler-timeout-s": { type: "int", default: 600, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const POOLER_USAGE = `  pooler    a throwaway cluster with --pooler-max-connections (50) and PgBouncer in transaction mode
            in front (--pooler-pool-size 20 server connections, --pooler-max-client-conn 2000);
            --pooler-parts cost,fleet:
            cost: per-step cost of one worker process (--pooler-concurrency 10) direct next to through
            PgBouncer, --pooler-repeat alternating rounds, runs of --pooler-steps echo steps, one row
            per --pooler-cost-runs (1,10) runs at once: ms per step each and the ratio
            fleet: --pooler-workers (10) worker processes x --pooler-max-in-flight (200), each with
            --pooler-db-connections (10) to PgBouncer and DATABASE_DIRECT_URL to the cluster, and one
            API: --pooler-runs (2000) runs of --pooler-turns (3) LLM calls of --pooler-turn-ms (1000):
            wall next to the ideal, the most server connections at once (pg_stat_activity every
            100 ms, by application_name, backend type, PgBouncer's or direct), every run succeeded
            and every step once, CPU per process group; --pooler-reserved-connections sets the
            processes' EVERRUNS_DB_RESERVED_CONNECTIONS (default theirs, 10); gives up after
            --pooler-timeout-s (600)`;

/** PoolerOptions from the parsed POOLER_FLAGS. */
export function poolerOptionsFromFlags(flags: Flags<typeof POOLER_FLAGS>, log: (line: string) => void): PoolerOptions {
  return {
    parts: flags["pooler-parts"] as ReadonlySet<"cost" | "fleet">,
    maxConnections: flags["pooler-max-connections"],
    poolSize: flags["pooler-pool-size"],
    maxClientConn: flags["pooler-max-client-conn"],
    ...(flags["pooler-reserved-connections"] !== undefined && { reservedConnections: flags["pooler-reserved-connections"] }),
    dbConnections: flags["pooler-db-connections"],
    costSteps: flags["pooler-steps"],
    costRuns: flags["pooler-cost-runs"],
    costRepeat: flags["pooler-repeat"],
    costConcurrency: flags["pooler-concurrency"],
    workers: flags["pooler-workers"],
    maxInFlight: flags["pooler-max-in-flight"],
    runs: flags["pooler-runs"],
    turns: flags["pooler-turns"],
    turnMs: flags["pooler-turn-ms"],
    timeoutMs: flags["pooler-timeout-s"] * 1000,
    log,
  };
}

export interface PoolerOptions {
  /** which parts to run */
  parts: ReadonlySet<"cost" | "fleet">;
  /** the cluster's max_connections */
  maxConnections: number;
  /** PgBouncer's default_pool_size (server connections per database and user) and max_client_conn */
  poolSize: number;
  maxClientConn: number;
  /** EVERRUNS_DB_RESERVED_CONNECTIONS for the spawned workers and API; undefined: their default (10) */
  reservedConnections?: number;

  // cost
  /** steps per run (echo tool turns, then the answer) */
  costSteps: number;
  /** runs at once in each round, one row each (1: a step's latency; 10: steps side by side) */
  costRuns: number[];
  /** rounds of each (direct, pooled), alternating */
  costRepeat: number;
  /** --max-in-flight of the one worker */
  costConcurrency: number;

  // fleet
  workers: number;
  /** --max-in-flight of each worker */
  maxInFlight: number;
  /** --db-connections of each worker (to PgBouncer) and the API's pool */
  dbConnections: number;
  runs: number;
  /** LLM calls per run (each but the last calls `echo`): 2 × turns − 1 steps */
  turns: number;
  turnMs: number;
  /** give up waiting for the runs after so long */
  timeoutMs: number;

  log: (line: string) => void;
}

export interface CostRow {
  runs: number;
  steps: number;
  /** median ms per step (first run's creation to last commit ÷ steps, database clock) */
  directMsPerStep: number;
  pooledMsPerStep: number;
  /** pooled ÷ direct */
  ratio: number;
  /** every round, in the order run */
  rounds: Array<{ pooled: boolean; msPerStep: number; stepP50: number }>;
  /** median of the rounds' median begin → commit of one step, ms */
  directStepP50: number;
  pooledStepP50: number;
}

/** The fleet's figures; its ExactlyOnce counts must be 0. */
export interface FleetResult extends SlowRunsFigures, ExactlyOnce {
  /** the most client backends of the cluster at one moment, and what they were at that moment */
  peak: ConnectionSample;
  /** the most of each kind seen in any sample */
  peakPooled: number;
  peakDirect: Record<string, number>;
  peakBackgroundTypes: Record<string, number>;
  /** PgBouncer: the most clients waiting for a server connection at once, and the longest wait (s) */
  peakClientsWaiting: number;
  peakMaxWaitSeconds: number;
}

// --- connections of the cluster ------------------------------------------------------------

export interface ConnectionSample {
  /** client backends of the whole cluster (what max_connections bounds) */
  clients: number;
  /** of them, PgBouncer's server connections (by the application_name of their last client) */
  pooled: Record<string, number>;
  /** of them, connections straight to the server, by application_name (liveness collapsed) */
  direct: Record<string, number>;
  /** other backends (autovacuum, walwriter...), by backend_type: not in max_connections' count */
  background: Record<string, number>;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** One look at pg_stat_activity of every database (this sampler's own connection included); PgBouncer's server connections are those whose client port it lists (SHOW SERVERS, before and after). */
async function sampleConnections(census: Queryable, bouncer: PgBouncer): Promise<ConnectionSample> {
  const before = await bouncer.serverPorts();
  const rows = await benchClusterConnections(census);
  const ports = new Set([...before, ...(await bouncer.serverPorts())]);
  const s: ConnectionSample = { clients: 0, pooled: {}, direct: {}, background: {} };
  for (const r of rows) {
    if (r.backend_type !== "client backend") s.background[r.backend_type] = (s.background[r.backend_type] ?? 0) + 1;
    else {
      s.clients++;
      const into = r.client_port !== null && ports.has(r.client_port) ? s.pooled : s.direct;
      into[r.app] = (into[r.app] ?? 0) + 1;
    }
  }
  return s;
}

const fmtCounts = (r: Record<string, number>) =>
  Object.entries(r)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(", ") || "none";

// --- the bench's own reads (database clock, these runs only) --------------------------------

/**
 * Where a step's time went, per kind: begin → commit p50/p99 (an LLM step's includes its call),
 * the gap before the next step by transition, and the attempts that did not commit, by outcome.
 */
async function stepBreakdown(db: Queryable, runIds: string[]): Promise<{ lines: string[] }> {
  const rows = await benchStepBreakdown(db, runIds);
  return {
    lines: rows.map((r) =>
      r.p50 === null ? `${r.what}: ${r.n}` : `${r.what}: p50 ${Number(r.p50).toFixed(1)} ms, p99 ${Number(r.p99).toFixed(1)} ms (n=${r.n})`,
    ),
  };
}

/** Waits until every run finished (or the deadline); a process that dies fails the bench, with its last output. */
async function waitFinished(db: Queryable, ids: string[], processes: Array<WorkerProcess | ApiProcess>, timeoutMs: number): Promise<Record<string, number>> {
  let counts: Record<string, number> = {};
  await until(
    "the bench runs to finish",
    async () => {
      counts = await runStatusCounts(db, ids);
      if (countIn(counts, FINISHED) === ids.length) return true;
      for (const p of processes) if (!p.alive()) throw new Error(`a bench process (pid ${p.pid}) died:\n${p.output().slice(-3000)}`);
      return false;
    },
    timeoutMs,
    200,
  ).catch((error: unknown) => {
    if (!(error instanceof Error) || !error.message.startsWith("timed out")) throw error;
  });
  return counts;
}

/** The environment of an Everruns process whose queries go through the pooler and whose LISTEN, liveness and checks go direct. */
function pooledEnv(bouncerUrl: string, directUrl: string, opts: PoolerOptions): Record<string, string> {
  return {
    DATABASE_URL: bouncerUrl,
    DATABASE_DIRECT_URL: directUrl,
    WORKER_DB_CONNECTIONS: String(opts.dbConnections),
    API_DB_CONNECTIONS: String(opts.dbConnections),
    ...(opts.reservedConnections !== undefined && { EVERRUNS_DB_RESERVED_CONNECTIONS: String(opts.reservedConnections) }),
  };
}

/** The "connection budget: …" line a process logged at start. */
function budgetLine(p: WorkerProcess | ApiProcess): string {
  return /connection budget: [^\n]*/.exec(p.output())?.[0] ?? "(no budget line)";
}

// --- part 1: per-step cost, direct and through the pooler ------------------------------------

async function costRound(url: string, bouncerUrl: string, pooled: boolean, runs: number, steps: number, opts: PoolerOptions): Promise<StepTimings> {
  const pool = createPool(url, "everruns-bench", 2);
  let worker: WorkerProcess | null = null;
  try {
    const agent = await createAgent(pool, pooled ? "bench-pooled" : "bench-direct", echoChainConfig(steps));
    worker = pooled
      ? await spawnWorkerProcess(bouncerUrl, opts.costConcurrency, { env: pooledEnv(bouncerUrl, url, opts) })
      : await spawnWorkerProcess(url, opts.costConcurrency, { env: { WORKER_DB_CONNECTIONS: String(opts.dbConnections) } });
    const ids = await insertRuns(pool, agent, runs, "bench");
    await waitFinished(pool, ids, [worker], 600_000);
    const t = await benchStepTimings(pool, ids);
    if (t.failed > 0) throw new Error(`${t.failed} bench run(s) did not succeed:\n${worker.output().slice(-3000)}`);
    return t;
  } finally {
    await worker?.stop(15_000);
    await pool.end();
  }
}

/** Per-step cost direct and through PgBouncer, one row per opts.costRuns, on a scratch database of the cluster. */
export async function runPoolerCost(cluster: ThrowawayCluster, opts: PoolerOptions): Promise<CostRow[]> {
  return withScratchDatabase(cluster.url, "everruns_bench", async (url) => {
    // a PgBouncer of this part's own: its idle server connections are gone before the fleet's start
    const bouncer = await startPgBouncer(url, { defaultPoolSize: opts.poolSize, maxClientConn: opts.maxClientConn });
    try {
      opts.log(
        `pooler cost: runs of ${opts.costSteps} steps (echo tool turns, no delay) on one worker process (--max-in-flight ${opts.costConcurrency}, --db-connections ${opts.dbConnections}), ` +
          `DATABASE_URL to the server, then to PgBouncer (default_pool_size ${opts.poolSize}; DATABASE_DIRECT_URL to the server); ${opts.costRepeat} alternating rounds each (ABBA), ` +
          `a new worker process per round; ms per step = first run's creation to last commit ÷ steps (database clock)`,
      );
      // warm the server (plans, caches) and the page cache for the CLI's files, on neither side's account
      await costRound(url, bouncer.url, false, 1, 21, opts);
      await costRound(url, bouncer.url, true, 1, 21, opts);
      const rows: CostRow[] = [];
      for (const runs of opts.costRuns) {
        const rounds: CostRow["rounds"] = [];
        for (let i = 0; i < opts.costRepeat; i++) {
          // the side that goes first alternates, so a machine getting busier or quieter weighs on both
          for (const pooled of i % 2 === 0 ? [false, true] : [true, false]) {
            const t = await costRound(url, bouncer.url, pooled, runs, opts.costSteps, opts);
            const msPerStep = (Number(t.seconds) * 1000) / t.steps;
            rounds.push({ pooled, msPerStep, stepP50: Number(t.step_p50) });
            opts.log(
              `  ${runs} run(s) at once, round ${i + 1}, ${pooled ? "through PgBouncer" : "direct          "}: ${t.steps} steps in ${Number(t.seconds).toFixed(2)} s = ${msPerStep.toFixed(2)} ms/step; ` +
                `one step begin→commit p50 ${Number(t.step_p50).toFixed(2)} ms`,
            );
          }
        }
        const of = (pooled: boolean, key: "msPerStep" | "stepP50") => median(rounds.filter((r) => r.pooled === pooled).map((r) => r[key]));
        rows.push({
          runs,
          steps: opts.costSteps,
          directMsPerStep: of(false, "msPerStep"),
          pooledMsPerStep: of(true, "msPerStep"),
          ratio: of(true, "msPerStep") / of(false, "msPerStep"),
          directStepP50: of(false, "stepP50"),
          pooledStepP50: of(true, "stepP50"),
          rounds,
        });
      }
      for (const r of rows) {
        opts.log(
          `pooler cost, ${r.runs} run(s) at once: per step ${r.directMsPerStep.toFixed(2)} ms direct, ${r.pooledMsPerStep.toFixed(2)} ms through PgBouncer: ${r.ratio.toFixed(2)}× ` +
            `(median of ${opts.costRepeat}); one step begin→commit p50 ${r.directStepP50.toFixed(2)} ms direct, ${r.pooledStepP50.toFixed(2)} ms pooled`,
        );
      }
      return rows;
    } finally {
      await bouncer.stop();
    }
  });
}

// --- part 2: a fleet through the pooler ------------------------------------------------------

export async function runPoolerFleet(cluster: ThrowawayCluster, opts: PoolerOptions): Promise<FleetResult> {
  const url = cluster.url;
  const bouncer = await startPgBouncer(url, { defaultPoolSize: opts.poolSize, maxClientConn: opts.maxClientConn });
  const pool = createPool(url, "everruns-bench", 2);
  const census = createPool(url, "everruns-bench-census", 1);
  const workers: WorkerProcess[] = [];
  let api: ApiProcess | null = null;
  let sampler: Sampler | null = null;
  const stepsPerRun = 2 * opts.turns - 1;
  try {
    const agent = await createAgent(pool, "bench-pooler", inflightConfig(opts.turns, opts.turnMs));
    const env = pooledEnv(bouncer.url, url, opts);
    opts.log(
      `pooler fleet: ${opts.workers} worker processes × --max-in-flight ${opts.maxInFlight} (--db-connections ${opts.dbConnections} each, to PgBouncer) and one API process (pool ${opts.dbConnections}), ` +
        `through PgBouncer (transaction mode, default_pool_size ${opts.poolSize}, max_client_conn ${opts.maxClientConn}) to a cluster with max_connections ${opts.maxConnections}; ` +
        `DATABASE_DIRECT_URL to the cluster; EVERRUNS_DB_RESERVED_CONNECTIONS ${opts.reservedConnections ?? "unset (10)"}`,
    );
    opts.log(
      `  ${opts.runs} runs of ${opts.turns} LLM calls of ${opts.turnMs} ms (scripted provider's delay_ms; an echo tool step after each but the last: ${stepsPerRun} steps a run)`,
    );
    const spawnStarted = performance.now();
    // side by side; the CLI's start has a 60 s limit, and 2 cores start few node processes at once quickly
    workers.push(...(await Promise.all(Array.from({ length: opts.workers }, () => spawnWorkerProcess(bouncer.url, opts.maxInFlight, { env })))));
    // the API key is made on the direct URL (an unpooled pool's startup parameters are refused by PgBouncer); the API itself goes through it
    // at LOG_LEVEL info (the harness's default for an API is warn) so that its budget line shows
    api = await spawnApiProcess(url, await freePort(), { env: { ...env, LOG_LEVEL: "info" } });
    opts.log(`  ${opts.workers} workers and the API ready in ${((performance.now() - spawnStarted) / 1000).toFixed(1)} s; budget checks at start said:`);
    for (const p of [...workers, api]) opts.log(`    ${p === api ? "API   " : "worker"} pid ${p.pid}: ${budgetLine(p)}`);

    // the cluster's connections every 100 ms; the peak is of the client backends at one moment
    let peak: ConnectionSample = { clients: 0, pooled: {}, direct: {}, background: {} };
    let peakPooled = 0;
    let peakClientsWaiting = 0;
    let peakMaxWaitSeconds = 0;
    const peakDirect: Record<string, number> = {};
    const peakBackgroundTypes: Record<string, number> = {};
    sampler = sampleEvery(100, async () => {
      const s = await sampleConnections(census, bouncer);
      if (s.clients > peak.clients) peak = s;
      peakPooled = Math.max(peakPooled, sum(s.pooled));
      for (const [k, n] of Object.entries(s.direct)) peakDirect[k] = Math.max(peakDirect[k] ?? 0, n);
      for (const [k, n] of Object.entries(s.background)) peakBackgroundTypes[k] = Math.max(peakBackgroundTypes[k] ?? 0, n);
      for (const p of await bouncer.pools()) {
        if (p.database === "pgbouncer") continue;
        peakClientsWaiting = Math.max(peakClientsWaiting, p.cl_waiting);
        peakMaxWaitSeconds = Math.max(peakMaxWaitSeconds, p.maxwait);
      }
    });

    // CPU: the workers, the API, PgBouncer (our child), the cluster's processes (children of its postmaster), this process
    const postmaster = parentPid(await benchBackendPid(pool));
    const apiPid = api.pid;
    const groups: CpuGroups = {
      workers: () => workers.map((w) => w.pid),
      api: () => [apiPid],
      pgbouncer: () => childrenOf(process.pid, "pgbouncer"),
      postgres: () => (postmaster === null ? [] : [postmaster, ...childrenOf(postmaster)]),
      bench: () => [process.pid],
    };
    const before = cpuSnapshot(groups);
    const ids = await insertRuns(pool, agent, opts.runs, "pooler");
    const counts = await waitFinished(pool, ids, [...workers, api], opts.timeoutMs);
    const cpu = cpuShares(before, cpuSnapshot(groups));
    await sampler.stop();

    const t = await benchStepTimings(pool, ids);
    const once = await benchExactlyOnce(pool, ids, stepsPerRun);
    const breakdown = await stepBreakdown(pool, ids);
    const slots = opts.workers * opts.maxInFlight;
    const r: FleetResult = {
      ...slowRunsFigures(t, opts.runs, counts.succeeded ?? 0, opts.turns, opts.turnMs, slots),
      peak,
      peakPooled,
      peakDirect,
      peakBackgroundTypes,
      peakClientsWaiting,
      peakMaxWaitSeconds,
      ...once,
    };
    const pct = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? "n/a" : `${Math.round(n * 100)} %`);
    opts.log(
      r.finished
        ? `  all ${r.runs} runs succeeded: ${r.steps} steps in ${r.seconds.toFixed(1)} s = ${r.stepsPerSec.toFixed(0)} steps/s; ideal ${r.idealSeconds.toFixed(1)} s ` +
            `(runs × turns × turn-ms ÷ (${opts.workers} × ${opts.maxInFlight}) = ${((opts.runs * opts.turns * opts.turnMs) / slots / 1000).toFixed(1)} s, at least one run's own ${((opts.turns * opts.turnMs) / 1000).toFixed(1)} s): ${(r.seconds / r.idealSeconds).toFixed(2)}× the ideal`
        : `  NOT FINISHED after ${opts.timeoutMs / 1000} s: ${JSON.stringify(counts)}; ${r.steps} of ${r.runs * stepsPerRun} steps committed`,
    );
    opts.log(`  step→next step p50 ${r.gapP50.toFixed(1)} ms, p99 ${r.gapP99.toFixed(1)} ms; ${breakdown.lines.join("; ")}`);
    opts.log(
      `  server connections at most ${r.peak.clients} client backends at once of max_connections ${opts.maxConnections}: ` +
        `${sum(r.peak.pooled)} PgBouncer server connections (${fmtCounts(r.peak.pooled)}), ${sum(r.peak.direct)} direct (${fmtCounts(r.peak.direct)})`,
    );
    const settings = await readConnectionCensus(census);
    const limits = { superuser: settings.superuser_reserved_connections, reserved: settings.reserved_connections };
    const reserve = opts.reservedConnections ?? 10;
    const limit = opts.maxConnections - limits.superuser - limits.reserved - reserve;
    // what the check counts: client connections named everruns…, PgBouncer's server connections among them
    const everrunsAtPeak = [r.peak.direct, r.peak.pooled]
      .flatMap((byApp) => Object.entries(byApp))
      .filter(([app]) => app.startsWith("everruns"))
      .reduce((n, [, k]) => n + k, 0);
    opts.log(
      `  connection budget at that moment: everruns connections ${everrunsAtPeak} (this bench's own included) + 1 wanted by a process starting then = ${everrunsAtPeak + 1}, ` +
        `limit ${limit} = max_connections ${opts.maxConnections} − superuser_reserved_connections ${limits.superuser} − reserved_connections ${limits.reserved} − EVERRUNS_DB_RESERVED_CONNECTIONS ${reserve}: ` +
        (everrunsAtPeak + 1 <= limit ? "a worker or API starting then would start" : "a worker or API starting then would be refused"),
    );
    opts.log(`  the most of each in any sample: PgBouncer server connections ${r.peakPooled} (pool ${opts.poolSize}); direct ${fmtCounts(r.peakDirect)}`);
    opts.log(`  other backends (not in max_connections): ${fmtCounts(r.peakBackgroundTypes)}`);
    opts.log(
      `  PgBouncer: at most ${r.peakClientsWaiting} clients waiting for a server connection at once, longest wait ${r.peakMaxWaitSeconds} s (SHOW POOLS maxwait, whole seconds)`,
    );
    opts.log(
      `  CPU (share of one core over the run): workers ${pct(cpu.groups.workers)} together (${pct((cpu.groups.workers ?? 0) / opts.workers)} each on average), API ${pct(cpu.groups.api)}, ` +
        `PgBouncer ${pct(cpu.groups.pgbouncer)}, postgres ${pct(cpu.groups.postgres)}, this bench ${pct(cpu.groups.bench)}; machine busy ${pct(cpu.machine)} of its ${readdirSync("/sys/devices/system/cpu").filter((d) => /^cpu\d+$/.test(d)).length} cores`,
    );
    opts.log(`  each step once: ${r.duplicateCommits} steps committed twice, ${r.wrongStepCounts} runs with a step count other than ${stepsPerRun}`);
    if (r.duplicateCommits > 0 || r.wrongStepCounts > 0) throw new Error("pooler fleet: a step was committed more than once or is missing (see above)");
    if (r.peak.clients > opts.maxConnections)
      throw new Error(`pooler fleet: ${r.peak.clients} client backends seen, over max_connections ${opts.maxConnections}`);
    return r;
  } finally {
    await stopFleet(sampler, api, workers, [census, pool]);
    await bouncer.stop();
  }
}

/**
 * `everruns bench --only pooler`: a throwaway cluster with max_connections opts.maxConnections,
 * then the parts asked for, each with a PgBouncer of its own in front of it.
 */
export async function runPoolerBench(opts: PoolerOptions): Promise<{ cost: CostRow[] | null; fleet: FleetResult | null }> {
  const cluster = await startThrowawayCluster({ settings: { max_connections: String(opts.maxConnections) } });
  try {
    const probe = createPool(cluster.url, "everruns-bench", 1);
    try {
      opts.log(`pooler: a throwaway cluster of its own (embedded Postgres, durable) on ${new URL(cluster.url).host}`);
      opts.log(await machineLine(probe));
    } finally {
      await probe.end();
    }
    const cost = opts.parts.has("cost") ? await runPoolerCost(cluster, opts) : null;
    if (cost) opts.log("");
    const fleet = opts.parts.has("fleet") ? await runPoolerFleet(cluster, opts) : null;
    return { cost, fleet };
  } finally {
    await cluster.destroy();
  }
}
