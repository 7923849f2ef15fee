// Built-in `echo`: returns its arguments unchanged.
import type { Tool } from "./types.ts";

export const echoTool: Tool = {
  definition: {
    name: "echo",
    description: "Returns its arguments unchanged.",
    parameters: { type: "object", additionalProperties: true },
  },
  execute(args) {
    return Promise.resolve(args);
  },
};
