// MCP tool lists and tool dispatches in SQL (000027, issue 17), through their db/sql wrappers on a
// scratch database: a run's pin is fenced by the step attempt and the first pin wins; a cached
// list is reused only within its max age by the database clock (everruns_private.clock_offset
// moves it); dispatches count up with who authorized them and settle only when the counts match;
// a role bound to another workspace sees none of it; a role granted everruns_worker (not the
// owner) may do all of it.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, StaleAttemptError } from "../errors.ts";
import { beginStep } from "../sql/beginStep.ts";
import { cachedMcpToolList, pinMcpToolList, pinnedMcpTools, recordMcpListFailure } from "../sql/mcpToolLists.ts";
import { markToolDispatched, readToolDispatch, settleToolDispatch } from "../sql/toolDispatches.ts";
import { createWorkspace } from "../sql/workspaces.ts";
import { createAgent, createTestDatabase, startRun, type TestDatabase } from "./helpers.ts";

const ENDPOINT = "https://mcp.example.com/mcp";
const TOOLS = [{ name: "search_issues", inputSchema: { type: "object" } }];

let db: TestDatabase;
let agentId: string;
// roles are global to the cluster: a random hex suffix, dropped afterwards
const suffix = randomBytes(4).toString("hex");
const boundToB = `ev_mcp_b_${suffix}`;
const boundToA = `ev_mcp_a_${suffix}`;
const workerRole = `ev_mcp_w_${suffix}`;
const sessions: pg.Client[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  agentId = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
});
afterEach(async () => {
  await db.pool.query("update everruns_private.clock_offset set offset_by = interval '0'");
});
afterAll(async () => {
  for (const s of sessions) await s.end().catch(() => undefined);
  for (const role of [boundToB, boundToA, workerRole]) {
    await db?.pool.query(`select everruns.unbind_role('${role}')`).catch(() => undefined);
    await db?.pool.query(`drop owned by ${role}`).catch(() => undefined);
    await db?.pool.query(`drop role if exists ${role}`).catch(() => undefined);
  }
  await db?.drop();
});

/** A run of `agent` with its first step begun (attempt 1). */
async function runningRun(agent = agentId): Promise<string> {
  const runId = await startRun(db.pool, agent);
  const begun = await beginStep(db.pool, runId);
  expect(begun?.run).toMatchObject({ step_cursor: 1, step_attempt: 1 });
  return runId;
}

async function connectAs(role: string): Promise<pg.Client> {
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  const session = new pg.Client({ connectionString: url.toString() });
  await session.connect();
  sessions.push(session);
  return session;
}

describe("pinned tool lists", () => {
  it("pins a new list, and the first pin wins over a later attempt's", async () => {
    const runId = await runningRun();
    expect(await pinnedMcpTools(db.pool, runId)).toEqual([]);
    const first = await pinMcpToolList(db.pool, {
      runId,
      seq: 1,
      attempt: 1,
      server: "github",
      endpoint: ENDPOINT,
      tools: TOOLS,
      serverInfo: { name: "gh", version: "1.0" },
    });
    expect(first).toMatchObject({ tools: TOOLS, serverInfo: { name: "gh", version: "1.0" } });
    expect(first.listId).toMatch(/^\d+$/);
    expect(new Date(first.fetchedAt).toISOString()).toBe(first.fetchedAt);

    // the step begins again (a crash): its pin stays, whatever the server lists now
    expect((await beginStep(db.pool, runId))?.run.step_attempt).toBe(2);
    const again = await pinMcpToolList(db.pool, { runId, seq: 1, attempt: 2, server: "github", endpoint: ENDPOINT, tools: [{ name: "other" }] });
    expect(again).toEqual(first);
    // another server is pinned beside it (serverInfo absent: null)
    const files = await pinMcpToolList(db.pool, { runId, seq: 1, attempt: 2, server: "files", endpoint: "stdio:node server.js", tools: [] });
    expect(files.serverInfo).toBeNull();
    expect(await pinnedMcpTools(db.pool, runId)).toEqual([
      { server: "files", ...files },
      { server: "github", ...first },
    ]);
    const { rows } = await db.pool.query("select tools_bytes = octet_length(tools::text) as sized, endpoint from everruns.mcp_tool_lists where id = $1", [
      first.listId,
    ]);
    expect(rows[0]).toEqual({ sized: true, endpoint: ENDPOINT });
  });

  it("refuses a stale attempt (StaleAttemptError) and writes nothing", async () => {
    const runId = await runningRun();
    await beginStep(db.pool, runId);
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS })).rejects.toBeInstanceOf(
      StaleAttemptError,
    );
    await expect(pinMcpToolList(db.pool, { runId, seq: 2, attempt: 2, server: "github", endpoint: ENDPOINT, tools: TOOLS })).rejects.toBeInstanceOf(
      StaleAttemptError,
    );
    expect(await pinnedMcpTools(db.pool, runId)).toEqual([]);
  });

  it("refuses tools that are not an array, and a list of another agent, server or a failed one", async () => {
    const runId = await runningRun();
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT })).rejects.toThrow(/must be a JSON array/);
    const otherAgent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const otherRun = await runningRun(otherAgent);
    const foreign = await pinMcpToolList(db.pool, { runId: otherRun, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS });
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "github", listId: foreign.listId, endpoint: ENDPOINT })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    const own = await pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS });
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "gitlab", listId: own.listId, endpoint: ENDPOINT })).rejects.toThrow(
      /not a successful list of MCP server gitlab/,
    );
    await recordMcpListFailure(db.pool, runId, "gitlab", ENDPOINT, "connection refused");
    const { rows } = await db.pool.query<{ id: string }>("select id::text from everruns.mcp_tool_lists where server = 'gitlab' and error is not null");
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "gitlab", listId: rows[0]!.id, endpoint: ENDPOINT })).rejects.toThrow(
      /not a successful list/,
    );
    await expect(pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "bad name", endpoint: ENDPOINT, tools: [] })).rejects.toThrow();
  });

  it("reuses a cached list within its max age by the database clock, and pins it as it is", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "hi" }] });
    const firstRun = await runningRun(agent);
    const listed = await pinMcpToolList(db.pool, { runId: firstRun, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS });
    await recordMcpListFailure(db.pool, firstRun, "github", ENDPOINT, "x".repeat(5000));
    const secondRun = await runningRun(agent);
    expect(await cachedMcpToolList(db.pool, secondRun, "github", ENDPOINT, 300)).toEqual(listed);
    expect(await cachedMcpToolList(db.pool, secondRun, "github", ENDPOINT, 0)).toBeNull();
    expect(await cachedMcpToolList(db.pool, secondRun, "github", "https://elsewhere/mcp", 300)).toBeNull();
    expect(await cachedMcpToolList(db.pool, secondRun, "gitlab", ENDPOINT, 300)).toBeNull();
    const pinned = await pinMcpToolList(db.pool, { runId: secondRun, seq: 1, attempt: 1, server: "github", listId: listed.listId, endpoint: ENDPOINT });
    expect(pinned).toEqual(listed);
    expect((await db.pool.query("select count(*)::int as n from everruns.run_mcp_tools where list_id = $1", [listed.listId])).rows[0]).toEqual({ n: 2 });
    // 301 s later by the database clock, a 300 s old list is too old; a 400 s max age still takes it
    await db.pool.query("update everruns_private.clock_offset set offset_by = interval '301 seconds'");
    expect(await cachedMcpToolList(db.pool, secondRun, "github", ENDPOINT, 300)).toBeNull();
    expect(await cachedMcpToolList(db.pool, secondRun, "github", ENDPOINT, 400)).toEqual(listed);
    // a new version of the agent lists again
    await db.pool.query('update everruns.agents set config = config || \'{"model": "v2"}\' where id = $1', [agent]);
    const v2Run = await runningRun(agent);
    expect(await cachedMcpToolList(db.pool, v2Run, "github", ENDPOINT, 400)).toBeNull();
    // the failure is kept, cut to 2000 characters, and the console's view shows both
    const { rows } = await db.pool.query(
      "select status, tool_count, pinned_runs, char_length(last_error) as error_length, endpoint from everruns.mcp_servers where agent_id = $1",
      [agent],
    );
    expect(rows).toEqual([{ status: "error", tool_count: 1, pinned_runs: 2, error_length: 2000, endpoint: ENDPOINT }]);
  });
});

describe("tool dispatches", () => {
  it("counts dispatches with who authorized them, and settles only when the count matches", async () => {
    const runId = await runningRun();
    expect(await readToolDispatch(db.pool, runId, "call_1")).toBeNull();
    const mark = { runId, seq: 1, attempt: 1, turnRunId: runId, toolCallId: "call_1", toolName: "github__create_issue", authorizedBy: null };
    expect(await markToolDispatched(db.pool, mark)).toBe(1);
    const first = await readToolDispatch(db.pool, runId, "call_1");
    expect(first).toMatchObject({ dispatches: 1, state: "in_flight", authorizedBy: null, lastRunId: runId, lastSeq: 1, lastAttempt: 1 });
    expect(first!.firstDispatchedAt).toBe(first!.lastDispatchedAt);

    // the step begins again and the call is sent again, authorized by an answer
    await beginStep(db.pool, runId);
    await expect(markToolDispatched(db.pool, mark)).rejects.toBeInstanceOf(StaleAttemptError);
    expect(await markToolDispatched(db.pool, { ...mark, attempt: 2, authorizedBy: "outcome-call_1" })).toBe(2);
    const second = await readToolDispatch(db.pool, runId, "call_1");
    expect(second).toMatchObject({ dispatches: 2, state: "in_flight", authorizedBy: "outcome-call_1", lastAttempt: 2 });
    expect(second!.firstDispatchedAt).toBe(first!.firstDispatchedAt);

    const settle = { runId, seq: 1, attempt: 2, turnRunId: runId, toolCallId: "call_1", dispatches: 1 };
    expect(await settleToolDispatch(db.pool, settle)).toBe(false);
    await expect(settleToolDispatch(db.pool, { ...settle, attempt: 1, dispatches: 2 })).rejects.toBeInstanceOf(StaleAttemptError);
    expect((await readToolDispatch(db.pool, runId, "call_1"))!.state).toBe("in_flight");
    expect(await settleToolDispatch(db.pool, { ...settle, dispatches: 2 })).toBe(true);
    expect((await readToolDispatch(db.pool, runId, "call_1"))!.state).toBe("not_delivered");
    expect(await settleToolDispatch(db.pool, { ...settle, dispatches: 2 })).toBe(false);
    // dispatched again: in flight again
    expect(await markToolDispatched(db.pool, { ...mark, attempt: 2 })).toBe(3);
    expect(await readToolDispatch(db.pool, runId, "call_1")).toMatchObject({ dispatches: 3, state: "in_flight", authorizedBy: null });
  });

  it("takes a turn of the same thread only", async () => {
    const runId = await runningRun();
    const otherRun = await runningRun();
    await expect(
      markToolDispatched(db.pool, { runId, seq: 1, attempt: 1, turnRunId: otherRun, toolCallId: "call_x", toolName: "t", authorizedBy: null }),
    ).rejects.toThrow(/not of the thread/);
    // a continuation of the thread (after an answer) dispatches the earlier run's call
    await db.pool.query("update everruns.runs set status = 'succeeded', finished_at = now() where id = $1", [runId]);
    const { rows } = await db.pool.query<{ id: string }>(
      "insert into everruns.runs (agent_id, input, thread_id) select agent_id, $2, thread_id from everruns.runs where id = $1 returning id",
      [runId, JSON.stringify({ messages: [{ role: "user", content: "again" }] })],
    );
    const later = rows[0]!.id;
    await beginStep(db.pool, later);
    expect(
      await markToolDispatched(db.pool, { runId: later, seq: 1, attempt: 1, turnRunId: runId, toolCallId: "call_y", toolName: "t", authorizedBy: "a" }),
    ).toBe(1);
    expect(await readToolDispatch(db.pool, runId, "call_y")).toMatchObject({ lastRunId: later, authorizedBy: "a" });
  });
});

describe("roles", () => {
  it("a role bound to another workspace sees none of it; one bound to the rows' workspace sees them", async () => {
    const runId = await runningRun();
    await pinMcpToolList(db.pool, { runId, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS });
    await markToolDispatched(db.pool, { runId, seq: 1, attempt: 1, turnRunId: runId, toolCallId: "call_1", toolName: "t", authorizedBy: null });
    const b = await createWorkspace(db.pool, `mcp-b-${suffix}`);
    for (const role of [boundToB, boundToA]) await db.pool.query(`create role ${role} login nosuperuser`);
    await db.pool.query("select everruns.bind_role($1, $2, 'read')", [boundToB, b.name]);
    await db.pool.query("select everruns.bind_role($1, 'default', 'read')", [boundToA]);
    const count = async (session: pg.Client, relation: string) =>
      (await session.query<{ n: number }>(`select count(*)::int as n from everruns.${relation}`)).rows[0]!.n;
    const inB = await connectAs(boundToB);
    const inA = await connectAs(boundToA);
    for (const relation of ["mcp_tool_lists", "run_mcp_tools", "tool_dispatches", "mcp_servers"]) {
      expect({ relation, n: await count(inB, relation) }).toEqual({ relation, n: 0 });
      expect(await count(inA, relation)).toBeGreaterThan(0);
    }
    // reading only: the worker's functions are not theirs
    await expect(inA.query("select everruns_private.tool_dispatch($1, 'call_1')", [runId])).rejects.toMatchObject({ code: "42501" });
    await expect(inA.query("delete from everruns.tool_dispatches")).rejects.toMatchObject({ code: "42501" });
  });

  it("a role granted everruns_worker (neither owner nor superuser) pins, reads, marks and settles", async () => {
    await db.pool.query(`create role ${workerRole} login nosuperuser in role everruns_worker`);
    const worker = await connectAs(workerRole);
    const runId = await startRun(db.pool, agentId);
    expect((await beginStep(worker, runId))?.run.step_attempt).toBe(1);
    const pinned = await pinMcpToolList(worker, { runId, seq: 1, attempt: 1, server: "github", endpoint: ENDPOINT, tools: TOOLS });
    expect(await pinnedMcpTools(worker, runId)).toEqual([{ server: "github", ...pinned }]);
    expect(await cachedMcpToolList(worker, runId, "github", ENDPOINT, 60)).toEqual(pinned);
    await recordMcpListFailure(worker, runId, "files", "stdio:node server.js", "spawn ENOENT");
    const mark = { runId, seq: 1, attempt: 1, turnRunId: runId, toolCallId: "call_w", toolName: "github__x", authorizedBy: null };
    expect(await markToolDispatched(worker, mark)).toBe(1);
    expect(await settleToolDispatch(worker, { ...mark, dispatches: 1 })).toBe(true);
    expect((await readToolDispatch(worker, runId, "call_w"))!.state).toBe("not_delivered");
  });

  it("a dispatch is committed durably even from a session with synchronous_commit off", async () => {
    const runId = await runningRun();
    const session = await connectAs("postgres");
    await session.query("set synchronous_commit = off");
    await session.query("begin");
    await markToolDispatched(session, { runId, seq: 1, attempt: 1, turnRunId: runId, toolCallId: "call_d", toolName: "t", authorizedBy: null });
    expect((await session.query<{ s: string }>("select current_setting('synchronous_commit') as s")).rows[0]!.s).toBe("on");
    await session.query("commit");
    expect((await session.query<{ s: string }>("select current_setting('synchronous_commit') as s")).rows[0]!.s).toBe("off");
  });
});
