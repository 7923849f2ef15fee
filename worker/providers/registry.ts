// The providers, registered here and nowhere else. Each has a light spec (<name>.config.ts: its
// agent-config fields, environment, loader) and an implementation (<name>.ts) that is imported the
// first time an agent uses it, so no SDK is loaded at start. Their models (prices, windows,
// capabilities) are data: lib/models/models.json.
import { anthropicSpec } from "./anthropic.config.ts";
import { openaiSpec } from "./openai.config.ts";
import { scriptedSpec } from "./scripted.config.ts";
import type { ProviderSpec } from "./spec.ts";
import type { LlmRequest, LlmResult, LlmStreamHandlers, Provider } from "./types.ts";

/** Every provider; the agent config's `provider` is one of their names. */
export const PROVIDER_SPECS = [openaiSpec, anthropicSpec, scriptedSpec] as const;

export type ProviderName = (typeof PROVIDER_SPECS)[number]["name"];

export function providerSpec(name: string): ProviderSpec | undefined {
  return PROVIDER_SPECS.find((spec) => spec.name === name);
}

/** A provider that imports its implementation on its first call (and retries the import after a failure). */
export function lazyProvider(spec: Pick<ProviderSpec, "load">): Provider {
  let loading: Promise<Provider> | undefined;
  return {
    async complete(request: LlmRequest, handlers: LlmStreamHandlers): Promise<LlmResult> {
      loading ??= spec.load().catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
      return (await loading).complete(request, handlers);
    },
  };
}

/** Every provider by name, each loaded on first use (worker/main.ts: EngineContext.providers). */
export function lazyProviders(): Record<string, Provider> {
  return Object.fromEntries(PROVIDER_SPECS.map((spec) => [spec.name, lazyProvider(spec)]));
}

/** The environment variables of every provider, for db/env.ts. */
export function providerEnvShape(): Record<string, import("zod").ZodType> {
  return Object.assign({}, ...PROVIDER_SPECS.map((spec) => spec.env)) as Record<string, import("zod").ZodType>;
}
