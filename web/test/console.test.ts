// The operations console end to end, in a real headless browser: real Postgres, a real worker,
// the real API and the real console (its production build, served by scripts/web.ts). Each test
// leaves a screenshot of the page it drove in web/test/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getRun, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
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

describe("the operations console", () => {
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
