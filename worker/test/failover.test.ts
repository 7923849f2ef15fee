// A failover, done for real: a primary and its streaming standby (synchronous), a worker process
// given both hosts (the standby first) with target_session_attrs=read-write. Mid-run the primary
// is stopped as in a crash and the standby promoted; the worker must follow it by itself: same
// process, the run finishing on the new primary with each step committed once.
import { afterAll, beforeAll, expect, it } from "vitest";
import { sleep } from "../../lib/sleep.ts";
import { untilWith } from "./until.ts";
import { startPrimaryStandby, type PrimaryStandby } from "./standby-cluster.ts";
import { query } from "../../scripts/harness/throwaway-cluster.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let cluster: PrimaryStandby;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  cluster = await startPrimaryStandby();
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
  await cluster?.destroy();
});

const STEPS = 8;

const until = untilWith(() => worker?.output() ?? "");

it("a worker follows a failover to the promoted standby: same process, run succeeds, each step committed once", async () => {
  const config = {
    provider: "scripted",
    model: "s",
    tools: ["simulate_work"],
    script: [...Array.from({ length: STEPS }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 300 } }] })), { text: "done" }],
  };
  const [agent] = await query<{ id: string }>(cluster.primaryUrl, "insert into everruns.agents (name, config) values ('failover', $1) returning id", [
    JSON.stringify(config),
  ]);
  worker = await spawnWorker(cluster.url, { WORKER_SHUTDOWN_TIMEOUT_MS: "2000" });
  const pid = worker.child.pid;
  // the worker skipped the standby listed first: its sessions are on the primary
  const onPrimary = await query<{ n: number }>(
    cluster.primaryUrl,
    "select count(*)::int as n from pg_stat_activity where application_name like 'everruns-worker%'",
  );
  expect(onPrimary[0]!.n).toBeGreaterThan(0);

  const [run] = await query<{ id: string }>(cluster.primaryUrl, "insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent!.id,
    JSON.stringify({ messages: [{ role: "user", content: "work through a failover" }] }),
  ]);
  const runId = run!.id;
  const committed = async (url: string) =>
    (await query<{ n: number }>(url, "select count(*)::int as n from everruns.run_steps where run_id = $1", [runId]))[0]!.n;

  // mid-run: a few steps committed, a simulate_work under way
  await until("3 committed steps", async () => (await committed(cluster.primaryUrl)) >= 3, 20_000, 10);
  await cluster.stopPrimaryImmediate();
  // synchronous replication: every commit the primary acknowledged is on the standby
  const beforeFailover = await committed(cluster.standbyUrl);
  expect(beforeFailover).toBeGreaterThanOrEqual(3);
  await sleep(1_000); // the standby is all that answers for a while: the worker must wait, not fail the step
  expect(worker.child.exitCode, `the worker exited while only the standby answered:\n${worker.output()}`).toBeNull();
  await cluster.promoteStandby();
  const promotedAt = performance.now();
  await until("the next committed step on the new primary", async () => (await committed(cluster.standbyUrl)) > beforeFailover, 30_000, 10);
  console.log(`next step committed ${Math.round(performance.now() - promotedAt)} ms after the standby was promoted`);

  const status = await until(
    "the run to finish",
    async () => {
      const rows = await query<{ status: string }>(cluster.standbyUrl, "select status from everruns.runs where id = $1", [runId]);
      return ["succeeded", "failed", "cancelled"].includes(rows[0]!.status) && rows[0]!.status;
    },
    30_000,
  );
  expect(status, worker.output()).toBe("succeeded");

  // the same process, still running
  expect(worker.child.pid).toBe(pid);
  expect(worker.child.exitCode).toBeNull();

  // each step committed once: one row per seq, no gaps, every step of the script once
  const steps = await query<{ seq: number; kind: string; status: string }>(
    cluster.standbyUrl,
    "select seq, kind, status from everruns.run_steps where run_id = $1 order by seq",
    [runId],
  );
  expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
  expect(steps.every((s) => s.status === "succeeded")).toBe(true);
  expect(steps.filter((s) => s.kind === "tool")).toHaveLength(STEPS);
  expect(steps.filter((s) => s.kind === "llm")).toHaveLength(STEPS + 1);

  // and it still stops cleanly, with status 0
  worker.child.kill("SIGTERM");
  expect(await worker.exited).toEqual({ code: 0, signal: null });
}, 90_000);
