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
