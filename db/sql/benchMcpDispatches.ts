// `everruns bench --only mcp` (scripts/bench/mcp.ts): the MCP tool calls these runs' LLM turns
// made, as everruns.tool_dispatches recorded them (000027), to check each was sent exactly once.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const DispatchSchema = z.object({
  /** the run whose LLM turn made the call */
  run_id: z.string(),
  tool_call_id: z.string(),
  tool_name: z.string(),
  /** how many times the call was sent */
  dispatches: z.number().int(),
  state: z.string(),
});
export type BenchDispatch = z.infer<typeof DispatchSchema>;

/** The dispatch records of the calls made by these runs' turns, in run and call order. */
export async function benchMcpDispatches(db: Queryable, runIds: string[]): Promise<BenchDispatch[]> {
  const { rows } = await db.query(
    `select run_id::text, tool_call_id, tool_name, dispatches, state
       from everruns.tool_dispatches
      where run_id = any($1)
      order by run_id, tool_call_id`,
    [runIds],
  );
  return z.array(DispatchSchema).parse(rows);
}
