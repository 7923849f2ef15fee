// A run that reached its budget (config.budget, docs/budgets.md), in a real headless browser over
// real Postgres, a real worker, the real API and the console's production build: the run page
// asks the budget question with the worker's message and a table of the limits and the spend, and
// its budget card shows each limit against the spend of the run and the runs it continues; a
// raise that is not above the spend is refused with the database's reason; a raise goes on in the
// continuation, which finishes. Screenshot (web/test/screenshots/): budget-interrupt.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
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

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  const key = (await createApiKey(db.pool, { name: "budget-operator", role: "operator" })).key;
  const { page, context } = browser;
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await web?.close();
  await api?.close();
  await db?.drop();
});

describe("a run at its budget in the console", () => {
  it("shows the question, the limits and the spend; refuses a raise below the spend; a raise goes on to the end", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ text: "Searching.", tool_calls: [{ name: "echo", arguments: { q: 1 } }] }, { text: "All found." }],
      budget: { max_tool_calls: 5, max_tokens: 1 },
    });
    const runId = await startRun(db.pool, agent, "find it");
    await waitForStatus(db.pool, runId, ["interrupted"]);
    const { rows } = await db.pool.query<{ spent: number }>(
      "select (i -> 'metadata' -> 'spent' ->> 'max_tokens')::int as spent from everruns.runs r, jsonb_array_elements(r.interrupts -> 'interrupts') i where r.id = $1",
      [runId],
    );
    const spent = rows[0]!.spent;

    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    const panel = page.getByTestId("interrupt-panel");
    await panel.getByTestId("budget-answer").waitFor();
    expect(await panel.getByTestId("budget-message").textContent()).toContain(`The run reached its budget: max_tokens 1 (spent ${spent} tokens)`);
    // the limits in force and the spend; the reached one prefilled at twice its value
    expect(await panel.locator("[data-testid=budget-table] tr[data-limit]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-limit")))).toEqual([
      "max_tokens",
      "max_tool_calls",
    ]);
    expect(await panel.locator("tr[data-limit=max_tokens]").textContent()).toContain("(reached)");
    // a call in flight went past the limit: prefilled at twice the spend (twice the limit, 2, would be refused)
    expect(await panel.getByTestId("budget-raise-max_tokens").inputValue()).toBe(String(spent * 2));
    // the budget card: each limit in force and the spend against it
    const card = page.getByTestId("budget-card");
    expect(await card.locator("[data-limit=max_tokens] [data-testid=budget-spent]").textContent()).toBe(`${spent} / 1`);
    expect(await card.locator("[data-limit=max_tool_calls] [data-testid=budget-spent]").textContent()).toBe("0 / 5");
    // no approve / reject for this question
    expect(await panel.getByTestId("approve").count()).toBe(0);
    await screenshot(page, "budget-interrupt");

    // the approvals inbox lists it with the same answers, and bulk approve / reject cannot select it
    await page.goto(`${web.url}/approvals`);
    const item = page.locator(`[data-testid=approval][data-run-id="${runId}"]`);
    await item.getByTestId("budget-answer").waitFor();
    expect(await item.getAttribute("data-kind")).toBe("budget");
    expect(await item.getByTestId("select-run").isDisabled()).toBe(true);
    expect(await item.getByTestId("approve").count()).toBe(0);
    await page.goto(`${web.url}/runs/${runId}`);
    await panel.getByTestId("budget-answer").waitFor();

    // a raise not above the spend: the database says why, nothing starts
    await panel.getByTestId("budget-raise-max_tokens").fill(String(spent));
    await panel.getByTestId("budget-raise").click();
    await waitFor("the refusal", async () => ((await panel.textContent()) ?? "").includes("The answer was refused"));
    expect(await panel.textContent()).toContain(`budget.max_tokens must be a number above the ${spent} already spent`);

    await panel.getByTestId("budget-raise-max_tokens").fill(String(spent * 100));
    await panel.getByTestId("budget-raise").click();
    await page.waitForURL((url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(runId));
    const next = new URL(page.url()).pathname.split("/").at(-1)!;
    const done = await waitForStatus(db.pool, next, ["succeeded", "failed", "interrupted"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(done.output?.text).toBe("All found.");
    // the continuation's page: the raised limit in force, the spend of both runs (one tool call now)
    await page.reload();
    const nextCard = page.getByTestId("budget-card");
    await waitFor("the continuation's budget", async () => ((await nextCard.textContent()) ?? "").includes("spend of 2 runs"));
    expect(await nextCard.locator("[data-limit=max_tokens] [data-testid=budget-spent]").textContent()).toMatch(new RegExp(` / ${spent * 100}$`));
    expect(await nextCard.locator("[data-limit=max_tool_calls] [data-testid=budget-spent]").textContent()).toBe("1 / 5");
  }, 120_000);
});
