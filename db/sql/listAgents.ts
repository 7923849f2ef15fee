import type { Queryable } from "../pool.ts";

/** An agent as a listing shows it: enough to name it in a run, none of its config's secrets or prompts. */
export interface AgentSummary {
  id: string;
  name: string;
  version: number;
  provider: string | null;
  model: string | null;
  updated_at: Date;
}

/** The `limit` agents of the session's workspace, by name (MCP list_agents). */
export async function listAgents(db: Queryable, limit: number): Promise<AgentSummary[]> {
  const { rows } = await db.query<AgentSummary>(
    `select id, name, version, config ->> 'provider' as provider, config ->> 'model' as model, updated_at
       from everruns.agents
      order by name
      limit $1`,
    [limit],
  );
  return rows;
}
