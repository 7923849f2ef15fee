// Retention as clients meet it (issue 19, "Data lifecycle"; 000038): a finished run whose events
// and steps retention removed keeps its row as its summary. Against a real API, worker and
// Postgres:
// - GET /api/runs/:id still answers, with history_expired_at; its events (SSE, any Accept, any
//   cursor), the AG-UI replay of the run and GraphQL's runEvents subscription answer 410 /
//   history_expired saying when and under which retention; another workspace's key gets 404, as
//   for no run at all (nothing says the run exists);
// - AG-UI: a new run on a thread whose earlier run expired is refused (410, continue on a new
//   threadId); on a new threadId with the whole conversation it runs;
// - GraphQL: Run.historyExpiredAt and Workspace.retentionDays for every role of the workspace; no
//   field lists the events or steps of a run marked expired whose rows wait for their month's
//   drop (000040's policy history_kept);
// - the events hub: a stream whose events retention deleted between the expiry check and the
//   replay ends with history_expired rather than hanging;
// - the CLI: everruns workspaces limits --retention-days sets and clears retention and rejects
//   what is out of range with one line; workspaces list shows it; everruns events of an expired
//   run prints the 410's message and exits 1.
import { spawn } from "node:child_process";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { FormattedExecutionResult } from "graphql";
import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../scripts/database.ts";
import { retentionFromFlag } from "../../scripts/workspaces-command.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import type { EverrunsError } from "../../db/errors.ts";
import { createAgent, createTestDatabase, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { EventsHub, type RunEventRow, type Subscription } from "../events-hub.ts";
import { bearer, createTestKey, DEFAULT_WORKSPACE_ID, postJson, quietLog, readSse, startTestApi, type ApiErrorBody, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let worker: WorkerHandle;
let api: TestApiHandle;
/** Workspace B and an admin key of it. */
let other: { id: string; headers: Record<string, string> };

const AGENT = "retained";
const EXPIRED_AT = "2026-11-01T00:00:00.000Z";

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  api = await startTestApi(db.url);
  await createAgent(db.pool, { provider: "scripted", script: [{ text: "Noted." }] }, AGENT);
  const b = await createWorkspace(db.pool, "retention-b");
  await db.pool.query("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3)", [
    b.id,
    AGENT,
    JSON.stringify({ provider: "scripted", script: [{ text: "B's." }] }),
  ]);
  other = { id: b.id, headers: bearer(await createTestKey(db.url, { role: "admin", workspaceId: b.id })) };
});

afterAll(async () => {
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

/** A finished run of the default workspace (through the API), on `threadId` when given. */
async function finishedRun(threadId?: string): Promise<{ id: string; threadId: string }> {
  const started = await postJson<{ id: string; thread_id: string }>(
    `${api.url}/api/runs`,
    { agent: AGENT, input: { messages: [{ role: "user", content: "remember this" }] }, ...(threadId && { thread_id: threadId }) },
    api.headers,
  );
  expect(started.status).toBe(201);
  await waitForStatus(db.pool, started.body.id, ["succeeded"]);
  return { id: started.body.id, threadId: started.body.thread_id };
}

/**
 * What retention does to a finished run (everruns_private.apply_retention drops whole partitions;
 * here one run's rows, as the superuser): its events and steps go, its row stays with
 * history_expired_at; the workspace's retention is `days`.
 */
async function expire(runId: string, days: number | null = 30, at = EXPIRED_AT): Promise<void> {
  await db.pool.query("update everruns.workspaces set retention_days = $1 where id = $2", [days, DEFAULT_WORKSPACE_ID]);
  await db.pool.query("delete from everruns.run_events where run_id = $1", [runId]);
  await db.pool.query("delete from everruns.run_steps where run_id = $1", [runId]);
  await db.pool.query("update everruns.runs set history_expired_at = $2 where id = $1", [runId, at]);
}

const expiredMessage = (runId: string) =>
  new RegExp(
    `^the events and steps of run ${runId} expired on 2026-11-01T00:00:00\\.000Z under its workspace's retention of 30 days; ` +
      `the run's summary \\(status, input, output, usage\\) is still available: GET /api/runs/${runId}$`,
  );

async function getJson<T>(url: string, headers: Record<string, string>): Promise<{ status: number; contentType: string | null; body: T }> {
  const res = await fetch(url, { headers });
  return { status: res.status, contentType: res.headers.get("content-type"), body: (await res.json()) as T };
}

describe("a run whose history expired, over REST", () => {
  it("GET /api/runs/:id keeps answering, with history_expired_at; before expiry it is null", async () => {
    const run = await finishedRun();
    const before = await getJson<Record<string, unknown>>(`${api.url}/api/runs/${run.id}`, api.headers);
    expect(before.body).toMatchObject({ id: run.id, status: "succeeded", history_expired_at: null });
    await expire(run.id);
    const after = await getJson<Record<string, unknown>>(`${api.url}/api/runs/${run.id}`, api.headers);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ id: run.id, status: "succeeded", output: { text: "Noted." }, history_expired_at: EXPIRED_AT });
  });

  it("GET /api/runs/:id/events: 410 history_expired as JSON (SSE or JSON asked, any cursor), saying when and under which retention", async () => {
    const run = await finishedRun();
    await expire(run.id);
    const url = `${api.url}/api/runs/${run.id}/events`;
    const variants: Array<Record<string, string>> = [
      { accept: "text/event-stream" },
      { accept: "application/json" },
      { accept: "text/event-stream", "last-event-id": "3" },
      {},
    ];
    for (const headers of variants) {
      const answer = await getJson<ApiErrorBody>(url, { ...api.headers, ...headers });
      expect({ headers, status: answer.status, type: answer.contentType }).toEqual({ headers, status: 410, type: "application/json; charset=utf-8" });
      expect(answer.body.error.code).toBe("history_expired");
      expect(answer.body.error.message).toMatch(expiredMessage(run.id));
    }
    // a viewer reads events too: the same answer
    const viewer = bearer(await createTestKey(db.url, { role: "viewer" }));
    expect((await getJson<ApiErrorBody>(url, viewer)).status).toBe(410);
    // ?after= past the (gone) log is no invalid_cursor: the expiry is the answer
    expect((await getJson<ApiErrorBody>(`${url}?after=99`, api.headers)).body.error.code).toBe("history_expired");
  });

  it("says when retention has been turned off since", async () => {
    const run = await finishedRun();
    await expire(run.id, null);
    const answer = await getJson<ApiErrorBody>(`${api.url}/api/runs/${run.id}/events`, api.headers);
    expect(answer.status).toBe(410);
    expect(answer.body.error.message).toContain("under its workspace's retention (now off: runs finished since are kept)");
  });

  it("rerunning it is refused (EV008, 400), saying why", async () => {
    const run = await finishedRun();
    await expire(run.id);
    const answer = await postJson<ApiErrorBody>(`${api.url}/api/runs/${run.id}/rerun`, { reason: "again" }, api.headers);
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(
      new RegExp(`^run ${run.id}'s history expired on 2026-11-01 under the workspace's retention of 30 days; it cannot be rerun`),
    );
  });

  it("another workspace's key gets 404 for the run and its events, as for no run at all", async () => {
    const run = await finishedRun();
    await expire(run.id);
    const unknown = randomUUID();
    for (const id of [run.id, unknown]) {
      const summary = await getJson<ApiErrorBody>(`${api.url}/api/runs/${id}`, other.headers);
      const events = await getJson<ApiErrorBody>(`${api.url}/api/runs/${id}/events`, other.headers);
      expect({ summary: summary.status, events: events.status, code: events.body.error.code }).toEqual({ summary: 404, events: 404, code: "not_found" });
      expect(events.body.error.message).toBe(`unknown run ${id}`);
    }
  });

  it("a run whose history is kept still streams its events", async () => {
    const run = await finishedRun();
    const read = await readSse(`${api.url}/api/runs/${run.id}/events`, { headers: api.headers });
    expect(read.status).toBe(200);
    expect(read.events.at(-1)?.type).toBe("RUN_FINISHED");
  });
});

describe("a run whose history expired, over AG-UI", () => {
  const agui = (body: Record<string, unknown>, headers = api.headers) => postJson<ApiErrorBody>(`${api.url}/api/agents/${AGENT}/agui`, body, headers);
  const message = (id: string, content: string, role = "user") => ({ id, role, content });

  it("a retried request for the expired run: 410 history_expired, nothing replayed", async () => {
    const run = await finishedRun();
    await expire(run.id);
    const answer = await agui({ threadId: run.threadId, runId: run.id, messages: [message("m1", "remember this")], tools: [], context: [], state: {} });
    expect(answer.status).toBe(410);
    expect(answer.body.error.code).toBe("history_expired");
    expect(answer.body.error.message).toMatch(expiredMessage(run.id));
  });

  it("continuing a thread whose earlier run expired: 410, continue on a new threadId; there the whole conversation runs", async () => {
    const first = await finishedRun();
    const second = await finishedRun(first.threadId);
    await expire(first.id);
    const conversation = [message("u1", "remember this"), message("a1", "Noted.", "assistant"), message("u2", "and this?")];
    const refused = await agui({ threadId: first.threadId, runId: randomUUID(), messages: conversation, tools: [], context: [], state: {} });
    expect(refused.status).toBe(410);
    expect(refused.body.error.code).toBe("history_expired");
    expect(refused.body.error.message).toBe(
      `thread ${first.threadId} cannot be continued: the events and steps of 1 of its earlier runs expired (the latest on ${EXPIRED_AT}, ` +
        `under its workspace's retention of 30 days), so a new run would not see that part of the conversation; ` +
        `continue on a new threadId, sending the whole conversation as its messages`,
    );
    // nothing was started on the thread
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where thread_id = $1", [first.threadId]);
    expect(rows[0]!.n).toBe(2);
    // the run whose history is kept still replays
    const kept = await readSse(`${api.url}/api/runs/${second.id}/events`, { headers: api.headers });
    expect(kept.events.at(-1)?.type).toBe("RUN_FINISHED");

    // a new thread: every message is new to it, so the whole conversation is the new run's input
    const threadId = randomUUID();
    const runId = randomUUID();
    const read = await readSse(`${api.url}/api/agents/${AGENT}/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...api.headers },
      body: JSON.stringify({ threadId, runId, messages: conversation, tools: [], context: [], state: {} }),
    });
    expect(read.status).toBe(200);
    expect(read.events.at(-1)?.type).toBe("RUN_FINISHED");
    const input = await db.pool.query<{ input: { messages: Array<{ id: string }> } }>("select input from everruns.runs where id = $1", [runId]);
    expect(input.rows[0]!.input.messages.map((m) => m.id)).toEqual(["u1", "a1", "u2"]);
  });

  it("a thread whose expired run a rerun replaced wholly is whole again: it can be continued", async () => {
    // the replaced run's steps are no part of the thread's history (run_history's `kept`)
    const first = await finishedRun();
    const rerun = await finishedRun(first.threadId);
    await db.pool.query("update everruns.runs set rerun_of = $2 where id = $1", [rerun.id, first.id]);
    await expire(first.id);
    const read = await readSse(`${api.url}/api/agents/${AGENT}/agui`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...api.headers },
      body: JSON.stringify({ threadId: first.threadId, runId: randomUUID(), messages: [message("n1", "go on")], tools: [], context: [], state: {} }),
    });
    expect(read.status).toBe(200);
    expect(read.events.at(-1)?.type).toBe("RUN_FINISHED");
  });
});

describe("a run whose history expired, over GraphQL", () => {
  const gql = async <T>(headers: Record<string, string>, query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  };

  it("Run.historyExpiredAt and Workspace.retentionDays, for every role of the workspace", async () => {
    const run = await finishedRun();
    await expire(run.id);
    for (const role of ["viewer", "operator", "admin"] as const) {
      const headers = bearer(await createTestKey(db.url, { role }));
      const answer = await gql<{ runById: { historyExpiredAt: string | null; status: string; workspaceByWorkspaceId: { retentionDays: number | null } } }>(
        headers,
        "query ($id: UUID!) { runById(id: $id) { status historyExpiredAt workspaceByWorkspaceId { retentionDays } } }",
        { id: run.id },
      );
      expect(answer.errors, role).toBeUndefined();
      expect(answer.data!.runById).toEqual({
        status: "succeeded",
        historyExpiredAt: "2026-11-01T00:00:00.000000+00:00",
        workspaceByWorkspaceId: { retentionDays: 30 },
      });
    }
    // B's key: no such run
    const theirs = await gql<{ runById: unknown }>(other.headers, "query ($id: UUID!) { runById(id: $id) { historyExpiredAt } }", { id: run.id });
    expect(theirs).toEqual({ data: { runById: null } });
  });

  it("a run marked expired whose rows wait for their month's drop (000039): no field lists its events or steps; the owner still holds them", async () => {
    const run = await finishedRun();
    const kept = await finishedRun();
    const history = `query ($id: UUID!) {
      runById(id: $id) { runEventsByRunId { totalCount } runStepsByRunId { totalCount nodes { seq } } }
      allRunEvents(condition: { runId: $id }) { totalCount nodes { seq } }
      allRunSteps(condition: { runId: $id }) { totalCount }
      runEventByRunIdAndSeq(runId: $id, seq: 1) { seq }
      runStepByRunIdAndSeq(runId: $id, seq: 1) { seq }
    }`;
    type History = {
      runById: { runEventsByRunId: { totalCount: number }; runStepsByRunId: { totalCount: number; nodes: Array<{ seq: number }> } };
      allRunEvents: { totalCount: number; nodes: Array<{ seq: number }> };
      allRunSteps: { totalCount: number };
      runEventByRunIdAndSeq: { seq: number } | null;
      runStepByRunIdAndSeq: { seq: number } | null;
    };
    const before = await gql<History>(api.headers, history, { id: run.id });
    expect(before.errors).toBeUndefined();
    expect(before.data!.runById.runEventsByRunId.totalCount).toBeGreaterThan(1);
    expect(before.data!.runById.runStepsByRunId.totalCount).toBeGreaterThan(0);
    expect(before.data!.allRunEvents.totalCount).toBe(before.data!.runById.runEventsByRunId.totalCount);
    expect(before.data!.runEventByRunIdAndSeq).toEqual({ seq: 1 });
    expect(before.data!.runStepByRunIdAndSeq).toEqual({ seq: 1 });
    const rowsOf = async (id: string) =>
      (
        await db.pool.query<{ events: number; steps: number }>(
          "select (select count(*)::int from everruns.run_events where run_id = $1) as events, (select count(*)::int from everruns.run_steps where run_id = $1) as steps",
          [id],
        )
      ).rows[0]!;
    const rowsBefore = await rowsOf(run.id);
    // as retention's in-place path leaves a run (000039, 000041): history_expired_at set, its rows
    // left for the drop of its month, which retention_months_in_place records (the path itself
    // takes only past months: db/test/retention.test.ts)
    await db.pool.query("update everruns.workspaces set retention_days = 30 where id = $1", [DEFAULT_WORKSPACE_ID]);
    await db.pool.query("update everruns.runs set history_expired_at = $2 where id = $1", [run.id, EXPIRED_AT]);
    await db.pool.query(
      "insert into everruns_private.retention_months_in_place (month_from) select date_trunc('month', created_at, 'UTC') from everruns.runs where id = $1 on conflict do nothing",
      [run.id],
    );
    for (const role of ["viewer", "operator", "admin"] as const) {
      const headers = bearer(await createTestKey(db.url, { role }));
      const after = await gql<History>(headers, history, { id: run.id });
      expect(after.errors, role).toBeUndefined();
      expect(after.data, role).toEqual({
        runById: { runEventsByRunId: { totalCount: 0 }, runStepsByRunId: { totalCount: 0, nodes: [] } },
        allRunEvents: { totalCount: 0, nodes: [] },
        allRunSteps: { totalCount: 0 },
        runEventByRunIdAndSeq: null,
        runStepByRunIdAndSeq: null,
      });
    }
    // the rows are still there (the month's drop takes them), and a kept run's history still reads
    expect(await rowsOf(run.id)).toEqual(rowsBefore);
    const keptHistory = await gql<History>(api.headers, history, { id: kept.id });
    expect(keptHistory.data!.allRunEvents.totalCount).toBeGreaterThan(1);
    expect(keptHistory.data!.runById.runStepsByRunId.totalCount).toBeGreaterThan(0);
  });

  it("no key sets retention over GraphQL, admin's included: no mutation does, and the API's database role may not (the CLI on the owner's connection sets it)", async () => {
    for (const role of ["viewer", "operator", "admin"] as const) {
      const headers = bearer(await createTestKey(db.url, { role }));
      const mutations = await gql<{ __type: { fields: Array<{ name: string }> } }>(headers, `{ __type(name: "Mutation") { fields { name } } }`);
      expect(mutations.data!.__type.fields.map((f) => f.name).filter((name) => /retention|^(create|update|set)Workspace/i.test(name))).toEqual([]);
      const attempt = await gql(headers, `mutation { setWorkspaceRetention(pWorkspaceId: "${DEFAULT_WORKSPACE_ID}", pDays: 1) { clientMutationId } }`);
      expect(attempt.errors?.[0]?.message).toMatch(/Cannot query field "setWorkspaceRetention" on type "Mutation"/);
    }
    // the role every GraphQL operation runs as (everruns_api, in the key's workspace) may neither
    // call the function nor write the column
    const client = await db.pool.connect();
    try {
      for (const statement of [
        `select everruns.set_workspace_retention('${DEFAULT_WORKSPACE_ID}', 1)`,
        `update everruns.workspaces set retention_days = 1 where id = '${DEFAULT_WORKSPACE_ID}'`,
      ]) {
        await client.query("begin");
        await client.query("set local role everruns_api");
        await client.query("select set_config('everruns.workspace_id', $1, true)", [DEFAULT_WORKSPACE_ID]);
        await expect(client.query(statement), statement).rejects.toMatchObject({ code: "42501" });
        await client.query("rollback");
      }
    } finally {
      client.release();
    }
    expect((await db.pool.query("select retention_days from everruns.workspaces where id = $1", [DEFAULT_WORKSPACE_ID])).rows[0]).not.toEqual({
      retention_days: 1,
    });
  });

  it("the runEvents subscription of an expired run ends with an error history_expired, not a stream that never ends", async () => {
    const run = await finishedRun();
    await expire(run.id);
    const client = createClient({
      url: `${api.url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${api.key}` },
    });
    try {
      const results: Array<FormattedExecutionResult<Record<string, unknown>, unknown>> = [];
      for await (const result of client.iterate({ query: `subscription { runEvents(runId: "${run.id}") { seq type } }` })) results.push(result);
      // one result, its error, and the subscription is over
      expect(results).toHaveLength(1);
      expect(results[0]!.errors).toHaveLength(1);
      expect(results[0]!.errors![0]!.extensions?.code).toBe("history_expired");
      expect(results[0]!.errors![0]!.message).toMatch(expiredMessage(run.id));
    } finally {
      await client.dispose();
    }
  });
});

describe("the CLI", () => {
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "scripts", "everruns.ts"), ...args], { env: { ...process.env, DATABASE_URL: db.url } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("exit", (code) => resolve({ code, stdout, stderr }));
    });
  }
  const retentionOf = async (id: string) =>
    (await db.pool.query<{ retention_days: number | null }>("select retention_days from everruns.workspaces where id = $1", [id])).rows[0]!.retention_days;

  it("workspaces limits --retention-days sets and clears retention (the limits kept); workspaces list shows it", async () => {
    const set = await cli(["workspaces", "limits", "retention-b", "--retention-days", "45", "--max-queued-runs", "7", "--json"]);
    expect(set).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(set.stdout)).toMatchObject({ workspaceId: other.id, retentionDays: 45, maxQueuedRuns: 7 });
    expect(await retentionOf(other.id)).toBe(45);

    const shown = await cli(["workspaces", "limits", "retention-b"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/retention_days\s+45 days\s+finished runs keep a summary after that/);
    const list = await cli(["workspaces", "list"]);
    expect(list.stdout).toMatch(/retention-b\s+.*\s45 days/);
    const listJson = JSON.parse((await cli(["workspaces", "list", "--json"])).stdout) as Array<{ name: string; retention: number | null }>;
    expect(listJson.find((w) => w.name === "retention-b")?.retention).toBe(45);

    // another limit changed alone keeps retention
    expect(JSON.parse((await cli(["workspaces", "limits", "retention-b", "--weight", "2", "--json"])).stdout)).toMatchObject({ retentionDays: 45, weight: 2 });

    const cleared = await cli(["workspaces", "limits", "retention-b", "--retention-days", "none", "--json"]);
    expect(cleared.code).toBe(0);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ retentionDays: null, maxQueuedRuns: 7 });
    expect(await retentionOf(other.id)).toBeNull();
    expect((await cli(["workspaces", "limits", "retention-b"])).stdout).toMatch(/retention_days\s+forever\s+finished runs keep their events and steps/);
  });

  it("rejects 0, -1, 36501 and abc with one line saying what it takes, and changes nothing", async () => {
    await db.pool.query("update everruns.workspaces set retention_days = 10 where id = $1", [other.id]);
    for (const value of ["0", "-1", "36501", "abc"]) {
      const bad = await cli(["workspaces", "limits", "retention-b", `--retention-days=${value}`]);
      expect({ value, code: bad.code, stdout: bad.stdout, stderr: bad.stderr }).toEqual({
        value,
        code: 1,
        stdout: "",
        stderr: `everruns: --retention-days takes a whole number of days from 1 to 36500 (finished runs' events and steps are removed that long after they finish), or none (keep them forever), got ${JSON.stringify(value)}\n`,
      });
    }
    expect(await retentionOf(other.id)).toBe(10);
    expect(() => retentionFromFlag("1.5")).toThrow("--retention-days takes a whole number of days from 1 to 36500");
    expect(() => retentionFromFlag("")).toThrow('or none (keep them forever), got ""');
    expect(() => retentionFromFlag("0030")).not.toThrow();
    expect([retentionFromFlag("none"), retentionFromFlag("30"), retentionFromFlag(undefined)]).toEqual([null, 30, undefined]);
    // the bounds themselves are accepted
    expect(JSON.parse((await cli(["workspaces", "limits", "retention-b", "--retention-days", "1", "--json"])).stdout)).toMatchObject({ retentionDays: 1 });
    expect(JSON.parse((await cli(["workspaces", "limits", "retention-b", "--retention-days", "36500", "--json"])).stdout)).toMatchObject({
      retentionDays: 36500,
    });
  });

  it("everruns events of an expired run prints the 410's message and exits 1; of a kept run, its events", async () => {
    const run = await finishedRun();
    const kept = await cli(["events", run.id]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(/^1\t\{"type":"RUN_STARTED"/);
    await expire(run.id);
    const expired = await cli(["events", run.id]);
    expect(expired.code).toBe(1);
    expect(expired.stdout).toBe("");
    expect(expired.stderr).toMatch(
      new RegExp(`^everruns: the events and steps of run ${run.id} expired on 2026-11-01T00:00:00\\.000Z under its workspace's retention of 30 days; `),
    );
  });
});

describe("retention striking as a stream opens", () => {
  // The endpoints check expiry, then the events hub replays the log. Retention may remove the
  // events in between (the row path deletes them in the unit that marks the run): the replay
  // finds nothing of a log that had events, and the stream ends with history_expired instead of
  // waiting, open and empty, for events of a finished run that will never come.
  let apiPool: pg.Pool;
  let hub: EventsHub;
  beforeAll(async () => {
    // as the API's pool: everruns_api, no workspace (the hub reads through the engine's functions)
    apiPool = new pg.Pool({ connectionString: db.url, options: "-c role=everruns_api", max: 3 });
    apiPool.on("error", () => undefined);
    hub = new EventsHub({ databaseUrl: db.url, pool: apiPool, log: quietLog });
    await hub.start();
  });
  afterAll(async () => {
    await hub?.close();
    await apiPool?.end();
  });

  async function drain(subscription: Subscription<RunEventRow>): Promise<number[]> {
    const seqs: number[] = [];
    for await (const row of subscription) seqs.push(row.seq);
    return seqs;
  }

  it("from the start and from a cursor: the stream ends with history_expired; a kept run's replays to its end", async () => {
    const run = await finishedRun();
    const kept = await finishedRun();
    const { event_seq: eventSeq } = (await db.pool.query<{ event_seq: number }>("select event_seq from everruns.runs where id = $1", [run.id])).rows[0]!;
    expect(eventSeq).toBeGreaterThan(2);
    // opened (the feed read the run's event_seq), not yet read
    const fromStart = await hub.subscribeRunEvents(run.id);
    const fromCursor = await hub.subscribeRunEvents(run.id, 2);
    const keptSeqs = drain(await hub.subscribeRunEvents(kept.id));
    await expire(run.id);
    for (const subscription of [fromStart, fromCursor]) {
      const outcome = await Promise.race([
        drain(subscription).then(
          (seqs) => ({ seqs }),
          (error: unknown) => ({ error: error as EverrunsError }),
        ),
        new Promise<{ hung: true }>((resolve) => setTimeout(() => resolve({ hung: true }), 5000)),
      ]);
      expect(outcome).toMatchObject({ error: { code: "history_expired" } });
      expect((outcome as { error: Error }).error.message).toMatch(
        new RegExp(`^the events and steps of run ${run.id} expired under .*GET /api/runs/${run.id}$`),
      );
      subscription.close();
    }
    // a cursor past what the feed read: the log decides, and it is empty where the run had events
    await expect(hub.subscribeRunEvents(run.id, eventSeq + 5)).rejects.toMatchObject({ code: "history_expired" });
    const seqs = await keptSeqs;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBeGreaterThan(2);
  });
});
