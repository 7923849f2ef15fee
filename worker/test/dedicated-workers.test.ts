// Dedicated workers (issue 14, 000023): a workspace marked dedicated gets step jobs of task
// run_step:<workspace id>, which only a pool started for it (startWorker's workspaceId, everruns
// worker --workspace) takes; shared pools take run_step only. Checked by what the database shows:
// which pool ran each step attempt (run_attempts.pool_id), which task a waiting run's job has,
// and the pools' registrations. The CLI's --workspace is checked at the end, as a process.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { startWorker, type WorkerHandle } from "../main.ts";

const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");
const INPUT = JSON.stringify({ messages: [{ role: "user", content: "go" }] });
const log = consoleLogger("[test-worker]", "error");

let db: TestDatabase;
const workers = new Set<WorkerHandle>();

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await Promise.all([...workers].map((w) => w.stop()));
  await db?.drop();
});

async function workspace(): Promise<{ id: string; name: string }> {
  const { rows } = await db.pool.query<{ id: string; name: string }>("select id, name from everruns_private.create_workspace($1)", [
    `ws_${randomBytes(4).toString("hex")}`,
  ]);
  return rows[0]!;
}

async function setDedicated(ws: string, dedicated: boolean): Promise<void> {
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify({ dedicated })]);
}

/** A scripted agent of the workspace: an echo tool call, then an answer (3 steps), a few ms each. */
async function agentIn(ws: string): Promise<string> {
  const config = {
    provider: "scripted",
    tools: ["echo"],
    script: [
      { tool_calls: [{ name: "echo", arguments: { x: 1 } }], delay_ms: 5 },
      { text: "done", delay_ms: 5 },
    ],
  };
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    ws,
    `agent_${randomBytes(4).toString("hex")}`,
    JSON.stringify(config),
  ]);
  return rows[0]!.id;
}

async function insertRuns(agent: string, n: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) select $1, $2 from generate_series(1, $3) returning id", [
    agent,
    INPUT,
    n,
  ]);
  return rows.map((r) => r.id);
}

async function expectSucceeded(runIds: string[]): Promise<void> {
  for (const id of runIds) expect((await waitForStatus(db.pool, id, ["succeeded", "failed", "cancelled"])).status).toBe("succeeded");
}

/** The pools that ran any step attempt of these runs. */
async function poolsOf(runIds: string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ pool_id: string }>("select distinct pool_id from everruns.run_attempts where run_id = any($1) order by 1", [runIds]);
  return rows.map((r) => r.pool_id);
}

async function attemptsOf(runIds: string[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.run_attempts where run_id = any($1)", [runIds]);
  return rows[0]!.n;
}

/** The task of the run's job, or null when it has none. */
async function jobTaskOf(runId: string): Promise<string | null> {
  const { rows } = await db.pool.query<{ task_identifier: string }>("select task_identifier from graphile_worker.jobs where key = $1", [`run:${runId}`]);
  return rows[0]?.task_identifier ?? null;
}

async function start(workspaceId?: string): Promise<WorkerHandle> {
  const worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log, ...(workspaceId && { workspaceId }) });
  workers.add(worker);
  return worker;
}

describe("a dedicated workspace's steps run only on its own workers", () => {
  it("splits the runs by pool, leaves a dedicated run waiting without its pool, and hands it to the shared pool once un-dedicated", async () => {
    const shared = await workspace();
    const dedicated = await workspace();
    await setDedicated(dedicated.id, true);
    const sharedWorker = await start();
    const dedicatedWorker = await start(dedicated.id);

    // each pool registered as what it serves
    const { rows: registered } = await db.pool.query<{ pool_id: string; workspace_id: string | null }>(
      "select pool_id, workspace_id from everruns_private.workers where pool_id = any($1) order by pool_id",
      [[sharedWorker.poolId, dedicatedWorker.poolId]],
    );
    expect(Object.fromEntries(registered.map((r) => [r.pool_id, r.workspace_id]))).toEqual({
      [sharedWorker.poolId]: null,
      [dedicatedWorker.poolId]: dedicated.id,
    });

    const sharedAgent = await agentIn(shared.id);
    const dedicatedAgent = await agentIn(dedicated.id);
    const sharedRuns = await insertRuns(sharedAgent, 4);
    const dedicatedRuns = await insertRuns(dedicatedAgent, 4);
    await expectSucceeded([...sharedRuns, ...dedicatedRuns]);
    expect(await poolsOf(dedicatedRuns)).toEqual([dedicatedWorker.poolId]);
    expect(await poolsOf(sharedRuns)).toEqual([sharedWorker.poolId]);
    expect(await attemptsOf(dedicatedRuns)).toBeGreaterThanOrEqual(4 * 3);

    // Without its pool, a dedicated run's job waits under its own task: the shared pool never
    // takes it, and the shared workspace's runs do not wait for it.
    await dedicatedWorker.stop();
    workers.delete(dedicatedWorker);
    const [waiting] = await insertRuns(dedicatedAgent, 1);
    const moreShared = await insertRuns(sharedAgent, 3);
    await expectSucceeded(moreShared);
    expect(await poolsOf(moreShared)).toEqual([sharedWorker.poolId]);
    expect(await jobTaskOf(waiting!)).toBe(`run_step:${dedicated.id}`);
    const { rows: stillWaiting } = await db.pool.query<{ status: string; started_at: Date | null }>(
      "select status, started_at from everruns.runs where id = $1",
      [waiting!],
    );
    expect(stillWaiting[0]).toEqual({ status: "queued", started_at: null });
    expect(await attemptsOf([waiting!])).toBe(0);

    // un-dedicated: its pending job moves to run_step and the shared pool runs it
    await setDedicated(dedicated.id, false);
    await expectSucceeded([waiting!]);
    expect(await poolsOf([waiting!])).toEqual([sharedWorker.poolId]);
  });

  it("refuses a workspace id that is no uuid", async () => {
    await expect(startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 1000, log, workspaceId: "acme" })).rejects.toThrow(
      /workspaceId must be a workspace's id \(a uuid: everruns workspaces list shows them\), got "acme"/,
    );
  });
});

describe("everruns worker --workspace", () => {
  /** Runs the CLI until it exits. */
  function cli(args: string[]): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "info", EVERRUNS_WORKER_WORKSPACE: "" },
      });
      let output = "";
      const onData = (d: Buffer) => (output += d.toString());
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("exit", (code) => resolve({ code, output }));
    });
  }

  it("names `everruns workspaces list` for an unknown workspace", async () => {
    const { code, output } = await cli(["worker", "--workspace", "no_such_ws", "--max-in-flight", "1"]);
    expect(code).toBe(1);
    expect(output).toContain('no workspace "no_such_ws": give a workspace\'s name or id (everruns workspaces list shows them)');
  });

  it("refuses a workspace that is not dedicated, saying how to mark it", async () => {
    const ws = await workspace();
    const { code, output } = await cli(["worker", "--workspace", ws.name, "--max-in-flight", "1"]);
    expect(code).toBe(1);
    expect(output).toContain(`Mark it first: everruns workspaces limits ${ws.name} --dedicated`);
  });

  it("serves a dedicated workspace named by EVERRUNS_WORKER_WORKSPACE, registered as its pool", async () => {
    const ws = await workspace();
    await setDedicated(ws.id, true);
    let pool = "";
    let workspaceOfPool: string | null = null;
    const { output } = await new Promise<{ output: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, "worker", "--max-in-flight", "1", "--db-connections", "3"], {
        env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "info", EVERRUNS_WORKER_WORKSPACE: ws.name },
      });
      let out = "";
      const onData = (d: Buffer) => {
        out += d.toString();
        const m = /worker pool (\S+) started/.exec(out);
        if (m && !pool) {
          pool = m[1]!;
          void waitFor("the pool's registration", async () => {
            const { rows } = await db.pool.query<{ workspace_id: string | null }>("select workspace_id from everruns_private.workers where pool_id = $1", [
              pool,
            ]);
            return rows[0];
          }).then(
            (row) => {
              workspaceOfPool = row.workspace_id;
              child.kill("SIGTERM");
            },
            () => child.kill("SIGTERM"),
          );
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      // (its exit status is not checked: a SIGTERM may come before its signal handlers are set)
      child.on("exit", () => resolve({ output: out }));
    });
    expect(output).toContain(`serving dedicated workspace ${ws.name} (${ws.id}) only`);
    expect(output).toContain(`for dedicated workspace ${ws.id} only`);
    expect(workspaceOfPool).toBe(ws.id);
  });
});
