// Built-in `sleep`: a durable timer. The run is parked (no worker held) and resumes on time
// even if every worker restarted meanwhile.
import { park, type Tool } from "./types.ts";

export const sleepTool: Tool = {
  definition: {
    name: "sleep",
    description: "Waits durably for `seconds` (the run holds no worker meanwhile), then continues.",
    parameters: {
      type: "object",
      properties: { seconds: { type: "number", minimum: 0, maximum: 31_536_000 } },
      required: ["seconds"],
    },
  },
  execute(args, ctx) {
    const seconds = Number(args.seconds);
    if (ctx.resumed) return Promise.resolve({ slept_seconds: seconds });
    return Promise.resolve(park({ delayMs: seconds * 1000, waiting: { type: "timer" }, output: { seconds } }));
  },
};
