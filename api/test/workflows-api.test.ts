// Workflows (issue 21, docs/workflows.md) through every door a user has: the real @ag-ui/client
// HttpAgent runs a workflow agent (STEP_STARTED / STEP_FINISHED per state, the client's own
// state equal to {current, data}, an approval answered with `resume`); REST sends events by
// correlation key (POST /api/events) and redrives a failed run (POST /api/runs/:id/redrive);
// GraphQL's sendEventByKey and redriveRun do the same; and the CLI's `everruns event` and
// `everruns redrive` print what they did. A real API, worker and Postgres throughout.
import { HttpAgent } from "@ag-ui/client";
import { EventType, type BaseEvent } from "@ag-ui/core";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertValidAgUiLog } from "../../lib/agui-log.ts";
import { createAgent, createTestDatabase, getEvents, getRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { bearer, createTestKey, postJson, startTestApi, type ApiErrorBody, type StartedRunBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

let names = 0;
const uniqueName = (base: string) => `${base}_${process.pid}_${++names}`;

async function workflow(name: string, definition: Record<string, unknown>): Promise<string> {
  await createAgent(db.pool, { kind: "workflow", definition }, name);
  return name;
}

/** Starts a workflow run through POST /api/runs with `state` as its execution input. */
async function startWorkflow(agent: string, state: Record<string, unknown>): Promise<string> {
  const res = await postJson<StartedRunBody>(`${api.url}/api/runs`, { agent, input: { messages: [], state } }, api.headers);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

async function graphql<T>(
  query: string,
  variables: Record<string, unknown>,
): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> }> {
  const res = await postJson<{ data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> }>(
    `${api.url}/graphql`,
    { query, variables },
    api.headers,
  );
  expect(res.status).toBe(200);
  return res.body;
}

const outputJson = (run: { output: unknown }) => (run.output as { json: unknown }).json;

/** The states a run's committed `state` steps passed through, in order. */
async function statesOf(runId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>("select name from everruns.run_steps where run_id = $1 and kind = 'state' order by seq", [runId]);
  return rows.map((r) => r.name);
}

const PASS_CHOICE_PASS = {
  StartAt: "Prepare",
  States: {
    Prepare: { Type: "Pass", Parameters: { "amount.$": "$.amount", "doubled.$": "States.MathAdd($.amount, $.amount)" }, ResultPath: "$.calc", Next: "Route" },
    Route: { Type: "Choice", Choices: [{ Variable: "$.calc.amount", NumericGreaterThan: 10000, Next: "Big" }], Default: "Small" },
    Big: { Type: "Pass", Result: "big", ResultPath: "$.size", End: true },
    Small: { Type: "Pass", Result: "small", ResultPath: "$.size", End: true },
  },
};

describe("AG-UI: HttpAgent runs a workflow", () => {
  // The execution input is the client's state either way (docs/workflows.md "Input"); a workflow
  // run "may be started with no message when it has a state", so the client needs no message.
  it.each([
    ["with its state alone", false],
    ["with its state and a user message", true],
  ])(
    "Pass → Choice → Pass %s: STEP pairs named after the states, the client's state is {current: null, data}, RUN_FINISHED's result is the document",
    async (_, withMessage) => {
      const name = await workflow(uniqueName("agui_wf"), PASS_CHOICE_PASS);
      const agent = new HttpAgent({ url: `${api.url}/api/agents/${name}/agui`, headers: api.headers, threadId: randomUUID(), initialState: { amount: 12000 } });
      if (withMessage) agent.addMessage({ id: randomUUID(), role: "user", content: "Route this purchase" });
      const seen: BaseEvent[] = [];
      const runId = randomUUID();
      await agent.runAgent({ runId }, { onEvent: ({ event }) => void seen.push(event) });
      const done = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
      expect(done.error).toBeNull();
      const document = { amount: 12000, calc: { amount: 12000, doubled: 24000 }, size: "big" };
      expect(outputJson(done)).toEqual(document);

      const steps = seen
        .filter((e) => e.type === EventType.STEP_STARTED || e.type === EventType.STEP_FINISHED)
        .map((e) => `${e.type}:${(e as BaseEvent & { stepName: string }).stepName}`);
      expect(steps).toEqual([
        "STEP_STARTED:Prepare",
        "STEP_FINISHED:Prepare",
        "STEP_STARTED:Route",
        "STEP_FINISHED:Route",
        "STEP_STARTED:Big",
        "STEP_FINISHED:Big",
      ]);
      expect(seen.some((e) => e.type === EventType.STATE_SNAPSHOT || e.type === EventType.STATE_DELTA)).toBe(true);
      expect(agent.state).toEqual({ current: null, data: document });
      const finished = seen.find((e) => e.type === EventType.RUN_FINISHED) as BaseEvent & { result?: unknown };
      expect(finished.result).toEqual(document);
      await assertValidAgUiLog(await getEvents(db.pool, runId));
    },
  );

  it("an approval ends the run with a workflow_approval interrupt; runAgent({resume}) continues it to the end", async () => {
    const name = await workflow(uniqueName("agui_approval"), {
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
    const agent = new HttpAgent({ url: `${api.url}/api/agents/${name}/agui`, headers: api.headers, threadId: randomUUID(), initialState: { amount: 500 } });
    // a message as well as the state: the AG-UI route refuses a request with no new message (see the test above)
    agent.addMessage({ id: randomUUID(), role: "user", content: "Approve this purchase" });
    const firstRunId = randomUUID();
    const firstEvents: BaseEvent[] = [];
    await agent.runAgent({ runId: firstRunId }, { onEvent: ({ event }) => void firstEvents.push(event) });
    await waitForStatus(db.pool, firstRunId, ["interrupted"]);
    const finished = firstEvents.find((e) => e.type === EventType.RUN_FINISHED) as BaseEvent & { outcome?: { type: string } };
    expect(finished.outcome?.type).toBe("interrupt");
    const pending = (agent as unknown as { pendingInterrupts: Array<{ id: string; reason: string; message: string }> }).pendingInterrupts;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ reason: "workflow_approval", message: "Approve 500 USD?" });

    const secondRunId = randomUUID();
    await agent.runAgent({ runId: secondRunId, resume: [{ interruptId: pending[0]!.id, status: "resolved", payload: { approved: true, comment: "fine" } }] });
    const second = await waitForStatus(db.pool, secondRunId, ["succeeded", "failed"]);
    expect(second.error).toBeNull();
    expect(second.status).toBe("succeeded");
    const document = { amount: 500, approval: { approved: true, comment: "fine" } };
    expect(outputJson(second)).toEqual(document);
    expect(agent.state).toEqual({ current: null, data: document });
    const { rows } = await db.pool.query("select parent_run_id, thread_id from everruns.runs where id = $1", [secondRunId]);
    expect(rows[0]).toEqual({ parent_run_id: firstRunId, thread_id: agent.threadId });
    await assertValidAgUiLog(await getEvents(db.pool, firstRunId));
    await assertValidAgUiLog(await getEvents(db.pool, secondRunId));
  });
});

/** A workflow that parks in wait_for_event for `po_signed` with the run's `$.po` as its correlation key. */
const WAIT_FOR_SIGNATURE = {
  StartAt: "Signed",
  States: {
    Signed: {
      Type: "Task",
      Resource: "everruns:wait_for_event",
      Parameters: { name: "po_signed", "correlation_key.$": "$.po" },
      TimeoutSeconds: 259200,
      ResultPath: "$.signature",
      End: true,
    },
  },
};

async function waiting(runId: string): Promise<void> {
  await waitFor(`run ${runId} to wait`, async () => (await getRun(db.pool, runId)).status === "waiting");
}

/**
 * A workflow whose middle state is an agent Task, and the agent: a scripted agent that fails
 * (max_steps 1 with a tool call) until `fix` gives it a script that answers.
 */
async function failingWorkflow(): Promise<{ workflowName: string; fix: () => Promise<void> }> {
  const worker = uniqueName("clerk");
  const agentId = await createAgent(
    db.pool,
    { provider: "scripted", max_steps: 1, tools: ["echo"], script: [{ tool_calls: [{ name: "echo", arguments: {} }] }] },
    worker,
  );
  const workflowName = await workflow(uniqueName("redrive_wf"), {
    StartAt: "Prepare",
    States: {
      Prepare: { Type: "Pass", Result: "ready", ResultPath: "$.prepared", Next: "Work" },
      Work: { Type: "Task", Resource: `everruns:agent:${worker}`, ResultPath: "$.work", Next: "Done" },
      Done: { Type: "Succeed" },
    },
  });
  return {
    workflowName,
    fix: async () => {
      await db.pool.query("update everruns.agents set config = $2 where id = $1", [
        agentId,
        JSON.stringify({ provider: "scripted", script: [{ text: "filed" }] }),
      ]);
    },
  };
}

/** A failed run of a fresh failingWorkflow, already fixed so a redrive succeeds. */
async function failedRun(): Promise<string> {
  const { workflowName, fix } = await failingWorkflow();
  const runId = await startWorkflow(workflowName, { item: "laptops" });
  const failed = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 30_000);
  expect(failed.status).toBe("failed");
  expect(failed.error).toMatchObject({ code: "max_steps" });
  await fix();
  return runId;
}

describe("REST: POST /api/events", () => {
  it("wakes exactly the run waiting for the key; with none waiting it is kept for the first that waits", async () => {
    const name = await workflow(uniqueName("rest_events"), WAIT_FOR_SIGNATURE);
    const a = await startWorkflow(name, { po: "REST-1" });
    const b = await startWorkflow(name, { po: "REST-2" });
    await waiting(a);
    await waiting(b);
    const sent = await postJson<{ delivered: number }>(
      `${api.url}/api/events`,
      { name: "po_signed", correlation_key: "REST-2", payload: { by: "vendor" } },
      api.headers,
    );
    expect(sent.status).toBe(201);
    expect(sent.body).toEqual({ name: "po_signed", correlation_key: "REST-2", delivered: 1 });
    const doneB = await waitForStatus(db.pool, b, ["succeeded", "failed"]);
    expect(outputJson(doneB)).toEqual({ po: "REST-2", signature: { by: "vendor" } });
    expect((await getRun(db.pool, a)).status).toBe("waiting");

    const early = await postJson<{ delivered: number }>(
      `${api.url}/api/events`,
      { name: "po_signed", correlation_key: "REST-3", payload: { early: true } },
      api.headers,
    );
    expect(early.status).toBe(201);
    expect(early.body.delivered).toBe(0);
    const kept = () =>
      db.pool
        .query<{ payload: unknown; delivered_to: string | null }>("select payload, delivered_to from everruns.pending_events where correlation_key = 'REST-3'")
        .then((r) => r.rows);
    expect(await kept()).toEqual([{ payload: { early: true }, delivered_to: null }]);
    const c = await startWorkflow(name, { po: "REST-3" });
    const doneC = await waitForStatus(db.pool, c, ["succeeded", "failed"]);
    expect(outputJson(doneC)).toEqual({ po: "REST-3", signature: { early: true } });
    expect(await kept()).toEqual([{ payload: { early: true }, delivered_to: c }]);
    expect((await getRun(db.pool, a)).status).toBe("waiting");
  });

  it("400 for a bad body, naming the field; 403 for a viewer key", async () => {
    const missing = await postJson<ApiErrorBody>(`${api.url}/api/events`, { name: "po_signed", payload: {} }, api.headers);
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain("correlation_key");
    const unknownField = await postJson<ApiErrorBody>(`${api.url}/api/events`, { name: "po_signed", correlation_key: "K", extra: 1 }, api.headers);
    expect(unknownField.status).toBe(400);
    const noName = await postJson<ApiErrorBody>(`${api.url}/api/events`, { correlation_key: "K" }, api.headers);
    expect(noName.status).toBe(400);
    expect(noName.body.error.message).toContain("name");

    const viewer = bearer(await createTestKey(db.url, { role: "viewer" }));
    const refused = await postJson<ApiErrorBody>(`${api.url}/api/events`, { name: "po_signed", correlation_key: "K" }, viewer);
    expect(refused.status).toBe(403);
    const { rows } = await db.pool.query("select 1 from everruns.pending_events where correlation_key = 'K'");
    expect(rows).toEqual([]);
  });
});

describe("REST: POST /api/runs/:id/redrive", () => {
  it("redrives a failed run at the state it failed in, with its input there; from_state another state it reached", async () => {
    const runId = await failedRun();
    const res = await postJson<StartedRunBody & { redrive_of: string }>(`${api.url}/api/runs/${runId}/redrive`, {}, api.headers);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ redrive_of: runId, status: "queued", id: expect.any(String) as unknown });
    const original = await getRun(db.pool, runId);
    const redriven = await waitForStatus(db.pool, res.body.id, ["succeeded", "failed"], 30_000);
    expect(redriven.error).toBeNull();
    expect(outputJson(redriven)).toEqual({ item: "laptops", prepared: "ready", work: "filed" });
    expect(await statesOf(res.body.id)).toEqual(["Work", "Done"]); // started at Work, not Prepare
    const { rows } = await db.pool.query<{ thread_id: string }>("select thread_id from everruns.runs where id = $1", [res.body.id]);
    expect(rows[0]!.thread_id).toBe((original as unknown as { thread_id: string }).thread_id);
    await assertValidAgUiLog(await getEvents(db.pool, res.body.id));

    const fromPrepare = await postJson<StartedRunBody>(`${api.url}/api/runs/${runId}/redrive`, { from_state: "Prepare" }, api.headers);
    expect(fromPrepare.status, JSON.stringify(fromPrepare.body)).toBe(201);
    const again = await waitForStatus(db.pool, fromPrepare.body.id, ["succeeded", "failed"], 30_000);
    expect(again.error).toBeNull();
    expect(outputJson(again)).toEqual({ item: "laptops", prepared: "ready", work: "filed" });
    expect(await statesOf(fromPrepare.body.id)).toEqual(["Prepare", "Work", "Done"]);
  });

  it("refuses, with a clear 400, a state never reached, a run that is not failed, and a run that is not a workflow's", async () => {
    const runId = await failedRun();
    // EV008 maps to a ValidationError (db/errors.ts): HTTP 400
    const never = await postJson<ApiErrorBody>(`${api.url}/api/runs/${runId}/redrive`, { from_state: "Done" }, api.headers);
    expect(never.status).toBe(400);
    expect(never.body.error.message).toMatch(/never reached state "Done"/);

    const waitingRun = await startWorkflow(await workflow(uniqueName("rest_waiting"), WAIT_FOR_SIGNATURE), { po: "NEVER-SENT" });
    await waiting(waitingRun);
    const notFailed = await postJson<ApiErrorBody>(`${api.url}/api/runs/${waitingRun}/redrive`, {}, api.headers);
    expect(notFailed.status).toBe(400);
    expect(notFailed.body.error.message).toMatch(/is waiting: only a failed workflow run can be redriven/);

    const chatty = uniqueName("chatty");
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] }, chatty);
    const started = await postJson<StartedRunBody>(
      `${api.url}/api/runs`,
      { agent: chatty, input: { messages: [{ role: "user", content: "hi" }] } },
      api.headers,
    );
    await waitForStatus(db.pool, started.body.id, ["succeeded", "failed"]);
    const notWorkflow = await postJson<ApiErrorBody>(`${api.url}/api/runs/${started.body.id}/redrive`, {}, api.headers);
    expect(notWorkflow.status).toBe(400);
    expect(notWorkflow.body.error.message).toMatch(/is not a workflow run/);
    expect(notWorkflow.body.error.message).toMatch(/Rerun an agent's run instead/);

    const badBody = await postJson<ApiErrorBody>(`${api.url}/api/runs/${runId}/redrive`, { from: "Work" }, api.headers);
    expect(badBody.status).toBe(400);
    const viewer = bearer(await createTestKey(db.url, { role: "viewer" }));
    expect((await postJson(`${api.url}/api/runs/${runId}/redrive`, {}, viewer)).status).toBe(403);
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where input -> 'workflow' ->> 'redrive_of' = $1", [
      runId,
    ]);
    expect(rows[0]!.n).toBe(0);
  });
});

describe("GraphQL: sendEventByKey and redriveRun", () => {
  it("sendEventByKey wakes the waiting run (delivered 1), or keeps the event (delivered 0)", async () => {
    const name = await workflow(uniqueName("gql_events"), WAIT_FOR_SIGNATURE);
    const run = await startWorkflow(name, { po: "GQL-1" });
    await waiting(run);
    const mutation =
      "mutation ($name: String!, $key: String!, $payload: JSON) { sendEventByKey(name: $name, correlationKey: $key, payload: $payload) { delivered } }";
    const sent = await graphql<{ sendEventByKey: { delivered: number } }>(mutation, { name: "po_signed", key: "GQL-1", payload: { by: "graphql" } });
    expect(sent.errors).toBeUndefined();
    expect(sent.data!.sendEventByKey.delivered).toBe(1);
    const done = await waitForStatus(db.pool, run, ["succeeded", "failed"]);
    expect(outputJson(done)).toEqual({ po: "GQL-1", signature: { by: "graphql" } });

    const kept = await graphql<{ sendEventByKey: { delivered: number } }>(mutation, { name: "po_signed", key: "GQL-2", payload: null });
    expect(kept.data!.sendEventByKey.delivered).toBe(0);
    const later = await startWorkflow(name, { po: "GQL-2" });
    expect((await waitForStatus(db.pool, later, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("redriveRun returns the new run and its status; a state never reached is an error", async () => {
    const runId = await failedRun();
    const mutation = "mutation ($runId: UUID!, $from: String) { redriveRun(runId: $runId, fromState: $from) { runId run { id status } } }";
    const res = await graphql<{ redriveRun: { runId: string; run: { id: string; status: string } } }>(mutation, { runId, from: "Work" });
    expect(res.errors).toBeUndefined();
    const { runId: newId, run } = res.data!.redriveRun;
    expect(run.id).toBe(newId);
    expect(["queued", "running", "succeeded"]).toContain(run.status); // the worker may have taken it already
    const done = await waitForStatus(db.pool, newId, ["succeeded", "failed"], 30_000);
    expect(outputJson(done)).toEqual({ item: "laptops", prepared: "ready", work: "filed" });

    const never = await graphql<{ redriveRun: null }>(mutation, { runId, from: "Nowhere" });
    expect(never.errors?.[0]?.message).toMatch(/never reached state "Nowhere"/);
  });
});

describe("CLI: everruns event and everruns redrive", () => {
  const CLI = path.join(PROJECT_ROOT, "scripts", "everruns.ts");

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], {
        env: { ...process.env, DATABASE_URL: db.url, EVERRUNS_API_URL: api.url, EVERRUNS_API_KEY: api.key, LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("`everruns event po_signed --key PO-1 --payload '{\"x\":1}'` prints the delivered line, and the run takes the payload", async () => {
    const name = await workflow(uniqueName("cli_events"), WAIT_FOR_SIGNATURE);
    const run = await startWorkflow(name, { po: "CLI-PO-1" });
    await waiting(run);
    const sent = await cli(["event", "po_signed", "--key", "CLI-PO-1", "--payload", '{"x":1}']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout.trim()).toBe('sent "po_signed" for CLI-PO-1: delivered to 1 waiting run(s)');
    expect(outputJson(await waitForStatus(db.pool, run, ["succeeded", "failed"]))).toEqual({ po: "CLI-PO-1", signature: { x: 1 } });

    const kept = await cli(["event", "po_signed", "--key", "CLI-PO-2", "--json"]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toEqual({ name: "po_signed", correlation_key: "CLI-PO-2", delivered: 0 });

    const noKey = await cli(["event", "po_signed"]);
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain("--key");
  });

  it("`everruns redrive <run> --from Work` prints the new run id, which succeeds", async () => {
    const runId = await failedRun();
    const res = await cli(["redrive", runId, "--from", "Work"]);
    expect(res.code, res.stderr).toBe(0);
    const match = /^redriving run (\S+) from state Work: run ([0-9a-f-]{36})$/.exec(res.stdout.trim());
    expect(match, res.stdout).not.toBeNull();
    expect(match![1]).toBe(runId);
    const done = await waitForStatus(db.pool, match![2]!, ["succeeded", "failed"], 30_000);
    expect(done.status).toBe("succeeded");

    const never = await cli(["redrive", runId, "--from", "Nowhere"]);
    expect(never.code).toBe(1);
    expect(never.stderr).toMatch(/never reached state "Nowhere"/);
  });
});
