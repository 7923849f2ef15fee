// The `scripted` provider's declaration (the deterministic offline model): its config fields
// (`script`) and loader (the implementation is worker/providers/scripted.ts). Its nominal prices,
// so cost tracking is exercised offline, are in lib/models/models.json.
import { z } from "zod";
import { defineProvider } from "./spec.ts";
import type { Provider } from "./types.ts";

/** The longest `delay_ms` of a script turn (ms): 10 minutes. */
export const MAX_SCRIPT_DELAY_MS = 600_000;
const delayMessage = `must be a whole number of milliseconds from 0 to ${MAX_SCRIPT_DELAY_MS}`;

/** The most turns a script may have (a turn may repeat itself with `times`). */
export const MAX_SCRIPT_TURNS = 1000;

export const ScriptToolCallSchema = z.strictObject({
  name: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

export const ScriptTurnSchema = z.strictObject({
  text: z.string().optional(),
  /** a JSON answer (for agents with an output_schema): replied as its JSON text, instead of `text` */
  json: z.unknown().optional(),
  reasoning: z.string().optional(),
  tool_calls: z.array(ScriptToolCallSchema).optional(),
  delay_ms: z.number({ error: delayMessage }).int(delayMessage).min(0, delayMessage).max(MAX_SCRIPT_DELAY_MS, delayMessage).optional(),
  error: z.enum(["rate_limit", "server_error", "timeout", "bad_request"]).optional(),
  times: z.number().int().min(1).max(1000).optional(),
});
export type ScriptTurn = z.infer<typeof ScriptTurnSchema>;

export const scriptedSpec = defineProvider({
  name: "scripted",
  fields: {
    model: z.string().optional(),
    /** script[k] is the reply to the k-th LLM call of a run */
    script: z
      .array(ScriptTurnSchema)
      .max(MAX_SCRIPT_TURNS, {
        error: (issue) => `has ${(issue.input as unknown[]).length} turns; a script may have at most ${MAX_SCRIPT_TURNS} (MAX_SCRIPT_TURNS)`,
      })
      .default([]),
  },
  env: {},
  load: async (): Promise<Provider> => new (await import("./scripted.ts")).ScriptedProvider(),
});
