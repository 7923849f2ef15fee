// A run's live state and progress in the console (issue 18, "Live state and findings"), in a real
// headless browser over real Postgres, a real worker process, the real API and the console's
// production build. A scripted agent with the built-in tools update_state and report_progress
// reports progress and changes its state a few times, each turn slowed with delay_ms:
// - the runs table shows the run's progress in its row while the run runs (a bar for the
//   fraction, the message cut to the column with the whole report on hover), moving as reported;
// - the run page's State card follows the run as it streams (the progress message and bar, the
//   state as JSON), and ends with the state equal to runs.state and the last progress report;
// - a long state is folded until asked for whole; an agent that can report and did not says so,
//   one that cannot has no State card.
// Screenshots (web/test/screenshots/): run-state-runs-table, run-state-live, run-state-final,
// run-state-folded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { spawnWorker, type WorkerProcess } from "../../worker/test/worker-process.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
let worker: WorkerProcess | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  const viewerKey = (await createApiKey(db.pool, { name: "run-state-viewer", role: "viewer" })).key;
  worker = await spawnWorker(db.url);
  const { page, context } = browser;
  // off any page first: a page's polling must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${viewerKey}`);
  await page.waitForURL(`${web.url}/runs`);
});

afterAll(async () => {
  worker?.child.kill("SIGKILL");
  await browser?.close();
  await web?.close();
  await api?.close();
  await db?.drop();
});

interface RunStateRow {
  status: string;
  state: Record<string, unknown> | null;
  progress: { message: string; fraction: number | null; at: string } | null;
}

async function runState(runId: string): Promise<RunStateRow> {
  const { rows } = await db.pool.query<RunStateRow>("select status, state, progress from everruns.runs where id = $1", [runId]);
  return rows[0]!;
}

const call = (name: string, args: Record<string, unknown>) => ({ name, arguments: args });
const LONG_MESSAGE =
  "Read 3 of 4 papers: the third one, a survey of durable execution engines for long-running agents, took longer than expected because of its appendix";
/** Each turn streams over this long: the page is looked at between the reports. */
const TURN_MS = 2500;
/** The turns after the long report: the run page is opened in the first, and sees what follows arrive while the run runs. */
const SLOW_TURN_MS = 6000;

describe("a run's state and progress in the console", () => {
  it("shows the progress in the runs table and the run page's State card, live, ending with runs.state", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state", "report_progress"],
      script: [
        { text: "Starting.", tool_calls: [call("update_state", { state: { status: "searching", findings: [] } })], delay_ms: TURN_MS },
        { text: "First paper.", tool_calls: [call("report_progress", { message: "Read 1 of 4 papers", fraction: 0.25 })], delay_ms: TURN_MS },
        {
          text: "A finding.",
          tool_calls: [
            call("update_state", {
              patch: [
                { op: "replace", path: "/status", value: "reading" },
                { op: "add", path: "/findings/-", value: { title: "Checkpoints make retries safe", source: "paper 1" } },
              ],
            }),
          ],
          delay_ms: TURN_MS,
        },
        { text: "More papers.", tool_calls: [call("report_progress", { message: LONG_MESSAGE, fraction: 0.75 })], delay_ms: TURN_MS },
        {
          text: "Another finding.",
          tool_calls: [
            call("update_state", {
              patch: [
                { op: "add", path: "/findings/-", value: { title: "Exactly-once state via one transaction", source: "paper 3" } },
                { op: "replace", path: "/status", value: "done" },
              ],
            }),
          ],
          delay_ms: SLOW_TURN_MS,
        },
        { text: "Finishing.", tool_calls: [call("report_progress", { message: "All 4 papers read", fraction: 1 })], delay_ms: SLOW_TURN_MS },
        { text: "Done: two findings." },
      ],
    });
    const { page } = browser;
    await page.goto(`${web.url}/runs`);
    await page.getByTestId("runs-summary").waitFor();
    const runId = await startRun(db.pool, agent, "review the literature");

    // the runs table: the row's progress arrives (pushed, the page is not reloaded) and moves on
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    const cell = row.getByTestId("run-progress");
    await expect
      .poll(async () => (await cell.count()) > 0 && (await cell.getByTestId("run-progress-message").textContent()), { timeout: 30_000 })
      .toBe("Read 1 of 4 papers");
    expect(await cell.getByTestId("run-progress-fraction").textContent()).toBe("25%");
    expect(await row.getAttribute("data-status")).toBe("running");
    await expect.poll(() => cell.getByTestId("run-progress-message").textContent(), { timeout: 30_000 }).toBe(LONG_MESSAGE);
    expect(await cell.getByTestId("run-progress-fraction").textContent()).toBe("75%");
    expect(await cell.getByTestId("progress-bar").getAttribute("aria-valuenow")).toBe("75");
    // the long message is cut to the column, and whole on hover
    const message = cell.getByTestId("run-progress-message");
    // (by its style: how wide the column is depends on the window and the other runs shown;
    // polled: a live update may replace the element while it is read, and a detached element has no style)
    await expect
      .poll(() =>
        message.evaluate((el) => {
          const style = getComputedStyle(el);
          return [style.whiteSpace, style.overflow, style.textOverflow];
        }),
      )
      .toEqual(["nowrap", "hidden", "ellipsis"]);
    expect(await cell.getAttribute("title")).toContain(LONG_MESSAGE);
    await screenshot(page, "run-state-runs-table");

    // the run page, opened during the slow turn after the long report: it shows the state with
    // one finding and that report, then follows the run's next commits as they are pushed
    await page.goto(`${web.url}/runs/${runId}`);
    const card = page.getByTestId("run-state-card");
    await card.getByTestId("run-state-json").waitFor();
    const stateJson = async () => JSON.parse((await card.getByTestId("run-state-json").textContent()) ?? "null") as unknown;
    expect(await card.getByTestId("run-state-progress-message").textContent()).toBe(LONG_MESSAGE);
    expect(await stateJson()).toEqual({ status: "reading", findings: [{ title: "Checkpoints make retries safe", source: "paper 1" }] });
    expect(await page.locator("[data-testid=run-status]").getAttribute("data-status")).toBe("running");
    await screenshot(page, "run-state-live");
    // the second finding, pushed while the run still runs (its next turn is slow): not a reload
    // at the run's end
    await expect.poll(stateJson, { timeout: 30_000 }).toMatchObject({ status: "done" });
    expect(await page.locator("[data-testid=run-status]").getAttribute("data-status")).toBe("running");
    expect(await card.getByTestId("run-state-progress-message").textContent()).toBe(LONG_MESSAGE);
    await expect.poll(() => card.getByTestId("run-state-progress-message").textContent(), { timeout: 30_000 }).toBe("All 4 papers read");

    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor({ timeout: 30_000 });
    const final = await runState(runId);
    expect(final.state).toEqual({
      status: "done",
      findings: [
        { title: "Checkpoints make retries safe", source: "paper 1" },
        { title: "Exactly-once state via one transaction", source: "paper 3" },
      ],
    });
    expect(await stateJson()).toEqual(final.state);
    expect(await card.getByTestId("run-state-summary").textContent()).toMatch(/^2 keys · \d+ B$/);
    expect(final.progress).toMatchObject({ message: "All 4 papers read", fraction: 1 });
    expect(await card.getByTestId("run-state-progress-message").textContent()).toBe(final.progress!.message);
    expect(await card.getByTestId("run-state-progress-fraction").textContent()).toBe("100%");
    // the report's time: the database clock's, on hover
    expect(await card.getByTestId("run-state-progress-at").locator("time").getAttribute("datetime")).toBe(final.progress!.at);
    await card.scrollIntoViewIfNeeded();
    await screenshot(page, "run-state-final");

    // the runs table, after the run: its last report
    await page.goto(`${web.url}/runs`);
    const after = page.locator(`tr[data-run-id="${runId}"]`).getByTestId("run-progress");
    await after.waitFor();
    expect(await after.getByTestId("run-progress-message").textContent()).toBe("All 4 papers read");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });

  it("folds a long state until asked for whole; says when nothing was reported; no card for an agent without the tools", async () => {
    const findings = Array.from({ length: 30 }, (_, i) => ({ title: `Finding ${i + 1}`, source: `paper ${i + 1}` }));
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["update_state"],
      script: [{ tool_calls: [call("update_state", { state: { status: "done", findings } })] }, { text: "Done." }],
    });
    const runId = await startRun(db.pool, agent, "many findings");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    const card = page.getByTestId("run-state-card");
    const json = card.getByTestId("run-state-json");
    await json.waitFor();
    // no progress report: no empty bar either
    expect(await card.getByTestId("run-state-progress").count()).toBe(0);
    expect(await json.getAttribute("data-folded")).toBe("true");
    const foldedHeight = await json.evaluate((el) => el.clientHeight);
    await screenshot(page, "run-state-folded");
    const toggle = card.getByTestId("run-state-toggle");
    expect(await toggle.textContent()).toMatch(/^Show all \d+ lines$/);
    await toggle.click();
    expect(await json.getAttribute("data-folded")).toBe("false");
    expect(await json.evaluate((el) => el.clientHeight)).toBeGreaterThan(foldedHeight);
    expect(JSON.parse((await json.textContent()) ?? "null")).toEqual((await runState(runId)).state);
    expect(await toggle.textContent()).toBe("Fold");

    // an agent that could report but did not: the card says so
    const quiet = await createAgent(db.pool, { provider: "scripted", tools: ["report_progress"], script: [{ text: "Nothing to report." }] });
    const quietRun = await startRun(db.pool, quiet, "hello");
    await waitForStatus(db.pool, quietRun, ["succeeded"]);
    await page.goto(`${web.url}/runs/${quietRun}`);
    expect(await page.getByTestId("run-state-card").getByTestId("run-state-empty").textContent()).toContain("Nothing reported yet");

    // an agent without update_state or report_progress: no State card
    const plain = await createAgent(db.pool, { provider: "scripted", script: [{ text: "Hello." }] });
    const plainRun = await startRun(db.pool, plain, "hello");
    await waitForStatus(db.pool, plainRun, ["succeeded"]);
    await page.goto(`${web.url}/runs/${plainRun}`);
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    await page.getByTestId("usage").waitFor();
    expect(await page.getByTestId("run-state-card").count()).toBe(0);
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});
