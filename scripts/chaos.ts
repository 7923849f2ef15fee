// `everruns chaos`: durability by doing the failure, at scale. Several worker processes and an
// API process run many concurrent runs — slow streamed LLM turns, http tools against a local
// server that counts and deduplicates by Idempotency-Key, durable sleeps, external events,
// approvals answered from outside, cancellations — while random workers are kill -9'd every few
// seconds (and replaced) and the API is kill -9'd and restarted under SSE followers. At the end
// every invariant is checked against the database, the tool server and the followers:
//
//   - every run ended as it should: succeeded; cancelled when cancelled; interrupted when it
//     asked for an approval, and then its continuation succeeded
//   - every run's committed steps are exactly the expected sequence 1..n (a prefix of it for a
//     cancelled run): no gap, no step twice, nothing skipped
//   - http side effects are deduplicated: one key per committed http step, a key's effect once,
//     each committed step carries the result of its own key's effect, and no key was sent more
//     often than its step was attempted
//   - every event log is a valid, gap-free AG-UI stream; every SSE follower received each event
//     of its run exactly once, in order, across API restarts
//   - no job left locked; at no sampled moment a queued/running/waiting run without a job; no
//     worker had to repair an orphaned run
//
// It also measures resume latency after kill -9: from the kill to the moment the interrupted
// step's next attempt begins (the run's step_attempt moves), over every in-flight step a kill hit.
import { createServer, type Server } from "node:http";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { parseArgs } from "node:util";
import pg from "pg";
import { assertValidAgUiLog } from "../lib/agui-log.ts";
import { ConfigError } from "../db/errors.ts";
import { createPool, type Pool } from "../db/pool.ts";
import { followRunEvents, type RunEvent } from "../api/client.ts";
import {
  freePort,
  machineLine,
  percentile,
  scratchDatabase,
  sleep,
  spawnApiProcess,
  spawnWorkerProcess,
  summarize,
  until,
  type ApiProcess,
  type WorkerProcess,
} from "./fleet.ts";

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

export interface ChaosReport {
  seed: number;
  runs: number;
  continuations: number;
  byStatus: Record<string, number>;
  steps: number;
  /** committed steps whose attempt was > 1 (begun again after a kill or a fence) */
  retriedSteps: number;
  kills: number;
  /** kills that hit at least one step in flight */
  effectiveKills: number;
  /** ms from a kill -9 to the interrupted step's next attempt, one per interrupted step */
  resumeLatenciesMs: number[];
  /** ms from a kill -9 to the first interrupted step of that kill resuming, one per effective kill */
  killResumeMs: number[];
  apiRestarts: number;
  http: { requests: number; keys: number; effects: number; deduplicated: number; committedHttpSteps: number };
  sse: { followed: number; events: number; reconnects: number };
  strandedSamples: number;
  netns: boolean;
  wallMs: number;
  /** Every violated invariant, described. Empty when the chaos found nothing. */
  problems: string[];
}

type StepShape = Array<[kind: string, name: string]>;

interface Scenario {
  name: string;
  weight: number;
  config: (toolUrl: string) => Record<string, unknown>;
  steps: StepShape;
  final: "succeeded" | "interrupted" | "cancelled";
  /** the continuation's steps, for runs that end interrupted */
  continuation?: StepShape;
}

const LLM: [string, string] = ["llm", "scripted"];

const SCENARIOS: Scenario[] = [
  {
    // slow, streamed LLM turns: a kill lands mid-stream and the half message is superseded
    name: "llm",
    weight: 3,
    config: () => ({
      provider: "scripted",
      tools: ["echo"],
      script: [
        { text: "Thinking it over. ".repeat(12), delay_ms: 1200, tool_calls: [{ name: "echo", arguments: { k: 1 } }] },
        { text: "All done here. ".repeat(8), delay_ms: 800 },
      ],
    }),
    steps: [LLM, ["tool", "echo"], LLM],
    final: "succeeded",
  },
  {
    // http tools with side effects, two calls in one turn then one more
    name: "http",
    weight: 3,
    config: (url) => ({
      provider: "scripted",
      tools: [{ name: "charge", type: "http", url: `${url}/charge`, timeout_ms: 30_000 }],
      script: [
        { tool_calls: [{ name: "charge", arguments: { cents: 100 } }, { name: "charge", arguments: { cents: 200 } }], delay_ms: 200 },
        { tool_calls: [{ name: "charge", arguments: { cents: 300 } }], delay_ms: 200 },
        { text: "Charged three times." },
      ],
    }),
    steps: [LLM, ["tool", "charge"], ["tool", "charge"], LLM, ["tool", "charge"], LLM],
    final: "succeeded",
  },
  {
    // a tool that holds the worker
    name: "work",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] }, { text: "Worked.", delay_ms: 300 }],
    }),
    steps: [LLM, ["tool", "simulate_work"], LLM],
    final: "succeeded",
  },
  {
    // a durable timer: no worker held while it runs
    name: "sleep",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 1.5 } }] }, { text: "Slept." }],
    }),
    steps: [LLM, ["wait", "sleep"], ["tool", "sleep"], LLM],
    final: "succeeded",
  },
  {
    // parked until the chaos sends the event (everruns.send_event)
    name: "event",
    weight: 2,
    config: () => ({
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "Got the event." }],
    }),
    steps: [LLM, ["wait", "wait_for_event"], ["tool", "wait_for_event"], LLM],
    final: "succeeded",
  },
  {
    // a human approves an http call (everruns.resume_run); the continuation makes it
    name: "approval",
    weight: 2,
    config: (url) => ({
      provider: "scripted",
      tools: [{ name: "refund", type: "http", url: `${url}/refund`, requires_approval: true }],
      script: [
        { text: "I would like to refund.", tool_calls: [{ name: "refund", arguments: { cents: 500 } }], delay_ms: 300 },
        { text: "Refunded.", delay_ms: 400 },
      ],
    }),
    steps: [LLM, ["system", "interrupt"]],
    final: "interrupted",
    continuation: [["tool", "refund"], LLM],
  },
  {
    // cancelled while a step runs
    name: "cancel_running",
    weight: 1,
    config: () => ({
      provider: "scripted",
      tools: ["simulate_work"],
      script: [
        { text: "Starting a long job. ", delay_ms: 500, tool_calls: [{ name: "simulate_work", arguments: { ms: 120_000 } }] },
        { text: "Never reached." },
      ],
    }),
    steps: [LLM, ["tool", "simulate_work"], LLM],
    final: "cancelled",
  },
  {
    // cancelled while parked on a long timer
    name: "cancel_waiting",
    weight: 1,
    config: () => ({
      provider: "scripted",
      tools: ["sleep"],
      script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 3600 } }] }, { text: "Never reached." }],
    }),
    steps: [LLM, ["wait", "sleep"], ["tool", "sleep"], LLM],
    final: "cancelled",
  },
];

/** Deterministic PRNG (mulberry32), so a seed reproduces the mix and the timings chosen. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A tool endpoint that behaves like a payment API with idempotency keys: the first request with
 * a key performs the side effect and stores its response; every later request with that key gets
 * the stored response and performs nothing. It answers after a random delay so kills land while
 * calls are in flight.
 */
export class DedupeToolServer {
  readonly byKey = new Map<string, { requests: number; effect: number; response: string }>();
  requests = 0;
  effects = 0;
  missingKey = 0;
  url = "";
  private server!: Server;
  private readonly random: () => number;
  private readonly delayMs: [number, number];
  constructor(random: () => number = Math.random, delayMs: [number, number] = [150, 900]) {
    this.random = random;
    this.delayMs = delayMs;
  }

  /** Listens on host (default 127.0.0.1; a worker in another network namespace needs the veth address). */
  async start(host = "127.0.0.1"): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (d: Buffer) => (raw += d.toString()));
      req.on("end", () => {
        this.requests++;
        const key = req.headers["idempotency-key"];
        if (typeof key !== "string" || key === "") {
          this.missingKey++;
          res.writeHead(400, { "content-type": "application/json" }).end('{"error":"Idempotency-Key required"}');
          return;
        }
        let entry = this.byKey.get(key);
        if (!entry) {
          this.effects++;
          entry = { requests: 0, effect: this.effects, response: JSON.stringify({ effect_id: this.effects, path: req.url, request: JSON.parse(raw || "null") as unknown }) };
          this.byKey.set(key, entry);
        }
        entry.requests++;
        const response = entry.response;
        const [lo, hi] = this.delayMs;
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(200, { "content-type": "application/json" }).end(response);
        }, lo + this.random() * (hi - lo));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, host, () => resolve()));
    this.url = `http://${host}:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A network namespace joined to this one by a veth pair, with a TCP relay to Postgres. */
interface Netns {
  name: string;
  /** this side's veth address, reachable from inside the namespace and from here */
  hostIp: string;
  /** the database URL as seen from inside the namespace */
  databaseUrl: string;
  close(): Promise<void>;
}

export function netnsAvailable(): boolean {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const tag = randomBytes(3).toString("hex");
  const name = `evprobe${tag}`;
  try {
    execFileSync("ip", ["netns", "add", name], { stdio: "ignore" });
    try {
      execFileSync("ip", ["link", "add", `evp${tag}`, "type", "veth", "peer", "name", `evq${tag}`], { stdio: "ignore" });
      execFileSync("ip", ["link", "set", `evq${tag}`, "netns", name], { stdio: "ignore" });
      return true;
    } finally {
      execFileSync("ip", ["netns", "del", name], { stdio: "ignore" });
      try {
        execFileSync("ip", ["link", "del", `evp${tag}`], { stdio: "ignore" });
      } catch {
        // went with the namespace
      }
    }
  } catch {
    return false;
  }
}

async function createNetns(databaseUrl: string): Promise<Netns> {
  const tag = randomBytes(3).toString("hex");
  const name = `everruns-${tag}`;
  const host = `evh${tag}`;
  const peer = `evw${tag}`;
  const octet = 1 + (parseInt(tag.slice(0, 2), 16) % 250);
  const hostIp = `10.231.${octet}.1`;
  const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
  ip("netns", "add", name);
  try {
    ip("link", "add", host, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", name);
    ip("addr", "add", `${hostIp}/30`, "dev", host);
    ip("link", "set", host, "up");
    ip("netns", "exec", name, "ip", "addr", "add", `10.231.${octet}.2/30`, "dev", peer);
    ip("netns", "exec", name, "ip", "link", "set", peer, "up");
    ip("netns", "exec", name, "ip", "link", "set", "lo", "up");
  } catch (error) {
    try {
      ip("netns", "del", name);
    } catch {
      // already gone
    }
    throw error;
  }
  // Postgres listens on loopback only: relay the veth address to it. Each relayed connection is
  // a plain TCP pipe, so a kill -9 inside the namespace closes the backend as a direct one would.
  const target = new URL(databaseUrl);
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((inside) => {
    const outside = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(inside).add(outside);
    const close = () => {
      inside.destroy();
      outside.destroy();
      sockets.delete(inside);
      sockets.delete(outside);
    };
    inside.on("error", close).on("close", close);
    outside.on("error", close).on("close", close);
    inside.pipe(outside);
    outside.pipe(inside);
  });
  await new Promise<void>((resolve) => relay.listen(0, hostIp, () => resolve()));
  const url = new URL(databaseUrl);
  url.hostname = hostIp;
  url.port = String((relay.address() as net.AddressInfo).port);
  return {
    name,
    hostIp,
    databaseUrl: url.toString(),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      try {
        ip("netns", "del", name); // also removes the veth pair
      } catch {
        // nothing to clean
      }
    },
  };
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

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** A step in flight on a worker that is about to be killed. */
export interface InFlightStep {
  runId: string;
  seq: number;
  attempt: number;
}

/** The steps a worker pool is running right now: its locked jobs whose step has begun. */
export async function stepsInFlight(pool: Pool, poolId: string): Promise<InFlightStep[]> {
  const { rows } = await pool.query<InFlightStep>(
    `select r.id as "runId", r.step_cursor as seq, r.step_attempt as attempt
     from graphile_worker._private_jobs j join everruns.runs r on r.id = (j.payload ->> 'run_id')::uuid
     where j.locked_by = $1 and r.step_cursor = (j.payload ->> 'seq')::int and r.status = 'running' and r.step_attempt > 0`,
    [poolId],
  );
  return rows;
}

interface Watched extends InFlightStep {
  kill: number;
  killedAt: number;
  observedAt?: number;
  /** "attempt": a new attempt began (certainly a resume); "moved": the step was committed
   *  between two polls (a resume only if a later attempt committed it); "ended": the run ended */
  how?: "attempt" | "moved" | "ended";
}

/**
 * Resume latency after kill -9: each step a kill interrupted is polled (every few ms, on its own
 * connection) until its next attempt begins, i.e. the run's step_attempt moves past the killed
 * attempt's (or the step is committed by a later attempt between two polls).
 */
export class ResumeWatcher {
  private readonly client: pg.Client;
  private readonly pending: Watched[] = [];
  private readonly all: Watched[] = [];
  private running = true;
  private loop: Promise<void> | null = null;
  constructor(databaseUrl: string) {
    this.client = new pg.Client({ connectionString: databaseUrl, application_name: "everruns-chaos-watch" });
  }

  async start(): Promise<this> {
    await this.client.connect();
    this.loop = this.poll();
    return this;
  }

  watch(steps: InFlightStep[], kill: number, killedAt: number): void {
    for (const s of steps) {
      const w: Watched = { ...s, kill, killedAt };
      this.pending.push(w);
      this.all.push(w);
    }
  }

  private async poll(): Promise<void> {
    while (this.running || this.pending.length > 0) {
      if (this.pending.length === 0) {
        await sleep(5);
        continue;
      }
      const { rows } = await this.client.query<{ id: string; step_cursor: number; step_attempt: number; status: string }>(
        "select id, step_cursor, step_attempt, status from everruns.runs where id = any($1)",
        [[...new Set(this.pending.map((p) => p.runId))]],
      );
      const now = performance.now();
      const state = new Map(rows.map((r) => [r.id, r]));
      for (let i = this.pending.length - 1; i >= 0; i--) {
        const p = this.pending[i]!;
        const r = state.get(p.runId);
        const how = !r || TERMINAL.has(r.status) ? "ended" : r.step_cursor > p.seq ? "moved" : r.step_attempt > p.attempt ? "attempt" : null;
        if (how) {
          p.observedAt = now;
          p.how = how;
          this.pending.splice(i, 1);
        } else if (!this.running && now - p.killedAt > 30_000) {
          this.pending.splice(i, 1);
        }
      }
      await sleep(2);
    }
  }

  /** Stops at once (an error path); stop() is the normal end. */
  async close(): Promise<void> {
    this.running = false;
    this.pending.length = 0;
    await this.loop?.catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }

  /** Stops polling (after what is pending resolved, 30 s at most) and returns the latencies. */
  async stop(pool: Pool): Promise<{ perStep: number[]; perKill: number[] }> {
    this.running = false;
    await this.loop;
    await this.client.end();
    const moved = this.all.filter((w) => w.how === "moved");
    const { rows } = await pool.query<{ run_id: string; seq: number; attempt: number }>(
      "select run_id, seq, attempt from everruns.run_steps where run_id = any($1)",
      [[...new Set(moved.map((w) => w.runId))]],
    );
    const committed = new Map(rows.map((r) => [`${r.run_id}:${r.seq}`, r.attempt]));
    const perStep: number[] = [];
    const perKill = new Map<number, number>();
    for (const w of this.all) {
      if (w.observedAt === undefined || w.how === "ended") continue;
      // committed by the killed attempt itself (its commit raced the kill): not interrupted
      if (w.how === "moved" && (committed.get(`${w.runId}:${w.seq}`) ?? 0) <= w.attempt) continue;
      const ms = w.observedAt - w.killedAt;
      perStep.push(ms);
      perKill.set(w.kill, Math.min(perKill.get(w.kill) ?? Infinity, ms));
    }
    return { perStep, perKill: [...perKill.values()] };
  }
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
    for (const s of SCENARIOS) {
      const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
        `chaos-${s.name}-${randomBytes(3).toString("hex")}`,
        JSON.stringify(s.config(toolUrl)),
      ]);
      agents.set(s.name, rows[0]!.id);
    }
    const totalWeight = SCENARIOS.reduce((n, s) => n + s.weight, 0);
    const pick = (): Scenario => {
      let r = random() * totalWeight;
      for (const s of SCENARIOS) if ((r -= s.weight) < 0) return s;
      return SCENARIOS[0]!;
    };

    // processes
    const startWorker = async (slot: number): Promise<WorkerProcess> => {
      const inNetns = slot === 0 && netns !== null;
      const w = await spawnWorkerProcess(inNetns ? netns!.databaseUrl : opts.databaseUrl, opts.concurrency, inNetns ? { netns: netns!.name } : {});
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
      const { rows } = await pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
        agents.get(scenario.name)!,
        JSON.stringify({ messages: [{ role: "user", content: `chaos run ${index} (${scenario.name})` }] }),
      ]);
      const run: TrackedRun = {
        id: rows[0]!.id,
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
          const { rows } = await pool.query<{ id: string; status: string; waiting: { type?: string } | null; interrupts: { interrupts?: Array<{ id: string }> } | null; continued_by: string | null }>(
            "select id, status, waiting, interrupts, continued_by from everruns.runs where id = any($1) and status not in ('succeeded', 'failed', 'cancelled')",
            [open.map((r) => r.id)],
          );
          for (const row of rows) {
            const run = byId.get(row.id)!;
            const s = run.scenario.name;
            if (row.status === "waiting" && run.parkedAt === undefined) run.parkedAt = now;
            if (run.acted) continue;
            if (s === "event" && row.status === "waiting" && row.waiting?.type === "event" && now - run.parkedAt! >= run.actAfterMs) {
              run.acted = true;
              await pool.query("select everruns.send_event($1, 'go', $2)", [run.id, JSON.stringify({ from: "chaos" })]);
            } else if (s === "approval" && row.status === "interrupted" && !row.continued_by) {
              run.acted = true;
              const answers = (row.interrupts?.interrupts ?? []).map((i) => ({ interruptId: i.id, status: "resolved", payload: { approved: true } }));
              const { rows: c } = await pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [run.id, JSON.stringify(answers)]);
              run.continuation = c[0]!.id;
            } else if (s === "cancel_running" && row.status === "running" && now - run.launchedAt >= run.cancelAfterMs) {
              run.acted = true;
              await pool.query("select everruns.cancel_run($1)", [run.id]);
            } else if (s === "cancel_waiting" && row.status === "waiting" && now - run.parkedAt! >= run.actAfterMs) {
              run.acted = true;
              await pool.query("select everruns.cancel_run($1)", [run.id]);
            }
          }
          // Sampled invariant: a run that should progress always has its job.
          if (++tick % 10 === 0) {
            const { rows: stranded } = await pool.query<{ id: string; status: string }>(
              `select r.id, r.status from everruns.runs r
               where r.status in ('queued', 'running', 'waiting')
                 and not exists (select 1 from graphile_worker._private_jobs j where j.key = 'run:' || r.id::text)`,
            );
            strandedSamples++;
            for (const s of stranded) problem(`run ${s.id} is ${s.status} but has no job (sample ${strandedSamples})`);
          }
          if (!launching) {
            const continuations = runs.filter((r) => r.continuation).map((r) => r.continuation!);
            const { rows: left } = await pool.query<{ n: number }>(
              "select count(*)::int as n from everruns.runs where (id = any($1) or id = any($2)) and status not in ('succeeded', 'failed', 'cancelled', 'interrupted')",
              [runs.map((r) => r.id), continuations],
            );
            const unanswered = runs.filter((r) => r.scenario.name === "approval" && !r.continuation).length;
            if (left[0]!.n === 0 && unanswered === 0) break;
            if (now - launchStart > opts.launchMs + opts.settleTimeoutMs) {
              problem(`${left[0]!.n} run(s) did not finish within ${opts.settleTimeoutMs} ms after the launch phase`);
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
        const { rows: busy } = await pool.query<{ locked_by: string; n: number }>(
          "select locked_by, count(*)::int as n from graphile_worker._private_jobs where locked_by is not null group by 1",
        );
        const live = workers.map((w, slot) => ({ w, slot })).filter((x): x is { w: WorkerProcess; slot: number } => x.w !== null && x.w.alive());
        const candidates = live.filter((x) => busy.some((b) => b.locked_by === x.w.poolId));
        const choice = (candidates.length > 0 ? candidates : live)[Math.floor(random() * (candidates.length > 0 ? candidates.length : live.length))];
        if (!choice) continue;
        const inFlight = await stepsInFlight(pool, choice.w.poolId);
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
        if (i % 2 === 1) await api!.kill9();
        else await api!.stop(10_000);
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
    await until("no locked job", async () => {
      const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from graphile_worker._private_jobs where locked_at is not null");
      return rows[0]!.n === 0;
    }, 15_000).catch(async () => {
      const { rows } = await pool.query("select id, key, locked_by, payload from graphile_worker._private_jobs where locked_at is not null");
      problem(`${rows.length} job(s) still locked after the runs settled: ${JSON.stringify(rows).slice(0, 500)}`);
    });
    const { rows: liveJobs } = await pool.query<{ key: string; run_at: Date }>(
      "select key, run_at from graphile_worker._private_jobs where key is not null",
    );
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
    await Promise.all(workers.map((w) => w?.stop(10_000)));
    await api?.kill9();
    await tools?.close();
    await pool.end();
    await netns?.close();
  }
}

async function verify(
  pool: Pool,
  runs: TrackedRun[],
  tools: DedupeToolServer,
  received: Map<string, RunEvent[]>,
  problem: (line: string) => void,
): Promise<Omit<ChaosReport, "seed" | "kills" | "effectiveKills" | "resumeLatenciesMs" | "killResumeMs" | "apiRestarts" | "sse" | "strandedSamples" | "netns" | "wallMs" | "problems">> {
  const ids = runs.map((r) => r.id);
  const { rows: rowsAll } = await pool.query<{ id: string; status: string; continued_by: string | null; parent_run_id: string | null; error: unknown }>(
    "select id, status, continued_by, parent_run_id, error from everruns.runs where id = any($1) or parent_run_id = any($1)",
    [ids],
  );
  const byId = new Map(rowsAll.map((r) => [r.id, r]));
  const { rows: stepRows } = await pool.query<{ run_id: string; seq: number; kind: string; name: string; attempt: number; input: { tool_call_id?: string } | null; output: { content?: string } | null }>(
    "select run_id, seq, kind, name, attempt, input, output from everruns.run_steps where run_id in (select id from everruns.runs where id = any($1) or parent_run_id = any($1)) order by run_id, seq",
    [ids],
  );
  const steps = new Map<string, typeof stepRows>();
  for (const s of stepRows) {
    let list = steps.get(s.run_id);
    if (!list) steps.set(s.run_id, (list = []));
    list.push(s);
  }
  const byStatus: Record<string, number> = {};
  const checks: Array<{ id: string; shape: StepShape; prefix: boolean; status: string; label: string }> = [];
  for (const run of runs) {
    checks.push({ id: run.id, shape: run.scenario.steps, prefix: run.scenario.final === "cancelled", status: run.scenario.final, label: run.scenario.name });
    const row = byId.get(run.id);
    if (run.scenario.continuation) {
      const next = row?.continued_by;
      if (!next) problem(`approval run ${run.id} has no continuation`);
      else checks.push({ id: next, shape: run.scenario.continuation, prefix: false, status: "succeeded", label: `${run.scenario.name} continuation` });
    }
  }
  let continuations = 0;
  for (const c of checks) {
    const row = byId.get(c.id);
    if (c.label.endsWith("continuation")) continuations++;
    if (!row) {
      problem(`${c.label} run ${c.id} is missing`);
      continue;
    }
    byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
    if (row.status !== c.status) problem(`${c.label} run ${c.id} ended ${row.status}, expected ${c.status} (error: ${JSON.stringify(row.error)})`);
    const got = steps.get(c.id) ?? [];
    got.forEach((s, i) => {
      if (s.seq !== i + 1) problem(`${c.label} run ${c.id}: step at position ${i} has seq ${s.seq}: a gap`);
    });
    const shape = got.map((s) => `${s.kind}:${s.name}`).join(", ");
    const want = c.shape.map(([k, n]) => `${k}:${n}`);
    const ok = c.prefix ? got.length <= want.length && want.slice(0, got.length).join(", ") === shape : want.join(", ") === shape;
    if (!ok) problem(`${c.label} run ${c.id}: committed steps [${shape}], expected ${c.prefix ? "a prefix of " : ""}[${want.join(", ")}]`);
  }

  // http side effects
  const httpSteps = stepRows.filter((s) => s.kind === "tool" && (s.name === "charge" || s.name === "refund"));
  const cancelled = new Set(rowsAll.filter((r) => r.status === "cancelled").map((r) => r.id));
  const stepKeys = new Set<string>();
  for (const s of httpSteps) {
    const key = `${s.run_id}:${s.input?.tool_call_id}`;
    if (stepKeys.has(key)) problem(`http key ${key} committed twice`);
    stepKeys.add(key);
    const entry = tools.byKey.get(key);
    if (!entry) {
      problem(`committed http step ${s.run_id}#${s.seq} has key ${key}, which the tool server never saw`);
      continue;
    }
    if (s.output?.content !== entry.response) problem(`http step ${s.run_id}#${s.seq} committed ${s.output?.content}, not its key's effect ${entry.response}`);
    if (entry.requests > s.attempt) problem(`http key ${key} was sent ${entry.requests} times but its step was attempted only ${s.attempt} time(s)`);
  }
  for (const [key, entry] of tools.byKey) {
    const runId = key.split(":")[0]!;
    if (!stepKeys.has(key) && !cancelled.has(runId)) problem(`the tool server performed effect ${entry.effect} for key ${key}, but no committed step has that key`);
  }
  if (tools.missingKey > 0) problem(`${tools.missingKey} http request(s) came without an Idempotency-Key`);
  const effectsPerKey = new Set([...tools.byKey.values()].map((e) => e.effect)).size;
  if (effectsPerKey !== tools.byKey.size || tools.effects !== tools.byKey.size) problem(`the tool server performed ${tools.effects} effects for ${tools.byKey.size} keys`);

  // event logs
  const { rows: eventRows } = await pool.query<{ run_id: string; seq: number; type: string; event: Record<string, unknown> }>(
    "select run_id, seq, type, event from everruns.run_events where run_id = any($1) order by run_id, seq",
    [checks.map((c) => c.id)],
  );
  const events = new Map<string, typeof eventRows>();
  for (const e of eventRows) {
    let list = events.get(e.run_id);
    if (!list) events.set(e.run_id, (list = []));
    list.push(e);
  }
  for (const c of checks) {
    const log = events.get(c.id) ?? [];
    try {
      await assertValidAgUiLog(log);
      if (log.filter((e) => e.type === "RUN_STARTED").length !== 1) throw new Error("not exactly one RUN_STARTED");
      const last = log.at(-1)?.type;
      if (last !== "RUN_FINISHED" && last !== "RUN_ERROR") throw new Error(`the log ends with ${last}, not a terminal event`);
    } catch (error) {
      problem(`${c.label} run ${c.id}: invalid AG-UI log: ${(error as Error).message}`);
    }
  }
  for (const [runId, got] of received) {
    const stored = events.get(runId) ?? [];
    const same =
      got.length === stored.length && got.every((e, i) => e.seq === stored[i]!.seq && JSON.stringify(e.event) === JSON.stringify(stored[i]!.event));
    if (!same) problem(`SSE follower of run ${runId} received seqs [${got.map((e) => e.seq).join(",")}], the log has 1..${stored.length}`);
  }

  return {
    runs: runs.length,
    continuations,
    byStatus,
    steps: stepRows.length,
    retriedSteps: stepRows.filter((s) => s.attempt > 1).length,
    http: {
      requests: tools.requests,
      keys: tools.byKey.size,
      effects: tools.effects,
      deduplicated: tools.requests - tools.byKey.size,
      committedHttpSteps: httpSteps.length,
    },
  };
}

function printReport(r: ChaosReport, log: (line: string) => void): void {
  log("");
  log(`| chaos (seed ${r.seed}) | |`);
  log("|---|---|");
  log(`| runs | ${r.runs} + ${r.continuations} continuations: ${Object.entries(r.byStatus).map(([s, n]) => `${n} ${s}`).join(", ")} |`);
  log(`| committed steps | ${r.steps} (${r.retriedSteps} committed by a later attempt) |`);
  log(`| worker kill -9s | ${r.kills} (${r.effectiveKills} hit steps in flight)${r.netns ? "; one worker slot in its own network namespace" : ""} |`);
  log(`| API restarts (kill -9 and SIGTERM alternately) | ${r.apiRestarts} |`);
  log(`| http tool calls | ${r.http.requests} requests, ${r.http.keys} keys = ${r.http.effects} effects, ${r.http.deduplicated} duplicate(s) deduplicated; ${r.http.committedHttpSteps} committed http steps |`);
  log(`| SSE followers | ${r.sse.followed} runs, ${r.sse.events} events, ${r.sse.reconnects} reconnects |`);
  log(`| stranded-run samples | ${r.strandedSamples} |`);
  log(`| resume after kill -9, per interrupted step | ${summarize(r.resumeLatenciesMs)} |`);
  log(`| resume after kill -9, first step per kill | ${summarize(r.killResumeMs)} |`);
  log(`| wall time | ${(r.wallMs / 1000).toFixed(1)} s |`);
  log(`| problems | ${r.problems.length} |`);
  if (r.resumeLatenciesMs.length > 0) {
    log(`resume latencies (ms, sorted): ${[...r.resumeLatenciesMs].sort((a, b) => a - b).map((v) => v.toFixed(0)).join(" ")}`);
    log(`p90 ${percentile(r.resumeLatenciesMs, 90).toFixed(0)} ms`);
  }
}

export interface ResumeLatencyOptions {
  databaseUrl: string;
  kills: number;
  /** worker processes (at least 2: a survivor takes the killed steps over) */
  workers: number;
  concurrency: number;
  log: (line: string) => void;
}

/**
 * Resume latency after kill -9, measured on its own (no other chaos): worker processes run
 * steps that hold them (simulate_work, 1.5 s each) at half their concurrency, so a survivor
 * always has room; every ~2 s the owner of a step in flight is kill -9'd (and replaced), and
 * each interrupted step is timed until its next attempt begins on another worker.
 */
export async function measureResumeLatency(opts: ResumeLatencyOptions): Promise<{ perStep: number[]; perKill: number[]; kills: number }> {
  const pool = createPool(opts.databaseUrl, "everruns-chaos", 4);
  const workers: WorkerProcess[] = [];
  try {
    const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
      `resume-latency-${randomBytes(3).toString("hex")}`,
      JSON.stringify({
        provider: "scripted",
        tools: ["simulate_work"],
        max_steps: 2000,
        script: Array.from({ length: 500 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] })),
      }),
    ]);
    for (let i = 0; i < Math.max(2, opts.workers); i++) workers.push(await spawnWorkerProcess(opts.databaseUrl, opts.concurrency));
    const runs = Math.max(1, Math.floor((workers.length * opts.concurrency) / 2));
    const { rows: started } = await pool.query<{ id: string }>(
      "insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id",
      [rows[0]!.id, JSON.stringify({ messages: [{ role: "user", content: "hold the workers" }] }), runs],
    );
    const watcher = await new ResumeWatcher(opts.databaseUrl).start();
    let kills = 0;
    while (kills < opts.kills) {
      await sleep(1500 + Math.random() * 1000);
      // a worker with a step well under way (begun, not about to commit)
      let victim: { w: WorkerProcess; i: number; steps: InFlightStep[] } | null = null;
      for (const i of workers.map((_, i) => i).sort(() => Math.random() - 0.5)) {
        const steps = await stepsInFlight(pool, workers[i]!.poolId);
        if (steps.length > 0) {
          victim = { w: workers[i]!, i, steps };
          break;
        }
      }
      if (!victim) continue;
      victim.w.child.kill("SIGKILL");
      watcher.watch(victim.steps, ++kills, performance.now());
      await victim.w.exited;
      workers[victim.i] = await spawnWorkerProcess(opts.databaseUrl, opts.concurrency);
    }
    const result = await watcher.stop(pool);
    await pool.query("select everruns.cancel_run(id) from unnest($1::uuid[]) id", [started.map((r) => r.id)]);
    opts.log(`resume after kill -9 (${kills} kills, ${workers.length} workers x concurrency ${opts.concurrency}, half busy): per interrupted step ${summarize(result.perStep)}; first step per kill ${summarize(result.perKill)}`);
    return { ...result, kills };
  } finally {
    await Promise.all(workers.map((w) => w.stop(10_000)));
    await pool.end();
  }
}

export const CHAOS_USAGE = `everruns chaos [--runs 1000] [--minutes 5] [--workers 4] [--concurrency 8] [--kill-every 3]
               [--min-alive N] [--api-restarts 6] [--followers 30] [--netns] [--seed N] [--keep]
  kill -9 worker processes every --kill-every seconds (replacing them) and the API --api-restarts
  times while --runs runs of every kind are started over --minutes; then check every invariant.
  A kill waits until --min-alive workers are up (default: all).
  Runs on a throwaway database on the server of DATABASE_URL (--keep leaves it for inspection).`;

/** `everruns chaos [flags]` against the Postgres server of databaseUrl. Returns the exit code. */
export async function chaosCommand(args: string[], databaseUrl: string, log: (line: string) => void = console.log): Promise<number> {
  const parse = () =>
    parseArgs({
      args,
      options: {
        help: { type: "boolean", short: "h", default: false },
        runs: { type: "string", default: "1000" },
        minutes: { type: "string", default: "5" },
        workers: { type: "string", default: "4" },
        concurrency: { type: "string", default: "8" },
        "kill-every": { type: "string", default: "3" },
        "min-alive": { type: "string" },
        "api-restarts": { type: "string", default: "6" },
        followers: { type: "string", default: "30" },
        netns: { type: "boolean", default: false },
        seed: { type: "string" },
        keep: { type: "boolean", default: false },
      },
    });
  let values: ReturnType<typeof parse>["values"];
  try {
    ({ values } = parse());
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n\n${CHAOS_USAGE}`);
  }
  if (values.help) {
    log(CHAOS_USAGE);
    return 0;
  }
  const num = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(`--${name} must be a number from ${min} to ${max}, got ${v}`);
    return n;
  };
  if (values.netns && !netnsAvailable()) throw new ConfigError("--netns needs root and iproute2 (ip netns, veth); this machine cannot create a network namespace");
  const db = await scratchDatabase(databaseUrl, "everruns_chaos");
  let report: ChaosReport;
  try {
    report = await runChaos({
      databaseUrl: db.url,
      runs: Math.round(num("runs", values.runs, 1, 1_000_000)),
      launchMs: num("minutes", values.minutes, 0.1, 24 * 60) * 60_000,
      workers: Math.round(num("workers", values.workers, 2, 64)),
      concurrency: Math.round(num("concurrency", values.concurrency, 1, 1000)),
      killEveryMs: num("kill-every", values["kill-every"], 0, 3600) * 1000,
      minAlive: values["min-alive"] === undefined ? undefined : Math.round(num("min-alive", values["min-alive"], 2, 64)),
      apiRestarts: Math.round(num("api-restarts", values["api-restarts"], 0, 1000)),
      followers: Math.round(num("followers", values.followers, 0, 10_000)),
      settleTimeoutMs: 300_000,
      netns: values.netns,
      seed: values.seed === undefined ? undefined : Math.round(num("seed", values.seed, 0, 2 ** 31)),
      log,
    });
  } finally {
    if (values.keep) log(`kept the database: ${db.url}`);
    else await db.drop();
  }
  for (const p of report.problems) log(`PROBLEM: ${p}`);
  log(report.problems.length === 0 ? "chaos: every invariant held" : `chaos: ${report.problems.length} problem(s)`);
  return report.problems.length === 0 ? 0 : 1;
}
