// Run budgets (config.budget, worker/run-budget.ts, migration 000032): a warning once per limit
// of a piece of work, the run ended interrupted at each kind of limit (cost, tokens, tool calls,
// wall time), a raise that goes on where the run stopped and is carried along the continuations,
// a stop, answers the database refuses, and kill -9 of worker processes around the warning and
// the budget step leaving exactly one of each. The event logs stay valid AG-UI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { createAgent, createTestDatabase, getEvents, getRun, getSteps, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { AgentConfigSchema, describeIssues } from "../../db/schemas.ts";
import { resumeRun } from "../../db/sql/resumeRun.ts";
import { runBudgetSpend } from "../../db/sql/runBudgetSpend.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

interface Interrupt {
  id: string;
  reason: string;
  message: string;
  responseSchema: Record<string, unknown>;
  metadata: { limits: Record<string, number>; spent: Record<string, number>; reached: string[] };
}

async function interruptsOf(runId: string): Promise<Interrupt[]> {
  const { rows } = await db.pool.query<{ interrupts: { interrupts: Interrupt[] } | null }>("select interrupts from everruns.runs where id = $1", [runId]);
  return rows[0]?.interrupts?.interrupts ?? [];
}

/** The CUSTOM everruns.budget events of a run's log, their values. */
async function budgetEvents(runId: string): Promise<Array<Record<string, unknown>>> {
  return (await getEvents(db.pool, runId))
    .filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.budget")
    .map((e) => e.event.value as Record<string, unknown>);
}

const echo = (n: number) => ({ tool_calls: [{ name: "echo", arguments: { n } }] });

/** A scripted agent that calls echo `calls` times, then answers "done". */
function echoAgent(budget: Record<string, unknown>, calls: number, extra: Record<string, unknown> = {}) {
  return createAgent(db.pool, {
    provider: "scripted",
    tools: ["echo"],
    script: [...Array.from({ length: calls }, (_, i) => echo(i + 1)), { text: "done" }],
    budget,
    ...extra,
  });
}

async function expectValidLog(runId: string) {
  await assertValidAgUiLog(await getEvents(db.pool, runId));
}

describe("config.budget validation", () => {
  const base = { provider: "scripted" };
  const problems = (budget: unknown) => {
    const parsed = AgentConfigSchema.safeParse({ ...base, budget });
    return parsed.success ? null : describeIssues(parsed.error);
  };

  it("takes positive limits and a warn_at between 0 and 1, 0.8 by default", () => {
    const parsed = AgentConfigSchema.parse({ ...base, budget: { max_cost_usd: 2.5, max_tokens: 1000, max_wall_seconds: 0.5, max_tool_calls: 3 } });
    expect(parsed.budget).toEqual({ max_cost_usd: 2.5, max_tokens: 1000, max_wall_seconds: 0.5, max_tool_calls: 3, warn_at: 0.8 });
    expect(AgentConfigSchema.parse({ ...base }).budget).toBeUndefined();
  });

  it("refuses what is not a limit, naming the field", () => {
    expect(problems({ max_cost_usd: 0 })).toContain("budget.max_cost_usd: must be a number of US dollars above 0");
    expect(problems({ max_tokens: -5 })).toContain("budget.max_tokens: must be a whole number from 1");
    expect(problems({ max_tool_calls: 1.5 })).toContain("budget.max_tool_calls: must be a whole number");
    expect(problems({ max_wall_seconds: "60" })).toContain("budget.max_wall_seconds: must be a number of seconds");
    expect(problems({ max_tokens: 10, warn_at: 1 })).toContain("budget.warn_at: must be a fraction between 0 and 1");
    expect(problems({ max_tokens: 10, warn_at: 0 })).toContain("budget.warn_at: must be a fraction between 0 and 1");
    expect(problems({ max_tokens: 10, max_dollars: 5 })).toContain("is not a budget setting");
    expect(problems({ warn_at: 0.5 })).toContain("budget: sets no limit");
    expect(problems({})).toContain("budget: sets no limit");
  });
});

describe("run budgets in one worker", () => {
  let worker: WorkerHandle;

  beforeAll(async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it("max_tool_calls: one warning at warn_at, then the run ends interrupted before the call over the limit", async () => {
    const agent = await echoAgent({ max_tool_calls: 5, warn_at: 0.5 }, 10);
    const runId = await startRun(db.pool, agent, "call echo");
    const run = await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("interrupted");

    const steps = await getSteps(db.pool, runId);
    expect(steps.filter((s) => s.kind === "tool")).toHaveLength(5);
    // 1 llm, 2 tool, ... 10 tool (the 5th call), 11 llm (asks for a 6th), 12: the budget step instead of it
    expect(steps.map((s) => `${s.kind} ${s.name}`).slice(-2)).toEqual(["llm scripted", "system budget"]);
    const [interrupt] = await interruptsOf(runId);
    expect(interrupt).toMatchObject({
      id: `budget-${runId}`,
      reason: "budget",
      metadata: { limits: { max_tool_calls: 5 }, reached: ["max_tool_calls"], spent: { max_tool_calls: 5 } },
    });
    expect(interrupt!.message).toContain("max_tool_calls 5 (spent 5 tool calls)");

    const events = await budgetEvents(runId);
    expect(events.filter((e) => e.level === "warning")).toEqual([{ level: "warning", limit: "max_tool_calls", spent: 3, max: 5 }]);
    expect(events.filter((e) => e.level === "limit")).toHaveLength(1);
    const all = await getEvents(db.pool, runId);
    const finished = all.at(-1)!.event;
    expect(finished).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "interrupt", interrupts: [{ id: `budget-${runId}`, reason: "budget" }] } });
    await expectValidLog(runId);
  });

  it("max_cost_usd (a priced model): a raise goes on where the run stopped, is carried along the continuations, and the work finishes", async () => {
    // $1 per token: the first call alone passes the first limit
    const agent = await echoAgent({ max_cost_usd: 0.5 }, 3, { prices: { input_per_million: 1_000_000, output_per_million: 1_000_000 } });
    const runId = await startRun(db.pool, agent, "call echo");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const steps = await getSteps(db.pool, runId);
    // the LLM call in flight finished; the tool call it asked for was held back
    expect(steps.map((s) => s.kind)).toEqual(["llm", "system"]);
    const [first] = await interruptsOf(runId);
    const cost = (await getRun(db.pool, runId)).usage.cost_usd;
    expect(first!.metadata.reached).toEqual(["max_cost_usd"]);
    expect(first!.metadata.spent.max_cost_usd).toBeCloseTo(Number(cost), 6);

    // raised a little: the continuation makes the held-back call, pays for one more LLM turn and stops again
    const firstRaise = Number(cost) + 1;
    const next = await resumeRun(db.pool, runId, [
      { interruptId: `budget-${runId}`, status: "resolved", payload: { action: "raise", budget: { max_cost_usd: firstRaise } } },
    ]);
    expect((await waitForStatus(db.pool, next, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const nextSteps = await getSteps(db.pool, next);
    expect(nextSteps.map((s) => s.kind)).toEqual(["tool", "llm", "system"]);
    const [second] = await interruptsOf(next);
    // the raised limit is the one in force, and the spend is the whole chain's
    expect(second!.metadata.limits.max_cost_usd).toBe(firstRaise);
    const chainCost = Number((await getRun(db.pool, runId)).usage.cost_usd) + Number((await getRun(db.pool, next)).usage.cost_usd);
    expect(second!.metadata.spent.max_cost_usd).toBeCloseTo(chainCost, 6);
    expect(second!.metadata.spent.max_tool_calls).toBe(1);

    const last = await resumeRun(db.pool, next, [
      { interruptId: `budget-${next}`, status: "resolved", payload: { action: "raise", budget: { max_cost_usd: 1_000_000 } } },
    ]);
    const done = await waitForStatus(db.pool, last, ["interrupted", "succeeded", "failed"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output?.text).toBe("done");
    for (const id of [runId, next, last]) await expectValidLog(id);
    // the first raise left the spend past 80% of it: one warning, as the continuation began, and none after
    const warnings = [...(await budgetEvents(runId)), ...(await budgetEvents(next)), ...(await budgetEvents(last))].filter((e) => e.level === "warning");
    expect(warnings).toEqual([{ level: "warning", limit: "max_cost_usd", spent: first!.metadata.spent.max_cost_usd, max: firstRaise }]);
    expect((await budgetEvents(next))[0]).toEqual(warnings[0]);
  });

  it("answers the database refuses: a raise not above the spend, one that leaves the limit reached, an unknown limit, a bad action", async () => {
    const agent = await echoAgent({ max_tokens: 1 }, 1);
    const runId = await startRun(db.pool, agent, "call echo");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const [interrupt] = await interruptsOf(runId);
    const spent = interrupt!.metadata.spent.max_tokens!;
    const answer = (payload: unknown, status = "resolved") => resumeRun(db.pool, runId, [{ interruptId: `budget-${runId}`, status, payload }]);

    await expect(answer({ action: "raise", budget: { max_tokens: spent } })).rejects.toThrow(
      `budget.max_tokens must be a number above the ${spent} already spent`,
    );
    await expect(answer({ action: "raise", budget: { max_cost_usd: 5 } })).rejects.toThrow("the raise leaves a limit reached where it is: max_tokens");
    await expect(answer({ action: "raise", budget: { max_tokens: spent + 100, max_dollars: 3 } })).rejects.toThrow('"max_dollars" is not a budget limit');
    await expect(answer({ action: "raise", budget: { max_tokens: "lots" } })).rejects.toThrow("budget.max_tokens must be a number above");
    await expect(answer({ action: "raise" })).rejects.toThrow('a raise needs "budget"');
    await expect(answer({ action: "more" })).rejects.toThrow('the payload must be {"action": "raise"');
    // the bounds config.budget has: no raise past them (an operator's answer lifting an admin's cap), counts whole
    // (as SQL sends it: a JSON number no double holds, which node-pg would read back as Infinity)
    await expect(
      db.pool.query("select everruns.resume_run($1, $2::jsonb)", [
        runId,
        `[{"interruptId": "budget-${runId}", "status": "resolved", "payload": {"action": "raise", "budget": {"max_tokens": 1e400}}}]`,
      ]),
    ).rejects.toThrow("budget.max_tokens must be a whole number at most 1000000000000");
    await expect(answer({ action: "raise", budget: { max_tokens: spent + 0.5 } })).rejects.toThrow("budget.max_tokens must be a whole number");
    await expect(answer({ action: "raise", budget: { max_tokens: spent + 100, max_cost_usd: 1e7 } })).rejects.toThrow(
      "budget.max_cost_usd must be a number at most 1000000",
    );
    // one answer per budget interrupt
    await expect(
      resumeRun(db.pool, runId, [
        { interruptId: `budget-${runId}`, status: "resolved", payload: { action: "raise", budget: { max_tokens: spent + 100 } } },
        { interruptId: `budget-${runId}`, status: "resolved", payload: { action: "stop" } },
      ]),
    ).rejects.toThrow(`budget-${runId} is answered more than once`);
    // nothing was started by the refused answers
    const { rows } = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = $1", [runId]);
    expect(rows[0]!.continued_by).toBeNull();
  });

  it("max_tokens and a stop answer: the continuation ends succeeded with the last text, calling nothing", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "partial findings", ...echo(1) }, { text: "never" }],
      budget: { max_tokens: 1 },
    });
    const runId = await startRun(db.pool, agent, "go");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const [interrupt] = await interruptsOf(runId);
    expect(interrupt!.metadata.reached).toEqual(["max_tokens"]);
    expect(interrupt!.message).toContain("max_tokens 1 (spent");

    const next = await resumeRun(db.pool, runId, [{ interruptId: `budget-${runId}`, status: "resolved", payload: { action: "stop" } }]);
    const done = await waitForStatus(db.pool, next, ["interrupted", "succeeded", "failed", "cancelled"]);
    expect(done.status).toBe("succeeded");
    expect(done.output?.text).toBe("partial findings");
    expect((await getSteps(db.pool, next)).map((s) => `${s.kind} ${s.name}`)).toEqual(["system budget"]);
    expect(Number(done.usage.input_tokens)).toBe(0);
    await expectValidLog(next);

    // a cancelled answer stops too
    const other = await startRun(db.pool, agent, "go again");
    expect((await waitForStatus(db.pool, other, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const stopped = await resumeRun(db.pool, other, [{ interruptId: `budget-${other}`, status: "cancelled" }]);
    expect((await waitForStatus(db.pool, stopped, ["interrupted", "succeeded", "failed", "cancelled"])).status).toBe("succeeded");
    expect((await getSteps(db.pool, stopped)).map((s) => s.name)).toEqual(["budget"]);
  });

  it("max_wall_seconds: a slow call finishes, the next step is held back; the time a person took to answer does not count", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ ...echo(1), delay_ms: 1500 }, { text: "done" }],
      budget: { max_wall_seconds: 1 },
    });
    const runId = await startRun(db.pool, agent, "go");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    expect((await getSteps(db.pool, runId)).map((s) => s.kind)).toEqual(["llm", "system"]);
    const [interrupt] = await interruptsOf(runId);
    expect(interrupt!.metadata.reached).toEqual(["max_wall_seconds"]);
    expect(interrupt!.metadata.spent.max_wall_seconds).toBeGreaterThanOrEqual(1.5);

    const ANSWER_DELAY_MS = 2500;
    await new Promise((resolve) => setTimeout(resolve, ANSWER_DELAY_MS));
    const next = await resumeRun(db.pool, runId, [
      { interruptId: `budget-${runId}`, status: "resolved", payload: { action: "raise", budget: { max_wall_seconds: 60 } } },
    ]);
    const done = await waitForStatus(db.pool, next, ["interrupted", "succeeded", "failed"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    const spend = await runBudgetSpend(db.pool, next);
    expect(spend.chain).toEqual([runId, next]);
    expect(spend.wall_seconds).toBeGreaterThanOrEqual(1.5);
    expect(spend.wall_seconds).toBeLessThan(1.5 + ANSWER_DELAY_MS / 1000);
    await expectValidLog(runId);
    await expectValidLog(next);
  });

  it("a structured agent (output_schema) told to stop ends failed, budget_stopped: it has no json to give", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "looking", ...echo(1) }, { json: { answer: 42 } }],
      output_schema: { type: "object", properties: { answer: { type: "number" } }, required: ["answer"] },
      budget: { max_tokens: 1 },
    });
    const runId = await startRun(db.pool, agent, "go");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const next = await resumeRun(db.pool, runId, [{ interruptId: `budget-${runId}`, status: "resolved", payload: { action: "stop" } }]);
    const done = await waitForStatus(db.pool, next, ["interrupted", "succeeded", "failed", "cancelled"]);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "budget_stopped" });
    await expectValidLog(next);
  });

  it("a wait woken after the limit was passed records its event first: the budget step comes after, nothing is lost", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 600 } }] }, { text: "got it" }],
      budget: { max_wall_seconds: 1 },
    });
    const runId = await startRun(db.pool, agent, "wait for go");
    await waitForStatus(db.pool, runId, ["waiting"]);
    // the waiting counts as running time: past the limit by the time the event comes
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await db.pool.query("select everruns.send_event($1, 'go', $2)", [runId, { ok: true }]);
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("interrupted");
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => `${s.kind} ${s.name}`)).toEqual(["llm scripted", "wait wait_for_event", "tool wait_for_event", "system budget"]);
    // the event as it came, not a timeout
    expect(JSON.stringify(steps[2]!.output)).toContain('\\"event\\":\\"go\\"');
    expect(JSON.stringify(steps[2]!.output)).not.toContain('timed_out\\":true');

    const next = await resumeRun(db.pool, runId, [
      { interruptId: `budget-${runId}`, status: "resolved", payload: { action: "raise", budget: { max_wall_seconds: 600 } } },
    ]);
    const done = await waitForStatus(db.pool, next, ["interrupted", "succeeded", "failed"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output?.text).toBe("got it");
  });

  it("an agent without a budget runs as before: no budget step, no budget event", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script: [echo(1), echo(2), { text: "done" }] });
    const runId = await startRun(db.pool, agent, "go");
    expect((await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"])).status).toBe("succeeded");
    expect((await getSteps(db.pool, runId)).some((s) => s.name === "budget")).toBe(false);
    expect(await budgetEvents(runId)).toEqual([]);
  });
});

describe("run budgets across kill -9 of worker processes", () => {
  it("killed after the warning was streamed, before the budget step's commit and after it: one warning, one budget step", async () => {
    // Steps: 1 llm, 2 tool (call 1), ... 6 tool (call 3), 7 llm: the warning (3 of 5 calls ≥ 0.5)
    // is streamed as it begins; its slow call gives the writer time to flush it before the kill.
    // 8 tool (4), 9 llm, 10 tool (5), 11 llm, 12: the budget step.
    const script = Array.from({ length: 8 }, (_, i) => (i === 3 ? { ...echo(i + 1), delay_ms: 600 } : echo(i + 1)));
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [...script, { text: "done" }],
      budget: { max_tool_calls: 5, warn_at: 0.5 },
    });
    const runId = await startRun(db.pool, agent, "call echo");
    const crashes = ["before_commit:7", "before_commit:12", "after_commit:12"];
    const workers: WorkerProcess[] = [];
    try {
      for (const at of crashes) {
        const w = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: at });
        workers.push(w);
        const { signal } = await w.exited;
        expect(signal, `the worker crashing at ${at}:\n${w.output().slice(-2000)}`).toBe("SIGKILL");
      }
      const run = await waitForStatus(db.pool, runId, ["interrupted", "succeeded", "failed"], 60_000);
      expect(run.status, JSON.stringify(run.error)).toBe("interrupted");
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
    }
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(steps.filter((s) => s.name === "budget")).toHaveLength(1);
    // the steps killed before their commits ran again
    expect(steps[6]!.attempt).toBeGreaterThanOrEqual(2);
    expect(steps[11]!.attempt).toBeGreaterThanOrEqual(2);
    const events = await budgetEvents(runId);
    expect(events.filter((e) => e.level === "warning")).toEqual([{ level: "warning", limit: "max_tool_calls", spent: 3, max: 5 }]);
    expect(events.filter((e) => e.level === "limit")).toHaveLength(1);
    expect(await interruptsOf(runId)).toHaveLength(1);
    await expectValidLog(runId);
  }, 120_000);
});
