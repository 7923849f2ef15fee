// Everruns behind a real PgBouncer in transaction mode (issue 23): every query of the API and
// the workers goes through the pooler (DATABASE_URL), LISTEN and the workers' liveness go
// direct (DATABASE_DIRECT_URL). Runs complete with every event delivered over SSE and GraphQL
// subscriptions, a kill -9'd worker's step resumes elsewhere and is committed once, and
// pg_stat_activity shows the pooled traffic on PgBouncer's few server connections.
//
// Needs the `pgbouncer` binary (Debian package; .ci/run installs it). Skipped, saying so, only
// when it is absent outside CI.
import { spawn } from "node:child_process";
import path from "node:path";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { bearer, createTestKey, postJson, quietLog, readSse, type StartedRunBody } from "../../api/test/helpers.ts";
import { createPool } from "../../db/pool.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { sleep } from "../../lib/sleep.ts";
import { pgbouncerInstalled, startPgBouncer, type PgBouncer } from "../../scripts/harness/pgbouncer.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { FakeLlmServer } from "./fake-llm-server.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

const POOL_SIZE = 5;
const KEY_ENV = "EVERRUNS_TEST_OPENAI_KEY";

const installed = await pgbouncerInstalled();
const skip = !installed && !process.env.CI;
if (skip)
  console.warn(
    "worker/test/pgbouncer.test.ts skipped: the pgbouncer binary is not installed (apt-get install -y pgbouncer; CI installs it and runs this file)",
  );

let db: TestDatabase;
let bouncer: PgBouncer;
let fake: FakeLlmServer;
let api: ApiHandle;
let headers: Record<string, string>;
const workers = new Set<WorkerProcess>();

/** A worker process whose DATABASE_URL is the pooler (`direct`: the database itself, as before issue 23). */
async function startWorker(direct = false): Promise<WorkerProcess> {
  const w = await spawnWorker(direct ? db.url : bouncer.url, direct ? {} : { DATABASE_DIRECT_URL: db.url });
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

async function stopWorkers(): Promise<void> {
  const all = [...workers];
  for (const w of all) w.child.kill("SIGKILL");
  await Promise.all(all.map((w) => w.exited));
}

/**
 * Samples pg_stat_activity of the test database with PgBouncer's server connections (SHOW
 * SERVERS: their local ports are the backends' client ports) until stopped.
 */
function sampleConnections() {
  const seen = { samples: 0, maxPooled: 0, engineDirect: new Set<string>(), directNames: new Set<string>(), pooledNames: new Set<string>() };
  let running = true;
  const loop = (async () => {
    while (running) {
      const before = await bouncer.serverPorts();
      const { rows } = await db.pool.query<{ application_name: string; client_port: number | null }>(
        "select application_name, client_port from pg_catalog.pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
      );
      const ports = new Set([...before, ...(await bouncer.serverPorts())]);
      const pooled = rows.filter((r) => r.client_port !== null && ports.has(r.client_port));
      seen.samples++;
      seen.maxPooled = Math.max(seen.maxPooled, pooled.length);
      for (const r of pooled) seen.pooledNames.add(r.application_name);
      for (const r of rows) {
        if (r.client_port !== null && ports.has(r.client_port)) continue;
        seen.directNames.add(r.application_name);
        // the engine's query pools: only ever through the pooler
        if (r.application_name === "everruns-worker" || r.application_name === "everruns-api") seen.engineDirect.add(`${r.application_name}:${r.client_port}`);
      }
      await sleep(25);
    }
  })();
  return {
    seen,
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

beforeAll(async () => {
  if (skip) return;
  process.env[KEY_ENV] = "sk-pgbouncer"; // the spawned workers inherit it
  db = await createTestDatabase(); // cloned from the template migrated directly
  bouncer = await startPgBouncer(db.url, { defaultPoolSize: POOL_SIZE });
  fake = await FakeLlmServer.start();
  headers = bearer(await createTestKey(db.url));
  api = await startApi({ databaseUrl: bouncer.url, directDatabaseUrl: db.url, port: 0, log: quietLog, graphiql: false });
});

afterAll(async () => {
  await stopWorkers();
  await api?.close();
  await fake?.close();
  await bouncer?.stop();
  await db?.drop();
});

describe.skipIf(skip)("behind PgBouncer in transaction mode", () => {
  it("a pooled pool sends no startup parameters and no named statements, and the pooler's connect_query sets the timeouts", async () => {
    const pool = createPool(bouncer.url, "everruns-test-pooled", 8, { pooled: true, timeouts: { statementMs: 12_345 } });
    try {
      // named queries from many clients over a few server connections: a named statement
      // prepared on one would be missing (or another's) on the next
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => pool.query({ name: `q${i % 4}`, text: "select $1::int as n, pg_sleep(0.005)", values: [i] })),
      );
      expect(results.map((r) => (r.rows[0] as { n: number }).n)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      // the pooler's connect_query gave its server connections the environment's timeouts
      const { rows } = await pool.query<{ statement_timeout: string }>("show statement_timeout");
      expect(rows[0]!.statement_timeout).not.toBe("0");
    } finally {
      await pool.end();
    }
    // an unpooled pool sends the timeouts as startup parameters, which PgBouncer refuses
    const unpooled = createPool(bouncer.url, "everruns-test-unpooled", 1);
    try {
      await expect(unpooled.query("select 1")).rejects.toThrow(/unsupported startup parameter/);
    } finally {
      await unpooled.end();
    }
  });

  it("runs complete through the pooler; SSE and GraphQL subscriptions get every event; the pooled traffic is on PgBouncer's server connections", async () => {
    await startWorker();
    await startWorker();
    const sampler = sampleConnections();
    const ws: Client = createClient({
      url: `${api.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: headers,
    });
    try {
      const llm = await createAgent(db.pool, {
        provider: "openai",
        api: "chat_completions",
        model: "gpt-test",
        base_url: fake.openaiBaseURL,
        api_key_env: KEY_ENV,
        tools: ["echo"],
      });
      const chain = await createAgent(
        db.pool,
        {
          provider: "scripted",
          tools: ["echo"],
          script: [
            { text: "one", tool_calls: [{ name: "echo", arguments: { n: 1 } }] },
            { text: "two", tool_calls: [{ name: "echo", arguments: { n: 2 } }] },
            { text: "three", delay_ms: 50 },
          ],
        },
        "pooled-chain",
      );

      // a fake-LLM run with a tool call, started through the API (REST, pooled)
      fake.reply({ text: "calling", toolCalls: [{ name: "echo", arguments: { q: "pooled" } }] }, { text: "done through the pooler", pieces: 4 });
      const started = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent: llm, input: { messages: [{ role: "user", content: "hi" }] } }, headers);
      expect(started.status, JSON.stringify(started.body)).toBe(201);
      const llmRun = started.body.id;
      const llmSse = readSse(`${api.url}/api/runs/${llmRun}/events`, { headers });

      // and 12 scripted runs of 5 steps at once, each read over SSE, every other one over GraphQL too
      const runs: string[] = [];
      for (let i = 0; i < 12; i++) runs.push(await startRun(db.pool, chain, `chain ${i}`));
      const sse = runs.map((id) => readSse(`${api.url}/api/runs/${id}/events`, { headers }));
      const subscribed = runs.filter((_, i) => i % 2 === 0).map((id) => collectRunEvents(ws, id));

      for (const id of [llmRun, ...runs]) expect((await waitForStatus(db.pool, id, ["succeeded", "failed"])).status, `run ${id}`).toBe("succeeded");
      const llmRead = await llmSse;
      const llmEvents = await getEvents(db.pool, llmRun);
      expect(llmRead.events.map((e) => e.seq)).toEqual(llmEvents.map((e) => e.seq));
      await assertValidAgUiLog(llmEvents);
      expect(JSON.stringify(llmEvents)).toContain("done through the pooler");
      expect((await getSteps(db.pool, llmRun)).map((s) => s.kind)).toEqual(["llm", "tool", "llm"]);

      const reads = await Promise.all(sse);
      for (const [i, id] of runs.entries()) {
        const stored = await getEvents(db.pool, id);
        expect(
          reads[i]!.events.map((e) => e.seq),
          `SSE of run ${id}`,
        ).toEqual(stored.map((e) => e.seq));
        expect((await getSteps(db.pool, id)).map((s) => s.kind)).toEqual(["llm", "tool", "llm", "tool", "llm"]);
      }
      const subs = await Promise.all(subscribed);
      for (const [i, id] of runs.filter((_, k) => k % 2 === 0).entries()) {
        expect(subs[i], `subscription of run ${id}`).toEqual(await getEvents(db.pool, id));
      }

      // GraphQL queries through the pooled pool (PostGraphile's named queries, run unnamed)
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${api.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ query: "query ($id: UUID!) { allRuns(condition: { agentId: $id }) { totalCount } }", variables: { id: chain } }),
        });
        expect(await res.json()).toEqual({ data: { allRuns: { totalCount: 12 } } });
      }
    } finally {
      await ws.dispose();
    }
    const seen = await sampler.stop();
    const pools = await bouncer.pools();
    console.log(
      `pg_stat_activity over ${seen.samples} samples: at most ${seen.maxPooled} backends from PgBouncer (default_pool_size ${POOL_SIZE}); ` +
        `their application_name: ${[...seen.pooledNames].sort().join(", ")}; direct connections: ${[...seen.directNames].sort().join(", ")}; SHOW POOLS: ${JSON.stringify(pools.filter((p) => p.database !== "pgbouncer"))}`,
    );
    expect(seen.samples).toBeGreaterThan(0);
    expect(seen.maxPooled).toBeGreaterThan(0);
    expect(seen.maxPooled).toBeLessThanOrEqual(POOL_SIZE);
    // the API's and the workers' query pools never connected to the database directly: their
    // queries ran on PgBouncer's server connections (which take the name of their last client)
    expect([...seen.engineDirect]).toEqual([]);
    expect([...seen.pooledNames].some((name) => name === "everruns-worker" || name === "everruns-api")).toBe(true);
    // LISTEN is direct
    expect(seen.directNames.has("everruns-api-listen")).toBe(true);
  });

  it("the CLI works with DATABASE_URL at the pooler: migrate and the admin commands go to DATABASE_DIRECT_URL", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), ...args], {
          env: { ...process.env, DATABASE_URL: bouncer.url, DATABASE_DIRECT_URL: db.url },
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => resolve({ code, out }));
      });
    // migrations hold a session advisory lock, which a transaction pooler cannot keep
    const migrated = await run(["migrate"]);
    expect(migrated.code, migrated.out).toBe(0);
    expect(migrated.out).toContain("database is up to date");
    const runs = await run(["runs", "--json"]);
    expect(runs.code, runs.out).toBe(0);
    expect(Array.isArray(JSON.parse(runs.out))).toBe(true);
  });

  it("kill -9 of a worker mid-step: the step resumes on another worker, each step committed once", async () => {
    await stopWorkers();
    await startWorker();
    await startWorker();
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ text: "working", tool_calls: [{ name: "simulate_work", arguments: { ms: 2500 } }] }, { text: "finished" }],
    });
    for (let k = 0; k < 3; k++) {
      const runId = await startRun(db.pool, agent, `kill ${k}`);
      await waitFor("the tool step to be under way", async () =>
        (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
      );
      const lockedBy = await waitFor("the run's job to be locked", async () => {
        const { rows } = await db.pool.query<{ locked_by: string | null }>("select locked_by from graphile_worker.jobs where key = $1", [`run:${runId}`]);
        return rows[0]?.locked_by;
      });
      const victim = [...workers].find((w) => w.poolId === lockedBy);
      expect(victim, `a live worker process holds pool ${lockedBy}`).toBeDefined();
      victim!.child.kill("SIGKILL");
      await victim!.exited;
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(run.status).toBe("succeeded");
      const steps = await getSteps(db.pool, runId);
      // one row per step: each committed once; the killed step ran again
      expect(steps.map((s) => [s.seq, s.kind])).toEqual([
        [1, "llm"],
        [2, "tool"],
        [3, "llm"],
      ]);
      expect(steps[1]!.attempt).toBeGreaterThanOrEqual(2);
      const events = await getEvents(db.pool, runId);
      await assertValidAgUiLog(events);
      expect(events.filter((e) => e.type === "RUN_FINISHED")).toHaveLength(1);
      await startWorker(); // keep two
    }
  });

  it("per-step cost through the pooler vs direct (printed, not asserted)", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [...Array.from({ length: 5 }, (_, i) => ({ tool_calls: [{ name: "echo", arguments: { i } }] })), { text: "end" }],
    });
    const perStep = (r: { ms: number; steps: number }) => r.ms / r.steps;
    const timeRuns = async (direct: boolean): Promise<{ ms: number; steps: number }> => {
      await stopWorkers();
      await startWorker(direct);
      const began = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push(await startRun(db.pool, agent, `bench ${i}`));
      for (const id of ids) expect((await waitForStatus(db.pool, id, ["succeeded", "failed"])).status).toBe("succeeded");
      const ms = performance.now() - began;
      const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.run_steps where run_id = any($1::uuid[])", [ids]);
      return { ms, steps: rows[0]!.n };
    };
    // alternated, the best of two each: the first round also warms up the agent's caches
    const rounds: Array<{ direct: boolean; ms: number; steps: number }> = [];
    for (const direct of [true, false, true, false]) rounds.push({ direct, ...(await timeRuns(direct)) });
    const best = (direct: boolean) => Math.min(...rounds.filter((r) => r.direct === direct).map(perStep));
    console.log(
      `per step, one worker, 20 runs x 11 steps: direct ${best(true).toFixed(2)} ms, through PgBouncer ${best(false).toFixed(2)} ms ` +
        `(ratio ${(best(false) / best(true)).toFixed(2)}; rounds ${rounds.map((r) => `${r.direct ? "direct" : "pooled"} ${perStep(r).toFixed(2)}`).join(", ")})`,
    );
    for (const r of rounds) expect(r.steps).toBe(rounds[0]!.steps);
  });
});

/** Every event of a run over the `runEvents` subscription (it completes after the terminal event). */
async function collectRunEvents(ws: Client, runId: string): Promise<Array<{ seq: number; type: string; event: Record<string, unknown> }>> {
  const out: Array<{ seq: number; type: string; event: Record<string, unknown> }> = [];
  for await (const result of ws.iterate<{ runEvents: { seq: number; type: string; event: Record<string, unknown> } }>({
    query: "subscription ($runId: UUID!) { runEvents(runId: $runId) { seq type event } }",
    variables: { runId },
  })) {
    if (result.errors) throw new Error(result.errors.map((e) => e.message).join("; "));
    out.push(result.data!.runEvents);
  }
  return out;
}
