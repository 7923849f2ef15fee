// Workflows (docs/workflows.md, 000034) against a real Postgres: a workflow is an agent of
// "kind": "workflow" running an Amazon States Language definition; each state transition is a
// committed step. Pass/Choice/Wait/Succeed/Fail, Task resources (agent, approval,
// wait_for_event with a correlation key, http), Retry/Catch, Parallel and Map as child runs,
// redrive, and the AG-UI log of every run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, getSteps, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { configWriteSchemaFor, describeIssues } from "../../db/schemas.ts";
import { startMcpTestServer } from "./fixtures/mcp-test-server.ts";

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

async function workflow(definition: Record<string, unknown>, extra: Record<string, unknown> = {}, name = uniqueName("wf")): Promise<string> {
  return createAgent(db.pool, { kind: "workflow", definition, ...extra }, name);
}

async function start(agentId: string, state: Record<string, unknown>): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
    agentId,
    JSON.stringify({ messages: [], state }),
  ]);
  return rows[0]!.id;
}

/** A run's row with the columns the shared helper leaves untyped (state, interrupts). */
async function runRow(
  runId: string,
): Promise<{ status: string; state: unknown; interrupts: { interrupts: Array<{ id: string; message: string; reason: string }> } | null }> {
  const { rows } = await db.pool.query("select status, state, interrupts from everruns.runs where id = $1", [runId]);
  return rows[0] as { status: string; state: unknown; interrupts: { interrupts: Array<{ id: string; message: string; reason: string }> } | null };
}

/** A run's steps, kind as stored (`state` included). */
async function stepsOf(runId: string): Promise<Array<{ kind: string; name: string; output: Record<string, unknown> }>> {
  return (await getSteps(db.pool, runId)) as unknown as Array<{ kind: string; name: string; output: Record<string, unknown> }>;
}

async function transitions(runId: string): Promise<Array<{ kind: string; name: string; next?: string | null }>> {
  return (await stepsOf(runId)).map((s) => ({
    kind: s.kind,
    name: s.name,
    ...(s.kind === "state" && { next: (s.output as { next: string | null }).next }),
  }));
}

/** Runs a waiting run's pending job now: time injected (its timer fires early). */
async function fireTimer(runId: string): Promise<void> {
  await db.pool.query("select graphile_worker.reschedule_jobs(array_agg(j.id), run_at := now()) from graphile_worker.jobs j where j.key = $1", [
    `run:${runId}`,
  ]);
}

describe("a workflow", () => {
  it("runs Pass, Choice and Succeed as committed transitions with STEP and STATE events", async () => {
    const agent = await workflow({
      StartAt: "Prepare",
      States: {
        Prepare: {
          Type: "Pass",
          Parameters: { "amount.$": "$.amount", "doubled.$": "States.MathAdd($.amount, $.amount)" },
          ResultPath: "$.calc",
          Next: "Route",
        },
        Route: {
          Type: "Choice",
          Choices: [{ Variable: "$.calc.amount", NumericGreaterThan: 10000, Next: "Big" }],
          Default: "Small",
        },
        Big: { Type: "Pass", Result: "big", ResultPath: "$.size", End: true },
        Small: { Type: "Succeed" },
      },
    });
    const run = await start(agent, { amount: 12000 });
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 20_000);
    expect(done.error).toBeNull();
    expect(done.status).toBe("succeeded");
    expect((done.output as { json: unknown }).json).toEqual({ amount: 12000, calc: { amount: 12000, doubled: 24000 }, size: "big" });
    expect(await transitions(run)).toEqual([
      { kind: "state", name: "Prepare", next: "Route" },
      { kind: "state", name: "Route", next: "Big" },
      { kind: "state", name: "Big", next: null },
    ]);
    const events = await getEvents(db.pool, run);
    await assertValidAgUiLog(events);
    expect(events.filter((e) => e.type === "STEP_STARTED").map((e) => (e.event as { stepName: string }).stepName)).toEqual(["Prepare", "Route", "Big"]);
    expect(events.some((e) => e.type === "STATE_DELTA")).toBe(true);
    expect((await runRow(run)).state).toEqual({ current: null, data: done.output && (done.output as { json: unknown }).json });
  });

  it("waits in a Wait state with no job held until its timer fires", async () => {
    const agent = await workflow({ StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 3600, Next: "Done" }, Done: { Type: "Succeed" } } });
    const run = await start(agent, { x: 1 });
    await waitFor("the run to wait", async () => (await getRun(db.pool, run)).status === "waiting");
    expect((await runRow(run)).state).toEqual({ current: "Hold", data: { x: 1 } });
    await fireTimer(run);
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("succeeded");
    expect(await transitions(run)).toEqual([
      { kind: "wait", name: "Hold" },
      { kind: "state", name: "Hold", next: "Done" },
      { kind: "state", name: "Done", next: null },
    ]);
  });
});

async function answer(runId: string, payload: unknown): Promise<string> {
  const interrupt = (await runRow(runId)).interrupts!.interrupts[0]!;
  const { rows } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [
    runId,
    JSON.stringify([{ interruptId: interrupt.id, status: "resolved", payload }]),
  ]);
  return rows[0]!.id;
}

describe("Task resources", () => {
  it("an approval interrupts the run; the answer is the state's result in the continuation, and a bad answer is asked again", async () => {
    const agent = await workflow({
      StartAt: "Approve",
      States: {
        Approve: {
          Type: "Task",
          Resource: "everruns:approval",
          Parameters: { "message.$": "States.Format('Approve {} USD?', $.amount)" },
          ResultPath: "$.approval",
          Next: "Decide",
        },
        Decide: { Type: "Choice", Choices: [{ Variable: "$.approval.approved", BooleanEquals: true, Next: "Yes" }], Default: "No" },
        Yes: { Type: "Succeed" },
        No: { Type: "Fail", Error: "Rejected", Cause: "the approver said no" },
      },
    });
    const run = await start(agent, { amount: 500 });
    const asked = await waitForStatus(db.pool, run, ["interrupted", "failed"], 20_000);
    expect(asked.status).toBe("interrupted");
    const interrupt = (await runRow(run)).interrupts!.interrupts[0]!;
    expect(interrupt).toMatchObject({ reason: "workflow_approval", message: "Approve 500 USD?" });
    // an answer that does not match the form is asked again
    const bad = await answer(run, { approved: "yes" });
    const again = await waitForStatus(db.pool, bad, ["interrupted", "failed"], 20_000);
    expect(again.status).toBe("interrupted");
    expect((await runRow(bad)).interrupts!.interrupts[0]!.message).toMatch(/did not match/);
    const good = await answer(bad, { approved: true, comment: "fine" });
    const done = await waitForStatus(db.pool, good, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("succeeded");
    expect((done.output as { json: unknown }).json).toEqual({ amount: 500, approval: { approved: true, comment: "fine" } });
    const approve = (await stepsOf(good)).find((s) => s.kind === "state" && s.name === "Approve")!;
    expect((approve.output as { answered_by: string }).answered_by).toMatch(/^db:/);
    for (const id of [run, bad, good]) await assertValidAgUiLog(await getEvents(db.pool, id));

    const rejected = await start(agent, { amount: 9 });
    await waitForStatus(db.pool, rejected, ["interrupted"], 20_000);
    const no = await answer(rejected, { approved: false });
    const failed = await waitForStatus(db.pool, no, ["succeeded", "failed"], 20_000);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatchObject({ code: "Rejected", message: "the approver said no" });
  });

  it("wait_for_event with a correlation key: an event sent before the wait is kept, one sent after wakes the right run", async () => {
    const agent = await workflow({
      StartAt: "Signed",
      States: {
        Signed: {
          Type: "Task",
          Resource: "everruns:wait_for_event",
          Parameters: { name: "po_signed", "correlation_key.$": "$.po" },
          TimeoutSeconds: 259200,
          ResultPath: "$.signature",
          Catch: [{ ErrorEquals: ["States.Timeout"], ResultPath: "$.error", Next: "Expired" }],
          End: true,
        },
        Expired: { Type: "Pass", Result: "expired", ResultPath: "$.outcome", End: true },
      },
    });
    const a = await start(agent, { po: "PO-1" });
    const b = await start(agent, { po: "PO-2" });
    for (const id of [a, b]) await waitFor("the run to wait", async () => (await getRun(db.pool, id)).status === "waiting");
    // sent twice at once (a sender's retry): the second counts as delivered to the run holding the first, and is not kept
    const { rows } = await db.pool.query<{ n: number; again: number }>(
      "select everruns.send_event_by_key('po_signed', 'PO-2', $1) as n, everruns.send_event_by_key('po_signed', 'PO-2', $1) as again",
      [JSON.stringify({ by: "vendor" })],
    );
    expect(rows[0]).toEqual({ n: 1, again: 1 });
    const held = await db.pool.query<{ signals: number; kept: number }>(
      `select (select count(*)::int from everruns.run_signals where run_id = $1) as signals,
              (select count(*)::int from everruns.pending_events where correlation_key = 'PO-2') as kept`,
      [b],
    );
    expect(held.rows[0]).toEqual({ signals: 1, kept: 0 });
    const doneB = await waitForStatus(db.pool, b, ["succeeded", "failed"], 20_000);
    expect((doneB.output as { json: unknown }).json).toEqual({ po: "PO-2", signature: { by: "vendor" } });
    expect((await getRun(db.pool, a)).status).toBe("waiting");
    // sent before any run waits for it: kept, and taken by the run that parks for it
    await db.pool.query("select everruns.send_event_by_key('po_signed', 'PO-3', '{\"early\": true}')");
    const c = await start(agent, { po: "PO-3" });
    const doneC = await waitForStatus(db.pool, c, ["succeeded", "failed"], 20_000);
    expect((doneC.output as { json: unknown }).json).toEqual({ po: "PO-3", signature: { early: true } });
    // the 3-day timeout, time injected: the timer fires, States.Timeout is caught
    await fireTimer(a);
    const doneA = await waitForStatus(db.pool, a, ["succeeded", "failed"], 20_000);
    expect(doneA.status).toBe("succeeded");
    expect((doneA.output as { json: { outcome: string; error: { Error: string } } }).json).toMatchObject({
      outcome: "expired",
      error: { Error: "States.Timeout" },
    });
  });

  it("an agent Task runs a child run and takes its output; a failing child is retried, then caught", async () => {
    const drafter = uniqueName("drafter");
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "PO draft #1" }] }, drafter);
    const broken = uniqueName("broken");
    await createAgent(db.pool, { provider: "scripted", max_steps: 1, script: [{ tool_calls: [{ name: "echo", arguments: {} }] }], tools: ["echo"] }, broken);
    const agent = await workflow({
      StartAt: "Draft",
      States: {
        Draft: { Type: "Task", Resource: `everruns:agent:${drafter}`, ResultPath: "$.draft", Next: "Flaky" },
        Flaky: {
          Type: "Task",
          Resource: `everruns:agent:${broken}`,
          ResultPath: "$.never",
          Retry: [{ ErrorEquals: ["States.ALL"], IntervalSeconds: 1, MaxAttempts: 1, BackoffRate: 1 }],
          Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.failure", Next: "Done" }],
          Next: "Done",
        },
        Done: { Type: "Succeed" },
      },
    });
    const run = await start(agent, { item: "laptops" });
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 30_000);
    expect(done.status).toBe("succeeded");
    const out = (done.output as { json: { draft: string; failure: { Error: string } } }).json;
    expect(out.draft).toBe("PO draft #1");
    expect(out.failure.Error).toBe("max_steps");
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where caller_run_id = $1", [run]);
    expect(rows[0]!.n).toBe(3); // the draft, and the flaky agent twice (one retry)
    await assertValidAgUiLog(await getEvents(db.pool, run));
  });

  it("Parallel branches and a Map's items run as child runs; results in order, MaxConcurrency respected", async () => {
    const agent = await workflow({
      StartAt: "Both",
      States: {
        Both: {
          Type: "Parallel",
          Branches: [
            { StartAt: "Left", States: { Left: { Type: "Pass", Result: "L", End: true } } },
            { StartAt: "Right", States: { Right: { Type: "Pass", Parameters: { "n.$": "$.n" }, End: true } } },
          ],
          ResultPath: "$.both",
          Next: "Each",
        },
        Each: {
          Type: "Map",
          ItemsPath: "$.items",
          MaxConcurrency: 2,
          ItemSelector: { "value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index" },
          ItemProcessor: { StartAt: "Square", States: { Square: { Type: "Pass", Parameters: { "i.$": "$.index", "v.$": "$.value" }, End: true } } },
          ResultPath: "$.mapped",
          End: true,
        },
      },
    });
    const run = await start(agent, { n: 7, items: [10, 20, 30, 40, 50] });
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 30_000);
    expect(done.error).toBeNull();
    expect((done.output as { json: unknown }).json).toEqual({
      n: 7,
      items: [10, 20, 30, 40, 50],
      both: ["L", { n: 7 }],
      mapped: [10, 20, 30, 40, 50].map((v, i) => ({ i, v })),
    });
    const { rows } = await db.pool.query<{ started_at: string; finished_at: string }>(
      "select started_at, finished_at from everruns.runs where caller_run_id = $1 and caller_tool_call_id like 'wf:Each:%'",
      [run],
    );
    expect(rows).toHaveLength(5);
    const instants = rows.flatMap((r) => [Date.parse(r.started_at), Date.parse(r.finished_at)]);
    for (const t of instants) expect(rows.filter((r) => Date.parse(r.started_at) <= t && t < Date.parse(r.finished_at)).length).toBeLessThanOrEqual(2);
  });
});

describe("an MCP Task", () => {
  it("calls the tool of the workflow's MCP server with the state's input; an error result is States.TaskFailed, caught", async () => {
    const server = await startMcpTestServer();
    try {
      const agent = await workflow(
        {
          StartAt: "Echo",
          States: {
            Echo: { Type: "Task", Resource: "everruns:mcp:fx/echo", Parameters: { "text.$": "$.greeting" }, ResultPath: "$.echoed", Next: "Fail" },
            Fail: {
              Type: "Task",
              Resource: "everruns:mcp:fx/fail",
              Parameters: { message: "nope" },
              Catch: [{ ErrorEquals: ["States.TaskFailed"], ResultPath: "$.failure", Next: "Done" }],
              End: true,
            },
            Done: { Type: "Succeed" },
          },
        },
        { tools: [{ type: "mcp", name: "fx", url: server.url }] },
      );
      const run = await start(agent, { greeting: "hello" });
      const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 30_000);
      expect(done.error).toBeNull();
      const out = (done.output as { json: { echoed: unknown; failure: { Error: string; Cause: string } } }).json;
      expect(JSON.stringify(out.echoed)).toContain("hello");
      expect(out.failure.Error).toBe("States.TaskFailed");
      expect(out.failure.Cause).toContain("nope");
    } finally {
      await server.close();
    }
  });

  it("is refused at creation when its server is not among the workflow's tools", () => {
    const config = { kind: "workflow", definition: { StartAt: "Echo", States: { Echo: { Type: "Task", Resource: "everruns:mcp:fx/echo", End: true } } } };
    const parsed = configWriteSchemaFor(config).safeParse(config);
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!)).toMatch(
      /definition\.States\.Echo\.Resource: state "Echo": everruns:mcp:fx\/echo names no MCP server of config\.tools/,
    );
  });
});

describe("limits and guards", () => {
  it("a run a user starts with input.workflow (where to start, with what) is refused: only the engine and a redrive write it", async () => {
    const agent = await workflow({
      StartAt: "Approve",
      States: { Approve: { Type: "Task", Resource: "everruns:approval", Next: "PlaceOrder" }, PlaceOrder: { Type: "Succeed" } },
    });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      agent,
      JSON.stringify({ messages: [], workflow: { start_at: "PlaceOrder", input: { amount: 1e6 } } }),
    ]);
    const done = await waitForStatus(db.pool, rows[0]!.id, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "invalid_run_input" });
    expect((await transitions(rows[0]!.id)).filter((t) => t.kind === "state")).toEqual([]);
  });

  it("a Wait longer than one park (30 days) parks again when its timer fires before the deadline", async () => {
    const agent = await workflow({ StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 40 * 86_400, Next: "Done" }, Done: { Type: "Succeed" } } });
    const run = await start(agent, { x: 1 });
    await waitFor("the run to wait", async () => (await runRow(run)).status === "waiting");
    await fireTimer(run);
    await waitFor("the second park", async () => (await stepsOf(run)).length === 2 && (await runRow(run)).status === "waiting");
    const [first, second] = await stepsOf(run);
    expect(first!.output).toMatchObject({ reason: "timer", partial: true });
    expect(second!.output).toMatchObject({ reason: "timer", partial: true, until: first!.output.until });
  });

  it("the definition's TimeoutSeconds ends the execution with States.Timeout, cutting short the park it was in", async () => {
    const agent = await workflow({ TimeoutSeconds: 1, StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 3600, End: true } } });
    const run = await start(agent, {});
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 20_000);
    expect(done.status).toBe("failed");
    expect(done.error).toMatchObject({ code: "States.Timeout" });
  });

  it("a Choice applies its InputPath once", async () => {
    const agent = await workflow({
      StartAt: "Route",
      States: {
        Route: { Type: "Choice", InputPath: "$.order", Choices: [{ Variable: "$.amount", NumericGreaterThan: 10000, Next: "Big" }], Default: "Small" },
        Big: { Type: "Pass", Result: "big", End: true },
        Small: { Type: "Pass", Result: "small", End: true },
      },
    });
    const run = await start(agent, { order: { amount: 12000 } });
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"], 20_000);
    expect(done.error).toBeNull();
    expect((done.output as { json: unknown }).json).toBe("big");
  });
});

describe("cancel", () => {
  it("cancelling a workflow run cancels its Map items and their own children; nothing more starts", async () => {
    const mapped = await workflow({
      StartAt: "Each",
      States: {
        Each: {
          Type: "Map",
          ItemsPath: "$.items",
          MaxConcurrency: 3,
          ItemProcessor: { StartAt: "Hold", States: { Hold: { Type: "Wait", Seconds: 3600, End: true } } },
          End: true,
        },
      },
    });
    const parent = await start(mapped, { items: [1, 2, 3, 4, 5, 6] });
    const children = async () =>
      (await db.pool.query<{ status: string }>("select status from everruns.runs where caller_run_id = $1 order by created_at", [parent])).rows.map(
        (r) => r.status,
      );
    await waitFor("three items waiting", async () => {
      const s = await children();
      return s.length === 3 && s.every((x) => x === "waiting");
    });
    await db.pool.query("select everruns.cancel_run($1)", [parent]);
    expect((await runRow(parent)).status).toBe("cancelled");
    expect(await children()).toEqual(["cancelled", "cancelled", "cancelled"]);
    await new Promise((r) => setTimeout(r, 500));
    expect(await children()).toHaveLength(3);
  });
});

describe("started like any run", () => {
  it("by an event (everruns.trigger: the payload is the input) and by a schedule (its input's state)", async () => {
    const name = uniqueName("triggered");
    const agent = await workflow({ StartAt: "Stamp", States: { Stamp: { Type: "Pass", Result: "seen", ResultPath: "$.stamp", End: true } } }, {}, name);
    const { rows } = await db.pool.query<{ id: string }>("select everruns.trigger($1, $2) as id", [name, JSON.stringify({ po: "T-1", amount: 5 })]);
    const byEvent = await waitForStatus(db.pool, rows[0]!.id, ["succeeded", "failed"], 20_000);
    expect((byEvent.output as { json: unknown }).json).toEqual({ po: "T-1", amount: 5, stamp: "seen" });

    const schedule = await db.pool.query<{ id: string }>(
      "insert into everruns.schedules (name, agent_id, interval_seconds, input) values ($1, $2, 1, $3) returning id",
      [uniqueName("every-second"), agent, JSON.stringify({ messages: [], state: { from: "schedule" } })],
    );
    const fired = await waitFor(
      "a scheduled run to finish",
      async () =>
        (
          await db.pool.query<{ output: { json: unknown } }>(
            "select r.output from everruns.runs r where r.schedule_id = $1 and r.status = 'succeeded' limit 1",
            [schedule.rows[0]!.id],
          )
        ).rows[0],
      30_000,
    );
    expect(fired.output.json).toEqual({ from: "schedule", stamp: "seen" });
    await db.pool.query("delete from everruns.schedules where id = $1", [schedule.rows[0]!.id]);
  });
});

describe("validation at creation", () => {
  it("refuses a TimeoutSeconds on an approval (it would be ignored), naming the state and field", () => {
    const config = {
      kind: "workflow",
      definition: { StartAt: "Ask", States: { Ask: { Type: "Task", Resource: "everruns:approval", TimeoutSeconds: 60, End: true } } },
    };
    const parsed = configWriteSchemaFor(config).safeParse(config);
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!)).toMatch(
      /definition\.States\.Ask\.TimeoutSeconds: state "Ask": an everruns:approval waits for a person's answer and has no timeout/,
    );
  });
});
