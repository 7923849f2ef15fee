// Sub-agents under kill -9 (issue 18): a caller fans out to 20 children while worker processes
// are killed and replaced; every child runs exactly once, the caller resumes once with all 20
// results, and the tree's usage is the sum of its runs'.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getSteps, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { sleep } from "../../lib/sleep.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;
const workers = new Set<WorkerProcess>();

async function start(): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await db?.drop();
});

const FAN_OUT = 20;

describe("a fan-out to 20 children with kill -9s of workers meanwhile", () => {
  it("runs every child exactly once, resumes the caller once with all results, and sums the tree's usage", { timeout: 180_000 }, async () => {
    // each child: an LLM turn, a tool step that holds its worker (long enough that the tree outlasts three kill -9s), then an answer naming its task
    await createAgent(
      db.pool,
      { provider: "scripted", tools: ["simulate_work"], script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }], delay_ms: 200 }] },
      "crash_child",
    );
    const calls = Array.from({ length: FAN_OUT }, (_, i) => ({ name: "part", arguments: { task: `part ${i}` } }));
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      max_parallel_children: 6,
      max_steps: 200,
      tools: [{ type: "agent", name: "part", agent: "crash_child" }],
      script: [{ text: "splitting", tool_calls: calls }, { text: "merged" }],
    });
    await start();
    await start();
    await start();

    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      lead,
      JSON.stringify({ messages: [{ role: "user", content: "fan out" }] }),
    ]);
    const runId = rows[0]!.id;

    // kill -9 a worker every 700 ms while the tree runs, keeping three alive
    let kills = 0;
    const killer = (async () => {
      for (let i = 0; i < 8; i++) {
        await sleep(700);
        const { rows: open } = await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [runId]);
        if (open[0]!.status === "succeeded" || open[0]!.status === "failed") return;
        const victim = [...workers][Math.floor(Math.random() * workers.size)];
        if (!victim) continue;
        victim.child.kill("SIGKILL");
        await victim.exited;
        kills++;
        await start();
      }
    })();

    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed", "cancelled"], 150_000);
    await killer;
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(kills).toBeGreaterThanOrEqual(3);

    // every call has exactly one child, which ran once to the end
    const { rows: children } = await db.pool.query<{
      id: string;
      caller_tool_call_id: string;
      status: string;
      output: { text: string };
      input: { messages: Array<{ content: string }> };
    }>("select id, caller_tool_call_id, status, output, input from everruns.runs where caller_run_id = $1", [runId]);
    expect(children).toHaveLength(FAN_OUT);
    expect(new Set(children.map((c) => c.caller_tool_call_id)).size).toBe(FAN_OUT);
    for (const c of children) {
      expect(c.status).toBe("succeeded");
      const steps = await getSteps(db.pool, c.id);
      expect(steps.map((s) => s.kind)).toEqual(["llm", "tool", "llm"]);
      expect(c.output.text).toContain(`Last user message: ${c.input.messages[0]!.content}`);
      await assertValidAgUiLog(await getEvents(db.pool, c.id));
    }

    // the caller: one result per call, each its own child's, and one model call after them all
    const steps = await getSteps(db.pool, runId);
    const results = steps.filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(results).toHaveLength(FAN_OUT);
    const llm = steps.filter((s) => s.kind === "llm");
    expect(llm.map((s) => s.seq)).toEqual([1, steps.length]);
    for (const r of results) {
      const child = children.find((c) => c.caller_tool_call_id === r.tool_call_id)!;
      expect(JSON.parse(r.content)).toEqual({ run_id: child.id, status: "succeeded", output: child.output });
    }
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const started = events
      .filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_started")
      .map((e) => (e.event.value as { run_id: string }).run_id);
    expect(started.sort()).toEqual(children.map((c) => c.id).sort());

    // usage: the tree's is the sum of its runs' own
    const { rows: sums } = await db.pool.query<{
      tree: { input_tokens: number; output_tokens: number; cost_usd: number; runs: number };
      input: string;
      output: string;
      cost: string;
    }>(
      `select everruns.runs_tree_usage(r) as tree,
              (select sum((x.usage ->> 'input_tokens')::bigint) from everruns.runs x where x.id = r.id or x.root_run_id = r.id) as input,
              (select sum((x.usage ->> 'output_tokens')::bigint) from everruns.runs x where x.id = r.id or x.root_run_id = r.id) as output,
              (select sum((x.usage ->> 'cost_usd')::numeric) from everruns.runs x where x.id = r.id or x.root_run_id = r.id) as cost
         from everruns.runs r where r.id = $1`,
      [runId],
    );
    const sum = sums[0]!;
    expect(sum.tree.runs).toBe(FAN_OUT + 1);
    expect(sum.tree.input_tokens).toBe(Number(sum.input));
    expect(sum.tree.output_tokens).toBe(Number(sum.output));
    expect(sum.tree.cost_usd).toBeCloseTo(Number(sum.cost), 8);
    expect(sum.tree.input_tokens).toBeGreaterThan(run.usage.input_tokens);

    const { rows: attempts } = await db.pool.query<{ n: number }>(
      "select count(*)::int as n from everruns.run_steps s join everruns.runs r on r.id = s.run_id where (r.id = $1 or r.root_run_id = $1) and s.attempt > 1",
      [runId],
    );
    console.log(
      `fan-out to ${FAN_OUT} children: ${kills} kill -9s; ${steps.length} steps of the caller (${steps.filter((s) => s.kind === "wait").length} waits); ${attempts[0]!.n} steps committed after a retried attempt`,
    );
  });
});

describe("a worker killed at the commit that starts the children", () => {
  it("leaves no child when killed before it, and each child exactly once when killed after it", { timeout: 120_000 }, async () => {
    // no other worker: the crashing ones must be the ones that take the run
    const others = [...workers];
    for (const w of others) w.child.kill("SIGKILL");
    await Promise.all(others.map((w) => w.exited));
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "child answer" }] }, "commit_child");
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "agent", name: "part", agent: "commit_child" }],
      script: [{ tool_calls: [1, 2, 3].map((i) => ({ name: "part", arguments: { task: `part ${i}` } })) }, { text: "merged" }],
    });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      lead,
      JSON.stringify({ messages: [{ role: "user", content: "fan out" }] }),
    ]);
    const runId = rows[0]!.id;
    const count = async () => (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where caller_run_id = $1", [runId])).rows[0]!.n;

    // step 2 is the agent call's wait step, whose commit starts the three children
    const before = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: "before_commit:2" });
    workers.add(before);
    expect((await before.exited).signal, before.output().slice(-2000)).toBe("SIGKILL");
    workers.delete(before);
    expect(await count()).toBe(0);

    const after = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: "after_commit:2" });
    workers.add(after);
    expect((await after.exited).signal, after.output().slice(-2000)).toBe("SIGKILL");
    workers.delete(after);
    expect(await count()).toBe(3);

    await start();
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 60_000);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(await count()).toBe(3);
    const steps = await getSteps(db.pool, runId);
    expect(steps[1]).toMatchObject({ seq: 2, kind: "wait" });
    expect(steps[1]!.attempt).toBeGreaterThanOrEqual(2);
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    expect(events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_started")).toHaveLength(3);
  });
});
