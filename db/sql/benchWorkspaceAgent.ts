import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: a new workspace (everruns_private.create_workspace) and an
 * agent of it with this config; the runs of the agent belong to the workspace.
 */
export async function benchWorkspaceAgent(
  db: Queryable,
  workspaceName: string,
  agentName: string,
  config: Record<string, unknown>,
): Promise<{ workspaceId: string; agentId: string }> {
  const ws = await db.query("select id from everruns_private.create_workspace($1)", [workspaceName]);
  const workspaceId = z.object({ id: z.string().uuid() }).parse(ws.rows[0]).id;
  const agent = await db.query("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    workspaceId,
    agentName,
    JSON.stringify(config),
  ]);
  return { workspaceId, agentId: z.object({ id: z.string().uuid() }).parse(agent.rows[0]).id };
}
