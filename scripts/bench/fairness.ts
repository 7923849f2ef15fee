// Fair execution across workspaces (issue 14; db/migrations/000023_fair_admission.sql), measured:
//
//   noisy     workspace A inserts --fair-a-runs runs at once, then workspace B one run every
//             --fair-b-every-ms for --fair-b-seconds: B's queue wait (its first step's start −
//             its creation) with fair share on and off (FIFO), each on a fresh database with
//             one worker process of --fair-max-in-flight slots; A's runs/s in both (the overhead)
//   weights   three workspaces of weights 1, 2 and 4, their backlogs topped up so that none drains,
//             --fair-weights-seconds: each one's share of the committed steps next to 1:2:4
//   limit     one workspace at max_running_runs 5, --fair-limit-pools in-process worker pools and 4
//             connections inserting runs in batches of 5 side by side, a sampler counting its
//             active runs all along: the most seen (≤ 5) and every run succeeded, each step once;
//             fair share on and off
//   cost      the admission statements (an insert of one run, a cancel that frees a slot and
//             admits the next) against --fair-cost-backlogs runs waiting in a workspace at its
//             max_running_runs, rolled back: ms each and the ratio (flat: ≈ 1)
//   priority  a workspace at max_running_runs --fair-priority-slots with --fair-priority-backlog
//             runs of priority 0 waiting, then one of priority 100: its wait and how many of the
//             others went ahead of it
//
// Every run is `inflightConfig(2, --fair-turn-ms)`: an LLM call that calls `echo`, the tool step,
// an LLM answer (3 steps). Only counts and ratios are meant to be compared: the absolute times
// depend on the machine.
import { createPool, type Pool } from "../../db/pool.ts";
import { benchActiveRuns } from "../../db/sql/benchActiveRuns.ts";
import { benchInsertOneRolledBack, benchReleaseSlotRolledBack } from "../../db/sql/benchAdmissionCost.ts";
import { benchAdmitRuns } from "../../db/sql/benchAdmitRuns.ts";
import { benchAnalyzeRuns } from "../../db/sql/benchAnalyzeRuns.ts";
import { benchExactlyOnce } from "../../db/sql/benchExactlyOnce.ts";
import { benchInsertRuns } from "../../db/sql/benchInsertRuns.ts";
import { benchPendingRuns } from "../../db/sql/benchPendingRuns.ts";
import { benchPriorityOvertakes, type PriorityOvertakes } from "../../db/sql/benchPriorityOvertakes.ts";
import { benchQueueWaits } from "../../db/sql/benchQueueWaits.ts";
import { benchRunsThroughput } from "../../db/sql/benchRunsThroughput.ts";
import { setScheduler } from "../../db/sql/scheduler.ts";
import { setWorkspaceLimits } from "../../db/sql/workspaceLimits.ts";
import { benchStepsByWorkspace } from "../../db/sql/benchStepsByWorkspace.ts";
import { benchWorkspaceAgent } from "../../db/sql/benchWorkspaceAgent.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { sleep } from "../../lib/sleep.ts";
import type { WorkerHandle } from "../../worker/main.ts";
import type { Flags, FlagSpec } from "../harness/args.ts";
import { withScratchDatabase } from "../harness/databases.ts";
import { spawnWorkerProcess, stopAll, type WorkerProcess } from "../harness/processes.ts";
import { countIn, FINISHED } from "../harness/runs.ts";
import { median, percentile } from "../harness/stats.ts";
import { inflightConfig, sampleEvery } from "./inflight.ts";

export const FAIRNESS_PARTS = ["noisy", "weights", "limit", "cost", "priority"] as const;
type FairnessPart = (typeof FAIRNESS_PARTS)[number];

export const FAIRNESS_FLAGS = {
  "fair-parts": { type: "choices", default: FAIRNESS_PARTS, choices: FAIRNESS_PARTS },
  "fair-max-in-flight": { type: "int", default: 16, min: 1, max: 10_000 },
  "fair-turn-ms": { type: "int", default: 0, min: 0, max: 600_000 },
  "fair-a-runs": { type: "int", default: 5000, min: 1, max: 1_000_000 },
  "fair-b-seconds": { type: "number", default: 30, min: 0.1, max: 86_400 },
  "fair-b-every-ms": { type: "int", default: 100, min: 1, max: 600_000 },
  "fair-weights-seconds": { type: "number", default: 60, min: 1, max: 86_400 },
  "fair-limit-runs": { type: "int", default: 1000, min: 20, max: 1_000_000 },
  "fair-limit-pools": { type: "int", default: 8, min: 1, max: 64 },
  "fair-cost-backlogs": { type: "ints", default: [1000, 100_000], min: 1, max: 10_000_000 },
  "fair-cost-repeat": { type: "int", default: 200, min: 1, max: 100_000 },
  "fair-priority-backlog": { type: "int", default: 1000, min: 1, max: 1_000_000 },
  "fair-priority-slots": { type: "int", default: 2, min: 1, max: 10_000 },
  "fair-timeout-s": { type: "int", default: 600, min: 1, max: 86_400 },
} as const satisfies Record<string, FlagSpec>;

export const FAIRNESS_USAGE = `  fairness  fair execution across workspaces (000023); --fair-parts noisy,weights,limit,cost,priority;
            every run 3 steps (LLM calls of --fair-turn-ms 0 around an echo tool step):
            noisy: workspace A inserts --fair-a-runs (5000) runs at once, B one run every
            --fair-b-every-ms (100) for --fair-b-seconds (30): B's queue wait p50/p99/max and A's
            runs/s with fair share on and off (FIFO), a fresh database and one worker process of
            --fair-max-in-flight (16) slots each
            weights: workspaces of weights 1, 2 and 4 with endless backlogs for --fair-weights-seconds
            (60): each one's share of the committed steps and its deviation from 1:2:4
            limit: max_running_runs 5, --fair-limit-pools (8) in-process worker pools of 2 slots, 4
            connections inserting --fair-limit-runs (1000) runs in batches of 5, fair share on and
            off: active runs sampled all along (the most seen, samples over 5), every run
            succeeded, each step once
            cost: ms of an insert of one run and of a cancel that admits the next, rolled back, with
            --fair-cost-backlogs (1000,100000) runs waiting at max_running_runs, --fair-cost-repeat
            (200) each: the ratio of the largest backlog's to the smallest's
            priority: --fair-priority-backlog (1000) runs of priority 0 waiting at max_running_runs
            --fair-priority-slots (2), then one of priority 100: its wait and the runs that went ahead
            Each part gives up waiting after --fair-timeout-s (600) and reports what it reached.`;

export interface FairnessOptions {
  serverUrl: string;
  parts: ReadonlySet<FairnessPart>;
  maxInFlight: number;
  turnMs: number;
  aRuns: number;
  bSeconds: number;
  bEveryMs: number;
  weightsSeconds: number;
  limitRuns: number;
  limitPools: number;
  costBacklogs: number[];
  costRepeat: number;
  priorityBacklog: number;
  prioritySlots: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** FairnessOptions from the parsed FAIRNESS_FLAGS. */
export function fairnessOptionsFromFlags(serverUrl: string, flags: Flags<typeof FAIRNESS_FLAGS>, log: (line: string) => void): FairnessOptions {
  return {
    serverUrl,
    parts: flags["fair-parts"] as ReadonlySet<FairnessPart>,
    maxInFlight: flags["fair-max-in-flight"],
    turnMs: flags["fair-turn-ms"],
    aRuns: flags["fair-a-runs"],
    bSeconds: flags["fair-b-seconds"],
    bEveryMs: flags["fair-b-every-ms"],
    weightsSeconds: flags["fair-weights-seconds"],
    limitRuns: flags["fair-limit-runs"],
    limitPools: flags["fair-limit-pools"],
    costBacklogs: [...new Set(flags["fair-cost-backlogs"])].sort((a, b) => a - b),
    costRepeat: flags["fair-cost-repeat"],
    priorityBacklog: flags["fair-priority-backlog"],
    prioritySlots: flags["fair-priority-slots"],
    timeoutMs: flags["fair-timeout-s"] * 1000,
    log,
  };
}

export interface NoisyRow {
  fair: boolean;
  /** B's runs inserted, and how many of them started */
  bRuns: number;
  bStarted: number;
  /** B's queue waits, ms */
  bP50: number;
  bP99: number;
  bMax: number;
  /** A's runs finished, and their runs/s from the first one's creation to the last one's end */
  aFinished: number;
  aRunsPerSec: number;
}

export interface WeightsResult {
  weights: number[];
  steps: number[];
  /** each workspace's share of the steps, 0..1 */
  shares: number[];
  /** each share next to weight ÷ the weights' sum, % (+: more than its share) */
  deviations: number[];
  /** the fewest runs each workspace had waiting, sampled along the window (0: it may have drained) */
  minPending: number[];
}

export interface LimitRow {
  fair: boolean;
  limit: number;
  samples: number;
  maxSeen: number;
  violations: number;
  runs: number;
  succeeded: number;
  duplicateCommits: number;
  wrongStepCounts: number;
}

export interface CostRow {
  backlog: number;
  /** median ms of an insert of one run */
  insertMs: number;
  /** median ms of a cancel that frees a slot and admits the next run */
  releaseMs: number;
}

export interface PriorityResult extends PriorityOvertakes {
  backlog: number;
  slots: number;
  /** runs of priority 0 still waiting for admission when the priority-100 run was inserted */
  pendingAtInsert: number;
}

export interface FairnessResult {
  noisy: NoisyRow[];
  weights: WeightsResult | null;
  limit: LimitRow[];
  cost: CostRow[];
  priority: PriorityResult | null;
}

const THREE_STEPS = 3;
const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));
const mode = (fair: boolean) => (fair ? "fair share on" : "FIFO (fair share off)");

/** Waits until every run has finished (or the deadline); a worker process that dies fails the bench. Returns the counts by status. */
async function waitFinished(pool: Pool, ids: string[], workers: WorkerProcess[], timeoutMs: number): Promise<Record<string, number>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const counts = await runStatusCounts(pool, ids);
    if (countIn(counts, FINISHED) === ids.length || performance.now() > deadline) return counts;
    for (const w of workers) if (!w.alive()) throw new Error(`a bench worker died:\n${w.output().slice(-2000)}`);
    await sleep(250);
  }
}

/** Runs fn on a fresh database with a pool of `connections` and the scheduler set to `fair`. */
function onFreshDatabase<T>(serverUrl: string, fair: boolean, connections: number, fn: (url: string, pool: Pool) => Promise<T>): Promise<T> {
  return withScratchDatabase(serverUrl, "everruns_bench_fair", async (url) => {
    const pool = createPool(url, "everruns-bench", connections);
    try {
      await setScheduler(pool, fair, null);
      return await fn(url, pool);
    } finally {
      await pool.end();
    }
  });
}

// --- noisy neighbour ---------------------------------------------------------------------------

async function noisyRow(opts: FairnessOptions, fair: boolean): Promise<NoisyRow> {
  return onFreshDatabase(opts.serverUrl, fair, 2, async (url, pool) => {
    const config = inflightConfig(2, opts.turnMs);
    const a = await benchWorkspaceAgent(pool, "tenant-a", "bench-fair-a", config);
    const b = await benchWorkspaceAgent(pool, "tenant-b", "bench-fair-b", config);
    const workers = [await spawnWorkerProcess(url, opts.maxInFlight)];
    try {
      const aIds = await benchInsertRuns(pool, a.agentId, opts.aRuns, "a"); // one statement
      const bIds: string[] = [];
      const bRuns = Math.max(1, Math.floor((opts.bSeconds * 1000) / opts.bEveryMs));
      const t0 = performance.now();
      for (let i = 0; i < bRuns; i++) {
        const due = t0 + i * opts.bEveryMs - performance.now();
        if (due > 0) await sleep(due);
        bIds.push(...(await benchInsertRuns(pool, b.agentId, 1, `b ${i}`)));
      }
      const counts = await waitFinished(pool, [...aIds, ...bIds], workers, opts.timeoutMs);
      if (countIn(counts, FINISHED) < aIds.length + bIds.length) {
        opts.log(`  ${mode(fair)}: NOT FINISHED after ${opts.timeoutMs / 1000} s: ${JSON.stringify(counts)}; the figures are of what was reached`);
      }
      const waits = await benchQueueWaits(pool, bIds);
      const aThroughput = await benchRunsThroughput(pool, aIds);
      return {
        fair,
        bRuns: bIds.length,
        bStarted: waits.length,
        bP50: percentile(waits, 50),
        bP99: percentile(waits, 99),
        bMax: waits.length > 0 ? Math.max(...waits) : NaN,
        aFinished: aThroughput.finished,
        aRunsPerSec: aThroughput.seconds ? aThroughput.finished / aThroughput.seconds : NaN,
      };
    } finally {
      await stopAll(workers, 15_000);
    }
  });
}

async function runNoisy(opts: FairnessOptions): Promise<NoisyRow[]> {
  opts.log(
    `fairness noisy: workspace A inserts ${opts.aRuns} runs at once, then B one run every ${opts.bEveryMs} ms for ${opts.bSeconds} s; ` +
      `1 worker process × ${opts.maxInFlight} slots; a fresh database per mode`,
  );
  const rows: NoisyRow[] = [];
  for (const fair of [true, false]) {
    const r = await noisyRow(opts, fair);
    rows.push(r);
    opts.log(
      `  ${mode(fair)}: B's queue wait p50 ${fmt(r.bP50)} ms, p99 ${fmt(r.bP99)} ms, max ${fmt(r.bMax)} ms (${r.bStarted} of ${r.bRuns} started); ` +
        `A ${r.aFinished} runs finished, ${fmt(r.aRunsPerSec, 1)} runs/s`,
    );
  }
  const [on, off] = rows as [NoisyRow, NoisyRow];
  opts.log(`  FIFO ÷ fair: B's p99 wait ${fmt(off.bP99 / on.bP99, 1)}×; A's runs/s fair ÷ FIFO ${fmt(on.aRunsPerSec / off.aRunsPerSec, 2)}`);
  return rows;
}

// --- weights -----------------------------------------------------------------------------------

async function runWeights(opts: FairnessOptions): Promise<WeightsResult> {
  const weights = [1, 2, 4];
  const sum = weights.reduce((a, b) => a + b, 0);
  // each workspace's backlog is topped up to `refill` whenever it falls under half of it
  const refill = Math.max(200, opts.maxInFlight * 20);
  opts.log(
    `fairness weights: workspaces of weights ${weights.join(", ")}, backlogs topped up to ${refill} runs each, 1 worker process × ${opts.maxInFlight} slots, ` +
      `committed steps counted over ${opts.weightsSeconds} s`,
  );
  return onFreshDatabase(opts.serverUrl, true, 3, async (url, pool) => {
    const config = inflightConfig(2, opts.turnMs);
    const spaces: Array<{ workspaceId: string; agentId: string }> = [];
    for (const w of weights) {
      const s = await benchWorkspaceAgent(pool, `weight-${w}`, `bench-fair-weight-${w}`, config);
      await setWorkspaceLimits(pool, s.workspaceId, { weight: w });
      spaces.push(s);
    }
    const ids = spaces.map((s) => s.workspaceId);
    // the worker first: its slots are the window fair share divides (before it, min_window)
    const workers = [await spawnWorkerProcess(url, opts.maxInFlight)];
    for (const s of spaces) await benchInsertRuns(pool, s.agentId, refill, "backlog");
    const minPending = spaces.map(() => Infinity);
    let counting = false;
    const topUp = sampleEvery(200, async () => {
      const pending = await benchPendingRuns(pool, ids);
      for (const [i, s] of spaces.entries()) {
        const n = pending.get(s.workspaceId) ?? 0;
        if (counting) minPending[i] = Math.min(minPending[i]!, n);
        if (n < refill / 2) await benchInsertRuns(pool, s.agentId, refill - n, "backlog");
      }
    });
    try {
      // warm-up: every slot taken, each workspace's share settled
      await sleep(Math.min(3000, (opts.weightsSeconds * 1000) / 5));
      counting = true;
      const before = await benchStepsByWorkspace(pool, ids);
      await sleep(opts.weightsSeconds * 1000);
      const after = await benchStepsByWorkspace(pool, ids);
      counting = false;
      const steps = ids.map((id) => (after.get(id) ?? 0) - (before.get(id) ?? 0));
      const total = steps.reduce((a, b) => a + b, 0);
      const shares = steps.map((n) => (total > 0 ? n / total : NaN));
      const deviations = shares.map((s, i) => (s / (weights[i]! / sum) - 1) * 100);
      for (const [i, w] of weights.entries()) {
        opts.log(
          `  weight ${w}: ${steps[i]} steps, share ${fmt(shares[i]! * 100, 1)} % (1:2:4 gives ${fmt((w / sum) * 100, 1)} %): ${deviations[i]! >= 0 ? "+" : ""}${fmt(deviations[i], 1)} %; ` +
            `fewest waiting runs seen ${minPending[i]}`,
        );
      }
      opts.log(`  ${total} steps in ${opts.weightsSeconds} s = ${fmt(total / opts.weightsSeconds)} steps/s`);
      return { weights, steps, shares, deviations, minPending: minPending.map((n) => (Number.isFinite(n) ? n : 0)) };
    } finally {
      await topUp.stop().catch(() => undefined);
      await stopAll(workers, 15_000);
    }
  });
}

// --- limit exactness ---------------------------------------------------------------------------

const LIMIT = 5;
const LIMIT_INSERTERS = 4;
const LIMIT_BATCH = 5;
const LIMIT_POOL_SLOTS = 2;

async function limitRow(opts: FairnessOptions, fair: boolean): Promise<LimitRow> {
  // the inserters' connections, one for setup and the sampler's
  return onFreshDatabase(opts.serverUrl, fair, LIMIT_INSERTERS + 1, async (url, pool) => {
    const sampler = createPool(url, "everruns-bench-sampler", 1);
    const s = await benchWorkspaceAgent(pool, "limited", "bench-fair-limit", inflightConfig(2, opts.turnMs));
    await setWorkspaceLimits(pool, s.workspaceId, { maxRunningRuns: LIMIT });
    const workers: WorkerHandle[] = [];
    let samples = 0;
    let maxSeen = 0;
    let violations = 0;
    let sampling: ReturnType<typeof sampleEvery> | null = null;
    try {
      const log = consoleLogger("[fairness worker]", "warn");
      const { startWorker } = await import("../../worker/main.ts"); // loaded only for this part
      for (let i = 0; i < opts.limitPools; i++) {
        workers.push(await startWorker({ databaseUrl: url, concurrency: LIMIT_POOL_SLOTS, dbConnections: 3, shutdownTimeoutMs: 5000, log }));
      }
      sampling = sampleEvery(5, async () => {
        const n = await benchActiveRuns(sampler, s.workspaceId);
        samples++;
        maxSeen = Math.max(maxSeen, n);
        if (n > LIMIT) violations++;
      });
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: LIMIT_INSERTERS }, async (_, k) => {
          const share = Math.floor(opts.limitRuns / LIMIT_INSERTERS) + (k < opts.limitRuns % LIMIT_INSERTERS ? 1 : 0);
          for (let done = 0; done < share; done += LIMIT_BATCH) {
            ids.push(...(await benchInsertRuns(pool, s.agentId, Math.min(LIMIT_BATCH, share - done), `limit ${k}`)));
            await sleep(5);
          }
        }),
      );
      const counts = await waitFinished(pool, ids, [], opts.timeoutMs);
      await sampling.stop();
      sampling = null;
      const once = await benchExactlyOnce(pool, ids, THREE_STEPS);
      const row: LimitRow = { fair, limit: LIMIT, samples, maxSeen, violations, runs: ids.length, succeeded: counts.succeeded ?? 0, ...once };
      opts.log(
        `  ${mode(fair)}: ${samples} samples, at most ${maxSeen} active (limit ${LIMIT}), ${violations} samples over it; ` +
          `${row.succeeded} of ${row.runs} runs succeeded${row.succeeded < row.runs ? ` (${JSON.stringify(counts)})` : ""}; ` +
          `${once.duplicateCommits} steps committed twice, ${once.wrongStepCounts} runs with a step count other than ${THREE_STEPS}`,
      );
      return row;
    } finally {
      await sampling?.stop().catch(() => undefined);
      await Promise.all(workers.map((w) => w.stop()));
      await sampler.end();
    }
  });
}

async function runLimit(opts: FairnessOptions): Promise<LimitRow[]> {
  opts.log(
    `fairness limit: max_running_runs ${LIMIT}, ${opts.limitPools} in-process worker pools × ${LIMIT_POOL_SLOTS} slots, ` +
      `${LIMIT_INSERTERS} connections inserting ${opts.limitRuns} runs in batches of ${LIMIT_BATCH}; active runs sampled every 5 ms`,
  );
  const rows: LimitRow[] = [];
  for (const fair of [true, false]) rows.push(await limitRow(opts, fair));
  return rows;
}

// --- admission cost ----------------------------------------------------------------------------

const BACKLOG_CHUNK = 5000;

async function runCost(opts: FairnessOptions): Promise<CostRow[]> {
  opts.log(
    `fairness cost: fair share on, one workspace at max_running_runs 1 (one run active, no worker), backlogs of ${opts.costBacklogs.join(", ")} runs waiting; ` +
      `${opts.costRepeat} inserts of one run and ${opts.costRepeat} cancels of the active run (which admit the next) per backlog, each rolled back; medians`,
  );
  return onFreshDatabase(opts.serverUrl, true, 1, async (_url, pool) => {
    const s = await benchWorkspaceAgent(pool, "backlog", "bench-fair-cost", inflightConfig(2, opts.turnMs));
    const [active] = await benchInsertRuns(pool, s.agentId, 1, "active"); // admitted: the only active run
    await setWorkspaceLimits(pool, s.workspaceId, { maxRunningRuns: 1 });
    const client = await pool.connect();
    const rows: CostRow[] = [];
    try {
      let waiting = 0;
      for (const backlog of opts.costBacklogs) {
        // in statements of BACKLOG_CHUNK runs: one of 100,000 outlasts the default statement timeout on a busy machine
        for (let n = backlog - waiting; n > 0; n -= BACKLOG_CHUNK) await benchAdmitRuns(client, s.agentId, Math.min(BACKLOG_CHUNK, n));
        waiting = backlog;
        await benchAnalyzeRuns(client);
        const inserts: number[] = [];
        const releases: number[] = [];
        for (let i = 0; i < opts.costRepeat + 5; i++) {
          const insertMs = await benchInsertOneRolledBack(client, s.agentId);
          const release = await benchReleaseSlotRolledBack(client, active!, s.workspaceId);
          if (release.admitted !== 1) throw new Error(`fairness cost: freeing the slot admitted ${release.admitted} runs, expected 1`);
          if (i < 5) continue; // warm-up
          inserts.push(insertMs);
          releases.push(release.ms);
        }
        const row = { backlog, insertMs: median(inserts), releaseMs: median(releases) };
        rows.push(row);
        opts.log(`  ${backlog} waiting: insert of one run ${fmt(row.insertMs, 2)} ms, cancel admitting the next ${fmt(row.releaseMs, 2)} ms`);
      }
    } finally {
      client.release();
    }
    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    if (rows.length > 1) {
      opts.log(
        `  ${last.backlog} ÷ ${first.backlog} waiting: insert ${fmt(last.insertMs / first.insertMs, 2)}×, cancel admitting the next ${fmt(last.releaseMs / first.releaseMs, 2)}×`,
      );
    }
    return rows;
  });
}

// --- priority ----------------------------------------------------------------------------------

async function runPriority(opts: FairnessOptions): Promise<PriorityResult> {
  const slots = opts.prioritySlots;
  opts.log(
    `fairness priority: ${opts.priorityBacklog} runs of priority 0 in one workspace at max_running_runs ${slots}, 1 worker process × ${opts.maxInFlight} slots; ` +
      `once ${2 * slots} of them succeeded, one run of priority 100`,
  );
  return onFreshDatabase(opts.serverUrl, true, 2, async (url, pool) => {
    const s = await benchWorkspaceAgent(pool, "prioritized", "bench-fair-priority", inflightConfig(2, opts.turnMs));
    await setWorkspaceLimits(pool, s.workspaceId, { maxRunningRuns: slots });
    const backlog = await benchInsertRuns(pool, s.agentId, opts.priorityBacklog, "backlog");
    const workers = [await spawnWorkerProcess(url, opts.maxInFlight)];
    try {
      const deadline = performance.now() + opts.timeoutMs;
      while (((await runStatusCounts(pool, backlog)).succeeded ?? 0) < Math.min(2 * slots, backlog.length) && performance.now() < deadline) await sleep(20);
      const pendingAtInsert = (await benchPendingRuns(pool, [s.workspaceId])).get(s.workspaceId) ?? 0;
      const [urgent] = await benchInsertRuns(pool, s.agentId, 1, "urgent", 100);
      let r = await benchPriorityOvertakes(pool, urgent!);
      while (r.waitMs === null && performance.now() < deadline) {
        await sleep(20);
        r = await benchPriorityOvertakes(pool, urgent!);
      }
      opts.log(
        `  the priority-100 run: ${r.waitMs === null ? `NOT STARTED after ${opts.timeoutMs / 1000} s` : `queue wait ${fmt(r.waitMs)} ms`}; ` +
          `${pendingAtInsert} runs of priority 0 were waiting when it was inserted; ${r.admittedBefore} of them admitted before it, ` +
          `${r.startedBefore} started before it (those already admitted: at most ${slots})`,
      );
      return { ...r, backlog: backlog.length, slots, pendingAtInsert };
    } finally {
      await stopAll(workers, 15_000);
    }
  });
}

// --- all of it ---------------------------------------------------------------------------------

/** The parts opts.parts names, each on fresh databases of opts.serverUrl, then a summary table. */
export async function runFairnessBench(opts: FairnessOptions): Promise<FairnessResult> {
  const result: FairnessResult = { noisy: [], weights: null, limit: [], cost: [], priority: null };
  if (opts.parts.has("noisy")) result.noisy = await runNoisy(opts);
  if (opts.parts.has("weights")) result.weights = await runWeights(opts);
  if (opts.parts.has("limit")) result.limit = await runLimit(opts);
  if (opts.parts.has("cost")) result.cost = await runCost(opts);
  if (opts.parts.has("priority")) result.priority = await runPriority(opts);

  opts.log("");
  opts.log("| fairness | figures | target |");
  opts.log("|---|---|---|");
  for (const r of result.noisy) {
    opts.log(
      `| noisy neighbour, ${mode(r.fair)} | B's wait p50 ${fmt(r.bP50)} ms, p99 ${fmt(r.bP99)} ms, max ${fmt(r.bMax)} ms (${r.bStarted}/${r.bRuns} runs); A ${fmt(r.aRunsPerSec, 1)} runs/s | ${r.fair ? "B p99 < 1 s" : "(for comparison)"} |`,
    );
  }
  const w = result.weights;
  if (w) {
    opts.log(
      `| weights ${w.weights.join(":")} | shares ${w.shares.map((s) => `${fmt(s * 100, 1)} %`).join(" / ")}; deviation ${w.deviations.map((d) => `${d >= 0 ? "+" : ""}${fmt(d, 1)} %`).join(" / ")} | 14.3 / 28.6 / 57.1 % |`,
    );
  }
  for (const r of result.limit) {
    opts.log(
      `| limit ${r.limit}, ${mode(r.fair)} | ${r.samples} samples, at most ${r.maxSeen} active, ${r.violations} over; ${r.succeeded}/${r.runs} runs succeeded, ${r.duplicateCommits} duplicate steps, ${r.wrongStepCounts} wrong step counts | ≤ ${r.limit}, 0 over, all once |`,
    );
  }
  if (result.cost.length > 0) {
    const first = result.cost[0]!;
    const last = result.cost[result.cost.length - 1]!;
    opts.log(
      `| admission cost | ${result.cost.map((c) => `${c.backlog} waiting: insert ${fmt(c.insertMs, 2)} ms, cancel+admit ${fmt(c.releaseMs, 2)} ms`).join("; ")}; ratio ${fmt(last.insertMs / first.insertMs, 2)}× / ${fmt(last.releaseMs / first.releaseMs, 2)}× | ≈ 1× |`,
    );
  }
  const p = result.priority;
  if (p) {
    opts.log(
      `| priority 100 over ${p.backlog} of priority 0 | wait ${fmt(p.waitMs)} ms; ${p.admittedBefore} admitted and ${p.startedBefore} started before it | 0 admitted, ≤ ${p.slots} started |`,
    );
  }
  return result;
}
