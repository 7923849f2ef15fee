// A database outage, done for real: the test's own Postgres cluster is stopped (immediate, as in
// a crash) for 5 s in the middle of a run. The worker process must ride it out: same pid, a new
// graphile-worker pool once the database is back, and the run finishing with each step committed once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { sleep } from "../../lib/sleep.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "./throwaway-cluster.ts";
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

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${worker?.output() ?? ""}`);
    await sleep(everyMs);
  }
}

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
