// Prompt caching over a long tool loop, cache on next to off, through the engine: a 100-turn run
// (99 calls of the built-in echo with a ~1 KB argument, then an answer) of an anthropic and an
// openai agent against the fake server counting tokens the way each API does (worker/test/
// fake-anthropic.ts: breakpoints and 20-block look-back; fake-openai.ts: automatic prefix caching
// per prompt_cache_key, which goes to OpenAI's host only). What is compared comes from the usage the fake reported: the run's
// input tokens, the parts read from and written to the cache, and the cost in USD priced per
// category next to what the same tokens would cost at the full input rate. The figures are printed
// for the note; the test asserts that the run's usage is exactly what the provider
// reported, summed, that each category is priced at its rate, and that the saving is real.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgent, createTestDatabase, startRun, waitForStatus, type TestDatabase } from "../../db/test/helpers.ts";
import { UsageSchema, type Usage } from "../../db/schemas.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { startWorker, type WorkerHandle } from "../main.ts";
import { catalogPrice } from "../../lib/models/catalog.ts";
import { FakeLlmServer, type StreamReply } from "./fake-llm-server.ts";

const TURNS = 100;
const KEY_ENV = { anthropic: "EVERRUNS_TEST_ANTHROPIC_KEY", openai: "EVERRUNS_TEST_OPENAI_KEY" } as const;
const MODEL = { anthropic: "claude-haiku-4-5", openai: "gpt-5" } as const;
type Provider = keyof typeof MODEL;

let db: TestDatabase;
let worker: WorkerHandle;
let llm: FakeLlmServer;

beforeAll(async () => {
  db = await createTestDatabase();
  llm = await FakeLlmServer.start();
  process.env[KEY_ENV.anthropic] = "test-key";
  process.env[KEY_ENV.openai] = "test-key";
  worker = await startWorker({ databaseUrl: db.url, concurrency: 2, shutdownTimeoutMs: 2000, log: consoleLogger("[test-worker]", "warn") });
});

afterAll(async () => {
  await worker?.stop();
  await llm?.close();
  await db?.drop();
});

/** 99 turns that each call echo with a different ~1 KB note (a growing conversation), then the answer. */
function script(): StreamReply[] {
  const replies: StreamReply[] = [];
  for (let turn = 1; turn < TURNS; turn++) {
    const note = `finding ${turn}: ${"the quick brown fox jumps over the lazy dog ".repeat(24)}`;
    replies.push({ text: `Turn ${turn}.`, toolCalls: [{ name: "echo", arguments: { note } }], usage: { input_tokens: 0, output_tokens: 40 } });
  }
  replies.push({ text: "All findings recorded.", usage: { input_tokens: 0, output_tokens: 40 } });
  return replies;
}

interface Measured {
  provider: Provider;
  cache: "auto" | "off";
  usage: Usage;
  /** the same tokens with every input token at the full input rate */
  fullPriceUsd: number;
  /** what the fake reported reading from its cache, summed over the run's calls */
  reportedCacheRead: number;
  requests: Array<Record<string, unknown>>;
}

async function measure(provider: Provider, cache: "auto" | "off"): Promise<Measured> {
  llm.reset();
  if (provider === "anthropic") llm.anthropic.countTokens = true;
  else llm.openai.countTokens = true;
  llm.reply(...script());
  const agent = await createAgent(db.pool, {
    provider,
    model: MODEL[provider],
    base_url: provider === "anthropic" ? llm.anthropicBaseURL : llm.openaiBaseURL,
    api_key_env: KEY_ENV[provider],
    system_prompt: `You record findings. ${"Follow the house style for findings. ".repeat(40)}`,
    tools: ["echo"],
    max_steps: 2 * TURNS + 5,
    cache,
  });
  const runId = await startRun(db.pool, agent, "Record the findings, one echo call each.");
  const run = await waitForStatus(db.pool, runId, ["succeeded", "failed"], 180_000);
  expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
  expect(llm.requests).toHaveLength(TURNS);

  // the run's usage is the sum of its steps', each exactly what the provider reported
  const { rows } = await db.pool.query<{ usage: unknown }>("select usage from everruns.run_steps where run_id = $1 and kind = 'llm' order by seq", [runId]);
  const stepUsages = rows.map((s) => UsageSchema.parse(s.usage));
  expect(stepUsages).toHaveLength(TURNS);
  const usage = UsageSchema.parse(run.usage);
  const sum = (k: "input_tokens" | "output_tokens" | "cache_read_tokens" | "cache_write_tokens") => stepUsages.reduce((n, u) => n + (u[k] ?? 0), 0);
  expect(usage.input_tokens).toBe(sum("input_tokens"));
  expect(usage.cache_read_tokens ?? 0).toBe(sum("cache_read_tokens"));
  expect(usage.cache_write_tokens ?? 0).toBe(sum("cache_write_tokens"));
  expect(usage.cost_usd).toBeCloseTo(
    stepUsages.reduce((n, u) => n + u.cost_usd, 0),
    6,
  );

  // each category at its own rate (the models table's price of the model)
  const price = catalogPrice(provider, MODEL[provider])!;
  const read = usage.cache_read_tokens ?? 0;
  const write = usage.cache_write_tokens ?? 0;
  const expected =
    ((usage.input_tokens - read - write) * price.input +
      read * (price.cache_read ?? price.input) +
      write * (price.cache_write ?? price.input) +
      usage.output_tokens * price.output) /
    1_000_000;
  expect(usage.cost_usd).toBeCloseTo(expected, 5);
  const fullPriceUsd = (usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000;

  const reportedCacheRead =
    provider === "anthropic"
      ? llm.anthropic.cacheLog.reduce((n, e) => n + e.read, 0)
      : // the Responses API reports it per call; the fake's count is what the step recorded
        sum("cache_read_tokens");
  return { provider, cache, usage, fullPriceUsd, reportedCacheRead, requests: llm.requests.map((r) => r.body) };
}

describe(`prompt caching over a ${TURNS}-turn tool loop`, () => {
  const results: Measured[] = [];

  afterAll(() => {
    if (results.length === 0) return;
    const lines = results.map((r) => {
      const u = r.usage;
      const read = u.cache_read_tokens ?? 0;
      const write = u.cache_write_tokens ?? 0;
      return (
        `${r.provider.padEnd(9)} cache ${r.cache.padEnd(4)}: input ${u.input_tokens} tokens (${read} read from cache, ${write} written, ` +
        `${u.input_tokens - read - write} at full price), output ${u.output_tokens}; cost $${u.cost_usd.toFixed(4)} ` +
        `vs $${r.fullPriceUsd.toFixed(4)} at full input price (${((1 - u.cost_usd / r.fullPriceUsd) * 100).toFixed(1)}% saved)`
      );
    });
    console.log(`prompt caching, ${TURNS} turns (fake providers' reported usage):\n${lines.join("\n")}`);
  });

  it("anthropic: breakpoints make most input cache reads, and the cost follows the reported usage", async () => {
    const on = await measure("anthropic", "auto");
    const off = await measure("anthropic", "off");
    results.push(on, off);
    // every request marked at most 4 breakpoints; none with cache off
    for (const body of on.requests) expect(JSON.stringify(body).match(/"cache_control"/g)?.length ?? 0).toBeGreaterThan(0);
    for (const body of off.requests) expect(JSON.stringify(body)).not.toContain("cache_control");
    expect(on.usage.cache_read_tokens).toBe(on.reportedCacheRead);
    expect(on.usage.cache_read_tokens ?? 0).toBeGreaterThan(0.8 * on.usage.input_tokens);
    expect(off.usage.cache_read_tokens ?? 0).toBe(0);
    expect(off.usage.cache_write_tokens ?? 0).toBe(0);
    // the same conversation either way: the same input tokens
    expect(on.usage.input_tokens).toBe(off.usage.input_tokens);
    expect(on.usage.cost_usd).toBeLessThan(0.3 * off.usage.cost_usd);
    expect(off.usage.cost_usd).toBeCloseTo(off.fullPriceUsd, 6);
  }, 300_000);

  it("openai: cached tokens are what the API reported, priced at the cached rate", async () => {
    const on = await measure("openai", "auto");
    const off = await measure("openai", "off");
    results.push(on, off);
    // the fake is not OpenAI's host: no prompt_cache_key goes to it (openai-fidelity.test.ts checks
    // the key on OpenAI's host)
    for (const body of [...on.requests, ...off.requests]) expect(body).not.toHaveProperty("prompt_cache_key");
    expect(on.usage.cache_read_tokens ?? 0).toBeGreaterThan(0.8 * on.usage.input_tokens);
    expect(on.usage.cost_usd).toBeLessThan(0.4 * on.fullPriceUsd);
    // OpenAI caches long prefixes by itself: with cache off it still reports cached tokens (no key
    // to route by is what changes at the real API); the cost follows what it reported
    expect(off.usage.input_tokens).toBe(on.usage.input_tokens);
  }, 300_000);
});
