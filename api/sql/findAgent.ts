import type { Queryable } from "./queryable.ts";
import { isUuid } from "./queryable.ts";

/**
 * The id of the agent named by `ref`: its id, or its name. An id wins over a name that
 * happens to look like one. Null when there is no such agent.
 */
export async function findAgentId(db: Queryable, ref: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    `select id from everruns.agents
      where id = $1::uuid or name = $2
      order by (id = $1::uuid) desc nulls last
      limit 1`,
    [isUuid(ref) ? ref : null, ref],
  );
  return rows[0]?.id ?? null;
}
