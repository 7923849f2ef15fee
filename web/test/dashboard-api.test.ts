// The dashboard's read-only GraphQL fields (api/graphql/dashboard.ts) against known data: a real
// worker and API over a fresh database, queried over HTTP like the console does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";

const log = consoleLogger("[test-dashboard]", "error");
let db: TestDatabase;
let worker: WorkerHandle;
let api: ApiHandle;
/** A viewer key of the default workspace (where the test's agents and runs are): the dashboard only reads. */
let viewerKey: string;

async function gql<T>(
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data: T | null; errors?: Array<{ message: string; extensions?: { code?: string } }> }> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${viewerKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as never;
}

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  viewerKey = (await createApiKey(db.pool, { name: "dashboard-viewer", role: "viewer" })).key;
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

describe("dashboard aggregates", () => {
  it("count runs by status, bucket throughput and step latency, and sum usage per agent per day", async () => {
    const ok = await createAgent(
      db.pool,
      { provider: "scripted", tools: ["echo"], script: [{ text: "a", tool_calls: [{ name: "echo", arguments: {} }] }, { text: "done" }] },
      "ok-agent",
    );
    const bad = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x", error: "bad_request" }] }, "bad-agent");
    const runs = [await startRun(db.pool, ok), await startRun(db.pool, ok), await startRun(db.pool, bad)];
    for (const id of runs) await waitForStatus(db.pool, id, ["succeeded", "failed"]);

    const res = await gql<{
      runStatusCounts: Array<{ status: string; count: number }>;
      runThroughput: Array<{
        start: string;
        started: number;
        succeeded: number;
        failed: number;
        steps: number;
        stepP50Ms: number | null;
        stepP95Ms: number | null;
      }>;
      agentDailyUsage: Array<{ day: string; agentId: string; agentName: string; runs: number; inputTokens: number; outputTokens: number; costUsd: number }>;
      runsAwaitingAnswerCount: number;
    }>(`{
      runStatusCounts(windowSeconds: 3600) { status count }
      runThroughput(windowSeconds: 3600, bucketSeconds: 300) { start started succeeded failed steps stepP50Ms stepP95Ms }
      agentDailyUsage(days: 7) { day agentId agentName runs inputTokens outputTokens costUsd }
      runsAwaitingAnswerCount
    }`);
    expect(res.errors).toBeUndefined();
    const data = res.data!;
    expect(Object.fromEntries(data.runStatusCounts.map((c) => [c.status, c.count]))).toEqual({ succeeded: 2, failed: 1 });

    // every 5-minute bucket of the hour, oldest first, the current one included
    expect(data.runThroughput.length).toBeGreaterThanOrEqual(12);
    expect(data.runThroughput.length).toBeLessThanOrEqual(13);
    const starts = data.runThroughput.map((b) => Date.parse(b.start));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(starts[1]! - starts[0]!).toBe(300_000);
    const sum = (k: "started" | "succeeded" | "failed" | "steps") => data.runThroughput.reduce((n, b) => n + b[k], 0);
    expect([sum("started"), sum("succeeded"), sum("failed")]).toEqual([3, 2, 1]);
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.run_steps where kind <> 'wait'");
    expect(sum("steps")).toBe(rows[0]!.n);
    const withSteps = data.runThroughput.filter((b) => b.steps > 0);
    expect(withSteps.length).toBeGreaterThan(0);
    for (const b of withSteps) expect(b.stepP95Ms!).toBeGreaterThanOrEqual(b.stepP50Ms!);

    const usage = await db.pool.query<{ agent_id: string; input: number; output: number; cost: number }>(
      "select agent_id, sum((usage->>'input_tokens')::float8) as input, sum((usage->>'output_tokens')::float8) as output, sum((usage->>'cost_usd')::float8) as cost from everruns.runs group by agent_id",
    );
    for (const row of usage.rows) {
      const u = data.agentDailyUsage.find((x) => x.agentId === row.agent_id)!;
      expect(u).toMatchObject({ day: new Date().toISOString().slice(0, 10), inputTokens: row.input, outputTokens: row.output });
      expect(u.costUsd).toBeCloseTo(row.cost, 6);
    }
    expect(data.agentDailyUsage.find((x) => x.agentId === ok)).toMatchObject({ agentName: "ok-agent", runs: 2 });
    expect(data.runsAwaitingAnswerCount).toBe(0);
  });

  it("lists the interrupted runs nobody answered yet, oldest first, as Runs", async () => {
    const banker = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "Transfer?", tool_calls: [{ name: "echo", arguments: { transfer: 1 } }] }, { text: "Done." }],
    });
    const ids = [await startRun(db.pool, banker, "one"), await startRun(db.pool, banker, "two")];
    for (const id of ids) await waitForStatus(db.pool, id, ["interrupted"]);
    type A = { runsAwaitingAnswerCount: number; runsAwaitingAnswer: Array<{ id: string; status: string; agentByAgentId: { id: string } }> };
    const query = `{ runsAwaitingAnswerCount runsAwaitingAnswer(first: 10) { id status agentByAgentId { id } } }`;
    const before = (await gql<A>(query)).data!;
    expect(before.runsAwaitingAnswerCount).toBe(2);
    expect(before.runsAwaitingAnswer).toEqual(ids.map((id) => ({ id, status: "interrupted", agentByAgentId: { id: banker } })));

    const { rows } = await db.pool.query<{ interrupts: { interrupts: Array<{ id: string }> } }>("select interrupts from everruns.runs where id = $1", [ids[0]]);
    await db.pool.query("select everruns.resume_run($1, $2)", [
      ids[0],
      JSON.stringify([{ interruptId: rows[0]!.interrupts.interrupts[0]!.id, status: "resolved", payload: { approved: true } }]),
    ]);
    const after = (await gql<A>(query)).data!;
    expect(after.runsAwaitingAnswerCount).toBe(1);
    expect(after.runsAwaitingAnswer.map((r) => r.id)).toEqual([ids[1]]);
    await db.pool.query("select everruns.cancel_run($1)", [ids[1]]);
    expect((await gql<A>(query)).data!.runsAwaitingAnswerCount).toBe(0);
  });

  it("shows the live worker, what it holds, and the queue: ready, scheduled and running jobs", async () => {
    // FIFO admission: every run gets its job at once, so the job queue holds a ready one. With fair
    // share on (the default) a run beyond the workers' slots waits for admission with no job
    // (db/test/fair-admission.test.ts; workspaceLimits shows those).
    await db.pool.query("select everruns_private.set_scheduler(false)");
    const busy = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 30_000 } }] }],
    });
    const backoff = await createAgent(db.pool, {
      provider: "scripted",
      retry: { max_attempts: 5, initial_delay_ms: 60_000, max_delay_ms: 60_000, multiplier: 2 },
      script: [{ text: "later", error: "rate_limit", times: 3 }],
    });
    // concurrency 2: two runs hold both slots, a third waits ready, a fourth backs off (scheduled)
    const holding = [await startRun(db.pool, busy), await startRun(db.pool, busy)];
    for (const id of holding) await waitForStatus(db.pool, id, ["running"]);
    await waitFor("both slots to be taken", async () => {
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from graphile_worker.jobs where locked_at is not null");
      return rows[0]!.n === 2;
    });
    const retried = await startRun(db.pool, backoff);
    const waiting = await startRun(db.pool, busy);
    type Q = {
      liveWorkers: Array<{ poolId: string; concurrency: number; runningJobs: number; hostname: string | null; pid: number | null }>;
      queueDepth: { ready: number; scheduled: number; running: number; oldestReadyAgeMs: number | null };
    };
    const query = `{ liveWorkers { poolId concurrency runningJobs hostname pid } queueDepth { ready scheduled running oldestReadyAgeMs } }`;
    let last: Q | null = null;
    await waitFor(
      "the queue to show one ready job (and the live worker holding two)",
      async () => {
        last = (await gql<Q>(query)).data;
        return last && last.queueDepth.ready >= 1 && last.queueDepth.running === 2;
      },
      10_000,
      100,
    );
    const q = last!;
    // a viewer sees the worker and its load, not where it runs (host and pid are for admins)
    expect(q.liveWorkers).toEqual([expect.objectContaining({ poolId: worker.poolId, concurrency: 2, runningJobs: 2, hostname: null, pid: null })]);
    expect(q.queueDepth.oldestReadyAgeMs).toBeGreaterThanOrEqual(0);

    // free the slots: the backed-off run's retry sits scheduled a minute ahead
    for (const id of [...holding, waiting]) await db.pool.query("select everruns.cancel_run($1)", [id]);
    await waitFor("the retry to be scheduled", async () => {
      const r = (await gql<Q>(query)).data;
      return r && r.queueDepth.scheduled >= 1 && r.queueDepth.running === 0;
    });
    await db.pool.query("select everruns.cancel_run($1)", [retried]);
    await db.pool.query("select everruns_private.set_scheduler(true)");
  });

  it("refuses windows and buckets it cannot serve, with a message that says why", async () => {
    const tooSmall = await gql(`{ runThroughput(windowSeconds: 3600, bucketSeconds: 1) { start } }`);
    expect(tooSmall.errors![0]!.message).toMatch(/bucketSeconds must be a whole number of seconds ≥ 10/);
    expect(tooSmall.errors![0]!.extensions?.code).toBe("invalid_input");
    const tooMany = await gql(`{ runThroughput(windowSeconds: 86400, bucketSeconds: 10) { start } }`);
    expect(tooMany.errors![0]!.message).toMatch(/at most 1000 buckets/);
    const tooLong = await gql(`{ runStatusCounts(windowSeconds: 99999999) { status } }`);
    expect(tooLong.errors![0]!.message).toMatch(/windowSeconds must be/);
    const days = await gql(`{ agentDailyUsage(days: 0) { day } }`);
    expect(days.errors![0]!.message).toMatch(/days must be a whole number from 1 to 90/);
  });
});
