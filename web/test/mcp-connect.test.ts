// The console's Connect button for MCP servers that require OAuth (issue 17), in a real headless
// browser over real Postgres, the real API (in process, EVERRUNS_SECRET_KEY set), the console's
// production build and an MCP server that requires OAuth (worker/test/fixtures/mcp-oauth-server.ts:
// its authorization server approves at once). Nothing is inserted by hand but the agent.
// - a viewer sees the agent's `"oauth": true` server on /mcp as not connected, and no Connect;
// - an operator clicks Connect: connectMcpServer (through the console's /graphql proxy) answers
//   the authorization URL, the tab goes there, the authorization server redirects it to the API's
//   callback (EVERRUNS_PUBLIC_URL + /api/mcp/oauth/callback: the console's proxy calls the API at
//   its own address, which need not be the browsers'), which says "Connected"; back on /mcp the
//   server is connected, with its token's expiry, and the button says Reconnect;
// - the viewer sees it connected, still with no buttons;
// - Disconnect asks to confirm; confirmed, the connection is gone (the row and on the page);
// - without EVERRUNS_PUBLIC_URL the callback is the API's address as the console's server calls
//   it (its EVERRUNS_WEB_API_URL, the proxy's Host), which is why deployments set it.
// Screenshots (web/test/screenshots/): mcp-oauth-not-connected, mcp-oauth-callback,
// mcp-oauth-connected, mcp-oauth-disconnect-confirm.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createAgent, createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { MCP_OAUTH_CALLBACK_PATH, PUBLIC_URL_ENV } from "../../api/mcp-oauth.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { generateSecretKey, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { startMcpOauthServer, type McpOauthTestServer } from "../../worker/test/fixtures/mcp-oauth-server.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");
const saved = { key: process.env[SECRET_KEY_ENV], publicUrl: process.env[PUBLIC_URL_ENV] };

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
let oauth: McpOauthTestServer;
const keys = { operator: "", viewer: "" };
let agentId = "";

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  // off the current page first: its polling (a 401 redirecting to /login) must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

/** The /mcp page's OAuth row of the fixture's server, once it shows `status`. */
async function oauthRow(status: string) {
  const { page } = browser;
  const row = page.locator(`[data-testid=mcp-oauth-row][data-url="${new URL(oauth.url).href}"][data-status=${status}]`);
  await row.waitFor();
  return row;
}

async function connectionRows(): Promise<Array<{ status: string; redirect_uri: string | null }>> {
  const { rows } = await db.pool.query<{ status: string; redirect_uri: string | null }>(
    "select status, redirect_uri from everruns.mcp_oauth_connections where server_url = $1",
    [new URL(oauth.url).href],
  );
  return rows;
}

beforeAll(async () => {
  process.env[SECRET_KEY_ENV] = generateSecretKey();
  db = await createTestDatabase();
  oauth = await startMcpOauthServer({ accessTokenLifetimeS: 3600 });
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  // the authorization server sends the browser back to the API: at its address as browsers reach
  // it (the console's proxy calls the API at EVERRUNS_WEB_API_URL, which a deployment need not expose)
  process.env[PUBLIC_URL_ENV] = api.url;
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  keys.operator = (await createApiKey(db.pool, { name: "connect-operator", role: "operator" })).key;
  keys.viewer = (await createApiKey(db.pool, { name: "connect-viewer", role: "viewer" })).key;
  agentId = await createAgent(
    db.pool,
    { provider: "scripted", tools: [{ type: "mcp", name: "secure", url: oauth.url, oauth: true }], script: [{ text: "hi" }] },
    "oauth-agent",
  );
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await api?.close();
  await oauth?.close();
  await db?.drop();
  for (const [name, value] of [
    [SECRET_KEY_ENV, saved.key],
    [PUBLIC_URL_ENV, saved.publicUrl],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe("/mcp OAuth connections", () => {
  it("a viewer sees the agent's OAuth server as not connected, and no Connect button", async () => {
    await login(keys.viewer);
    const { page } = browser;
    await page.goto(`${web.url}/mcp`);
    const row = await oauthRow("none");
    expect(await row.getByTestId("mcp-oauth-badge").textContent()).toBe("not connected");
    expect(await row.getByTestId("mcp-oauth-agent").textContent()).toBe("oauth-agent");
    expect(await row.getByTestId("mcp-oauth-agent").getAttribute("href")).toBe(`/agents/${agentId}`);
    expect(await row.getByTestId("mcp-oauth-connect").count()).toBe(0);
    expect(await page.getByTestId("mcp-oauth-readonly").textContent()).toMatch(/needs an operator key/);
    expect(await page.getByTestId("mcp-oauth-readonly").getAttribute("title")).toMatch(/role operator/);
    await screenshot(page, "mcp-oauth-not-connected");
    expect(browser.errors).toEqual([]);
  });

  it("an operator clicks Connect: the tab goes to the authorization server and lands on the API's callback page, Connected", async () => {
    await login(keys.operator);
    const { page } = browser;
    await page.goto(`${web.url}/mcp`);
    const row = await oauthRow("none");
    const button = row.getByTestId("mcp-oauth-connect");
    expect(await button.textContent()).toBe("Connect");
    await button.click();
    // same tab: authorization URL → (auto-approved) redirect → the API's callback
    await page.waitForURL((url) => url.href.startsWith(`${api.url}${MCP_OAUTH_CALLBACK_PATH}?`));
    const body = await page.locator("body").textContent();
    expect(body).toContain(`Connected ${new URL(oauth.url).href} for workspace`);
    expect(body).toContain("You can close this tab.");
    await screenshot(page, "mcp-oauth-callback");
    // the callback URL the connect gave the authorization server: the API's real one
    expect(oauth.clients.size).toBe(1);
    expect([...oauth.clients.values()][0]!.redirect_uris).toEqual([`${api.url}${MCP_OAUTH_CALLBACK_PATH}`]);
    expect((await connectionRows()).map((r) => r.status)).toEqual(["connected"]);

    await page.goto(`${web.url}/mcp`);
    const connected = await oauthRow("connected");
    expect(await connected.getByTestId("mcp-oauth-badge").textContent()).toBe("connected");
    // the fixture's access tokens live an hour
    expect(await connected.getByTestId("mcp-oauth-expires-at").textContent()).toMatch(/^in (59 min|1 h)$/);
    expect(await connected.getByTestId("mcp-oauth-connect").textContent()).toBe("Reconnect");
    expect(await connected.getByTestId("mcp-oauth-error").count()).toBe(0);
    await screenshot(page, "mcp-oauth-connected");
    expect(browser.errors).toEqual([]);
  });

  it("the viewer sees it connected, still without buttons", async () => {
    await login(keys.viewer);
    const { page } = browser;
    await page.goto(`${web.url}/mcp`);
    const row = await oauthRow("connected");
    expect(await row.getByTestId("mcp-oauth-connect").count()).toBe(0);
    expect(await row.getByTestId("mcp-oauth-disconnect").count()).toBe(0);
    expect(browser.errors).toEqual([]);
  });

  it("Disconnect asks to confirm; confirmed, the connection is gone", async () => {
    await login(keys.operator);
    const { page } = browser;
    await page.goto(`${web.url}/mcp`);
    const row = await oauthRow("connected");
    await row.getByTestId("mcp-oauth-disconnect").click();
    const confirm = row.getByTestId("mcp-oauth-disconnect-confirm");
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain(new URL(oauth.url).href);
    await screenshot(page, "mcp-oauth-disconnect-confirm");
    // cancelling keeps it
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
    expect((await connectionRows()).map((r) => r.status)).toEqual(["connected"]);
    await row.getByTestId("mcp-oauth-disconnect").click();
    await row.getByTestId("mcp-oauth-confirm-disconnect").click();
    const gone = await oauthRow("none");
    expect(await gone.getByTestId("mcp-oauth-connect").textContent()).toBe("Connect");
    expect(await connectionRows()).toEqual([]);
    expect(browser.errors).toEqual([]);
  });

  it("without EVERRUNS_PUBLIC_URL the callback is the API's address as the console's proxy calls it", async () => {
    const { page } = browser;
    delete process.env[PUBLIC_URL_ENV];
    try {
      const answer = await page.evaluate(async (url) => {
        const res = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({
            query: "mutation ($input: ConnectMcpServerInput!) { connectMcpServer(input: $input) { url authorizationUrl } }",
            variables: { input: { url } },
          }),
        });
        return (await res.json()) as { data?: { connectMcpServer: { url: string; authorizationUrl: string } }; errors?: unknown };
      }, oauth.url);
      expect(answer.errors).toBeUndefined();
      const authorize = new URL(answer.data!.connectMcpServer.authorizationUrl);
      expect(authorize.searchParams.get("redirect_uri")).toBe(`${api.url}${MCP_OAUTH_CALLBACK_PATH}`);
      expect(await connectionRows()).toEqual([{ status: "pending", redirect_uri: `${api.url}${MCP_OAUTH_CALLBACK_PATH}` }]);
    } finally {
      process.env[PUBLIC_URL_ENV] = api.url;
    }
  });
});
