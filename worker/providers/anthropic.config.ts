// The `anthropic` provider's declaration: its config fields, environment and loader (the
// implementation, with the Anthropic SDK, is worker/providers/anthropic.ts, loaded on first use). Its
// models' prices, windows and capabilities: lib/models/models.json.
import { z } from "zod";
import { EFFORT_LEVELS } from "../../lib/models/catalog.ts";
import { defineProvider } from "./spec.ts";
import type { Provider } from "./types.ts";

export const ANTHROPIC_ENV = { apiKey: "ANTHROPIC_API_KEY", baseUrl: "ANTHROPIC_BASE_URL" } as const;

export const anthropicSpec = defineProvider({
  name: "anthropic",
  fields: {
    model: z.string({ error: "is required for provider anthropic" }).min(1, "is required for provider anthropic"),
    /** overrides ANTHROPIC_BASE_URL for this agent */
    base_url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
    /** the environment variable holding this agent's key (default ANTHROPIC_API_KEY) */
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name")
      .optional(),
    /**
     * the workspace secret holding this agent's key (everruns secrets set <name>); resolved by the
     * worker at step time, and takes precedence over api_key_env and ANTHROPIC_API_KEY
     */
    api_key_secret: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, "must be a secret's name: 1-100 letters, digits, _, . or -")
      .optional(),
    /** extended thinking: token budget (models before Claude 4.7; later ones refuse it: use `thinking: "adaptive"`) */
    thinking_budget_tokens: z.number().int().min(1024).max(1_000_000).optional(),
    /**
     * adaptive thinking (Claude 4.6 and later): `adaptive` sends `thinking: {type: "adaptive"}`, the
     * model decides when and how much to think; `off` sends `{type: "disabled"}` (refused by models
     * that always think); absent: the model's default (several current models think by default)
     */
    thinking: z.enum(["adaptive", "off"], { error: 'must be "adaptive" or "off"' }).optional(),
    /** `output_config.effort`: how many tokens the model spends, thinking included (absent: the model's default) */
    effort: z.enum(EFFORT_LEVELS, { error: `must be one of ${EFFORT_LEVELS.join(", ")}` }).optional(),
  },
  env: {
    [ANTHROPIC_ENV.apiKey]: z.string().optional(),
    [ANTHROPIC_ENV.baseUrl]: z.url(`${ANTHROPIC_ENV.baseUrl} must be a URL`).optional(),
  },
  load: async (): Promise<Provider> => new (await import("./anthropic.ts")).AnthropicProvider(),
});
