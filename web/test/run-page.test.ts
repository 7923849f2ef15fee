// The run page's live numbers and attempt history (issue "Operator experience", points 7 and 8),
// in a real headless browser over real Postgres, real worker processes, the real API and the
// console's production build:
// - while a run runs, its cost, tokens and step count change on the page before it ends, and the
//   step in progress shows its name and an elapsed time that ticks;
// - a run whose worker was kill -9'd mid-step shows attempt 1 as lost (worker died, job freed)
//   with that worker's pool id, the gap until attempt 2, attempt 2 committed, and the event log
//   marks the dead attempt's events and the STEP_FINISHED that closed it.
// Screenshots: run-detail-live.png, run-crash-recovered.png (web/test/screenshots/).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, getEvents, startRun, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
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
let viewerKey = "";
const workers = new Set<WorkerProcess>();

async function startWorkerProcess(): Promise<WorkerProcess> {
  const w = await spawnWorker(db.url);
  workers.add(w);
  void w.exited.then(() => workers.delete(w));
  return w;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  // a viewer sees all of it
  viewerKey = (await createApiKey(db.pool, { name: "run-page-viewer", role: "viewer" })).key;
  await startWorkerProcess();
  const { page, context } = browser;
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${viewerKey}`);
  await page.waitForURL(`${web.url}/runs`);
});

afterAll(async () => {
  for (const w of workers) w.child.kill("SIGKILL");
  await browser?.close();
  await web?.close();
  await api?.close();
  await db?.drop();
});

const text = async (testId: string) => ((await browser.page.getByTestId(testId).first().textContent()) ?? "").trim();
/** The exact cost (the tooltip: the card rounds tiny amounts to "<$0.0001"). */
const exactCost = async () => (await browser.page.getByTestId("usage-cost").getAttribute("title")) ?? "";

describe("run page, live", () => {
  it("shows cost, tokens and step count changing while the run runs, and the step in progress with a ticking elapsed time", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      // six 2.5 s tool steps: however late the page is first looked at (a loaded machine), a
      // later commit is still pushed to it while the run runs
      script: [
        ...Array.from({ length: 6 }, (_, i) => ({
          text: `Step ${i + 1}: looking things up.`,
          tool_calls: [{ name: "simulate_work", arguments: { ms: 2500 } }],
        })),
        { text: "All done." },
      ],
    });
    const runId = await startRun(db.pool, agent, "live numbers, please");
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.locator("[data-testid=run-status][data-status=running]").waitFor();

    // a tool step is under way: its name, and an elapsed time that moves on its own
    await expect.poll(() => text("current-step-name"), { timeout: 20_000 }).toContain("simulate_work");
    await expect.poll(() => text("timeline-running-name")).toContain("simulate_work");
    const firstElapsed = await text("current-step-elapsed");
    await expect.poll(() => text("current-step-elapsed"), { timeout: 5000 }).not.toBe(firstElapsed);
    // numbers of the committed steps, while the run is still running
    await expect.poll(async () => Number(await text("usage-steps"))).toBeGreaterThan(0);
    const steps1 = Number(await text("usage-steps"));
    const cost1 = await exactCost();
    const tokens1 = await text("usage-output-tokens");
    expect(cost1).toMatch(/^\$0\.0*[1-9]/);
    expect(tokens1).not.toBe("0");
    await screenshot(page, "run-detail-live");

    // a later step: more steps, more cost and tokens, pushed before the run ends
    await expect.poll(async () => Number(await text("usage-steps")), { timeout: 20_000 }).toBeGreaterThan(steps1 + 1);
    expect(await page.locator("[data-testid=run-status]").getAttribute("data-status")).toBe("running");
    expect(await exactCost()).not.toBe(cost1);
    expect(await text("usage-output-tokens")).not.toBe(tokens1);
    await expect.poll(() => text("current-step-name")).toMatch(/step \d+: tool simulate_work/);

    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("current-step").count()).toBe(0);
    expect(await text("usage-steps")).toBe("13");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});

describe("run page, after a crash", () => {
  it("shows attempt 1 lost with its worker and the gap, attempt 2 committed, and the dead attempt's events marked", async () => {
    const agent = await createAgent(db.pool, {
      provider: "scripted",
      tools: ["simulate_work"],
      script: [{ text: "Working on it.", tool_calls: [{ name: "simulate_work", arguments: { ms: 4000 } }] }, { text: "Recovered and done." }],
    });
    const [victim] = [...workers];
    const runId = await startRun(db.pool, agent, "survive a crash");
    await waitFor("the slow tool step to be under way", async () =>
      (await getEvents(db.pool, runId)).some((e) => e.type === "STEP_STARTED" && String(e.event.stepName).includes("simulate_work")),
    );
    const rescuer = await startWorkerProcess();
    victim!.child.kill("SIGKILL");
    await victim!.exited;
    await waitForStatus(db.pool, runId, ["succeeded"]);

    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    const lost = page.locator("[data-testid=attempt][data-step='2'][data-attempt='1']");
    await lost.waitFor();
    expect(await lost.getAttribute("data-outcome")).toBe("worker_died");
    expect(await lost.getByTestId("attempt-outcome").textContent()).toContain("attempt 1 · lost: worker died, job freed");
    expect(await lost.getByTestId("attempt-worker").textContent()).toContain(victim!.poolId);
    expect(await lost.getByTestId("attempt-gap").textContent()).toMatch(/gap \d+(\.\d+)? (ms|s) until attempt 2 began/);
    expect(await lost.getByTestId("attempt-gap-bar").count()).toBe(1);
    const won = page.locator("[data-testid=attempt][data-step='2'][data-attempt='2']");
    expect(await won.getAttribute("data-outcome")).toBe("committed");
    expect(await won.getByTestId("attempt-outcome").textContent()).toContain("attempt 2 · committed");
    expect(await won.getByTestId("attempt-worker").textContent()).toContain(rescuer.poolId);

    // the event log: the dead attempt's events superseded, its closing STEP_FINISHED labelled
    await page.getByTestId("event-log-section").locator("summary").click();
    const closing = page.locator("[data-testid=event-row][data-type=STEP_FINISHED][data-superseded=closing]");
    await closing.first().waitFor();
    expect(await closing.first().getByTestId("event-mark").textContent()).toBe("closed after attempt 1 was lost");
    expect(await page.locator("[data-testid=event-row][data-type=STEP_STARTED][data-superseded=superseded]").count()).toBe(1);
    await page.getByTestId("attempts-card").scrollIntoViewIfNeeded();
    await screenshot(page, "run-crash-recovered");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});

// Retention (issue 19, 000038): a finished run whose events and steps expired keeps its row; the
// page says so where the conversation was, instead of an empty conversation.
describe("run page, history expired", () => {
  it("shows 'History expired on <date> (retention N days)' instead of the conversation, and the run's summary", async () => {
    const agent = await createAgent(db.pool, { provider: "scripted", script: [{ text: "Kept as a summary." }] });
    const runId = await startRun(db.pool, agent, "expire me");
    await waitForStatus(db.pool, runId, ["succeeded"]);
    // what everruns_private.apply_retention leaves (here one run's rows, as the superuser)
    await db.pool.query("update everruns.workspaces set retention_days = 30 where id = '00000000-0000-0000-0000-000000000001'");
    await db.pool.query("delete from everruns.run_events where run_id = $1", [runId]);
    await db.pool.query("delete from everruns.run_steps where run_id = $1", [runId]);
    await db.pool.query("delete from everruns.run_attempts where run_id = $1", [runId]);
    await db.pool.query("update everruns.runs set history_expired_at = '2026-11-01T12:00:00Z' where id = $1", [runId]);
    try {
      const { page } = browser;
      await page.goto(`${web.url}/runs/${runId}`);
      await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
      const notice = page.getByTestId("history-expired");
      await notice.waitFor();
      expect(await notice.textContent()).toMatch(/^History expired on .*2026.* \(retention 30 days\)The workspace.s retention removed/);
      expect(await notice.locator("time").getAttribute("datetime")).toMatch(/^2026-11-01T12:00:00/);
      await screenshot(page, "run-history-expired");
      expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
    } finally {
      await db.pool.query("update everruns.workspaces set retention_days = null where id = '00000000-0000-0000-0000-000000000001'");
    }
  });
});
