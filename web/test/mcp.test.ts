// The console's MCP views (issue 17), in a real headless browser over real Postgres, a real worker,
// a real MCP server (the SDK's, worker/test/fixtures/mcp-test-server.ts, over Streamable HTTP on
// loopback), the real API and the console's production build. Nothing is inserted by hand: the
// rows the pages read are the worker's own (tool lists, pins, dispatches, interrupts).
// - /mcp (a viewer) lists the server `fx` of an agent whose run listed it (ok, its tool count, a
//   pinned run) and the server `gone` of an agent whose run could not reach it (error, the error);
//   a row opens to its tools by the names the model sees, with their descriptions and hints;
// - the run page of a run calling a slow MCP tool marks the call as MCP (server fx) and shows its
//   progress (the server's message and a bar: it sends a total) while it runs, and the pinned list;
//   the conversation's tool call carries an "MCP · fx" badge;
// - a run whose MCP call timed out (its outcome unknown) ends interrupted with the question; on
//   its run page "Enter result…" asks to confirm, then posts {action: "result", result} through
//   resumeRun, and the continuation succeeds with that result; in the approvals inbox such a run
//   cannot be selected for bulk approve / reject, and "Call again…" posts {action: "retry"}; the
//   continuation sends the call again, and its run page says it was sent twice;
// - nowhere is such a question or its answer said as an approval: the waiting call reads "outcome
//   unknown — waiting for an answer", the continuation's answer item "fx__slow_write result
//   entered: …" / "called again", the answered question "Did fx__slow_write take effect?" with
//   its answer, and the approvals history lists both answers so.
// Screenshots (web/test/screenshots/): mcp-servers, mcp-run-progress, mcp-outcome-question,
// mcp-outcome-inbox, mcp-dispatched-twice, mcp-outcome-answered, mcp-outcome-history.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startMcpTestServer, type McpTestServer } from "../../worker/test/fixtures/mcp-test-server.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");
const fast = { initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 };

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let worker: WorkerHandle;
let browser: Browser;
let mcp: McpTestServer;
const keys = { operator: "", viewer: "" };
const agents = { echo: "", gone: "", slow: "", outcome: "" };

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  // off the current page first: its polling (a 401 redirecting to /login) must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

/** A run that timed out calling fx__slow_write (200 ms for a 1.5 s write): interrupted, its outcome unknown. */
async function outcomeRun(key: string): Promise<{ runId: string; interruptId: string; toolCallId: string }> {
  const runId = await startRun(db.pool, agents.outcome, key);
  const run = await waitForStatus(db.pool, runId, ["interrupted", "failed", "succeeded"]);
  expect(run.status).toBe("interrupted");
  const interrupt = (run as unknown as { interrupts: { interrupts: Array<{ id: string; reason: string; toolCallId: string }> } }).interrupts.interrupts[0]!;
  expect(interrupt.reason).toBe("tool_outcome_unknown");
  return { runId, interruptId: interrupt.id, toolCallId: interrupt.toolCallId };
}

/** The answers a continuation run carries (what resumeRun stored). */
async function resumeOf(runId: string): Promise<unknown> {
  const { rows } = await db.pool.query<{ input: { resume?: unknown } }>("select input from everruns.runs where id = $1", [runId]);
  return rows[0]?.input.resume;
}

beforeAll(async () => {
  db = await createTestDatabase();
  mcp = await startMcpTestServer();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  keys.operator = (await createApiKey(db.pool, { name: "mcp-operator", role: "operator" })).key;
  keys.viewer = (await createApiKey(db.pool, { name: "mcp-viewer", role: "viewer" })).key;
  const fx = (extra: Record<string, unknown> = {}) => ({ type: "mcp", name: "fx", url: mcp.url, ...extra });
  agents.echo = await createAgent(
    db.pool,
    { provider: "scripted", tools: [fx()], script: [{ text: "", tool_calls: [{ name: "fx__echo", arguments: { text: "hi" } }] }, { text: "echoed" }] },
    "mcp-echo",
  );
  agents.gone = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [{ type: "mcp", name: "gone", url: "http://127.0.0.1:1/mcp" }],
      retry: { max_attempts: 1, ...fast },
      script: [{ text: "never" }],
    },
    "mcp-gone",
  );
  agents.slow = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [fx()],
      script: [{ text: "", tool_calls: [{ name: "fx__slow_write", arguments: { key: "report", ms: 6000 } }] }, { text: "written" }],
    },
    "mcp-slow",
  );
  agents.outcome = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [fx({ timeout_ms: 200 })],
      retry: { max_attempts: 3, ...fast },
      script: [{ text: "", tool_calls: [{ name: "fx__slow_write", arguments: { key: "ticket", ms: 1500, quiet: true } }] }, { text: "after" }],
    },
    "mcp-outcome",
  );
  // the servers' rows: a successful listing (and its pin), and a failed one
  const ok = await startRun(db.pool, agents.echo, "echo");
  expect((await waitForStatus(db.pool, ok, ["succeeded", "failed"])).status).toBe("succeeded");
  const failed = await startRun(db.pool, agents.gone, "unreachable");
  expect((await waitForStatus(db.pool, failed, ["succeeded", "failed"])).status).toBe("failed");
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await web?.close();
  await api?.close();
  await mcp?.close();
  await db?.drop();
});

describe("/mcp", () => {
  it("a viewer sees each agent's servers: ok with its tools and pinned runs, error with its error; a row opens to its tools", async () => {
    await login(keys.viewer);
    const { page } = browser;
    await page.getByTestId("nav-mcp").click();
    await page.waitForURL(`${web.url}/mcp`);
    const fx = page.locator(`[data-testid=mcp-server-row][data-server=fx][data-agent-id="${agents.echo}"]`);
    await fx.waitFor();
    expect(await fx.getAttribute("data-status")).toBe("ok");
    expect(await fx.getByTestId("mcp-agent-link").textContent()).toBe("mcp-echo");
    expect(await fx.getByTestId("mcp-agent-link").getAttribute("href")).toBe(`/agents/${agents.echo}`);
    expect(await fx.getByTestId("mcp-endpoint").textContent()).toBe(mcp.url);
    const toolCount = Number(await fx.getByTestId("mcp-tool-count").textContent());
    expect(toolCount).toBeGreaterThan(5); // the test server lists its tools 5 a page: every page was read
    expect(await fx.getByTestId("mcp-pinned-runs").textContent()).toBe("1");
    expect(await fx.getByTestId("mcp-listed-at").textContent()).toMatch(/ago|just now/);

    const gone = page.locator("[data-testid=mcp-server-row][data-server=gone]");
    expect(await gone.getAttribute("data-status")).toBe("error");
    expect(await gone.getByTestId("mcp-last-error").textContent()).toMatch(/\S/);
    expect((await gone.getByTestId("mcp-tool-count").textContent())?.trim()).toBe("—");

    // its tools, by the names the model sees, with descriptions and hints
    await fx.getByTestId("mcp-server-toggle").click();
    const tools = page.locator(`[data-testid=mcp-server-tools][data-server=fx]`);
    await tools.waitFor();
    expect(await tools.getByTestId("mcp-tool").count()).toBe(toolCount);
    const names = await tools.getByTestId("mcp-tool-name").allTextContents();
    expect(names).toEqual(expect.arrayContaining(["fx__echo", "fx__slow_write", "fx__set_value"]));
    const echo = tools.locator("[data-testid=mcp-tool][data-tool=echo]");
    expect(await echo.locator("[data-testid=mcp-tool-hint]").evaluateAll((els) => els.map((e) => e.getAttribute("data-hint")))).toEqual(["read-only"]);
    expect(await tools.locator("[data-testid=mcp-tool][data-tool=set_value] [data-testid=mcp-tool-hint]").getAttribute("data-hint")).toBe("idempotent");
    expect(await tools.locator("[data-testid=mcp-tool][data-tool=slow_write] [data-testid=mcp-tool-description]").textContent()).toContain("not idempotent");
    await screenshot(page, "mcp-servers");
    expect(browser.errors).toEqual([]);
  });
});

describe("the run page", () => {
  it("marks a running MCP call with its server and shows its progress, then the pinned tool list", async () => {
    const { page } = browser;
    const runId = await startRun(db.pool, agents.slow, "write the report");
    await page.goto(`${web.url}/runs/${runId}`);
    const call = page.locator("[data-testid=mcp-call][data-server=fx]");
    await call.waitFor();
    expect(await call.getByTestId("mcp-call-server").textContent()).toBe("MCP · fx");
    // the conversation marks the call inline too
    const badge = page.locator("[data-testid=msg-tool][data-tool=fx__slow_write]").first().getByTestId("tool-mcp-server");
    await badge.waitFor();
    expect(await badge.textContent()).toBe("MCP · fx");
    expect(await badge.getAttribute("data-server")).toBe("fx");
    // the server sends progress every 100 ms with total = ms and a message
    await call.getByTestId("mcp-progress-bar").waitFor({ timeout: 15_000 });
    expect(await call.getByTestId("mcp-progress-message").textContent()).toBe("writing report");
    const first = Number(await call.getByTestId("mcp-progress-bar").getAttribute("aria-valuenow"));
    await waitFor("the bar to move", async () => {
      const now = Number(
        await call
          .getByTestId("mcp-progress-bar")
          .getAttribute("aria-valuenow")
          .catch(() => "0"),
      );
      return now > first ? true : undefined;
    });
    await screenshot(page, "mcp-run-progress");
    expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    await call.getByTestId("mcp-progress").waitFor({ state: "detached" });
    const pinned = page.locator("[data-testid=mcp-pinned-list][data-server=fx]");
    await pinned.waitFor();
    expect(await pinned.getByTestId("mcp-pinned-count").textContent()).toMatch(/^\d+ tools$/);
    expect(await call.getByTestId("mcp-dispatches").count()).toBe(0); // sent once
    expect(browser.errors).toEqual([]);
  });
});

describe("a call whose outcome is unknown", () => {
  it("the run page shows the question and its arguments; Enter result is confirmed, then posts {action: result}", async () => {
    await login(keys.operator);
    const { page } = browser;
    const { runId, interruptId, toolCallId } = await outcomeRun("ticket one");
    await page.goto(`${web.url}/runs/${runId}`);
    const question = page.locator(`[data-testid=outcome-question][data-interrupt-id="${interruptId}"]`);
    await question.waitFor();
    expect(await question.getByTestId("outcome-message").textContent()).toContain("whether it took effect is unknown");
    expect(JSON.parse((await question.getByTestId("interrupt-arguments").textContent())!)).toEqual({ key: "ticket", ms: 1500, quiet: true });
    expect(await question.getByTestId("outcome-dispatches").textContent()).toBe("sent 1 time");
    // no approve / reject for it
    expect(await page.getByTestId("interrupt-panel").getByTestId("approve").count()).toBe(0);
    await screenshot(page, "mcp-outcome-question");
    // the conversation says what the call waits for: not an approval
    const waitingCall = page.locator("[data-testid=msg-tool][data-tool=fx__slow_write]").first();
    expect(await waitingCall.getByTestId("tool-status").textContent()).toBe("outcome unknown — waiting for an answer");
    expect(await waitingCall.getByTestId("tool-mcp-server").textContent()).toBe("MCP · fx");
    expect(await page.getByTestId("conversation").textContent()).not.toMatch(/approv/i);

    // "Enter result…" asks first; going back sends nothing
    await question.getByTestId("outcome-enter-result").click();
    await question.getByTestId("outcome-cancel").click();
    await question.getByTestId("outcome-enter-result").click();
    const confirm = question.getByTestId("outcome-confirm-button");
    expect(await confirm.isDisabled()).toBe(true); // a result is required
    await question.getByTestId("outcome-result").fill("created ticket #42");
    await confirm.click();
    await page.waitForURL((url) => /\/runs\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(runId));
    const next = new URL(page.url()).pathname.split("/").pop()!;
    expect(await resumeOf(next)).toEqual([{ interruptId, status: "resolved", payload: { action: "result", result: "created ticket #42" } }]);
    expect((await waitForStatus(db.pool, next, ["succeeded", "failed", "interrupted"])).status).toBe("succeeded");
    // the continuation's answer item says what was answered
    const answer = page.getByTestId("msg-resume").getByTestId("resume-outcome");
    await answer.waitFor();
    expect(await answer.getAttribute("data-action")).toBe("result");
    expect(await answer.textContent()).toContain("fx__slow_write result entered:");
    expect(await answer.getByTestId("resume-outcome-result").textContent()).toBe("created ticket #42");
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    expect(await page.getByTestId("conversation").textContent()).not.toMatch(/approv/i);
    // the answered run: its question as asked, its answer, and what became of the call
    await page.goto(`${web.url}/runs/${runId}`);
    const asked = page.getByTestId("msg-interrupt");
    await asked.getByTestId("decision").waitFor();
    expect(await asked.textContent()).toContain("Did fx__slow_write take effect? Its outcome is unknown.");
    expect(await asked.getByTestId("decision").getAttribute("data-decision")).toBe("result");
    expect(await asked.getByTestId("decision").textContent()).toBe("result entered: “created ticket #42”");
    expect(await page.locator("[data-testid=msg-tool][data-tool=fx__slow_write]").first().getByTestId("tool-status").textContent()).toBe(
      "result entered: not called again",
    );
    await screenshot(page, "mcp-outcome-answered");
    expect(await page.getByTestId("conversation").textContent()).not.toMatch(/approv/i);
    // called once: the answer said what it did
    expect(mcp.calls.filter((c) => (c.meta as Record<string, unknown> | undefined)?.["io.everruns/idempotency-key"] === `${runId}:${toolCallId}`)).toHaveLength(
      1,
    );
    expect(browser.errors).toEqual([]);
  });

  it("the approvals inbox answers it with Call again (never by bulk); the continuation sends it again and says so", async () => {
    const { page } = browser;
    const { runId, interruptId, toolCallId } = await outcomeRun("ticket two");
    await page.goto(`${web.url}/approvals`);
    const row = page.locator(`[data-testid=approval][data-run-id="${runId}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-kind")).toBe("outcome");
    // bulk approve / reject cannot take it
    expect(await row.getByTestId("select-run").isDisabled()).toBe(true);
    await row.getByTestId("outcome-retry").click();
    expect(await row.getByTestId("outcome-confirm").textContent()).toContain("Call fx__slow_write again");
    await screenshot(page, "mcp-outcome-inbox");
    await row.getByTestId("outcome-confirm-button").click();
    const answered = page.locator(`[data-testid=answered][data-run-id="${runId}"]`);
    await answered.waitFor();
    expect(await answered.getByTestId("outcome-decision").getAttribute("data-decision")).toBe("retry");
    const { rows } = await db.pool.query<{ continued_by: string }>("select continued_by from everruns.runs where id = $1", [runId]);
    const next = rows[0]!.continued_by;
    expect(await resumeOf(next)).toEqual([{ interruptId, status: "resolved", payload: { action: "retry" } }]);

    // called again (it times out again: a second unknown outcome asks again)
    expect((await waitForStatus(db.pool, next, ["succeeded", "failed", "interrupted"])).status).toBe("interrupted");
    expect(mcp.calls.filter((c) => (c.meta as Record<string, unknown> | undefined)?.["io.everruns/idempotency-key"] === `${runId}:${toolCallId}`)).toHaveLength(
      2,
    );
    await page.goto(`${web.url}/runs/${next}`);
    const call = page.locator(`[data-testid=mcp-call][data-tool-call-id="${toolCallId}"]`);
    await call.getByTestId("mcp-dispatches").waitFor();
    expect(await call.getByTestId("mcp-dispatches").textContent()).toBe("sent 2×");
    // and asks again, saying it was sent twice
    expect(await page.getByTestId("outcome-dispatches").textContent()).toBe("sent 2 times");
    await screenshot(page, "mcp-dispatched-twice");
    const again = page.getByTestId("msg-resume").getByTestId("resume-outcome");
    expect(await again.getAttribute("data-action")).toBe("retry");
    expect(await again.textContent()).toBe("fx__slow_write called again");
    expect(await page.locator("[data-testid=msg-tool][data-tool=fx__slow_write]").first().getByTestId("tool-status").textContent()).toBe(
      "outcome unknown — waiting for an answer",
    );
    expect(await page.getByTestId("conversation").textContent()).not.toMatch(/approv/i);

    // the approvals history lists both answers as what they were
    await page.goto(`${web.url}/approvals`);
    const history = page.getByTestId("approvals-history");
    const retried = history.locator(`[data-testid=history-row][data-run-id="${runId}"]`).getByTestId("history-decision");
    await retried.waitFor();
    expect(await retried.textContent()).toContain("Did fx__slow_write take effect? Its outcome is unknown.");
    expect(await retried.getByTestId("decision").getAttribute("data-decision")).toBe("retry");
    expect(await retried.getByTestId("decision").textContent()).toBe("called again");
    const entered = history.locator("[data-testid=history-decision]:has([data-decision=result])");
    expect(await entered.getByTestId("decision").textContent()).toBe("result entered: “created ticket #42”");
    expect(await history.textContent()).not.toMatch(/approve calling|approved/i);
    await history.scrollIntoViewIfNeeded();
    await screenshot(page, "mcp-outcome-history");
    expect(browser.errors).toEqual([]);
  });
});
