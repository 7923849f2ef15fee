// The `openai` provider's declaration: its config fields, environment and loader (the
// implementation, with the OpenAI SDK, is worker/providers/openai.ts, loaded on first use). Its
// models' prices, windows and capabilities: lib/models/models.json.
import { z } from "zod";
import { defineProvider } from "./spec.ts";
import type { Provider } from "./types.ts";

export const OPENAI_ENV = { apiKey: "OPENAI_API_KEY", baseUrl: "OPENAI_BASE_URL" } as const;

export const openaiSpec = defineProvider({
  name: "openai",
  fields: {
    model: z.string({ error: "is required for provider openai" }).min(1, "is required for provider openai"),
    /** the Responses API (default) or Chat Completions (OpenAI-compatible servers) */
    api: z.enum(["responses", "chat_completions"]).optional(),
    /** overrides OPENAI_BASE_URL for this agent */
    base_url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
    /** the environment variable holding this agent's key (default OPENAI_API_KEY) */
    api_key_env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name")
      .optional(),
    /**
     * the workspace secret holding this agent's key (everruns secrets set <name>); resolved by the
     * worker at step time, and takes precedence over api_key_env and OPENAI_API_KEY
     */
    api_key_secret: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, "must be a secret's name: 1-100 letters, digits, _, . or -")
      .optional(),
    /**
     * Responses API: let OpenAI store responses and continue a run from the previous one
     * (previous_response_id). Absent or false: nothing is stored at OpenAI (store: false) and
     * reasoning items travel back as encrypted content.
     */
    store: z.boolean().optional(),
    /** reasoning models */
    reasoning_effort: z.enum(["minimal", "low", "medium", "high"]).optional(),
  },
  env: {
    [OPENAI_ENV.apiKey]: z.string().optional(),
    [OPENAI_ENV.baseUrl]: z.url(`${OPENAI_ENV.baseUrl} must be a URL`).optional(),
  },
  load: async (): Promise<Provider> => new (await import("./openai.ts")).OpenAIProvider(),
});
