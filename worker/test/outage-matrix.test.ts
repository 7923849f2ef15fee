// Database outages of 1 s, 10 s and 60 s, done for real, under everything at once: the test's own
// Postgres cluster is stopped (immediate, as in a crash) while a worker process and an API
// process run runs with LLM, tool, durable wait (sleep, wait_for_event) and approval steps, each
// followed over SSE and over a GraphQL subscription. Every run must finish with no process
// restarted, each step committed once, and every follower must get every event exactly once, in
// order. Printed: time from the database being back to the next committed step, the worker's
// RSS, the log lines written during the outage, and what the API answered meanwhile.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, expect, it } from "vitest";
import { bearer, createTestKey, freePort, postJson, readSse } from "../../api/test/helpers.ts";
import { sleep } from "../../lib/sleep.ts";
import { untilWith } from "./until.ts";
import { query, startThrowawayCluster, type ThrowawayCluster } from "../../scripts/harness/throwaway-cluster.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let cluster: ThrowawayCluster;
let worker: WorkerProcess;
let api: { child: ChildProcess; url: string; output: () => string };
let headers: Record<string, string>;
let key: string;

const TERMINAL = ["succeeded", "failed", "cancelled", "interrupted"];

beforeAll(async () => {
  cluster = await startThrowawayCluster();
  key = await createTestKey(cluster.url, { name: "matrix-admin" });
  headers = bearer(key);
  const agents: Record<string, unknown> = {
    // LLM turns that take a while, each asking for a tool call that does too
    "matrix-work": {
      provider: "scripted",
      model: "s",
      tools: ["simulate_work"],
      script: [
        ...Array.from({ length: 6 }, (_, i) => ({ text: `turn ${i}`, delay_ms: 250, tool_calls: [{ name: "simulate_work", arguments: { ms: 400 } }] })),
        { text: "done", delay_ms: 100 },
      ],
    },
    // a durable timer, then a wait for an event the test sends through the API after the outage
    "matrix-wait": {
      provider: "scripted",
      model: "s",
      tools: ["sleep", "wait_for_event"],
      script: [
        { tool_calls: [{ name: "sleep", arguments: { seconds: 1 } }] },
        { tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 600 } }] },
        { text: "woken" },
      ],
    },
    // a tool that needs approval: approved through the API, its continuation works through the outage
    "matrix-approve": {
      provider: "scripted",
      model: "s",
      tools: [{ name: "simulate_work", requires_approval: true }],
      script: [{ text: "may I?", tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] }, { text: "approved work done" }],
    },
  };
  for (const [name, config] of Object.entries(agents)) {
    await query(cluster.url, "insert into everruns.agents (name, config) values ($1, $2)", [name, JSON.stringify(config)]);
  }
  worker = await spawnWorker(cluster.url, { WORKER_SHUTDOWN_TIMEOUT_MS: "2000" });
  api = await spawnApiProcess(cluster.url);
}, 60_000);

afterAll(async () => {
  for (const child of [worker?.child, api?.child]) {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }
  }
  await cluster?.destroy();
});

/** api/test/api-process.ts as a child, its output kept (api/test/helpers.ts spawnApi inherits stderr). */
async function spawnApiProcess(databaseUrl: string): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [fileURLToPath(new URL("../../api/test/api-process.ts", import.meta.url))], {
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the API did not start within 30 s:\n${out}`)), 30_000);
    child.stdout.on("data", () => {
      const m = /ready (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`the API exited with ${code} before it was ready:\n${out}`)));
  });
  return { child, url, output: () => out };
}

const until = untilWith(() => `--- worker:\n${worker.output().slice(-6000)}\n--- api:\n${api.output().slice(-4000)}`);

async function status(runId: string): Promise<string> {
  const rows = await query<{ status: string }>(cluster.url, "select status from everruns.runs where id = $1", [runId]);
  return rows[0]!.status;
}

async function committedSteps(runId: string): Promise<number> {
  const rows = await query<{ n: number }>(cluster.url, "select count(*)::int as n from everruns.run_steps where run_id = $1", [runId]);
  return rows[0]!.n;
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

function count(text: string, pattern: RegExp): number {
  return text.split("\n").filter((l) => pattern.test(l)).length;
}

function lines(text: string): number {
  return text.split("\n").filter((l) => l.trim() !== "").length;
}

/** The distinct log lines of `text` (timestamps, pids, ids and numbers blanked), most frequent first, with their counts. */
function distinctLines(text: string, max = 8): string[] {
  const counts = new Map<string, number>();
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const shape = line
      .replace(/^\S+Z /, "")
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}|pool-[0-9a-f]+|\d+(\.\d+)?/g, "#")
      .slice(0, 160);
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([shape, n]) => `${n}× ${shape}`);
}

interface Followed {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

/**
 * Follows a run from its first event to its last, over SSE and over a GraphQL subscription.
 * `streaming()` is true once both have received an event: they are open (the outage must not
 * come before their first request was answered: that is a request refused with 503, not a stream).
 */
function follow(ws: Client, runId: string): { sse: Promise<Followed[]>; graphql: Promise<Followed[]>; streaming: () => boolean } {
  const received = { sse: 0, graphql: 0 };
  const sse = readSse(`${api.url}/api/runs/${runId}/events?after=0`, { headers }, () => received.sse++).then((r) => {
    if (r.status !== 200) throw new Error(`SSE of run ${runId} answered ${r.status}`);
    return r.events.map((e) => ({ seq: e.seq, type: e.type, event: e.event }));
  });
  const graphql = (async () => {
    const out: Followed[] = [];
    for await (const result of ws.iterate<{ runEvents: Followed }>({
      query: "subscription ($runId: UUID!) { runEvents(runId: $runId, after: 0) { seq type event } }",
      variables: { runId },
    })) {
      if (result.errors) throw new Error(`runEvents of ${runId}: ${result.errors.map((e) => e.message).join("; ")}`);
      out.push(result.data!.runEvents);
      received.graphql++;
    }
    return out;
  })();
  // a follower that fails is reported when its promise is awaited below, not as an unhandled rejection
  sse.catch(() => undefined);
  graphql.catch(() => undefined);
  return { sse, graphql, streaming: () => received.sse > 0 && received.graphql > 0 };
}

async function startRun(agent: string, content: string): Promise<string> {
  const res = await postJson<{ id: string }>(`${api.url}/api/runs`, { agent, input: { messages: [{ role: "user", content }] } }, headers);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

/** A call to the API, any answer (or the failure) as text: for the report of what it said during the outage. */
async function probeApi(path: string): Promise<string> {
  const started = performance.now();
  try {
    const res = await fetch(`${api.url}${path}`, { headers, signal: AbortSignal.timeout(15_000) });
    return `${res.status} in ${Math.round(performance.now() - started)} ms: ${(await res.text()).slice(0, 200)}`;
  } catch (error) {
    return `no answer after ${Math.round(performance.now() - started)} ms: ${(error as Error).message}`;
  }
}

async function outageScenario(outageMs: number): Promise<void> {
  const label = `${outageMs / 1000} s outage`;
  const workerPid = worker.child.pid!;
  const apiPid = api.child.pid!;
  const ws = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}` },
  });
  try {
    const work = await startRun("matrix-work", label);
    const wait = await startRun("matrix-wait", label);
    const approve = await startRun("matrix-approve", label);
    const followers = new Map([work, wait, approve].map((id) => [id, follow(ws, id)]));

    // the approval: answered through the API once asked; its continuation runs the approved tool
    await until("the approval run to be interrupted", async () => (await status(approve)) === "interrupted", 20_000);
    const [{ interrupts }] = (await query<{ interrupts: { interrupts: Array<{ id: string }> } }>(
      cluster.url,
      "select interrupts from everruns.runs where id = $1",
      [approve],
    )) as [{ interrupts: { interrupts: Array<{ id: string }> } }];
    const resumed = await postJson<{ id: string }>(
      `${api.url}/api/runs/${approve}/resume`,
      { resume: [{ interruptId: interrupts.interrupts[0]!.id, status: "resolved", payload: { approved: true } }] },
      headers,
    );
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(201);
    const continuation = resumed.body.id;
    followers.set(continuation, follow(ws, continuation));
    const runs = [work, wait, approve, continuation];

    // mid-run: a few of the work run's steps committed, the others in flight or parked
    await until("3 committed steps of the work run", async () => (await committedSteps(work)) >= 3, 30_000, 10);
    await until("every follower to be streaming", () => Promise.resolve([...followers.values()].every((f) => f.streaming())), 30_000, 10);
    const rssBefore = rssKb(workerPid);
    const workerLinesBefore = worker.output().length;
    const workerSince = () => worker.output().slice(workerLinesBefore);
    const apiLinesBefore = api.output().length;
    await cluster.stopImmediate();
    const downWall = Date.now();
    const downAt = performance.now();
    const healthDown = await probeApi("/healthz");
    const restDown = await probeApi(`/api/runs/${work}`);
    await sleep(Math.max(0, outageMs - (performance.now() - downAt)));
    const healthLate = outageMs > 1000 ? await probeApi("/healthz") : healthDown;
    expect(worker.child.exitCode, `the worker exited during the outage:\n${worker.output()}`).toBeNull();
    expect(api.child.exitCode, `the API exited during the outage:\n${api.output()}`).toBeNull();
    const rssEnd = rssKb(workerPid);
    const workerDuring = worker.output().slice(workerLinesBefore);
    const apiDuring = api.output().slice(apiLinesBefore);
    await cluster.start();
    const backWall = Date.now();
    const downSeconds = ((performance.now() - downAt) / 1000).toFixed(1);

    // the event the wait run waits for, through the API (retried while it still says 503)
    await until(
      "the API to take the event for the wait run",
      async () => (await postJson(`${api.url}/api/runs/${wait}/signals`, { name: "go", payload: { after: label } }, headers)).status === 201,
      30_000,
      100,
    );

    for (const id of runs) await until(`run ${id} to finish`, async () => TERMINAL.includes(await status(id)), 90_000, 50);
    const finals = await Promise.all(runs.map(status));
    expect(finals, worker.output().slice(-6000)).toEqual(["succeeded", "succeeded", "interrupted", "succeeded"]);

    // time from the database being back to the next committed step (database clock: same host)
    // ("back": when cluster.start() returned, and, on the database's clock alone, when the
    // restarted server began, crash recovery included; a commit can land before start() returns)
    const [first] = await query<{ at: Date | null; since_postmaster_ms: number | null }>(
      cluster.url,
      `select min(finished_at) as at,
              (extract(epoch from min(finished_at) - pg_postmaster_start_time()) * 1000)::int as since_postmaster_ms
         from everruns.run_steps where run_id = any($1) and finished_at > to_timestamp($2 / 1000.0)`,
      [runs, downWall],
    );
    const recoveryMs = first!.at ? first!.at.getTime() - backWall : NaN;

    // no process restarted
    expect(worker.child.pid).toBe(workerPid);
    expect(worker.child.exitCode).toBeNull();
    expect(api.child.pid).toBe(apiPid);
    expect(api.child.exitCode).toBeNull();

    // each step committed once; every follower got every event once, in order
    for (const id of runs) {
      const steps = await query<{ seq: number }>(cluster.url, "select seq from everruns.run_steps where run_id = $1 order by seq", [id]);
      expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
      const stored = await query<Followed>(cluster.url, "select seq, type, event from everruns.run_events where run_id = $1 order by seq", [id]);
      expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
      const f = followers.get(id)!;
      expect(await f.sse, `SSE follower of run ${id}`).toEqual(stored);
      expect(await f.graphql, `GraphQL subscriber of run ${id}`).toEqual(stored);
    }

    const rssAfter = rssKb(workerPid);
    console.log(
      [
        `[outage ${label}] database down ${downSeconds} s; next committed step ${Math.round(recoveryMs)} ms after start() returned, ${first!.since_postmaster_ms} ms after the server started`,
        `  worker: "database unreachable" logged ${count(workerSince(), /database unreachable/)}×, "database back after" ${count(workerSince(), /database back after/)}×, pools started ${count(workerSince(), /worker pool \S+ started/)}×`,
        `  worker RSS: ${rssBefore} kB before, ${rssEnd} kB at the end of the outage, ${rssAfter} kB after the runs finished`,
        `  log lines during the outage: worker ${lines(workerDuring)}, API ${lines(apiDuring)}`,
        `  API during the outage: /healthz at once → ${healthDown}`,
        `                         /healthz at the end → ${healthLate}`,
        `                         GET /api/runs/:id → ${restDown}`,
        `  worker's lines:\n    ${distinctLines(workerDuring).join("\n    ")}`,
        `  API's lines:\n    ${distinctLines(apiDuring).join("\n    ")}`,
      ].join("\n"),
    );
  } finally {
    await ws.dispose();
  }
}

it("a 1 s outage: every run finishes, nothing restarted, each step once, every follower gets every event once", async () => {
  await outageScenario(1_000);
}, 90_000);

it("a 10 s outage: every run finishes, nothing restarted, each step once, every follower gets every event once", async () => {
  await outageScenario(10_000);
}, 120_000);

it("a 60 s outage: every run finishes, nothing restarted, each step once, every follower gets every event once", async () => {
  await outageScenario(60_000);
}, 180_000);
