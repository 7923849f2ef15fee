// A network partition between one worker and Postgres, done for real: worker A reaches the
// database through an in-process TCP proxy (tcp-proxy.ts), worker B directly. A run's tool step
// is in flight on A when the proxy stalls (packets vanish, A's connections hang) or cuts (every
// connection reset, new ones refused). Once Postgres has noticed A's liveness connection is gone,
// B's sweeper frees A's job and B finishes the run; after heal(), A rejoins by itself (same
// process, a new pool registered) and its late commit is fenced out: nothing is written twice.
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { untilWith } from "./until.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "../../scripts/harness/throwaway-cluster.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let cluster: ThrowawayCluster;
let proxy: TcpProxy;
let agentId: string;
const workers: WorkerProcess[] = [];

/** Each tool step holds its worker this long: A is mid-step when the link goes. */
const WORK_MS = 1500;
const TOOL_STEPS = 3;
/** In the stall variant, when Postgres "notices" A is gone (its TCP keepalive, as configured in production). */
const SERVER_NOTICES_AFTER_MS = 1000;

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  const port = Number(new URL(cluster.url).port);
  proxy = await startTcpProxy({ host: "127.0.0.1", port });
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: TOOL_STEPS }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: WORK_MS } }] })), { text: "done" }],
  };
  const [agent] = await query<{ id: string }>(cluster.url, "insert into everruns.agents (name, config) values ('partition', $1) returning id", [
    JSON.stringify(config),
  ]);
  agentId = agent!.id;
}, 60_000);

afterEach(async () => {
  proxy.heal();
  for (const w of workers.splice(0)) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
  }
});

afterAll(async () => {
  await proxy?.close();
  await cluster?.destroy();
});

const until = untilWith(() => workers.map((w, i) => `--- worker ${i} (${w.poolId}):\n${w.output()}`).join("\n"));

async function startRun(content: string): Promise<string> {
  const [run] = await query<{ id: string }>(cluster.url, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
  ]);
  return run!.id;
}

async function jobHolder(runId: string): Promise<string | null> {
  const rows = await query<{ locked_by: string | null }>(cluster.url, "select locked_by from graphile_worker.jobs where key = $1", [`run:${runId}`]);
  return rows[0]?.locked_by ?? null;
}

async function runStatus(runId: string): Promise<string> {
  const rows = await query<{ status: string }>(cluster.url, "select status from everruns.runs where id = $1", [runId]);
  return rows[0]!.status;
}

/** The pool ids a worker's output says it started, in order. */
function poolsStarted(w: WorkerProcess): string[] {
  return [...w.output().matchAll(/worker pool (\S+) started/g)].map((m) => m[1]!);
}

/** Each step committed once, the event log gapless, and no step's events twice. */
async function expectWrittenOnce(runId: string): Promise<void> {
  const steps = await query<{ seq: number; kind: string; attempt: number }>(
    cluster.url,
    "select seq, kind, attempt from everruns.run_steps where run_id = $1 order by seq",
    [runId],
  );
  expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
  expect(steps.filter((s) => s.kind === "tool")).toHaveLength(TOOL_STEPS);
  expect(steps.filter((s) => s.kind === "llm")).toHaveLength(TOOL_STEPS + 1);

  const events = await query<{ seq: number; type: string; event: Record<string, unknown> }>(
    cluster.url,
    "select seq, type, event from everruns.run_events where run_id = $1 order by seq",
    [runId],
  );
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  // one result per tool call: the step whose attempt died on the partitioned worker included
  const results = events.filter((e) => e.type === "TOOL_CALL_RESULT").map((e) => e.event.toolCallId);
  expect(results).toHaveLength(TOOL_STEPS);
  expect(new Set(results).size).toBe(TOOL_STEPS);
  expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
  expect(events.filter((e) => e.type === "RUN_STARTED")).toHaveLength(1);
}

/**
 * A (through the proxy) alone takes the run and begins its first tool step; then `breakLink`
 * partitions it and B (direct) starts. Returns what the scenario needs to check.
 */
async function partitionMidStep(breakLink: () => void, label: string) {
  const a = await spawnWorker(proxy.urlFor(cluster.url), { WORKER_SHUTDOWN_TIMEOUT_MS: "2000" });
  workers.push(a);
  const runId = await startRun(`partition: ${label}`);
  // A holds the job and the first simulate_work is under way: its TOOL_CALL_START is appended live
  await until(
    "worker A to begin the first tool step",
    async () => {
      const rows = await query(cluster.url, "select 1 from everruns.run_events where run_id = $1 and type = 'TOOL_CALL_START'", [runId]);
      return rows.length > 0;
    },
    20_000,
    10,
  );
  breakLink();
  const brokenAt = performance.now();
  // A was the only worker and the partition is in place: whatever A held, it holds now
  expect(await jobHolder(runId)).toBe(a.poolId);
  const b = await spawnWorker(cluster.url, { WORKER_SHUTDOWN_TIMEOUT_MS: "2000" });
  workers.push(b);
  return { a, b, runId, brokenAt, pidA: a.child.pid };
}

/**
 * After heal(), A works again by itself: the same process, a pool of its own registered live (a
 * new one if it rebuilt its runner, else the old one re-registered by its liveness reconnect),
 * and with B stopped it finishes a new run.
 */
async function expectRejoined(a: WorkerProcess, pidA: number | undefined, healedAt: number): Promise<void> {
  const live = await until(
    "one of A's pools to be registered live after heal()",
    async () => {
      const rows = await query<{ pool_id: string }>(cluster.url, "select pool_id from everruns_private.live_workers where pool_id = any($1)", [
        poolsStarted(a),
      ]);
      return rows[0]?.pool_id;
    },
    30_000,
  );
  const pools = poolsStarted(a);
  console.log(
    `[partition] A live again as pool ${live} ${Math.round(performance.now() - healedAt)} ms after heal() (${pools.length > 1 ? "a new pool" : "its old pool re-registered"}; pools started: ${pools.join(", ")})`,
  );
  expect(a.child.pid).toBe(pidA);
  expect(a.child.exitCode, a.output()).toBeNull();
  // and it takes work again: with B gone, a new run is A's
  const b = workers[1]!;
  b.child.kill("SIGTERM");
  await b.exited;
  const next = await startRun("after the partition");
  await until("A to finish a run after rejoining", async () => (await runStatus(next)) === "succeeded", 30_000);
  await expectWrittenOnce(next);
}

it("stall: A's step moves to B once Postgres notices A is gone; after heal A rejoins by itself; nothing written twice", async () => {
  const { a, b, runId, brokenAt, pidA } = await partitionMidStep(() => proxy.stall({ serverNoticesAfterMs: SERVER_NOTICES_AFTER_MS }), "stall");
  await until(`B to free A's pool ${a.poolId}`, () => Promise.resolve(b.output().includes(`freed the jobs of dead worker pool(s) ${a.poolId}`)), 20_000);
  const takenOverMs = performance.now() - brokenAt;
  await until("the run to succeed on B while A is still partitioned", async () => (await runStatus(runId)) === "succeeded", 30_000);
  console.log(`[partition] stall: B freed A's job ${Math.round(takenOverMs)} ms after the stall (server noticed after ${SERVER_NOTICES_AFTER_MS} ms)`);
  // A's in-flight step finished during the stall; its commit hangs until heal()
  expect(a.output()).not.toMatch(/database back/);

  proxy.heal();
  await expectRejoined(a, pidA, performance.now());
  await expectWrittenOnce(runId);
  // the step A had begun was committed by B's attempt, not A's
  const [first] = await query<{ attempt: number }>(
    cluster.url,
    "select attempt from everruns.run_steps where run_id = $1 and kind = 'tool' order by seq limit 1",
    [runId],
  );
  expect(first!.attempt).toBeGreaterThan(1);
}, 90_000);

it("cut: A's connections reset, its step moves to B at once; after heal A rejoins by itself; nothing written twice", async () => {
  const { a, b, runId, brokenAt, pidA } = await partitionMidStep(() => proxy.cut(), "cut");
  await until(`B to free A's pool ${a.poolId}`, () => Promise.resolve(b.output().includes(`freed the jobs of dead worker pool(s) ${a.poolId}`)), 20_000);
  console.log(`[partition] cut: B freed A's job ${Math.round(performance.now() - brokenAt)} ms after the cut`);
  await until("the run to succeed on B while A is cut off", async () => (await runStatus(runId)) === "succeeded", 30_000);

  proxy.heal();
  await expectRejoined(a, pidA, performance.now());
  await expectWrittenOnce(runId);
  const [first] = await query<{ attempt: number }>(
    cluster.url,
    "select attempt from everruns.run_steps where run_id = $1 and kind = 'tool' order by seq limit 1",
    [runId],
  );
  expect(first!.attempt).toBeGreaterThan(1);
}, 90_000);
