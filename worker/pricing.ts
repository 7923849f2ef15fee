// USD per million tokens, for the common models; an agent's config `prices` overrides them.
// Model names match by longest prefix, so dated snapshots (gpt-4o-mini-2024-07-18) are priced
// like their family. An unknown model costs 0 rather than a guess.
import type { AgentConfig } from "../db/schemas.ts";

type Price = { input: number; output: number };

const PRICES: Record<string, Record<string, Price>> = {
  openai: {
    "gpt-5": { input: 1.25, output: 10 },
    "gpt-5-mini": { input: 0.25, output: 2 },
    "gpt-5-nano": { input: 0.05, output: 0.4 },
    "gpt-4.1": { input: 2, output: 8 },
    "gpt-4.1-mini": { input: 0.4, output: 1.6 },
    "gpt-4.1-nano": { input: 0.1, output: 0.4 },
    "gpt-4o": { input: 2.5, output: 10 },
    "gpt-4o-mini": { input: 0.15, output: 0.6 },
    o3: { input: 2, output: 8 },
    "o3-mini": { input: 1.1, output: 4.4 },
    "o4-mini": { input: 1.1, output: 4.4 },
  },
  anthropic: {
    "claude-opus-4": { input: 15, output: 75 },
    "claude-opus-4-5": { input: 5, output: 25 },
    "claude-sonnet-4": { input: 3, output: 15 },
    "claude-3-7-sonnet": { input: 3, output: 15 },
    "claude-3-5-sonnet": { input: 3, output: 15 },
    "claude-haiku-4-5": { input: 1, output: 5 },
    "claude-3-5-haiku": { input: 0.8, output: 4 },
  },
  // nominal, so cost tracking is exercised offline
  scripted: { "": { input: 0.5, output: 1.5 } },
};

export function priceOf(provider: string, model: string | undefined): Price | undefined {
  const table = PRICES[provider];
  if (!table) return undefined;
  let best: string | undefined;
  for (const prefix of Object.keys(table)) {
    if ((model ?? "").startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix;
  }
  return best === undefined ? undefined : table[best];
}

export function costUsd(config: Pick<AgentConfig, "provider" | "prices">, model: string | undefined, usage: { input_tokens: number; output_tokens: number }): number {
  const price = config.prices ? { input: config.prices.input_per_million, output: config.prices.output_per_million } : priceOf(config.provider, model);
  if (!price) return 0;
  return Number(((usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000).toFixed(8));
}
