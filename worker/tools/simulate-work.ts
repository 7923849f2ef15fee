// Built-in `simulate_work`: holds the worker busy (demos and chaos tests).
import { sleep } from "../../lib/sleep.ts";
import { ToolError, type Tool } from "./types.ts";

export const simulateWorkTool: Tool = {
  definition: {
    name: "simulate_work",
    description: "Holds the worker busy for `ms` milliseconds, then reports it (for demos and chaos tests).",
    parameters: {
      type: "object",
      properties: { ms: { type: "integer", minimum: 0, maximum: 3_600_000 } },
      required: ["ms"],
    },
  },
  async execute(args, ctx) {
    const ms = args.ms;
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0 || ms > 3_600_000) {
      throw new ToolError(`simulate_work needs "ms", a number of milliseconds from 0 to 3600000; got ${JSON.stringify(ms)}`);
    }
    await sleep(ms, ctx.signal);
    return { worked_ms: ms };
  },
};
