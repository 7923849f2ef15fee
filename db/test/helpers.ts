import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPool, type Pool } from "../pool.ts";
import { databaseUrl } from "./global-setup.ts";

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** A fresh database cloned from the migrated template (a few ms). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("serverUrl");
  const template = inject("templateDb");
  const name = `everruns_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(serverUrl, name);
  const pool = createPool(url, "everruns-test", 5);
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined);
      await admin.end();
    },
  };
}

export async function createAgent(pool: Pool, config: Record<string, unknown>, name = `agent_${randomBytes(4).toString("hex")}`): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.agents (name, config) values ($1, $2) returning id", [
    name,
    JSON.stringify(config),
  ]);
  return rows[0]!.id;
}

export async function startRun(pool: Pool, agentId: string, content = "hello"): Promise<string> {
  const { rows } = await pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
  ]);
  return rows[0]!.id;
}

export interface RunRow {
  id: string;
  status: string;
  output: { text?: string } | null;
  error: { code?: string; message?: string } | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  step_cursor: number;
}

export async function getRun(pool: Pool, runId: string): Promise<RunRow> {
  const { rows } = await pool.query<RunRow>("select * from everruns.runs where id = $1", [runId]);
  return rows[0]!;
}

/** Polls until the run reaches one of `statuses` (LISTEN would do, but polling keeps tests simple and exact). */
export async function waitForStatus(pool: Pool, runId: string, statuses: string[], timeoutMs = 60_000): Promise<RunRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(pool, runId);
    if (statuses.includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status} after ${timeoutMs} ms (wanted ${statuses.join("/")})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function getEvents(pool: Pool, runId: string): Promise<Array<{ seq: number; type: string; event: Record<string, unknown> }>> {
  const { rows } = await pool.query("select seq, type, event from everruns.run_events where run_id = $1 order by seq", [runId]);
  return rows;
}

export async function getSteps(pool: Pool, runId: string): Promise<Array<{ seq: number; kind: string; name: string; status: string; attempt: number; output: any; input: any }>> {
  const { rows } = await pool.query("select * from everruns.run_steps where run_id = $1 order by seq", [runId]);
  return rows;
}
