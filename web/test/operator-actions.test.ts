// Operator actions with a trail, waiting and interrupted runs (issue "Operator experience",
// points 9, 10 and 13 and "Operator actions with a trail"), in a real headless browser over real
// Postgres, a real worker, the real API and the console's production build:
// - a waiting run names its event, its wait step counts up (not the milliseconds it took to
//   park), and the Send-event form (name prefilled, JSON checked) wakes it, the reason audited;
// - an interrupted run reads "waiting for an answer", not finished or failed; its question is
//   asked once; once answered, its page and its thread say rejected and why;
// - a failed run shows its error once, and Rerun starts the same input again on its thread;
// - "Rerun from here" on a step of a failed run that is its thread's latest starts a new run
//   continuing from that step, after a confirmation with a reason (000016); an earlier run of
//   the thread offers it nowhere;
// - bulk cancel on the runs list and bulk approve on the approvals page: a confirmation naming
//   how many runs and which, a reason kept in the audit log; the history reads it from the log;
// - the runs table shows a running run's current step; the event log a human time per event;
//   an unknown run the not-found icon.
// Screenshots (web/test/screenshots/): ops-waiting-run, ops-interrupted-run, ops-rejected-run,
// ops-failed-run, ops-rerun, ops-rerun-from-step, ops-bulk-cancel-confirm, ops-runs-current-step,
// ops-approvals-bulk-confirm, ops-approvals-history, ops-run-not-found.
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
const agents: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  // rerunRun is an admin's until api/graphql/access.ts lists it among the operator's mutations
  const key = (await createApiKey(db.pool, { name: "ops-admin", role: "admin" })).key;
  agents.waiter = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["wait_for_event"],
    script: [{ tool_calls: [{ name: "wait_for_event", arguments: { name: "deploy_done", timeout_seconds: 3600 } }] }, { text: "Deployed, going on." }],
  });
  agents.asker = await createAgent(db.pool, {
    provider: "scripted",
    tools: [{ name: "echo", requires_approval: true }],
    script: [{ text: "May I?", tool_calls: [{ name: "echo", arguments: { transfer: 100 } }] }, { text: "done" }],
  });
  agents.failing = await createAgent(db.pool, {
    provider: "scripted",
    model: "scripted-model-with-a-rather-long-name-2026-12-03-preview",
    script: [{ text: "x", error: "bad_request" }],
  });
  agents.slow = await createAgent(db.pool, {
    provider: "scripted",
    tools: ["simulate_work"],
    script: [{ text: "Working.", tool_calls: [{ name: "simulate_work", arguments: { ms: 20_000 } }] }, { text: "done" }],
  });
  const { page, context } = browser;
  // off the current page first: its polling (a 401 redirecting to /login) must not abort the login's navigation
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

const text = async (testId: string) => ((await browser.page.getByTestId(testId).first().textContent()) ?? "").trim();
interface Row {
  status: string;
  thread_id: string;
  agent_version: number;
  input: unknown;
  error: { message?: string } | null;
}
async function getRun(_pool: unknown, id: string): Promise<Row> {
  const { rows } = await db.pool.query<Row>("select status, thread_id, agent_version, input, error from everruns.runs where id = $1", [id]);
  return rows[0]!;
}
async function auditDetails(action: string, targetId: string): Promise<Record<string, unknown>[]> {
  const { rows } = await db.pool.query<{ details: Record<string, unknown> }>(
    "select details from everruns.audit_log where action = $1 and target_id = $2 order by seq",
    [action, targetId],
  );
  return rows.map((r) => r.details);
}

describe("a waiting run", () => {
  it("names what it waits for, counts the wait up, and wakes from the Send-event form with the reason audited", async () => {
    const runId = await startRun(db.pool, agents.waiter!, "wait for the deploy");
    await waitForStatus(db.pool, runId, ["waiting"]);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("waiting-panel").waitFor();
    expect(await text("waiting-for")).toContain("Waiting for event deploy_done");
    // the wait step lasts until now: it ticks, and reads as a wait, not as "13 ms"
    const waitStep = page.locator("[data-testid=timeline-step][data-waiting=true]");
    await waitStep.waitFor();
    const first = (await waitStep.getByTestId("timeline-step-duration").textContent()) ?? "";
    expect(first).toMatch(/^waiting /);
    await expect.poll(async () => (await waitStep.getByTestId("timeline-step-duration").textContent()) ?? "", { timeout: 10_000 }).not.toBe(first);
    const elapsed = await text("waiting-elapsed");
    await expect.poll(() => text("waiting-elapsed"), { timeout: 10_000 }).not.toBe(elapsed);

    // the form: the name prefilled, the payload checked before anything is sent
    const form = page.getByTestId("send-event-form");
    expect(await form.getByTestId("send-event-name").inputValue()).toBe("deploy_done");
    await form.getByTestId("send-event-payload").fill("{not json");
    await form.getByTestId("send-event-payload-error").waitFor();
    expect(await form.getByTestId("send-event-submit").isDisabled()).toBe(true);
    await form.getByTestId("send-event-payload").fill(JSON.stringify({ version: "1.4.2" }));
    await form.getByTestId("send-event-reason").fill("deploy 1.4.2 verified by hand");
    expect(await form.getByTestId("send-event-submit").isDisabled()).toBe(false);
    await screenshot(page, "ops-waiting-run");
    await form.getByTestId("send-event-submit").click();
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor({ timeout: 20_000 });
    expect(await auditDetails("signal.sent", runId)).toEqual([expect.objectContaining({ name: "deploy_done", reason: "deploy 1.4.2 verified by hand" })]);

    // the raw log: a human time beside each event, the raw JSON still there
    await page.getByTestId("event-log-section").locator("summary").click();
    const row = page.locator("[data-testid=event-row][data-type=RUN_STARTED]");
    expect(await row.getByTestId("timestamp").textContent()).toMatch(/ago|just now/);
    expect(await row.textContent()).toMatch(/"timestamp":\d{13}/);
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});

describe("an interrupted run", () => {
  it("reads as waiting for an answer, asks once, and says rejected and why once answered, on its page and its thread", async () => {
    const runId = await startRun(db.pool, agents.asker!, "send 100");
    await waitForStatus(db.pool, runId, ["interrupted"]);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("interrupt-panel").waitFor();
    expect(await text("status-awaiting-answer")).toBe("waiting for an answer");
    expect(
      await page
        .getByTestId("status-awaiting-answer")
        .getByText(/finished|failed|interrupted/i)
        .count(),
    ).toBe(0);
    // not a finished run's duration, nor "Finished"
    const usage = (await page.getByTestId("usage").textContent()) ?? "";
    expect(usage).toContain("Worked before asking");
    expect(usage).toContain("Asked");
    expect(usage).not.toContain("Finished");
    // cancelling works on an interrupted run (cancel_run): worded as what it is
    expect(await text("cancel-run")).toBe("Cancel instead of answering");
    // the question: in the panel, and only pointed at in the conversation
    expect(await page.locator("[data-testid=msg-interrupt][data-compact=true]").count()).toBe(1);
    const pageText = (await page.locator("main").textContent()) ?? "";
    expect(pageText.split("Approve calling echo?").length - 1).toBe(1);
    await screenshot(page, "ops-interrupted-run");

    // answered elsewhere (SQL): a rejection with its reason
    const interruptId = (
      await db.pool.query<{ id: string }>(
        "select i ->> 'id' as id from everruns.runs r, jsonb_array_elements(r.interrupts -> 'interrupts') i where r.id = $1",
        [runId],
      )
    ).rows[0]!.id;
    await db.pool.query("select everruns.resume_run($1, $2)", [
      runId,
      JSON.stringify([{ interruptId, status: "resolved", payload: { approved: false, reason: "wrong customer" } }]),
    ]);
    await page.getByTestId("continued-by").waitFor({ timeout: 20_000 });
    const decision = page.getByTestId("conversation").getByTestId("decision").first();
    await decision.waitFor();
    expect(await decision.getAttribute("data-decision")).toBe("rejected");
    expect(await decision.textContent()).toContain("wrong customer");
    expect(await page.getByTestId("status-awaiting-answer").count()).toBe(0);
    await screenshot(page, "ops-rejected-run");

    const thread = (await getRun(db.pool, runId)).thread_id;
    await page.goto(`${web.url}/threads/${thread}`);
    const threadDecision = page.locator(`[data-testid=thread-run][data-run-id="${runId}"]`).getByTestId("decision").first();
    await threadDecision.waitFor();
    expect(await threadDecision.getAttribute("data-decision")).toBe("rejected");
    expect(await page.getByTestId("thread").getByTestId("cost").count()).toBeGreaterThan(0);
  });
});

describe("a failed run", () => {
  it("shows its error once and the full model name; Rerun starts the same input on its thread, with the reason audited", async () => {
    const runId = await startRun(db.pool, agents.failing!, "try me again");
    await waitForStatus(db.pool, runId, ["failed"]);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("run-error").waitFor();
    await page.locator("[data-testid=msg-error][data-compact=true]").waitFor();
    // the error's message once on the page (the banner), not in the conversation and the timeline
    // again (the raw event log, folded, keeps the RUN_ERROR event as stored)
    const message = (await getRun(db.pool, runId)).error?.message ?? "?";

    const shown = await page.locator("main").evaluate((el) => {
      const copy = el.cloneNode(true) as HTMLElement;
      copy.querySelector("[data-testid=event-log-section]")?.remove();
      return copy.textContent ?? "";
    });
    expect(shown.split(message).length - 1).toBe(1);
    expect(await text("usage-model")).toBe("scripted · scripted-model-with-a-rather-long-name-2026-12-03-preview");
    // the timeline's step name (which holds the model) is wrapped, not cut off
    const name = page.getByTestId("timeline-step-name").first();
    expect(await name.textContent()).toContain("scripted-model-with-a-rather-long-name-2026-12-03-preview");
    expect(await name.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await screenshot(page, "ops-failed-run");

    await page.getByTestId("rerun").click();
    await page.getByTestId("rerun-confirm").waitFor();
    await page.getByTestId("rerun-reason").fill("provider fixed");
    await screenshot(page, "ops-rerun");
    await page.getByTestId("confirm-rerun").click();
    await page.waitForURL((url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(runId), { timeout: 20_000 });
    const rerunId = new URL(page.url()).pathname.split("/").at(-1)!;
    await page.getByTestId("rerun-of").waitFor();
    const original = await getRun(db.pool, runId);
    const rerun = await getRun(db.pool, rerunId);
    expect([rerun.thread_id, rerun.agent_version, rerun.input]).toEqual([original.thread_id, original.agent_version, original.input]);
    expect(await auditDetails("run.rerun", runId)).toEqual([expect.objectContaining({ new_run_id: rerunId, reason: "provider fixed" })]);
  });

  it("reruns from a chosen step of the thread's latest run, confirmed with a reason; an earlier run offers it nowhere", async () => {
    // steps: 1 llm (calls echo), 2 tool (echo's result), 3 llm (fails)
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["echo"],
      script: [{ tool_calls: [{ name: "echo", arguments: { n: 1 } }] }, { text: "x", error: "bad_request" }],
    });
    const runId = await startRun(db.pool, agent, "go on from the tool result");
    await waitForStatus(db.pool, runId, ["failed"]);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("run-error").waitFor();
    const steps = page.getByTestId("timeline-step");
    await steps.first().getByTestId("rerun-from-step").waitFor();
    expect(await page.getByTestId("rerun-from-step").count()).toBe(await steps.count());

    const toolStep = page.locator("[data-testid=timeline-step][data-kind=tool]").first();
    expect(await toolStep.locator("span.font-mono").first().textContent()).toBe("2");
    await toolStep.getByTestId("rerun-from-step").click();
    const confirm = page.getByTestId("rerun-from-step-confirm");
    await confirm.waitFor();
    expect(await confirm.textContent()).toContain("continues from step 2");
    await confirm.getByTestId("rerun-from-step-reason").fill("the tool result was right; retry the model");
    await screenshot(page, "ops-rerun-from-step");
    await confirm.getByTestId("confirm-rerun-from-step").click();
    await page.waitForURL((url) => url.pathname.startsWith("/runs/") && !url.pathname.endsWith(runId), { timeout: 20_000 });
    const rerunId = new URL(page.url()).pathname.split("/").at(-1)!;
    await page.getByTestId("rerun-of").waitFor();
    const { rows } = await db.pool.query<{ rerun_of: string; rerun_from_seq: number }>("select rerun_of, rerun_from_seq from everruns.runs where id = $1", [
      rerunId,
    ]);
    expect(rows[0]).toEqual({ rerun_of: runId, rerun_from_seq: 2 });
    expect(await auditDetails("run.rerun", runId)).toEqual([
      expect.objectContaining({ new_run_id: rerunId, from_seq: 2, reason: "the tool result was right; retry the model" }),
    ]);

    // the original is no longer its thread's latest run: no step offers it
    await waitForStatus(db.pool, rerunId, ["failed"]);
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("run-error").waitFor();
    await steps.first().waitFor();
    await page.getByTestId("rerun").waitFor();
    await page.waitForLoadState("networkidle"); // the timeline asked whether the run is its thread's latest
    expect(await page.getByTestId("rerun-from-step").count()).toBe(0);
  });

  it("an unknown run shows the not-found icon", async () => {
    const { page } = browser;
    await page.goto(`${web.url}/runs/00000000-0000-0000-0000-0000000000ff`);
    await page.getByTestId("icon-not-found").waitFor();
    await screenshot(page, "ops-run-not-found");
  });
});

describe("bulk actions", () => {
  it("cancels selected runs from the runs list after a confirmation naming them, the reason audited; a running run shows its step", async () => {
    const waiting = [await startRun(db.pool, agents.waiter!, "bulk one"), await startRun(db.pool, agents.waiter!, "bulk two")];
    for (const id of waiting) await waitForStatus(db.pool, id, ["waiting"]);
    const slow = await startRun(db.pool, agents.slow!, "work slowly");
    const { page } = browser;
    await page.goto(`${web.url}/runs`);
    // the running run's current step, pushed with runUpdated
    const slowRow = page.locator(`tr[data-run-id="${slow}"]`);
    await expect
      .poll(async () => (await slowRow.getByTestId("run-current-step").count()) > 0 && ((await slowRow.textContent()) ?? ""), { timeout: 20_000 })
      .toContain("simulate_work");
    await screenshot(page, "ops-runs-current-step");

    for (const id of waiting) await page.locator(`tr[data-run-id="${id}"]`).getByTestId("select-run").check();
    expect(await text("bulk-count")).toBe("2 selected");
    await page.getByTestId("bulk-cancel").click();
    const confirm = page.getByTestId("bulk-confirm");
    expect(await confirm.getByTestId("bulk-confirm-count").textContent()).toBe("2 runs");
    const ids = (
      await confirm
        .getByTestId("bulk-confirm-ids")
        .locator("li")
        .evaluateAll((els) => els.map((e) => e.getAttribute("title")))
    ).sort();
    expect(ids).toEqual([...waiting].sort());
    expect(await confirm.getByTestId("bulk-confirm-submit").isDisabled()).toBe(true); // a reason first
    await confirm.getByTestId("bulk-reason").fill("incident 4711: stale deploy waits");
    await screenshot(page, "ops-bulk-cancel-confirm");
    expect((await getRun(db.pool, waiting[0]!)).status).toBe("waiting");
    await confirm.getByTestId("bulk-confirm-submit").click();
    await page.getByTestId("bulk-results").waitFor();
    expect(await text("bulk-results")).toContain("2 of 2 cancelled");
    for (const id of waiting) {
      expect((await getRun(db.pool, id)).status).toBe("cancelled");
      expect(await auditDetails("run.cancelled", id)).toEqual([{ previous_status: "waiting", reason: "incident 4711: stale deploy waits" }]);
    }
    await db.pool.query("select everruns.cancel_run($1)", [slow]);
  });

  it("approves selected runs from the approvals page; the history reads who, the decision and the reason from the audit log; the badge clears", async () => {
    const asked = [await startRun(db.pool, agents.asker!, "approve one"), await startRun(db.pool, agents.asker!, "approve two")];
    for (const id of asked) await waitForStatus(db.pool, id, ["interrupted"]);
    const { page } = browser;
    await page.goto(`${web.url}/approvals`);
    for (const id of asked) await page.locator(`[data-testid=approval][data-run-id="${id}"]`).waitFor();
    await expect.poll(() => text("approvals-badge")).toBe("2");
    for (const id of asked) await page.locator(`[data-testid=approval][data-run-id="${id}"]`).getByTestId("select-run").check();
    await page.getByTestId("bulk-approve").click();
    const confirm = page.getByTestId("bulk-confirm");
    expect(await confirm.getByTestId("bulk-confirm-count").textContent()).toBe("2 runs");
    await confirm.getByTestId("bulk-reason").fill("batch reviewed with finance");
    await screenshot(page, "ops-approvals-bulk-confirm");
    await confirm.getByTestId("bulk-confirm-submit").click();
    await page.getByTestId("bulk-results").waitFor();
    expect(await text("bulk-results")).toContain("2 of 2 approved");
    const continuations = await waitFor("both continuations", async () => {
      const { rows } = await db.pool.query<{ id: string }>("select id from everruns.runs where parent_run_id = any($1::uuid[])", [asked]);
      return rows.length === 2 ? rows.map((r) => r.id) : null;
    });
    for (const id of continuations) {
      const [details] = await auditDetails("approval.answered", id);
      expect(details).toMatchObject({ reason: "batch reviewed with finance", answers: [expect.objectContaining({ approved: true, edited: false })] });
    }
    // the history, from the log: the decision and the reason
    const history = page.getByTestId("approvals-history");
    for (const id of asked) {
      const row = history.locator(`[data-testid=history-row][data-run-id="${id}"]`);
      await row.waitFor({ timeout: 20_000 });
      expect(await row.getAttribute("data-from-log")).toBe("true");
      expect(await row.getByTestId("decision").getAttribute("data-decision")).toBe("approved");
      expect(await row.getByTestId("history-reason").textContent()).toContain("batch reviewed with finance");
    }
    await page.getByTestId("approvals-summary").getByText("Nothing is waiting for an answer").waitFor();
    await expect.poll(() => page.getByTestId("approvals-badge").count()).toBe(0);
    await screenshot(page, "ops-approvals-history");
  });
});
