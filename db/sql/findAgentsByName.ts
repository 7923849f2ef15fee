// The workspace's agents by name: the agents a sub-agent call starts (worker/sub-agents.ts).
import type { Queryable } from "../pool.ts";

/** The ids of the workspace's agents with these names. */
export async function findAgentsByName(db: Queryable, workspaceId: string, names: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ name: string; id: string }>("select name, id from everruns.agents where workspace_id = $1 and name = any($2::text[])", [
    workspaceId,
    names,
  ]);
  return new Map(rows.map((r) => [r.name, r.id]));
}
