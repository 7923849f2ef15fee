// The model catalog as data (lib/models/models.json, an operator's EVERRUNS_MODELS_FILE) and the
// cost of a call by token category (worker/pricing.ts): lookup by longest prefix, the precedence
// agent > workspace > operator file > built-in, the formula on a cache-heavy call, the operator
// file's errors, and the agent-config checks that name the field a model cannot honour.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AgentConfigWriteSchema, describeIssues } from "../../db/schemas.ts";
import { loadEnv } from "../../db/env.ts";
import { builtinModels, CAPABILITIES, catalogPrice, modelInfo, parseModelsTable, registerOperatorModels } from "../../lib/models/catalog.ts";
import { loadOperatorModels, readModelsFile } from "../../lib/models/operator-file.ts";
import builtinJson from "../../lib/models/models.json" with { type: "json" };
import { costUsd, effectivePrice, type PriceOverrides } from "../pricing.ts";
import { PROVIDER_SPECS } from "../providers/registry.ts";
import type { TokenUsage } from "../providers/types.ts";

const dir = mkdtempSync(join(tmpdir(), "everruns-models-"));
let files = 0;
function modelsFile(content: unknown): string {
  const path = join(dir, `models-${++files}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function configIssues(config: Record<string, unknown>): string | null {
  const parsed = AgentConfigWriteSchema.safeParse(config);
  return parsed.success ? null : describeIssues(parsed.error);
}

afterEach(() => registerOperatorModels(undefined));

/** Anthropic models whose cache reads are not 0.1x input (platform.claude.com pricing): the Fable and Mythos 5.1+ at 0.025x, Opus and Sonnet 5.5 at 0.05x. */
const ANTHROPIC_CACHE_READ_SHARE: Record<string, number> = {
  "claude-fable-5-2": 0.025,
  "claude-mythos-5-2": 0.025,
  "claude-fable-5-1": 0.025,
  "claude-mythos-5-1": 0.025,
  "claude-opus-5-5": 0.05,
  "claude-sonnet-5-5": 0.05,
};

/** The model ids a TypeScript union of the installed SDK names (`export type Model = 'a' | 'b' | (string & {})`). */
function sdkModelIds(file: string, type: string): string[] {
  const declaration = readFileSync(new URL(`../../node_modules/${file}`, import.meta.url), "utf8").match(new RegExp(`export type ${type} = ([^;]*);`));
  if (!declaration) throw new Error(`no \`export type ${type}\` in node_modules/${file}: the SDK changed shape; update this test's reader`);
  return [...declaration[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
}

describe("the built-in models table", () => {
  it("every entry is well formed: a known provider, a window, a longest output within it, input and output prices, cache rates not above input", () => {
    // the table passes its check (builtinModels() parses it); this states what a built-in entry must have beyond the shape
    expect(builtinModels()).toEqual(builtinJson);
    const providers = PROVIDER_SPECS.map((spec) => spec.name as string);
    expect(Object.keys(builtinModels()).sort()).toEqual([...providers].sort());
    let entries = 0;
    for (const [provider, models] of Object.entries(builtinModels())) {
      for (const [prefix, entry] of Object.entries(models)) {
        const where = `${provider}/${prefix}`;
        entries++;
        expect(entry.context_window, where).toBeGreaterThan(0);
        expect(entry.max_output_tokens, where).toBeGreaterThan(0);
        expect(entry.max_output_tokens!, where).toBeLessThanOrEqual(entry.context_window!);
        expect(entry.prices, where).toBeDefined();
        expect(entry.prices!.input, where).toBeGreaterThanOrEqual(0);
        expect(entry.prices!.output, where).toBeGreaterThanOrEqual(entry.prices!.input);
        if (entry.prices!.cache_read !== undefined) expect(entry.prices!.cache_read, where).toBeLessThan(entry.prices!.input);
        // a capability of the other provider's kind is not stated (thinking is Anthropic's, reasoning OpenAI's)
        if (provider === "openai") expect(entry.thinking, where).toBeUndefined();
        if (provider === "anthropic") {
          expect(entry.reasoning, where).toBeUndefined();
          // Anthropic's 5-minute cache: writes at 1.25x input, reads at 0.1x but where the pricing page says otherwise
          // (Claude 3 Haiku's list prices round up: 0.03 and 0.30)
          const haiku3 = prefix === "claude-3-haiku";
          expect(entry.prices!.cache_read, where).toBeCloseTo(haiku3 ? 0.03 : entry.prices!.input * (ANTHROPIC_CACHE_READ_SHARE[prefix] ?? 0.1), 6);
          expect(entry.prices!.cache_write, where).toBeCloseTo(haiku3 ? 0.3 : entry.prices!.input * 1.25, 6);
        }
        if (provider === "openai") {
          // OpenAI charged nothing for writing its cache until GPT-5.6; since then writes (30-minute retention) cost 1.25x input
          if (/^gpt-(5\.6|6)/.test(prefix)) expect(entry.prices!.cache_write, where).toBeCloseTo(entry.prices!.input * 1.25, 6);
          else expect(entry.prices!.cache_write, where).toBeUndefined();
        }
        for (const key of Object.keys(entry)) expect(["context_window", "max_output_tokens", "prices", ...Object.keys(CAPABILITIES)], where).toContain(key);
      }
    }
    expect(entries).toBeGreaterThan(80);
    // the scripted model: every name, priced (nominally) so cost tracking runs offline
    expect(Object.keys(builtinModels().scripted!)).toEqual([""]);
  });

  it("looks a model up by the longest matching prefix of its provider's names", () => {
    expect(modelInfo("openai", "gpt-4o-mini-2024-07-18")).toMatchObject({ prefix: "gpt-4o-mini", prices: { input: 0.15, output: 0.6, cache_read: 0.075 } });
    expect(modelInfo("openai", "gpt-4o-2024-11-20")).toMatchObject({ prefix: "gpt-4o", structured_output: true });
    expect(modelInfo("openai", "gpt-4o-2024-05-13")).toMatchObject({ prefix: "gpt-4o-2024-05-13", structured_output: false });
    expect(modelInfo("openai", "o3-mini-2025-01-31").prefix).toBe("o3-mini");
    expect(modelInfo("openai", "o3-2025-04-16").prefix).toBe("o3");
    expect(modelInfo("anthropic", "claude-opus-4-5-20251101")).toMatchObject({
      prefix: "claude-opus-4-5",
      prices: { input: 5, output: 25 },
      max_output_tokens: 64_000,
    });
    expect(modelInfo("anthropic", "claude-opus-4-1-20250805").prefix).toBe("claude-opus-4-1");
    expect(modelInfo("anthropic", "claude-opus-4-20250514").prefix).toBe("claude-opus-4");
    expect(modelInfo("anthropic", "claude-3-5-haiku-latest")).toMatchObject({ thinking: false, context_window: 200_000 });
    expect(modelInfo("scripted", undefined)).toMatchObject({ prefix: "", prices: { input: 0.5, output: 1.5 } });
    expect(modelInfo("scripted", "anything").prefix).toBe("");
    // a model of one provider is not found under another, and an unknown model is unknown
    expect(modelInfo("anthropic", "gpt-4o")).toEqual({});
    expect(modelInfo("openai", "my-finetune")).toEqual({});
    expect(catalogPrice("openai", "unknown-model")).toBeUndefined();
    expect(catalogPrice("anthropic", "claude-sonnet-4-20250514")).toEqual({ input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 });
    // the agent's model_info goes over the table
    expect(modelInfo("openai", "gpt-4o", { context_window: 64_000, reasoning: true })).toMatchObject({
      prefix: "gpt-4o",
      context_window: 64_000,
      reasoning: true,
    });
    expect(modelInfo("openai", "my-finetune", { max_output_tokens: 100 })).toEqual({ max_output_tokens: 100 });
  });

  it("finds every model the installed SDKs name under its own entry, never under an older family's price", () => {
    const sdks = [
      { provider: "anthropic", ids: sdkModelIds("@anthropic-ai/sdk/resources/messages/messages.d.ts", "Model") },
      { provider: "openai", ids: sdkModelIds("openai/resources/shared.d.ts", "ChatModel") },
    ];
    // left unknown (they cost nothing rather than a guess): no official price for the invitation-only Mythos Preview,
    // audio models, and the bare `gpt-4` alias (an entry "gpt-4" would be the prefix of every gpt-4* model)
    const unpriced = ["claude-mythos-preview", "gpt-audio-mini", "gpt-audio-mini-2025-12-15", "gpt-4"];
    // what may follow an entry's prefix in a model id: a snapshot date, an alias, or a variant the provider prices as its family
    const sameFamily = /^(-latest|-preview|-codex|-audio-preview|-search-preview)?(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4})?$/;
    for (const { provider, ids } of sdks) {
      expect(ids.length, provider).toBeGreaterThan(20);
      for (const id of ids) {
        const info = modelInfo(provider, id);
        if (unpriced.includes(id)) {
          expect(info.prefix, id).toBeUndefined();
          continue;
        }
        expect(info.prefix, id).toBeDefined();
        expect(id.slice(info.prefix!.length), `${id} is found under ${info.prefix}`).toMatch(sameFamily);
        expect(info.prices, id).toBeDefined();
      }
    }
    // the cases a shorter prefix used to price: Opus 4.6 at Opus 4's $15/$75, GPT-5.5 at GPT-5's $1.25/$10
    expect(catalogPrice("anthropic", "claude-opus-4-6")).toEqual({ input: 5, output: 25, cache_read: 0.5, cache_write: 6.25 });
    expect(catalogPrice("openai", "gpt-5.5-2026-04-23")).toEqual({ input: 5, output: 30, cache_read: 0.5 });
    expect(modelInfo("anthropic", "claude-sonnet-5-5")).toMatchObject({ prefix: "claude-sonnet-5-5", prices: { cache_read: 0.1 } });
    expect(modelInfo("anthropic", "claude-fable-5-1")).toMatchObject({ prefix: "claude-fable-5-1", prices: { cache_read: 0.25 } });
    expect(modelInfo("anthropic", "claude-haiku-5-5")).toMatchObject({ context_window: 1_000_000, prices: { input: 0.1, cache_read: 0.01 } });
    expect(modelInfo("openai", "gpt-5.3-chat-latest")).toMatchObject({ prefix: "gpt-5.3-chat", max_output_tokens: 16_384 });
    expect(modelInfo("openai", "gpt-3.5-turbo-16k-0613")).toMatchObject({ prefix: "gpt-3.5-turbo-16k", prices: { input: 3, output: 4 } });
    // GPT-5.6 and later bill cache writes; a cache-heavy call on gpt-6-sol: 2 input, 0.2 read, 2.5 write, 10 output
    const usage: TokenUsage = { input_tokens: 100_000, cache_read_tokens: 90_000, cache_write_tokens: 8_000, output_tokens: 2_000 };
    expect(costUsd({ provider: "openai" }, "gpt-6-sol", usage)).toBeCloseTo((2_000 * 2 + 90_000 * 0.2 + 8_000 * 2.5 + 2_000 * 10) / 1e6, 8);
  });
});

describe("cost by token category", () => {
  // a long run's typical call: most of the prompt read from the cache, a little written, reasoning inside output
  const cached: TokenUsage = { input_tokens: 100_000, cache_read_tokens: 90_000, cache_write_tokens: 8_000, output_tokens: 2_000, reasoning_tokens: 1_500 };

  it("prices uncached input, cache reads, cache writes and output each at its own rate", () => {
    // claude-sonnet-4: 3 input, 0.3 read, 3.75 write, 15 output (USD per million)
    const sonnet = costUsd({ provider: "anthropic" }, "claude-sonnet-4-20250514", cached);
    expect(sonnet).toBeCloseTo((2_000 * 3 + 90_000 * 0.3 + 8_000 * 3.75 + 2_000 * 15) / 1e6, 8);
    expect(sonnet).toBe(0.093);
    // the same call with no caching would cost 3x as much on its input
    const uncached = costUsd({ provider: "anthropic" }, "claude-sonnet-4-20250514", { input_tokens: 100_000, output_tokens: 2_000 });
    expect(uncached).toBe(0.33);
    // gpt-4.1: 2 input, 0.5 cached, no cache write rate: writes at the input rate
    expect(costUsd({ provider: "openai" }, "gpt-4.1-2025-04-14", cached)).toBeCloseTo((2_000 * 2 + 90_000 * 0.5 + 8_000 * 2 + 2_000 * 8) / 1e6, 8);
    // a price without cache rates bills cached tokens as input (gpt-5-pro has no cached rate)
    expect(costUsd({ provider: "openai" }, "gpt-5-pro", cached)).toBeCloseTo((100_000 * 15 + 2_000 * 120) / 1e6, 8);
    // reasoning tokens are part of output, not billed twice
    expect(costUsd({ provider: "openai" }, "o4-mini", { input_tokens: 0, output_tokens: 1_000_000, reasoning_tokens: 900_000 })).toBe(4.4);
    // a provider reporting cached parts larger than its input total is not billed a negative
    expect(costUsd({ provider: "openai" }, "gpt-4o", { input_tokens: 10, cache_read_tokens: 1_000_000, output_tokens: 0 })).toBe(1.25);
    // an unknown model costs nothing rather than a guess
    expect(costUsd({ provider: "openai" }, "my-finetune", cached)).toBe(0);
  });

  it("takes the agent's prices over the workspace's, the workspace's over the operator file's, the operator file's over the built-in table", () => {
    const model = "gpt-4o-mini-2024-07-18";
    const usage: TokenUsage = { input_tokens: 1_000_000, cache_read_tokens: 500_000, output_tokens: 1_000_000 };
    // built-in: 0.5M × 0.15 + 0.5M × 0.075 + 1M × 0.6
    expect(costUsd({ provider: "openai" }, model, usage)).toBe(0.7125);

    // the operator's file, for the same prefix and the longer one
    registerOperatorModels(parseModelsTable({ openai: { "gpt-4o-mini": { prices: { input: 1, output: 2 } } } }, "test"));
    // its prices leave the cache rate out: the built-in ratio (0.075 / 0.15) of its own input rate, 0.5
    expect(costUsd({ provider: "openai" }, model, usage)).toBe(2.75);
    // the operator's entry replaced the prices only: the window and capabilities are the built-in's
    expect(modelInfo("openai", model)).toMatchObject({ context_window: 128_000, structured_output: true, prices: { input: 1, output: 2, cache_read: 0.5 } });
    registerOperatorModels(parseModelsTable({ openai: { "gpt-4o-mini-2024": { prices: { input: 2, output: 2 } } } }, "test"));
    expect(costUsd({ provider: "openai" }, model, usage)).toBe(4);
    expect(costUsd({ provider: "openai" }, "gpt-4o-mini", usage)).toBe(0.7125);

    // the workspace's, by its own longest prefix of the run's provider; another provider's rows do not apply
    const workspace: PriceOverrides = [
      { provider: "openai", model: "gpt-4o", price: { input: 10, output: 10 } },
      { provider: "openai", model: "gpt-4o-mini", price: { input: 3, output: 3, cache_read: 1 } },
      { provider: "anthropic", model: "", price: { input: 100, output: 100 } },
    ];
    expect(costUsd({ provider: "openai" }, model, usage, workspace)).toBe(0.5 * 3 + 0.5 * 1 + 3);
    // a price without cache rates reads the cache at the catalog's ratio for the model (gpt-4o: 1.25 / 2.5), on its own input rate
    expect(costUsd({ provider: "openai" }, "gpt-4o", usage, workspace)).toBe(0.5 * 10 + 0.5 * 5 + 10);
    // a model the workspace does not price falls through to the catalog
    expect(costUsd({ provider: "openai" }, "o3", usage, workspace)).toBe(0.5 * 2 + 0.5 * 0.5 + 8);
    expect(effectivePrice({ provider: "scripted" }, "x", workspace)).toEqual({ input: 0.5, output: 1.5, cache_read: 0.05, cache_write: 0.625 });

    // the agent's own prices above all
    const agent = { provider: "openai" as const, prices: { input_per_million: 4, output_per_million: 5, cache_read_per_million: 0 } };
    expect(costUsd(agent, model, usage, workspace)).toBe(0.5 * 4 + 0 + 5);
    // an agent's prices without cache rates, for a model whose catalog price has none either (the operator's gpt-4o-mini-2024
    // above), bill cached tokens as input
    expect(costUsd({ provider: "openai", prices: { input_per_million: 4, output_per_million: 5 } }, model, usage, workspace)).toBe(9);
    // and they price even a model nothing else knows
    expect(costUsd(agent, "my-finetune", usage)).toBe(7);
  });
});

describe("the operator's models file (EVERRUNS_MODELS_FILE)", () => {
  it("is merged over the built-in table at start, and cleared when the variable is unset", () => {
    const path = modelsFile({
      openai: {
        "ft:gpt-4o-mini": { context_window: 128_000, max_output_tokens: 1_000, prices: { input: 0.3, output: 1.2, cache_read: 0.15 }, structured_output: true },
      },
      anthropic: { "claude-3-5-haiku": { thinking: true } },
    });
    expect(loadOperatorModels({ EVERRUNS_MODELS_FILE: path })).toBe(path);
    expect(modelInfo("openai", "ft:gpt-4o-mini:acme::abc")).toMatchObject({ prefix: "ft:gpt-4o-mini", max_output_tokens: 1_000 });
    expect(modelInfo("anthropic", "claude-3-5-haiku-20241022")).toMatchObject({ thinking: true, max_output_tokens: 8192 });
    expect(configIssues({ provider: "openai", model: "ft:gpt-4o-mini:acme::abc", max_tokens: 2_000 })).toMatch(
      /^max_tokens: is 2000, more than the 1000 output tokens/,
    );
    expect(configIssues({ provider: "anthropic", model: "claude-3-5-haiku-latest", thinking_budget_tokens: 2048 })).toBeNull();
    expect(loadOperatorModels({})).toBeUndefined();
    expect(modelInfo("openai", "ft:gpt-4o-mini:acme::abc")).toEqual({});
    expect(modelInfo("anthropic", "claude-3-5-haiku-20241022").thinking).toBe(false);
  });

  it("refuses a bad file with an error naming the path and what is wrong", () => {
    const missing = join(dir, "nowhere.json");
    expect(() => readModelsFile(missing)).toThrow(`EVERRUNS_MODELS_FILE: cannot read ${missing}`);
    const notJson = modelsFile("{ openai: ");
    expect(() => readModelsFile(notJson)).toThrow(`EVERRUNS_MODELS_FILE: ${notJson} is not JSON`);
    const badPrice = modelsFile({ openai: { "gpt-5": { prices: { input: -1, output: 10 } } } });
    expect(() => readModelsFile(badPrice)).toThrow(`EVERRUNS_MODELS_FILE: ${badPrice} is not a valid models table`);
    expect(() => readModelsFile(badPrice)).toThrow('"openai"."gpt-5"."prices"."input": must be 0 or more (USD per million tokens)');
    const noOutput = modelsFile({ openai: { "gpt-5": { prices: { input: 1 } } } });
    expect(() => readModelsFile(noOutput)).toThrow('"openai"."gpt-5"."prices"."output": must be a number of USD per million tokens');
    const typo = modelsFile({ openai: { "gpt-5": { context_windw: 1000 } } });
    expect(() => readModelsFile(typo)).toThrow(/"openai"\."gpt-5": Unrecognized key: "context_windw"/);
    const window = modelsFile({ anthropic: { claude: { context_window: 1.5 } } });
    expect(() => readModelsFile(window)).toThrow('"anthropic"."claude"."context_window": must be a whole number of tokens');
    const provider = modelsFile({ opnai: { "gpt-5": { prices: { input: 1, output: 2 } } } });
    expect(() => readModelsFile(provider)).toThrow(
      `EVERRUNS_MODELS_FILE: ${provider} names unknown provider(s) "opnai"; the providers are openai, anthropic, scripted`,
    );
    const notObject = modelsFile([]);
    expect(() => readModelsFile(notObject)).toThrow(/\(the file\): /);
    // a failed load leaves what was registered before
    registerOperatorModels(parseModelsTable({ openai: { x: { prices: { input: 1, output: 1 } } } }, "test"));
    expect(() => loadOperatorModels({ EVERRUNS_MODELS_FILE: badPrice })).toThrow(/not a valid models table/);
    expect(modelInfo("openai", "x").prices).toEqual({ input: 1, output: 1 });
    // the variable is part of the process environment's shape
    expect(loadEnv({ EVERRUNS_MODELS_FILE: "/etc/everruns/models.json" }).EVERRUNS_MODELS_FILE).toBe("/etc/everruns/models.json");
  });
});

describe("agent config: what the model can do", () => {
  it("refuses a capability the catalog says the model lacks, naming the field and what to do", () => {
    expect(configIssues({ provider: "anthropic", model: "claude-3-5-sonnet-20241022", thinking_budget_tokens: 2048 })).toBe(
      "thinking_budget_tokens: model claude-3-5-sonnet-20241022 does not support extended thinking (models table); remove thinking_budget_tokens, or set model_info.thinking to true if it does",
    );
    expect(configIssues({ provider: "openai", model: "gpt-4o", reasoning_effort: "low" })).toMatch(
      /^reasoning_effort: model gpt-4o does not support reasoning \(it is not a reasoning model\) \(models table\); remove reasoning_effort, or set model_info\.reasoning to true/,
    );
    const schema = { type: "object", properties: { label: { type: "string" } }, required: ["label"], additionalProperties: false };
    expect(configIssues({ provider: "openai", model: "gpt-4o-2024-05-13", output_schema: schema })).toMatch(
      /^output_schema: model gpt-4o-2024-05-13 does not support structured output \(models table\); remove output_schema, or set model_info\.structured_output to true/,
    );
    // Claude 4.7 and later think adaptively only: `thinking: {type: "enabled", budget_tokens}` is a 400
    for (const model of ["claude-opus-4-7", "claude-opus-5-5", "claude-sonnet-5", "claude-haiku-5-5", "claude-fable-5-2"]) {
      expect(configIssues({ provider: "anthropic", model, thinking_budget_tokens: 2048 }), model).toMatch(
        /^thinking_budget_tokens: model .* does not support extended thinking/,
      );
    }
    expect(configIssues({ provider: "anthropic", model: "claude-opus-4-6", thinking_budget_tokens: 2048, max_tokens: 128_000 })).toBeNull();
    expect(configIssues({ provider: "anthropic", model: "claude-3-5-haiku-20241022", max_tokens: 10_000 })).toBe(
      "max_tokens: is 10000, more than the 8192 output tokens model claude-3-5-haiku-20241022 allows (models table); lower it, or set model_info.max_output_tokens if the model allows more",
    );
  });

  it("accepts what the model can do, unknown models, unknown capabilities, and the agent's model_info", () => {
    const schema = { type: "object", properties: { label: { type: "string" } }, required: ["label"], additionalProperties: false };
    expect(configIssues({ provider: "anthropic", model: "claude-sonnet-4-5-20250929", thinking_budget_tokens: 2048, max_tokens: 64_000 })).toBeNull();
    expect(configIssues({ provider: "openai", model: "o4-mini", reasoning_effort: "high", output_schema: schema })).toBeNull();
    expect(configIssues({ provider: "openai", model: "gpt-5-mini", reasoning_effort: "minimal" })).toBeNull();
    // not in the table: anything goes
    expect(configIssues({ provider: "openai", model: "my-finetune", reasoning_effort: "low", max_tokens: 1_000_000, output_schema: schema })).toBeNull();
    expect(configIssues({ provider: "anthropic", model: "claude-test", thinking_budget_tokens: 2048 })).toBeNull();
    // o1-mini's reasoning support is not stated: allowed
    expect(configIssues({ provider: "openai", model: "o1-mini", reasoning_effort: "low" })).toBeNull();
    // the agent knows better than the table
    expect(configIssues({ provider: "openai", model: "gpt-4o", reasoning_effort: "low", model_info: { reasoning: true } })).toBeNull();
    expect(configIssues({ provider: "anthropic", model: "claude-3-5-haiku", max_tokens: 10_000, model_info: { max_output_tokens: 16_000 } })).toBeNull();
    // model_info can also lower what is allowed, for a model the table does not know
    expect(configIssues({ provider: "openai", model: "my-finetune", max_tokens: 5_000, model_info: { max_output_tokens: 4_096 } })).toMatch(
      /^max_tokens: is 5000, more than the 4096 output tokens model my-finetune allows/,
    );
    // scripted: a large window, structured output
    expect(configIssues({ provider: "scripted", max_tokens: 1_000_000, output_schema: schema })).toBeNull();
  });

  it("checks model_info and the prices' cache rates like every other field", () => {
    expect(configIssues({ provider: "openai", model: "gpt-4o", model_info: { thinking: "yes" } })).toMatch(/^model_info\.thinking: /);
    expect(configIssues({ provider: "openai", model: "gpt-4o", model_info: { context_window: 0 } })).toMatch(
      /^model_info\.context_window: must be more than 0/,
    );
    expect(configIssues({ provider: "openai", model: "gpt-4o", model_info: { prices: {} } })).toMatch(/^model_info\.prices: is not a known setting/);
    expect(configIssues({ provider: "scripted", prices: { input_per_million: 1, output_per_million: 2, cache_read_per_million: -1 } })).toMatch(
      /^prices\.cache_read_per_million: /,
    );
    const parsed = AgentConfigWriteSchema.parse({
      provider: "scripted",
      prices: { input_per_million: 1, output_per_million: 2, cache_read_per_million: 0.1, cache_write_per_million: 1.25 },
    });
    expect(parsed.prices).toEqual({ input_per_million: 1, output_per_million: 2, cache_read_per_million: 0.1, cache_write_per_million: 1.25 });
  });
});
