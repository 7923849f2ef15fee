// Row-level security and bound SQL roles (issue "Workspaces and access control",
// db/migrations/000006_keys_and_row_security.sql), from the database side: two workspaces, A
// (`default`) and B, each with agents, finished / interrupted / queued runs (steps, events,
// signals), secrets, API keys and audit rows; roles connecting as themselves.
//
// - Every table of the everruns schema has FORCE row-level security and a workspace policy, and
//   every view reads with its caller's rights: enumerated from pg_catalog, so a new table or
//   view is covered (or fails here) without touching this file.
// - A role bound to B with everruns.bind_role sees exactly B's rows in every table it may read,
//   whatever it sets; starts runs only for B's agents (they land in B, enqueued); cannot touch A's
//   runs, threads or workspace; cannot read secrets or keys; is its own audit actor. A 'read'
//   binding starts nothing. bind_role refuses what row-level security cannot confine.
// - A role granted everruns_api sees exactly the workspace its setting names, nothing without.
// - Nor does a bound role learn of A's runs by LISTENing to the engine's notifications.
// (A tampered audit row is detected: db/test/audit-log.test.ts.)
//
// Roles are global to the cluster: the test's roles get a random suffix and are dropped after.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker } from "../../worker/main.ts";
import { createApiKey } from "../sql/apiKeys.ts";
import { setModelPrice } from "../sql/setModelPrice.ts";
import { setSecret } from "../sql/setSecret.ts";
import { createWorkspace } from "../sql/workspaces.ts";
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from "./helpers.ts";

const A_ID = "00000000-0000-0000-0000-000000000001"; // `default`
const suffix = randomBytes(4).toString("hex");
// identifiers from a random hex suffix, never from input
const writer = `ev_rls_w_${suffix}`; // bound to B, 'write'
const reader = `ev_rls_r_${suffix}`; // bound to B, 'read'
const apiMember = `ev_rls_api_${suffix}`; // granted everruns_api
const groupRole = `ev_rls_grp_${suffix}`; // nologin, bound to B, 'write'
const groupMember = `ev_rls_mem_${suffix}`; // login, member of groupRole, not bound itself
const superRole = `ev_rls_su_${suffix}`; // superuser: bind_role must refuse it
const bypassRole = `ev_rls_by_${suffix}`; // BYPASSRLS: bind_role must refuse it
const workerMember = `ev_rls_wk_${suffix}`; // granted everruns_worker: bind_role must refuse it
const apiLogin = `ev_rls_apil_${suffix}`; // granted everruns_api, as an API's login role: bind_role must refuse it
const apiHeld = `ev_rls_apih_${suffix}`; // nologin, granted to apiLogin: bind_role must refuse it too
const groupA = `ev_rls_grpa_${suffix}`; // nologin, bound to A, 'read'
const memberOfBoth = `ev_rls_both_${suffix}`; // login, member of groupRole (B) and groupA (A)
const ROLES = [writer, reader, apiMember, groupMember, memberOfBoth, groupRole, groupA, superRole, bypassRole, workerMember, apiLogin, apiHeld];

const hello = { messages: [{ role: "user", content: "hello" }] };
const secretKey = randomBytes(32);

interface Workspace {
  id: string;
  agentId: string;
  bankerId: string;
  finishedRunId: string;
  interruptedRunId: string;
  queuedRunId: string;
  threadId: string;
}

let db: TestDatabase;
let A: Workspace;
let B: Workspace;
let bName: string;
const sessions: pg.Client[] = [];

async function insertAgent(workspaceId: string, name: string, config: Record<string, unknown>): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    workspaceId,
    name,
    config,
  ]);
  return rows[0]!.id;
}

/** As the superuser: the run lands in its agent's workspace (tg_runs__prepare). */
async function insertRun(agentId: string): Promise<{ id: string; thread_id: string }> {
  const { rows } = await db.pool.query<{ id: string; thread_id: string }>(
    "insert into everruns.runs (agent_id, input) values ($1, $2) returning id, thread_id",
    [agentId, hello],
  );
  return rows[0]!;
}

async function populate(workspaceId: string, tag: string): Promise<Omit<Workspace, "finishedRunId" | "interruptedRunId" | "queuedRunId"> & { runs: string[] }> {
  const agentId = await insertAgent(workspaceId, `${tag}-agent`, {
    provider: "scripted",
    model: "s",
    tools: ["echo"],
    script: [{ text: `calling ${tag}`, tool_calls: [{ name: "echo", arguments: { tag } }] }, { text: `done ${tag}` }],
  });
  const bankerId = await insertAgent(workspaceId, `${tag}-banker`, {
    provider: "scripted",
    model: "s",
    tools: [{ name: "echo", requires_approval: true }],
    script: [{ text: "may I?", tool_calls: [{ name: "echo", arguments: { tag } }] }, { text: "done" }],
  });
  const finished = await insertRun(agentId);
  const interrupted = await insertRun(bankerId);
  // a batch with one item, not started (000025)
  const { rows: batches } = await db.pool.query<{ id: string }>("insert into everruns.batches (agent_id, name) values ($1, $2) returning id", [
    agentId,
    `${tag}-batch`,
  ]);
  await db.pool.query("insert into everruns.batch_items (batch_id, custom_id, input) values ($1, $2, $3)", [batches[0]!.id, `${tag}-item`, hello]);
  // triggers (000026): a paused schedule and a fire it skipped, an event, a webhook and a delivery,
  // a disabled endpoint with a failed delivery and its attempt (nothing here runs or sends)
  const { rows: schedules } = await db.pool.query<{ id: string }>(
    "insert into everruns.schedules (name, agent_id, cron, input, paused) values ($1, $2, '0 9 * * *', $3, true) returning id",
    [`${tag}-schedule`, agentId, hello],
  );
  await db.pool.query(
    "insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason) values ($1, $2, now(), 'skipped', 'paused')",
    [workspaceId, schedules[0]!.id],
  );
  await db.pool.query(
    "insert into everruns.activations (workspace_id, agent_id, thread_id, input, source, run_id, status) values ($1, $2, $3, $4, 'sql', $5, 'started')",
    [workspaceId, agentId, finished.thread_id, hello, finished.id],
  );
  const { rows: webhooks } = await db.pool.query<{ id: string }>(
    "insert into everruns.webhooks (name, agent_id, secret_names) values ($1, $2, $3) returning id",
    [`${tag}-hook`, agentId, [`${tag}-secret`]],
  );
  await db.pool.query(
    "insert into everruns.webhook_deliveries (workspace_id, webhook_id, delivery_key, payload, payload_bytes, run_id) values ($1, $2, $3, '{}', 2, $4)",
    [workspaceId, webhooks[0]!.id, `${tag}-delivery`, finished.id],
  );
  const { rows: endpoints } = await db.pool.query<{ id: string }>(
    "insert into everruns.notification_endpoints (workspace_id, name, url, events, secret_name, enabled) values ($3, $1, 'https://example.com/hook', '{run.failed}', $2, false) returning id",
    [`${tag}-endpoint`, `${tag}-secret`, workspaceId],
  );
  const { rows: deliveries } = await db.pool.query<{ id: string }>(
    "insert into everruns.notification_deliveries (workspace_id, endpoint_id, event, subject_id, payload, status) values ($1, $2, 'run.failed', $3, '{}', 'failed') returning id",
    [workspaceId, endpoints[0]!.id, finished.id],
  );
  await db.pool.query(
    "insert into everruns.notification_attempts (workspace_id, delivery_id, attempt, finished_at, status_code, outcome) values ($1, $2, 1, now(), 500, 'failed')",
    [workspaceId, deliveries[0]!.id],
  );
  // MCP (000027): a server's tool list pinned to the finished run, a failed listing, a dispatch
  const { rows: lists } = await db.pool.query<{ id: string }>(
    "insert into everruns.mcp_tool_lists (workspace_id, agent_id, agent_version, server, endpoint, tools) values ($1, $2, 1, 'github', $3, $4) returning id::text",
    [workspaceId, agentId, `https://${tag}.example.com/mcp`, JSON.stringify([{ name: `${tag}-tool` }])],
  );
  await db.pool.query(
    "insert into everruns.mcp_tool_lists (workspace_id, agent_id, agent_version, server, endpoint, error) values ($1, $2, 1, 'github', $3, 'refused')",
    [workspaceId, agentId, `https://${tag}.example.com/mcp`],
  );
  await db.pool.query("insert into everruns.run_mcp_tools (run_id, server, list_id, workspace_id) values ($1, 'github', $2, $3)", [
    finished.id,
    lists[0]!.id,
    workspaceId,
  ]);
  await db.pool.query(
    `insert into everruns.tool_dispatches (run_id, tool_call_id, workspace_id, tool_name, last_run_id, last_seq, last_attempt)
     values ($1, $2, $3, 'github__search', $1, 1, 1)`,
    [finished.id, `${tag}-call`, workspaceId],
  );
  // MCP OAuth (000028): a connection (its sealed columns and state never readable by the API or bound roles)
  await db.pool.query(
    `insert into everruns.mcp_oauth_connections (workspace_id, server_url, status, client_id, tokens_sealed, connected_at, connected_by)
     values ($1, $2, 'connected', $3, '\\x01'::bytea, now(), 'db:test')`,
    [workspaceId, `https://${tag}.example.com/mcp`, `${tag}-client`],
  );
  // model prices (000029): readable by bound roles, written by the API's operators only
  await setModelPrice(db.pool, { workspaceId, provider: "openai", model: `${tag}-model`, inputPerMillion: 1, outputPerMillion: 2, cacheReadPerMillion: 0.5 });
  await setSecret(db.pool, { name: `${tag}-secret`, value: `value-of-${tag}-secret-1234`, key: secretKey, workspaceId });
  // workflows (000034): an event sent by correlation key that no run waits for yet
  await db.pool.query("insert into everruns.pending_events (workspace_id, name, correlation_key, payload) values ($1, 'po_signed', $2, '{}')", [
    workspaceId,
    `${tag}-po`,
  ]);
  // usage of runs whose history expired (000041), as retention rolls it up
  await db.pool.query(
    `insert into everruns.usage_daily_expired (workspace_id, agent_id, day, runs, llm_calls, input_tokens, output_tokens, cost_usd,
                                               cache_read_tokens, cache_write_tokens, reasoning_tokens)
     values ($1, $2, '2026-01-05', 1, 1, 10, 5, 0.01, 0, 0, 0)`,
    [workspaceId, agentId],
  );
  await createApiKey(db.pool, { name: `${tag}-key`, role: "viewer", workspaceId });
  return { id: workspaceId, agentId, bankerId, threadId: finished.thread_id, runs: [finished.id, interrupted.id] };
}

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = "";
  return url.toString();
}

async function connectAs(role: string): Promise<pg.Client> {
  const session = new pg.Client({ connectionString: urlAs(role) });
  await session.connect();
  sessions.push(session);
  return session;
}

/** Runs `sql` and returns the error it fails with (failing the test when it succeeds). */
async function failure(session: pg.Client | TestDatabase["pool"], sql: string, params: unknown[] = []): Promise<{ code?: string; message: string }> {
  try {
    await session.query(sql, params);
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
  throw new Error(`expected "${sql}" to fail`);
}

interface Relation {
  name: string;
  kind: "table" | "view";
  /** The column that says whose a row is: workspace_id, or id for workspaces; null: none (the test must be taught). */
  workspaceColumn: string | null;
}

/** Every table and view of the everruns schema, from pg_catalog. */
async function everrunsRelations(): Promise<Relation[]> {
  const { rows } = await db.pool.query<{ name: string; kind: string; has_ws: boolean }>(
    `select c.relname as name, c.relkind::text as kind,
            exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped) as has_ws
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'everruns' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      order by c.relname`,
  );
  return rows.map((r) => ({
    name: r.name,
    kind: r.kind === "v" ? "view" : "table",
    workspaceColumn: r.name === "workspaces" ? "id" : r.has_ws ? "workspace_id" : null,
  }));
}

/** How many rows of `relation` belong to `workspaceId`, as the superuser. */
async function ownedRows(relation: Relation, workspaceId: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`select count(*)::int as n from everruns.${relation.name} where ${relation.workspaceColumn} = $1`, [
    workspaceId,
  ]);
  return rows[0]!.n;
}

/**
 * What `session` reads of every relation of the everruns schema: per relation, the workspaces of
 * the rows it sees (null when it may not read it at all: 42501).
 */
async function whatSessionSees(session: pg.Client): Promise<Map<string, string[] | null>> {
  const seen = new Map<string, string[] | null>();
  for (const relation of await everrunsRelations()) {
    if (!relation.workspaceColumn) {
      throw new Error(`everruns.${relation.name} has no workspace_id column: teach db/test/row-security.test.ts whose its rows are`);
    }
    try {
      const { rows } = await session.query<{ ws: string }>(`select ${relation.workspaceColumn}::text as ws from everruns.${relation.name}`);
      seen.set(
        relation.name,
        rows.map((r) => r.ws),
      );
    } catch (error) {
      if ((error as { code?: string }).code !== "42501") throw error;
      seen.set(relation.name, null);
    }
  }
  return seen;
}

/**
 * Checks that `session` sees exactly the rows of `workspaceId` in every relation it may read
 * (all of them, none of another workspace); returns the relations it may not read.
 */
async function expectConfinedTo(session: pg.Client, workspaceId: string | null): Promise<string[]> {
  const unreadable: string[] = [];
  const relations = await everrunsRelations();
  const seen = await whatSessionSees(session);
  for (const relation of relations) {
    const workspaces = seen.get(relation.name);
    if (workspaces === null || workspaces === undefined) {
      unreadable.push(relation.name);
      continue;
    }
    const expected = workspaceId === null ? 0 : await ownedRows(relation, workspaceId);
    expect({ relation: relation.name, foreign: workspaces.filter((ws) => ws !== workspaceId), count: workspaces.length }).toEqual({
      relation: relation.name,
      foreign: [],
      count: expected,
    });
  }
  return unreadable;
}

beforeAll(async () => {
  db = await createTestDatabase();
  bName = `rls-b-${suffix}`;
  const b = await createWorkspace(db.pool, bName);
  const a = await populate(A_ID, `a${suffix}`);
  const bb = await populate(b.id, `b${suffix}`);
  // steps and events: a worker (as the owner, every workspace) runs them to their end
  const worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "error") });
  try {
    for (const [finished, interrupted] of [a.runs, bb.runs]) {
      await waitForStatus(db.pool, finished!, ["succeeded"], 20_000);
      await waitForStatus(db.pool, interrupted!, ["interrupted"], 20_000);
    }
  } finally {
    await worker.stop();
  }
  // with no worker left, these stay queued (their jobs wait)
  const aQueued = await insertRun(a.agentId);
  const bQueued = await insertRun(bb.agentId);
  for (const runId of [a.runs[1], bb.runs[1]]) await db.pool.query("select everruns.send_event($1, 'ping', '{}')", [runId]);
  A = { ...a, finishedRunId: a.runs[0]!, interruptedRunId: a.runs[1]!, queuedRunId: aQueued.id };
  B = { ...bb, finishedRunId: bb.runs[0]!, interruptedRunId: bb.runs[1]!, queuedRunId: bQueued.id };

  const q = (sql: string) => db.pool.query(sql);
  await q(`create role ${writer} login nosuperuser`);
  await q(`create role ${reader} login nosuperuser`);
  await q(`create role ${apiMember} login nosuperuser in role everruns_api`);
  await q(`create role ${groupRole} nologin nosuperuser`);
  await q(`create role ${groupMember} login nosuperuser in role ${groupRole}`);
  await q(`create role ${superRole} nologin superuser`);
  await q(`create role ${bypassRole} nologin nosuperuser bypassrls`);
  await q(`create role ${workerMember} nologin nosuperuser in role everruns_worker`);
  await q(`create role ${apiLogin} login nosuperuser in role everruns_api`);
  await q(`create role ${apiHeld} nologin nosuperuser`);
  await q(`grant ${apiHeld} to ${apiLogin}`);
  await q(`create role ${groupA} nologin nosuperuser`);
  await q(`create role ${memberOfBoth} login nosuperuser in role ${groupRole}, ${groupA}`);
  await db.pool.query("select everruns.bind_role($1, $2, 'write')", [writer, bName]);
  await db.pool.query("select everruns.bind_role($1, $2, 'read')", [reader, b.id]);
  await db.pool.query("select everruns.bind_role($1, $2, 'write')", [groupRole, bName]);
  await db.pool.query("select everruns.bind_role($1, 'default', 'read')", [groupA]);
});

afterAll(async () => {
  for (const session of sessions) await session.end().catch(() => undefined);
  if (!db) return;
  await db.drop(); // the grants to the test roles go with the database
  const url = new URL(db.url);
  url.pathname = "/postgres";
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    for (const role of ROLES) await admin.query(`drop role if exists ${role}`);
  } finally {
    await admin.end();
  }
});

describe("the catalog", () => {
  it("every table of the everruns schema has row-level security enabled and forced, with a policy on the current workspace", async () => {
    const { rows } = await db.pool.query<{ name: string; rls: boolean; forced: boolean; policies: string[]; restrictive: string[] }>(
      `select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
              coalesce((select array_agg(
                                 -- the roles it is for (PUBLIC: every role), then its checks
                                 coalesce((select string_agg(case r when 0 then 'public' else pg_get_userbyid(r)::text end, ',' order by 1)
                                             from unnest(p.polroles) as r), '') || ': ' ||
                                 coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' / ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
                                 order by p.polname)
                          from pg_policy p where p.polrelid = c.oid and p.polpermissive), '{}') as policies,
              coalesce((select array_agg(p.polname || ' ' || p.polcmd::text || ' ' ||
                                         coalesce((select string_agg(pg_get_userbyid(r)::text, ',' order by 1) from unnest(p.polroles) as r), '')
                                         order by p.polname)
                          from pg_policy p where p.polrelid = c.oid and not p.polpermissive), '{}') as restrictive
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'everruns' and c.relkind in ('r', 'p')
        order by c.relname`,
    );
    // the tables of 000006, at least: a catalog query that found nothing would prove nothing
    expect(rows.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "agent_versions",
        "agents",
        "api_keys",
        "audit_log",
        "run_events",
        "run_signals",
        "run_steps",
        "runs",
        "secrets",
        "threads",
        "workspaces",
      ]),
    );
    for (const row of rows) {
      expect({ table: row.name, rls: row.rls, forced: row.forced }).toEqual({ table: row.name, rls: true, forced: true });
      // every role is confined to the current workspace; only the engine's roles (everruns_worker
      // and the owner, the migrating role) have a policy that lets every row through
      const owner = (await db.pool.query<{ owner: string }>("select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = 'everruns'")).rows[0]!
        .owner;
      expect(row.policies.length, `everruns.${row.name}: two policies`).toBe(2);
      const [engine, inWorkspace] = row.policies as [string, string];
      expect(inWorkspace, `everruns.${row.name}: in_workspace`).toMatch(/^public: .*current_workspace_id\(\)/);
      expect(engine.split(": ")[0]!.split(",").sort(), `everruns.${row.name}: engine`).toEqual(["everruns_worker", owner].sort());
      expect(engine, `everruns.${row.name}: engine`).toMatch(/: true \/ true$/);
      // the one restriction: the API does not read the events and steps of a run whose history
      // expired (000040), for select only
      expect(row.restrictive, `everruns.${row.name}: restrictive`).toEqual(
        ["run_events", "run_steps"].includes(row.name) ? ["history_kept r everruns_api"] : [],
      );
    }
  });

  it("every view of the everruns schema reads with its caller's rights (security_invoker), so row-level security applies through it", async () => {
    const { rows } = await db.pool.query<{ name: string; options: string[] | null }>(
      `select c.relname as name, c.reloptions as options
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'everruns' and c.relkind in ('v', 'm')
        order by c.relname`,
    );
    expect(rows.map((r) => r.name)).toContain("usage_daily");
    for (const row of rows)
      expect({ view: row.name, options: row.options ?? [] }).toEqual({ view: row.name, options: expect.arrayContaining(["security_invoker=true"]) as unknown });
  });

  it("the test data covers every relation: each has rows of both workspaces", async () => {
    for (const relation of await everrunsRelations()) {
      if (!relation.workspaceColumn)
        throw new Error(`everruns.${relation.name} has no workspace_id column: teach db/test/row-security.test.ts whose its rows are`);
      expect({ relation: relation.name, a: (await ownedRows(relation, A.id)) > 0, b: (await ownedRows(relation, B.id)) > 0 }).toEqual({
        relation: relation.name,
        a: true,
        b: true,
      });
    }
  });
});

describe("a role bound to workspace B ('write')", () => {
  it("sees exactly B's rows in every table and view it may read, and may not read secrets or API keys at all", async () => {
    const session = await connectAs(writer);
    expect((await session.query<{ ws: string }>("select everruns_private.current_workspace_id()::text as ws")).rows[0]!.ws).toBe(B.id);
    const unreadable = await expectConfinedTo(session, B.id);
    // 000028: MCP OAuth connections are not granted to bound roles (tokens, client secrets)
    expect(unreadable.sort()).toEqual(["api_keys", "mcp_oauth_connections", "secrets"]);
    expect((await failure(session, "select ciphertext from everruns.secrets")).code).toBe("42501");
    expect((await failure(session, "select tokens_sealed from everruns.mcp_oauth_connections")).code).toBe("42501");
    expect((await failure(session, "select key_hash from everruns.api_keys")).code).toBe("42501");
    // nor anything of everruns_private (bindings, audit heads, workers, ...)
    const { rows } = await db.pool.query<{ name: string }>(
      "select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'everruns_private' and c.relkind in ('r', 'p', 'v', 'm')",
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const { name } of rows)
      expect({ name, code: (await failure(session, `select * from everruns_private.${name}`)).code }).toEqual({ name, code: "42501" });
  });

  it("cannot pick another workspace with everruns.workspace_id, for the session or for a transaction", async () => {
    const session = await connectAs(writer);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    expect(await expectConfinedTo(session, B.id)).toEqual(["api_keys", "mcp_oauth_connections", "secrets"]);
    await session.query("begin");
    try {
      await session.query("select set_config('everruns.workspace_id', $1, true)", [A.id]);
      expect((await session.query<{ ws: string }>("select everruns_private.current_workspace_id()::text as ws")).rows[0]!.ws).toBe(B.id);
      expect((await session.query("select id from everruns.runs where id = any($1)", [[A.finishedRunId, A.queuedRunId]])).rows).toEqual([]);
    } finally {
      await session.query("rollback");
    }
  });

  it("starts a run for B's agent: it lands in B, enqueued, and the audit actor is db:<role> even when it sets everruns.actor", async () => {
    const session = await connectAs(writer);
    await session.query("set everruns.actor = 'key:00000000-0000-0000-0000-00000000beef'");
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    const { rows } = await session.query<{ id: string; workspace_id: string; status: string }>(
      "insert into everruns.runs (agent_id, input) values ($1, $2) returning id, workspace_id, status",
      [B.agentId, hello],
    );
    expect(rows[0]).toMatchObject({ workspace_id: B.id, status: "queued" });
    const runId = rows[0]!.id;
    const stored = await db.pool.query<{ workspace_id: string; thread_ws: string }>(
      "select r.workspace_id, t.workspace_id as thread_ws from everruns.runs r join everruns.threads t on t.id = r.thread_id where r.id = $1",
      [runId],
    );
    expect(stored.rows[0]).toEqual({ workspace_id: B.id, thread_ws: B.id });
    const job = await db.pool.query("select task_identifier from graphile_worker.jobs where key = $1", [`run:${runId}`]);
    expect(job.rows).toEqual([{ task_identifier: "run_step" }]);
    const audit = await db.pool.query<{ workspace_id: string; actor: string }>(
      "select workspace_id, actor from everruns.audit_log where action = 'run.started' and target_id = $1",
      [runId],
    );
    expect(audit.rows).toEqual([{ workspace_id: B.id, actor: `db:${writer}` }]);
    // and it reads that row of the audit log, none of A's
    const own = await session.query<{ actor: string }>("select actor from everruns.audit_log where target_id = $1", [runId]);
    expect(own.rows).toEqual([{ actor: `db:${writer}` }]);
  });

  it("cannot start a run for A's agent, on A's thread or answering A's run, nor write a thread or a workspace column of A", async () => {
    const session = await connectAs(writer);
    const before = await db.pool.query<{ runs: number; threads: number }>(
      "select (select count(*)::int from everruns.runs) as runs, (select count(*)::int from everruns.threads) as threads",
    );
    // A's agent is an unknown agent
    expect(await failure(session, "insert into everruns.runs (agent_id, input) values ($1, $2)", [A.agentId, hello])).toMatchObject({
      code: "EV002",
      message: expect.stringMatching(/^unknown agent/) as unknown,
    });
    // B's agent on A's thread: refused
    expect((await failure(session, "insert into everruns.runs (agent_id, input, thread_id) values ($1, $2, $3)", [B.agentId, hello, A.threadId])).code).toMatch(
      /^(EV007|23505|42501)$/,
    );
    // answering A's interrupted run: an unknown parent run
    expect(
      await failure(session, "insert into everruns.runs (agent_id, input, parent_run_id) values ($1, $2, $3)", [
        B.bankerId,
        { messages: [], resume: [{ interruptId: "x", status: "resolved" }] },
        A.interruptedRunId,
      ]),
    ).toMatchObject({ code: "EV005" });
    // naming a workspace: the column is not its to set on runs; on threads the policy refuses A
    expect((await failure(session, "insert into everruns.runs (workspace_id, agent_id, input) values ($1, $2, $3)", [A.id, B.agentId, hello])).code).toBe(
      "42501",
    );
    expect(await failure(session, "insert into everruns.threads (workspace_id, agent_id) values ($1, null)", [A.id])).toMatchObject({
      code: "42501",
      message: expect.stringMatching(/row-level security/) as unknown,
    });
    // nothing else is writable
    for (const sql of [
      "insert into everruns.agents (workspace_id, name, config) values ($1, 'sneaky', '{}')",
      "update everruns.runs set status = 'cancelled' where workspace_id = $1",
      "delete from everruns.runs where workspace_id = $1",
      "update everruns.agents set config = '{}' where workspace_id = $1",
      // 000029: model prices are set by the API's operators (setModelPrice), not by bound roles
      "insert into everruns.model_prices (workspace_id, provider, model, input_per_million, output_per_million) values ($1, 'openai', 'sneaky', 0, 0)",
      "update everruns.model_prices set input_per_million = 0 where workspace_id = $1",
      "delete from everruns.model_prices where workspace_id = $1",
    ]) {
      for (const ws of [A.id, B.id]) expect({ sql, code: (await failure(session, sql, [ws])).code }).toEqual({ sql, code: "42501" });
    }
    const after = await db.pool.query("select (select count(*)::int from everruns.runs) as runs, (select count(*)::int from everruns.threads) as threads");
    expect(after.rows[0]).toEqual(before.rows[0]);
  });

  it("cannot cancel, signal or resume A's runs (unknown run), and can B's", async () => {
    const session = await connectAs(writer);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    const statusOf = async (id: string) => (await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [id])).rows[0]!.status;
    const signals = async (id: string) =>
      (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.run_signals where run_id = $1", [id])).rows[0]!.n;
    const aSignals = await signals(A.queuedRunId);
    for (const [sql, params] of [
      ["select everruns.cancel_run($1)", [A.queuedRunId]],
      ["select everruns.send_event($1, 'payment', '{}')", [A.queuedRunId]],
      ["select everruns.resume_run($1, $2)", [A.interruptedRunId, JSON.stringify([{ interruptId: "x", status: "resolved" }])]],
    ] as Array<[string, unknown[]]>) {
      expect({ sql, ...(await failure(session, sql, params)) }).toMatchObject({
        sql,
        code: "EV005",
        message: expect.stringMatching(/^unknown run/) as unknown,
      });
    }
    expect(await statusOf(A.queuedRunId)).toBe("queued");
    expect(await signals(A.queuedRunId)).toBe(aSignals);
    const continued = await db.pool.query<{ continued_by: string | null }>("select continued_by from everruns.runs where id = $1", [A.interruptedRunId]);
    expect(continued.rows[0]!.continued_by).toBeNull();
    // B's own: allowed
    const extra = await insertRun(B.agentId);
    expect((await session.query<{ woke: boolean }>("select everruns.send_event($1, 'payment', '{}') as woke", [extra.id])).rows[0]!.woke).toBe(false);
    expect((await session.query<{ cancelled: boolean }>("select everruns.cancel_run($1) as cancelled", [extra.id])).rows[0]!.cancelled).toBe(true);
    expect(await statusOf(extra.id)).toBe("cancelled");
  });
});

describe("a role bound to workspace B, listening", () => {
  // NOTIFY is not subject to privileges or row-level security: any role that can connect may
  // LISTEN on the channels the triggers notify (everruns:runs carries `<run id>:<workspace id>`,
  // everruns:events `<run id>:<seq>`, everruns:cancel the run id), for every workspace.
  // LISTEN takes no privilege in Postgres: any role that can connect hears every notification of
  // the database. The engine's notifications are hints for its own processes (the API's events
  // hub re-reads rows under the subscriber's key), so they carry ids and counters only: a bound
  // role can learn that some run of another workspace changed, never what it holds.
  it("hears only ids and counters in the engine's notifications, never a run's contents", async () => {
    const session = await connectAs(writer);
    const heard: string[] = [];
    session.on("notification", (n) => heard.push(`${n.channel} ${n.payload ?? ""}`));
    for (const channel of ["everruns:runs", "everruns:events", "everruns:cancel"]) await session.query(`listen "${channel}"`);
    const aRun = await insertRun(A.agentId);
    await db.pool.query("select everruns.cancel_run($1)", [aRun.id]);
    // then one of B's: notifications come in commit order, so A's would be heard by then
    const bRun = await insertRun(B.agentId);
    await waitFor("B's run to be heard", () => heard.some((h) => h.includes(bRun.id)), 10_000);
    const uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    const idsOnly = new RegExp(`^everruns:(runs ${uuid}:${uuid}|events ${uuid}:\\d+|cancel ${uuid})$`);
    expect(heard.filter((h) => !idsOnly.test(h))).toEqual([]);
  });
});

describe("a role bound to workspace B ('read')", () => {
  it("reads B's rows only, and may not start, cancel, signal or resume runs", async () => {
    const session = await connectAs(reader);
    expect(await expectConfinedTo(session, B.id)).toEqual(["api_keys", "mcp_oauth_connections", "secrets"]);
    const before = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs");
    for (const [sql, params] of [
      ["insert into everruns.runs (agent_id, input) values ($1, $2)", [B.agentId, hello]],
      ["insert into everruns.threads (agent_id) values ($1)", [B.agentId]],
      ["select everruns.cancel_run($1)", [B.queuedRunId]],
      ["select everruns.send_event($1, 'payment', '{}')", [B.queuedRunId]],
      ["select everruns.resume_run($1, '[]')", [B.interruptedRunId]],
    ] as Array<[string, unknown[]]>) {
      expect({ sql, code: (await failure(session, sql, params)).code }).toEqual({ sql, code: "42501" });
    }
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs")).rows[0]!.n).toBe(before.rows[0]!.n);
    expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [B.queuedRunId])).rows[0]!.status).toBe("queued");
  });
});

describe("a login role that is a member of a bound role", () => {
  // A bound group role granted to login roles is the usual way to give several integrations the
  // same rights: each member acts with the group's privileges, and must be confined like it.
  it("is confined to the group's workspace: it cannot pick workspace A with everruns.workspace_id", async () => {
    const session = await connectAs(groupMember);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    const agents = await session.query<{ workspace_id: string }>("select workspace_id::text from everruns.agents");
    expect(agents.rows.filter((r) => r.workspace_id !== B.id)).toEqual([]);
    const before = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where workspace_id = $1", [A.id]);
    await session.query("insert into everruns.runs (agent_id, input) values ($1, $2)", [A.agentId, hello]).catch(() => undefined);
    expect((await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where workspace_id = $1", [A.id])).rows[0]!.n).toBe(
      before.rows[0]!.n,
    );
  });
});

describe("a login role that is a member of roles bound to different workspaces", () => {
  it("is not given both: it never sees rows of two workspaces", async () => {
    const session = await connectAs(memberOfBoth);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    for (const [relation, seen] of await whatSessionSees(session)) {
      expect({ relation, workspaces: new Set(seen ?? []).size <= 1 }).toEqual({ relation, workspaces: true });
    }
    expect((await failure(session, "insert into everruns.runs (agent_id, input) values ($1, $2)", [A.agentId, hello])).code).toMatch(/^(42501|EV002)$/);
  });
});

describe("everruns.bind_role", () => {
  it("refuses superusers, BYPASSRLS roles, Everruns' own roles, unknown roles and workspaces, and other access levels", async () => {
    const bind = (role: string, workspace: string, access: string) => failure(db.pool, "select everruns.bind_role($1, $2, $3)", [role, workspace, access]);
    expect(await bind(superRole, bName, "read")).toMatchObject({ code: "EV010", message: expect.stringMatching(/superuser or has BYPASSRLS/) as unknown });
    expect(await bind(bypassRole, bName, "read")).toMatchObject({ code: "EV010", message: expect.stringMatching(/superuser or has BYPASSRLS/) as unknown });
    for (const own of ["everruns_api", "everruns_worker", workerMember]) {
      expect(await bind(own, bName, "read")).toMatchObject({ code: "EV010", message: expect.stringMatching(/one of Everruns' own roles/) as unknown });
    }
    expect(await bind(`ev_rls_nobody_${suffix}`, bName, "read")).toMatchObject({ code: "EV010", message: expect.stringMatching(/does not exist/) as unknown });
    expect(await bind(reader, `no-such-workspace-${suffix}`, "read")).toMatchObject({
      code: "EV005",
      message: expect.stringMatching(/^unknown workspace/) as unknown,
    });
    expect(await bind(reader, bName, "admin")).toMatchObject({ code: "EV010", message: expect.stringMatching(/access must be 'read' or 'write'/) as unknown });
    // nothing was bound by any of them
    const { rows } = await db.pool.query<{ role_name: string; workspace_id: string; access: string }>(
      "select role_name, workspace_id::text, access from everruns_private.role_bindings",
    );
    const byName = (x: { role_name: string }, y: { role_name: string }) => (x.role_name < y.role_name ? -1 : 1);
    expect(rows.sort(byName)).toEqual(
      [
        { role_name: writer, workspace_id: B.id, access: "write" },
        { role_name: reader, workspace_id: B.id, access: "read" },
        { role_name: groupRole, workspace_id: B.id, access: "write" },
        { role_name: groupA, workspace_id: A.id, access: "read" },
      ].sort(byName),
    );
  });

  it("refuses a member of everruns_api (an API's login role), and a role one holds: bound, the API would act in that workspace whatever the key", async () => {
    for (const role of [apiLogin, apiHeld]) {
      expect(await failure(db.pool, "select everruns.bind_role($1, $2, 'read')", [role, bName])).toMatchObject({
        code: "EV010",
        message: expect.stringMatching(/one of Everruns' own roles/) as unknown,
      });
    }
    expect((await db.pool.query("select 1 from everruns_private.role_bindings where role_name = any($1)", [[apiLogin, apiHeld]])).rows).toEqual([]);
  });

  it("is for administrators: neither a bound role nor everruns_api may call it (or create a workspace)", async () => {
    for (const role of [writer, apiMember]) {
      const session = await connectAs(role);
      expect((await failure(session, "select everruns.bind_role($1, $2, 'write')", [role, "default"])).code).toBe("42501");
      expect((await failure(session, "select everruns.unbind_role($1)", [writer])).code).toBe("42501");
      expect((await failure(session, "select everruns_private.create_workspace('sneaky')")).code).toBe("42501");
    }
  });
});

describe("a role granted everruns_api (the API's)", () => {
  it("sees exactly the workspace its everruns.workspace_id names (A, then B), and nothing without one", async () => {
    const session = await connectAs(apiMember);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    expect(await expectConfinedTo(session, A.id)).toEqual(["api_keys"]);
    // secrets: metadata columns only, never the ciphertext
    expect((await failure(session, "select ciphertext from everruns.secrets")).code).toBe("42501");
    // MCP OAuth connections (000028): never the sealed columns nor the state
    for (const column of ["tokens_sealed", "client_information_sealed", "code_verifier_sealed", "flow_client_sealed", "state"]) {
      expect({ column, code: (await failure(session, `select ${column} from everruns.mcp_oauth_connections`)).code }).toEqual({ column, code: "42501" });
    }
    await session.query("select set_config('everruns.workspace_id', $1, false)", [B.id]);
    expect(await expectConfinedTo(session, B.id)).toEqual(["api_keys"]);
    await session.query("select set_config('everruns.workspace_id', '', false)");
    expect(await expectConfinedTo(session, null)).toEqual(["api_keys"]);
    await session.query("select set_config('everruns.workspace_id', 'not-a-uuid', false)");
    expect(await expectConfinedTo(session, null)).toEqual(["api_keys"]);
  });

  it("in workspace A, refuses B's runs (unknown run) and writes nothing into B", async () => {
    const session = await connectAs(apiMember);
    await session.query("select set_config('everruns.workspace_id', $1, false)", [A.id]);
    for (const [sql, params] of [
      ["select everruns.cancel_run($1)", [B.queuedRunId]],
      ["select everruns.send_event($1, 'payment', '{}')", [B.queuedRunId]],
      ["select everruns.resume_run($1, '[]')", [B.interruptedRunId]],
      ["select everruns.verify_audit($1)", [B.id]],
    ] as Array<[string, unknown[]]>) {
      expect({ sql, ...(await failure(session, sql, params)) }).toMatchObject({ sql, code: "EV005", message: expect.stringMatching(/^unknown/) as unknown });
    }
    expect((await failure(session, "insert into everruns.runs (agent_id, input) values ($1, $2)", [B.agentId, hello])).code).toBe("EV002");
    expect((await failure(session, "insert into everruns.agents (workspace_id, name, config) values ($1, 'sneaky', '{}')", [B.id])).code).toBe("42501");
    expect((await failure(session, "select * from everruns_private.list_secrets($1)", [B.id])).code).toBe("EV005");
    expect((await failure(session, "select everruns_private.delete_secret($1, $2)", [B.id, `b${suffix}-secret`])).code).toBe("EV005");
    expect((await failure(session, "select * from everruns_private.list_api_keys($1)", [B.id])).code).toBe("EV005");
    expect((await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [B.queuedRunId])).rows[0]!.status).toBe("queued");
    expect((await db.pool.query("select 1 from everruns.secrets where workspace_id = $1", [B.id])).rows).toHaveLength(1);
  });
});
