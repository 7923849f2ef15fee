// Built-in `read_result`: reads a stored tool result in slices. When the agent's context is
// managed (docs/context.md), a tool result longer than context.tool_result_max_chars is sent to the
// model as a stub naming its tool call id and size (worker/context/compaction.ts); the model reads
// what it needs of it with this tool. Only results of the run's own thread are found (the step
// gives the tool a reader scoped to it: db/sql/threadToolResult.ts).
import { ToolError, type Tool } from "./types.ts";

export const READ_RESULT = "read_result";
/** The most characters one read_result call returns (the step also bounds it by the agent's tool_result_max_chars). */
export const READ_RESULT_MAX_LIMIT = 50_000;

/** The slice read when the model gives no `limit`. */
export const READ_RESULT_DEFAULT_LIMIT = 10_000;
/** The longest stored result there is (an offset past it is surely wrong). */
const MAX_OFFSET = 1_000_000_000;

export const readResultTool: Tool = {
  definition: {
    name: READ_RESULT,
    description:
      "Reads part of an earlier tool result that was too long to be shown whole (its stub names the tool_call_id and its size). " +
      `Returns the characters from offset (default 0), at most limit (default ${READ_RESULT_DEFAULT_LIMIT}), and where the next slice starts.`,
    parameters: {
      type: "object",
      properties: {
        tool_call_id: { type: "string", minLength: 1, maxLength: 200, description: "the id the stub names" },
        offset: { type: "integer", minimum: 0, description: "the first character to read (0: the start)" },
        limit: { type: "integer", minimum: 1, maximum: READ_RESULT_MAX_LIMIT, description: "how many characters to read" },
      },
      required: ["tool_call_id"],
      additionalProperties: false,
    },
  },
  async execute(args, ctx) {
    const { tool_call_id: id, offset = 0, limit = READ_RESULT_DEFAULT_LIMIT } = args;
    if (typeof id !== "string" || id.length < 1 || id.length > 200) {
      throw new ToolError('read_result needs "tool_call_id": the id a stub names (a string of 1 to 200 characters)');
    }
    if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
      throw new ToolError(`read_result's "offset" must be a whole number from 0; got ${JSON.stringify(offset)}`);
    }
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > READ_RESULT_MAX_LIMIT) {
      throw new ToolError(`read_result's "limit" must be a whole number from 1 to ${READ_RESULT_MAX_LIMIT}; got ${JSON.stringify(limit)}`);
    }
    if (!ctx.readToolResult) throw new ToolError("read_result cannot read stored results on this worker");
    const found = await ctx.readToolResult(id, offset, limit);
    if (!found) {
      throw new ToolError(`this thread has no tool result with tool_call_id ${JSON.stringify(id)}: give the id exactly as a stub names it`);
    }
    const end = offset + found.slice.length;
    if (offset >= found.total && found.total > 0) {
      throw new ToolError(`the result of call ${id} has ${found.total} characters: give an offset below that`);
    }
    const next = end < found.total ? `; the next slice starts at offset ${end}` : "; that is the end";
    return `[characters ${offset} to ${end} of ${found.total} of the result of call ${id}${next}]\n${found.slice}`;
  },
};
