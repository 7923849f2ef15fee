import type { Queryable } from "../pool.ts";

/** Creates the agent `name` unless the workspace has one by that name (an edited one is left as it is); returns its id. */
export async function ensureAgent(db: Queryable, name: string, config: Record<string, unknown>): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into everruns.agents (name, config) values ($1, $2)
     on conflict (workspace_id, name) do update set name = excluded.name
     returning id`,
    [name, JSON.stringify(config)],
  );
  return rows[0]!.id;
}
