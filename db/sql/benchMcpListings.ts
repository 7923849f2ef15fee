// `everruns bench --only mcp` (scripts/bench/mcp.ts): how often an agent's MCP servers were
// listed (everruns.mcp_tool_lists rows, 000027) and how many of these runs got a list pinned.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ListingsSchema = z.object({
  /** successful listings of the agent's servers (all its versions) */
  lists: z.number().int().min(0),
  /** failed listings */
  failed: z.number().int().min(0),
  /** of runIds, the runs with at least one pinned list (everruns.run_mcp_tools) */
  pinned_runs: z.number().int().min(0),
});
export type BenchListings = z.infer<typeof ListingsSchema>;

/** The agent's listings, successful and failed, and how many of runIds pinned a list. */
export async function benchMcpListings(db: Queryable, agentId: string, runIds: string[]): Promise<BenchListings> {
  const { rows } = await db.query(
    `select (select count(*)::int from everruns.mcp_tool_lists where agent_id = $1 and error is null) as lists,
            (select count(*)::int from everruns.mcp_tool_lists where agent_id = $1 and error is not null) as failed,
            (select count(distinct run_id)::int from everruns.run_mcp_tools where run_id = any($2)) as pinned_runs`,
    [agentId, runIds],
  );
  return ListingsSchema.parse(rows[0]);
}
