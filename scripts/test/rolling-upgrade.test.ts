// A rolling deploy, done for real (docs/deploy.md, "Rolling deploys"): the previous release (the
// commit before the latest one that added a migration, a git worktree with its own node_modules)
// migrates a scratch database and runs two workers with long runs; while they run, this
// checkout's `everruns migrate` applies the new migrations, a worker of this checkout starts, and
// the old workers get SIGTERM. Every run finishes, each step committed once, and the old workers
// committed steps against the new schema (db/CONVENTIONS.md, "Migrations": additive, old
// function signatures keep working). Runs in CI on every change; its worktree's npm ci is most
// of its time.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { listMigrations } from "../../db/migrate.ts";
import { createPool, type Pool } from "../../db/pool.ts";
import { databaseUrl } from "../../db/test/global-setup.ts";
import { sleep } from "../../lib/sleep.ts";
import {
  checkOutRelease,
  previousReleaseCommit,
  runEverruns,
  startWorkerProcess,
  THIS_CHECKOUT,
  type CheckedOutRelease,
  type WorkerProcess,
} from "./releases.ts";

const dbName = `everruns_rolling_${randomBytes(4).toString("hex")}`;
let url: string;
let admin: pg.Client;
let pool: Pool;
let previous: CheckedOutRelease | undefined;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  previous = await checkOutRelease(await previousReleaseCommit(), (line) => console.log(line));
  admin = new pg.Client({ connectionString: inject("serverUrl") });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  url = databaseUrl(inject("serverUrl"), dbName);
  pool = createPool(url, "everruns-test-rolling", 3);
}, 240_000);

afterAll(async () => {
  for (const w of workers) {
    if (w.child.exitCode === null && w.child.signalCode === null) {
      w.child.kill("SIGKILL");
      await w.exited;
    }
  }
  await pool?.end();
  await admin?.query(`drop database if exists ${dbName} with (force)`).catch(() => undefined);
  await admin?.end();
  await previous?.remove();
});

const GATED_RUNS = 4; // stop in wait_for_event until the test sends "go", after the old workers are gone
const LONG_RUNS = 2; // simulate_work back to back, busy when the old workers get SIGTERM
const WORK = { tool_calls: [{ name: "simulate_work", arguments: { ms: 300 } }] };
const GATED_SCRIPT = [
  ...Array.from({ length: 6 }, () => WORK),
  { tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] },
  ...Array.from({ length: 6 }, () => WORK),
  { text: "done" },
];
// 41 steps: under the default max_steps (50)
const LONG_SCRIPT = [...Array.from({ length: 20 }, () => ({ tool_calls: [{ name: "simulate_work", arguments: { ms: 400 } }] })), { text: "done" }];

async function committedSteps(): Promise<number> {
  return (await pool.query<{ n: number }>("select count(*)::int as n from everruns.run_steps")).rows[0]!.n;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${workers.map((w) => w.output()).join("\n---\n")}`);
    await sleep(25);
  }
}

it("rolling upgrade from the previous release: migrate under running old workers, start a new one, drain the old ones; every run finishes, each step once", async () => {
  const old = previous!;
  const newMigrations = (await listMigrations()).map((m) => path.basename(m.file));
  const oldMigrations = (await listMigrations(path.join(old.root, "db", "migrations"))).map((m) => path.basename(m.file));
  const added = newMigrations.filter((m) => !oldMigrations.includes(m));
  expect(added.length, `${old.label} has every migration of this checkout`).toBeGreaterThan(0);

  // 1. the previous release's schema
  const oldMigrate = await runEverruns(old, url, ["migrate"]);
  expect(oldMigrate.code, oldMigrate.output).toBe(0);

  // this checkout's worker, started before `everruns migrate` (the wrong order), refuses
  const early = await runEverruns(THIS_CHECKOUT, url, ["worker"]);
  expect(early.code, early.output).toBe(1);
  expect(early.output).toContain(`it lacks migration ${added[0]!.slice(0, -4)}`);
  expect(early.output).toContain("Run `everruns migrate` with this version first");
  expect(early.output).not.toMatch(/\n\s+at /); // a message, not a stack trace

  // 2. two old workers, running long runs
  workers.push(await startWorkerProcess(old, url), await startWorkerProcess(old, url));
  const [oldA, oldB] = workers as [WorkerProcess, WorkerProcess];
  const agent = async (name: string, script: unknown[]) =>
    (
      await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
        name,
        JSON.stringify({ provider: "scripted", model: "s", tools: ["simulate_work", "wait_for_event"], script }),
      ])
    ).rows[0]!.id;
  const gatedAgent = await agent("rolling_gated", GATED_SCRIPT);
  const longAgent = await agent("rolling_long", LONG_SCRIPT);
  const startRun = async (agentId: string) =>
    (
      await pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
        agentId,
        JSON.stringify({ messages: [{ role: "user", content: "through a deploy" }] }),
      ])
    ).rows[0]!.id;
  const gated: string[] = [];
  for (let i = 0; i < GATED_RUNS; i++) gated.push(await startRun(gatedAgent));
  const long: string[] = [];
  for (let i = 0; i < LONG_RUNS; i++) long.push(await startRun(longAgent));
  const runs = [...gated, ...long];
  await until(
    "every run to have 2 committed steps",
    async () =>
      (
        await pool.query<{ n: number }>(
          "select count(*)::int as n from everruns.runs r where r.id = any($1) and (select count(*) from everruns.run_steps s where s.run_id = r.id) >= 2",
          [runs],
        )
      ).rows[0]!.n === runs.length,
    60_000,
  );

  // 3. this checkout's migrations, applied under the running old workers
  const newMigrate = await runEverruns(THIS_CHECKOUT, url, ["migrate"]);
  expect(newMigrate.code, newMigrate.output).toBe(0);
  for (const m of added) expect(newMigrate.output).toContain(`applied migration ${m}`);

  // the old workers go on committing against the new schema: only they run until step 4
  const afterMigrate = await committedSteps();
  await until("4 steps committed by the old workers after the migration", async () => (await committedSteps()) >= afterMigrate + 4, 60_000);
  const byOldAfterMigrate = (await committedSteps()) - afterMigrate;

  // a worker of the previous release started now: refused when that release has the check
  const oldHasCheck = (await readFile(path.join(old.root, "db", "migrate.ts"), "utf8")).includes("checkSchemaVersion");
  if (oldHasCheck) {
    const late = await runEverruns(old, url, ["worker"]);
    expect(late.code, late.output).toBe(1);
    expect(late.output).toContain("the database's schema is newer than this version of Everruns");
  } else {
    console.log(`${old.label} predates the schema-version check: a worker of it started now would not refuse`);
  }

  // 4. a new worker, then SIGTERM to the old ones once the gated runs wait
  workers.push(await startWorkerProcess(THIS_CHECKOUT, url));
  const fresh = workers[2]!;
  await until(
    "the gated runs to wait for their event",
    async () =>
      (await pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where id = any($1) and status = 'waiting'", [gated])).rows[0]!.n ===
      gated.length,
    60_000,
  );
  const longInFlight = (await pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where id = any($1) and status = 'running'", [long]))
    .rows[0]!.n;
  oldA.child.kill("SIGTERM");
  oldB.child.kill("SIGTERM");
  expect(await oldA.exited, oldA.output()).toEqual({ code: 0, signal: null });
  expect(await oldB.exited, oldB.output()).toEqual({ code: 0, signal: null });
  const afterOld = await committedSteps();

  // 5. the gated runs go on, on the new worker alone
  for (const runId of gated) await pool.query("select everruns.send_event($1, 'go', '{}')", [runId]);
  await until(
    "every run to finish",
    async () =>
      (
        await pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where id = any($1) and status in ('succeeded', 'failed', 'cancelled')", [
          runs,
        ])
      ).rows[0]!.n === runs.length,
    90_000,
  );
  const statuses = (await pool.query<{ id: string; status: string; error: unknown }>("select id, status, error from everruns.runs where id = any($1)", [runs]))
    .rows;
  for (const r of statuses) expect(r, `${JSON.stringify(r)}\n${fresh.output()}`).toMatchObject({ status: "succeeded" });
  expect(await committedSteps()).toBeGreaterThan(afterOld);

  // each step committed once: one row per seq, no gap, the script's steps and no more
  const expected = (script: unknown[], waits: number) => ({
    llm: script.length,
    tool: script.length - 1, // each tool call's result; a wait's included
    wait: waits,
  });
  for (const [ids, want] of [
    [gated, expected(GATED_SCRIPT, 1)],
    [long, expected(LONG_SCRIPT, 0)],
  ] as const) {
    for (const runId of ids) {
      const steps = (
        await pool.query<{ seq: number; kind: "llm" | "tool" | "wait"; status: string }>(
          "select seq, kind, status from everruns.run_steps where run_id = $1 order by seq",
          [runId],
        )
      ).rows;
      expect(steps.map((s) => s.seq)).toEqual(steps.map((_, i) => i + 1));
      expect(steps.every((s) => s.status === "succeeded")).toBe(true);
      const kinds = { llm: 0, tool: 0, wait: 0 };
      for (const s of steps) kinds[s.kind]++;
      expect(kinds, runId).toEqual(want);
    }
  }

  // what the old workers did meanwhile: kept working (no step of theirs fenced out or failed)
  const retried = (await pool.query<{ n: number }>("select count(*)::int as n from everruns.run_steps where run_id = any($1) and attempt > 1", [runs])).rows[0]!
    .n;
  for (const w of [oldA, oldB]) {
    expect(w.output()).not.toMatch(/stale|fenced|does not exist|failed/i);
  }
  console.log(
    `rolling upgrade ${old.label} → this checkout (${added.join(", ")}): the old workers committed ${byOldAfterMigrate} step(s) after the migration before the new worker started; ` +
      `${longInFlight} long run(s) in flight at SIGTERM; ${retried} step(s) committed by a second attempt`,
  );

  fresh.child.kill("SIGTERM");
  expect(await fresh.exited, fresh.output()).toEqual({ code: 0, signal: null });
}, 240_000);
