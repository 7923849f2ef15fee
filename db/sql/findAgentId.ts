import { isUuid, type Queryable } from "../pool.ts";

/**
 * The id of the agent named by `ref`: its id, or its name. An id wins over a name that happens
 * to look like one. Null when there is no such agent.
 *
 * `ref` goes in twice, as a uuid only when it reads as one: `$1::uuid` on any other text would
 * fail the whole statement, and comparing `id::text` instead would give up the primary key.
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
