// Query.modelCatalog (api/graphql/model-prices.ts) against a real API and Postgres: the model
// catalog the console's prices page shows, read through the API instead of bundled with the
// console. Any key reads it (a viewer's too: it is no workspace's data), a request without a valid
// key is refused, and an operator's EVERRUNS_MODELS_FILE loaded in this process (as `everruns
// start` loads it) shows at the next request, merged over the built-in table and marked as the
// operator's.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { builtinModels, registerOperatorModels } from "../../lib/models/catalog.ts";
import { loadOperatorModels } from "../../lib/models/operator-file.ts";
import { bearer, createTestKey, startTestApi, type TestApiHandle } from "./helpers.ts";

let db: TestDatabase;
let api: TestApiHandle;
let viewer: string;
let dir: string;

const CATALOG = /* GraphQL */ `
  {
    modelCatalog {
      provider
      modelPrefix
      contextWindow
      maxOutputTokens
      inputPerMillion
      outputPerMillion
      cacheReadPerMillion
      cacheWritePerMillion
      thinking
      reasoning
      caching
      structuredOutput
      adaptiveThinking
      thinkingOff
      forcedToolChoice
      outputFormat
      temperature
      effortLevels
      fromOperatorFile
    }
  }
`;

interface CatalogModel {
  provider: string;
  modelPrefix: string;
  contextWindow: number | null;
  maxOutputTokens: number | null;
  inputPerMillion: number | null;
  outputPerMillion: number | null;
  cacheReadPerMillion: number | null;
  cacheWritePerMillion: number | null;
  thinking: boolean | null;
  reasoning: boolean | null;
  caching: boolean | null;
  structuredOutput: boolean | null;
  adaptiveThinking: boolean | null;
  thinkingOff: boolean | null;
  forcedToolChoice: boolean | null;
  outputFormat: boolean | null;
  temperature: boolean | null;
  effortLevels: string[] | null;
  fromOperatorFile: boolean;
}

async function post(
  headers: Record<string, string>,
  query = CATALOG,
): Promise<{ status: number; body: { data?: unknown; errors?: unknown[] } & Record<string, unknown> }> {
  const res = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: unknown[] } };
}

/** The catalog as `key` reads it; fails the test on any error. */
async function catalog(key: string): Promise<CatalogModel[]> {
  const { status, body } = await post(bearer(key));
  expect(body.errors).toBeUndefined();
  expect(status).toBe(200);
  return (body.data as { modelCatalog: CatalogModel[] }).modelCatalog;
}

const entry = (models: CatalogModel[], provider: string, prefix: string) => models.find((m) => m.provider === provider && m.modelPrefix === prefix);

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db.url);
  viewer = await createTestKey(db.url, { role: "viewer", name: "catalog-viewer" });
  dir = mkdtempSync(path.join(tmpdir(), "everruns-catalog-"));
});

// the registered table is this process's: never leave one to the next test
afterEach(() => registerOperatorModels(undefined));

afterAll(async () => {
  registerOperatorModels(undefined);
  await api?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("Query.modelCatalog", () => {
  it("refuses a request without a key, or with a key that is not one, before anything runs", async () => {
    const none = await post({});
    expect(none.status).toBe(401);
    expect(JSON.stringify(none.body)).not.toContain("modelCatalog");
    const forged = await post(bearer(`evr_${"A".repeat(43)}`));
    expect(forged.status).toBe(401);
    expect(forged.body.data).toBeUndefined();
  });

  it("gives a viewer the built-in table, entry by entry, with its context windows, prices and capabilities", async () => {
    const models = await catalog(viewer);
    const builtin = Object.entries(builtinModels()).flatMap(([provider, table]) => Object.keys(table).map((prefix) => `${provider}/${prefix}`));
    expect(models.map((m) => `${m.provider}/${m.modelPrefix}`)).toEqual(builtin);
    expect(models.every((m) => !m.fromOperatorFile)).toBe(true);
    // one entry in full, from models.json (a capability it does not state is unknown: null)
    expect(entry(models, "openai", "gpt-4o")).toEqual({
      provider: "openai",
      modelPrefix: "gpt-4o",
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      inputPerMillion: 2.5,
      outputPerMillion: 10,
      cacheReadPerMillion: 1.25,
      cacheWritePerMillion: null,
      thinking: null,
      reasoning: false,
      caching: true,
      structuredOutput: true,
      adaptiveThinking: null,
      thinkingOff: null,
      forcedToolChoice: null,
      outputFormat: null,
      temperature: null,
      effortLevels: null,
      fromOperatorFile: false,
    });
    // a current Anthropic model states the rules its API enforces: adaptive thinking only (no
    // budget, never off), no forced tool use (JSON outputs instead), no temperature, every effort level
    expect(entry(models, "anthropic", "claude-opus-5-5")).toMatchObject({
      thinking: false,
      adaptiveThinking: true,
      thinkingOff: false,
      forcedToolChoice: false,
      outputFormat: true,
      temperature: false,
      effortLevels: ["low", "medium", "high", "xhigh", "max"],
    });
    // the levels as the table lists them (Opus 4.6 takes no xhigh); [] (effort refused) is not null (unknown)
    expect(entry(models, "anthropic", "claude-opus-4-6")?.effortLevels).toEqual(["low", "medium", "high", "max"]);
    expect(entry(models, "anthropic", "claude-opus-4-1")).toMatchObject({ effortLevels: [], adaptiveThinking: false, outputFormat: null, temperature: null });
    // every field of every entry is the table's
    for (const m of models) {
      const known = builtinModels()[m.provider]![m.modelPrefix]!;
      expect(
        {
          ctx: m.contextWindow,
          out: m.maxOutputTokens,
          input: m.inputPerMillion,
          thinking: m.thinking,
          adaptive: m.adaptiveThinking,
          off: m.thinkingOff,
          forced: m.forcedToolChoice,
          format: m.outputFormat,
          temperature: m.temperature,
          effort: m.effortLevels,
        },
        `${m.provider}/${m.modelPrefix}`,
      ).toEqual({
        ctx: known.context_window ?? null,
        out: known.max_output_tokens ?? null,
        input: known.prices?.input ?? null,
        thinking: known.thinking ?? null,
        adaptive: known.adaptive_thinking ?? null,
        off: known.thinking_off ?? null,
        forced: known.forced_tool_choice ?? null,
        format: known.output_format ?? null,
        temperature: known.temperature ?? null,
        effort: known.effort_levels ?? null,
      });
    }
    // an admin key reads the same: the catalog is no workspace's
    expect(await catalog(api.key)).toEqual(models);
  });

  it("shows an operator's models file loaded in this process at the next request, merged over the built-in table, and drops it when unloaded", async () => {
    const file = path.join(dir, "models.json");
    writeFileSync(
      file,
      JSON.stringify({
        // a new prefix: only the operator's fields
        openai: { "ft:gpt-4o-mini": { context_window: 64_000, prices: { input: 0.3, output: 1.2, cache_read: 0.15 }, structured_output: true } },
        // over a built-in entry: its price replaced, the rest of the built-in entry kept
        // (and its effort levels: the operator's list replaces the built-in [])
        anthropic: { "claude-sonnet-4-5": { prices: { input: 2, output: 12 }, effort_levels: ["low", "high"] } },
      }),
    );
    expect(loadOperatorModels({ EVERRUNS_MODELS_FILE: file })).toBe(file);
    const models = await catalog(viewer);
    expect(entry(models, "openai", "ft:gpt-4o-mini")).toEqual({
      provider: "openai",
      modelPrefix: "ft:gpt-4o-mini",
      contextWindow: 64_000,
      maxOutputTokens: null,
      inputPerMillion: 0.3,
      outputPerMillion: 1.2,
      cacheReadPerMillion: 0.15,
      cacheWritePerMillion: null,
      thinking: null,
      reasoning: null,
      caching: null,
      structuredOutput: true,
      adaptiveThinking: null,
      thinkingOff: null,
      forcedToolChoice: null,
      outputFormat: null,
      temperature: null,
      effortLevels: null,
      fromOperatorFile: true,
    });
    const sonnet = builtinModels().anthropic!["claude-sonnet-4-5"]!;
    expect(entry(models, "anthropic", "claude-sonnet-4-5")).toMatchObject({
      inputPerMillion: 2,
      outputPerMillion: 12,
      // the operator's prices have no cache rates: the built-in ratios (0.1 and 1.25) of its input rate
      cacheReadPerMillion: 0.2,
      cacheWritePerMillion: 2.5,
      contextWindow: sonnet.context_window,
      thinking: sonnet.thinking,
      adaptiveThinking: sonnet.adaptive_thinking,
      outputFormat: sonnet.output_format,
      effortLevels: ["low", "high"],
      fromOperatorFile: true,
    });
    expect(models.filter((m) => m.fromOperatorFile).map((m) => `${m.provider}/${m.modelPrefix}`)).toEqual([
      "openai/ft:gpt-4o-mini",
      "anthropic/claude-sonnet-4-5",
    ]);
    expect(models).toHaveLength(Object.values(builtinModels()).reduce((n, t) => n + Object.keys(t).length, 0) + 1);

    // EVERRUNS_MODELS_FILE unset: the built-in table again
    expect(loadOperatorModels({})).toBeUndefined();
    const after = await catalog(viewer);
    expect(entry(after, "openai", "ft:gpt-4o-mini")).toBeUndefined();
    expect(entry(after, "anthropic", "claude-sonnet-4-5")).toMatchObject({
      inputPerMillion: sonnet.prices!.input,
      effortLevels: sonnet.effort_levels,
      fromOperatorFile: false,
    });
  });
});
