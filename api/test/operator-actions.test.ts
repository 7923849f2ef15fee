// Operator actions with a trail (issue 13): rerun a failed or cancelled run, cancel, answer and
// send events with a reason, each recorded in the audit log with its decision and reason; the
// audit log filtered by action and target. Real API, real worker, real Postgres; keys of two
// workspaces (another workspace's run is unknown) and of each role (a viewer is refused).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { DEFAULT_WORKSPACE_ID, quietLog } from "./helpers.ts";

let db: TestDatabase;
let api: ApiHandle;
let worker: WorkerHandle;
const keys: Record<string, string> = {};

interface GqlAnswer<T> {
  data: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}
async function gql<T>(key: string, query: string, variables: Record<string, unknown> = {}): Promise<GqlAnswer<T>> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlAnswer<T>;
}
async function ok<T>(key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await gql<T>(key, query, variables);
  expect(res.errors).toBeUndefined();
  return res.data!;
}

interface AuditRow {
  action: string;
  targetId: string;
  actor: string;
  details: Record<string, unknown>;
}
const AUDIT = `query ($condition: AuditLogCondition) { allAuditLogs(condition: $condition, orderBy: SEQ_DESC, first: 50) { nodes { action targetId actor details } } }`;
async function audit(key: string, condition: Record<string, unknown>): Promise<AuditRow[]> {
  return (await ok<{ allAuditLogs: { nodes: AuditRow[] } }>(key, AUDIT, { condition })).allAuditLogs.nodes;
}

const RERUN = `mutation ($id: UUID!, $reason: String) { rerunRun(runId: $id, reason: $reason) { runId run { id status threadId agentVersion input rerunOf } } }`;

beforeAll(async () => {
  db = await createTestDatabase();
  const wsB = (await createWorkspace(db.pool, "ops-b")).id;
  for (const role of ["viewer", "operator", "admin"] as const) {
    keys[role] = (await createApiKey(db.pool, { name: `ops-${role}`, role, workspaceId: DEFAULT_WORKSPACE_ID })).key;
  }
  keys.otherAdmin = (await createApiKey(db.pool, { name: "ops-b-admin", role: "admin", workspaceId: wsB })).key;
  api = await startApi({ databaseUrl: db.url, port: 0, log: quietLog, graphiql: false });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: quietLog });
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await db?.drop();
});

/** Waits for a run to end (the worker is shared by the tests). */
async function waitFor(pool: TestDatabase["pool"], runId: string): Promise<void> {
  await waitForStatus(pool, runId, ["succeeded", "failed", "cancelled", "interrupted"]);
}

describe("rerun", () => {
  it("reruns a failed run: same thread, agent version and input, linked and audited with the reason", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "x", error: "bad_request" }] });
    const failed = await startRun(db.pool, agent, "rerun me");
    await waitForStatus(db.pool, failed, ["failed"]);
    // a new version of the agent meanwhile: the rerun keeps the failed run's
    await db.pool.query(`update everruns.agents set config = config || '{"system_prompt": "v2"}' where id = $1`, [agent]);
    const original = (
      await db.pool.query<{ thread_id: string; agent_version: number; input: unknown }>(
        "select thread_id, agent_version, input from everruns.runs where id = $1",
        [failed],
      )
    ).rows[0]!;

    // a viewer may not; another workspace's admin does not even see the run
    const viewer = await gql(keys.viewer!, RERUN, { id: failed });
    expect(viewer.errors?.[0]?.extensions?.code).toBe("forbidden");
    const other = await gql(keys.otherAdmin!, RERUN, { id: failed });
    expect(other.errors?.[0]?.message).toMatch(/unknown run/);

    const data = await ok<{ rerunRun: { runId: string; run: Record<string, unknown> & { id: string } } }>(keys.admin!, RERUN, {
      id: failed,
      reason: "  provider fixed  ",
    });
    const rerun = data.rerunRun.run;
    expect(rerun).toMatchObject({ id: data.rerunRun.runId, threadId: original.thread_id, agentVersion: original.agent_version, rerunOf: failed });
    expect(rerun.input).toEqual(original.input);
    expect(original.agent_version).toBe(1);

    const onOriginal = await audit(keys.viewer!, { targetId: failed, action: "run.rerun" });
    expect(onOriginal).toHaveLength(1);
    expect(onOriginal[0]!.details).toMatchObject({ new_run_id: rerun.id, agent_version: 1, previous_status: "failed", reason: "provider fixed" });
    expect(onOriginal[0]!.actor).toMatch(/^key:/);
    const started = await audit(keys.viewer!, { targetId: rerun.id });
    expect(started.map((a) => [a.action, a.details.rerun_of])).toEqual([["run.started", failed]]);
    // the other workspace's log holds nothing of it
    expect(await audit(keys.otherAdmin!, { targetId: failed })).toEqual([]);
    await waitForStatus(db.pool, rerun.id, ["failed"]);
  });

  it("refuses a run that has not failed nor been cancelled, saying what to do", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "fine" }] });
    const run = await startRun(db.pool, agent, "fine");
    await waitForStatus(db.pool, run, ["succeeded"]);
    const answer = await gql(keys.admin!, RERUN, { id: run });
    expect(answer.errors?.[0]?.message).toMatch(/is succeeded; only a failed or cancelled run can be rerun.*Start a new run on its thread/);
    const long = await gql(keys.admin!, RERUN, { id: run, reason: "x".repeat(501) });
    expect(long.errors?.[0]?.message).toMatch(/the reason is 501 characters; the limit is 500/);
  });
});

const RERUN_FROM = `mutation ($id: UUID!, $fromStep: Int, $reason: String) { rerunRun(runId: $id, fromStep: $fromStep, reason: $reason) { runId run { id threadId input rerunOf rerunFromSeq } } }`;

/** A run on `thread` (a new thread when null) with `content` as its user message. */
async function runOn(agent: string, thread: string | null, content: string): Promise<{ id: string; thread: string }> {
  const { rows } = await db.pool.query<{ id: string; thread_id: string }>(
    "insert into everruns.runs (agent_id, thread_id, input) values ($1, $2, $3) returning id, thread_id",
    [agent, thread, JSON.stringify({ messages: [{ role: "user", content }] })],
  );
  return { id: rows[0]!.id, thread: rows[0]!.thread_id };
}

describe("rerun from a step (000016)", () => {
  // steps 1 llm (echo), 2 tool, then the model fails
  const script = [{ tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "x", error: "bad_request" }];

  it("continues from a committed step of the thread's latest run: linked, marked and audited with the step", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script });
    const failed = await runOn(agent, null, "from a step");
    await waitForStatus(db.pool, failed.id, ["failed"]);

    const viewer = await gql(keys.viewer!, RERUN_FROM, { id: failed.id, fromStep: 2 });
    expect(viewer.errors?.[0]?.extensions?.code).toBe("forbidden");
    const noSuchStep = await gql(keys.operator!, RERUN_FROM, { id: failed.id, fromStep: 40 });
    expect(noSuchStep.errors?.[0]?.message).toMatch(/has no committed step 40.*Choose one of its steps/);
    const negative = await gql(keys.operator!, RERUN_FROM, { id: failed.id, fromStep: -1 });
    expect(negative.errors?.[0]?.message).toMatch(/the step to rerun from must be a step number \(0 or more\)/);

    const data = await ok<{ rerunRun: { run: { id: string; threadId: string; input: unknown; rerunOf: string; rerunFromSeq: number } } }>(
      keys.operator!,
      RERUN_FROM,
      { id: failed.id, fromStep: 2, reason: "the tool result was fine" },
    );
    const rerun = data.rerunRun.run;
    expect(rerun).toMatchObject({ threadId: failed.thread, rerunOf: failed.id, rerunFromSeq: 2 });
    expect(rerun.input).toEqual({ messages: [{ role: "user", content: "from a step" }] });
    expect((await audit(keys.viewer!, { targetId: failed.id, action: "run.rerun" }))[0]!.details).toMatchObject({
      new_run_id: rerun.id,
      from_seq: 2,
      reason: "the tool result was fine",
    });
    // its first step is an LLM call (the scripted model's first turn again: it calls echo)
    await waitFor(db.pool, rerun.id);

    // a run is rerun once: the second attempt names the first
    const again = await gql(keys.operator!, RERUN, { id: failed.id });
    expect(again.errors?.[0]?.message).toMatch(new RegExp(`was already rerun as run ${rerun.id}.*Rerun the latest attempt`));
  });

  it("refuses a run that is not its thread's latest, saying what to do instead", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", tools: ["echo"], script });
    const first = await runOn(agent, null, "first");
    await waitForStatus(db.pool, first.id, ["failed"]);
    const second = await runOn(agent, first.thread, "second");
    await waitForStatus(db.pool, second.id, ["failed"]);
    const answer = await gql(keys.operator!, RERUN_FROM, { id: first.id, fromStep: 2 });
    expect(answer.errors?.[0]?.message).toMatch(
      new RegExp(`is not the latest run of its thread \\(run ${second.id} came after it\\).*Rerun it from its input instead`),
    );
    // from its input it may
    expect(
      (await ok<{ rerunRun: { run: { rerunFromSeq: number | null } } }>(keys.operator!, RERUN_FROM, { id: first.id })).rerunRun.run.rerunFromSeq,
    ).toBeNull();
  });
});

describe("REST", () => {
  async function post(key: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${api.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it("cancel takes an optional reason; rerun is an operator's, audited with its reason", async () => {
    const waiter = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "never", timeout_seconds: 3600 } }] }, { text: "on" }],
    });
    const plain = await startRun(db.pool, waiter, "no reason");
    const reasoned = await startRun(db.pool, waiter, "with a reason");
    for (const id of [plain, reasoned]) await waitForStatus(db.pool, id, ["waiting"]);
    expect((await post(keys.operator!, `/api/runs/${plain}/cancel`)).body).toMatchObject({ cancelled: true });
    expect((await post(keys.operator!, `/api/runs/${reasoned}/cancel`, { reason: "stuck since the deploy" })).body).toMatchObject({ cancelled: true });
    expect((await audit(keys.viewer!, { targetId: plain, action: "run.cancelled" }))[0]!.details).toEqual({ previous_status: "waiting" });
    expect((await audit(keys.viewer!, { targetId: reasoned, action: "run.cancelled" }))[0]!.details).toEqual({
      previous_status: "waiting",
      reason: "stuck since the deploy",
    });

    const viewer = await post(keys.viewer!, `/api/runs/${reasoned}/rerun`);
    expect(viewer.status).toBe(403);
    const typo = await post(keys.operator!, `/api/runs/${reasoned}/rerun`, { reson: "x" });
    expect(typo.status).toBe(400);
    const rerun = await post(keys.operator!, `/api/runs/${reasoned}/rerun`, { reason: "try again" });
    expect(rerun.status).toBe(201);
    expect(rerun.body).toMatchObject({ status: "queued", rerun_of: reasoned });
    expect((await audit(keys.viewer!, { targetId: reasoned, action: "run.rerun" }))[0]!.details).toMatchObject({
      new_run_id: rerun.body.id,
      reason: "try again",
    });
    const other = await post(keys.otherAdmin!, `/api/runs/${reasoned}/rerun`);
    expect(other.status).toBe(404);
    await db.pool.query("select everruns.cancel_run($1)", [rerun.body.id]);
  });

  it("cancel and rerun refuse a body that is not JSON (415, 400) rather than drop its reason; no body at all is fine", async () => {
    async function raw(path: string, contentType: string | null, body: string): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(`${api.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${keys.operator!}`, ...(contentType === null ? {} : { "content-type": contentType }) },
        body,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }
    const waiter = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "never", timeout_seconds: 3600 } }] }, { text: "on" }],
    });
    const run = await startRun(db.pool, waiter, "bodies");
    await waitForStatus(db.pool, run, ["waiting"]);
    const status = async () => (await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [run])).rows[0]!.status;

    for (const path of [`/api/runs/${run}/cancel`, `/api/runs/${run}/rerun`]) {
      const what = path.endsWith("cancel") ? "cancel request" : "rerun request";
      for (const [contentType, body] of [
        ["text/plain", '{"reason": "stuck"}'],
        ["text/plain", "stuck since the deploy"],
        ["application/x-www-form-urlencoded", "reason=stuck"],
        [null, '{"reason": "stuck"}'], // fetch labels a string body text/plain
      ] as const) {
        const answer = await raw(path, contentType, body);
        expect(answer, `${path} ${contentType} ${body}`).toEqual({
          status: 415,
          body: { error: { code: "unsupported_media_type", message: `send ${what} as a JSON body with Content-Type: application/json` } },
        });
      }
      const malformed = await raw(path, "application/json", '{"reason": "stuck"');
      expect(malformed.status).toBe(400);
      expect(malformed.body).toEqual({ error: { code: "invalid_json", message: expect.stringMatching(/^the request body is not valid JSON/) as unknown } });
      // an array is not an empty body (it used to pass as one)
      expect((await raw(path, "application/json", "[]")).status).toBe(400);
    }
    // nothing happened: the run still waits, and neither action was audited
    expect(await status()).toBe("waiting");
    expect(await audit(keys.viewer!, { targetId: run, action: "run.cancelled" })).toEqual([]);

    // an empty body stays allowed whatever its label (the reason is optional)
    const empty = await raw(`/api/runs/${run}/cancel`, "text/plain", "");
    expect(empty).toMatchObject({ status: 200, body: { cancelled: true } });
    expect((await audit(keys.viewer!, { targetId: run, action: "run.cancelled" }))[0]!.details).toEqual({ previous_status: "waiting" });
    const rerun = await raw(`/api/runs/${run}/rerun`, "application/json", "{}");
    expect(rerun.status).toBe(201);
    await db.pool.query("select everruns.cancel_run($1)", [rerun.body.id]);
  });

  it("rerun takes from_step: the new run continues from that step", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ tool_calls: [{ name: "echo", arguments: {} }] }, { text: "x", error: "bad_request" }],
    });
    const failed = await startRun(db.pool, agent, "rest from a step");
    await waitForStatus(db.pool, failed, ["failed"]);
    for (const bad of [{ from_step: -1 }, { from_step: 1.5 }, { from_step: "2" }]) {
      const answer = await post(keys.operator!, `/api/runs/${failed}/rerun`, bad);
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(JSON.stringify(answer.body)).toMatch(/from_step/);
    }
    const missing = await post(keys.operator!, `/api/runs/${failed}/rerun`, { from_step: 9 });
    expect(missing.status).toBe(400);
    expect(JSON.stringify(missing.body)).toMatch(/has no committed step 9/);
    const rerun = await post(keys.operator!, `/api/runs/${failed}/rerun`, { from_step: 2, reason: "from the tool result" });
    expect(rerun.status).toBe(201);
    expect(rerun.body).toMatchObject({ rerun_of: failed, from_step: 2 });
    const row = await db.pool.query<{ rerun_of: string; rerun_from_seq: number }>("select rerun_of, rerun_from_seq from everruns.runs where id = $1", [
      rerun.body.id,
    ]);
    expect(row.rows[0]).toEqual({ rerun_of: failed, rerun_from_seq: 2 });
    await waitFor(db.pool, String(rerun.body.id));
  });
});

describe("reasons and decisions in the audit log", () => {
  it("cancel and send event record the operator's reason; cancelling an interrupted run works", async () => {
    const waiter = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["wait_for_event"],
      script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "went on" }],
    });
    const waiting = await startRun(db.pool, waiter, "wait");
    await waitForStatus(db.pool, waiting, ["waiting"]);
    const sent = await ok<{ sendEvent: { woke: boolean } }>(
      keys.operator!,
      `mutation ($id: UUID!) { sendEvent(runId: $id, name: "go", payload: {ok: true}, reason: "deploy done") { woke } }`,
      { id: waiting },
    );
    expect(sent.sendEvent.woke).toBe(true);
    const signal = await audit(keys.viewer!, { targetId: waiting, action: "signal.sent" });
    expect(signal[0]!.details).toMatchObject({ name: "go", reason: "deploy done" });
    expect(JSON.stringify(signal[0]!.details)).not.toMatch(/ok/); // never the payload

    const asker = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "done" }],
    });
    const interrupted = await startRun(db.pool, asker, "ask");
    await waitForStatus(db.pool, interrupted, ["interrupted"]);
    const cancelled = await ok<{ cancelRun: { cancelled: boolean; run: { status: string } } }>(
      keys.operator!,
      `mutation ($id: UUID!) { cancelRun(runId: $id, reason: "not needed any more") { cancelled run { status } } }`,
      { id: interrupted },
    );
    expect(cancelled.cancelRun).toEqual({ cancelled: true, run: { status: "cancelled" } });
    const rows = await audit(keys.viewer!, { targetId: interrupted, action: "run.cancelled" });
    expect(rows[0]!.details).toEqual({ previous_status: "interrupted", reason: "not needed any more" });
    // a cancelled run can be rerun
    const rerun = await ok<{ rerunRun: { run: { rerunOf: string } } }>(keys.admin!, RERUN, { id: interrupted });
    expect(rerun.rerunRun.run.rerunOf).toBe(interrupted);
  });

  it("approval.answered holds each decision and reason; the log filters by action", async () => {
    const asker = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "done" }],
    });
    const answered: Record<string, string> = {};
    for (const [label, payload] of [
      ["approve", { approved: true }],
      ["reject", { approved: false, reason: "wrong customer" }],
      ["edit", { approved: true, arguments: { n: 2 } }],
    ] as const) {
      const run = await startRun(db.pool, asker, label);
      await waitForStatus(db.pool, run, ["interrupted"]);
      const interruptId = (
        await db.pool.query<{ id: string }>(
          "select i ->> 'id' as id from everruns.runs r, jsonb_array_elements(r.interrupts -> 'interrupts') i where r.id = $1",
          [run],
        )
      ).rows[0]!.id;
      const resumed = await ok<{ resumeRun: { runId: string } }>(
        keys.operator!,
        `mutation ($id: UUID!, $resume: JSON!, $reason: String) { resumeRun(runId: $id, resume: $resume, reason: $reason) { runId } }`,
        { id: run, resume: [{ interruptId, status: "resolved", payload }], reason: label === "reject" ? "bulk: wrong customer" : null },
      );
      answered[label] = resumed.resumeRun.runId;
    }
    const rows = await audit(keys.viewer!, { action: "approval.answered" });
    expect(rows.every((r) => r.action === "approval.answered")).toBe(true);
    const byTarget = new Map(rows.map((r) => [r.targetId, r.details]));
    expect((byTarget.get(answered.approve!)!.answers as unknown[])[0]).toMatchObject({ status: "resolved", approved: true, edited: false });
    expect(byTarget.get(answered.approve!)!.reason).toBeUndefined();
    expect(byTarget.get(answered.reject!)).toMatchObject({ reason: "bulk: wrong customer" });
    expect((byTarget.get(answered.reject!)!.answers as unknown[])[0]).toMatchObject({ approved: false, edited: false, reason: "wrong customer" });
    expect((byTarget.get(answered.edit!)!.answers as unknown[])[0]).toMatchObject({ approved: true, edited: true });
    // edited arguments are a payload: not in the log
    expect(JSON.stringify(byTarget.get(answered.edit!))).not.toMatch(/"n"/);
    // the action filter uses its index (no scan of the newest entries of every kind)
    const { rows: plan } = await db.pool.query<{ "QUERY PLAN": string }>(
      "explain select * from everruns.audit_log where workspace_id = $1 and action = 'approval.answered' order by seq desc limit 50",
      [DEFAULT_WORKSPACE_ID],
    );
    expect(plan.map((p) => p["QUERY PLAN"]).join("\n")).toMatch(/audit_log_action_idx/);
  });
});
