// Built-in `sleep`: a durable timer. The run is parked (no worker held) and resumes on time
// even if every worker restarted meanwhile. Bounded: 0 < seconds <= MAX_SLEEP_SECONDS.
import { MAX_PARK_SECONDS, park, ToolError, type Tool } from "./types.ts";

/** The longest `sleep` (seconds): 30 days. */
export const MAX_SLEEP_SECONDS = MAX_PARK_SECONDS;

export const sleepTool: Tool = {
  definition: {
    name: "sleep",
    description: `Waits durably for \`seconds\` (more than 0, at most ${MAX_SLEEP_SECONDS}, i.e. 30 days; the run holds no worker meanwhile), then continues.`,
    parameters: {
      type: "object",
      properties: { seconds: { type: "number", exclusiveMinimum: 0, maximum: MAX_SLEEP_SECONDS } },
      required: ["seconds"],
    },
  },
  execute(args, ctx) {
    const seconds = args.seconds;
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SLEEP_SECONDS) {
      throw new ToolError(
        `sleep needs "seconds", a number more than 0 and at most ${MAX_SLEEP_SECONDS} (30 days); got ${JSON.stringify(seconds) ?? "nothing"}`,
      );
    }
    if (ctx.resumed) return Promise.resolve({ slept_seconds: seconds });
    return Promise.resolve(park({ delayMs: Math.round(seconds * 1000), waiting: { type: "timer" }, output: { seconds } }));
  },
};
