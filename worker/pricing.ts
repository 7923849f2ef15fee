// USD per million tokens. The scripted provider has a nominal price so cost tracking is
// exercised offline.
const PRICES: Record<string, { input: number; output: number }> = {
  scripted: { input: 0.5, output: 1.5 },
};

export function costUsd(provider: string, model: string | undefined, usage: { input_tokens: number; output_tokens: number }): number {
  const price = (model ? PRICES[`${provider}:${model}`] : undefined) ?? PRICES[provider];
  if (!price) return 0;
  return Number(((usage.input_tokens * price.input + usage.output_tokens * price.output) / 1_000_000).toFixed(8));
}
