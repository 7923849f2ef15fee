// The engine's database timeouts (db/pool.ts, EVERRUNS_DB_*_TIMEOUT_MS in db/env.ts): set at
// connect on every pool connection, none for migrations; a stuck lock fails a real worker's step
// attempt, which goes on once the lock is gone; a pool with no free connection fails in bounded
// time, saying what to change.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { createClient } from "../connection-target.ts";
import { createPool, dbTimeouts, describeTimeout, PoolTimeoutError, timeoutOptions } from "../pool.ts";
import { createAgent, createTestDatabase, getSteps, startRun, waitFor, waitForStatus, type TestDatabase } from "./helpers.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";

let db: TestDatabase;
let worker: WorkerProcess | undefined;
const saved = { ...process.env };

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(() => {
  for (const name of Object.keys(process.env)) if (name.startsWith("EVERRUNS_DB_") && !(name in saved)) delete process.env[name];
});
afterAll(async () => {
  if (worker && worker.child.exitCode === null) {
    worker.child.kill("SIGKILL");
    await worker.exited;
  }
  await db?.drop();
});

const settings = async (q: pg.Pool | pg.Client) =>
  (
    await q.query<{ statement: string; lock: string; idle: string }>(
      `select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock,
              current_setting('idle_in_transaction_session_timeout') as idle`,
    )
  ).rows[0];

describe("pool connections", () => {
  it("carry the defaults as connection settings, the variables' values when set, and none for migrations", async () => {
    expect(dbTimeouts({})).toEqual({ statementMs: 60_000, lockMs: 10_000, idleInTransactionMs: 60_000, connectMs: 10_000 });
    const engine = createPool(db.url, "timeouts-default", 1);
    const migrations = createPool(db.url, "timeouts-migrations", 1, { migrations: true });
    process.env.EVERRUNS_DB_STATEMENT_TIMEOUT_MS = "1500";
    process.env.EVERRUNS_DB_LOCK_TIMEOUT_MS = "0";
    const configured = createPool(db.url, "timeouts-env", 1);
    try {
      expect(await settings(engine)).toEqual({ statement: "1min", lock: "10s", idle: "1min" });
      expect(await settings(migrations)).toEqual({ statement: "0", lock: "0", idle: "0" });
      expect(await settings(configured)).toEqual({ statement: "1500ms", lock: "0", idle: "1min" });
    } finally {
      await Promise.all([engine.end(), migrations.end(), configured.end()]);
    }
  });

  it("an invalid value stops the pool's creation, naming the variable", () => {
    process.env.EVERRUNS_DB_LOCK_TIMEOUT_MS = "10s";
    expect(() => createPool(db.url, "bad", 1)).toThrow(/EVERRUNS_DB_LOCK_TIMEOUT_MS must be a whole number/);
  });

  it("a statement over the statement timeout fails, and the failure names the timeout, its value and its variable", async () => {
    process.env.EVERRUNS_DB_STATEMENT_TIMEOUT_MS = "200";
    const pool = createPool(db.url, "timeouts-statement", 1);
    try {
      const error = await pool.query("select pg_sleep(5)").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "57014" });
      expect(describeTimeout(error)).toBe(
        "the database statement timeout fired (EVERRUNS_DB_STATEMENT_TIMEOUT_MS=200 ms): a statement ran that long; if that is expected, raise EVERRUNS_DB_STATEMENT_TIMEOUT_MS (0: off)",
      );
      // a connection error is not a timeout
      expect(describeTimeout(new Error("connect ECONNREFUSED 127.0.0.1:1"))).toBeNull();
    } finally {
      await pool.end();
    }
  });

  it("a session idle in an open transaction is ended by the server, and the error names that timeout", async () => {
    process.env.EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = "200";
    const pool = createPool(db.url, "timeouts-idle", 1);
    try {
      const client = await pool.connect();
      const lost = new Promise<Error>((resolve) => client.once("error", resolve));
      await client.query("begin");
      const error = await lost;
      expect(error).toMatchObject({ code: "25P03" });
      expect(describeTimeout(error)).toMatch(/^the database idle-in-transaction timeout fired \(EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS=200 ms\)/);
      client.release(error);
      // the pool goes on with a new connection
      expect((await pool.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it("a LISTEN connection with the engine's timeouts outlives them idle and still hears notifications", async () => {
    process.env.EVERRUNS_DB_STATEMENT_TIMEOUT_MS = "100";
    process.env.EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = "100";
    const listener = createClient(db.url, { application_name: "timeouts-listen", ...timeoutOptions(dbTimeouts()) });
    listener.on("error", () => undefined);
    await listener.connect();
    try {
      expect((await settings(listener))?.statement).toBe("100ms");
      await listener.query('listen "timeouts:test"');
      const heard = new Promise<string | undefined>((resolve) => listener.once("notification", (msg: pg.Notification) => resolve(msg.payload)));
      await new Promise((resolve) => setTimeout(resolve, 500)); // idle for five times the timeouts
      await db.pool.query("select pg_notify('timeouts:test', 'still here')");
      expect(await heard).toBe("still here");
      expect((await listener.query<{ one: number }>("select 1 as one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await listener.end();
    }
  });

  it("acquisition: with every connection of the pool held, connect() fails after the connect timeout, saying what to change", async () => {
    process.env.EVERRUNS_DB_CONNECT_TIMEOUT_MS = "300";
    const pool = createPool(db.url, "timeouts-acquire", 1);
    const held = await pool.connect();
    try {
      const started = performance.now();
      const error = (await pool.connect().catch((e: unknown) => e)) as Error;
      expect(performance.now() - started).toBeGreaterThanOrEqual(290); // not before the timeout (never an upper bound)
      expect(error).toBeInstanceOf(PoolTimeoutError);
      expect(error.message).toMatch(
        /^no database connection came free within 300 ms \(EVERRUNS_DB_CONNECT_TIMEOUT_MS=300\): all 1 connections of this pool \(timeouts-acquire\) were busy/,
      );
      // pool.query goes through connect() too
      await expect(pool.query("select 1")).rejects.toBeInstanceOf(PoolTimeoutError);
      expect(describeTimeout(error)).toMatch(/connect timeout fired \(EVERRUNS_DB_CONNECT_TIMEOUT_MS=300 ms\)/);
    } finally {
      held.release();
      await pool.end();
    }
  });
});

it("a worker's step waiting on a lock held elsewhere fails with the lock timeout, and the run goes on once it is released", async () => {
  const agentId = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["simulate_work"],
    script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 10 } }] }, { text: "done" }],
  });
  const runId = await startRun(db.pool, agentId, "wait for a lock");
  // an administrator's forgotten transaction holding the run's row
  const holder = await db.pool.connect();
  try {
    await holder.query("begin");
    await holder.query("select 1 from everruns.runs where id = $1 for update", [runId]);
    worker = await spawnWorker(db.url, { EVERRUNS_DB_LOCK_TIMEOUT_MS: "300" });
    const job = await waitFor(
      "the step's job to fail with the lock timeout",
      async () => {
        const { rows } = await db.pool.query<{ attempts: number; last_error: string | null }>(
          "select attempts, last_error from graphile_worker.jobs where key = $1",
          [`run:${runId}`],
        );
        return rows[0]?.last_error ? rows[0] : null;
      },
      30_000,
    );
    expect(job.last_error).toMatch(/lock timeout/);
    expect((await getSteps(db.pool, runId)).length).toBe(0);
    const out = worker.output();
    expect(out).toMatch(/canceling statement due to lock timeout/);
    // the log line says which timeout, its value and what to change (worker/main.ts's job failure log)
    expect(out).toMatch(/the database lock timeout fired \(EVERRUNS_DB_LOCK_TIMEOUT_MS=300 ms\)/);
  } finally {
    await holder.query("rollback").catch(() => undefined);
    holder.release();
  }
  const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "cancelled"], 60_000);
  expect(run.status, worker.output()).toBe("succeeded");
  const steps = await getSteps(db.pool, runId);
  expect(steps.map((s) => [s.seq, s.kind, s.status])).toEqual([
    [1, "llm", "succeeded"],
    [2, "tool", "succeeded"],
    [3, "llm", "succeeded"],
  ]);
  worker.child.kill("SIGTERM");
  expect(await worker.exited).toEqual({ code: 0, signal: null });
}, 90_000);
