// A database outage, done for real: the test's own Postgres cluster is stopped (immediate, as in
// a crash) for 5 s in the middle of a run. The worker process must ride it out: same pid, a new
// graphile-worker pool once the database is back, and the run finishing with each step committed once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { sleep } from "../../lib/sleep.ts";
import { untilWith } from "./until.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "../../scripts/harness/throwaway-cluster.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let cluster: ThrowawayCluster;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  cluster = await startThrowawayCluster();
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
  await cluster?.destroy();
});

const STEPS = 8;

async function committedSteps(runId: string): Promise<number> {
  const rows = await query<{ n: number }>(cluster.url, "select count(*)::int as n from everruns.run_steps where run_id = $1", [runId]);
  return rows[0]!.n;
}

const until = untilWith(() => worker?.output() ?? "");

it("a worker rides out a 5 s database outage mid-run: same process, run succeeds, each step committed once", async () => {
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: STEPS }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 300 } }] })), { text: "done" }],
  };
  const [agent] = await query<{ id: string }>(cluster.url, "insert into everruns.agents (name, config) values ('outage', $1) returning id", [
    JSON.stringify(config),
  ]);
  worker = await spawnWorker(cluster.url, { WORKER_SHUTDOWN_TIMEOUT_MS: "2000" });
  const pid = worker.child.pid;
  const [run] = await query<{ id: string }>(cluster.url, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent!.id,
    JSON.stringify({ messages: [{ role: "user", content: "work through an outage" }] }),
  ]);
  const runId = run!.id;

  // mid-run: a few steps committed, a simulate_work under way
  await until("3 committed steps", async () => (await committedSteps(runId)) >= 3, 20_000, 10);
  await cluster.stopImmediate();
  const downAt = performance.now();
  await sleep(5_000);
  expect(worker.child.exitCode, `the worker exited during the outage:\n${worker.output()}`).toBeNull();
  await cluster.start();
  const backAt = performance.now();
  const before = await committedSteps(runId);
  await until("the next committed step", async () => (await committedSteps(runId)) > before, 20_000, 10);
  const recoveryMs = performance.now() - backAt;
  console.log(`database down ${((backAt - downAt) / 1000).toFixed(1)} s; next step committed ${Math.round(recoveryMs)} ms after it was back`);

  const status = await until(
    "the run to finish",
    async () => {
      const rows = await query<{ status: string }>(cluster.url, "select status from everruns.runs where id = $1", [runId]);
      return ["succeeded", "failed", "cancelled"].includes(rows[0]!.status) && rows[0]!.status;
    },
    20_000,
  );
  expect(status, worker.output()).toBe("succeeded");

  // the same process, still running
  expect(worker.child.pid).toBe(pid);
  expect(worker.child.exitCode).toBeNull();
  const out = worker.output();
  expect(out.match(/database unreachable/g)?.length, out).toBe(1);
  expect(out).toMatch(/database back after \d+(\.\d+)? s/);

  // each step committed once: one row per seq, no gaps
  const steps = await query<{ seq: number; kind: string; status: string }>(
    cluster.url,
    "select seq, kind, status from everruns.run_steps where run_id = $1 order by seq",
    [runId],
  );
  expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
  expect(steps.filter((s) => s.kind === "tool")).toHaveLength(STEPS);
  expect(steps.filter((s) => s.kind === "llm")).toHaveLength(STEPS + 1);

  // and it still stops cleanly, with status 0
  worker.child.kill("SIGTERM");
  expect(await worker.exited).toEqual({ code: 0, signal: null });
}, 60_000);

it("a step whose work finishes during an outage commits once the database is back: no step runs twice", async () => {
  const WORK_MS = 2_500;
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: 3 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: WORK_MS } }] })), { text: "done" }],
  };
  const [agent] = await query<{ id: string }>(cluster.url, "insert into everruns.agents (name, config) values ('outage-commit', $1) returning id", [
    JSON.stringify(config),
  ]);
  // the default shutdown timeout (10 s): the runner stopped by the outage lets the step finish its work
  worker = await spawnWorker(cluster.url);
  const [run] = await query<{ id: string }>(cluster.url, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent!.id,
    JSON.stringify({ messages: [{ role: "user", content: "finish during an outage" }] }),
  ]);
  const runId = run!.id;

  // steps 1 (llm), 2 (tool), 3 (llm) committed: the tool step 4 has just begun its 2.5 s of work
  await until("3 committed steps", async () => (await committedSteps(runId)) >= 3, 30_000, 10);
  await cluster.stopImmediate();
  await sleep(WORK_MS + 1_500); // the work ends, and its commit fails, while the database is down
  await cluster.start();

  await until(
    "the run to succeed",
    async () => (await query<{ status: string }>(cluster.url, "select status from everruns.runs where id = $1", [runId]))[0]!.status === "succeeded",
    30_000,
  );
  const out = worker.output();
  expect(out, out).toMatch(/step 4 of run \S+: the database went away while it committed/);
  expect(out, out).toMatch(/step 4 of run \S+: committed after \d+(\.\d+)? s of retries/);
  // every step committed by its first attempt: the one finished in the outage was not run again
  const steps = await query<{ seq: number; attempt: number }>(cluster.url, "select seq, attempt from everruns.run_steps where run_id = $1 order by seq", [
    runId,
  ]);
  expect(steps).toEqual(Array.from({ length: 7 }, (_, i) => ({ seq: i + 1, attempt: 1 })));

  worker.child.kill("SIGTERM");
  expect(await worker.exited).toEqual({ code: 0, signal: null });
}, 90_000);

it("a step handed back during an outage (its commit retries ran out) still finishes: the old pool's job is freed once the database is back", async () => {
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: 3 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 1_000 } }] })), { text: "done" }],
  };
  const [agent] = await query<{ id: string }>(cluster.url, "insert into everruns.agents (name, config) values ('outage-handback', $1) returning id", [
    JSON.stringify(config),
  ]);
  // commits retried for 1 s only: the step finished in the outage is handed back while the
  // database is still down, so graphile-worker cannot record the job's failure either
  worker = await spawnWorker(cluster.url, { EVERRUNS_COMMIT_RETRY_MS: "1000" });
  const pid = worker.child.pid;
  const [run] = await query<{ id: string }>(cluster.url, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent!.id,
    JSON.stringify({ messages: [{ role: "user", content: "hand back during an outage" }] }),
  ]);
  const runId = run!.id;

  await until("3 committed steps", async () => (await committedSteps(runId)) >= 3, 30_000, 10);
  await cluster.stopImmediate();
  await until("the commit retries to run out", () => Promise.resolve(/not committed within 1 s of retries; handing it back/.test(worker!.output())), 20_000);
  await sleep(1_000);
  await cluster.start();

  await until(
    "the run to succeed",
    async () => (await query<{ status: string }>(cluster.url, "select status from everruns.runs where id = $1", [runId]))[0]!.status === "succeeded",
    45_000,
  );
  expect(worker.child.pid).toBe(pid);
  expect(worker.child.exitCode).toBeNull();
  const steps = await query<{ seq: number; attempt: number }>(cluster.url, "select seq, attempt from everruns.run_steps where run_id = $1 order by seq", [
    runId,
  ]);
  expect(steps.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  // the handed-back step ran again: its committed attempt is a later one
  expect(steps.find((s) => s.seq === 4)!.attempt).toBeGreaterThan(1);

  worker.child.kill("SIGTERM");
  expect(await worker.exited).toEqual({ code: 0, signal: null });
}, 90_000);
