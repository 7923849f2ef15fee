// The console's Batches pages (issue 15), in a real headless browser over real Postgres, a real
// worker, the real API and the console's production build. A batch is made in SQL of items whose
// runs wait for an event ("go"): the test decides when each finishes (an event wakes one, which
// then succeeds; cancelling its run cancels it), so nothing depends on how fast the machine is.
// - the list shows the batch with its status, a progress bar in proportion and done of total;
// - the batch's page shows the counts by status, the throughput chart with a bar, and follows the
//   batch live (an item finishing in SQL moves the counts without a reload);
// - Pause, then Resume, change the status shown and the batch's row (and the audit log);
// - the items table filters by status, links to the item's run, whose page links back to the
//   item of the batch;
// - a viewer key sees no control; an operator's Cancel asks first, then cancels the batch;
//   Retry failed (with the cancelled items) runs it again, and the page follows it live again.
// Screenshots (web/test/screenshots/): batches-list, batch-page, batch-paused, batch-items-cancelled,
// batch-viewer, batch-cancel-confirm, batch-cancelled.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let worker: WorkerHandle;
let browser: Browser;
const keys = { operator: "", viewer: "" };
let batchId = "";

interface Counts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

async function counts(): Promise<Counts> {
  const { rows } = await db.pool.query<Counts>(
    "select total::int, queued::int, running::int, succeeded::int, failed::int, cancelled::int from everruns.batch_progress($1)",
    [batchId],
  );
  return rows[0]!;
}

async function batchStatus(): Promise<string> {
  const { rows } = await db.pool.query<{ status: string }>("select status from everruns.batches where id = $1", [batchId]);
  return rows[0]!.status;
}

/** The run of an item once its run waits for the event (released and parked). */
async function waitingRunOf(customId: string): Promise<string> {
  return waitFor(
    `item ${customId}'s run to wait for its event`,
    async () => {
      const { rows } = await db.pool.query<{ run_id: string | null; status: string | null }>(
        `select i.run_id, r.status from everruns.batch_items i left join everruns.runs r on r.id = i.run_id
          where i.batch_id = $1 and i.custom_id = $2`,
        [batchId, customId],
      );
      return rows[0]?.status === "waiting" ? rows[0].run_id : null;
    },
    60_000,
    50,
  );
}

async function finishItem(customId: string): Promise<void> {
  const runId = await waitingRunOf(customId);
  await db.pool.query("select everruns.send_event($1, 'go', null)", [runId]);
}

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  // off the batch page first: its polling (or a redirect it is making) must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  keys.operator = (await createApiKey(db.pool, { name: "batches-operator", role: "operator" })).key;
  keys.viewer = (await createApiKey(db.pool, { name: "batches-viewer", role: "viewer" })).key;
  const agent = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["wait_for_event"],
    script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "go", timeout_seconds: 3600 } }] }, { text: "label: spam" }],
  });
  const { rows } = await db.pool.query<{ id: string }>(
    "insert into everruns.batches (name, agent_id, max_parallel) values ('nightly-classify', $1, 2) returning id",
    [agent],
  );
  batchId = rows[0]!.id;
  await db.pool.query(
    `insert into everruns.batch_items (batch_id, custom_id, input)
     select $1, 'doc-' || g, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'document ' || g)))
       from generate_series(1, 6) g`,
    [batchId],
  );
  await db.pool.query("select everruns.start_batch($1)", [batchId]);
  // doc-1 and doc-2 succeed, doc-3 is cancelled: then doc-4 and doc-5 run and doc-6 waits
  await finishItem("doc-1");
  await finishItem("doc-2");
  await db.pool.query("select everruns.cancel_run($1)", [await waitingRunOf("doc-3")]);
  await waitFor(
    "2 succeeded, 1 cancelled, 2 running, 1 queued",
    async () => {
      const c = await counts();
      return c.succeeded === 2 && c.cancelled === 1 && c.running === 2 && c.queued === 1;
    },
    60_000,
    50,
  );
  await login(keys.operator);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await web?.close();
  await api?.close();
  await db?.drop();
});

const text = async (testId: string) => ((await browser.page.getByTestId(testId).first().textContent()) ?? "").trim();
const countOf = async (status: string) => Number(await browser.page.getByTestId(`batch-count-${status}`).getAttribute("data-count"));

describe("the Batches list", () => {
  it("is in the navigation and shows the batch with its status, progress and done of total", async () => {
    const { page } = browser;
    await page.getByTestId("nav-batches").click();
    await page.waitForURL(`${web.url}/batches`);
    const row = page.locator(`[data-testid=batches-table] tr[data-batch-id="${batchId}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-status")).toBe("running");
    expect(await row.textContent()).toContain("nightly-classify");
    expect(((await row.getByTestId("batch-row-done").textContent()) ?? "").trim()).toMatch(/^3 \/ 6/);
    const bar = row.getByTestId("batch-progress-bar");
    expect(await bar.getAttribute("data-done")).toBe("3");
    expect(await bar.getAttribute("data-total")).toBe("6");
    expect(await bar.locator("[data-segment=succeeded]").getAttribute("data-count")).toBe("2");
    expect(await bar.locator("[data-segment=cancelled]").getAttribute("data-count")).toBe("1");
    expect(await bar.locator("[data-segment=running]").getAttribute("data-count")).toBe("2");
    expect(await bar.locator("[data-segment=failed]").count()).toBe(0);

    // the status filter: an ended status hides it, running shows it
    await page.getByTestId("batches-filter-status").selectOption("succeeded");
    await page.waitForURL(/status=succeeded/);
    await page.getByTestId("empty").waitFor();
    await page.getByTestId("batches-filter-status").selectOption("running");
    await row.waitFor();
    await screenshot(page, "batches-list");
  });
});

describe("a batch's page", () => {
  it("shows the counts by status and the throughput chart, and follows the batch live", async () => {
    const { page } = browser;
    await page.locator(`tr[data-batch-id="${batchId}"]`).getByTestId("batch-link").click();
    await page.waitForURL(`${web.url}/batches/${batchId}`);
    await page.locator("[data-testid=batch-status][data-status=running]").waitFor();
    await expect.poll(() => countOf("succeeded")).toBe(2);
    expect(await countOf("cancelled")).toBe(1);
    expect(await countOf("running")).toBe(2);
    expect(await countOf("queued")).toBe(1);
    expect(await countOf("failed")).toBe(0);
    expect(await text("batch-done")).toMatch(/^3 of 6 items done/);
    // two items processed (succeeded) within the last minutes: at least one bar
    const chart = page.getByTestId("batch-throughput-chart");
    await chart.locator("svg").waitFor();
    expect(await chart.locator("rect[data-series=processed]").count()).toBeGreaterThan(0);
    expect(await text("batch-rate")).toMatch(/\/min$/);
    expect(await text("batch-started")).toMatch(/ago|just now/);

    // an item finishing in SQL reaches the page through batchProgress, no reload
    await finishItem("doc-4");
    await expect.poll(() => countOf("succeeded")).toBe(3);
    await expect.poll(() => text("batch-done")).toMatch(/^4 of 6 items done/);
    await screenshot(page, "batch-page");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });

  it("pauses and resumes: the status shown and the batch's row change, and the audit log keeps both", async () => {
    const { page } = browser;
    await page.getByTestId("batch-pause").click();
    await page.locator("[data-testid=batch-status][data-status=paused]").waitFor();
    expect(await batchStatus()).toBe("paused");
    expect(await page.getByTestId("batch-pause").count()).toBe(0);
    expect(await text("batch-eta")).toBe("paused");
    await screenshot(page, "batch-paused");
    await page.getByTestId("batch-resume").click();
    await page.locator("[data-testid=batch-status][data-status=running]").waitFor();
    expect(await batchStatus()).toBe("running");
    const { rows } = await db.pool.query<{ action: string }>(
      "select action from everruns.audit_log where target_id = $1 and action in ('batch.paused', 'batch.resumed') order by seq",
      [batchId],
    );
    expect(rows.map((r) => r.action)).toEqual(["batch.paused", "batch.resumed"]);
  });

  it("filters its items by status and links an item to its run, whose page links back", async () => {
    const { page } = browser;
    const table = page.getByTestId("items-table");
    await expect.poll(() => table.locator("tbody tr").count()).toBe(6);
    await page.getByTestId("items-filter-status").selectOption("cancelled");
    await page.waitForURL(/status=cancelled/);
    await expect.poll(() => table.locator("tbody tr").count()).toBe(1);
    const row = table.locator("tbody tr").first();
    expect(await row.getAttribute("data-custom-id")).toBe("doc-3");
    await screenshot(page, "batch-items-cancelled");

    await page.getByTestId("items-filter-status").selectOption("succeeded");
    await expect
      .poll(async () => (await table.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-custom-id")))).join(","))
      .toBe("doc-1,doc-2,doc-4");
    // a succeeded item's output previewed
    expect(await table.locator("tr[data-custom-id=doc-1]").getByTestId("item-preview").textContent()).toContain("label: spam");

    const { rows } = await db.pool.query<{ run_id: string }>("select run_id from everruns.batch_items where batch_id = $1 and custom_id = 'doc-1'", [batchId]);
    await table.locator("tr[data-custom-id=doc-1]").getByTestId("item-run-link").click();
    await page.waitForURL(`${web.url}/runs/${rows[0]!.run_id}`);
    const back = page.getByTestId("run-batch-link");
    await back.waitFor();
    expect(((await back.textContent()) ?? "").replace(/\s+/g, " ")).toContain("item doc-1 of batch nightly-classify");
    await back.click();
    await page.waitForURL(/\/batches\/[^?]+\?item=doc-1/);
    await expect.poll(() => page.getByTestId("items-table").locator("tbody tr").count()).toBe(1);
    expect(await page.getByTestId("items-table").locator("tbody tr").first().getAttribute("data-custom-id")).toBe("doc-1");
  });
});

describe("controls and roles", () => {
  it("shows a viewer no control; an operator's Cancel asks first, then cancels the batch", async () => {
    const { page } = browser;
    await login(keys.viewer);
    await page.goto(`${web.url}/batches/${batchId}`);
    await page.locator("[data-testid=batch-status][data-status=running]").waitFor();
    await page.getByTestId("batch-controls-readonly").waitFor();
    for (const control of ["batch-pause", "batch-resume", "batch-cancel", "batch-retry", "batch-max-parallel"]) {
      expect(await page.getByTestId(control).count(), control).toBe(0);
    }
    await screenshot(page, "batch-viewer");

    await login(keys.operator);
    await page.goto(`${web.url}/batches/${batchId}`);
    await page.locator("[data-testid=batch-status][data-status=running]").waitFor();
    await page.getByTestId("batch-cancel").click();
    const confirm = page.getByTestId("batch-cancel-confirm");
    await confirm.waitFor();
    // nothing happens before the confirmation
    expect(await batchStatus()).toBe("running");
    await screenshot(page, "batch-cancel-confirm");
    await confirm.getByTestId("batch-cancel-confirm-button").click();
    await page.locator("[data-testid=batch-status][data-status=cancelled]").waitFor();
    expect(await batchStatus()).toBe("cancelled");
    expect(await text("batch-error")).toContain("The batch was cancelled");
    // ended with cancelled items: Retry failed is offered, Pause and Cancel are not
    await page.getByTestId("batch-retry").waitFor();
    expect(await page.getByTestId("batch-pause").count()).toBe(0);
    expect(await page.getByTestId("batch-cancel").count()).toBe(0);
    await expect.poll(() => countOf("cancelled")).toBe(3);
    // the items table follows: the two running items became cancelled
    await expect.poll(() => page.getByTestId("items-table").locator("tbody tr[data-status=cancelled]").count()).toBe(3);
    expect(await page.getByTestId("items-table").locator("tbody tr[data-status=running]").count()).toBe(0);
    await screenshot(page, "batch-cancelled");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });

  it("retries the cancelled items after a confirmation: the batch runs again and the page follows it live again", async () => {
    const { page } = browser;
    await page.getByTestId("batch-retry").click();
    const confirm = page.getByTestId("batch-retry-confirm");
    await confirm.waitFor();
    // only failed items by default (none here): the cancelled ones when asked
    expect(await confirm.getByTestId("batch-retry-confirm-button").isDisabled()).toBe(true);
    await confirm.getByTestId("batch-retry-include-cancelled").check();
    await confirm.getByTestId("batch-retry-confirm-button").click();
    await page.locator("[data-testid=batch-status][data-status=running]").waitFor();
    expect(await text("batch-control-notice")).toBe("3 items queued again.");
    expect(await batchStatus()).toBe("running");
    // the subscription ended with the batch; it is made again, so an item finishing shows
    await finishItem("doc-3");
    await expect.poll(() => countOf("succeeded")).toBe(4);
    await expect.poll(() => page.getByTestId("items-table").locator("tbody tr[data-custom-id=doc-3]").getAttribute("data-status")).toBe("succeeded");
  });
});
