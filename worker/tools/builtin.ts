// Built-in tools (DESIGN.md). `sleep` and `wait_for_event` only have definitions here: they are
// durable waits handled by the engine (worker/tool-step.ts), so no worker is held meanwhile.
import { sleep } from "../../lib/sleep.ts";
import { ToolError, type Tool } from "./types.ts";

export const echoTool: Tool = {
  definition: {
    name: "echo",
    description: "Returns its arguments unchanged.",
    parameters: { type: "object", additionalProperties: true },
  },
  async execute(args) {
    return args;
  },
};

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

export const sleepDefinition = {
  name: "sleep",
  description: "Waits durably for `seconds` (the run holds no worker meanwhile), then continues.",
  parameters: {
    type: "object",
    properties: { seconds: { type: "number", minimum: 0, maximum: 31_536_000 } },
    required: ["seconds"],
  },
};

export const waitForEventDefinition = {
  name: "wait_for_event",
  description:
    "Waits durably until an event with this name is sent to the run (everruns.send_event), or until timeout_seconds pass. Returns the event's payload, or timed_out.",
  parameters: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 200 },
      timeout_seconds: { type: "number", minimum: 0, maximum: 31_536_000 },
    },
    required: ["name"],
  },
};
