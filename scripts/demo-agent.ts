import type { Queryable } from "../db/pool.ts";
import { ensureAgent } from "../db/sql/ensureAgent.ts";

/** A scripted agent that works offline: it streams, calls tools, and does slow work you can kill. */
export const DEMO_AGENT_CONFIG = {
  provider: "scripted",
  model: "scripted-demo",
  system_prompt: "You are the Everruns demo agent.",
  tools: ["echo", "simulate_work"],
  max_steps: 20,
  script: [
    { text: "Let me look into that. First I'll echo your request back.", delay_ms: 800, tool_calls: [{ name: "echo", arguments: { note: "demo" } }] },
    {
      text: "Now some slow work: kill the worker while it runs and watch another one resume it.",
      delay_ms: 800,
      tool_calls: [{ name: "simulate_work", arguments: { ms: 8000 } }],
    },
    { text: "All done. Every step above was checkpointed in Postgres, exactly once.", delay_ms: 1200 },
  ],
};

/** Creates the `demo` agent unless one exists (an edited demo agent is left as it is). */
export async function seedDemoAgent(db: Queryable): Promise<string> {
  return ensureAgent(db, "demo", DEMO_AGENT_CONFIG);
}
