// Readability of the console (issue "Operator experience", points 10, 12 and 13), in a real
// headless browser against the console's production build: the version diff is wide, in the
// editor's key order, with long lines wrapped; every validation error is shown at its field;
// rejecting an approval asks to confirm and for a reason, "answered" says approve or reject, and
// the approvals page keeps a history of who answered what; costs, retries and timestamps read the
// one way. Screenshots go to web/test/screenshots/readability-*.png.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { formatAttempt, formatCost, formatRetry, formatTimestamp } from "../lib/format.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const level = (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error";
const log = consoleLogger("[test-readability]", level);

let db: TestDatabase;
let worker: WorkerHandle;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
let adminKey = "";
let adminKeyId = "";
const agents: Record<string, string> = {};

/** One long line: a system prompt is a single JSON string, often hundreds of characters. */
const LONG_PROMPT =
  "You are the payments assistant of ACME. Always confirm the account holder, the amount and the currency before any transfer, " +
  "never move more than the daily limit without a second approval, answer in the customer's language, and when in doubt ask a human " +
  "operator rather than guessing: a wrong transfer costs far more than a slow one. END-OF-PROMPT";

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  const admin = await createApiKey(db.pool, { name: "readability-admin", role: "admin" });
  adminKey = admin.key;
  adminKeyId = admin.info.id;
  agents.banker = await createAgent(
    db.pool,
    {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: true }],
      script: [{ text: "I will transfer the money.", tool_calls: [{ name: "echo", arguments: { transfer: 100, to: "ACME" } }] }, { text: "Transfer handled." }],
    },
    "banker",
  );
  // the login link `everruns start` prints; lands on /runs
  await browser.page.goto(`${web.url}/login#key=${adminKey}`);
  await browser.page.waitForURL(`${web.url}/runs`);
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await api?.close();
  await worker?.stop();
  await db?.drop();
});

function expectNoPageErrors() {
  expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
}

describe("the one way to write costs, attempts and timestamps (web/lib/format.ts)", () => {
  it("formats every cost with the same four decimals, and retries as 'attempt N of M'", () => {
    expect([0.000012, 0.0031, 0.12, 12.5, 1234.5].map(formatCost)).toEqual(["<$0.0001", "$0.0031", "$0.1200", "$12.5000", "$1,234.5000"]);
    expect(formatCost(0.00000001)).toBe("<$0.0001");
    expect(formatCost(0)).toBe("$0.0000");
    expect(formatAttempt(2, 5)).toBe("attempt 2 of 5");
    expect(formatRetry(1, 5, 1000)).toBe("attempt 1 of 5 failed · attempt 2 of 5 in 1.0 s");
    // AG-UI events carry epoch milliseconds: never shown as the number
    const now = Date.parse("2026-12-03T12:00:00Z");
    expect(formatTimestamp(now - 90_000, now)).toBe("1 min ago");
    expect(formatTimestamp(now - 3 * 86_400_000, now)).not.toMatch(/^\d{10,}$/);
  });
});

describe("the agent version editor", () => {
  it("shows every validation error at its field: listed with its line, and marked in the gutter", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/agents`);
    await page.getByTestId("new-agent").click();
    await page.getByTestId("agent-name").fill("many-errors");
    const config = {
      provider: "scripted",
      tools: [{ name: "echo", requires_approval: "yes" }],
      max_steps: 0,
      retry: { max_attempts: 0 },
      bogus_key: 1,
    };
    const text = JSON.stringify(config, null, 2);
    await page.getByTestId("config-editor").fill(text);
    await page.getByTestId("create-agent-submit").click();
    const error = page.getByTestId("config-error");
    await error.waitFor();
    const issues = error.getByTestId("config-issue");
    await expect.poll(() => issues.count()).toBe(4);
    const lines = text.split("\n");
    const lineOf = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const found = await issues.evaluateAll((els) => els.map((el) => ({ path: el.getAttribute("data-path"), line: el.getAttribute("data-line") })));
    expect(found).toEqual(
      expect.arrayContaining([
        { path: "tools[0].requires_approval", line: String(lineOf('"requires_approval"')) },
        { path: "max_steps", line: String(lineOf('"max_steps"')) },
        { path: "retry.max_attempts", line: String(lineOf('"max_attempts"')) },
        { path: "bogus_key", line: String(lineOf('"bogus_key"')) },
      ]),
    );
    // each field's line is marked in the editor's gutter
    const marked = await page.getByTestId("gutter-error").evaluateAll((els) => els.map((el) => Number(el.getAttribute("data-line"))));
    expect(marked.sort((a, b) => a - b)).toEqual(
      ["requires_approval", "max_steps", "max_attempts", "bogus_key"].map((k) => lineOf(`"${k}"`)).sort((a, b) => a - b),
    );
    // and each marked row stays one line tall, level with its line of text (a wrapped "● 11" would shift every line below)
    const heights = await page
      .getByTestId("gutter-error")
      .evaluateAll((els) => els.map((el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)));
    for (const h of heights) expect(h).toBeCloseTo(1, 1);
    // no reference to a document that is not in the repository
    expect(await page.locator("body").textContent()).not.toMatch(/DESIGN\.md|STACK\.md|STYLE\.md/);
    await screenshot(page, "readability-validation-errors");
    expectNoPageErrors();
  });

  it("diffs two versions full width, in the editor's key order, with long lines wrapped", async () => {
    const { page } = browser;
    const v1 = { provider: "scripted", model: "scripted-model-2024-05-13-long-name", system_prompt: LONG_PROMPT, max_steps: 5, script: [{ text: "Hi." }] };
    const agentId = await createAgent(db.pool, v1, "differ");
    await page.goto(`${web.url}/agents/${agentId}`);
    const editor = page.getByTestId("config-editor");
    await editor.waitFor();
    // the full model name, not cut
    expect(await page.getByTestId("agent-model").textContent()).toContain("scripted-model-2024-05-13-long-name");
    const v2 = { ...v1, model: "scripted-model-2024-08-06-long-name", system_prompt: LONG_PROMPT.replace("ACME", "ACME Corp"), max_steps: 8 };
    await editor.fill(JSON.stringify(v2, null, 2));
    await page.getByTestId("save-config").click();
    await page.getByText("saved as v2").waitFor();
    const diff = page.getByTestId("diff");
    await diff.waitFor();

    // wide: most of the page, not a side column (the viewport is 1440 px)
    const box = (await diff.boundingBox())!;
    expect(box.width).toBeGreaterThan(1000);

    // the editor's key order (provider, model, system_prompt, max_steps, script), not sorted
    const editorLines = (await editor.inputValue()).split("\n");
    const texts = await diff.locator("[data-op=same] [data-testid=diff-text], [data-op=add] [data-testid=diff-text]").allTextContents();
    const positions = texts.map((t) => editorLines.indexOf(t));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const keyOrder = (await diff.getByTestId("diff-text").allTextContents()).map((t) => /^\s*"([a-z_]+)":/.exec(t)?.[1]).filter(Boolean);
    expect(keyOrder.indexOf("provider")).toBeLessThan(keyOrder.indexOf("model"));
    expect(keyOrder.indexOf("model")).toBeLessThan(keyOrder.indexOf("system_prompt"));
    expect(keyOrder.indexOf("system_prompt")).toBeLessThan(keyOrder.indexOf("max_steps"));

    // the long line is wrapped and whole: its row is several lines tall, nothing scrolls sideways
    const prompt = diff.locator("[data-op=add] [data-testid=diff-text]", { hasText: "END-OF-PROMPT" });
    expect(await prompt.textContent()).toContain("ACME Corp");
    const tall = await prompt.evaluate((el) => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight));
    expect(tall).toBeGreaterThanOrEqual(2);
    expect(await diff.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await diff.scrollIntoViewIfNeeded();
    await screenshot(page, "readability-diff");
    expectNoPageErrors();
  });
});

describe("approvals", () => {
  it("asks to confirm a rejection and for a reason, says approve or reject once answered, and keeps a history of who answered what", async () => {
    const { page } = browser;
    const toReject = await startRun(db.pool, agents.banker!, "Send 100 to ACME");
    const toEdit = await startRun(db.pool, agents.banker!, "Send 100 to ACME again");
    await waitForStatus(db.pool, toReject, ["interrupted"]);
    await waitForStatus(db.pool, toEdit, ["interrupted"]);
    await page.goto(`${web.url}/approvals`);
    const rejectItem = page.locator(`[data-testid=approval][data-run-id="${toReject}"]`);
    await rejectItem.waitFor();

    // the arguments are shown once per interrupt (not in the question and again below it)
    const itemText = (await rejectItem.textContent()) ?? "";
    expect(itemText.split('"transfer"').length - 1).toBe(1);
    expect(await rejectItem.getByTestId("interrupt-arguments").count()).toBe(1);

    // when: a human time, the exact instant on hover, never epoch milliseconds
    const since = rejectItem.getByTestId("timestamp");
    expect(await since.textContent()).toMatch(/ago|just now/);
    expect(await since.getAttribute("title")).toMatch(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/);

    // reject: the first click only asks
    await rejectItem.getByTestId("reject").click();
    const confirm = rejectItem.getByTestId("reject-confirm");
    await confirm.waitFor();
    expect(await confirm.getByTestId("confirm-reject").isDisabled()).toBe(true); // a reason first
    const answered = async (runId: string) => (await db.pool.query("select id from everruns.runs where parent_run_id = $1", [runId])).rowCount;
    expect(await answered(toReject)).toBe(0);
    // going back leaves the run waiting
    await confirm.getByTestId("reject-cancel").click();
    await confirm.waitFor({ state: "detached" });
    await rejectItem.getByTestId("reject").click();
    await rejectItem.getByTestId("reject-reason").fill("Wrong account: ask the customer first");
    await screenshot(page, "readability-reject-confirm");
    await rejectItem.getByTestId("confirm-reject").click();
    await rejectItem.waitFor({ state: "detached" });

    // the answer the API stored carries the decision and the reason the model is told
    const rejected = await waitFor("the rejection's continuation", async () => {
      const { rows } = await db.pool.query<{ id: string; input: { resume: Array<{ payload: unknown }> } }>(
        "select id, input from everruns.runs where parent_run_id = $1",
        [toReject],
      );
      return rows[0];
    });
    expect(rejected.input.resume[0]!.payload).toEqual({ approved: false, reason: "Wrong account: ask the customer first" });
    // and the audit log keeps the operator's reason with the answer (details.reason), as a bulk reject's
    const { rows: answeredRows } = await db.pool.query<{ details: { reason?: string; answers?: unknown[] } }>(
      "select details from everruns.audit_log where action = 'approval.answered' and target_id = $1",
      [rejected.id],
    );
    expect(answeredRows).toHaveLength(1);
    expect(answeredRows[0]!.details.reason).toBe("Wrong account: ask the customer first");
    // "answered" says which answer
    const banner = page.locator(`[data-testid=answered][data-run-id="${toReject}"]`);
    await banner.waitFor();
    expect(await banner.getByTestId("decision").getAttribute("data-decision")).toBe("rejected");
    expect(await banner.textContent()).toContain("Wrong account");

    // edited arguments from the inbox too
    const editItem = page.locator(`[data-testid=approval][data-run-id="${toEdit}"]`);
    await editItem.getByTestId("edit").click();
    await editItem.getByTestId("edit-arguments").fill(JSON.stringify({ transfer: 250, to: "ACME" }));
    await editItem.getByTestId("approve-edited").click();
    await editItem.waitFor({ state: "detached" });
    const edited = await waitFor("the edited approval's continuation", async () => {
      const { rows } = await db.pool.query<{ id: string }>("select id from everruns.runs where parent_run_id = $1", [toEdit]);
      return rows[0]?.id;
    });
    await waitForStatus(db.pool, edited, ["succeeded"]);
    await waitForStatus(db.pool, rejected.id, ["succeeded"]);

    // the history: who (this key), when, the decision, the arguments
    const history = page.getByTestId("approvals-history");
    const rejectedRow = history.locator(`[data-testid=history-row][data-run-id="${toReject}"]`);
    const editedRow = history.locator(`[data-testid=history-row][data-run-id="${toEdit}"]`);
    await rejectedRow.waitFor();
    await editedRow.waitFor();
    expect(await rejectedRow.getByTestId("decision").getAttribute("data-decision")).toBe("rejected");
    expect(await rejectedRow.textContent()).toContain("Wrong account: ask the customer first");
    expect(await rejectedRow.getByTestId("history-who").textContent()).toBe(`key ${adminKeyId.slice(0, 8)} (you)`);
    expect(await editedRow.getByTestId("decision").getAttribute("data-decision")).toBe("approved");
    expect(await editedRow.textContent()).toContain("approved with edited arguments");
    expect(await editedRow.textContent()).toContain("250");
    expect(await editedRow.getByTestId("timestamp").getAttribute("title")).toMatch(/Z$/);
    // newest first
    const order = await history.getByTestId("history-row").evaluateAll((els) => els.map((el) => el.getAttribute("data-run-id")));
    expect(order.indexOf(toEdit)).toBeLessThan(order.indexOf(toReject));
    await screenshot(page, "readability-approvals-history");
    expectNoPageErrors();
  });

  it("formats the costs of the runs table the one way, with the exact amount on hover", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/agents/${agents.banker}`);
    const table = page.getByTestId("runs-table");
    await table.waitFor();
    const costs = await table.locator("td").evaluateAll((tds) => tds.map((td) => td.textContent ?? "").filter((t) => t.includes("$")));
    expect(costs.length).toBeGreaterThan(0);
    for (const c of costs) expect(c).toMatch(/^(<\$0\.0001|\$[\d,]+\.\d{4})$/);
  });
});

describe("retries", () => {
  it("words a retry in the conversation as 'attempt N of M failed · attempt N+1 of M in …'", async () => {
    const { page } = browser;
    const flaky = await createAgent(
      db.pool,
      {
        provider: "scripted",
        retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 50, multiplier: 2 },
        script: [{ text: "Recovered.", error: "server_error", times: 1 }],
      },
      "flaky",
    );
    const runId = await startRun(db.pool, flaky, "try twice");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    await page.goto(`${web.url}/runs/${runId}`);
    const retry = page.getByTestId("msg-retry");
    await retry.waitFor();
    expect(await retry.getByTestId("retry-wording").textContent()).toMatch(/^attempt 1 of 3 failed · attempt 2 of 3 in \d+ ms$/);
    expect(await retry.textContent()).not.toMatch(/\d+\/\d+|retry \d/);
    expectNoPageErrors();
  });
});

describe("not found", () => {
  it("shows a still 'not found' icon, not something that looks like a spinner", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/no-such-page`);
    await page.getByText("No such page").waitFor();
    await page.getByTestId("icon-not-found").waitFor();
    expect(await page.locator("main .animate-spin, main .animate-pulse, main .border-dashed.rounded-full").count()).toBe(0);
    await page.goto(`${web.url}/agents/00000000-0000-4000-8000-000000000000`);
    await page.getByText("No such agent").waitFor();
    expect(await page.getByTestId("icon-not-found").count()).toBe(1);
    await screenshot(page, "readability-not-found");
    expectNoPageErrors();
  });
});
