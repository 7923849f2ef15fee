// Workspace isolation through every surface of the API (issue "Workspaces and access control"):
// two workspaces, A (`default`) and B, each with agents, finished runs (steps, events), an
// interrupted run, queued runs, a signal, a secret, audit rows and API keys of every role; a real
// API, a real Postgres (the worker runs the runs, then stops so queued runs stay queued).
//
// - GraphQL over HTTP: every root field of Query and Mutation, enumerated from the introspected
//   schema. Queries are built from the schema (connections, lists, objects; required arguments
//   filled from B's own rows as B's key reads them), and A's keys must see nothing of B in any
//   answer while B's key sees B's objects through the same query (so no check passes vacuously);
//   dashboard figures must be A's own figures exactly. Mutations are aimed at B's objects with
//   A's admin key and must change nothing of B; each needs its role. A field the test cannot
//   handle fails it, saying to teach the test about it.
// - graphql-ws: a key in connection_init or the socket is closed (4401); runEvents / runUpdated of
//   B's run are refused to A; runUpdated of every run shows A only A's runs.
// - REST, SSE and AG-UI: every route of the express app (the app's own list, compared with the
//   test's): 401 without a valid key (none, malformed, unknown, revoked, expired), 403 naming the
//   role for a viewer's changes, 404 for the other workspace's runs and agents.
// The database side (bound SQL roles, the catalog) is db/test/row-security.test.ts.
import { randomBytes, randomUUID } from "node:crypto";
import type { Express } from "express";
import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  isAbstractType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from "graphql";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../../db/sql/apiKeys.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createTestDatabase, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import type { ApiKeyRole } from "../../lib/api-key.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { sleep } from "../../lib/sleep.ts";
import { startWorker } from "../../worker/main.ts";
import { startApi, type ApiHandle } from "../server.ts";
import { WATCH_STARTED } from "../events-hub.ts";

const ROLES: ApiKeyRole[] = ["viewer", "operator", "admin"];
const ROLE_RANK: Record<ApiKeyRole, number> = { viewer: 0, operator: 1, admin: 2 };
const A_ID = "00000000-0000-0000-0000-000000000001";
const hello = { messages: [{ role: "user", content: "hello" }] };
const secretKey = randomBytes(32);
const log = consoleLogger("[test-isolation]", "error");

/** One workspace's objects, as the superuser made them. */
interface Side {
  label: "A" | "B";
  /** In the name of every object of this workspace (never in the other's). */
  tag: string;
  wsId: string;
  wsName: string;
  agentId: string;
  agentName: string;
  agentNodeId: string;
  finishedRunIds: string[];
  interruptedRunId: string;
  interruptId: string;
  queuedRunIds: string[];
  /** The thread of the first finished run. */
  threadId: string;
  secretName: string;
  keys: Record<ApiKeyRole, string>;
  /** A key for revokeApiKey to aim at. */
  spareKeyId: string;
  /** A queued (not started) batch of two items. */
  batchId: string;
  /** Triggers (issue 16): a schedule with one fire, a bearer webhook with one delivery, an endpoint with one failed delivery. */
  scheduleId: string;
  webhookId: string;
  endpointId: string;
  notificationDeliveryId: string;
}

let db: TestDatabase;
let api: ApiHandle;
let A: Side;
let B: Side;
let savedSecretKey: string | undefined;
const clients: Client[] = [];

// ---------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------

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

interface Draft {
  side: Omit<
    Side,
    | "agentNodeId"
    | "interruptId"
    | "queuedRunIds"
    | "threadId"
    | "finishedRunIds"
    | "interruptedRunId"
    | "batchId"
    | "scheduleId"
    | "webhookId"
    | "endpointId"
    | "notificationDeliveryId"
  >;
  agentId: string;
  bankerId: string;
  finished: Array<{ id: string; thread_id: string }>;
  interrupted: string;
}

async function draft(label: "A" | "B", wsId: string, wsName: string, tag: string, finishedRuns: number): Promise<Draft> {
  const agentName = `${label.toLowerCase()}-agent-${tag}`;
  const agentId = await insertAgent(wsId, agentName, {
    provider: "scripted",
    model: "s",
    tools: ["echo"],
    script: [{ text: `calling ${tag}`, tool_calls: [{ name: "echo", arguments: { tag } }] }, { text: `done ${tag}` }],
  });
  const bankerId = await insertAgent(wsId, `${label.toLowerCase()}-banker-${tag}`, {
    provider: "scripted",
    model: "s",
    tools: [{ name: "echo", requires_approval: true }],
    script: [{ text: `may I ${tag}?`, tool_calls: [{ name: "echo", arguments: { tag } }] }, { text: "done" }],
  });
  const secretName = `${label.toLowerCase()}-secret-${tag}`;
  await setSecret(db.pool, { name: secretName, value: `value-of-${tag}-secret`, key: secretKey, workspaceId: wsId });
  const keys = {} as Record<ApiKeyRole, string>;
  for (const role of ROLES) keys[role] = (await createApiKey(db.pool, { name: `${label.toLowerCase()}-${role}-${tag}`, role, workspaceId: wsId })).key;
  const spare = await createApiKey(db.pool, { name: `${label.toLowerCase()}-spare-${tag}`, role: "viewer", workspaceId: wsId });
  const finished: Array<{ id: string; thread_id: string }> = [];
  for (let i = 0; i < finishedRuns; i++) finished.push(await insertRun(agentId));
  const interrupted = (await insertRun(bankerId)).id;
  return {
    side: { label, tag, wsId, wsName, agentId, agentName, secretName, keys, spareKeyId: spare.info.id },
    agentId,
    bankerId,
    finished,
    interrupted,
  };
}

/**
 * A workspace's triggers (000026), one row of each table, as the superuser: a schedule and a fire
 * of it, an event waiting on a thread (failed, so nothing starts it), a webhook (bearer: the
 * workspace's secret is a plain one) and a delivery, a notification endpoint (disabled: no run's
 * end queues anything) and a failed delivery with its attempt.
 */
async function insertTriggers(d: Draft): Promise<Pick<Side, "scheduleId" | "webhookId" | "endpointId" | "notificationDeliveryId">> {
  const { wsId, label, tag, secretName } = d.side;
  const name = (what: string) => `${label.toLowerCase()}-${what}-${tag}`;
  const one = async (text: string, values: unknown[]) => (await db.pool.query<{ id: string }>(text, values)).rows[0]!.id;
  const runId = d.finished[0]!.id;
  const scheduleId = await one(
    "insert into everruns.schedules (name, agent_id, cron, timezone, input) values ($1, $2, '0 9 * * *', 'Europe/Berlin', $3) returning id",
    [name("schedule"), d.agentId, hello],
  );
  await db.pool.query(
    "insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, run_id) values ($1, $2, '2026-01-01T08:00Z', 'started', $3)",
    [wsId, scheduleId, runId],
  );
  await db.pool.query(
    "insert into everruns.activations (workspace_id, agent_id, thread_id, input, source, status, error) values ($1, $2, $3, $4, 'sql', 'failed', $5)",
    [wsId, d.agentId, d.finished[0]!.thread_id, hello, { code: "EV003", message: `refused ${tag}` }],
  );
  const webhookId = await one(
    "insert into everruns.webhooks (workspace_id, name, agent_id, verify, secret_names) values ($1, $2, $3, 'bearer', array[$4]) returning id",
    [wsId, name("webhook"), d.agentId, secretName],
  );
  await db.pool.query(
    "insert into everruns.webhook_deliveries (workspace_id, webhook_id, delivery_key, payload, payload_bytes, run_id) values ($1, $2, $3, $4, 20, $5)",
    [wsId, webhookId, name("delivery"), { tag }, runId],
  );
  const endpointId = await one(
    "insert into everruns.notification_endpoints (workspace_id, name, url, events, secret_name, enabled) values ($1, $2, 'http://127.0.0.1:9/', '{run.failed}', $3, false) returning id",
    [wsId, name("endpoint"), secretName],
  );
  const notificationDeliveryId = await one(
    `insert into everruns.notification_deliveries (workspace_id, endpoint_id, event, subject_id, payload, status, attempts)
     values ($1, $2, 'run.failed', $3, $4, 'failed', 1) returning id`,
    [wsId, endpointId, runId, { tag }],
  );
  await db.pool.query(
    "insert into everruns.notification_attempts (workspace_id, delivery_id, attempt, finished_at, status_code, outcome) values ($1, $2, 1, now(), 500, 'failed')",
    [wsId, notificationDeliveryId],
  );
  return { scheduleId, webhookId, endpointId, notificationDeliveryId };
}

/**
 * A workspace's MCP rows (000027), as the superuser: a tool list of a server pinned to the first
 * finished run (allMcpToolLists, allRunMcpTools, allMcpServers and their lookups) and a dispatch
 * of one of its tools (allToolDispatches).
 */
async function insertMcp(d: Draft): Promise<void> {
  const { wsId, tag } = d.side;
  const runId = d.finished[0]!.id;
  const { rows } = await db.pool.query<{ id: string }>(
    "insert into everruns.mcp_tool_lists (workspace_id, agent_id, agent_version, server, endpoint, tools) values ($1, $2, 1, 'github', $3, $4) returning id::text",
    [wsId, d.agentId, `https://${tag}.example.com/mcp`, JSON.stringify([{ name: `${tag}_tool` }])],
  );
  await db.pool.query("insert into everruns.run_mcp_tools (run_id, server, list_id, workspace_id) values ($1, 'github', $2, $3)", [runId, rows[0]!.id, wsId]);
  await db.pool.query(
    `insert into everruns.tool_dispatches (run_id, tool_call_id, workspace_id, tool_name, last_run_id, last_seq, last_attempt)
     values ($1, $2, $3, 'github__search', $1, 1, 1)`,
    [runId, `call_${tag}`, wsId],
  );
  // MCP OAuth (000028): a connection with sealed bytes (allMcpOauthConnections; never its sealed columns)
  await db.pool.query(
    `insert into everruns.mcp_oauth_connections (workspace_id, server_url, status, client_id, client_information_sealed, tokens_sealed, connected_at, connected_by)
     values ($1, $2, 'connected', $3, '\\x01'::bytea, '\\x02'::bytea, now(), 'db:test')`,
    [wsId, `https://${tag}.example.com/mcp`, `client_${tag}`],
  );
}

/** A workspace's model price (000029: allModelPrices and its lookups; setModelPrice and deleteModelPrice aim at it). */
async function insertModelPrice(d: Draft): Promise<void> {
  await db.pool.query(
    "insert into everruns.model_prices (workspace_id, provider, model, input_per_million, output_per_million) values ($1, 'openai', $2, 1, 2)",
    [d.side.wsId, `${d.side.tag}-model`],
  );
}

async function finish(d: Draft, queuedRuns: number): Promise<Side> {
  // a signal kept for the interrupted run's next wait (run_signals)
  await db.pool.query("select everruns.send_event($1, 'ping', '{}')", [d.interrupted]);
  const queuedRunIds: string[] = [];
  for (let i = 0; i < queuedRuns; i++) queuedRunIds.push((await insertRun(d.agentId)).id);
  const { rows } = await db.pool.query<{ id: string }>("select interrupts -> 'interrupts' -> 0 ->> 'id' as id from everruns.runs where id = $1", [
    d.interrupted,
  ]);
  // a batch of two items, left queued (the batch mutations below start and control it)
  const batch = await db.pool.query<{ id: string }>("insert into everruns.batches (agent_id, name) values ($1, $2) returning id", [
    d.agentId,
    `${d.side.label.toLowerCase()}-batch-${d.side.tag}`,
  ]);
  await db.pool.query("insert into everruns.batch_items (batch_id, custom_id, input) values ($1, 'item-1', $2), ($1, 'item-2', $2)", [
    batch.rows[0]!.id,
    hello,
  ]);
  const triggers = await insertTriggers(d);
  await insertMcp(d);
  await insertModelPrice(d);
  const side: Side = {
    ...d.side,
    ...triggers,
    batchId: batch.rows[0]!.id,
    agentNodeId: "",
    finishedRunIds: d.finished.map((r) => r.id),
    interruptedRunId: d.interrupted,
    interruptId: rows[0]!.id,
    queuedRunIds,
    threadId: d.finished[0]!.thread_id,
  };
  const answer = await gql<{ agentById: { nodeId: string } }>(side.keys.admin, "query ($id: UUID!) { agentById(id: $id) { nodeId } }", { id: side.agentId });
  side.agentNodeId = answer.body.data!.agentById.nodeId;
  return side;
}

beforeAll(async () => {
  savedSecretKey = process.env[SECRET_KEY_ENV];
  process.env[SECRET_KEY_ENV] = secretKey.toString("base64");
  db = await createTestDatabase();
  const aTag = randomBytes(5).toString("hex");
  const bTag = randomBytes(5).toString("hex");
  const b = await createWorkspace(db.pool, `iso-b-${bTag}`);
  // figures differ on purpose: A 1 finished run and 1 queued, B 2 and 2 (each 1 interrupted)
  const aDraft = await draft("A", A_ID, "default", aTag, 1);
  const bDraft = await draft("B", b.id, b.name, bTag, 2);
  const worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  try {
    for (const d of [aDraft, bDraft]) {
      for (const run of d.finished) await waitForStatus(db.pool, run.id, ["succeeded"], 30_000);
      await waitForStatus(db.pool, d.interrupted, ["interrupted"], 30_000);
    }
  } finally {
    await worker.stop();
  }
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  A = await finish(aDraft, 1);
  B = await finish(bDraft, 2);
});

afterAll(async () => {
  for (const client of clients) await client.dispose();
  await api?.close();
  await db?.drop();
  if (savedSecretKey === undefined) delete process.env[SECRET_KEY_ENV];
  else process.env[SECRET_KEY_ENV] = savedSecretKey;
});

// ---------------------------------------------------------------------------------------------
// HTTP, GraphQL and the database as the superuser
// ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  contentType: string;
  body: unknown;
  text: string;
}

/** A request; `key` null sends no Authorization, a string starting with "raw:" sends the rest as is. */
async function http(method: string, path: string, key: string | null, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = key.startsWith("raw:") ? key.slice(4) : `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const contentType = res.headers.get("content-type") ?? "";
  // an event stream of a run nobody runs (the worker is stopped) would not end: not read
  if (contentType.startsWith("text/event-stream") && !path.includes("/events")) {
    await res.body?.cancel();
    return { status: res.status, contentType, body: null, text: "" };
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, contentType, body: parsed, text };
}

interface GqlError {
  message: string;
  path?: Array<string | number>;
  extensions?: { code?: string };
}
interface GqlResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: GqlError[];
}

async function gql<T = Record<string, unknown>>(
  key: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ status: number; body: GqlResponse<T>; text: string }> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (key !== null) headers.authorization = key.startsWith("raw:") ? key.slice(4) : `Bearer ${key}`;
  const res = await fetch(`${api.url}/graphql`, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as GqlResponse<T>, text };
}

/** `fn` over `items`, `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Every table of the everruns schema (pg_catalog) with the column that says whose a row is. */
async function everrunsTables(): Promise<Array<{ name: string; column: string }>> {
  const { rows } = await db.pool.query<{ name: string; has_ws: boolean }>(
    `select c.relname as name,
            exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'workspace_id' and not a.attisdropped) as has_ws
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'everruns' and c.relkind in ('r', 'p')
      order by c.relname`,
  );
  return rows.map((r) => {
    const column = r.name === "workspaces" ? "id" : r.has_ws ? "workspace_id" : null;
    if (!column) throw new Error(`everruns.${r.name} has no workspace_id column: teach api/test/isolation.test.ts whose its rows are`);
    return { name: r.name, column };
  });
}

/**
 * Everything of a workspace in the database (every everruns table, its step jobs, its audit chain's
 * head), to compare before and after an attack. last_used_at moves whenever a key is used.
 */
async function snapshot(wsId: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of await everrunsTables()) {
    const { rows } = await db.pool.query<{ row: string }>(
      `select (to_jsonb(t) - 'last_used_at')::text as row from everruns.${table.name} t where ${table.column} = $1 order by 1`,
      [wsId],
    );
    out[table.name] = rows.map((r) => r.row);
  }
  const jobs = await db.pool.query<{ row: string }>(
    `select concat_ws(' ', j.key, j.run_at, j.attempts, j.locked_at, j.revision) as row
       from graphile_worker.jobs j join everruns.runs r on j.key = 'run:' || r.id::text
      where r.workspace_id = $1 order by 1`,
    [wsId],
  );
  out["graphile_worker.jobs"] = jobs.rows.map((r) => r.row);
  const head = await db.pool.query<{ row: string }>(
    "select concat_ws(' ', seq, encode(hash, 'hex')) as row from everruns_private.audit_heads where workspace_id = $1",
    [wsId],
  );
  out["everruns_private.audit_heads"] = head.rows.map((r) => r.row);
  return out;
}

const UUID_PATTERN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Every UUID in any row of a workspace (its ids, its runs' thread and message ids, ...). */
async function uuidsOf(wsId: string): Promise<Set<string>> {
  const found = new Set<string>();
  for (const table of await everrunsTables()) {
    const { rows } = await db.pool.query<{ row: string }>(`select to_jsonb(t)::text as row from everruns.${table.name} t where ${table.column} = $1`, [wsId]);
    for (const { row } of rows) for (const m of row.toLowerCase().matchAll(UUID_PATTERN)) found.add(m[0]);
  }
  return found;
}

/** What of `markers` is in `text`. */
function leaks(text: string, markers: Iterable<string>): string[] {
  const out: string[] = [];
  for (const m of markers) if (text.includes(m)) out.push(m);
  return out;
}

/** Every value of a field named `nodeId` anywhere in `value`. */
function nodeIdsIn(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) nodeIdsIn(v, out);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "nodeId" && typeof v === "string") out.add(v);
      else nodeIdsIn(v, out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GraphQL: queries built from the schema
// ---------------------------------------------------------------------------------------------

/** Whether a field can be selected without arguments. */
function argumentFree(field: GraphQLField<unknown, unknown>): boolean {
  return field.args.every((a) => !isNonNullType(a.type) || a.defaultValue !== undefined);
}

/**
 * The selection of an object type: its scalar fields, and (while `depth` lasts) its object fields'
 * selections; a connection's `nodes` cost nothing (the connection did). Not followed: `query`
 * (the root again), `edges` and `pageInfo` (nodes say it all), interfaces, fields that need arguments.
 */
function selection(type: GraphQLObjectType, depth: number): string {
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (!argumentFree(field)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) {
      parts.push(field.name);
      continue;
    }
    if (!isObjectType(named) || named.name === "Query" || field.name === "edges" || field.name === "pageInfo") continue;
    const free = field.name === "nodes";
    if (!free && depth <= 0) continue;
    const inner = selection(named, free ? depth : depth - 1);
    // a list or a connection under every row of a page (Run.childrenList, Thread.runs) asks for a
    // few rows, as a client would: at the default page size the probe would pass the query-cost
    // limit (api/graphql/limits.ts)
    const nested = isListType(getNullableType(field.type)) || named.name.endsWith("Connection");
    const paged = nested && field.args.some((a) => a.name === "first") ? "(first: 3)" : "";
    if (inner) parts.push(`${field.name}${paged} { ${inner} }`);
  }
  return parts.join(" ");
}

/** The selection of a root field's answer (`on` picks the object type of an interface's answer). */
function answerSelection(schema: GraphQLSchema, field: GraphQLField<unknown, unknown>, on?: string): string {
  const named = getNamedType(field.type);
  if (isLeafType(named)) return "";
  if (isAbstractType(named)) {
    if (!on) throw new Error(`${field.name}: an interface answer needs a concrete type`);
    return `__typename ... on ${on} { ${selection(schema.getType(on) as GraphQLObjectType, 1)} }`;
  }
  if (!isObjectType(named)) throw new Error(`${field.name}: answers ${String(named)}, neither an object nor a scalar`);
  return selection(named, 1);
}

/** An operation calling one root field with variables for the arguments given. */
function operation(kind: "query" | "mutation", field: GraphQLField<unknown, unknown>, vars: Record<string, unknown>, selected: string): string {
  const names = Object.keys(vars);
  const defs = names.map((name) => {
    const arg = field.args.find((a) => a.name === name);
    if (!arg) throw new Error(`${field.name} has no argument ${name}`);
    return `$${name}: ${String(arg.type)}`;
  });
  const call = names.length ? `${field.name}(${names.map((n) => `${n}: $${n}`).join(", ")})` : field.name;
  return `${kind}${defs.length ? ` (${defs.join(", ")})` : ""} { ${call}${selected ? ` { ${selected} }` : ""} }`;
}

/** Errors that are the query's own fault (parse, validation: no path): the test built it wrong. */
function malformed(errors: GqlError[] | undefined): GqlError[] {
  return (errors ?? []).filter((e) => !e.path);
}

// Root Query fields only an admin key may read (the others: any key). A viewer is refused them.
const ADMIN_QUERY_FIELDS = new Set(["apiKeys", "secrets"]);

// Root Query fields that hold no workspace's data: not checked for B's objects (with why).
const NOT_WORKSPACE_DATA: Record<string, string> = {
  query: "the root Query itself (Relay): each of its fields is checked on its own",
  nodeId: "the root Query's constant node id",
  whoami: "the key's own identity: checked on its own below, for every key of both workspaces",
};
// Root Query fields of data shared by every workspace: A must see nothing of B in them, but B's key
// shows no B object either.
const SHARED_DATA: Record<string, string> = {
  liveWorkers: "worker processes serve every workspace; runningJobs counts only the caller's runs (the queue's figures are checked in queueDepth)",
  workerStatuses: "worker processes serve every workspace; their steps are only the caller's runs (api/test/navigation.test.ts: B's step never shows to A)",
  workerExits: "worker exits are shared; freedRunIds lists only the caller's runs (api/test/navigation.test.ts)",
  modelCatalog:
    "the model catalog (lib/models: the release's table and the operator's EVERRUNS_MODELS_FILE) is the same for every workspace (api/test/model-catalog.test.ts)",
  // workspace data that this setup gives B none of; api/test/navigation.test.ts proves each is scoped
  queueHistory: "the caller's workspace's samples only, taken every 5 s while workers run (api/test/navigation.test.ts)",
  scheduledTimers: "the caller's waiting runs (api/test/navigation.test.ts: A's timer never shows to B)",
  stuckRuns: "the caller's stuck runs (api/test/navigation.test.ts: B's stalled run never shows to A)",
};

// Root Query lookups whose required arguments are fields of another type's B rows (the type
// they answer has no list to sample): the type, and each argument's field of it.
const LOOKUPS_FROM: Record<string, { type: string; args: Record<string, string> }> = {
  explainQueue: { type: "Run", args: { runId: "id" } },
};

/** A dashboard figure: its arguments, the figure read from the answer, and the figure of a workspace (null: all). */
interface Figure {
  args: Record<string, unknown>;
  read: (answer: unknown) => unknown;
  expected: (wsId: string | null) => Promise<unknown>;
}

const inWorkspace = "($1::uuid is null or r.workspace_id = $1::uuid)";
const WINDOW = 3600;
const sum = (rows: unknown, key: string) => (rows as Array<Record<string, number>>).reduce((n, row) => n + row[key]!, 0);

const FIGURES: Record<string, Figure> = {
  runStatusCounts: {
    args: { windowSeconds: WINDOW },
    read: (answer) => [...(answer as Array<{ status: string; count: number }>)].sort((x, y) => (x.status < y.status ? -1 : 1)),
    expected: async (ws) =>
      (
        await db.pool.query<{ status: string; count: number }>(
          `select status, count(*)::int as count from everruns.runs r where ${inWorkspace} and created_at >= now() - make_interval(secs => $2) group by status`,
          [ws, WINDOW],
        )
      ).rows.sort((x, y) => (x.status < y.status ? -1 : 1)),
  },
  runThroughput: {
    args: { windowSeconds: WINDOW, bucketSeconds: 60 },
    read: (answer) => Object.fromEntries(["started", "succeeded", "failed", "cancelled", "interrupted", "steps"].map((k) => [k, sum(answer, k)])),
    expected: async (ws) =>
      (
        await db.pool.query(
          `with p as (select now() - make_interval(secs => $2) as since)
           select (select count(*)::int from everruns.runs r, p where ${inWorkspace} and r.created_at >= p.since) as started,
                  ${["succeeded", "failed", "cancelled", "interrupted"]
                    .map(
                      (s) =>
                        `(select count(*)::int from everruns.runs r, p where ${inWorkspace} and r.status = '${s}' and r.created_at >= p.since - interval '1 day' and r.finished_at >= p.since) as ${s}`,
                    )
                    .join(", ")},
                  (select count(*)::int from everruns.run_steps s join everruns.runs r on r.id = s.run_id, p
                    where ${inWorkspace} and r.created_at >= p.since and s.kind <> 'wait') as steps`,
          [ws, WINDOW],
        )
      ).rows[0] as unknown,
  },
  agentDailyUsage: {
    args: { days: 2 },
    read: (answer) => ({ runs: sum(answer, "runs"), agents: [...new Set((answer as Array<{ agentId: string }>).map((r) => r.agentId))].sort() }),
    expected: async (ws) => {
      const { rows } = await db.pool.query<{ runs: number; agents: string[] }>(
        `select count(*)::int as runs, coalesce(array_agg(distinct agent_id::text), '{}') as agents from everruns.runs r
          where ${inWorkspace} and r.created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - make_interval(days => $2 - 1)`,
        [ws, 2],
      );
      return { runs: rows[0]!.runs, agents: [...rows[0]!.agents].sort() };
    },
  },
  queueDepth: {
    args: {},
    read: (answer) => {
      const q = answer as { ready: number; scheduled: number; running: number };
      return q.ready + q.scheduled + q.running;
    },
    expected: async (ws) =>
      (
        await db.pool.query<{ n: number }>(
          `select count(*)::int as n from graphile_worker.jobs j join everruns.runs r on j.key = 'run:' || r.id::text where ${inWorkspace}`,
          [ws],
        )
      ).rows[0]!.n,
  },
  // 000037: the dashboard's observability figures (security invoker: row-level security scopes them)
  stepLatencyByKindList: {
    args: { windowSeconds: WINDOW },
    read: (answer) => (answer as Array<{ kind: string; steps: number }>).map(({ kind, steps }) => ({ kind, steps })).sort((x, y) => (x.kind < y.kind ? -1 : 1)),
    expected: async (ws) =>
      (
        await db.pool.query<{ kind: string; steps: number }>(
          `select s.kind, count(*)::int as steps from everruns.run_steps s join everruns.runs r on r.id = s.run_id
            where ${inWorkspace} and s.finished_at >= now() - make_interval(secs => $2) group by s.kind`,
          [ws, WINDOW],
        )
      ).rows.sort((x, y) => (x.kind < y.kind ? -1 : 1)),
  },
  resumeLatencyList: {
    args: { windowSeconds: WINDOW, bucketSeconds: 300 },
    read: (answer) => ({ attempts: sum(answer, "attempts"), lost: sum(answer, "lost") }),
    expected: async (ws) =>
      (
        await db.pool.query(
          `select (select coalesce(sum(s.attempt), 0)::int from everruns.run_steps s join everruns.runs r on r.id = s.run_id
                    where ${inWorkspace} and s.finished_at >= now() - make_interval(secs => $2)) as attempts,
                  (select count(*)::int from everruns.run_attempts a join everruns.runs r on r.id = a.run_id
                    where ${inWorkspace} and a.outcome in ('worker_died', 'fenced_out') and a.ended_at >= now() - make_interval(secs => $2)) as lost`,
          [ws, WINDOW],
        )
      ).rows[0] as unknown,
  },
  providerStepStatsList: {
    args: { windowSeconds: WINDOW },
    read: (answer) =>
      (answer as Array<{ provider: string; steps: number; failed: number }>).map(({ provider, steps, failed }) => ({ provider, steps, failed })),
    expected: async (ws) =>
      (
        await db.pool.query<{ provider: string; steps: number; failed: number }>(
          `select v.config ->> 'provider' as provider, count(*)::int as steps, (count(*) filter (where s.status = 'failed'))::int as failed
             from everruns.run_steps s join everruns.runs r on r.id = s.run_id
             join everruns.agent_versions v on v.agent_id = r.agent_id and v.version = r.agent_version
            where ${inWorkspace} and s.kind = 'llm' and s.finished_at >= now() - make_interval(secs => $2)
            group by 1 order by 2 desc, 1`,
          [ws, WINDOW],
        )
      ).rows,
  },
  runsAwaitingAnswerCount: {
    args: {},
    read: (answer) => answer,
    expected: async (ws) =>
      (
        await db.pool.query<{ n: number }>(
          `select count(*)::int as n from everruns.runs r where ${inWorkspace} and status = 'interrupted' and continued_by is null`,
          [ws],
        )
      ).rows[0]!.n,
  },
};

const TEACH = "teach api/test/isolation.test.ts about it";

interface Probe {
  field: string;
  /** The type a lookup was aimed at (interfaces: one probe per type). */
  on?: string;
  query: string;
  variables: Record<string, unknown>;
}

describe("GraphQL over HTTP", () => {
  let schema: GraphQLSchema;
  /** B's rows of each type, as B's admin key reads them (the values lookups are aimed at). */
  const samples = new Map<string, Array<Record<string, unknown>>>();
  /** What of B no answer to A may hold: B's UUIDs, B's node ids, B's tag (in every B name). */
  let bMarkers: Set<string>;
  let aMarkers: Set<string>;

  beforeAll(async () => {
    const introspection = await gql<IntrospectionQuery>(A.keys.viewer, getIntrospectionQuery());
    expect(introspection.body.errors).toBeUndefined();
    schema = buildClientSchema(introspection.body.data!);
    // B's rows of every type a root field lists (connections and lists), read with B's key
    for (const field of Object.values(schema.getQueryType()!.getFields())) {
      if (!argumentFree(field) || NOT_WORKSPACE_DATA[field.name] || FIGURES[field.name]) continue;
      const named = getNamedType(field.type);
      if (!isObjectType(named)) continue;
      const nodes = named.getFields().nodes;
      const itemType = nodes ? getNamedType(nodes.type) : named;
      if (!isObjectType(itemType)) continue;
      const scalars = selection(itemType, 0);
      const answer = await gql(B.keys.admin, `{ items: ${field.name} { ${nodes ? `nodes { ${scalars} }` : scalars} } }`);
      expect(answer.body.errors, `reading B's samples of ${field.name}`).toBeUndefined();
      const items = answer.body.data!.items as { nodes?: unknown[] } | unknown[];
      const rows = (Array.isArray(items) ? items : (items.nodes ?? [])) as Array<Record<string, unknown>>;
      samples.set(itemType.name, [...(samples.get(itemType.name) ?? []), ...rows]);
    }
    aMarkers = await uuidsOf(A.wsId);
    bMarkers = new Set([...(await uuidsOf(B.wsId))].filter((u) => !aMarkers.has(u)));
    for (const rows of samples.values()) for (const id of nodeIdsIn(rows)) bMarkers.add(id);
    bMarkers.add(B.tag);
    aMarkers.add(A.tag);
  });

  /** The probes of one root Query field, or why the test cannot build one. */
  function probesOf(field: GraphQLField<unknown, unknown>): Probe[] | string {
    const required = field.args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined);
    const named: GraphQLNamedType = getNamedType(field.type);
    const figure = FIGURES[field.name];
    if (figure) return [{ field: field.name, query: operation("query", field, figure.args, answerSelection(schema, field)), variables: figure.args }];
    if (required.length === 0) {
      if (isAbstractType(named)) return `it answers the interface ${named.name} without arguments`;
      return [{ field: field.name, query: operation("query", field, {}, answerSelection(schema, field)), variables: {} }];
    }
    const from = LOOKUPS_FROM[field.name];
    if (from) {
      const row = samples.get(from.type)?.find((r) => Object.values(from.args).every((f) => r[f] !== undefined && r[f] !== null));
      if (!row) return `its arguments come from a B row of ${from.type} (LOOKUPS_FROM), and the test has none`;
      const variables = Object.fromEntries(Object.entries(from.args).map(([arg, f]) => [arg, row[f]]));
      return [{ field: field.name, query: operation("query", field, variables, answerSelection(schema, field)), variables }];
    }
    // a lookup: arguments from a B row of the type it answers (each type, for an interface)
    const targets = isAbstractType(named) ? schema.getPossibleTypes(named) : isObjectType(named) ? [named] : [];
    const probes: Probe[] = [];
    for (const target of targets) {
      const row = samples.get(target.name)?.find((r) => required.every((a) => r[a.name] !== undefined && r[a.name] !== null));
      if (!row) continue;
      const variables = Object.fromEntries(required.map((a) => [a.name, row[a.name]]));
      probes.push({
        field: field.name,
        on: isAbstractType(named) ? target.name : undefined,
        query: operation("query", field, variables, answerSelection(schema, field, target.name)),
        variables,
      });
    }
    if (probes.length === 0) {
      return `its required arguments (${required.map((a) => a.name).join(", ")}) are not fields of a B row of ${named.name} the test has`;
    }
    return probes;
  }

  it("no root Query field shows A's keys anything of workspace B, and each shows B's key B's own (every field, from the schema)", async () => {
    const problems: string[] = [];
    const fields = Object.values(schema.getQueryType()!.getFields());
    // the lookups, the lists, the dashboard: a schema that lost them would make this test vacuous
    expect(fields.map((f) => f.name)).toEqual(
      expect.arrayContaining(["allRuns", "runById", "node", "allAuditLogs", "secrets", "apiKeys", "runStatusCounts", "queueDepth"]),
    );
    const work: Array<{ probe: Probe; key: ApiKeyRole }> = [];
    for (const field of fields) {
      if (NOT_WORKSPACE_DATA[field.name]) continue;
      const probes = probesOf(field);
      if (typeof probes === "string") {
        problems.push(`Query.${field.name}: the test cannot build a query for it (${probes}): ${TEACH}`);
        continue;
      }
      // row-level security does not depend on the role: the lowest and the highest are enough here
      for (const probe of probes) for (const key of ["viewer", "admin"] as const) work.push({ probe, key });
    }
    const aAnswers = await mapLimit(work, 8, async ({ probe, key }) => ({ probe, key, answer: await gql(A.keys[key], probe.query, probe.variables) }));
    for (const { probe, key, answer } of aAnswers) {
      const where = `Query.${probe.field}${probe.on ? ` (on ${probe.on})` : ""} with A's ${key} key`;
      if (malformed(answer.body.errors).length) problems.push(`${where}: the test's query is malformed: ${JSON.stringify(answer.body.errors)}`);
      const leaked = leaks(answer.text, bMarkers);
      if (leaked.length) problems.push(`${where} shows workspace B's ${leaked.join(", ")}: ${answer.text.slice(0, 500)}`);
      const needsAdmin = ADMIN_QUERY_FIELDS.has(probe.field);
      if (needsAdmin && key !== "admin") {
        const forbidden = answer.body.errors?.find((e) => e.extensions?.code === "forbidden");
        if (!forbidden || !/needs an API key with role admin/.test(forbidden.message))
          problems.push(`${where}: not refused as forbidden: ${answer.text.slice(0, 300)}`);
      } else if (answer.body.errors?.length) {
        problems.push(`${where}: errors ${JSON.stringify(answer.body.errors)}`);
      }
    }
    // the same queries with B's key show B's objects: none of the checks above passed vacuously
    const seen = new Set(aAnswers.filter((w) => w.key === "admin").map((w) => w.probe));
    const bAnswers = await mapLimit([...seen], 8, async (probe) => ({ probe, answer: await gql(B.keys.admin, probe.query, probe.variables) }));
    for (const { probe, answer } of bAnswers) {
      const where = `Query.${probe.field}${probe.on ? ` (on ${probe.on})` : ""} with B's admin key`;
      if (answer.body.errors?.length) problems.push(`${where}: errors ${JSON.stringify(answer.body.errors)}`);
      if (leaks(answer.text, aMarkers).length) problems.push(`${where} shows workspace A's ${leaks(answer.text, aMarkers).join(", ")}`);
      if (SHARED_DATA[probe.field] || FIGURES[probe.field]) continue;
      if (leaks(answer.text, bMarkers).length === 0) {
        problems.push(
          `Query.${probe.field} shows nothing of workspace B even to B's key, so the test proves nothing about it: ${TEACH} ` +
            `(FIGURES for a dashboard figure, SHARED_DATA for data of no workspace, or give B such data in the setup): ${answer.text.slice(0, 300)}`,
        );
      }
    }
    expect(problems).toEqual([]);
  });

  it("dashboard figures are the key's workspace's own figures, exactly", async () => {
    const fields = schema.getQueryType()!.getFields();
    for (const [name, figure] of Object.entries(FIGURES)) {
      const field = fields[name];
      expect(field, `Query.${name} is gone: take it out of FIGURES`).toBeDefined();
      const query = operation("query", field!, figure.args, answerSelection(schema, field!));
      const all = await figure.expected(null);
      for (const side of [A, B]) {
        const own = await figure.expected(side.wsId);
        // a figure over every workspace would differ: the data make a leak visible
        expect({ name, own }, `the test data do not tell ${side.label}'s ${name} from everyone's`).not.toEqual({ name, own: all });
        for (const role of ROLES) {
          const answer = await gql(side.keys[role], query, figure.args);
          expect(answer.body.errors, `${name} with ${side.label}'s ${role} key`).toBeUndefined();
          expect({ name, workspace: side.label, role, figure: figure.read(answer.body.data![name]) }).toEqual({
            name,
            workspace: side.label,
            role,
            figure: own,
          });
        }
      }
    }
  });

  it("whoami: each key of each workspace is itself, in its own workspace", async () => {
    for (const side of [A, B]) {
      for (const role of ROLES) {
        const answer = await gql<{ whoami: Record<string, string> }>(side.keys[role], "{ whoami { keyId workspaceId workspaceName role } }");
        expect(answer.body.data?.whoami).toMatchObject({ workspaceId: side.wsId, workspaceName: side.wsName, role });
        const rest = await http("GET", "/api/whoami", side.keys[role]);
        expect(rest.body).toMatchObject({ workspace: { id: side.wsId, name: side.wsName }, role });
      }
    }
  });

  // workspaceLimits is workspace data to the generic check above (B's answer holds B's id, A's
  // none of B's); here each side's own limits, set on one side only, for every role.
  it("workspaceLimits: each key sees its own workspace's limits and usage, never the other's", async () => {
    const queued = async (wsId: string) =>
      (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where workspace_id = $1 and status = 'queued'", [wsId])).rows[0]!.n;
    // a limit far above the setup's runs, taken off again: later tests start runs in B
    await db.pool.query("select everruns_private.set_workspace_limits($1, 1000, null)", [B.wsId]);
    try {
      for (const side of [A, B]) {
        const expected = {
          workspaceId: side.wsId,
          workspaceName: side.wsName,
          maxQueuedRuns: side === B ? 1000 : null,
          runsPerMinute: null,
          queuedRuns: await queued(side.wsId),
        };
        for (const role of ROLES) {
          const answer = await gql<{ workspaceLimits: Record<string, unknown> }>(
            side.keys[role],
            "{ workspaceLimits { workspaceId workspaceName maxQueuedRuns runsPerMinute queuedRuns } }",
          );
          expect(answer.body.errors, `${side.label}'s ${role} key`).toBeUndefined();
          expect({ side: side.label, role, limits: answer.body.data?.workspaceLimits }).toEqual({ side: side.label, role, limits: expected });
        }
      }
    } finally {
      await db.pool.query("select everruns_private.set_workspace_limits($1, null, null)", [B.wsId]);
    }
  });

  // explainQueue of the other workspace's run is null, as of no run at all; of its own, the run.
  it("explainQueue: each key explains its own workspace's runs, and the other's are null", async () => {
    const query = "query ($runId: UUID!) { explainQueue(runId: $runId) { runId status admitted message } }";
    for (const [side, other] of [
      [A, B],
      [B, A],
    ] as const) {
      // the last queued run (mutations below cancel the first)
      const ownRun = side.queuedRunIds.at(-1)!;
      for (const role of ROLES) {
        const own = await gql<{ explainQueue: Record<string, unknown> | null }>(side.keys[role], query, { runId: ownRun });
        expect(own.body.errors, `${side.label}'s ${role} key`).toBeUndefined();
        expect(own.body.data?.explainQueue).toMatchObject({ runId: ownRun, status: "queued" });
        for (const runId of [other.queuedRunIds[0]!, other.finishedRunIds[0]!]) {
          const theirs = await gql<{ explainQueue: unknown }>(side.keys[role], query, { runId });
          expect({ side: side.label, role, runId, body: theirs.body }).toEqual({ side: side.label, role, runId, body: { data: { explainQueue: null } } });
        }
      }
    }
  });

  // -------------------------------------------------------------------------------------------
  // Mutations
  // -------------------------------------------------------------------------------------------

  interface Variant {
    /** Arguments aimed at `target`'s objects by a key of `own`'s workspace. */
    args: (target: Side, own: Side) => Record<string, unknown>;
    /** Whether the target's own admin key succeeds with it (proves the mutation is well-formed). */
    ownerSucceeds: boolean;
  }
  const fresh = () => `iso-${randomBytes(4).toString("hex")}`;
  const config = { provider: "scripted", model: "s", script: [{ text: "changed" }] };
  const answers = (t: Side) => [{ interruptId: t.interruptId, status: "resolved", payload: { approved: true } }];
  // Every root Mutation field: the role it needs and how to aim it at another workspace's
  // objects. In order: replayed by B's admin key in this order (sendEvent before cancelRun).
  const MUTATIONS: Record<string, { needs: ApiKeyRole; variants: Variant[] }> = {
    startRun: {
      needs: "operator",
      variants: [
        { args: (t) => ({ agent: t.agentName, input: hello }), ownerSucceeds: true },
        { args: (t) => ({ agent: t.agentId, input: hello }), ownerSucceeds: true },
        { args: (t, o) => ({ agent: o.agentName, input: hello, threadId: t.threadId }), ownerSucceeds: true },
      ],
    },
    sendEvent: { needs: "operator", variants: [{ args: (t) => ({ runId: t.queuedRunIds[0], name: "iso-signal", payload: { n: 1 } }), ownerSucceeds: true }] },
    cancelRun: { needs: "operator", variants: [{ args: (t) => ({ runId: t.queuedRunIds[0] }), ownerSucceeds: true }] },
    // after cancelRun: B's own key reruns the run it has just cancelled. Admin's until
    // api/graphql/access.ts lists it among OPERATOR_MUTATIONS (then: "operator").
    rerunRun: { needs: "operator", variants: [{ args: (t) => ({ runId: t.queuedRunIds[0], reason: "isolation" }), ownerSucceeds: true }] },
    resumeRun: { needs: "operator", variants: [{ args: (t) => ({ runId: t.interruptedRunId, resume: answers(t) }), ownerSucceeds: true }] },
    // workflows (000034): an event by correlation key acts in the caller's own workspace only; a
    // redrive of another workspace's run is an unknown run (of B's own finished agent run: refused, not a workflow run)
    sendEventByKey: {
      needs: "operator",
      variants: [{ args: () => ({ name: "iso-event", correlationKey: "iso-key", payload: { n: 1 } }), ownerSucceeds: true }],
    },
    redriveRun: { needs: "operator", variants: [{ args: (t) => ({ runId: t.finishedRunIds[0], reason: "isolation" }), ownerSucceeds: false }] },
    // batches: B's own key creates one, then starts, pauses, resumes, resizes, retries and cancels its queued batch
    createBatch: { needs: "operator", variants: [{ args: (t) => ({ agent: t.agentName, items: [{ customId: "iso", input: hello }] }), ownerSucceeds: true }] },
    startBatch: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId }), ownerSucceeds: true }] },
    pauseBatch: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId }), ownerSucceeds: true }] },
    resumeBatch: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId }), ownerSucceeds: true }] },
    setBatchParallel: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId, maxParallel: 2 }), ownerSucceeds: true }] },
    retryFailedItems: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId, includeCancelled: true }), ownerSucceeds: true }] },
    cancelBatch: { needs: "operator", variants: [{ args: (t) => ({ batchId: t.batchId }), ownerSucceeds: true }] },
    // triggers (issue 16): B's own key changes, pauses and resumes its schedule, then deletes it;
    // tests and changes its webhook, then deletes it; resends its delivery, then deletes the endpoint
    createSchedule: {
      needs: "admin",
      variants: [{ args: (t) => ({ name: fresh(), agent: t.agentName, cron: "0 9 * * *", input: hello }), ownerSucceeds: true }],
    },
    updateSchedule: { needs: "admin", variants: [{ args: (t) => ({ id: t.scheduleId, catchUp: "skip", timezone: "UTC" }), ownerSucceeds: true }] },
    pauseSchedule: { needs: "operator", variants: [{ args: (t) => ({ id: t.scheduleId, note: "isolation" }), ownerSucceeds: true }] },
    resumeSchedule: { needs: "operator", variants: [{ args: (t) => ({ id: t.scheduleId }), ownerSucceeds: true }] },
    deleteSchedule: { needs: "admin", variants: [{ args: (t) => ({ id: t.scheduleId }), ownerSucceeds: true }] },
    triggerAgent: {
      needs: "operator",
      variants: [
        { args: (t) => ({ agent: t.agentName, payload: { n: 1 } }), ownerSucceeds: true },
        { args: (t) => ({ agent: t.agentId, payload: "event", threadKey: "iso-thread" }), ownerSucceeds: true },
      ],
    },
    createWebhook: {
      needs: "admin",
      variants: [{ args: (t) => ({ name: fresh(), agent: t.agentName, verify: "bearer", secretNames: [t.secretName] }), ownerSucceeds: true }],
    },
    sendTestWebhookDelivery: { needs: "operator", variants: [{ args: (t) => ({ id: t.webhookId, payload: { n: 1 } }), ownerSucceeds: true }] },
    updateWebhook: { needs: "admin", variants: [{ args: (t) => ({ id: t.webhookId, toleranceSeconds: 60, enabled: false }), ownerSucceeds: true }] },
    deleteWebhook: { needs: "admin", variants: [{ args: (t) => ({ id: t.webhookId }), ownerSucceeds: true }] },
    createNotificationEndpoint: {
      needs: "admin",
      variants: [
        {
          args: (t) => ({ name: fresh(), url: "http://127.0.0.1:9/", events: ["run.failed"], agent: t.agentName, secretName: t.secretName }),
          ownerSucceeds: true,
        },
      ],
    },
    updateNotificationEndpoint: { needs: "admin", variants: [{ args: (t) => ({ id: t.endpointId, retryInitialSeconds: 1 }), ownerSucceeds: true }] },
    resendNotification: { needs: "operator", variants: [{ args: (t) => ({ id: t.notificationDeliveryId }), ownerSucceeds: true }] },
    deleteNotificationEndpoint: { needs: "admin", variants: [{ args: (t) => ({ id: t.endpointId }), ownerSucceeds: true }] },
    // MCP OAuth (api/graphql/mcp-oauth.ts): a connect of A's admin key to B's server begins a flow
    // in A only (here it fails at once: nothing listens on port 9, or the egress guard refuses
    // loopback); a disconnect of B's server by A's key disconnects nothing (false), B's own key
    // disconnects B's connection (insertMcp's row)
    connectMcpServer: { needs: "operator", variants: [{ args: () => ({ input: { url: "http://127.0.0.1:9/mcp" } }), ownerSucceeds: false }] },
    disconnectMcpServer: { needs: "operator", variants: [{ args: (t) => ({ input: { url: `https://${t.tag}.example.com/mcp` } }), ownerSucceeds: true }] },
    // model prices (api/graphql/model-prices.ts): A's key setting B's provider and model sets A's own
    // price; deleting B's deletes nothing (false); B's own key replaces its price, then deletes it
    setModelPrice: {
      needs: "admin",
      variants: [{ args: (t) => ({ provider: "openai", model: `${t.tag}-model`, inputPerMillion: 3, outputPerMillion: 4 }), ownerSucceeds: true }],
    },
    deleteModelPrice: { needs: "admin", variants: [{ args: (t) => ({ provider: "openai", model: `${t.tag}-model` }), ownerSucceeds: true }] },
    createAgent: {
      needs: "admin",
      variants: [
        { args: (t) => ({ input: { agent: { id: t.agentId, name: fresh(), config } } }), ownerSucceeds: false },
        { args: () => ({ input: { agent: { name: fresh(), config } } }), ownerSucceeds: true },
      ],
    },
    updateAgent: { needs: "admin", variants: [{ args: (t) => ({ input: { nodeId: t.agentNodeId, agentPatch: { config } } }), ownerSucceeds: true }] },
    updateAgentById: { needs: "admin", variants: [{ args: (t) => ({ input: { id: t.agentId, agentPatch: { config } } }), ownerSucceeds: true }] },
    updateAgentByWorkspaceIdAndName: {
      needs: "admin",
      variants: [{ args: (t) => ({ input: { workspaceId: t.wsId, name: t.agentName, agentPatch: { config } } }), ownerSucceeds: true }],
    },
    deleteSecret: { needs: "admin", variants: [{ args: (t) => ({ name: t.secretName }), ownerSucceeds: true }] },
    setSecret: {
      needs: "admin",
      variants: [{ args: (t) => ({ name: t.secretName, value: `replaced-${randomBytes(8).toString("hex")}` }), ownerSucceeds: true }],
    },
    createApiKey: { needs: "admin", variants: [{ args: () => ({ name: fresh(), role: "admin" }), ownerSucceeds: true }] },
    revokeApiKey: { needs: "admin", variants: [{ args: (t) => ({ id: t.spareKeyId }), ownerSucceeds: true }] },
  };

  function mutationFields(): Array<GraphQLField<unknown, unknown>> {
    return Object.values(schema.getMutationType()!.getFields());
  }

  it("the test knows every root Mutation field", () => {
    const unknown = mutationFields()
      .map((f) => f.name)
      .filter((name) => !MUTATIONS[name]);
    expect(unknown.map((name) => `Mutation.${name} is new: ${TEACH} (MUTATIONS: the role it needs, and how to aim it at another workspace)`)).toEqual([]);
    const gone = Object.keys(MUTATIONS).filter((name) => !mutationFields().some((f) => f.name === name));
    expect(gone.map((name) => `Mutation.${name} is gone: take it out of MUTATIONS`)).toEqual([]);
  });

  it("each root Mutation field needs its role: lower roles are refused (403 naming the role) and change nothing", async () => {
    const fields = new Map(mutationFields().map((f) => [f.name, f]));
    const before = await snapshot(A.wsId);
    const problems: string[] = [];
    for (const [name, spec] of Object.entries(MUTATIONS)) {
      const field = fields.get(name);
      if (!field) continue;
      for (const role of ROLES.filter((r) => ROLE_RANK[r] < ROLE_RANK[spec.needs])) {
        for (const variant of spec.variants) {
          const vars = variant.args(A, A);
          const answer = await gql(A.keys[role], operation("mutation", field, vars, answerSelection(schema, field)), vars);
          const forbidden = answer.body.errors?.find((e) => e.extensions?.code === "forbidden");
          const wanted = new RegExp(`needs an API key with role ${spec.needs}.*this key's role is ${role}`);
          if (!forbidden || !wanted.test(forbidden.message)) problems.push(`Mutation.${name} with A's ${role} key: not refused: ${answer.text.slice(0, 300)}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(A.wsId)).toEqual(before);
    // and the roles that may: not refused as forbidden (on A's own objects; what they do is theirs)
    const createKey = fields.get("createApiKey")!;
    const vars = { name: fresh(), role: "viewer" };
    const ok = await gql(A.keys.admin, operation("mutation", createKey, vars, answerSelection(schema, createKey)), vars);
    expect(ok.body.errors).toBeUndefined();
  });

  it("every root Mutation field aimed at B's objects with A's admin key fails or acts in A only: B is unchanged; B's own key can run each", async () => {
    const fields = new Map(mutationFields().map((f) => [f.name, f]));
    const before = await snapshot(B.wsId);
    const problems: string[] = [];
    for (const [name, spec] of Object.entries(MUTATIONS)) {
      const field = fields.get(name);
      if (!field) continue;
      for (const [i, variant] of spec.variants.entries()) {
        const vars = variant.args(B, A);
        const answer = await gql(A.keys.admin, operation("mutation", field, vars, answerSelection(schema, field)), vars);
        const where = `Mutation.${name} (variant ${i}) aimed at B with A's admin key`;
        if (malformed(answer.body.errors).length) problems.push(`${where}: the test's mutation is malformed: ${JSON.stringify(answer.body.errors)}`);
        // what it answers (a payload re-read under A's key) holds nothing of B but what A sent
        const sent = JSON.stringify(vars);
        const leaked = leaks(answer.text, bMarkers).filter((m) => !sent.includes(m));
        if (leaked.length) problems.push(`${where} answers workspace B's ${leaked.join(", ")}: ${answer.text.slice(0, 500)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(B.wsId)).toEqual(before);

    // B's admin key, on B's objects: the same mutations are well-formed and (mostly) succeed
    for (const [name, spec] of Object.entries(MUTATIONS)) {
      const field = fields.get(name);
      if (!field) continue;
      for (const [i, variant] of spec.variants.entries()) {
        const vars = variant.args(B, B);
        const answer = await gql(B.keys.admin, operation("mutation", field, vars, answerSelection(schema, field)), vars);
        const where = `Mutation.${name} (variant ${i}) with B's admin key on B's objects`;
        if (malformed(answer.body.errors).length) problems.push(`${where}: malformed: ${JSON.stringify(answer.body.errors)}`);
        if (variant.ownerSucceeds && answer.body.errors?.length) problems.push(`${where}: failed: ${JSON.stringify(answer.body.errors)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await snapshot(B.wsId)).not.toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Keys that are no keys
// ---------------------------------------------------------------------------------------------

/** Keys of A that must be refused, with the 401 code and message each gets. */
interface BadKey {
  what: string;
  key: string | null;
  code: string;
  message: RegExp;
}
let badKeysMade: Promise<BadKey[]> | null = null;

/** Keys of A that must be refused, with the 401 code and message each gets (made once). */
function badKeys(): Promise<BadKey[]> {
  return (badKeysMade ??= (async () => {
    const revoked = await createApiKey(db.pool, { name: `a-revoked-${A.tag}`, role: "admin", workspaceId: A.wsId });
    const expired = await createApiKey(db.pool, { name: `a-expired-${A.tag}`, role: "admin", workspaceId: A.wsId });
    // both work, and are remembered (api/auth.ts keeps a verified key 5 s)
    for (const key of [revoked.key, expired.key]) expect((await http("GET", "/api/whoami", key)).status).toBe(200);
    expect(await revokeApiKey(db.pool, revoked.info.id)).toBe(true);
    await db.pool.query("update everruns.api_keys set expires_at = now() - interval '1 minute' where id = $1", [expired.info.id]);
    api.authenticator.clear();
    return [
      { what: "no key", key: null, code: "unauthenticated", message: /needs a key/ },
      { what: "an empty Bearer", key: "raw:Bearer ", code: "unauthenticated", message: /needs a key|does not hold an Everruns API key/ },
      { what: "not a key", key: "raw:Bearer not-a-key", code: "unauthenticated", message: /does not hold an Everruns API key/ },
      { what: "Basic credentials", key: "raw:Basic dXNlcjpwYXNz", code: "unauthenticated", message: /needs a key|does not hold an Everruns API key/ },
      { what: "an unknown key", key: `evr_${randomBytes(32).toString("base64url")}`, code: "invalid_key", message: /is not a key of this Everruns/ },
      { what: "a revoked key", key: revoked.key, code: "invalid_key", message: /has been revoked/ },
      { what: "an expired key", key: expired.key, code: "invalid_key", message: /has expired/ },
    ];
  })());
}

describe("keys that are no keys", () => {
  it("GraphQL over HTTP: 401 JSON for each", async () => {
    for (const bad of await badKeys()) {
      const answer = await http("POST", "/graphql", bad.key, { query: "{ whoami { workspaceId } }" });
      expect({ what: bad.what, status: answer.status, body: answer.body }).toEqual({
        what: bad.what,
        status: 401,
        body: { error: { code: bad.code, message: expect.stringMatching(bad.message) as unknown } },
      });
    }
  });

  it("graphql-ws: the socket is closed with 4401 for each, at its first operation (which does not run)", async () => {
    for (const bad of await badKeys()) {
      const client = createClient({
        url: `${api.url.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: bad.key === null ? {} : { authorization: bad.key.startsWith("raw:") ? bad.key.slice(4) : `Bearer ${bad.key}` },
      });
      clients.push(client);
      const outcome = await firstOutcome(client, "subscription ($runId: UUID!) { runEvents(runId: $runId) { seq } }", { runId: A.finishedRunIds[0] });
      expect({ what: bad.what, kind: outcome.kind, code: (outcome.value as { code?: number }).code }).toEqual({ what: bad.what, kind: "error", code: 4401 });
      expect((outcome.value as { reason: string }).reason).toMatch(/^Unauthorized: /);
      await client.dispose();
    }
  });

  it("a key that expires is refused from then on, remembered or not", async () => {
    const expiresAt = new Date(Date.now() + 1500);
    const { key } = await createApiKey(db.pool, { name: `a-short-${A.tag}`, role: "viewer", workspaceId: A.wsId, expiresAt });
    expect((await http("GET", "/api/whoami", key)).status).toBe(200);
    await waitFor("the key's expiry", () => Date.now() > expiresAt.getTime() + 100, 10_000);
    const answer = await http("GET", "/api/whoami", key);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 401,
      body: { error: { code: "invalid_key", message: expect.stringMatching(/has expired/) as unknown } },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// graphql-ws subscriptions
// ---------------------------------------------------------------------------------------------

interface Outcome {
  kind: "next" | "error" | "complete";
  value: unknown;
}

/** The first thing a subscription gets: a result, an error (GraphQL errors, or the socket's CloseEvent) or the end. */
function firstOutcome(client: Client, query: string, variables: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const dispose = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          if (done) return;
          done = true;
          dispose();
          resolve({ kind: value.errors ? "error" : "next", value: value.errors ?? value.data });
        },
        error: (error) => {
          if (!done) resolve({ kind: "error", value: error });
          done = true;
        },
        complete: () => {
          if (!done) resolve({ kind: "complete", value: null });
          done = true;
        },
      },
    );
  });
}

function wsClientOf(key: string): Client {
  const client = createClient({
    url: `${api.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}` },
  });
  clients.push(client);
  return client;
}

describe("GraphQL subscriptions over graphql-ws", () => {
  const RUN_EVENTS = "subscription ($runId: UUID!) { runEvents(runId: $runId) { seq type event } }";
  const RUN_UPDATED = "subscription ($runId: UUID) { runUpdated(runId: $runId) { runId run { id workspaceId } } }";

  it("runEvents and runUpdated of B's runs are refused to each of A's keys (unknown run), and given to B's", async () => {
    for (const role of ROLES) {
      const client = wsClientOf(A.keys[role]);
      for (const runId of [B.finishedRunIds[0]!, B.queuedRunIds[1]!, B.interruptedRunId]) {
        for (const query of [RUN_EVENTS, RUN_UPDATED]) {
          const outcome = await firstOutcome(client, query, { runId });
          expect({ role, query, kind: outcome.kind, text: JSON.stringify(outcome.value) }).toEqual({
            role,
            query,
            kind: "error",
            text: expect.stringMatching(new RegExp(`unknown run ${runId}`)) as unknown,
          });
        }
      }
    }
    // B's key: the same subscriptions work
    const client = wsClientOf(B.keys.viewer);
    const events: Array<{ seq: number; type: string }> = [];
    for await (const result of client.iterate<{ runEvents: { seq: number; type: string } }>({ query: RUN_EVENTS, variables: { runId: B.finishedRunIds[0] } })) {
      expect(result.errors).toBeUndefined();
      events.push(result.data!.runEvents);
    }
    expect(events.at(-1)?.type).toBe("RUN_FINISHED");
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const updated = await firstOutcome(client, RUN_UPDATED, { runId: B.queuedRunIds[1] });
    expect(updated).toEqual({ kind: "next", value: { runUpdated: { runId: B.queuedRunIds[1], run: { id: B.queuedRunIds[1], workspaceId: B.wsId } } } });
  });

  it("runUpdated without a run: A's subscriber gets A's runs and never B's (and B's the other way round)", async () => {
    const seen: Record<"A" | "B", Array<{ runId: string; run: { workspaceId: string } | null }>> = { A: [], B: [] };
    /** The watch-started messages (nil run id, run null) each side got: exactly one, first. */
    const started: Record<"A" | "B", number> = { A: 0, B: 0 };
    const errors: unknown[] = [];
    for (const side of [A, B]) {
      const client = wsClientOf(side.keys.viewer);
      client.subscribe<{ runUpdated: { runId: string; run: { workspaceId: string } | null } }>(
        { query: RUN_UPDATED, variables: {} },
        {
          next: (v) => {
            if (v.errors) errors.push(v.errors);
            else if (v.data!.runUpdated.runId === WATCH_STARTED && v.data!.runUpdated.run === null && seen[side.label].length === 0) started[side.label]++;
            else seen[side.label].push(v.data!.runUpdated);
          },
          error: (e) => errors.push(e),
          complete: () => undefined,
        },
      );
      // the subscription is live once a run started now reaches it (the first may be started before it listens)
      await waitFor(
        `${side.label}'s runUpdated subscription to be live`,
        async () => {
          const probe = await insertRun(side.agentId);
          for (let i = 0; i < 50; i++) {
            if (seen[side.label].some((u) => u.runId === probe.id)) return true;
            await sleep(10);
          }
          return false;
        },
        20_000,
        0,
      );
    }
    // B's run first, then A's: notifications arrive in commit order, so had B's reached A's
    // subscriber it would have by the time A's did
    const bRun = await insertRun(B.agentId);
    const aRun = await insertRun(A.agentId);
    await waitFor("A's run to reach A's subscriber", () => seen.A.some((u) => u.runId === aRun.id));
    await waitFor("B's run to reach B's subscriber", () => seen.B.some((u) => u.runId === bRun.id));
    expect(errors).toEqual([]);
    const runsOf = async (ws: string) =>
      new Set((await db.pool.query<{ id: string }>("select id from everruns.runs where workspace_id = $1", [ws])).rows.map((r) => r.id));
    const aRuns = await runsOf(A.wsId);
    const bRuns = await runsOf(B.wsId);
    expect(seen.A.filter((u) => !aRuns.has(u.runId) || u.run?.workspaceId !== A.wsId)).toEqual([]);
    expect(seen.B.filter((u) => !bRuns.has(u.runId) || u.run?.workspaceId !== B.wsId)).toEqual([]);
    expect(started).toEqual({ A: 1, B: 1 });
    expect(seen.A.some((u) => bRuns.has(u.runId))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// REST, SSE and AG-UI
// ---------------------------------------------------------------------------------------------

interface RouteSpec {
  /** The role it needs; null: public (with why). */
  needs: ApiKeyRole | null;
  public?: string;
  /** A request that gets past authentication and changes nothing (a bad id or body: 400). */
  harmless: (own: Side) => { path: string; body?: unknown };
  /** The request aimed at `target`'s run `runId` (routes of a run) or agent. */
  aimed?: (target: Side, runId: string, own: Side) => { path: string; body?: unknown };
}

// Every route of the app (checked against the app's own router below): a new route fails that test.
const ROUTES: Record<string, RouteSpec> = {
  "GET /healthz": {
    needs: null,
    public: "a liveness probe (by IP, read-only): database and stream counts, nothing of a workspace",
    harmless: () => ({ path: "/healthz" }),
  },
  "GET /api/whoami": { needs: "viewer", harmless: () => ({ path: "/api/whoami" }) },
  // Prometheus metrics (api/metrics.ts): the key's workspace's series only (api/test/metrics.test.ts)
  "GET /metrics": { needs: "admin", harmless: () => ({ path: "/metrics" }) },
  "POST /api/runs": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs", body: {} }),
    aimed: (t) => ({ path: "/api/runs", body: { agent: t.agentName, input: hello } }),
  },
  "GET /api/runs/:id": { needs: "viewer", harmless: () => ({ path: "/api/runs/not-a-uuid" }), aimed: (_t, id) => ({ path: `/api/runs/${id}` }) },
  "POST /api/runs/:id/cancel": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs/not-a-uuid/cancel", body: {} }),
    aimed: (_t, id) => ({ path: `/api/runs/${id}/cancel`, body: {} }),
  },
  "POST /api/runs/:id/resume": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs/not-a-uuid/resume", body: {} }),
    aimed: (t, id) => ({ path: `/api/runs/${id}/resume`, body: { resume: [{ interruptId: t.interruptId, status: "resolved", payload: { approved: true } }] } }),
  },
  "POST /api/runs/:id/signals": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs/not-a-uuid/signals", body: {} }),
    aimed: (_t, id) => ({ path: `/api/runs/${id}/signals`, body: { name: "iso-signal", payload: {} } }),
  },
  "POST /api/runs/:id/redrive": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs/not-a-uuid/redrive", body: {} }),
    aimed: (_t, id) => ({ path: `/api/runs/${id}/redrive`, body: {} }),
  },
  "POST /api/events": { needs: "operator", harmless: () => ({ path: "/api/events", body: {} }) },
  "POST /api/runs/:id/rerun": {
    needs: "operator",
    harmless: () => ({ path: "/api/runs/not-a-uuid/rerun", body: {} }),
    aimed: (_t, id) => ({ path: `/api/runs/${id}/rerun`, body: { reason: "isolation" } }),
  },
  "GET /api/runs/:id/events": {
    needs: "viewer",
    harmless: () => ({ path: "/api/runs/not-a-uuid/events" }),
    aimed: (_t, id) => ({ path: `/api/runs/${id}/events` }),
  },
  "POST /api/agents/:agent/agui": {
    needs: "operator",
    harmless: (o) => ({ path: `/api/agents/${o.agentName}/agui`, body: {} }),
    aimed: (t) => ({ path: `/api/agents/${encodeURIComponent(t.agentName)}/agui`, body: aguiBody() }),
  },
  // Batches (api/batches.ts). Their ids are not runs' ids, so the run-aimed 404 check below does not
  // apply: api/test/batches-rest.test.ts aims every batch route at another workspace's batch (404).
  "POST /api/batches": { needs: "operator", harmless: () => ({ path: "/api/batches", body: {} }) },
  "GET /api/batches": { needs: "viewer", harmless: () => ({ path: "/api/batches?limit=0" }) },
  "GET /api/batches/:id": { needs: "viewer", harmless: () => ({ path: "/api/batches/not-a-uuid" }) },
  "POST /api/batches/:id/start": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/start", body: {} }) },
  "POST /api/batches/:id/pause": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/pause", body: {} }) },
  "POST /api/batches/:id/resume": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/resume", body: {} }) },
  "POST /api/batches/:id/cancel": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/cancel", body: {} }) },
  "POST /api/batches/:id/retry_failed": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/retry_failed", body: {} }) },
  "POST /api/batches/:id/parallel": { needs: "operator", harmless: () => ({ path: "/api/batches/not-a-uuid/parallel", body: {} }) },
  "GET /api/batches/:id/results": { needs: "viewer", harmless: () => ({ path: "/api/batches/not-a-uuid/results" }) },
  "GET /api/batches/:id/progress": { needs: "viewer", harmless: () => ({ path: "/api/batches/not-a-uuid/progress" }) },
  // Triggers (api/triggers.ts, api/hooks.ts). api/test/triggers-rest.test.ts aims them at another
  // workspace's schedules, webhooks and endpoints (404).
  "POST /hooks/:id": {
    needs: null,
    public: "an inbound webhook: no API key, the sender proves itself by the webhook's signature (api/hooks.ts); unknown ids are 404",
    harmless: () => ({ path: "/hooks/not-a-uuid", body: {} }),
  },
  "POST /api/agents/:agent/trigger": { needs: "operator", harmless: (o) => ({ path: `/api/agents/${o.agentName}/trigger`, body: { thread_key: " " } }) },
  "GET /api/schedules": { needs: "viewer", harmless: () => ({ path: "/api/schedules?limit=0" }) },
  "POST /api/schedules": { needs: "admin", harmless: () => ({ path: "/api/schedules", body: {} }) },
  "GET /api/schedules/:id": { needs: "viewer", harmless: () => ({ path: "/api/schedules/not-a-uuid" }) },
  "PATCH /api/schedules/:id": { needs: "admin", harmless: () => ({ path: "/api/schedules/not-a-uuid", body: {} }) },
  "POST /api/schedules/:id/pause": { needs: "operator", harmless: () => ({ path: "/api/schedules/not-a-uuid/pause", body: {} }) },
  "POST /api/schedules/:id/resume": { needs: "operator", harmless: () => ({ path: "/api/schedules/not-a-uuid/resume", body: {} }) },
  "DELETE /api/schedules/:id": { needs: "admin", harmless: () => ({ path: "/api/schedules/not-a-uuid" }) },
  "GET /api/schedules/:id/fires": { needs: "viewer", harmless: () => ({ path: "/api/schedules/not-a-uuid/fires" }) },
  "GET /api/webhooks": { needs: "viewer", harmless: () => ({ path: "/api/webhooks?limit=0" }) },
  "POST /api/webhooks": { needs: "admin", harmless: () => ({ path: "/api/webhooks", body: {} }) },
  "GET /api/webhooks/:id": { needs: "viewer", harmless: () => ({ path: "/api/webhooks/not-a-uuid" }) },
  "PATCH /api/webhooks/:id": { needs: "admin", harmless: () => ({ path: "/api/webhooks/not-a-uuid", body: {} }) },
  "DELETE /api/webhooks/:id": { needs: "admin", harmless: () => ({ path: "/api/webhooks/not-a-uuid" }) },
  "GET /api/webhooks/:id/deliveries": { needs: "viewer", harmless: () => ({ path: "/api/webhooks/not-a-uuid/deliveries" }) },
  "POST /api/webhooks/:id/test": { needs: "operator", harmless: () => ({ path: "/api/webhooks/not-a-uuid/test", body: {} }) },
  "GET /api/notification-endpoints": { needs: "viewer", harmless: () => ({ path: "/api/notification-endpoints?limit=0" }) },
  "POST /api/notification-endpoints": { needs: "admin", harmless: () => ({ path: "/api/notification-endpoints", body: {} }) },
  "GET /api/notification-endpoints/:id": { needs: "viewer", harmless: () => ({ path: "/api/notification-endpoints/not-a-uuid" }) },
  "PATCH /api/notification-endpoints/:id": { needs: "admin", harmless: () => ({ path: "/api/notification-endpoints/not-a-uuid", body: {} }) },
  "DELETE /api/notification-endpoints/:id": { needs: "admin", harmless: () => ({ path: "/api/notification-endpoints/not-a-uuid" }) },
  "GET /api/notifications": { needs: "viewer", harmless: () => ({ path: "/api/notifications?limit=0" }) },
  "GET /api/notifications/:id": { needs: "viewer", harmless: () => ({ path: "/api/notifications/not-a-uuid" }) },
  "POST /api/notifications/:id/resend": { needs: "operator", harmless: () => ({ path: "/api/notifications/not-a-uuid/resend", body: {} }) },
  // MCP (api/mcp.ts): every tool checks its own role and acts in the key's workspace;
  // api/test/mcp-server.test.ts aims the tools at another workspace's runs and agents.
  "POST /mcp": { needs: "viewer", harmless: () => ({ path: "/mcp", body: {} }) },
  "GET /mcp": { needs: "viewer", harmless: () => ({ path: "/mcp" }) },
  "DELETE /mcp": { needs: "viewer", harmless: () => ({ path: "/mcp" }) },
  // MCP OAuth (api/mcp-oauth.ts): connections of the key's workspace only (worker/test/mcp-oauth.test.ts
  // connects, lists and disconnects across two workspaces).
  "POST /api/mcp/oauth/connect": { needs: "operator", harmless: () => ({ path: "/api/mcp/oauth/connect", body: {} }) },
  "GET /api/mcp/oauth/callback": {
    needs: null,
    public:
      "the OAuth redirect back from an MCP server's authorization server: no API key, its state (32 random bytes, 10 minutes, used once) is the credential; unknown states count as failed authentications",
    harmless: () => ({ path: "/api/mcp/oauth/callback" }),
  },
  "GET /api/mcp/oauth": { needs: "viewer", harmless: () => ({ path: "/api/mcp/oauth" }) },
  "DELETE /api/mcp/oauth": { needs: "operator", harmless: () => ({ path: "/api/mcp/oauth?url=" }) },
};

function aguiBody(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    threadId: randomUUID(),
    runId: randomUUID(),
    messages: [{ id: randomUUID(), role: "user", content: "hi" }],
    tools: [],
    context: [],
    state: {},
    ...over,
  };
}

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
}

/** The routes of the running app, from its router (express 5: app.router.stack). */
function appRoutes(): string[] {
  const app = api.server.listeners("request")[0] as Express & { router: { stack: RouterLayer[] } };
  const out: string[] = [];
  const walk = (stack: RouterLayer[]) => {
    for (const layer of stack) {
      if (layer.route) for (const method of Object.keys(layer.route.methods)) out.push(`${method.toUpperCase()} ${layer.route.path}`);
      else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk(app.router.stack);
  return out.sort();
}

describe("REST, SSE and AG-UI", () => {
  it("the routes under test are exactly the app's routes", () => {
    expect(appRoutes()).toEqual(Object.keys(ROUTES).sort());
  });

  it("every route but /healthz answers 401 JSON without a valid key (none, malformed, unknown, revoked, expired)", async () => {
    const refused = await badKeys();
    const problems: string[] = [];
    for (const [route, spec] of Object.entries(ROUTES)) {
      if (spec.needs === null) continue;
      const method = route.split(" ")[0]!;
      for (const bad of refused) {
        const { path, body } = spec.harmless(A);
        const answer = await http(method, path, bad.key, body);
        const error = (answer.body as { error?: { code: string; message: string } }).error;
        if (answer.status !== 401 || error?.code !== bad.code || !bad.message.test(error.message)) {
          problems.push(`${route} with ${bad.what}: ${answer.status} ${answer.text.slice(0, 200)}`);
        }
      }
    }
    // an unknown path under /api too: authentication comes before the 404
    expect((await http("GET", "/api/no-such-route", null)).status).toBe(401);
    expect(problems).toEqual([]);
  });

  it("/healthz is public and tells nothing of any workspace", async () => {
    const answer = await http("GET", "/healthz", null);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body as object).sort()).toEqual(["database", "listening", "run_feeds", "sse_streams", "status"]);
  });

  it("each role of each workspace: a viewer's changes are refused with 403 naming operator; what a role may do is not refused", async () => {
    const problems: string[] = [];
    for (const side of [A, B]) {
      for (const [route, spec] of Object.entries(ROUTES)) {
        if (spec.needs === null) continue;
        const method = route.split(" ")[0]!;
        for (const role of ROLES) {
          const { path, body } = spec.harmless(side);
          const answer = await http(method, path, side.keys[role], body);
          const error = (answer.body as { error?: { code: string; message: string } }).error;
          if (ROLE_RANK[role] < ROLE_RANK[spec.needs]) {
            const wanted = new RegExp(`needs an API key with role ${spec.needs}${spec.needs === "admin" ? "" : " or admin"}; this key's role is ${role}$`);
            if (answer.status !== 403 || error?.code !== "forbidden" || !wanted.test(error.message)) {
              problems.push(`${route} with ${side.label}'s ${role} key: not 403: ${answer.status} ${answer.text.slice(0, 200)}`);
            }
          } else if (answer.status === 401 || answer.status === 403 || answer.status >= 500) {
            problems.push(`${route} with ${side.label}'s ${role} key: refused: ${answer.status} ${answer.text.slice(0, 200)}`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("each key of one workspace gets 404 for every run of the other, on every run route; nothing of the other changes", async () => {
    const before = { A: await snapshot(A.wsId), B: await snapshot(B.wsId) };
    const cases: Array<{ caller: Side; target: Side; route: string; spec: RouteSpec; runId: string; role: ApiKeyRole }> = [];
    for (const [caller, target] of [
      [A, B],
      [B, A],
    ] as Array<[Side, Side]>) {
      for (const [route, spec] of Object.entries(ROUTES)) {
        if (!route.includes(":id") || !spec.aimed || !spec.needs) continue;
        for (const runId of [target.finishedRunIds[0]!, target.interruptedRunId, target.queuedRunIds[0]!]) {
          for (const role of ROLES) cases.push({ caller, target, route, spec, runId, role });
        }
      }
    }
    const problems = await mapLimit(cases, 6, async ({ caller, target, route, spec, runId, role }) => {
      const { path, body } = spec.aimed!(target, runId, caller);
      const answer = await http(route.split(" ")[0]!, path, caller.keys[role], body);
      const error = (answer.body as { error?: { code: string; message: string } }).error;
      const expected = ROLE_RANK[role] < ROLE_RANK[spec.needs!] ? 403 : 404;
      const out: string[] = [];
      if (answer.status !== expected || (expected === 404 && (error?.code !== "not_found" || !error.message.includes(`unknown run ${runId}`)))) {
        out.push(`${route} for ${target.label}'s run with ${caller.label}'s ${role} key: ${answer.status} ${answer.text.slice(0, 200)}`);
      }
      if (leaks(answer.text, [target.tag, target.wsId]).length) out.push(`${route}: the answer names ${target.label}'s objects: ${answer.text.slice(0, 200)}`);
      return out;
    });
    expect(problems.flat()).toEqual([]);
    expect({ A: await snapshot(A.wsId), B: await snapshot(B.wsId) }).toEqual(before);
  });

  it("B's own keys read B's runs and their event streams (the 404s above are not for want of a run)", async () => {
    const run = await http("GET", `/api/runs/${B.finishedRunIds[0]}`, B.keys.viewer);
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ id: B.finishedRunIds[0], status: "succeeded" });
    const events = await http("GET", `/api/runs/${B.finishedRunIds[0]}/events`, B.keys.viewer);
    expect(events.status).toBe(200);
    expect(events.contentType).toMatch(/^text\/event-stream/);
    expect(events.text).toContain("RUN_FINISHED");
    expect(events.text).toContain(B.tag);
  });

  it("starting a run with A's keys: B's agent (by name or id) is unknown, B's thread is refused; nothing lands in B", async () => {
    const before = await snapshot(B.wsId);
    for (const role of ["operator", "admin"] as const) {
      for (const agent of [B.agentName, B.agentId]) {
        const answer = await http("POST", "/api/runs", A.keys[role], { agent, input: hello });
        expect({ role, agent, status: answer.status, body: answer.body }).toEqual({
          role,
          agent,
          status: 404,
          body: { error: { code: "not_found", message: `no agent with id or name "${agent}"` } },
        });
      }
      const onThread = await http("POST", "/api/runs", A.keys[role], { agent: A.agentName, input: hello, thread_id: B.threadId });
      expect(onThread.status, onThread.text).toBeGreaterThanOrEqual(400);
      expect(onThread.status, onThread.text).toBeLessThan(500);
      expect(leaks(onThread.text, [B.tag, B.wsId])).toEqual([]);
    }
    expect(await snapshot(B.wsId)).toEqual(before);
  });

  it("AG-UI with A's keys: B's agent (by name or id) is unknown; B's thread and B's run id are refused, never streamed; nothing lands in B", async () => {
    const before = await snapshot(B.wsId);
    const aRuns = async () => (await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs where workspace_id = $1", [A.wsId])).rows[0]!.n;
    const aBefore = await aRuns();
    for (const role of ["operator", "admin"] as const) {
      for (const agent of [B.agentName, B.agentId]) {
        const answer = await http("POST", `/api/agents/${encodeURIComponent(agent)}/agui`, A.keys[role], aguiBody());
        expect({ role, agent, status: answer.status, body: answer.body }).toEqual({
          role,
          agent,
          status: 404,
          body: { error: { code: "not_found", message: `no agent with id or name "${agent}"` } },
        });
      }
      for (const [what, over] of [
        ["B's thread", { threadId: B.threadId }],
        ["B's run id", { runId: B.finishedRunIds[0] }],
        ["B's run id on B's thread", { runId: B.finishedRunIds[0], threadId: B.threadId }],
      ] as Array<[string, Record<string, unknown>]>) {
        const answer = await http("POST", `/api/agents/${A.agentName}/agui`, A.keys[role], aguiBody(over));
        expect({ role, what, stream: answer.contentType.startsWith("text/event-stream") }).toEqual({ role, what, stream: false });
        expect({ role, what, status: answer.status >= 400 && answer.status < 500 }, answer.text).toEqual({ role, what, status: true });
        expect(leaks(answer.text, [B.tag, B.wsId])).toEqual([]);
      }
    }
    // the viewer is refused before anything is looked up
    const viewer = await http("POST", `/api/agents/${B.agentName}/agui`, A.keys.viewer, aguiBody());
    expect(viewer.status).toBe(403);
    expect(await snapshot(B.wsId)).toEqual(before);
    expect(await aRuns()).toBe(aBefore);
  });
});
