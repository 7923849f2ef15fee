// Built-in `report_progress`: the run's progress as its agent sees it, for watchers who do not read
// the transcript (the console's runs table and run page, GraphQL, SQL). Its step commits
// runs.progress {"message", "fraction", "at"} (`at`: the database clock at the commit) and a
// CUSTOM everruns.progress event with the same value (commit_step_locked fills in `at`).
import { result, ToolError, type Tool } from "./types.ts";

/** The longest progress message (characters). */
export const MAX_PROGRESS_MESSAGE_CHARS = 500;

export const reportProgressTool: Tool = {
  definition: {
    name: "report_progress",
    description:
      "Reports how far this run has got, for the people watching it: a short message (what is being done or was found) and, when you can tell, the fraction done from 0 to 1. " +
      "Call it at milestones, not every step.",
    parameters: {
      type: "object",
      properties: {
        message: { type: "string", minLength: 1, maxLength: MAX_PROGRESS_MESSAGE_CHARS },
        fraction: { type: "number", minimum: 0, maximum: 1 },
      },
      required: ["message"],
      additionalProperties: false,
    },
  },
  execute(args) {
    const { message, fraction } = args;
    if (typeof message !== "string" || message.length < 1 || message.length > MAX_PROGRESS_MESSAGE_CHARS) {
      throw new ToolError(`report_progress needs "message", a string of 1 to ${MAX_PROGRESS_MESSAGE_CHARS} characters`);
    }
    if (fraction !== undefined && (typeof fraction !== "number" || !Number.isFinite(fraction) || fraction < 0 || fraction > 1)) {
      throw new ToolError(`report_progress's "fraction" must be a number from 0 to 1; got ${JSON.stringify(fraction)}`);
    }
    const progress = { message, fraction: typeof fraction === "number" ? fraction : null };
    // `at` is added to both at the commit, from the database clock
    return Promise.resolve(result("progress reported", { update: { progress, events: [{ type: "CUSTOM", name: "everruns.progress", value: progress }] } }));
  },
};
