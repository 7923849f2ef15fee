// The console's navigation in a real headless browser (issue 13, point 11): the threads list, a
// filtered runs view opened from its URL, a dashboard chart click that opens the runs behind a
// bar, and the Workers & queue page with a live worker running a step and a run queued behind
// it. Real Postgres, worker, API and the console's production build; screenshots in
// web/test/screenshots/ (threads, runs-filtered, dashboard-chart-click, workers-queue).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { setWorkspaceLimits } from "../../db/sql/workspaceLimits.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-nav]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

let db: TestDatabase;
let worker: WorkerHandle;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
let adminKey = "";
const agents: Record<string, string> = {};
const runs: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  // one slot: a long step keeps the worker busy and the next run queued (the workers test)
  worker = await startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 2000, log });
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  adminKey = (await createApiKey(db.pool, { name: "nav-admin", role: "admin" })).key;
  agents.helper = await createAgent(db.pool, { provider: "scripted", model: "scripted-model-with-a-long-full-name-v2", script: [{ text: "Sure." }] }, "helper");
  agents.broken = await createAgent(db.pool, { provider: "scripted", script: [{ text: "never", error: "bad_request" }] }, "broken");
  runs.ok = await startRun(db.pool, agents.helper, "Where is the invoice for order 5521?");
  runs.bad = await startRun(db.pool, agents.broken, "Summarise the quarterly report");
  await waitForStatus(db.pool, runs.ok, ["succeeded"]);
  await waitForStatus(db.pool, runs.bad, ["failed"]);
  // a second turn on the first thread
  const { rows } = await db.pool.query<{ id: string }>(
    "insert into everruns.runs (agent_id, thread_id, input) select agent_id, thread_id, $2 from everruns.runs where id = $1 returning id",
    [runs.ok, JSON.stringify({ messages: [{ role: "user", content: "And for order 5522?" }] })],
  );
  runs.second = rows[0]!.id;
  await waitForStatus(db.pool, runs.second, ["succeeded"]);
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

async function login() {
  const { page, context } = browser;
  await context.clearCookies();
  await page.goto("about:blank");
  await page.goto(`${web.url}/login#key=${adminKey}`);
  await page.waitForURL(`${web.url}/runs`);
}

function expectNoPageErrors() {
  expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
}

describe("navigation", () => {
  it("lists threads with their first message, agent, run count and latest run, linked from the navigation", async () => {
    await login();
    const { page } = browser;
    await page.getByTestId("nav-threads").click();
    await page.waitForURL(`${web.url}/threads`);
    const rowsLoc = page.getByTestId("thread-row");
    await expect.poll(() => rowsLoc.count()).toBe(2);
    // newest activity first: the thread with the second turn
    const first = rowsLoc.first();
    await expect.poll(() => first.textContent()).toContain("Where is the invoice for order 5521?");
    expect(await first.textContent()).toContain("helper");
    expect(await first.locator("td").nth(3).textContent()).toBe("2");
    expect(await first.locator(`a[href="/runs/${runs.second}"]`).count()).toBe(1);
    expect(await rowsLoc.nth(1).textContent()).toContain("failed");
    await screenshot(page, "threads");
    await first.locator("td").nth(1).click();
    await page.waitForURL(/\/threads\/[0-9a-f-]{36}$/);
    expectNoPageErrors();
  });

  it("opens a filtered runs view from its URL: status, error code, agent and version, date range, input text search", async () => {
    const { page } = browser;
    const created = (await db.pool.query<{ c: Date }>("select created_at as c from everruns.runs where id = $1", [runs.bad])).rows[0]!.c;
    const from = new Date(created.getTime() - 60_000).toISOString();
    const to = new Date(created.getTime() + 60_000).toISOString();
    await page.goto(`${web.url}/runs?status=failed&error=bad_request&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    const table = page.getByTestId("runs-table");
    await table.waitFor();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    expect(await table.locator(`tr[data-run-id="${runs.bad}"]`).count()).toBe(1);
    expect(await page.getByTestId("run-error-code").first().textContent()).toBe("bad_request");
    expect(await page.getByTestId("filter-error").inputValue()).toBe("bad_request");
    expect(await page.getByTestId("filter-from").inputValue()).not.toBe("");
    await screenshot(page, "runs-filtered");

    // a text search of the input, and the agent's version on the rows
    await page.goto(`${web.url}/runs?q=${encodeURIComponent("order 5522")}`);
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    expect(await table.locator(`tr[data-run-id="${runs.second}"]`).count()).toBe(1);
    expect(await page.getByTestId("search-note").textContent()).toMatch(/last 30 days/);
    expect(await table.getByTestId("run-agent-version").first().textContent()).toBe("v1");
    await screenshot(page, "runs-search");

    // agent and version from the URL; a thread id finds its runs
    await page.goto(`${web.url}/runs?agent=${agents.helper}&version=1`);
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    const thread = (await db.pool.query<{ t: string }>("select thread_id as t from everruns.runs where id = $1", [runs.ok])).rows[0]!.t;
    await page.goto(`${web.url}/runs?q=${thread}`);
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    expectNoPageErrors();
  });

  it("a click on a dashboard bar opens the runs behind it", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/dashboard`);
    const failedBar = page.locator('[data-testid=chart-throughput] rect[data-series="failed"]');
    await failedBar.first().waitFor();
    await failedBar.first().click();
    await page.waitForURL(/\/runs\?status=failed&from=.*&to=.*&by=finished/);
    const table = page.getByTestId("runs-table");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    expect(await table.locator(`tr[data-run-id="${runs.bad}"]`).count()).toBe(1);
    await screenshot(page, "dashboard-chart-click");

    // a day's bar of an agent's tokens: that agent's runs of the day
    await page.goto(`${web.url}/dashboard`);
    const helperDay = page.locator('[data-testid=chart-tokens] rect[data-series="helper"]').last();
    await helperDay.waitFor();
    await helperDay.click();
    await page.waitForURL(new RegExp(`/runs\\?agent=${agents.helper}&from=`));
    await expect.poll(() => table.locator("tbody tr").count()).toBe(2);
    expectNoPageErrors();
  });

  it("shows the Workers & queue page: a live worker running a step, a run queued behind it, a timer", async () => {
    const { page } = browser;
    // FIFO admission: the run queued behind the busy slot gets its job at once, so the page shows
    // it ready (with fair share on, the default, it would wait for admission without a job: the
    // Limits card counts those, api/test/workspace-limits.test.ts)
    await db.pool.query("select everruns_private.set_scheduler(false)");
    // a second worker that comes and goes: its clean stop is recorded (a crash is in api/test/navigation.test.ts)
    const passing = await startWorker({ databaseUrl: db.url, concurrency: 1, shutdownTimeoutMs: 2000, log });
    await passing.stop();
    const slow = await createAgent(db.pool, { provider: "scripted", script: [{ text: "", delay_ms: 120_000 }] }, "slowpoke");
    const sleeper = await createAgent(
      db.pool,
      { provider: "scripted", tools: ["sleep"], script: [{ text: "", tool_calls: [{ name: "sleep", arguments: { seconds: 7200 } }] }, { text: "woke" }] },
      "sleeper",
    );
    runs.sleeping = await startRun(db.pool, sleeper, "sleep two hours");
    await waitForStatus(db.pool, runs.sleeping, ["waiting"]);
    runs.slow = await startRun(db.pool, slow, "take your time");
    await waitForStatus(db.pool, runs.slow, ["running"]);
    runs.queued = await startRun(db.pool, agents.helper, "waiting in line");
    // the workspace's limits (issue 14): a max_queued_runs, runs per minute left unlimited
    const { rows: ws } = await db.pool.query<{ id: string }>("select id from everruns.workspaces where name = 'default'");
    await setWorkspaceLimits(db.pool, ws[0]!.id, { maxQueuedRuns: 20, runsPerMinute: null });

    await page.getByTestId("nav-workers").click();
    await page.waitForURL(`${web.url}/workers`);
    const liveWorker = page.getByTestId("live-worker");
    await expect.poll(() => liveWorker.count()).toBe(1);
    await expect.poll(() => liveWorker.getByTestId("worker-step").getAttribute("data-run-id")).toBe(runs.slow);
    expect(await liveWorker.textContent()).toContain("slowpoke");
    // an admin sees the host and pid
    expect(await liveWorker.textContent()).toContain(String(process.pid));
    await expect.poll(() => page.getByTestId("stat-ready").textContent()).toMatch(/Ready1/);
    await expect.poll(async () => (await page.getByTestId("timer").getAttribute("data-run-id")) ?? "").toBe(runs.sleeping);
    expect(await page.getByTestId("timer").textContent()).toContain("a timer (sleep)");
    // the Limits card: the set limit with the queued run against it, "unlimited" where unset, and the command
    const limits = page.getByTestId("workspace-limits");
    await expect.poll(() => limits.getByTestId("limit-max-queued").textContent()).toContain("1 of 20 queued");
    expect(await limits.getByTestId("limit-runs-per-minute").textContent()).toContain("unlimited");
    expect(await limits.getByTestId("limits-howto").textContent()).toContain("everruns workspaces limits default --max-queued-runs N");
    // the queue chart draws once a worker sampled it (every 5 s)
    await waitFor(
      "a queue sample with the ready run",
      async () => ((await db.pool.query("select 1 from everruns_private.queue_samples where ready > 0")).rows.length > 0 ? true : undefined),
      20_000,
    );
    // (the page refreshes every 5 s): the chart leaves its empty state
    await expect.poll(() => page.getByTestId("chart-queue-depth").getByText("No job of this workspace").count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => page.locator("[data-testid=worker-exit][data-crashed=false]").count()).toBe(1);
    expect(await page.getByTestId("worker-exit").textContent()).toContain("stopped cleanly");
    await screenshot(page, "workers-queue");
    expectNoPageErrors();
    await db.pool.query("select everruns_private.set_scheduler(true)");
  }, 90_000);
});
