// OAuth for MCP servers, end to end (issue 17): a scratch database, the real API (in process,
// EVERRUNS_SECRET_KEY set), an in-process worker and an MCP server that requires OAuth
// (fixtures/mcp-oauth-server.ts: the SDK's mcpAuthRouter and requireBearerAuth over an in-memory
// authorization server that approves at once). An operator connects the workspace through the
// REST routes (connect → the authorization URL → its redirect to our callback → "Connected"),
// then agents with `"oauth": true` list and call the server's tools; an expired access token is
// refreshed and the new tokens stored; a refused refresh fails the run naming how to reconnect;
// the callback refuses unknown states; nothing sealed reaches REST or GraphQL; a viewer cannot
// connect; another workspace sees nothing and cannot use the connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createWorkspace } from "../../db/sql/workspaces.ts";
import { createAgent, createTestDatabase, getSteps, startRun, toolOutput, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { bearer, DEFAULT_WORKSPACE_ID, postJson, startTestApi, type TestApiHandle } from "../../api/test/helpers.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { mcpOauthPlace } from "../../db/sql/mcpOauth.ts";
import { generateSecretKey, openSecret, sealSecret, secretKeyFromEnv } from "../../lib/secret-box.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { startMcpOauthServer, type McpOauthTestServer } from "./fixtures/mcp-oauth-server.ts";

let db: TestDatabase;
let api: TestApiHandle;
let worker: WorkerHandle | null = null;
let server: McpOauthTestServer;
let operatorKey: string;
let viewerKey: string;
let otherKey: string;
let otherWorkspaceId: string;
const log = consoleLogger("[test-worker]", (process.env.EVERRUNS_TEST_LOG as "info" | undefined) ?? "warn");
const previousKey = process.env.EVERRUNS_SECRET_KEY;

beforeAll(async () => {
  process.env.EVERRUNS_SECRET_KEY = generateSecretKey(); // the API seals, the worker opens: the same key
  db = await createTestDatabase();
  server = await startMcpOauthServer({ accessTokenLifetimeS: 3600 });
  api = await startTestApi(db.url);
  operatorKey = (await createApiKey(db.pool, { name: "oauth-operator", role: "operator", workspaceId: null })).key;
  viewerKey = (await createApiKey(db.pool, { name: "oauth-viewer", role: "viewer", workspaceId: null })).key;
  const other = await createWorkspace(db.pool, `other-${Date.now()}`);
  otherWorkspaceId = other.id;
  otherKey = (await createApiKey(db.pool, { name: "oauth-other", role: "admin", workspaceId: otherWorkspaceId })).key;
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log });
});

afterAll(async () => {
  await worker?.stop();
  await api?.close();
  await server?.close();
  await db?.drop();
  if (previousKey === undefined) delete process.env.EVERRUNS_SECRET_KEY;
  else process.env.EVERRUNS_SECRET_KEY = previousKey;
});

interface ConnectAnswer {
  authorization_url: string;
  state: string;
  expires_at: string;
}

/** Connects the default workspace to the fixture as an operator would: returns the callback's page. */
async function connect(): Promise<{ status: number; html: string; state: string }> {
  const started = await postJson<ConnectAnswer>(`${api.url}/api/mcp/oauth/connect`, { url: server.url }, bearer(operatorKey));
  expect(started.status).toBe(201);
  expect(started.body.state.length).toBeGreaterThanOrEqual(43);
  // the browser: the authorization server approves at once and redirects to our callback
  const authorize = await fetch(started.body.authorization_url, { redirect: "manual" });
  expect(authorize.status).toBe(302);
  const location = new URL(authorize.headers.get("location")!);
  expect(`${location.origin}${location.pathname}`).toBe(`${api.url}/api/mcp/oauth/callback`);
  expect(location.searchParams.get("state")).toBe(started.body.state);
  expect(location.searchParams.get("code")).toBeTruthy();
  const callback = await fetch(location.href);
  return { status: callback.status, html: await callback.text(), state: started.body.state };
}

async function connectionRow(): Promise<Record<string, unknown>> {
  const { rows } = await db.pool.query(
    "select * from everruns.mcp_oauth_connections where server_url = $1 and workspace_id = everruns_private.default_workspace_id()",
    [server.url],
  );
  return rows[0] as Record<string, unknown>;
}

function oauthAgent(extra: Record<string, unknown> = {}): Promise<string> {
  return createAgent(db.pool, {
    provider: "scripted",
    tools: [{ type: "mcp", name: "secure", url: server.url, oauth: true, tool_list_ttl_s: 0, ...extra }],
    script: [{ text: "", tool_calls: [{ name: "secure__echo", arguments: { text: "hi" } }] }, { text: "done" }],
  });
}

describe("MCP OAuth", () => {
  it("an agent with oauth whose workspace never connected fails at once with mcp_unavailable naming the fix", async () => {
    const agent = await oauthAgent();
    const run = await waitForStatus(db.pool, await startRun(db.pool, agent, "go"), ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "mcp_unavailable" });
    expect(run.error!.message).toContain("MCP server secure needs to be connected");
    expect(run.error!.message).toContain("POST /api/mcp/oauth/connect");
    expect(server.calls).toHaveLength(0);
    // the console's MCP servers page says so
    const { rows } = await db.pool.query("select status, last_error from everruns.mcp_servers where agent_id = $1", [agent]);
    expect(rows).toEqual([{ status: "error", last_error: expect.stringContaining("needs to be connected") as unknown }]);
  });

  it("a viewer cannot connect; an unknown state at the callback is a 400 page and stores nothing", async () => {
    const refused = await postJson(`${api.url}/api/mcp/oauth/connect`, { url: server.url }, bearer(viewerKey));
    expect(refused.status).toBe(403);
    const unknown = await fetch(`${api.url}/api/mcp/oauth/callback?code=abc&state=${"x".repeat(43)}`);
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get("content-type")).toContain("text/html");
    expect(await unknown.text()).toContain("unknown, already used or expired");
    const none = await fetch(`${api.url}/api/mcp/oauth/callback`);
    expect(none.status).toBe(400);
    const { rows } = await db.pool.query("select count(*)::int as n from everruns.mcp_oauth_connections");
    expect(rows[0]).toEqual({ n: 0 });
  });

  it("connects through the API; an agent with oauth lists and calls the server's tools; the callback answers no secret", async () => {
    const { status, html, state } = await connect();
    expect(status).toBe(200);
    expect(html).toContain(`Connected ${server.url} for workspace default. You can close this tab.`);
    expect(server.grants).toEqual(["authorization_code"]);
    expect(server.clients.size).toBe(1);
    const row = await connectionRow();
    // the access token's expiry, by the database clock (an hour, the fixture's default lifetime)
    expect(new Date(row.expires_at as Date).getTime() - Date.now()).toBeGreaterThan(3500_000);
    expect(row).toMatchObject({ status: "connected", state: null, code_verifier_sealed: null, connected_by: expect.stringMatching(/^key:/) as unknown });
    // no token in the page, sealed at rest
    expect(html).not.toMatch(/at_[0-9a-f]{32}|rt_[0-9a-f]{32}/);
    expect(Buffer.from(row.tokens_sealed as Buffer).toString("latin1")).not.toMatch(/at_[0-9a-f]{32}/);
    // the state is spent
    const again = await fetch(`${api.url}/api/mcp/oauth/callback?code=abc&state=${state}`);
    expect(again.status).toBe(400);
    // audited
    const audit = await db.pool.query("select action, actor, details from everruns.audit_log where action like 'mcp.%' order by seq");
    expect(audit.rows).toEqual([
      { action: "mcp.connected", actor: expect.stringMatching(/^key:/) as unknown, details: { server_url: server.url, scopes: [] } },
    ]);

    const agent = await oauthAgent();
    const runId = await startRun(db.pool, agent, "go");
    const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    expect(run.status).toBe("succeeded");
    const steps = await getSteps(db.pool, runId);
    expect(toolOutput(steps[1])).toMatchObject({ is_error: false, content: expect.stringContaining("echo: hi") as unknown });
    expect(server.calls.map((c) => c.tool)).toEqual(["echo"]);

    // REST: the connection without anything sealed
    const listed = await fetch(`${api.url}/api/mcp/oauth`, { headers: bearer(viewerKey) });
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as { connections: Array<Record<string, unknown>> };
    expect(body.connections).toHaveLength(1);
    expect(body.connections[0]).toMatchObject({ server_url: server.url, status: "connected", scopes: [] });
    expect(Object.keys(body.connections[0]!).sort()).toEqual(
      ["client_id", "connected_at", "connected_by", "expires_at", "last_error", "last_refreshed_at", "scopes", "server_url", "status", "updated_at"].sort(),
    );
    // another workspace sees nothing
    const other = await fetch(`${api.url}/api/mcp/oauth`, { headers: bearer(otherKey) });
    expect(((await other.json()) as { connections: unknown[] }).connections).toEqual([]);
  });

  it("GraphQL shows the connection without its sealed columns", async () => {
    const intro = await postJson<{ data: { __type: { fields: Array<{ name: string }> } | null } }>(
      `${api.url}/graphql`,
      { query: '{ __type(name: "McpOauthConnection") { fields { name } } }' },
      bearer(viewerKey),
    );
    expect(intro.status).toBe(200);
    const fields = intro.body.data.__type?.fields.map((f) => f.name) ?? [];
    expect(fields).toContain("serverUrl");
    expect(fields).toContain("status");
    for (const hidden of ["tokensSealed", "clientInformationSealed", "codeVerifierSealed", "state", "flowClientSealed", "redirectUri", "generation"]) {
      expect(fields).not.toContain(hidden);
    }
  });

  it("an expired access token is refreshed and the new tokens are stored", async () => {
    server.accessTokenLifetimeS = 1;
    await db.pool.query("update everruns.mcp_oauth_connections set last_refreshed_at = null");
    // a fresh grant with a 1 s access token
    expect((await connect()).status).toBe(200);
    const before = await connectionRow();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const grantsBefore = server.grants.length;
    const agent = await oauthAgent();
    const run = await waitForStatus(db.pool, await startRun(db.pool, agent, "go"), ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    expect(server.grants.slice(grantsBefore)).toContain("refresh_token");
    const after = await connectionRow();
    expect(after.last_refreshed_at).not.toBeNull();
    expect(Buffer.compare(after.tokens_sealed as Buffer, before.tokens_sealed as Buffer)).not.toBe(0);
    expect(after.status).toBe("connected");
    server.accessTokenLifetimeS = 3600;
  });

  it("runs that find the token expired at once refresh it without failing each other (the server rotates refresh tokens)", async () => {
    server.accessTokenLifetimeS = 1;
    expect((await connect()).status).toBe(200);
    const agent = await oauthAgent();
    // the worker's pooled connection holds the grant's tokens
    expect((await waitForStatus(db.pool, await startRun(db.pool, agent, "warm"), ["succeeded", "failed"])).error).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const runs = await Promise.all(Array.from({ length: 4 }, (_, i) => startRun(db.pool, agent, `together ${i}`)));
    const ended = await Promise.all(runs.map((id) => waitForStatus(db.pool, id, ["succeeded", "failed"])));
    expect(ended.map((r) => r.error)).toEqual([null, null, null, null]);
    expect((await connectionRow()).status).toBe("connected");
    server.accessTokenLifetimeS = 3600;
  });

  it("a worker whose refresh token another worker rotated away reads the row again and goes on with its tokens", async () => {
    server.accessTokenLifetimeS = 1;
    expect((await connect()).status).toBe(200);
    const agent = await oauthAgent();
    // the worker's pooled connection holds the connection's tokens
    expect((await waitForStatus(db.pool, await startRun(db.pool, agent, "go"), ["succeeded", "failed"])).error).toBeNull();
    // "another worker" refreshes them (the server rotates the refresh token) and stores the new ones
    const row = await connectionRow();
    const key = secretKeyFromEnv()!;
    const place = mcpOauthPlace(DEFAULT_WORKSPACE_ID, server.url, "tokens");
    const held = JSON.parse(openSecret(key, row.tokens_sealed as Buffer, place)) as { refresh_token: string; issuer?: string };
    const refreshed = await fetch(`${server.issuer}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: held.refresh_token, client_id: row.client_id as string }),
    });
    expect(refreshed.status).toBe(200);
    const newer = { ...((await refreshed.json()) as Record<string, unknown>), issuer: held.issuer };
    await db.pool.query("update everruns.mcp_oauth_connections set tokens_sealed = $1 where id = $2", [sealSecret(key, JSON.stringify(newer), place), row.id]);
    const refusedBefore = server.refusedRefreshes;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const run = await waitForStatus(db.pool, await startRun(db.pool, agent, "go"), ["succeeded", "failed"]);
    expect(run.error).toBeNull();
    // its own refresh was refused (during the run, or the pooled connection's background stream
    // during the wait), it took the row's and refreshed those
    expect(server.refusedRefreshes).toBe(refusedBefore + 1);
    expect(await connectionRow()).toMatchObject({ status: "connected" });
    server.accessTokenLifetimeS = 3600;
  });

  it("a revoked refresh token fails the run with mcp_unavailable naming how to reconnect, and the row is failed", async () => {
    server.accessTokenLifetimeS = 1;
    expect((await connect()).status).toBe(200);
    server.revokeRefreshTokens();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const agent = await oauthAgent();
    const run = await waitForStatus(db.pool, await startRun(db.pool, agent, "go"), ["succeeded", "failed"]);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "mcp_unavailable" });
    expect(run.error!.message).toContain("MCP server secure needs to be connected");
    expect(run.error!.message).toContain("POST /api/mcp/oauth/connect");
    const row = await connectionRow();
    expect(row).toMatchObject({ status: "failed", tokens_sealed: null });
    expect(row.last_error).toMatch(/refused/);
    server.accessTokenLifetimeS = 3600;
  });

  it("another workspace cannot use the connection; disconnect deletes it (audited)", async () => {
    expect((await connect()).status).toBe(200);
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: [{ type: "mcp", name: "secure", url: server.url, oauth: true, tool_list_ttl_s: 0 }],
      script: [{ text: "done" }],
    });
    const { rows } = await db.pool.query<{ id: string }>(
      "insert into everruns.agents (workspace_id, name, config) select $1, name || '-b', config from everruns.agents where id = $2 returning id",
      [otherWorkspaceId, agent],
    );
    const run = await waitForStatus(db.pool, await startRun(db.pool, rows[0]!.id, "go"), ["succeeded", "failed"]);
    expect(run.error).toMatchObject({ code: "mcp_unavailable" });
    const notTheirs = await fetch(`${api.url}/api/mcp/oauth?url=${encodeURIComponent(server.url)}`, { method: "DELETE", headers: bearer(otherKey) });
    expect(notTheirs.status).toBe(404);
    const byViewer = await fetch(`${api.url}/api/mcp/oauth?url=${encodeURIComponent(server.url)}`, { method: "DELETE", headers: bearer(viewerKey) });
    expect(byViewer.status).toBe(403);
    const gone = await fetch(`${api.url}/api/mcp/oauth?url=${encodeURIComponent(server.url)}`, { method: "DELETE", headers: bearer(operatorKey) });
    expect(gone.status).toBe(200);
    expect(await gone.json()).toEqual({ disconnected: true, url: server.url });
    expect(await connectionRow()).toBeUndefined();
    const audit = await db.pool.query("select action from everruns.audit_log where action = 'mcp.disconnected'");
    expect(audit.rows).toHaveLength(1);
  });
  it("the authorization server's error at the callback is shown (escaped) and the connect is failed", async () => {
    const started = await postJson<ConnectAnswer>(`${api.url}/api/mcp/oauth/connect`, { url: server.url, scopes: ["read"] }, bearer(operatorKey));
    expect(started.status).toBe(201);
    expect(started.body.authorization_url).toContain("scope=read");
    const params = new URLSearchParams({ state: started.body.state, error: "access_denied", error_description: "<script>alert(1)</script>" });
    const answer = await fetch(`${api.url}/api/mcp/oauth/callback?${params.toString()}`);
    expect(answer.status).toBe(400);
    const html = await answer.text();
    expect(html).toContain("access_denied: &lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).not.toContain("<script>");
    expect(await connectionRow()).toMatchObject({
      status: "failed",
      tokens_sealed: null,
      state: null,
      last_error: expect.stringContaining("access_denied") as unknown,
    });
    // the state is spent
    expect((await fetch(`${api.url}/api/mcp/oauth/callback?${params.toString()}`)).status).toBe(400);
  });
});
