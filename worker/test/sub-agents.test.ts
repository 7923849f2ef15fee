// Sub-agents (docs/sub-agents.md, 000033) against a real Postgres and the scripted provider: a
// tool of type "agent" starts a child run, the caller waits durably (no job, no worker), the
// child's end wakes it with the child's outcome; failures, limits, parallel fan-out, cancel and
// interrupt propagation, usage roll-up.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, getSteps, toolOutput, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { runBudgetSpend } from "../../db/sql/runBudgetSpend.ts";
import { startWorker, type WorkerHandle } from "../main.ts";

let db: TestDatabase;
let worker: WorkerHandle;
const log = consoleLogger("[test-worker]", "warn");

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 5000, log });
});

afterAll(async () => {
  await worker?.stop();
  await db?.drop();
});

let names = 0;
const uniqueName = (base: string) => `${base}_${process.pid}_${++names}`;

interface ChildRow {
  id: string;
  status: string;
  caller_run_id: string;
  caller_tool_call_id: string;
  root_run_id: string;
  parent_run_id: string | null;
  output: { text?: string } | null;
  started_at: string | null;
  finished_at: string | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
}

async function childrenOf(runId: string): Promise<ChildRow[]> {
  const { rows } = await db.pool.query<ChildRow>("select * from everruns.runs where caller_run_id = $1 order by created_at, id", [runId]);
  return rows;
}

async function startOn(agentId: string, content: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [{ role: "user", content }] }),
  ]);
  return rows[0]!.id;
}

async function treeUsage(runId: string): Promise<{ input_tokens: number; output_tokens: number; cost_usd: number; runs: number }> {
  const { rows } = await db.pool.query<{ u: { input_tokens: number; output_tokens: number; cost_usd: number; runs: number } }>(
    "select everruns.runs_tree_usage(r) as u from everruns.runs r where r.id = $1",
    [runId],
  );
  return rows[0]!.u;
}

/** All runs of a tree: the root and every run below it. */
async function treeRuns(rootId: string): Promise<Array<{ id: string; usage: { input_tokens: number; output_tokens: number; cost_usd: number } }>> {
  const { rows } = await db.pool.query<{ id: string; usage: { input_tokens: number; output_tokens: number; cost_usd: number } }>(
    "select id, usage from everruns.runs where id = $1 or root_run_id = $1",
    [rootId],
  );
  return rows;
}

describe("an agent tool", () => {
  it("starts a child run, the caller waits with no job and resumes with the child's answer; usage rolls up", async () => {
    const researcher = uniqueName("researcher");
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "step one", delay_ms: 300 }] }, researcher);
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "agent", name: "research", agent: researcher, description: "Researches a question" }],
      script: [{ text: "delegating", tool_calls: [{ name: "research", arguments: { task: "find the answer" } }] }, { text: "all done" }],
    });
    const runId = await startOn(lead, "go");

    // while the child runs, the caller waits durably: no job of its own that a worker holds
    const child = await waitFor("the child to start", async () => (await childrenOf(runId))[0]);
    expect(child).toMatchObject({ caller_run_id: runId, root_run_id: runId, parent_run_id: null });
    await waitFor("the caller to wait", async () => (await getRun(db.pool, runId)).status === "waiting");
    const { rows: held } = await db.pool.query("select 1 from graphile_worker.jobs where key = $1 and locked_at is not null", [`run:${runId}`]);
    expect(held).toHaveLength(0);

    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    expect(run.output).toEqual({ text: "all done" });
    const [done] = await childrenOf(runId);
    expect(done!.status).toBe("succeeded");

    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.kind)).toEqual(["llm", "wait", "tool", "llm"]);
    const result = toolOutput(steps[2]);
    expect(result.is_error).toBe(false);
    expect(JSON.parse(result.content)).toEqual({ run_id: done!.id, status: "succeeded", output: { text: "step one" } });
    expect(done!.caller_tool_call_id).toBe(result.tool_call_id);

    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const started = events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_started");
    expect(started.map((e) => e.event.value)).toEqual([{ run_id: done!.id, agent: researcher, tool_call_id: result.tool_call_id }]);
    await assertValidAgUiLog(await getEvents(db.pool, done!.id));

    // usage: the run's own stays its own; the tree's sums both
    const tree = await treeUsage(runId);
    expect(tree.runs).toBe(2);
    expect(tree.input_tokens).toBe(run.usage.input_tokens + done!.usage.input_tokens);
    expect(tree.output_tokens).toBe(run.usage.output_tokens + done!.usage.output_tokens);
    expect(tree.cost_usd).toBeCloseTo(run.usage.cost_usd + done!.usage.cost_usd, 8);
  });

  it("gives a failed child's error to the model as an error result, and refuses a missing agent or a call too deep", async () => {
    const failing = uniqueName("failing");
    await createAgent(db.pool, { provider: "scripted", script: [{ error: "bad_request" }] }, failing);
    const self = uniqueName("recursive");
    await createAgent(
      db.pool,
      {
        provider: "scripted",
        max_depth: 1,
        tools: [
          { type: "agent", name: "broken", agent: failing },
          { type: "agent", name: "ghost", agent: uniqueName("nobody") },
          { type: "agent", name: "again", agent: self },
        ],
        script: [
          {
            tool_calls: [
              { name: "broken", arguments: { task: "fail please" } },
              { name: "ghost", arguments: { task: "anyone?" } },
              { name: "again", arguments: { task: "recurse" } },
            ],
          },
          { text: "coped" },
        ],
      },
      self,
    );
    const { rows } = await db.pool.query<{ id: string }>("select id from everruns.agents where name = $1", [self]);
    const runId = await startOn(rows[0]!.id, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");

    const results = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(results).toHaveLength(3);
    const children = await childrenOf(runId);
    const failed = children.find((c) => c.status === "failed")!;
    expect(results[0]).toMatchObject({ is_error: true });
    expect(results[0]!.content).toContain(`run ${failed.id}) failed`);
    expect(results[1]).toMatchObject({ is_error: true });
    expect(results[1]!.content).toContain("there is no agent named");
    // the recursive call starts a child at depth 1; that child's own call would be depth 2
    const nested = children.find((c) => c.caller_tool_call_id === results[2]!.tool_call_id)!;
    expect(results[2]!.is_error).toBe(false);
    expect(nested.status).toBe("succeeded");
    const nestedResults = (await getSteps(db.pool, nested.id)).filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(nestedResults.map((r) => r.content)).toEqual([
      expect.stringContaining("at most 1 deep"),
      expect.stringContaining("at most 1 deep"),
      expect.stringContaining("at most 1 deep"),
    ]);
    expect(await childrenOf(nested.id)).toHaveLength(0);
    expect(children).toHaveLength(2); // broken and again; ghost has no agent
  });

  it("runs a turn's agent calls in parallel, at most max_parallel_children at once, each exactly once, and resumes once", async () => {
    const worker_ = uniqueName("worker");
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "ok", delay_ms: 400 }] }, worker_);
    const calls = Array.from({ length: 6 }, (_, i) => ({ name: "work", arguments: { task: `part ${i}` } }));
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      max_parallel_children: 2,
      tools: [{ type: "agent", name: "work", agent: worker_ }],
      script: [{ tool_calls: calls }, { text: "merged" }],
    });
    const runId = await startOn(lead, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const children = await childrenOf(runId);
    expect(children).toHaveLength(6);
    expect(new Set(children.map((c) => c.caller_tool_call_id)).size).toBe(6);
    // never more than 2 at once: at each child's start, fewer than 2 others were running
    for (const c of children) {
      const overlapping = children.filter((o) => o !== c && o.started_at! < c.started_at! && o.finished_at! > c.started_at!);
      expect(overlapping.length).toBeLessThan(2);
    }
    const steps = await getSteps(db.pool, runId);
    expect(steps.filter((s) => s.kind === "llm")).toHaveLength(2);
    const results = steps.filter((s) => s.kind === "tool").map((s) => toolOutput(s));
    expect(results.map((r) => (JSON.parse(r.content) as { run_id: string }).run_id)).toEqual(
      results.map((r) => children.find((c) => c.caller_tool_call_id === r.tool_call_id)!.id),
    );
    expect(children.map((c) => c.output!.text)).toEqual(Array(6).fill("ok"));
    await assertValidAgUiLog(await getEvents(db.pool, runId));
  });
});

describe("a workspace at its admission limits", () => {
  it("starts the children the limit refuses later, under the ids it announced, each once", { timeout: 60_000 }, async () => {
    const name = `ws-${randomBytes(4).toString("hex")}`;
    const { rows: ws } = await db.pool.query<{ id: string }>("select id from everruns_private.create_workspace($1)", [name]);
    const workspaceId = ws[0]!.id;
    const agent = async (agentName: string, config: Record<string, unknown>) =>
      (
        await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
          workspaceId,
          agentName,
          JSON.stringify(config),
        ])
      ).rows[0]!.id;
    await agent("helper", { provider: "scripted", script: [{ text: "helped", delay_ms: 200 }] });
    const lead = await agent("lead", {
      provider: "scripted",
      max_parallel_children: 3,
      tools: [{ type: "agent", name: "help", agent: "helper" }],
      script: [{ tool_calls: [1, 2, 3].map((i) => ({ name: "help", arguments: { task: `part ${i}` } })) }, { text: "done" }],
    });
    // at most one queued run: the caller's one commit may start only one of its three children
    await db.pool.query("select everruns_private.set_workspace_admission($1, $2)", [workspaceId, JSON.stringify({ max_queued_runs: 1 })]);
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (workspace_id, agent_id, input) values ($1, $2, $3) returning id", [
      workspaceId,
      lead,
      JSON.stringify({ messages: [{ role: "user", content: "go" }] }),
    ]);
    const runId = rows[0]!.id;
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 50_000);
    expect(run.status).toBe("succeeded");
    const children = await childrenOf(runId);
    expect(children).toHaveLength(3);
    expect(new Set(children.map((c) => c.caller_tool_call_id)).size).toBe(3);
    // every child_started names a child that ran (announced again when its start was put off)
    const started = (await getEvents(db.pool, runId))
      .filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_started")
      .map((e) => (e.event.value as { run_id: string }).run_id);
    expect(new Set(started)).toEqual(new Set(children.map((c) => c.id)));
    expect(started.length).toBeGreaterThan(3);
  });
});

describe("a tree of runs", () => {
  it("cancels the children (and theirs) when the caller is cancelled", async () => {
    const leaf = uniqueName("leaf");
    await createAgent(db.pool, { provider: "scripted", tools: ["sleep"], script: [{ tool_calls: [{ name: "sleep", arguments: { seconds: 600 } }] }] }, leaf);
    const middle = uniqueName("middle");
    await createAgent(
      db.pool,
      { provider: "scripted", tools: [{ type: "agent", name: "go", agent: leaf }], script: [{ tool_calls: [{ name: "go", arguments: { task: "sleep" } }] }] },
      middle,
    );
    const top = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "agent", name: "go", agent: middle }],
      script: [{ tool_calls: [{ name: "go", arguments: { task: "delegate" } }] }],
    });
    const runId = await startOn(top, "go");
    const grandchild = await waitFor("the grandchild to sleep", async () => {
      const { rows } = await db.pool.query<{ id: string; status: string }>(
        "select id, status from everruns.runs where root_run_id = $1 and caller_run_id <> $1",
        [runId],
      );
      return rows[0]?.status === "waiting" ? rows[0] : undefined;
    });
    await db.pool.query("select everruns.cancel_run($1)", [runId]);
    const { rows } = await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1 or root_run_id = $1", [runId]);
    expect(rows.map((r) => r.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    expect((await getRun(db.pool, grandchild.id)).status).toBe("cancelled");
    for (const r of await treeRuns(runId)) await assertValidAgUiLog(await getEvents(db.pool, r.id));
  });

  it("surfaces a child's interrupt on the root; answering the child continues it and the caller gets the answer", async () => {
    const careful = uniqueName("careful");
    await createAgent(
      db.pool,
      {
        provider: "scripted",
        tools: [{ name: "echo", requires_approval: true }],
        script: [{ tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "approved and done" }],
      },
      careful,
    );
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "agent", name: "ask", agent: careful }],
      script: [{ tool_calls: [{ name: "ask", arguments: { task: "do the careful thing" } }] }, { text: "finished" }],
    });
    const runId = await startOn(lead, "go");
    const child = await waitFor("the child to await approval", async () => {
      const [c] = await childrenOf(runId);
      return c?.status === "interrupted" ? c : undefined;
    });
    // the root reports it in its log, once, and lists it as awaiting an answer
    const report = await waitFor("the root to report the interrupt", async () =>
      (await getEvents(db.pool, runId)).find((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_interrupted"),
    );
    const value = report.event.value as { run_id: string; interrupts: Array<{ id: string }> };
    expect(value.run_id).toBe(child.id);
    expect(value.interrupts[0]!.id).toMatch(/^approval-/);
    const { rows: awaiting } = await db.pool.query<{ id: string }>(
      "select d.id from everruns.runs r, everruns.runs_awaiting_descendants(r) d where r.id = $1",
      [runId],
    );
    expect(awaiting.map((r) => r.id)).toEqual([child.id]);
    expect((await getRun(db.pool, runId)).status).toBe("waiting");

    const { rows: cont } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
      child.id,
      JSON.stringify([{ interruptId: value.interrupts[0]!.id, status: "resolved", payload: { approved: true } }]),
    ]);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status).toBe("succeeded");
    const continuation = await getRun(db.pool, cont[0]!.id);
    expect(continuation).toMatchObject({ status: "succeeded", caller_run_id: runId, root_run_id: runId });
    const result = toolOutput((await getSteps(db.pool, runId)).find((s) => s.kind === "tool"));
    expect(JSON.parse(result.content)).toMatchObject({ run_id: continuation.id, status: "succeeded", output: { text: "approved and done" } });
    const events = await getEvents(db.pool, runId);
    expect(events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_interrupted")).toHaveLength(1);
    await assertValidAgUiLog(events);
  });

  it("reports a grandchild's interrupt on the root, which lists it; the middle caller keeps waiting", async () => {
    const leaf = uniqueName("asking_leaf");
    await createAgent(
      db.pool,
      {
        provider: "scripted",
        tools: [{ name: "echo", requires_approval: true }],
        script: [{ tool_calls: [{ name: "echo", arguments: { y: 2 } }] }, { text: "leaf done" }],
      },
      leaf,
    );
    const middle = uniqueName("middle_caller");
    await createAgent(
      db.pool,
      {
        provider: "scripted",
        tools: [{ type: "agent", name: "leaf", agent: leaf }],
        script: [{ tool_calls: [{ name: "leaf", arguments: { task: "ask" } }] }, { text: "middle done" }],
      },
      middle,
    );
    const top = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "agent", name: "middle", agent: middle }],
      script: [{ tool_calls: [{ name: "middle", arguments: { task: "delegate" } }] }, { text: "top done" }],
    });
    const runId = await startOn(top, "go");
    const report = await waitFor("the root to report the grandchild's interrupt", async () =>
      (await getEvents(db.pool, runId)).find((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_interrupted"),
    );
    const [mid] = await childrenOf(runId);
    const [grandchild] = await childrenOf(mid!.id);
    expect(report.event.value).toMatchObject({ run_id: grandchild!.id, caller_run_id: mid!.id });
    expect((await getRun(db.pool, mid!.id)).status).toBe("waiting");
    // the middle run reports nothing: one place to look, the root
    expect((await getEvents(db.pool, mid!.id)).some((e) => e.type === "CUSTOM" && e.event.name === "everruns.child_interrupted")).toBe(false);
    const { rows: awaiting } = await db.pool.query<{ id: string }>(
      "select d.id from everruns.runs r, everruns.runs_awaiting_descendants(r) d where r.id = $1",
      [runId],
    );
    expect(awaiting.map((r) => r.id)).toEqual([grandchild!.id]);

    const { rows } = await db.pool.query<{ id: string }>("select interrupts -> 'interrupts' -> 0 ->> 'id' as id from everruns.runs where id = $1", [
      grandchild!.id,
    ]);
    await db.pool.query("select everruns.resume_run($1, $2)", [
      grandchild!.id,
      JSON.stringify([{ interruptId: rows[0]!.id, status: "resolved", payload: { approved: true } }]),
    ]);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.output).toEqual({ text: "top done" });
    const tree = await treeUsage(runId);
    expect(tree.runs).toBe(4); // top, middle, the leaf and its continuation
  });

  it("refuses a caller set by hand", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const other = await startOn(agent, "x");
    // roles are the cluster's: a name of this test's own
    const role = `sub_agents_writer_${randomBytes(4).toString("hex")}`;
    await db.pool.query(`create role ${role}`);
    try {
      await db.pool.query("select everruns.bind_role($1, 'default', 'write')", [role]);
      const client = await db.pool.connect();
      let refused: unknown;
      try {
        await client.query("begin");
        await client.query(`set local role ${role}`);
        await client
          .query("insert into everruns.runs (agent_id, input, caller_run_id, caller_tool_call_id, root_run_id) values ($1, $2, $3, 'x', $3)", [
            agent,
            JSON.stringify({ messages: [{ role: "user", content: "forged" }] }),
            other,
          ])
          .catch((error: unknown) => (refused = error));
      } finally {
        await client.query("rollback");
        client.release();
      }
      // refused by its column grants, and by tg_runs__sub_agent for a role that has them
      expect(String(refused)).toMatch(/set by the engine|permission denied for table runs/);
    } finally {
      await db.pool.query(`drop owned by ${role}`).catch(() => undefined);
      await db.pool.query(`drop role if exists ${role}`).catch(() => undefined);
    }
  });
});

describe("a caller's budget", () => {
  it("includes its sub-agents' spend: the tool calls of a child count against the caller's max_tool_calls", async () => {
    const researcher = uniqueName("researcher");
    const echo = (n: number) => ({ tool_calls: [{ name: "echo", arguments: { n } }] });
    await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script: [echo(1), echo(2), echo(3), { text: "found" }] }, researcher);
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo", { type: "agent", name: "research", agent: researcher, description: "Researches a question" }],
      // the child's 3 calls and the caller's own agent call: 4 of 2 before the caller's echo
      script: [{ tool_calls: [{ name: "research", arguments: { task: "look" } }] }, echo(9), { text: "done" }],
      budget: { max_tool_calls: 2, warn_at: 0.99 },
    });
    const runId = await startOn(lead, "go");
    const run = await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("interrupted");
    const [child] = await childrenOf(runId);
    expect(child!.status).toBe("succeeded");
    expect((await getSteps(db.pool, runId)).map((s) => `${s.kind} ${s.name}`).at(-1)).toBe("system budget");

    const spend = await runBudgetSpend(db.pool, runId);
    expect(spend.children).toBe(1);
    expect(spend.tool_calls).toBe(4);
    const { rows } = await db.pool.query<{ tokens: string }>(
      "select sum((usage ->> 'input_tokens')::bigint + (usage ->> 'output_tokens')::bigint) as tokens from everruns.runs where id = $1 or caller_run_id = $1",
      [runId],
    );
    expect(spend.tokens).toBe(Number(rows[0]!.tokens));
  });

  it("a turn whose children started is not held back by the budget: no child is orphaned or started twice", async () => {
    const echo = (n: number) => ({ tool_calls: [{ name: "echo", arguments: { n } }] });
    const fastKid = uniqueName("fastkid");
    const slowKid = uniqueName("slowkid");
    await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script: [echo(1), echo(2), echo(3), { text: "fast done" }] }, fastKid);
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "slow done", delay_ms: 1500 }] }, slowKid);
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: [
        { type: "agent", name: "fast", agent: fastKid },
        { type: "agent", name: "slow", agent: slowKid },
      ],
      // the fast child's 3 calls pass the caller's limit while the slow one still runs
      script: [
        {
          tool_calls: [
            { name: "fast", arguments: { task: "a" } },
            { name: "slow", arguments: { task: "b" } },
          ],
        },
        { text: "lead done" },
      ],
      budget: { max_tool_calls: 2, warn_at: 0.99 },
    });
    const runId = await startOn(lead, "go");
    const run = await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"]);
    // both results were waited for and committed; the limit stops the run only after them (before
    // its next call: a max_tool_calls limit holds back tool calls, the final answer is no call)
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const children = await childrenOf(runId);
    expect(children.map((c) => c.status)).toEqual(["succeeded", "succeeded"]);
    const outputs = (await getSteps(db.pool, runId)).filter((s) => s.kind === "tool").map((s) => JSON.stringify(s.output));
    expect(outputs.some((o) => o.includes("slow done"))).toBe(true);
    const { rows } = await db.pool.query<{ n: string }>(
      "select count(*) as n from everruns.runs r join everruns.agents a on a.id = r.agent_id where a.name = $1",
      [slowKid],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });
});
