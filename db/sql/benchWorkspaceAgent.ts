import { z } from "zod";
import type { Queryable } from "../pool.ts";
import { createWorkspace } from "./workspaces.ts";

/**
 * `everruns bench --only fairness`: a new workspace (createWorkspace) and an
 * agent of it with this config; the runs of the agent belong to the workspace.
 */
export async function benchWorkspaceAgent(
  db: Queryable,
  workspaceName: string,
  agentName: string,
  config: Record<string, unknown>,
): Promise<{ workspaceId: string; agentId: string }> {
  const workspaceId = (await createWorkspace(db, workspaceName)).id;
  const agent = await db.query("insert into everruns.agents (workspace_id, name, config) values ($1, $2, $3) returning id", [
    workspaceId,
    agentName,
    JSON.stringify(config),
  ]);
  return { workspaceId, agentId: z.object({ id: z.string().uuid() }).parse(agent.rows[0]).id };
}
