// The operations console end to end, in a real headless browser: real Postgres, a real worker,
// the real API and the real console (its production build, served by scripts/web.ts). Each test
// leaves a screenshot of the page it drove in web/test/screenshots/.
//
// The console acts for an API key: the browser logs in first (the login page, or the
// /login#key=… link `everruns start` prints); the keys are made on the test database, in the
// `default` workspace, where the agents and runs of these tests are too.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getRun, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey, revokeApiKey } from "../../db/sql/apiKeys.ts";
import { cancelRun } from "../../db/sql/cancelRun.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const level = (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error";
const log = consoleLogger("[test-web]", level);

let db: TestDatabase;
let worker: WorkerHandle;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
const agents: Record<string, string> = {};
const keys = { admin: "", viewer: "", viewerId: "" };
const SESSION_COOKIE = "everruns_session";
/** Well-formed, but no key of this Everruns. */
const UNKNOWN_KEY = `evr_${"A".repeat(43)}`;

const STREAMED_TEXT =
  "Durable execution means every step is a checkpoint in Postgres. " +
  "When a worker dies in the middle of a step, another worker notices within a second, " +
  "frees the job and runs the step again; a step whose result was committed never runs twice. " +
  "This reply streams in small chunks over three seconds so the console shows it token by token.";

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  keys.admin = (await createApiKey(db.pool, { name: "console-admin", role: "admin" })).key;
  const viewer = await createApiKey(db.pool, { name: "console-viewer", role: "viewer" });
  keys.viewer = viewer.key;
  keys.viewerId = viewer.info.id;
  agents.streamer = await createAgent(
    db.pool,
    { provider: "scripted", model: "scripted-stream", script: [{ text: STREAMED_TEXT, delay_ms: 3000 }] },
    "streamer",
  );
  agents.worky = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ text: "Working.", tool_calls: [{ name: "simulate_work", arguments: { ms: 1500 } }] }, { text: "Done working." }],
    },
    "worky",
  );
  agents.sleeper = await createAgent(
    db.pool,
    { provider: "scripted", tools: ["simulate_work"], script: [{ tool_calls: [{ name: "simulate_work", arguments: { ms: 60_000 } }] }] },
    "sleeper",
  );
  agents.broken = await createAgent(db.pool, { provider: "scripted", script: [{ text: "never", error: "bad_request" }] }, "broken");
  agents.banker = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "I will transfer the money.", tool_calls: [{ name: "echo", arguments: { transfer: 100, to: "ACME" } }] }, { text: "Transfer handled." }],
    },
    "banker",
  );
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

/** Uncaught exceptions in the pages: none is acceptable. */
function expectNoPageErrors() {
  expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
}

const rowOf = (runId: string) => browser.page.locator(`[data-testid=runs-table] tr[data-run-id="${runId}"]`);

/** A fresh session with `key`, through the link `everruns start` prints; lands on /runs. */
async function loginWith(key: string, role: string) {
  const { page, context } = browser;
  await context.clearCookies();
  await page.goto("about:blank"); // from the login page itself, a new fragment would not reload it
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
  await page.locator(`[data-testid=session-role][data-role=${role}]`).waitFor();
}

async function sessionCookie() {
  return (await browser.context.cookies(web.url)).find((c) => c.name === SESSION_COOKIE);
}

/** POST /session of the console, from node (no browser: no Origin unless given). */
function postSession(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${web.url}/session`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("logging in", () => {
  it("sends a visitor without a session to the login page, says why a key is refused, and brings them back once logged in", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/runs?status=running`);
    await page.waitForURL(`${web.url}/login?next=${encodeURIComponent("/runs?status=running")}`);
    const field = page.getByTestId("login-key");
    await field.waitFor();
    expect(await field.getAttribute("type")).toBe("password");
    await screenshot(page, "login");

    // not a key at all, then a well-formed one the API does not know: the server's message, each time
    await field.fill("hunter2");
    await page.getByTestId("login-submit").click();
    await expect.poll(() => page.getByTestId("login-error").textContent()).toMatch(/not an Everruns API key/);
    await field.fill(UNKNOWN_KEY);
    await page.getByTestId("login-submit").click();
    await expect.poll(() => page.getByTestId("login-error").textContent()).toMatch(/this API key is not a key of this Everruns/);
    expect(await sessionCookie()).toBeUndefined();
    await screenshot(page, "login-refused");

    await field.fill(keys.admin);
    await page.getByTestId("login-submit").click();
    await page.waitForURL(`${web.url}/runs?status=running`);
    // the header: the key's workspace and role
    expect(await page.getByTestId("session-workspace").textContent()).toBe("default");
    expect(await page.getByTestId("session-role").textContent()).toBe("admin");
    await page.getByTestId("filter-status").waitFor();
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    await screenshot(page, "logged-in");
    expectNoPageErrors();
  });

  it("logs in from the link `everruns start` prints, and takes the key out of the address bar", async () => {
    const { page, context } = browser;
    // a refused key in the link: the error, and the key is gone from the address bar all the same
    await context.clearCookies();
    await page.goto("about:blank");
    await page.goto(`${web.url}/login#key=${UNKNOWN_KEY}`);
    await expect.poll(() => page.getByTestId("login-error").textContent()).toMatch(/The key in the link was refused: this API key is not a key/);
    expect(page.url()).toBe(`${web.url}/login`);

    await loginWith(keys.admin, "admin");
    expect(page.url()).toBe(`${web.url}/runs`);
    expect(await page.evaluate(() => window.location.hash)).toBe("");
    expect(await page.getByTestId("session-workspace").textContent()).toBe("default");
    // back: the login page was replaced, not left in the history with the key
    await page.goBack();
    expect(page.url()).not.toContain(keys.admin);
    await page.goto(`${web.url}/runs`);
    await page.getByTestId("session").waitFor();
    expectNoPageErrors();
  });

  it("keeps the key in an httpOnly cookie, and the API never sees the cookie", async () => {
    const { page } = browser;
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ value: keys.admin, httpOnly: true, sameSite: "Strict", path: "/", secure: false });
    const hoursLeft = (cookie!.expires * 1000 - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(11.9);
    expect(hoursLeft).toBeLessThanOrEqual(12);
    expect(await page.evaluate(() => document.cookie)).not.toContain(SESSION_COOKIE);

    // what reaches the API, HTTP and websocket, while the console loads a page
    const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
    const record = (req: IncomingMessage) => void seen.push({ url: req.url ?? "", headers: req.headers });
    api.server.prependListener("request", record);
    api.server.prependListener("upgrade", record);
    try {
      await page.reload();
      await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
      await page.getByTestId("session-role").waitFor();
    } finally {
      api.server.off("request", record);
      api.server.off("upgrade", record);
    }
    const graphql = seen.filter((r) => r.url.startsWith("/graphql"));
    expect(graphql.filter((r) => r.headers.upgrade === "websocket").length).toBeGreaterThanOrEqual(1);
    expect(graphql.filter((r) => r.headers.upgrade !== "websocket").length).toBeGreaterThanOrEqual(1);
    for (const r of graphql) {
      expect(r.headers.cookie).toBeUndefined();
      expect(r.headers.authorization).toBe(`Bearer ${keys.admin}`);
    }

    // the cookie is no credential of the API's: without an Authorization header it is refused
    const whoami = JSON.stringify({ query: "{ whoami { role workspaceName } }" });
    const direct = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: `${SESSION_COOKIE}=${keys.admin}` },
      body: whoami,
    });
    expect(direct.status).toBe(401);
    // through the console, the same cookie is the session
    const proxied = await fetch(`${web.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: `${SESSION_COOKIE}=${keys.admin}` },
      body: whoami,
    });
    expect(proxied.status).toBe(200);
    expect(await proxied.json()).toEqual({ data: { whoami: { role: "admin", workspaceName: "default" } } });
    // and a caller's own Authorization header is not passed on: the console acts for its session only
    const smuggled = await fetch(`${web.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${keys.admin}` },
      body: whoami,
    });
    expect(smuggled.status).toBe(401);
    expectNoPageErrors();
  });

  it("takes logins and logouts only as JSON from its own origin, and sets the cookie's attributes", async () => {
    const evil = { origin: "http://evil.example" };
    const refused = await postSession({ key: keys.admin }, evil);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("origin_not_allowed");
    expect(refused.headers.get("set-cookie")).toBeNull();
    const logoutRefused = await fetch(`${web.url}/session`, { method: "DELETE", headers: evil });
    expect(logoutRefused.status).toBe(403);
    expect(logoutRefused.headers.get("set-cookie")).toBeNull();
    expect((await fetch(`${web.url}/session/logout`, { method: "POST", headers: evil })).status).toBe(403);

    // a form post (no JSON) is no login
    const form = await fetch(`${web.url}/session`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: web.url },
      body: `key=${keys.admin}`,
    });
    expect(form.status).toBe(415);
    expect(form.headers.get("set-cookie")).toBeNull();
    expect((await postSession("{not json")).status).toBe(400);
    expect((await postSession({})).status).toBe(400);

    // the API's refusal, as it said it
    const wrong = await postSession({ key: UNKNOWN_KEY }, { origin: web.url });
    expect(wrong.status).toBe(401);
    const refusal = (await wrong.json()) as { error: { code: string; message: string } };
    expect(refusal.error.code).toBe("invalid_key");
    expect(refusal.error.message).toMatch(/not a key of this Everruns/);

    const ok = await postSession({ key: keys.viewer }, { origin: web.url });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ workspace: { name: "default" }, role: "viewer" });
    const set = ok.headers.get("set-cookie")!;
    expect(set).toMatch(new RegExp(`^${SESSION_COOKIE}=${keys.viewer};`));
    for (const attribute of ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"]) expect(set).toContain(attribute);
    expect(set).not.toMatch(/Secure/);
    // behind a proxy that terminates TLS: Secure
    const secure = await postSession({ key: keys.viewer }, { "x-forwarded-proto": "https" });
    expect(secure.headers.get("set-cookie")).toMatch(/; Secure/);

    // GET /session: the session's workspace and role, or 401
    const mine = await fetch(`${web.url}/session`, { headers: { cookie: `${SESSION_COOKIE}=${keys.viewer}` } });
    expect(await mine.json()).toMatchObject({ workspace: { name: "default" }, role: "viewer" });
    expect((await fetch(`${web.url}/session`)).status).toBe(401);
    const out = await fetch(`${web.url}/session`, { method: "DELETE", headers: { origin: web.url } });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(new RegExp(`^${SESSION_COOKIE}=; Max-Age=0`));
  });

  it("logs out back to the login page, and the session is gone", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/agents`);
    await page.getByTestId("session").waitFor();
    await page.getByTestId("logout").click();
    await page.waitForURL(`${web.url}/login`);
    await expect.poll(() => page.getByTestId("login-notice").textContent()).toBe("You have logged out.");
    expect(await sessionCookie()).toBeUndefined();
    await screenshot(page, "logged-out");
    await page.goto(`${web.url}/agents`);
    await page.waitForURL(`${web.url}/login?next=${encodeURIComponent("/agents")}`);
    expectNoPageErrors();
  });
});

describe("the operations console", () => {
  beforeAll(async () => {
    await loginWith(keys.admin, "admin");
  });

  it("shows an empty runs table, and lists the agents", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/`);
    await page.waitForURL(/\/runs$/);
    await page.getByTestId("empty").getByText("No runs yet").waitFor();
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    await screenshot(page, "runs-empty");

    await page.getByTestId("nav-agents").click();
    await page.getByTestId("agents-table").waitFor();
    for (const name of ["streamer", "worky", "banker"]) await page.locator(`tr[data-agent="${name}"]`).waitFor();
    await screenshot(page, "agents");
    expectNoPageErrors();
  });

  it("starts a run from an agent's page and streams its text in as it is written", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/agents/${agents.streamer}`);
    await page.getByTestId("prompt").fill("Explain durable execution");
    await page.getByTestId("start-run-submit").click();
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/);
    const runId = page.url().split("/").at(-1)!;

    // read the assistant's text while it streams: it must grow in several steps
    const assistant = page.getByTestId("msg-assistant").first();
    await assistant.waitFor();
    const seen = new Set<number>();
    let shotMidStream = false;
    await waitFor(
      "the streamed text to be complete",
      async () => {
        const text = (await assistant.locator("p").textContent()) ?? "";
        if (text.length > 0 && text.length < STREAMED_TEXT.length) {
          seen.add(text.length);
          if (!shotMidStream && text.length > 60) {
            shotMidStream = true;
            await screenshot(page, "run-streaming");
          }
        }
        return text === STREAMED_TEXT;
      },
      20_000,
      40,
    );
    expect(seen.size).toBeGreaterThanOrEqual(3);
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    await expect.poll(() => page.getByTestId("msg-user").first().textContent()).toContain("Explain durable execution");
    // the timeline has the LLM step, the usage card the tokens the run used
    await page.locator("[data-testid=timeline-step][data-kind=llm]").first().waitFor();
    const run = await getRun(db.pool, runId);
    await expect.poll(() => page.getByTestId("usage-output-tokens").textContent()).toBe(String(run.usage.output_tokens));
    // the raw AG-UI log ends with RUN_FINISHED
    await page.getByTestId("event-log-section").locator("summary").click();
    await page.locator("[data-testid=event-row][data-type=RUN_FINISHED]").waitFor();
    await screenshot(page, "run-detail");
    expectNoPageErrors();
  });

  it("updates the runs table live while a run started by a SQL insert progresses", async () => {
    const { page } = browser;
    // filtered on running: the row must arrive, then leave when the run succeeds
    await page.goto(`${web.url}/runs?status=running`);
    await page.getByTestId("filter-status").waitFor();
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    const runId = await startRun(db.pool, agents.worky!, "do some work");
    await rowOf(runId).waitFor();
    expect(await rowOf(runId).getAttribute("data-status")).toBe("running");
    await screenshot(page, "runs-live-running");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    await rowOf(runId).waitFor({ state: "detached" });

    // unfiltered, the same row shows the run's final numbers, still without a reload
    await page.getByTestId("filter-status").selectOption("");
    await page.locator(`[data-testid=runs-table] tr[data-run-id="${runId}"][data-status=succeeded]`).waitFor();
    const second = await startRun(db.pool, agents.worky!, "more work");
    await rowOf(second).waitFor();
    await page.locator(`[data-testid=runs-table] tr[data-run-id="${second}"][data-status=succeeded]`).waitFor({ timeout: 30_000 });
    const cells = await rowOf(second).locator("td").allTextContents();
    expect(cells.join(" ")).toContain("worky");
    expect(Number(cells[6])).toBe(3); // llm, tool, llm
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // search by id finds exactly that run
    await page.getByTestId("search-id").fill(runId);
    await page.getByTestId("search-id").press("Enter");
    await page.waitForURL(new RegExp(`q=${runId}`));
    await expect.poll(() => page.locator("[data-testid=runs-table] tbody tr").count()).toBe(1);
    await rowOf(runId).waitFor();
    await page.goto(`${web.url}/runs`);
    await rowOf(second).waitFor();
    await screenshot(page, "runs-live");
    expectNoPageErrors();
  });

  it("cancels a running run", async () => {
    const { page } = browser;
    const runId = await startRun(db.pool, agents.sleeper!, "sleep for a minute");
    await page.goto(`${web.url}/runs/${runId}`);
    await page.locator("[data-testid=run-status][data-status=running]").waitFor();
    await page.getByTestId("cancel-run").click();
    await page.getByTestId("confirm-cancel").click();
    await page.locator("[data-testid=run-status][data-status=cancelled]").waitFor();
    expect((await getRun(db.pool, runId)).status).toBe("cancelled");
    // the conversation ends with the cancellation (the log's terminal event)
    await page.locator("[data-testid=msg-cancelled], [data-testid=msg-error]").first().waitFor();
    await expect.poll(() => page.getByTestId("cancel-run").count()).toBe(0);
    await screenshot(page, "run-cancelled");
    expectNoPageErrors();
  });

  it("creates an agent, shows the API's validation error next to the editor, and diffs two versions", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/agents`);
    await page.getByTestId("new-agent").click();
    await page.getByTestId("agent-name").fill("console-made");
    await page.getByTestId("config-editor").fill(JSON.stringify({ provider: "scripted", max_steps: 0 }, null, 2));
    await page.getByTestId("create-agent-submit").click();
    const error = page.getByTestId("config-error");
    await error.waitFor();
    expect(await error.textContent()).toMatch(/invalid agent config: max_steps: must be a whole number from 1 to 100000/);
    await screenshot(page, "agent-create-error");

    await page.getByTestId("config-editor").fill(JSON.stringify({ provider: "scripted", max_steps: 5, script: [{ text: "Hi." }] }, null, 2));
    await page.getByTestId("create-agent-submit").click();
    await page.waitForURL(/\/agents\/[0-9a-f-]{36}$/);
    const editor = page.getByTestId("config-editor");
    await editor.waitFor();
    await editor.fill(JSON.stringify({ provider: "scripted", max_steps: 8, script: [{ text: "Hello there." }] }, null, 2));
    await page.getByTestId("save-config").click();
    await page.getByText("saved as v2").waitFor();
    const diff = page.getByTestId("diff");
    await diff.waitFor();
    const removed = await diff.locator("[data-op=del]").allTextContents();
    const added = await diff.locator("[data-op=add]").allTextContents();
    expect(removed.join("\n")).toContain('"max_steps": 5');
    expect(added.join("\n")).toContain('"max_steps": 8');
    await screenshot(page, "agent-versions");
    expectNoPageErrors();
  });

  // Depends on everruns.resume_run and approval interrupts (db/migrations/000002_capabilities.sql).
  it("approves an interrupted run from the inbox, and answers another with edited arguments; the work continues", async () => {
    const { page } = browser;
    const first = await startRun(db.pool, agents.banker!, "Send 100 to ACME");
    const second = await startRun(db.pool, agents.banker!, "Send 100 to ACME again");
    await waitForStatus(db.pool, first, ["interrupted"]);
    await waitForStatus(db.pool, second, ["interrupted"]);

    await page.goto(`${web.url}/approvals`);
    const item = page.locator(`[data-testid=approval][data-run-id="${first}"]`);
    await item.waitFor();
    await page.locator(`[data-testid=approval][data-run-id="${second}"]`).waitFor();
    // oldest first
    const order = await page.locator("[data-testid=approval]").evaluateAll((els) => els.map((el) => el.getAttribute("data-run-id")));
    expect(order.indexOf(first)).toBeLessThan(order.indexOf(second));
    await page.getByTestId("approvals-badge").waitFor();
    await screenshot(page, "approvals");

    await item.getByTestId("approve").click();
    await item.waitFor({ state: "detached" });
    const continuation = await waitFor("the continuation run", async () => {
      const { rows } = await db.pool.query<{ id: string }>("select id from everruns.runs where parent_run_id = $1", [first]);
      return rows[0]?.id;
    });
    await waitForStatus(db.pool, continuation, ["succeeded"]);
    await page.getByRole("link", { name: continuation.slice(0, 8) }).click();
    await page.waitForURL(new RegExp(`/runs/${continuation}$`));
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    await page.getByTestId("msg-assistant").getByText("Transfer handled.").waitFor();

    // the other one from its own page, with edited arguments
    await page.goto(`${web.url}/runs/${second}`);
    const panel = page.getByTestId("interrupt-panel");
    await panel.waitFor();
    await panel.getByTestId("edit").click();
    await panel.getByTestId("edit-arguments").fill(JSON.stringify({ transfer: 250, to: "ACME" }));
    await screenshot(page, "run-interrupted");
    await panel.getByTestId("approve-edited").click();
    await page.waitForURL((url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(second));
    const edited = page.url().split("/").at(-1)!;
    expect((await getRun(db.pool, edited)).status).not.toBe("interrupted");
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    await expect.poll(async () => (await page.getByTestId("tool-result").allTextContents()).join(" ")).toContain("250");
    await screenshot(page, "run-continued");

    // the thread reads as one conversation: the question, the approval, the answer
    const { threadId } = (await db.pool.query<{ threadId: string }>('select thread_id as "threadId" from everruns.runs where id = $1', [second])).rows[0]!;
    await page.goto(`${web.url}/threads/${threadId}`);
    await expect.poll(() => page.getByTestId("thread-run").count()).toBe(2);
    await page.getByTestId("msg-resume").waitFor();
    await page.getByText("Transfer handled.").first().waitFor();
    await screenshot(page, "thread");
    expectNoPageErrors();
  });

  it("renders the operations dashboard with data", async () => {
    const { page } = browser;
    const failed = await startRun(db.pool, agents.broken!, "fail please");
    await waitForStatus(db.pool, failed, ["failed"]);
    await page.goto(`${web.url}/dashboard`);
    await page.getByTestId("dashboard").waitFor();
    const { rows } = await db.pool.query<{ n: number }>("select count(*)::int as n from everruns.runs");
    await expect.poll(() => page.getByTestId("stat-runs").locator("div").nth(1).textContent()).toBe(String(rows[0]!.n));
    expect(await page.locator("[data-testid=status-bars] [data-key=failed] span").last().textContent()).not.toBe("0");
    await page.locator(`[data-testid=failures] a[href="/runs/${failed}"]`).waitFor();
    expect(await page.getByTestId("worker-row").count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator("[data-testid=chart-throughput] svg rect").count()).toBeGreaterThan(0);
    expect(await page.locator("[data-testid=chart-latency] svg path").count()).toBeGreaterThan(0);
    expect(await page.getByTestId("usage-row").count()).toBeGreaterThanOrEqual(3);
    expect(await page.getByTestId("stat-success").textContent()).toMatch(/%/);
    // both interrupted runs were answered: none needs an answer any more
    expect(await page.getByTestId("stat-interrupted").locator("div").nth(1).textContent()).toBe("0");
    expect(await page.getByTestId("approvals-badge").count()).toBe(0);
    await screenshot(page, "dashboard");
    await page.getByTestId("dashboard-window").selectOption("86400");
    await page.locator("[data-testid=chart-throughput] svg").waitFor();
    expectNoPageErrors();
  });

  it("says so when the API goes away, and recovers by itself when it returns", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/runs`);
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    const port = api.port;
    await api.close();
    await page.getByTestId("offline-banner").waitFor({ timeout: 15_000 });
    // work goes on without the API: a run started meanwhile shows up once it is back
    const runId = await startRun(db.pool, agents.worky!, "while the API was down");
    await screenshot(page, "api-down");
    api = await startApi({ databaseUrl: db.url, port, log, graphiql: false });
    await page.getByTestId("offline-banner").waitFor({ state: "detached", timeout: 20_000 });
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    await rowOf(runId).waitFor();
    await waitForStatus(db.pool, runId, ["succeeded"]);
    // live again: the row follows the run to its end
    await page.locator(`[data-testid=runs-table] tr[data-run-id="${runId}"][data-status=succeeded]`).waitFor({ timeout: 30_000 });
    await screenshot(page, "api-recovered");
    expectNoPageErrors();
  });
});

describe("a viewer key", () => {
  beforeAll(async () => {
    await loginWith(keys.viewer, "viewer");
  });

  it("sees the workspace's runs and agents, but may not cancel, start or edit: the buttons say which role it takes, and the API refuses", async () => {
    const { page } = browser;
    expect(await page.getByTestId("session-workspace").textContent()).toBe("default");
    await page.locator("[data-testid=connection-state][data-state=online]").waitFor();
    const runId = await startRun(db.pool, agents.sleeper!, "sleep while a viewer watches");
    try {
      await rowOf(runId).waitFor();
      await page.goto(`${web.url}/runs/${runId}`);
      await page.locator("[data-testid=run-status][data-status=running]").waitFor();
      const cancel = page.getByTestId("cancel-run");
      expect(await cancel.isDisabled()).toBe(true);
      expect(await cancel.getAttribute("data-needs-role")).toBe("operator");
      expect(await cancel.getAttribute("title")).toMatch(/Needs an API key with role operator or admin; this session's key is a viewer key/);
      await screenshot(page, "viewer-run");

      // the API says the same to a viewer's session that asks anyway
      const answer = await page.evaluate(async (id) => {
        const res = await fetch("/graphql", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "mutation ($id: UUID!) { cancelRun(runId: $id) { cancelled } }", variables: { id } }),
        });
        return (await res.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
      }, runId);
      expect(answer.errors?.[0]?.extensions?.code).toBe("forbidden");
      expect(answer.errors?.[0]?.message).toMatch(/needs an API key with role operator/);
      expect((await getRun(db.pool, runId)).status).toBe("running");

      // an agent: no run started, no config saved, no agent created
      await page.goto(`${web.url}/agents/${agents.worky}`);
      await page.getByTestId("config-editor").waitFor();
      await page.getByTestId("prompt").fill("please");
      expect(await page.getByTestId("start-run-submit").isDisabled()).toBe(true);
      expect(await page.getByTestId("start-run-submit").getAttribute("data-needs-role")).toBe("operator");
      expect(await page.getByTestId("save-config").getAttribute("data-needs-role")).toBe("admin");
      await page.goto(`${web.url}/agents`);
      await page.getByTestId("agents-table").waitFor();
      expect(await page.getByTestId("new-agent").isDisabled()).toBe(true);
      expect(await page.getByTestId("new-agent").getAttribute("title")).toMatch(/role admin; this session's key is a viewer key/);
      await screenshot(page, "viewer-agents");
    } finally {
      await cancelRun(db.pool, runId);
    }
    expectNoPageErrors();
  });

  it("is sent back to the login page, saying why, when its key is revoked", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/runs`);
    await page.getByTestId("session").waitFor();
    expect(await revokeApiKey(db.pool, keys.viewerId)).toBe(true);
    api.authenticator.clear(); // else within 5 s
    // the next request with the key: the agents page's, unless a live refresh on /runs was quicker
    // (/runs is where the login page leads anyway: no ?next= then)
    // (a live refresh may already be navigating to the login page: the page's context is then gone)
    await page.evaluate(() => document.querySelector<HTMLElement>("[data-testid=nav-agents]")?.click()).catch(() => undefined);
    await page.waitForURL(/\/login(\?next=%2Fagents)?$/);
    await expect.poll(() => page.getByTestId("login-notice").textContent()).toMatch(/Your session has ended: this API key has been revoked/);
    expect(await sessionCookie()).toBeUndefined();
    await screenshot(page, "session-revoked");
    expectNoPageErrors();
  });
});
