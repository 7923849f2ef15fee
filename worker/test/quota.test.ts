// Daily quotas (issue 14, 000023): over its workspace's max_tokens_per_day or max_cost_usd_per_day,
// a run's next LLM step parks the run (waiting, CUSTOM everruns.quota) until the next UTC midnight
// or until the quota is raised; what it already did stays committed, and it then goes on.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../main.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, dbConnections: 3, shutdownTimeoutMs: 2000, log: consoleLogger("quota", "warn") });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

async function workspaceWithAgent(): Promise<{ ws: string; agent: string }> {
  const { rows } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [`quota_${randomBytes(4).toString("hex")}`]);
  const ws = rows[0]!.id;
  // two LLM calls with an echo between: the second comes after the first's usage is counted
  const config = {
    provider: "scripted",
    tools: [{ name: "echo" }],
    script: [{ text: "let me check", tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "the answer" }],
  };
  const agent = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, 'quota-agent', $2) returning id", [
    ws,
    JSON.stringify(config),
  ]);
  return { ws, agent: agent.rows[0]!.id };
}

async function startRun(agent: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agent,
    JSON.stringify({ messages: [{ role: "user", content: "what is the answer?" }] }),
  ]);
  return rows[0]!.id;
}

interface RunState {
  status: string;
  waiting: { type?: string; limit?: string; until?: string; resets_at?: string } | null;
}

async function runState(runId: string): Promise<RunState> {
  const { rows } = await db.pool.query<RunState>("select status, waiting from everruns.runs where id = $1", [runId]);
  return rows[0]!;
}

it("over max_tokens_per_day the next LLM step parks the run until the next UTC midnight; raising the quota resumes it", async () => {
  const { ws, agent } = await workspaceWithAgent();
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify({ max_tokens_per_day: 1 })]);
  const runId = await startRun(agent);

  const parked = await waitFor("the run to park on its quota", async () => {
    const state = await runState(runId);
    return state.status === "waiting" ? state : null;
  });
  const midnight = await db.pool.query<{ midnight: string; used: string }>(
    `select (((now() at time zone 'UTC')::date + 1)::timestamp at time zone 'UTC') as midnight,
            (select tokens from everruns_private.workspace_usage_days where workspace_id = $1) as used`,
    [ws],
  );
  expect(parked.waiting).toMatchObject({ type: "quota", limit: "max_tokens_per_day" });
  // it wakes at midnight (its delay was measured when the step began: plus the step's few ms)
  const midnightMs = new Date(midnight.rows[0]!.midnight).getTime();
  expect(new Date(parked.waiting!.resets_at!).getTime()).toBe(midnightMs);
  expect(new Date(parked.waiting!.until!).getTime()).toBeGreaterThanOrEqual(midnightMs);
  expect(new Date(parked.waiting!.until!).getTime()).toBeLessThan(midnightMs + 60_000);
  expect(Number(midnight.rows[0]!.used)).toBeGreaterThan(1);

  // what ran before is committed once; the park is a step of its own with its event
  const steps = await db.pool.query<{ kind: string; name: string }>("select kind, name from everruns.run_steps where run_id = $1 order by seq", [runId]);
  expect(steps.rows).toEqual([
    { kind: "llm", name: "scripted" },
    { kind: "tool", name: "echo" },
    { kind: "system", name: "quota" },
  ]);
  const events = await db.pool.query<{ event: { name: string; value: { limit: string; max: number } } }>(
    "select event from everruns.run_events where run_id = $1 and type = 'CUSTOM' and event ->> 'name' = 'everruns.quota'",
    [runId],
  );
  expect(events.rows.map((e) => e.event.value)).toEqual([expect.objectContaining({ limit: "max_tokens_per_day", max: 1 })]);
  const explained = await db.pool.query<{ message: string }>("select message from everruns.explain_queue($1)", [runId]);
  expect(explained.rows[0]!.message).toMatch(/daily quota \(max_tokens_per_day\)/);

  // the administrator raises the quota: the run goes on at once and finishes
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify({ max_tokens_per_day: 1_000_000 })]);
  await waitFor("the run to finish", async () => (await runState(runId)).status === "succeeded");
  const after = await db.pool.query<{ kind: string }>("select kind from everruns.run_steps where run_id = $1 order by seq", [runId]);
  expect(after.rows.map((s) => s.kind)).toEqual(["llm", "tool", "system", "llm"]);
});

it("max_cost_usd_per_day parks the same way, and removing the quota resumes the run", async () => {
  const { ws, agent } = await workspaceWithAgent();
  // scripted calls cost a fraction of a cent (its nominal prices): the smallest quota is used up by one
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify({ max_cost_usd_per_day: 0.000001 })]);
  const runId = await startRun(agent);
  const parked = await waitFor("the run to park on its quota", async () => {
    const state = await runState(runId);
    return state.status === "waiting" ? state : null;
  });
  expect(parked.waiting).toMatchObject({ type: "quota", limit: "max_cost_usd_per_day" });
  await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [ws, JSON.stringify({ max_cost_usd_per_day: null })]);
  await waitFor("the run to finish", async () => (await runState(runId)).status === "succeeded");
});

it("a quota set during the day counts what the workspace already used today", async () => {
  const { ws, agent } = await workspaceWithAgent();
  const runId = await startRun(agent);
  await waitFor("the run to finish", async () => (await runState(runId)).status === "succeeded");
  const { rows } = await db.pool.query<{ tokens_today: string; max_tokens_per_day: string }>(
    "select tokens_today, max_tokens_per_day from everruns_private.set_workspace_admission($1, $2)",
    [ws, JSON.stringify({ max_tokens_per_day: 5 })],
  );
  const used = await db.pool.query<{ tokens: string }>(
    "select sum((usage ->> 'input_tokens')::bigint + (usage ->> 'output_tokens')::bigint) as tokens from everruns.run_steps where run_id = $1 and kind = 'llm'",
    [runId],
  );
  expect(Number(rows[0]!.tokens_today)).toBe(Number(used.rows[0]!.tokens));
  // so the next run of the workspace parks at its first LLM call
  const next = await startRun(agent);
  await waitFor("the next run to park", async () => (await runState(next)).status === "waiting");
  const steps = await db.pool.query<{ kind: string }>("select kind from everruns.run_steps where run_id = $1", [next]);
  expect(steps.rows.map((s) => s.kind)).toEqual(["system"]);
});
