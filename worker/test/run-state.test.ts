// A run's live state and progress (update_state, report_progress; migration 000030): the state is
// committed with the tool step that changed it and streamed as STATE_SNAPSHOT / STATE_DELTA in
// the same commit; a bad patch, a state that does not match the agent's state_schema or is too
// large is a tool error and changes nothing; a run starts from its input's state or the state of
// the run it continues on its thread; and across kill -9 of worker processes, during and between
// update_state steps, every change is committed and streamed exactly once.
import jsonPatch from "fast-json-patch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { consoleLogger } from "../../lib/logger.ts";
import {
  createAgent,
  createTestDatabase,
  getEvents,
  getSteps,
  toolOutput,
  waitFor,
  waitForStatus,
  type EventRow,
  type TestDatabase,
} from "../../db/test/helpers.ts";
import { AgentConfigSchema } from "../../db/schemas.ts";
import { rerunRun } from "../../db/sql/rerunRun.ts";
import { chatMessages, STATE_NOTE_MAX_CHARS } from "../conversation.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { agentTools } from "../tool-step.ts";
import { MAX_STATE_BYTES } from "../tools/update-state.ts";
import { spawnWorker, type WorkerProcess } from "./worker-process.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

type State = Record<string, unknown> | null;

interface RunStateRow {
  state: State;
  progress: Record<string, unknown> | null;
  status: string;
  step_cursor: number;
}

async function runState(runId: string): Promise<RunStateRow> {
  const { rows } = await db.pool.query<RunStateRow>("select state, progress, status, step_cursor from everruns.runs where id = $1", [runId]);
  return rows[0]!;
}

/** Inserts a run as the API does, with `extra` (state, thread) beside its messages. */
async function insertRun(agentId: string, content: string, extra: { state?: Record<string, unknown>; threadId?: string } = {}): Promise<string> {
  const input = { messages: [{ role: "user", content }], ...(extra.state !== undefined && { state: extra.state }) };
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, $3) returning id", [
    agentId,
    extra.threadId ?? null,
    JSON.stringify(input),
  ]);
  return rows[0]!.id;
}

/** The state an AG-UI client ends with, replaying the run's log from `from` ({} for a fresh HttpAgent). */
function replayState(events: EventRow[], from: Record<string, unknown> = {}): unknown {
  let state: unknown = from;
  for (const { event } of events) {
    if (event.type === "STATE_SNAPSHOT") state = event.snapshot;
    if (event.type === "STATE_DELTA") state = jsonPatch.applyPatch(state, event.delta as jsonPatch.Operation[], true, false).newDocument;
  }
  return state;
}

/** The state the run started from (resolved as its first attempt began). */
async function initialState(runId: string): Promise<State> {
  const { rows } = await db.pool.query<{ initial_state: State }>("select initial_state from everruns.runs where id = $1", [runId]);
  return rows[0]!.initial_state;
}

/** An array nested `levels` deep. */
function deep(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

const update = (args: Record<string, unknown>) => ({ name: "update_state", arguments: args });
const add = (path: string, value: unknown) => ({ op: "add", path, value });

describe("update_state and report_progress in one worker", () => {
  let worker: WorkerHandle;

  beforeAll(async () => {
    worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  });

  afterAll(async () => {
    await worker?.stop();
  });

  it("snapshots and patches are committed with their steps: the state column after each one, the events in the same commits", async () => {
    // each update is followed by a durable wait, so the state can be read between the steps
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state", "wait_for_event"],
      script: [
        { tool_calls: [update({ state: { title: "Review", findings: [] } }), { name: "wait_for_event", arguments: { name: "go" } }] },
        { tool_calls: [update({ patch: [add("/findings/-", { n: 1 })] }), { name: "wait_for_event", arguments: { name: "go" } }] },
        {
          tool_calls: [
            update({
              patch: [{ op: "test", path: "/title", value: "Review" }, add("/findings/-", { n: 2 }), { op: "replace", path: "/title", value: "Review (2)" }],
            }),
          ],
        },
        { text: "done" },
      ],
    });
    const runId = await insertRun(agent, "review");
    const expected: State[] = [
      { title: "Review", findings: [] },
      { title: "Review", findings: [{ n: 1 }] },
    ];
    let cursor = 0;
    for (const state of expected) {
      // parked at a wait later than the last one
      const parked = await waitFor("the run to wait", async () => {
        const row = await runState(runId);
        return row.status === "waiting" && row.step_cursor > cursor && row;
      });
      cursor = parked.step_cursor;
      expect(parked.state).toEqual(state);
      await db.pool.query("select everruns.send_event($1, 'go', 'null')", [runId]);
    }
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const final = { title: "Review (2)", findings: [{ n: 1 }, { n: 2 }] };
    expect((await runState(runId)).state).toEqual(final);

    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    // no state to start from: no snapshot at the start; the first update (a whole state) is one
    const stateEvents = events.filter((e) => e.type.startsWith("STATE_")).map((e) => e.event);
    expect(stateEvents).toEqual([
      expect.objectContaining({ type: "STATE_SNAPSHOT", snapshot: { title: "Review", findings: [] } }),
      expect.objectContaining({ type: "STATE_DELTA", delta: [add("/findings/-", { n: 1 })] }),
      expect.objectContaining({
        type: "STATE_DELTA",
        delta: [{ op: "test", path: "/title", value: "Review" }, add("/findings/-", { n: 2 }), { op: "replace", path: "/title", value: "Review (2)" }],
      }),
    ]);
    expect(replayState(events)).toEqual(final);
    // each state event was committed by its update_state step: it comes right before that step's result
    const steps = await getSteps(db.pool, runId);
    const updates = steps.filter((s) => s.name === "update_state");
    // each result tells the model the state's top-level shape
    expect(updates.map((s) => toolOutput(s).content)).toEqual([
      'state updated; it now has keys "title", "findings" (array of 0)',
      'state updated; it now has keys "title", "findings" (array of 1)',
      'state updated; it now has keys "title", "findings" (array of 2)',
    ]);
    // each update_state step keeps the state it committed (reruns from a step start from it)
    const { rows: kept } = await db.pool.query<{ state: State }>(
      "select state from everruns.run_steps where run_id = $1 and name = 'update_state' order by seq",
      [runId],
    );
    expect(kept.map((r) => r.state)).toEqual([...expected, final]);
    for (const s of updates) {
      const at = events.findIndex((e) => e.type === "TOOL_CALL_RESULT" && e.event.toolCallId === toolOutput(s).tool_call_id);
      expect(events[at - 1]!.type).toMatch(/^STATE_/);
    }
  });

  it("a patch that does not apply, a state off the state_schema or too large: a tool error the model sees, nothing committed, the run goes on", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      state_schema: {
        type: "object",
        properties: {
          findings: { type: "array", maxItems: 2, items: { type: "object", required: ["title"] } },
          notes: { type: "array", items: { type: "string" } },
        },
        additionalProperties: false,
      },
      script: [
        { tool_calls: [update({ patch: [add("/findings/-", { title: "a" })] })] }, // no /findings yet
        { tool_calls: [update({ state: { findings: [{ title: "a" }] } })] },
        { tool_calls: [update({ patch: [{ op: "test", path: "/findings/0/title", value: "b" }, add("/findings/-", { title: "c" })] })] },
        { tool_calls: [update({ patch: [add("/bogus", 1)] })] },
        { tool_calls: [update({ patch: [add("/findings/-", { title: "b" }), add("/findings/-", { title: "c" })] })] },
        // over MAX_STATE_BYTES once applied (an agent config is at most 256 KiB: the copies make it large)
        {
          tool_calls: [
            update({
              patch: [add("/notes", ["x".repeat(70_000)]), ...Array.from({ length: 4 }, () => ({ op: "copy", from: "/notes/0", path: "/notes/-" }))],
            }),
          ],
        },
        { tool_calls: [update({ state: { findings: [] }, patch: [] })] },
        { tool_calls: [update({ patch: [{ op: "replace", path: "", value: [1] }] })] },
        { tool_calls: [update({ patch: [{ op: "remove", path: "/findings/7" }] })] },
        { tool_calls: [update({ patch: [add("/__proto__/polluted", true)] })] },
        { tool_calls: [update({ patch: [add("/notes", deep(70))] })] },
        { tool_calls: [update({ state: { findings: [], notes: deep(70) } })] },
        { tool_calls: [update({ patch: [add("/findings/-", { title: "b" })] })] },
        { text: "done" },
      ],
    });
    // the model is told the schema with the tool
    const { rows: configs } = await db.pool.query<{ config: Record<string, unknown> }>("select config from everruns.agents where id = $1", [agent]);
    const config = AgentConfigSchema.parse(configs[0]!.config);
    const parameters = agentTools(config).get("update_state")!.definition.parameters as { properties: { state: { type: string; description: string } } };
    expect(parameters.properties.state).toEqual({
      type: "object",
      description: expect.stringContaining(`must match this JSON Schema: ${JSON.stringify(config.state_schema)}`) as unknown,
    });
    const runId = await insertRun(agent, "collect");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const results = (await getSteps(db.pool, runId)).filter((s) => s.name === "update_state").map((s) => toolOutput(s));
    const errors = results.map((r) => [r.is_error, r.content]);
    expect(errors[0]).toEqual([true, expect.stringMatching(/operation 0 .*its path's parent does not exist in the state\. The state is unchanged\./)]);
    expect(errors[1]).toEqual([false, 'state updated; it now has keys "findings" (array of 1)']);
    expect(errors[2]).toEqual([true, expect.stringMatching(/operation 0 .*its test failed/)]);
    expect(errors[3]).toEqual([true, expect.stringMatching(/does not match the agent's state_schema: .*"bogus"/)]);
    expect(errors[4]).toEqual([true, expect.stringMatching(/does not match the agent's state_schema: \/findings must NOT have more than 2 items/)]);
    expect(errors[5]).toEqual([true, expect.stringContaining(`bytes of JSON; a run's state may be at most ${MAX_STATE_BYTES} (256 KiB)`)]);
    expect(errors[6]).toEqual([true, expect.stringContaining('exactly one of "state"')]);
    expect(errors[7]).toEqual([true, expect.stringContaining("something other than a JSON object")]);
    expect(errors[8]).toEqual([true, expect.stringMatching(/^Error: the patch was not applied: operation 0 .*The state is unchanged\.$/)]);
    expect(errors[9]).toEqual([
      true,
      'Error: the patch was not applied: its path names "__proto__" or "constructor/prototype", which a state may not use. The state is unchanged.',
    ]);
    expect(errors[10]).toEqual([true, expect.stringContaining("operation 0's value nests deeper than a state may (64 levels). The state is unchanged.")]);
    expect(errors[11]).toEqual([true, expect.stringContaining("the new state nests deeper than 64 levels")]);
    expect(errors[12]).toEqual([false, 'state updated; it now has keys "findings" (array of 2)']);
    // only the two good updates reached the state and the log
    expect((await runState(runId)).state).toEqual({ findings: [{ title: "a" }, { title: "b" }] });
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    expect(events.filter((e) => e.type.startsWith("STATE_")).map((e) => e.type)).toEqual(["STATE_SNAPSHOT", "STATE_DELTA"]);
    expect(replayState(events)).toEqual({ findings: [{ title: "a" }, { title: "b" }] });
  });

  it("a run starts from its input's state, else the state of the run it continues on its thread, streamed as a snapshot first", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      script: [{ tool_calls: [update({ patch: [add("/runs/-", "one more")] })] }, { text: "noted" }],
    });
    const first = await insertRun(agent, "first", { state: { runs: [] } });
    await waitForStatus(db.pool, first, ["succeeded"]);
    expect(await initialState(first)).toEqual({ runs: [] });
    expect((await runState(first)).state).toEqual({ runs: ["one more"] });
    const { rows } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [first]);
    const threadId = rows[0]!.thread_id;

    // the next run on the thread, with an empty state (as a fresh HttpAgent sends): carries it on
    const second = await insertRun(agent, "second", { state: {}, threadId });
    await waitForStatus(db.pool, second, ["succeeded"]);
    expect(await initialState(second)).toEqual({ runs: ["one more"] });
    expect((await runState(second)).state).toEqual({ runs: ["one more", "one more"] });
    const events = await getEvents(db.pool, second);
    await assertValidAgUiLog(events);
    expect(events.slice(0, 2).map((e) => e.event)).toEqual([
      expect.objectContaining({ type: "RUN_STARTED" }),
      expect.objectContaining({ type: "STATE_SNAPSHOT", snapshot: { runs: ["one more"] } }),
    ]);
    expect(replayState(events)).toEqual({ runs: ["one more", "one more"] });

    // a run given a state starts from it, whatever the thread had
    const third = await insertRun(agent, "third", { state: { runs: ["client's"] }, threadId });
    await waitForStatus(db.pool, third, ["succeeded"]);
    expect((await runState(third)).state).toEqual({ runs: ["client's", "one more"] });

    // a continuation answering an interrupt carries on the state of the run it answers
    const asking = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state", { name: "echo", requires_approval: true }],
      script: [{ tool_calls: [update({ state: { asked: true } }), { name: "echo", arguments: { x: 1 } }] }, { text: "approved" }],
    });
    const interrupted = await insertRun(asking, "ask");
    await waitForStatus(db.pool, interrupted, ["interrupted"]);
    const { rows: asked } = await db.pool.query<{ interrupts: { interrupts: Array<{ id: string }> } }>("select interrupts from everruns.runs where id = $1", [
      interrupted,
    ]);
    const { interrupts } = asked[0]!;
    const answers = [{ interruptId: interrupts.interrupts[0]!.id, status: "resolved", payload: { approved: true } }];
    const { rows: resumed } = await db.pool.query<{ id: string }>("select everruns.resume_run($1, $2) as id", [interrupted, JSON.stringify(answers)]);
    const continuation = resumed[0]!.id;
    await waitForStatus(db.pool, continuation, ["succeeded"]);
    expect(await initialState(continuation)).toEqual({ asked: true });
    const continued = await getEvents(db.pool, continuation);
    await assertValidAgUiLog(continued);
    expect(continued[1]!.event).toMatchObject({ type: "STATE_SNAPSHOT", snapshot: { asked: true } });

    // state and progress are the engine's to write: an insert that sets them is overridden
    const forged = await db.pool.query<{ state: State; progress: unknown }>(
      "insert into everruns.runs (agent_id, input, state, progress, initial_state) values ($1, $2, $3, $4, $3) returning state, progress, initial_state",
      [agent, JSON.stringify({ messages: [{ role: "user", content: "x" }] }), JSON.stringify({ forged: true }), JSON.stringify({ message: "forged" })],
    );
    expect(forged.rows[0]).toEqual({ state: null, progress: null, initial_state: null });
  });

  it("an input state over MAX_STATE_BYTES is refused at the insert (EV003); one off the state_schema fails the run at its first step", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      state_schema: { type: "object", properties: { n: { type: "number" } }, additionalProperties: false },
      script: [{ text: "never" }],
    });
    const big = { notes: "x".repeat(MAX_STATE_BYTES) };
    const refused = await insertRun(agent, "big", { state: big }).then(
      () => null,
      (error: unknown) => error as { code?: string; message?: string },
    );
    expect(refused?.code).toBe("EV003");
    expect(refused?.message).toContain(`a run's state may be at most ${MAX_STATE_BYTES}`);
    // the limit is the worker's too
    const { rows } = await db.pool.query<{ max: number }>("select everruns_private.max_state_bytes() as max");
    expect(rows[0]!.max).toBe(MAX_STATE_BYTES);

    const off = await insertRun(agent, "off", { state: { bogus: true } });
    const run = await waitForStatus(db.pool, off, ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({
      code: "invalid_run_input",
      message: expect.stringMatching(/starting state .* does not match the agent's state_schema: .*bogus/) as unknown,
    });
    // no LLM call was made, and no snapshot of a state that does not match was streamed
    expect((await getSteps(db.pool, off)).map((s) => s.kind)).toEqual(["system"]);
    const events = await getEvents(db.pool, off);
    await assertValidAgUiLog(events);
    expect(events.map((e) => e.type)).toEqual(["RUN_STARTED", "RUN_ERROR"]);

    const good = await insertRun(agent, "good", { state: { n: 1 } });
    expect((await waitForStatus(db.pool, good, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("two update_state calls in one model turn: the second patches what the first added", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      script: [{ tool_calls: [update({ state: { items: [] } }), update({ patch: [add("/items/-", "a"), add("/items/0", "first")] })] }, { text: "ok" }],
    });
    const runId = await insertRun(agent, "two");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const results = (await getSteps(db.pool, runId)).filter((s) => s.name === "update_state").map((s) => toolOutput(s));
    expect(results.map((r) => [r.is_error, r.content])).toEqual([
      [false, 'state updated; it now has keys "items" (array of 0)'],
      [false, 'state updated; it now has keys "items" (array of 2)'],
    ]);
    expect((await runState(runId)).state).toEqual({ items: ["first", "a"] });
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    expect(replayState(events)).toEqual({ items: ["first", "a"] });
  });

  it("a rerun starts from the state its original started from; a rerun from a step, from the state as of that step", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state", "wait_for_event"],
      script: [
        { tool_calls: [update({ patch: [add("/log/-", "a")] })] },
        { tool_calls: [update({ patch: [add("/log/-", "b")] }), { name: "wait_for_event", arguments: { name: "go" } }] },
        { text: "done" },
      ],
    });
    const parkedAt = async (runId: string) => {
      await waitFor("the run to wait", async () => (await runState(runId)).status === "waiting");
      return (await runState(runId)).state;
    };
    // steps: 1 llm, 2 update_state (a), 3 llm, 4 update_state (b), 5 wait_for_event
    const original = await insertRun(agent, "log", { state: { log: [] } });
    expect(await parkedAt(original)).toEqual({ log: ["a", "b"] });
    await db.pool.query("select everruns.cancel_run($1)", [original]);
    await waitForStatus(db.pool, original, ["cancelled"]);

    // from step 2: the state as step 2 left it ({log: ["a"]}); the scripted model then plays its
    // script from the start again (its turns are counted per run): "a", then "b"
    const fromStep = await rerunRun(db.pool, original, 2);
    expect(await parkedAt(fromStep)).toEqual({ log: ["a", "a", "b"] });
    expect(await initialState(fromStep)).toEqual({ log: ["a"] });
    await db.pool.query("select everruns.cancel_run($1)", [fromStep]);
    await waitForStatus(db.pool, fromStep, ["cancelled"]);

    // a plain rerun of that rerun: from where it started ({log: ["a"]}), not where it ended
    const plain = await rerunRun(db.pool, fromStep);
    expect(await parkedAt(plain)).toEqual({ log: ["a", "a", "b"] });
    expect(await initialState(plain)).toEqual({ log: ["a"] });
    const events = await getEvents(db.pool, plain);
    expect(events[1]!.event).toMatchObject({ type: "STATE_SNAPSHOT", snapshot: { log: ["a"] } });
    await db.pool.query("select everruns.send_event($1, 'go', 'null')", [plain]);
    expect((await waitForStatus(db.pool, plain, ["succeeded", "failed"])).status).toBe("succeeded");
    expect((await runState(plain)).state).toEqual({ log: ["a", "a", "b"] });
  });

  it("a run whose log has no STATE_* event yet (begun by an older worker) streams its first change as a snapshot", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state", "wait_for_event"],
      script: [
        { tool_calls: [{ name: "wait_for_event", arguments: { name: "go" } }] },
        { tool_calls: [update({ patch: [add("/log/-", "a")] })] },
        { tool_calls: [update({ patch: [add("/log/-", "b")] })] },
        { text: "done" },
      ],
    });
    const runId = await insertRun(agent, "old");
    await waitFor("the run to wait", async () => (await runState(runId)).status === "waiting");
    // as an older worker leaves it: a state, and no STATE_SNAPSHOT of it in the log
    await db.pool.query(`update everruns.runs set state = '{"log": []}' where id = $1`, [runId]);
    await db.pool.query("select everruns.send_event($1, 'go', 'null')", [runId]);
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    expect(events.filter((e) => e.type.startsWith("STATE_")).map((e) => e.event)).toEqual([
      expect.objectContaining({ type: "STATE_SNAPSHOT", snapshot: { log: ["a"] } }),
      expect.objectContaining({ type: "STATE_DELTA", delta: [add("/log/-", "b")] }),
    ]);
    expect(replayState(events)).toEqual({ log: ["a", "b"] });
  });

  it("report_progress commits runs.progress {message, fraction, at} by the database clock, and emits it as CUSTOM everruns.progress", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["report_progress"],
      script: [
        { tool_calls: [{ name: "report_progress", arguments: { message: "Read 3 of 10 papers", fraction: 0.3 } }] },
        { tool_calls: [{ name: "report_progress", arguments: { message: "Writing the summary" } }] },
        { tool_calls: [{ name: "report_progress", arguments: { message: "x".repeat(501) } }] },
        { tool_calls: [{ name: "report_progress", arguments: { message: "over", fraction: 1.5 } }] },
        { text: "done" },
      ],
    });
    const runId = await insertRun(agent, "read");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const { progress } = await runState(runId);
    expect(progress).toEqual({ message: "Writing the summary", fraction: null, at: expect.any(String) as unknown });
    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    const reports = events.filter((e) => e.type === "CUSTOM" && e.event.name === "everruns.progress").map((e) => e.event.value as Record<string, unknown>);
    expect(reports).toEqual([
      { message: "Read 3 of 10 papers", fraction: 0.3, at: expect.any(String) as unknown },
      { message: "Writing the summary", fraction: null, at: expect.any(String) as unknown },
    ]);
    expect(reports[1]).toEqual(progress);
    // `at` is the database's clock at each step's commit (the step's finished_at)
    const { rows } = await db.pool.query<{ at: Date }>(
      "select finished_at as at from everruns.run_steps where run_id = $1 and name = 'report_progress' and (output ->> 'is_error')::boolean = false order by seq",
      [runId],
    );
    expect(reports.map((r) => Date.parse(r.at as string))).toEqual(rows.map((r) => r.at.getTime()));
    const results = (await getSteps(db.pool, runId)).filter((s) => s.name === "report_progress").map((s) => toolOutput(s));
    expect(results.map((r) => r.is_error)).toEqual([false, false, true, true]);
    expect(results[0]!.content).toBe("progress reported");
  });
});

describe("what the model is told of a state its client gave", () => {
  const input = (state: Record<string, unknown>) => [{ kind: "input" as const, run_id: "r1", input: { messages: [{ role: "user", content: "go" }], state } }];

  it("an agent with update_state sees the input's state, right after that input, the same bytes every time; a large one by its top-level keys", () => {
    const small = { findings: [{ title: "a" }], status: "reading" };
    const messages = chatMessages(input(small), { inputState: true });
    expect(messages).toEqual([
      { role: "user", content: "go" },
      { role: "user", content: `(The run's state, as the client set it: ${JSON.stringify(small)})` },
    ]);
    expect(chatMessages(input(small), { inputState: true })).toEqual(messages);
    // without update_state (or an empty state): nothing added
    expect(chatMessages(input(small))).toEqual([{ role: "user", content: "go" }]);
    expect(chatMessages(input({}), { inputState: true })).toEqual([{ role: "user", content: "go" }]);

    const large = { notes: Array.from({ length: 500 }, (_, i) => `note ${i}`), status: "x".repeat(STATE_NOTE_MAX_CHARS) };
    const note = chatMessages(input(large), { inputState: true })[1]!;
    expect(note.content.length).toBeLessThan(STATE_NOTE_MAX_CHARS + 300);
    expect(note.content).toContain('too long to show here; truncated to its top-level keys: "notes": array of 500, "status": string');
  });
});

describe("update_state across kill -9 of worker processes", () => {
  it("killed before an update_state step's commit (twice) and after one's commit: every change committed and streamed once", async () => {
    const TURNS = 5;
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      script: [...Array.from({ length: TURNS }, (_, i) => ({ tool_calls: [update({ patch: [add("/findings/-", { n: i + 1 })] })] })), { text: "done" }],
    });
    const runId = await insertRun(agent, "find", { state: { findings: [] } });
    // Steps: 1 llm, 2 tool (finding 1), 3 llm, 4 tool (finding 2), ... 10 tool (finding 5), 11 llm.
    // Each worker kills itself with SIGKILL at its point (scripts/cli/processes.ts,
    // EVERRUNS_CRASH_AT): during the tool step of finding 2 (its patch applied, not committed),
    // right after the tool step of finding 3 committed, during the tool step of finding 4.
    const crashes = ["before_commit:4", "after_commit:6", "before_commit:8"];
    const workers: WorkerProcess[] = [];
    try {
      for (const at of crashes) {
        const w = await spawnWorker(db.url, { EVERRUNS_CRASH_AT: at });
        workers.push(w);
        const { signal } = await w.exited;
        expect(signal, `the worker crashing at ${at}:\n${w.output().slice(-2000)}`).toBe("SIGKILL");
      }
      workers.push(await spawnWorker(db.url));
      const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 120_000);
      expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
    }

    const findings = Array.from({ length: TURNS }, (_, i) => ({ n: i + 1 }));
    expect((await runState(runId)).state).toEqual({ findings });
    const steps = await getSteps(db.pool, runId);
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 2 * TURNS + 1 }, (_, i) => i + 1));
    // the steps killed before their commit ran again; the one killed after its commit did not
    expect(steps[3]!.attempt).toBeGreaterThanOrEqual(2);
    expect(steps[7]!.attempt).toBeGreaterThanOrEqual(2);
    expect(steps[5]!.attempt).toBe(1);

    const events = await getEvents(db.pool, runId);
    await assertValidAgUiLog(events);
    // one snapshot (the input's state, at the start) and one delta per finding, in order
    const stateEvents = events.filter((e) => e.type.startsWith("STATE_")).map((e) => e.event);
    expect(stateEvents).toEqual([
      expect.objectContaining({ type: "STATE_SNAPSHOT", snapshot: { findings: [] } }),
      ...findings.map((f) => expect.objectContaining({ type: "STATE_DELTA", delta: [add("/findings/-", f)] }) as unknown),
    ]);
    expect(replayState(events)).toEqual({ findings });
  }, 180_000);
});
