// Usage by token category and a workspace's model prices in the console (issue 20, "Provider
// fidelity and cost"), in a real headless browser over real Postgres, the real API and the
// console's production build:
// - a run whose LLM steps reported prompt-cache reads and writes and reasoning tokens (committed
//   through the data-access layer, as a worker commits them: begin_step, commit_step) shows on its
//   page the input with its cached part, the output with its reasoning part, each category and the
//   cache hit ratio; the dashboard's usage table shows the categories of its agent's day;
// - a run whose steps reported none shows no category (nothing that reads as "0 cached");
// - /prices lists the workspace's overrides and the model catalog, read from the API (modelCatalog:
//   context windows and capabilities beside the prices, Anthropic's rules among them: adaptive
//   thinking, what a model's API refuses, its effort levels); an admin adds an override (it replaces
//   the built-in entries it covers), edits it and deletes it; a viewer reads it all with every
//   action disabled, naming the role needed;
// - an operator's models file loaded by the API's process (as `everruns start` loads
//   EVERRUNS_MODELS_FILE) shows on the page, its entries marked: the console bundles no table.
// Screenshots (web/test/screenshots/): usage-categories-run, usage-categories-dashboard,
// prices-catalog-anthropic, prices-form, prices-overrides, prices-viewer, prices-operator-file.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey } from "../../db/sql/apiKeys.ts";
import type { AgUiEvent } from "../../db/sql/appendEvents.ts";
import { beginStep } from "../../db/sql/beginStep.ts";
import { commitStep, type NextStep } from "../../db/sql/commitStep.ts";
import type { Usage } from "../../db/schemas.ts";
import { createAgent, createTestDatabase, getRun, startRun, type TestDatabase } from "../../db/test/helpers.ts";
import { startApi, type ApiHandle } from "../../api/server.ts";
import { builtinModels, parseModelsTable, registerOperatorModels } from "../../lib/models/catalog.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWeb, type WebHandle } from "../../scripts/web.ts";
import { launchBrowser, screenshot, type Browser } from "./browser.ts";

const log = consoleLogger("[test-web]", (process.env.EVERRUNS_TEST_LOG as "debug" | "info" | "warn" | "error" | undefined) ?? "error");

let db: TestDatabase;
let api: ApiHandle;
let web: WebHandle;
let browser: Browser;
const keys = { admin: "", viewer: "" };

async function login(key: string): Promise<void> {
  const { page, context } = browser;
  // off the current page first: its polling (a 401 redirecting to /login) must not abort the login's navigation
  await page.goto("about:blank");
  await context.clearCookies();
  await page.goto(`${web.url}/login#key=${key}`);
  await page.waitForURL(`${web.url}/runs`);
}

const text = async (testId: string) => ((await browser.page.getByTestId(testId).first().textContent()) ?? "").trim();

/**
 * A run of `agentId` whose LLM steps report `usages`, one step each, committed as a worker commits
 * them (no worker runs here: the test begins and commits each step itself). Ends succeeded.
 */
async function runWithUsage(agentId: string, usages: Usage[]): Promise<string> {
  const runId = await startRun(db.pool, agentId, "usage by category");
  for (const [i, usage] of usages.entries()) {
    const begun = await beginStep(db.pool, runId);
    expect(begun?.run.step_cursor).toBe(i + 1);
    const { step_cursor: seq, step_attempt: attempt, thread_id: threadId } = begun!.run;
    const messageId = `msg-${runId}-${seq}`;
    const last = i === usages.length - 1;
    const reply = last ? "All done." : `Turn ${seq}.`;
    const events: AgUiEvent[] = [
      ...(i === 0 ? [{ type: "RUN_STARTED", threadId, runId }] : []),
      { type: "STEP_STARTED", stepName: `step ${seq}: llm scripted` },
      { type: "TEXT_MESSAGE_START", messageId, role: "assistant" },
      { type: "TEXT_MESSAGE_CONTENT", messageId, delta: reply },
      { type: "TEXT_MESSAGE_END", messageId },
      { type: "STEP_FINISHED", stepName: `step ${seq}: llm scripted` },
      ...(last ? [{ type: "RUN_FINISHED", threadId, runId, result: { text: reply } }] : []),
    ];
    const next: NextStep = last ? { type: "succeed", output: { text: reply } } : { type: "continue" };
    const step = {
      kind: "llm" as const,
      name: "scripted",
      status: "succeeded" as const,
      input: {},
      output: { message_id: messageId, text: reply, tool_calls: [] },
      usage,
    };
    const { committed } = await commitStep(db.pool, runId, seq, attempt, step, events, next);
    expect(committed).toBe(true);
  }
  return runId;
}

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi({ databaseUrl: db.url, port: 0, log, graphiql: false });
  web = await startWeb({ apiUrl: api.url, port: 0, log });
  browser = await launchBrowser();
  keys.admin = (await createApiKey(db.pool, { name: "prices-admin", role: "admin" })).key;
  keys.viewer = (await createApiKey(db.pool, { name: "prices-viewer", role: "viewer" })).key;
});

afterAll(async () => {
  registerOperatorModels(undefined);
  await browser?.close();
  await web?.close();
  await api?.close();
  await db?.drop();
});

describe("usage by token category", () => {
  it("a run's page shows the cached part of its input, the reasoning part of its output, each category and the cache hit ratio", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", model: "cache-model", script: [] }, "cache-agent");
    // two calls: the first writes the prefix to the cache, the second reads it back
    const runId = await runWithUsage(agentId, [
      { input_tokens: 22_400, output_tokens: 900, cache_read_tokens: 0, cache_write_tokens: 20_000, reasoning_tokens: 400, cost_usd: 0.0125 },
      { input_tokens: 98_000, output_tokens: 1_300, cache_read_tokens: 98_000, cache_write_tokens: 2_400, reasoning_tokens: 800, cost_usd: 0.0061 },
    ]);
    // the run's usage is the sum of its steps', category by category (commit_step, 000029)
    const run = await getRun(db.pool, runId);
    expect(run.status).toBe("succeeded");
    expect(run.usage).toMatchObject({
      input_tokens: 120_400,
      output_tokens: 2_200,
      cache_read_tokens: 98_000,
      cache_write_tokens: 22_400,
      reasoning_tokens: 1_200,
    });

    await login(keys.viewer);
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    expect(await text("usage-input-tokens")).toBe("120,400");
    expect(await text("usage-input-tokens-cached")).toBe("98,000 cached");
    expect(await text("usage-output-tokens")).toBe("2,200");
    expect(await text("usage-output-tokens-reasoning")).toBe("1,200 reasoning");
    expect(await page.getByTestId("usage-input-tokens").locator("..").getAttribute("title")).toBe("Input 120,400 (98,000 cached)");
    expect(await text("usage-cache-read")).toBe("98,000");
    expect(await text("usage-cache-write")).toBe("22,400");
    expect(await text("usage-reasoning")).toBe("1,200");
    // 98,000 of 120,400 input tokens came from the cache
    expect(await text("usage-cache-hit-ratio")).toBe("81.4%");
    expect(await page.getByTestId("usage-cost").getAttribute("title")).toBe("$0.0186 (USD)");
    await screenshot(page, "usage-categories-run");

    // the dashboard: the agent's day with its cache reads / writes and reasoning
    await page.goto(`${web.url}/dashboard`);
    const row = page.getByTestId("usage-row").filter({ hasText: "cache-agent" });
    await row.waitFor();
    expect(((await row.getByTestId("usage-cache").textContent()) ?? "").trim()).toBe("98.0k / 22.4k");
    expect(((await row.getByTestId("usage-reasoning").textContent()) ?? "").trim()).toBe("1,200");
    expect(await row.getByTestId("usage-cache").getAttribute("title")).toBe("98,000 read from the cache (81.4% of input), 22,400 written to it");
    await screenshot(page, "usage-categories-dashboard");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });

  it("a run whose steps reported no category shows none", async () => {
    const agentId = await createAgent(db.pool, { provider: "scripted", script: [] }, "plain-agent");
    const runId = await runWithUsage(agentId, [{ input_tokens: 40, output_tokens: 12, cost_usd: 0.00004 }]);
    expect((await getRun(db.pool, runId)).usage).toEqual({ input_tokens: 40, output_tokens: 12, cost_usd: 0.00004 });
    const { page } = browser;
    await page.goto(`${web.url}/runs/${runId}`);
    await page.locator("[data-testid=run-status][data-status=succeeded]").waitFor();
    expect(await text("usage-input-tokens")).toBe("40");
    expect(await text("usage-output-tokens")).toBe("12");
    expect(await page.getByTestId("usage-input-tokens-cached").count()).toBe(0);
    expect(await page.getByTestId("usage-output-tokens-reasoning").count()).toBe(0);
    expect(await page.getByTestId("usage-categories").count()).toBe(0);
    await page.goto(`${web.url}/dashboard`);
    const row = page.getByTestId("usage-row").filter({ hasText: "plain-agent" });
    await row.waitFor();
    expect(((await row.getByTestId("usage-cache").textContent()) ?? "").trim()).toBe("—");
    expect(((await row.getByTestId("usage-reasoning").textContent()) ?? "").trim()).toBe("—");
  });
});

describe("model prices", () => {
  const row = (provider: string, model: string) => browser.page.locator(`[data-testid=price-row][data-provider="${provider}"][data-model="${model}"]`);
  const builtin = (provider: string, model: string) =>
    browser.page.locator(`[data-testid=builtin-price-row][data-provider="${provider}"][data-model="${model}"]`);
  const cell = async (locator: ReturnType<typeof row>, testId: string) => ((await locator.getByTestId(testId).textContent()) ?? "").trim();
  const stored = async () =>
    (
      await db.pool.query<{ provider: string; model: string; input: number; output: number; cache_read: number | null; cache_write: number | null }>(
        `select provider, model, input_per_million as input, output_per_million as output, cache_read_per_million as cache_read,
                cache_write_per_million as cache_write
           from everruns.model_prices order by provider, model`,
      )
    ).rows;

  it("an admin adds an override over the built-in table, edits it and deletes it", async () => {
    await login(keys.admin);
    const { page } = browser;
    await page.getByTestId("nav-prices").click();
    await page.waitForURL(`${web.url}/prices`);
    await page.getByTestId("prices-builtin-table").waitFor();
    expect(await text("prices-summary")).toContain("This workspace uses the built-in prices");
    // the catalog from the API, read-only: gpt-4o's rates, a missing cache-write rate said as the input rate's,
    // its context window (128,000 tokens, at most 16,384 out) and the capabilities models.json states
    const gpt4o = builtin("openai", "gpt-4o");
    expect(((await gpt4o.textContent()) ?? "").replace(/\s+/g, " ")).toContain("$2.50$10.00$1.25input rate");
    expect(await cell(gpt4o, "builtin-price-status")).toBe("applies");
    expect(await cell(gpt4o, "builtin-context")).toBe("128K");
    expect(await gpt4o.getByTestId("builtin-context").locator("..").getAttribute("title")).toBe(
      "128,000 tokens of context; at most 16,384 output tokens per call",
    );
    expect(await gpt4o.getByTestId("builtin-capability").evaluateAll((chips) => chips.map((c) => c.getAttribute("data-capability")))).toEqual([
      "caching",
      "structuredOutput",
    ]);
    expect(await gpt4o.getByTestId("builtin-capabilities").getAttribute("title")).toContain("reasoning (reasoning_effort): no");
    expect(await cell(builtin("openai", "gpt-4.1"), "builtin-context")).toBe("1.05M");
    expect(await builtin("anthropic", "claude-sonnet-4-5").locator("[data-capability=thinking]").count()).toBe(1);
    // a current Anthropic model's rules: what it has in grey, what its API refuses in amber, its effort levels as a range
    const chips = (locator: ReturnType<typeof row>) =>
      locator.getByTestId("builtin-capability").evaluateAll((els) => els.map((c) => `${c.textContent}${c.getAttribute("data-refused") ? " (refused)" : ""}`));
    expect(await chips(builtin("anthropic", "claude-opus-5-5"))).toEqual([
      "adaptive thinking",
      "caching",
      "JSON schema",
      "JSON output format",
      "effort: low…max",
      "always thinks (refused)",
      "no forced tools (refused)",
      "no temperature (refused)",
    ]);
    expect(await builtin("anthropic", "claude-opus-5-5").getByTestId("builtin-capabilities").getAttribute("title")).toContain(
      "effort levels (output_config.effort): low, medium, high, xhigh, max",
    );
    expect(await chips(builtin("anthropic", "claude-opus-4-6"))).toContain("effort: low…max, no xhigh");
    await page.getByTestId("prices-builtin-provider").selectOption("anthropic");
    await screenshot(page, "prices-catalog-anthropic");
    await page.getByTestId("prices-builtin-provider").selectOption("");
    expect(await page.locator("[data-testid=builtin-price-row][data-operator-file=true]").count()).toBe(0);
    expect(await cell(builtin("anthropic", "claude-sonnet-4-5"), "builtin-cache-write")).toBe("$3.75");

    // add openai gpt-4o*: it replaces gpt-4o, gpt-4o-mini and gpt-4o-2024-05-13, not gpt-4.1
    await page.getByTestId("price-add").click();
    await page.getByTestId("price-form-provider").selectOption("openai");
    await page.getByTestId("price-form-model").fill("gpt-4o");
    await page.getByTestId("price-form-input").fill("2");
    await page.getByTestId("price-form-output").fill("8");
    await page.getByTestId("price-form-cacheRead").fill("0.2");
    await screenshot(page, "prices-form");
    await page.getByTestId("price-form-save").click();
    await row("openai", "gpt-4o").waitFor();
    expect(await stored()).toEqual([{ provider: "openai", model: "gpt-4o", input: 2, output: 8, cache_read: 0.2, cache_write: null }]);
    expect(await cell(row("openai", "gpt-4o"), "price-input")).toBe("$2.00");
    expect(await cell(row("openai", "gpt-4o"), "price-cache-read")).toBe("$0.20");
    expect(await cell(row("openai", "gpt-4o"), "price-cache-write")).toBe("input rate");
    expect(await text("prices-summary")).toContain("1 price of this workspace");
    for (const model of ["gpt-4o", "gpt-4o-mini", "gpt-4o-2024-05-13"]) {
      expect(await builtin("openai", model).getAttribute("data-replaced")).toBe("true");
      expect(await cell(builtin("openai", model), "builtin-price-status")).toBe("replaced by its gpt-4o* price");
    }
    expect(await builtin("openai", "gpt-4.1").getAttribute("data-replaced")).toBe("false");

    // a rate out of range: the form says what is wrong and sends nothing
    await page.getByTestId("price-add").click();
    await page.getByTestId("price-form-model").fill("gpt-5");
    await page.getByTestId("price-form-input").fill("1");
    await page.getByTestId("price-form-output").fill("-3");
    expect(await page.getByTestId("price-form-save").isDisabled()).toBe(false);
    await page.getByTestId("price-form-save").click();
    await expect.poll(() => page.getByTestId("price-form").textContent()).toContain("a number of USD from 0 to 1,000,000");
    expect(await page.getByTestId("price-form-save").isDisabled()).toBe(true);
    await page.getByTestId("price-form-cancel").click();
    expect(await stored()).toHaveLength(1);

    // edit: provider and prefix fixed, the rates changed
    await row("openai", "gpt-4o").getByTestId("price-edit").click();
    expect(await page.getByTestId("price-form-model").isDisabled()).toBe(true);
    expect(await page.getByTestId("price-form-input").inputValue()).toBe("2");
    await page.getByTestId("price-form-output").fill("9.5");
    await page.getByTestId("price-form-cacheWrite").fill("2.5");
    await page.getByTestId("price-form-save").click();
    await expect.poll(() => cell(row("openai", "gpt-4o"), "price-output")).toBe("$9.50");
    expect(await cell(row("openai", "gpt-4o"), "price-cache-write")).toBe("$2.50");
    expect(await stored()).toEqual([{ provider: "openai", model: "gpt-4o", input: 2, output: 9.5, cache_read: 0.2, cache_write: 2.5 }]);
    await screenshot(page, "prices-overrides");

    // delete, confirmed: the built-in prices apply again
    await row("openai", "gpt-4o").getByTestId("price-delete").click();
    await page.getByTestId("price-confirm-delete").click();
    await row("openai", "gpt-4o").waitFor({ state: "detached" });
    expect(await stored()).toEqual([]);
    expect(await builtin("openai", "gpt-4o").getAttribute("data-replaced")).toBe("false");
    const { rows: audit } = await db.pool.query<{ action: string }>("select action from everruns.audit_log where action like 'model_price.%' order by id");
    expect(audit.map((a) => a.action)).toEqual(["model_price.set", "model_price.set", "model_price.deleted"]);
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
  });

  it("a viewer reads the workspace's prices and the built-in table, every action disabled", async () => {
    await db.pool.query("insert into everruns.model_prices (provider, model, input_per_million, output_per_million) values ('anthropic', '', 1, 2)");
    await login(keys.viewer);
    const { page } = browser;
    await page.goto(`${web.url}/prices`);
    const own = row("anthropic", "");
    await own.waitFor();
    expect(await cell(own, "price-model")).toBe("every model");
    expect(await cell(own, "price-cache-read")).toBe("input rate");
    // a price for every anthropic model replaces all of the provider's built-in entries
    expect(await builtin("anthropic", "claude-sonnet-4-5").getAttribute("data-replaced")).toBe("true");
    expect(await cell(builtin("anthropic", "claude-sonnet-4-5"), "builtin-price-status")).toBe("replaced by its anthropic price for every model");
    for (const testId of ["price-add", "price-edit", "price-delete"]) {
      const button = page.getByTestId(testId).first();
      expect(await button.isDisabled()).toBe(true);
      expect(await button.getAttribute("title")).toContain("Needs an API key with role admin");
    }
    expect(await page.getByTestId("builtin-price-override").first().isDisabled()).toBe(true);
    await screenshot(page, "prices-viewer");
  });

  it("shows the operator's models file the API loaded, its entries marked, merged over the built-in ones", async () => {
    // as `everruns start` does with EVERRUNS_MODELS_FILE (lib/models/operator-file.ts), in the API's process
    registerOperatorModels(
      parseModelsTable(
        {
          openai: { "ft:gpt-4o-mini": { context_window: 64_000, max_output_tokens: 4_096, prices: { input: 0.3, output: 1.2 }, structured_output: true } },
          anthropic: { "claude-sonnet-4-5": { prices: { input: 2, output: 12, cache_read: 0.2 } } },
        },
        "test",
      ),
    );
    await login(keys.viewer);
    const { page } = browser;
    await page.goto(`${web.url}/prices`);
    const own = builtin("openai", "ft:gpt-4o-mini");
    await own.waitFor();
    expect(await own.getAttribute("data-operator-file")).toBe("true");
    expect(await cell(own, "builtin-operator-file")).toBe("operator file");
    expect(await cell(own, "builtin-context")).toBe("64K");
    expect(((await own.textContent()) ?? "").replace(/\s+/g, " ")).toContain("$0.30$1.20input rateinput rate");
    expect(await own.getByTestId("builtin-capability").evaluateAll((chips) => chips.map((c) => c.getAttribute("data-capability")))).toEqual([
      "structuredOutput",
    ]);
    // over a built-in entry: the operator's prices, the built-in context window and capabilities kept
    const sonnet = builtin("anthropic", "claude-sonnet-4-5");
    expect(await sonnet.getAttribute("data-operator-file")).toBe("true");
    expect(((await sonnet.textContent()) ?? "").replace(/\s+/g, " ")).toContain("$2.00$12.00$0.20$2.50");
    const builtinSonnet = builtinModels().anthropic!["claude-sonnet-4-5"]!;
    expect(await sonnet.getByTestId("builtin-context").locator("..").getAttribute("title")).toBe(
      `${builtinSonnet.context_window!.toLocaleString("en-US")} tokens of context; at most ${builtinSonnet.max_output_tokens!.toLocaleString("en-US")} output tokens per call`,
    );
    expect(await sonnet.locator("[data-capability=thinking]").count()).toBe(1);
    expect(await page.locator("[data-testid=builtin-price-row][data-operator-file=true]").count()).toBe(2);
    expect(await builtin("openai", "gpt-4o").getAttribute("data-operator-file")).toBe("false");
    await screenshot(page, "prices-operator-file");
    expect(browser.errors.filter((e) => e.startsWith("pageerror"))).toEqual([]);
    registerOperatorModels(undefined);
  });
});
