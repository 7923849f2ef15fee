// Workflows in the console (issue 21), in a real headless browser over real Postgres, a real
// worker, the real API and the console's production build: a workflow agent's page draws its
// definition (every state, every edge label, start and end), previews the definition as it is
// edited (a Next to a missing state drawn as "no such state"), shows the API's validation error
// naming the state and the field, and marks the states a new version added and changed on both
// versions' graphs; a run's page draws the run on the graph: the states it went through visited,
// the Wait state it is parked in waiting with its deadline, and lists its transitions.
// Screenshots: /tmp/shots/workflow-agent.png, workflow-diff.png, workflow-run.png (and
// web/test/screenshots/workflow-*.png, gitignored).
import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, type TestDatabase } from "../../db/test/helpers.ts";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { startWorker, type WorkerHandle } from "../../worker/main.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");
const SHOTS = "/tmp/shots";

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let worker: WorkerHandle;
let browser: Browser;

/** A purchase order routed on its amount: Pass, Choice, Wait and Succeed/Fail only, which the engine runs without a provider. */
const definition = {
  Comment: "Route a purchase order on its amount; a large one waits an hour before it is approved.",
  StartAt: "Prepare",
  States: {
    Prepare: { Type: "Pass", Result: { amount: 12000 }, ResultPath: "$.order", Next: "Route" },
    Route: {
      Type: "Choice",
      Choices: [
        { Variable: "$.order.amount", NumericGreaterThan: 10000, Next: "Hold" },
        { Variable: "$.order.amount", NumericLessThanEquals: 10000, Next: "Approved" },
      ],
      Default: "Rejected",
    },
    Hold: { Type: "Wait", Seconds: 3600, Next: "Approved" },
    Approved: { Type: "Succeed" },
    Rejected: { Type: "Fail", Error: "Rejected", Cause: "no rule matched the amount" },
  },
};

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  worker = await startWorker({ databaseUrl: db.url, concurrency: 4, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  const key = (await createApiKey(db.pool, { name: "workflow-admin", role: "admin" })).key;
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

/** The states drawn in a graph, with their status, in document order. */
async function drawnStates(testId: string): Promise<Array<{ name: string; status: string; change: string | null; label: string }>> {
  return browser.page
    .getByTestId(testId)
    .locator("g[data-state]")
    .evaluateAll((nodes) =>
      nodes.map((n) => ({
        name: n.getAttribute("data-state") ?? "",
        status: n.getAttribute("data-status") ?? "",
        change: n.getAttribute("data-change"),
        label: n.getAttribute("aria-label") ?? "",
      })),
    );
}

/** The config editor's text with one edit applied to the definition. */
function configWith(edit: (states: Record<string, Record<string, unknown>>) => void): string {
  const def = structuredClone(definition) as typeof definition & { States: Record<string, Record<string, unknown>> };
  edit(def.States);
  return JSON.stringify({ kind: "workflow", definition: def }, null, 2);
}

let agentId: string;

describe("a workflow agent's page", () => {
  it("draws every state and edge label, with start and end markers, instead of a provider and model", async () => {
    agentId = await createAgent(db.pool, { kind: "workflow", definition }, "purchase_order");
    const { page } = browser;
    await page.goto(`${web.url}/agents/${agentId}`);
    await page.getByTestId("workflow-definition").locator("g[data-state]").first().waitFor();
    expect(await page.getByTestId("agent-kind").textContent()).toBe("workflow · 5 states");
    expect(await page.getByTestId("agent-model").count()).toBe(0);

    const states = await drawnStates("workflow-definition");
    expect(states.map((s) => s.name).sort()).toEqual(["Approved", "Hold", "Prepare", "Rejected", "Route"]);
    expect(states.find((s) => s.name === "Route")?.label).toBe("State Route (Choice): not visited");
    expect(states.find((s) => s.name === "Approved")?.label).toBe("State Approved (Succeed): not visited, ends the workflow");
    const graph = page.getByTestId("workflow-definition");
    const labels = await graph.locator("[data-edge-label]").evaluateAll((els) => els.map((e) => e.getAttribute("data-edge-label")));
    expect(labels.sort()).toEqual(["Default", "rule 1", "rule 2"]);
    const edges = await graph.locator("g[data-edge]").evaluateAll((els) => els.map((e) => e.getAttribute("data-edge")));
    // Prepare→Route, Route→Hold, Route→Approved, Route→Rejected, Hold→Approved, the start edge and two to the end
    expect(edges).toHaveLength(8);
    expect(edges).toContain("Hold->Approved");
    expect(await graph.locator("[data-marker=start]").count()).toBe(1);
    expect(await graph.locator("[data-marker=end]").count()).toBe(1);
    // readable: no two states overlap
    const boxes = await graph.locator("g[data-state] > rect:first-of-type").evaluateAll((rects) =>
      rects.map((r) => {
        const b = r.getBoundingClientRect();
        return { left: b.left, right: b.right, top: b.top, bottom: b.bottom };
      }),
    );
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1)) expect(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top).toBe(true);
    await graph.screenshot({ path: `${SHOTS}/workflow-agent.png` });
    await screenshot(page, "workflow-agent");
  });

  it("previews the edited definition, drawing a Next to a missing state", async () => {
    const { page } = browser;
    await page.getByTestId("config-editor").fill(configWith((s) => (s.Hold!.Next = "Nowhere")));
    const preview = page.getByTestId("workflow-preview-graph");
    await preview.locator("[data-missing=Nowhere]").waitFor();
    expect(await preview.locator("g[data-state=Hold]").getAttribute("data-change")).toBe("changed");
  });

  // Needs the API's validation of a workflow definition (issue 21: errors that name the state and the field).
  it("shows the API's refusal of a Next to a missing state, naming the state and the field", async () => {
    const { page } = browser;
    await page.getByTestId("save-config").click();
    const error = page.getByTestId("config-error");
    await error.waitFor();
    const text = (await error.textContent()) ?? "";
    expect(text).toContain("Hold");
    expect(text).toContain("Next");
    expect(text).toContain("Nowhere");
    // the issue at its field: Hold's Next, on its line
    const issue = error.getByTestId("config-issue");
    expect(await issue.getAttribute("data-path")).toBe("definition.States.Hold.Next");
    expect(Number(await issue.getAttribute("data-line"))).toBeGreaterThan(0);
    const { rows } = await db.pool.query<{ version: number }>("select version from everruns.agents where id = $1", [agentId]);
    expect(rows[0]!.version).toBe(1);
  });

  it("marks the states a new version added and changed on both versions' graphs", async () => {
    const { page } = browser;
    await page.reload();
    await page.getByTestId("workflow-definition").locator("g[data-state]").first().waitFor();
    await page.getByTestId("config-editor").fill(
      configWith((s) => {
        s.Hold!.Next = "Notify";
        s.Notify = { Type: "Pass", Result: "notified", ResultPath: "$.notice", Next: "Approved" };
      }),
    );
    await page.getByTestId("save-config").click();
    await waitFor("version 2", async () => ((await page.getByTestId("versions").textContent()) ?? "").includes("v2"));
    const diff = page.getByTestId("workflow-diff");
    await diff.waitFor();
    expect(await diff.getByTestId("workflow-diff-summary").textContent()).toBe("States: 1 added · 1 changed · 0 removed");
    const after = await drawnStates("workflow-diff-to");
    expect(after.filter((s) => s.change).map((s) => [s.name, s.change])).toEqual([
      ["Hold", "changed"],
      ["Notify", "added"],
    ]);
    expect((await drawnStates("workflow-diff-from")).filter((s) => s.change)).toEqual([]);
    // the line diff stays
    expect(await page.getByTestId("diff").locator("[data-op=add]").count()).toBeGreaterThan(0);
    await diff.screenshot({ path: `${SHOTS}/workflow-diff.png` });
  });
});

describe("nested machines", () => {
  it("draws a Parallel's branches and a Map's item processor inside their state, and a Catch edge", async () => {
    const nested = {
      StartAt: "Gather",
      States: {
        Gather: {
          Type: "Parallel",
          Branches: [
            { StartAt: "Quotes", States: { Quotes: { Type: "Task", Resource: "everruns:agent:quoter", End: true } } },
            {
              StartAt: "Budget",
              States: { Budget: { Type: "Pass", Next: "Check" }, Check: { Type: "Task", Resource: "everruns:http:budget_api", End: true } },
            },
          ],
          Catch: [{ ErrorEquals: ["States.ALL"], Next: "GiveUp" }],
          Next: "EachVendor",
        },
        EachVendor: {
          Type: "Map",
          ItemsPath: "$.vendors",
          MaxConcurrency: 5,
          ItemProcessor: { StartAt: "Score", States: { Score: { Type: "Task", Resource: "everruns:agent:scorer", End: true } } },
          Next: "Done",
        },
        Done: { Type: "Succeed" },
        GiveUp: { Type: "Fail", Error: "Gather", Cause: "a branch failed" },
      },
    };
    const id = await createAgent(db.pool, { kind: "workflow", definition: nested }, "vendor_review");
    const { page } = browser;
    await page.goto(`${web.url}/agents/${id}`);
    const graph = page.getByTestId("workflow-definition");
    await graph.locator("g[data-state]").first().waitFor();
    const states = await drawnStates("workflow-definition");
    expect(states.map((s) => s.name).sort()).toEqual(["Budget", "Check", "Done", "EachVendor", "Gather", "GiveUp", "Quotes", "Score"]);
    expect(states.find((s) => s.name === "Quotes")?.label).toBe("State Quotes (Task · agent:quoter): not visited, ends the workflow");
    expect(await graph.locator("g[data-state=Gather] [data-branch]").count()).toBe(2);
    expect(await graph.locator("g[data-state=EachVendor] [data-branch]").count()).toBe(1);
    expect(await graph.locator("[data-edge-label]").evaluateAll((els) => els.map((e) => e.getAttribute("data-edge-label")))).toEqual(["Catch States.ALL"]);
    await graph.screenshot({ path: `${SHOTS}/workflow-nested.png` });
  });
});

describe("a workflow run's page", () => {
  it("draws the run on the graph: visited states, the Wait it is parked in with its deadline, the transitions", async () => {
    const runAgent = await createAgent(db.pool, { kind: "workflow", definition }, "purchase_order_run");
    const { page } = browser;
    await page.goto(`${web.url}/agents/${runAgent}`);
    await page.getByTestId("prompt").fill("order 42");
    await page.getByTestId("start-run-submit").click();
    await page.waitForURL((url) => url.pathname.startsWith("/runs/"));
    const runId = new URL(page.url()).pathname.split("/").at(-1)!;
    const card = page.getByTestId("workflow-run");
    await card.waitFor();
    // live: the page was opened before the engine went through the states
    await waitFor(
      "Hold waiting on the graph",
      async () => (await card.locator("g[data-state=Hold]").getAttribute("data-status")) === "waiting",
      60_000,
      200,
    ).catch(async (error: Error) => {
      // say where the run is: the engine's side or the page's
      await screenshot(page, "workflow-run-failed");
      const run = await db.pool.query("select status, error, state from everruns.runs where id = $1", [runId]);
      const steps = await db.pool.query("select seq, kind, name, status, output from everruns.run_steps where run_id = $1 order by seq", [runId]);
      throw new Error(`${error.message}; the run: ${JSON.stringify(run.rows[0])}; its steps: ${JSON.stringify(steps.rows)}`);
    });
    const { rows } = await db.pool.query<{ status: string }>("select status from everruns.runs where id = $1", [runId]);
    expect(rows[0]!.status).toBe("waiting");
    const states = await drawnStates("workflow-run-graph");
    const status = Object.fromEntries(states.map((s) => [s.name, s.status]));
    expect(status).toEqual({ Prepare: "visited", Route: "visited", Hold: "waiting", Approved: "none", Rejected: "none" });
    expect(states.find((s) => s.name === "Prepare")?.label).toMatch(/^State Prepare \(Pass\): visited, 1 visit, /);
    expect(states.find((s) => s.name === "Hold")?.label).toMatch(/^State Hold \(Wait\): waiting, timer until \d{4}-/);
    expect(await card.getByTestId("workflow-now").textContent()).toMatch(/^Waiting in Hold for a timer until /);
    const transitions = await card
      .getByTestId("workflow-transition")
      .evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-state")}:${r.getAttribute("data-kind")}`));
    expect(transitions).toEqual(["Prepare:state", "Route:state", "Hold:wait"]);
    await card.screenshot({ path: `${SHOTS}/workflow-run.png` });
    await screenshot(page, "workflow-run");
    expect(browser.errors.filter((e) => !e.includes("Failed to load resource"))).toEqual([]);
  });
});
