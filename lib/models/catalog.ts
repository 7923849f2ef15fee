// The model catalog: what Everruns knows of each provider's models (context window, longest
// output, USD prices per token category, capabilities), as data: lib/models/models.json, plus an
// operator's own file (EVERRUNS_MODELS_FILE, read by lib/models/operator-file.ts at start and
// registered here). Browser-safe (no fs): db/schemas.ts validates agent configs with it.
//
// Models are keyed by name prefix within their provider; the longest prefix matching a model wins,
// so dated snapshots (gpt-4o-mini-2024-07-18) are described like their family. A capability that
// is absent is unknown, and unknown is allowed: only a known `false` refuses a config.
import { z } from "zod";
import builtinModelsJson from "./models.json" with { type: "json" };

const rate = z.number({ error: "must be a number of USD per million tokens" }).min(0, "must be 0 or more (USD per million tokens)");

/** USD per million tokens of each category (worker/pricing.ts). A missing cache rate is the input rate. */
export const PriceSchema = z.strictObject({
  /** input tokens read neither from nor into the prompt cache */
  input: rate,
  /** output tokens, reasoning included */
  output: rate,
  /** input tokens read from the prompt cache (OpenAI "cached input", Anthropic cache hits) */
  cache_read: rate.optional(),
  /** input tokens written to the prompt cache (Anthropic 5-minute cache writes; OpenAI charges none) */
  cache_write: rate.optional(),
});
export type Price = z.infer<typeof PriceSchema>;

const tokens = (what: string) =>
  z
    .number({ error: `must be a whole number of ${what}` })
    .int(`must be a whole number of ${what}`)
    .positive(`must be more than 0 ${what}`)
    // GraphQL's Int (modelCatalog) holds it; no model comes near
    .max(100_000_000, `must be at most 100,000,000 ${what}`);

/** The capabilities an agent config may depend on; absent = unknown = allowed. */
export const CAPABILITIES = {
  /** Anthropic extended thinking (thinking_budget_tokens) */
  thinking: "extended thinking",
  /** OpenAI reasoning models (reasoning_effort, reasoning items) */
  reasoning: "reasoning (reasoning_effort)",
  /** prompt caching */
  caching: "prompt caching",
  /** JSON answers of a given schema (output_schema) */
  structured_output: "structured output",
  /** Anthropic adaptive thinking (thinking: "adaptive", `thinking: {type: "adaptive"}`) */
  adaptive_thinking: "adaptive thinking",
  /**
   * Anthropic: thinking can be turned off (thinking: "off", `thinking: {type: "disabled"}`);
   * false: the model always thinks (Fable, Mythos, Opus 5.5), and refuses a request that turns it off
   */
  thinking_off: "turning thinking off",
  /**
   * Anthropic forced tool use (`tool_choice` `any` or `tool`); false: the API refuses it for the
   * model, and output_schema is sent as `output_config.format` instead of as an output tool
   */
  forced_tool_choice: "forced tool use",
  /** Anthropic JSON outputs (`output_config.format` with a JSON schema) */
  output_format: "JSON outputs (output_config.format)",
  /** a sampling temperature other than the default; false: the API refuses `temperature` for the model */
  temperature: "a sampling temperature",
  /**
   * Anthropic preserved thinking: a thinking block sent back is checked against everything before
   * it (system, tools, earlier messages) and refused when that changed; the provider then sends
   * earlier turns produced under another prefix without their thinking
   */
  preserved_thinking: "preserved thinking (thinking bound to its prefix)",
  /**
   * Anthropic: the model thinks (adaptively) when the request has no `thinking`; the provider then
   * sends `{type: "adaptive", display: "summarized"}` so the thinking's text is streamed
   */
  thinks_by_default: "thinking by default",
  /**
   * Anthropic budget thinking thinks between tool calls (interleaved thinking) only with the
   * `interleaved-thinking-2025-05-14` beta header (Claude 4 models before 4.6; adaptive thinking
   * interleaves without it)
   */
  interleaved_thinking_beta: "interleaved thinking (beta header)",
  /** Anthropic: the effort levels at which thinking can be turned off (thinking: "off"); absent: any (Opus 5: up to high) */
  thinking_off_efforts: "turning thinking off at a given effort",
  /** Anthropic `output_config.effort` (effort): the levels the model takes, [] none (a list, not a boolean) */
  effort_levels: "effort levels (output_config.effort)",
} as const;
export type Capability = keyof typeof CAPABILITIES;

/** The effort levels of Anthropic's `output_config.effort`, lowest first (the SDK's OutputConfig). */
export const EFFORT_LEVELS = ["low", "medium", "high", "xhigh", "max"] as const;
export type EffortLevel = (typeof EFFORT_LEVELS)[number];

const capabilityFields = {
  thinking: z.boolean().optional(),
  reasoning: z.boolean().optional(),
  caching: z.boolean().optional(),
  structured_output: z.boolean().optional(),
  adaptive_thinking: z.boolean().optional(),
  thinking_off: z.boolean().optional(),
  forced_tool_choice: z.boolean().optional(),
  output_format: z.boolean().optional(),
  temperature: z.boolean().optional(),
  preserved_thinking: z.boolean().optional(),
  thinks_by_default: z.boolean().optional(),
  interleaved_thinking_beta: z.boolean().optional(),
  /** the effort levels at which `thinking: "off"` is taken; absent: any */
  thinking_off_efforts: z.array(z.enum(EFFORT_LEVELS)).optional(),
  /**
   * The effort levels (Anthropic `output_config.effort`) the model takes; [] none (the API refuses
   * `effort`); absent: unknown, any level allowed
   */
  effort_levels: z.array(z.enum(EFFORT_LEVELS)).optional(),
};

/** One model (family) of the table: every field optional (an operator may give only prices). */
export const ModelEntrySchema = z.strictObject({
  context_window: tokens("tokens").optional(),
  max_output_tokens: tokens("tokens").optional(),
  prices: PriceSchema.optional(),
  ...capabilityFields,
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

/** A models table: provider → model name prefix ("" matches every model) → entry. */
export const ModelsTableSchema = z.record(z.string().min(1, "a provider's name must not be empty"), z.record(z.string(), ModelEntrySchema));
export type ModelsTable = z.infer<typeof ModelsTableSchema>;

/** An agent's own `model_info` (db/schemas.ts): overrides the catalog for that agent. */
export const ModelInfoOverrideSchema = z.strictObject({
  context_window: tokens("tokens").optional(),
  max_output_tokens: tokens("tokens").optional(),
  ...capabilityFields,
});
export type ModelInfoOverride = z.infer<typeof ModelInfoOverrideSchema>;

/** What is known of one model: its entry (operator's fields over the built-in's) and the prefix it was found under. */
export type ModelInfo = ModelEntry & { prefix?: string };

let checkedBuiltinModels: ModelsTable | undefined;

/**
 * The table in the repository, checked on first use (checking it costs a process ~13 ms, kept out
 * of the worker's start): a bad edit fails the first lookup, and pricing.test.ts in CI.
 */
export function builtinModels(): ModelsTable {
  checkedBuiltinModels ??= parseModelsTable(builtinModelsJson, "lib/models/models.json");
  return checkedBuiltinModels;
}

let operatorModels: ModelsTable = {};

/**
 * Checks a models table (the built-in or an operator's) and returns it; a bad one throws an Error
 * naming `source` and each bad field, e.g. `openai."gpt-5".prices.input: must be 0 or more`.
 */
export function parseModelsTable(value: unknown, source: string): ModelsTable {
  const result = ModelsTableSchema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  ${issue.path.map((p) => JSON.stringify(String(p))).join(".") || "(the file)"}: ${issue.message}`);
  throw new Error(
    `${source} is not a valid models table ({"<provider>": {"<model prefix>": {context_window, max_output_tokens, prices: {input, output, cache_read, cache_write}, thinking, reasoning, caching, structured_output, adaptive_thinking, thinking_off, forced_tool_choice, output_format, temperature, preserved_thinking, thinks_by_default, interleaved_thinking_beta, thinking_off_efforts, effort_levels}}}):\n${problems.join("\n")}`,
  );
}

/**
 * Registers an operator's table (EVERRUNS_MODELS_FILE), merged over the built-in one per
 * provider and prefix: an operator entry's fields replace the built-in entry's (cache rates it
 * leaves out follow the built-in ratios: withCacheRatios), its other fields stay, and a new
 * prefix is added. `undefined` removes a registered table.
 */
export function registerOperatorModels(table: ModelsTable | undefined): void {
  operatorModels = table ?? {};
}

/**
 * `price` with the cache rates it leaves out taken from `reference`'s ratios of them to its input
 * rate, applied to `price`'s own input rate (a rate neither gives stays out: the input rate).
 */
export function withCacheRatios(price: Price, reference: Price | undefined): Price {
  // to 12 significant digits: 2 × 0.3 / 3 is 0.2, not 0.19999999999999998
  const scaled = (rate: number | undefined) =>
    rate !== undefined && reference && reference.input > 0 ? Number(((price.input * rate) / reference.input).toPrecision(12)) : undefined;
  const cache_read = price.cache_read ?? scaled(reference?.cache_read);
  const cache_write = price.cache_write ?? scaled(reference?.cache_write);
  return { input: price.input, output: price.output, ...(cache_read !== undefined && { cache_read }), ...(cache_write !== undefined && { cache_write }) };
}

/** The merged table of one provider (built-in, then the operator's over it). */
export function providerModels(provider: string): Record<string, ModelEntry> {
  const merged: Record<string, ModelEntry> = { ...builtinModels()[provider] };
  for (const [prefix, entry] of Object.entries(operatorModels[provider] ?? {})) {
    const base = merged[prefix];
    // prices the operator gives without cache rates keep the built-in entry's ratios of them to
    // the input rate (Anthropic's cache reads at 0.1 × input): cached tokens are not billed in full
    const prices = entry.prices && base?.prices ? withCacheRatios(entry.prices, base.prices) : (entry.prices ?? base?.prices);
    merged[prefix] = { ...base, ...entry, ...(prices && { prices }) };
  }
  return merged;
}

/**
 * The longest prefix of `model` among `prefixes` ("" matches every model), or undefined. With
 * `wholeParts`, a prefix matches only up to a separator (- . : @ / _) or the name's end.
 */
export function longestPrefix(prefixes: Iterable<string>, model: string | undefined, options: { wholeParts?: boolean } = {}): string | undefined {
  const name = model ?? "";
  let best: string | undefined;
  for (const prefix of prefixes) {
    if (!name.startsWith(prefix) || (best !== undefined && prefix.length <= best.length)) continue;
    // wholeParts (the models table): the prefix ends where a part of the name does, so a dated
    // claude-fable-5-20260609 is a claude-fable-5, not a claude-fable-5-2
    if (options.wholeParts && prefix !== "" && name.length > prefix.length && !/[-.:@/_]/.test(name[prefix.length]!) && !/[-.:@/_]$/.test(prefix)) continue;
    best = prefix;
  }
  return best;
}

/**
 * What is known of `model` of `provider`: the entry of its longest prefix (operator's file over the
 * built-in table), with the agent's `model_info` over it. Unknown model: only the override's fields.
 */
export function modelInfo(provider: string, model: string | undefined, configOverride?: ModelInfoOverride): ModelInfo {
  const table = providerModels(provider);
  const prefix = longestPrefix(Object.keys(table), model, { wholeParts: true });
  const known = prefix === undefined ? {} : { ...table[prefix], prefix };
  return { ...known, ...configOverride };
}

/** The catalog's price of a model (operator's file over the built-in table); undefined when unknown. */
export function catalogPrice(provider: string, model: string | undefined): Price | undefined {
  return modelInfo(provider, model).prices;
}

/** The operator's registered table (EVERRUNS_MODELS_FILE) as it is, {} when none: read-only, for listing the catalog (api/graphql/model-prices.ts). */
export function operatorModelsTable(): Readonly<ModelsTable> {
  return operatorModels;
}
