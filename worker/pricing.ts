// The USD cost of an LLM call: each token category at its own rate (USD per million tokens).
// Where a price comes from, first found wins:
//   1. the agent's config `prices`;
//   2. the workspace's own prices (everruns.model_prices: the longest model prefix of the run's provider);
//   3. the model catalog: the operator's EVERRUNS_MODELS_FILE over lib/models/models.json
//      (longest model prefix, so dated snapshots such as gpt-4o-mini-2024-07-18 are priced like their family).
// An unknown model costs 0 rather than a guess.
import type { AgentConfig } from "../db/schemas.ts";
import { catalogPrice, longestPrefix, withCacheRatios, type Price } from "../lib/models/catalog.ts";
import type { TokenUsage } from "./providers/types.ts";

export type { Price } from "../lib/models/catalog.ts";

/** A workspace's own prices (everruns.model_prices): by provider, then by model prefix. */
export type PriceOverrides = ReadonlyArray<{ provider: string; model: string; price: Price }>;

/** The price of this agent's calls to `model`, by the precedence above; undefined when nothing prices it. */
export function effectivePrice(config: Pick<AgentConfig, "provider" | "prices">, model: string | undefined, overrides?: PriceOverrides): Price | undefined {
  if (config.prices) {
    const { input_per_million, output_per_million, cache_read_per_million, cache_write_per_million } = config.prices;
    const given = { input: input_per_million, output: output_per_million, cache_read: cache_read_per_million, cache_write: cache_write_per_million };
    return withCacheRatios(given, catalogPrice(config.provider, model));
  }
  const own = (overrides ?? []).filter((row) => row.provider === config.provider);
  const prefixes = own.map((row) => row.model);
  const prefix = longestPrefix(prefixes, model);
  if (prefix !== undefined) return withCacheRatios(own.find((row) => row.model === prefix)!.price, catalogPrice(config.provider, model));
  return catalogPrice(config.provider, model);
}

/**
 * USD of one call: input tokens neither read from nor written to the cache at the input rate,
 * cache reads and cache writes at theirs (withCacheRates; else the input rate), output tokens
 * (reasoning included) at the output rate. Rounded to 8 decimals (numeric in usage_daily).
 */
export function costUsd(config: Pick<AgentConfig, "provider" | "prices">, model: string | undefined, usage: TokenUsage, overrides?: PriceOverrides): number {
  const price = effectivePrice(config, model, overrides);
  if (!price) return 0;
  const cacheRead = usage.cache_read_tokens ?? 0;
  const cacheWrite = usage.cache_write_tokens ?? 0;
  // input_tokens counts the cached parts too (TokenUsage); a provider that reported less is not billed negative
  const uncached = Math.max(0, usage.input_tokens - cacheRead - cacheWrite);
  const micro =
    uncached * price.input +
    cacheRead * (price.cache_read ?? price.input) +
    cacheWrite * (price.cache_write ?? price.input) +
    usage.output_tokens * price.output;
  return Number((micro / 1_000_000).toFixed(8));
}
