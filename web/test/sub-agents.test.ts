// Sub-agents in the console (issue 18, 000033), in a real headless browser over real Postgres, a
// real worker, the real API and the console's production build: a caller's run page lists the
// runs its agent calls started (status, agent, link) and the tree's usage, says what it waits
// for; a child's page links back to its caller and its root; a descendant that awaits an answer
// is named on the root's page.
// Screenshots (web/test/screenshots/): sub-agents-caller, sub-agents-child.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, waitFor, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
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
  worker = await startWorker({ databaseUrl: db.url, concurrency: 8, shutdownTimeoutMs: 2000, log });
  browser = await launchBrowser();
  const key = (await createApiKey(db.pool, { name: "sub-agents-viewer", role: "viewer" })).key;
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

async function children(runId: string): Promise<Array<{ id: string; status: string }>> {
  const { rows } = await db.pool.query<{ id: string; status: string }>(
    "select id, status from everruns.runs where caller_run_id = $1 order by created_at, id",
    [runId],
  );
  return rows;
}

describe("a run with sub-agents", () => {
  it("lists its children with their status and agent, links each way, and names a descendant awaiting an answer", async () => {
    await createAgent(db.pool, { provider: "scripted", script: [{ text: "fast answer" }] }, "quick_helper");
    await createAgent(
      db.pool,
      {
        provider: "scripted",
        tools: [{ name: "echo", requires_approval: true }],
        script: [{ tool_calls: [{ name: "echo", arguments: { x: 1 } }] }, { text: "ok" }],
      },
      "careful_helper",
    );
    const lead = await createAgent(db.pool, {
      provider: "scripted",
      tools: [
        { type: "agent", name: "quick", agent: "quick_helper" },
        { type: "agent", name: "careful", agent: "careful_helper" },
      ],
      script: [
        {
          tool_calls: [
            { name: "quick", arguments: { task: "one" } },
            { name: "careful", arguments: { task: "two" } },
          ],
        },
        { text: "both done" },
      ],
    });
    const { rows } = await db.pool.query<{ id: string }>("insert into everruns.runs (agent_id, input) values ($1, $2) returning id", [
      lead,
      JSON.stringify({ messages: [{ role: "user", content: "delegate" }] }),
    ]);
    const runId = rows[0]!.id;
    const kids = await waitFor("the careful child to await approval", async () => {
      const all = await children(runId);
      return all.length === 2 && all.some((c) => c.status === "interrupted") && all.some((c) => c.status === "succeeded") ? all : undefined;
    });
    await waitFor("the root to report the interrupt", async () => {
      const { rows: r } = await db.pool.query("select 1 from everruns.run_events where run_id = $1 and event ->> 'name' = 'everruns.child_interrupted'", [
        runId,
      ]);
      return r.length > 0;
    });

    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    const card = page.getByTestId("run-tree-card");
    await card.waitFor();
    await expect.poll(async () => page.getByTestId("run-child").count()).toBe(2);
    const listed = (await page.getByTestId("run-children").textContent()) ?? "";
    expect(listed).toContain("quick_helper");
    expect(listed).toContain("careful_helper");
    expect(await page.locator("[data-testid=run-child] [data-status=succeeded]").count()).toBe(1);
    expect(await page.locator("[data-testid=run-child] [data-status=interrupted]").count()).toBe(1);
    expect((await page.getByTestId("run-tree-awaiting").textContent()) ?? "").toContain("careful_helper");
    expect((await page.getByTestId("run-tree-usage").textContent()) ?? "").toMatch(/tree: 3 runs/);
    expect((await page.getByTestId("waiting-for").textContent()) ?? "").toContain("Waiting for its sub-agents");
    await screenshot(page, "sub-agents-caller");

    // open the interrupted child: it links back to its caller
    const careful = kids.find((c) => c.status === "interrupted")!;
    await page.locator(`[data-testid=run-child] a[href="/runs/${careful.id}"]`).click();
    await page.waitForURL(`${web.url}/runs/${careful.id}`);
    const back = page.getByTestId("run-caller");
    await back.waitFor();
    expect(await back.getAttribute("href")).toBe(`/runs/${runId}`);
    await screenshot(page, "sub-agents-child");

    // answered on the child, the caller finishes; its page shows both children succeeded
    const { rows: interrupts } = await db.pool.query<{ id: string }>("select interrupts -> 'interrupts' -> 0 ->> 'id' as id from everruns.runs where id = $1", [
      careful.id,
    ]);
    await db.pool.query("select everruns.resume_run($1, $2)", [
      careful.id,
      JSON.stringify([{ interruptId: interrupts[0]!.id, status: "resolved", payload: { approved: true } }]),
    ]);
    expect((await waitForStatus(db.pool, runId, ["succeeded", "failed"])).status).toBe("succeeded");
    await page.goto(`${web.url}/runs/${runId}`);
    await page.getByTestId("run-tree-card").waitFor();
    // the card lists the continuation too (it carries the call on), so three runs, none awaiting
    await expect.poll(async () => page.getByTestId("run-child").count()).toBe(3);
    expect(await page.getByTestId("run-tree-awaiting").count()).toBe(0);
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });
});
