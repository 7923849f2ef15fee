// The chaos run: several worker processes and an API process run many concurrent runs — slow
// streamed LLM turns, http tools against a server that deduplicates by Idempotency-Key, durable
// sleeps, external events, approvals answered from outside, cancellations (scenarios.ts) — while
// random workers are kill -9'd every few seconds (and replaced) and the API is kill -9'd and
// restarted under SSE followers. While it runs: no queued/running/waiting run is ever without
// its job. At the end: no job left locked, no worker needed the orphan repair, and every
// invariant of verify.ts holds. It also measures resume latency after kill -9: from the kill to
// the moment the interrupted step's next attempt begins, over every in-flight step a kill hit.
import { followRunEvents, type RunEvent } from "../../client/index.ts";
import { createPool } from "../../db/pool.ts";
import { approveInterrupts } from "../../db/sql/approveInterrupts.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { chaosLateRuns } from "../../db/sql/chaosLateRuns.ts";
import { chaosUnfinishedRuns } from "../../db/sql/chaosUnfinishedRuns.ts";
import { jobCensus } from "../../db/sql/jobCensus.ts";
import { listJobs } from "../../db/sql/listJobs.ts";
import { runStatusCounts } from "../../db/sql/runStatusCounts.ts";
import { sendEventToRuns } from "../../db/sql/sendEventToRuns.ts";
import { stepsInFlight } from "../../db/sql/stepsInFlight.ts";
import { strandedRuns } from "../../db/sql/strandedRuns.ts";
import { sleep } from "../../lib/sleep.ts";
import { machineLine } from "../harness/machine.ts";
import { freePort } from "../../lib/free-port.ts";
import { spawnApiProcess, spawnWorkerProcess, stopAll, type ApiProcess, type WorkerProcess } from "../harness/processes.ts";
import { ResumeWatcher } from "../harness/resume-watcher.ts";
import { countIn, createAgent, FINISHED, insertRuns } from "../harness/runs.ts";
import { percentile, summarize } from "../harness/stats.ts";
import { until } from "../harness/wait.ts";
import { createNetns, type Netns } from "./netns.ts";
import { prng, SCENARIOS, type Scenario } from "./scenarios.ts";
import { DedupeToolServer } from "./tool-server.ts";
import { verify, type Verified } from "./verify.ts";

export interface ChaosOptions {
  /** A migrated database that the chaos may fill (use a scratch one). */
  databaseUrl: string;
  /** Runs started, spread evenly over launchMs. */
  runs: number;
  launchMs: number;
  /** Worker processes alive at any time (a killed one is replaced at once). */
  workers: number;
  /** Steps each worker process runs at once. */
  concurrency: number;
  /** Mean interval between kill -9s of a random worker; 0 disables the kills. */
  killEveryMs: number;
  /** Kill only while at least this many workers are up (default: all of them; at least 2, so a
   *  survivor always exists). Lower means more kills, and resume latencies that include waiting
   *  for capacity on the survivors. */
  minAlive?: number;
  /** Times the API is kill -9'd and restarted during the launch phase. */
  apiRestarts: number;
  /** Runs followed over SSE through the API. */
  followers: number;
  /** How long the runs may take to finish after the last one was started. */
  settleTimeoutMs: number;
  /** Run one worker slot in its own network namespace, over a veth pair (root, iproute2). */
  netns?: boolean;
  seed?: number;
  log: (line: string) => void;
}

export const CHAOS_DEFAULTS = {
  runs: 120,
  launchMs: 30_000,
  workers: 3,
  concurrency: 8,
  killEveryMs: 2500,
  apiRestarts: 2,
  followers: 8,
  settleTimeoutMs: 120_000,
} satisfies Partial<ChaosOptions>;

export interface ChaosReport extends Verified {
  seed: number;
  kills: number;
  /** kills that hit at least one step in flight */
  effectiveKills: number;
  /** ms from a kill -9 to the interrupted step's next attempt, one per interrupted step */
  resumeLatenciesMs: number[];
  /** ms from a kill -9 to the first interrupted step of that kill resuming, one per effective kill */
  killResumeMs: number[];
  apiRestarts: number;
  sse: { followed: number; events: number; reconnects: number };
  strandedSamples: number;
  netns: boolean;
  wallMs: number;
  /** Every violated invariant, described. Empty when the chaos found nothing. */
  problems: string[];
}

interface TrackedRun {
  id: string;
  index: number;
  scenario: Scenario;
  launchedAt: number;
  /** cancel_running: when to cancel (ms after launch) */
  cancelAfterMs: number;
  /** event / cancel_waiting: how long after the run parks to act */
  actAfterMs: number;
  parkedAt?: number;
  acted?: boolean;
  continuation?: string;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const opts = { ...options };
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = prng(seed);
  const log = opts.log;
  const problems: string[] = [];
  const problem = (line: string) => {
    if (problems.length < 200) problems.push(line);
    log(`PROBLEM: ${line}`);
  };
  const t0 = performance.now();
  const pool = createPool(opts.databaseUrl, "everruns-chaos", 6);
  let netns: Netns | null = null;
  let tools: DedupeToolServer | null = null;
  const workers: Array<WorkerProcess | null> = [];
  const retired: WorkerProcess[] = [];
  let api: ApiProcess | null = null;
  const followers: Array<Promise<void>> = [];
  let watcher: ResumeWatcher | null = null;
  const restarts: Array<Promise<void>> = [];

  try {
    log(await machineLine(pool));
    if (opts.netns) {
      netns = await createNetns(opts.databaseUrl);
      log(`worker slot 0 runs in network namespace ${netns.name}, reaching Postgres over a veth pair (${netns.databaseUrl.replace(/\/\/[^@]*@/, "//")})`);
    }
    tools = await new DedupeToolServer(random).start(netns?.hostIp);
    const toolUrl = tools.url;
    log(
      `chaos: seed ${seed}; ${opts.runs} runs over ${(opts.launchMs / 1000).toFixed(0)} s; ${opts.workers} worker processes x concurrency ${opts.concurrency}; ` +
        `kill -9 every ~${(opts.killEveryMs / 1000).toFixed(1)} s; ${opts.apiRestarts} API restarts; ${opts.followers} SSE followers`,
    );

    // agents, one per scenario
    const agents = new Map<string, string>();
    for (const s of SCENARIOS) agents.set(s.name, await createAgent(pool, `chaos-${s.name}`, s.config(toolUrl)));
    const totalWeight = SCENARIOS.reduce((n, s) => n + s.weight, 0);
    const pick = (): Scenario => {
      let r = random() * totalWeight;
      for (const s of SCENARIOS) if ((r -= s.weight) < 0) return s;
      return SCENARIOS[0]!;
    };

    // processes
    const startWorker = async (slot: number): Promise<WorkerProcess> => {
      const inNetns = slot === 0 && netns !== null;
      // the tool server is on this machine (loopback, or the namespace's veth address): an
      // address the egress guard refuses unless the operator lists it
      const env = { EVERRUNS_EGRESS_ALLOW: new URL(toolUrl).hostname };
      const w = await spawnWorkerProcess(inNetns ? netns!.databaseUrl : opts.databaseUrl, opts.concurrency, inNetns ? { netns: netns!.name, env } : { env });
      workers[slot] = w;
      return w;
    };
    await Promise.all(Array.from({ length: opts.workers }, (_, slot) => startWorker(slot)));
    const apiPort = await freePort();
    api = await spawnApiProcess(opts.databaseUrl, apiPort);
    const apiUrl = api.url;
    log(`${opts.workers} workers and the API (${apiUrl}) are up`);

    const runs: TrackedRun[] = [];
    const byId = new Map<string, TrackedRun>();
    const received = new Map<string, RunEvent[]>();
    let reconnects = 0;
    let launching = true;
    let finished = false;
    let strandedSamples = 0;
    const launchStart = performance.now();
    const followEvery = opts.followers > 0 ? Math.max(1, Math.floor(opts.runs / opts.followers)) : Infinity;

    const launch = async (index: number) => {
      const scenario = pick();
      const [id] = await insertRuns(pool, agents.get(scenario.name)!, 1, `chaos run ${index} (${scenario.name})`);
      const run: TrackedRun = {
        id: id!,
        index,
        scenario,
        launchedAt: performance.now(),
        cancelAfterMs: 800 + random() * 3000,
        actAfterMs: random() * 1500,
      };
      runs.push(run);
      byId.set(run.id, run);
      if (index % followEvery === 0 && received.size < opts.followers) {
        const events: RunEvent[] = [];
        received.set(run.id, events);
        followers.push(
          (async () => {
            for await (const e of followRunEvents(apiUrl, run.id, {
              fetch: (input, init) => api!.fetch(input, init), // the API is restarted with a new key
              retryDelayMs: 100,
              maxRetryDelayMs: 1000,
              giveUpAfterMs: opts.settleTimeoutMs,
              onReconnect: () => reconnects++,
            })) {
              events.push(e);
            }
          })().catch((error: Error) => problem(`SSE follower of run ${run.id} failed: ${error.message}`)),
        );
      }
    };

    // The driver: starts runs on schedule and answers them from outside (events, approvals,
    // cancellations) the way other systems and humans would.
    const driver = (async () => {
      let next = 0;
      let tick = 0;
      try {
        for (;;) {
          const now = performance.now();
          while (next < opts.runs && now - launchStart >= (next * opts.launchMs) / opts.runs) await launch(next++);
          if (next >= opts.runs) launching = false;
          const open = runs.filter((r) => !r.acted || r.scenario.final !== "cancelled");
          for (const row of await chaosUnfinishedRuns(
            pool,
            open.map((r) => r.id),
          )) {
            const run = byId.get(row.id)!;
            const s = run.scenario.name;
            if (row.status === "waiting" && run.parkedAt === undefined) run.parkedAt = now;
            if (run.acted) continue;
            if (s === "event" && row.status === "waiting" && row.waiting?.type === "event" && now - run.parkedAt! >= run.actAfterMs) {
              run.acted = true;
              await sendEventToRuns(pool, [run.id], "go", { from: "chaos" });
            } else if (s === "approval" && row.status === "interrupted" && !row.continued_by) {
              run.acted = true;
              const [answered] = await approveInterrupts(pool, [run.id]);
              run.continuation = answered!.continuation;
            } else if (s === "cancel_running" && row.status === "running" && now - run.launchedAt >= run.cancelAfterMs) {
              run.acted = true;
              await cancelRun(pool, run.id);
            } else if (s === "cancel_waiting" && row.status === "waiting" && now - run.parkedAt! >= run.actAfterMs) {
              run.acted = true;
              await cancelRun(pool, run.id);
            }
          }
          // Sampled invariant: a run that should progress always has its job.
          if (++tick % 10 === 0) {
            const stranded = await strandedRuns(pool);
            strandedSamples++;
            for (const s of stranded) problem(`run ${s.id} is ${s.status} but has no job (sample ${strandedSamples})`);
          }
          if (!launching) {
            const continuations = runs.filter((r) => r.continuation).map((r) => r.continuation!);
            const counts = await runStatusCounts(pool, [...runs.map((r) => r.id), ...continuations]);
            const left = Object.values(counts).reduce((n, c) => n + c, 0) - countIn(counts, [...FINISHED, "interrupted"]);
            const unanswered = runs.filter((r) => r.scenario.name === "approval" && !r.continuation).length;
            if (left === 0 && unanswered === 0) break;
            if (now - launchStart > opts.launchMs + opts.settleTimeoutMs) {
              problem(`${left} run(s) did not finish within ${opts.settleTimeoutMs} ms after the launch phase`);
              for (const late of await chaosLateRuns(pool, [...runs.map((r) => r.id), ...continuations])) log(`late run: ${JSON.stringify(late)}`);
              break;
            }
          }
          await sleep(100);
        }
      } finally {
        finished = true; // also on an error: the killer and the API chaos stop with the driver
      }
    })();

    // Resume latency: every in-flight step a kill hit is watched until its next attempt begins.
    watcher = await new ResumeWatcher(opts.databaseUrl).start();

    let kills = 0;
    let effectiveKills = 0;
    // How many kills hit each run's step. The killer prefers busy workers, and with one run left
    // in flight it would hit that run's worker every ~1 s: a step longer than that (a 1.5 s
    // simulate_work) could then never finish, each kill rightly aborting it. A run whose steps
    // took SPARE_AFTER kills is spared from then on, so the test measures recovery, not a livelock
    // of its own making (seen once worker start-up fell from 0.7 s to 0.2 s).
    const SPARE_AFTER = 3;
    const hits = new Map<string, number>();
    const spared = (steps: Array<{ runId: string }>) => steps.some((s) => (hits.get(s.runId) ?? 0) >= SPARE_AFTER);
    const killer = (async () => {
      if (opts.killEveryMs <= 0) return;
      while (!finished) {
        await sleep(opts.killEveryMs * (0.5 + random()));
        // kill only while minAlive workers are up (by default all: then the latency measured is
        // recovery, not waiting for a replacement to boot or for a free slot on the survivors)
        const minAlive = Math.min(opts.workers, Math.max(2, opts.minAlive ?? opts.workers));
        while (!finished && workers.filter((w) => w !== null && w.alive()).length < minAlive) await sleep(50);
        if (finished) break;
        // prefer a worker that has steps in flight: that is the kill that matters
        const busy = new Set((await listJobs(pool)).map((j) => j.locked_by).filter((b) => b !== null));
        const live = workers.map((w, slot) => ({ w, slot })).filter((x): x is { w: WorkerProcess; slot: number } => x.w !== null && x.w.alive());
        const steps = new Map<string, Awaited<ReturnType<typeof stepsInFlight>>>();
        for (const x of live) steps.set(x.w.poolId, busy.has(x.w.poolId) ? await stepsInFlight(pool, x.w.poolId) : []);
        const killable = live.filter((x) => !spared(steps.get(x.w.poolId)!));
        const candidates = killable.filter((x) => steps.get(x.w.poolId)!.length > 0);
        const from = candidates.length > 0 ? candidates : killable;
        const choice = from[Math.floor(random() * from.length)];
        if (!choice) continue;
        const inFlight = steps.get(choice.w.poolId)!;
        for (const s of inFlight) hits.set(s.runId, (hits.get(s.runId) ?? 0) + 1);
        choice.w.child.kill("SIGKILL");
        watcher.watch(inFlight, ++kills, performance.now());
        log(`kill -9 #${kills}: worker ${choice.w.pid} (slot ${choice.slot}) with ${inFlight.length} step(s) in flight`);
        workers[choice.slot] = null;
        retired.push(choice.w);
        // the replacement starts in the background: the next kill may come before it is up
        restarts.push(
          choice.w.exited
            .then(() => startWorker(choice.slot))
            .then(
              () => undefined,
              (error: Error) => problem(`could not restart worker slot ${choice.slot}: ${error.message}`),
            ),
        );
      }
      await Promise.all(restarts);
    })();

    let apiRestarts = 0;
    const apiChaos = (async () => {
      for (let i = 1; i <= opts.apiRestarts; i++) {
        const at = (i * opts.launchMs) / (opts.apiRestarts + 1);
        while (performance.now() - launchStart < at && !finished) await sleep(50);
        if (finished) break;
        // alternately a crash and a deploy: kill -9, then SIGTERM (which closes its streams)
        if (i % 2 === 1) await api.kill9();
        else await api.stop(10_000);
        log(`${i % 2 === 1 ? "kill -9" : "SIGTERM"} of the API #${i} (SSE followers reconnect with Last-Event-ID)`);
        await sleep(300);
        api = await spawnApiProcess(opts.databaseUrl, apiPort);
        apiRestarts++;
      }
    })();

    await driver;
    await Promise.all([killer, apiChaos]);
    const resume = await watcher.stop(pool);
    watcher = null;
    await Promise.race([Promise.all(followers), sleep(30_000).then(() => problem("SSE followers did not finish within 30 s after the runs"))]);
    log(`all runs settled after ${((performance.now() - t0) / 1000).toFixed(1)} s; checking`);

    // No job left locked: live workers complete theirs, dead workers' are swept.
    await until("no locked job", async () => (await jobCensus(pool)).locked === 0, 15_000).catch(async () => {
      const locked = (await listJobs(pool)).filter((j) => j.locked_at !== null);
      problem(`${locked.length} job(s) still locked after the runs settled: ${JSON.stringify(locked).slice(0, 500)}`);
    });
    const liveJobs = (await listJobs(pool)).filter((j) => j.key !== null);
    for (const j of liveJobs) problem(`job ${j.key} is left although every run has settled`);

    const report = await verify(pool, runs, tools, received, problem);
    effectiveKills = resume.perKill.length;

    // Workers must never have needed the orphan repair.
    for (const w of [...retired, ...workers.filter((x): x is WorkerProcess => x !== null)]) {
      const out = w.output();
      if (/had no job/.test(out)) problem(`worker ${w.pid} re-enqueued runs that had no job: ${/.*had no job.*/.exec(out)?.[0]}`);
      const unexpected = /.*failed unexpectedly.*/.exec(out);
      if (unexpected) problem(`worker ${w.pid}: ${unexpected[0]}`);
    }

    const wallMs = performance.now() - t0;
    const result: ChaosReport = {
      seed,
      ...report,
      kills,
      effectiveKills,
      resumeLatenciesMs: resume.perStep,
      killResumeMs: resume.perKill,
      apiRestarts,
      sse: { followed: received.size, events: [...received.values()].reduce((n, e) => n + e.length, 0), reconnects },
      strandedSamples,
      netns: netns !== null,
      wallMs,
      problems,
    };
    printReport(result, log);
    return result;
  } finally {
    await Promise.allSettled(restarts);
    await watcher?.close();
    await stopAll(workers, 10_000);
    await api?.kill9();
    await tools?.close();
    await pool.end();
    await netns?.close();
  }
}

function printReport(r: ChaosReport, log: (line: string) => void): void {
  log("");
  log(`| chaos (seed ${r.seed}) | |`);
  log("|---|---|");
  log(
    `| runs | ${r.runs} + ${r.continuations} continuations: ${Object.entries(r.byStatus)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ")} |`,
  );
  log(`| committed steps | ${r.steps} (${r.retriedSteps} committed by a later attempt) |`);
  log(`| worker kill -9s | ${r.kills} (${r.effectiveKills} hit steps in flight)${r.netns ? "; one worker slot in its own network namespace" : ""} |`);
  log(`| API restarts (kill -9 and SIGTERM alternately) | ${r.apiRestarts} |`);
  log(
    `| http tool calls | ${r.http.requests} requests, ${r.http.keys} keys = ${r.http.effects} effects, ${r.http.deduplicated} duplicate(s) deduplicated; ${r.http.committedHttpSteps} committed http steps |`,
  );
  log(`| SSE followers | ${r.sse.followed} runs, ${r.sse.events} events, ${r.sse.reconnects} reconnects |`);
  log(`| stranded-run samples | ${r.strandedSamples} |`);
  log(`| resume after kill -9, per interrupted step | ${summarize(r.resumeLatenciesMs)} |`);
  log(`| resume after kill -9, first step per kill | ${summarize(r.killResumeMs)} |`);
  log(`| wall time | ${(r.wallMs / 1000).toFixed(1)} s |`);
  log(`| problems | ${r.problems.length} |`);
  if (r.resumeLatenciesMs.length > 0) {
    log(
      `resume latencies (ms, sorted): ${[...r.resumeLatenciesMs]
        .sort((a, b) => a - b)
        .map((v) => v.toFixed(0))
        .join(" ")}`,
    );
    log(`p90 ${percentile(r.resumeLatenciesMs, 90).toFixed(0)} ms`);
  }
}
