// The `scripted` provider's declaration (the deterministic offline model): its config fields
// (`script`), nominal prices and loader (the implementation is worker/providers/scripted.ts).
import { z } from "zod";
import { defineProvider } from "./spec.ts";
import type { Provider } from "./types.ts";

export const ScriptToolCallSchema = z.strictObject({
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export const ScriptTurnSchema = z.strictObject({
  text: z.string().optional(),
  reasoning: z.string().optional(),
  tool_calls: z.array(ScriptToolCallSchema).optional(),
  delay_ms: z.number().min(0).optional(),
  error: z.enum(["rate_limit", "server_error", "timeout", "bad_request"]).optional(),
  times: z.number().int().min(1).max(1000).optional(),
});
export type ScriptTurn = z.infer<typeof ScriptTurnSchema>;

export const scriptedSpec = defineProvider({
  name: "scripted",
  fields: {
    model: z.string().optional(),
    /** script[k] is the reply to the k-th LLM call of a run */
    script: z.array(ScriptTurnSchema).default([]),
  },
  // nominal, so cost tracking is exercised offline
  prices: { "": { input: 0.5, output: 1.5 } },
  env: {},
  load: async (): Promise<Provider> => new (await import("./scripted.ts")).ScriptedProvider(),
});
