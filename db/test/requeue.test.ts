// requeue_run (000005): a job taken a second time gives its run a fresh job, due now — also for a
// waiting run that send_event woke early, whose wait would otherwise end only when it times out.
import { afterAll, beforeAll, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "./helpers.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

async function due(runId: string): Promise<boolean[]> {
  const { rows } = await db.pool.query<{ due: boolean }>("select run_at <= now() as due from graphile_worker.jobs where key = $1", [`run:${runId}`]);
  return rows.map((r) => r.due);
}

it("keeps an early wake-up: a waiting run woken by send_event is due now after a requeue, not when its wait times out", async () => {
  const agent = await createAgent(db.pool, { provider: "scripted", tools: ["wait_for_event"], script: [{ text: "done" }] });
  const runId = await startRun(db.pool, agent, "wait for go");
  const begin = async () =>
    (await db.pool.query<{ attempt: number }>("select (everruns_private.begin_step($1) -> 'run' ->> 'step_attempt')::int as attempt", [runId])).rows[0]!
      .attempt;
  const commit = async (seq: number, step: unknown, next: unknown) => {
    const attempt = await begin();
    await db.pool.query("select everruns_private.commit_step($1, $2, $3, $4, '[]', $5)", [runId, seq, attempt, JSON.stringify(step), JSON.stringify(next)]);
  };
  await commit(1, { kind: "llm", name: "scripted", status: "succeeded", input: { call_index: 0 }, output: { text: "", tool_calls: [] } }, { type: "continue" });
  await commit(
    2,
    { kind: "wait", name: "wait_for_event", status: "succeeded", output: { tool_call_id: "c1" } },
    {
      type: "wait",
      delay_ms: 3_600_000,
      waiting: { type: "event", name: "go", tool_call_id: "c1" },
    },
  );
  expect(await due(runId)).toEqual([false]); // parked for an hour at most
  const { rows } = await db.pool.query<{ woke: boolean }>("select everruns.send_event($1, 'go', '{}') as woke", [runId]);
  expect(rows[0]!.woke).toBe(true);
  expect(await due(runId)).toEqual([true]);
  // the job is taken, its worker dies, the next worker takes it again and requeues the run
  await db.pool.query("select everruns_private.requeue_run($1)", [runId]);
  expect(await due(runId)).toEqual([true]);
  await db.pool.query("select everruns.cancel_run($1)", [runId]);
});

it("does nothing for a finished run", async () => {
  const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "done" }] });
  const runId = await startRun(db.pool, agent, "x");
  await db.pool.query("select everruns.cancel_run($1)", [runId]);
  await db.pool.query("select everruns_private.requeue_run($1)", [runId]);
  expect(await due(runId)).toEqual([]);
});
