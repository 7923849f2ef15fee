// USD per million tokens: each provider's price table (worker/providers/<name>.config.ts), which
// an agent's config `prices` overrides. Model names match by longest prefix, so dated snapshots
// (gpt-4o-mini-2024-07-18) are priced like their family. An unknown model costs 0 rather than a guess.
import type { AgentConfig } from "../db/schemas.ts";
import { providerPrice } from "./providers/registry.ts";
import type { Price } from "./providers/spec.ts";
import type { TokenUsage } from "./providers/types.ts";

/** A workspace's own prices (everruns.model_prices): by provider, then by model prefix. */
export type PriceOverrides = ReadonlyArray<{ provider: string; model: string; price: Price }>;

export function priceOf(provider: string, model: string | undefined): Price | undefined {
  return providerPrice(provider, model);
}

export function costUsd(config: Pick<AgentConfig, "provider" | "prices">, model: string | undefined, usage: TokenUsage, _overrides?: PriceOverrides): number {
  const price = config.prices ? { input: config.prices.input_per_million, output: config.prices.output_per_million } : priceOf(config.provider, model);
  if (!price) return 0;
  return Number(((usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000).toFixed(8));
}
