import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only admission`: starts n runs of an agent in one insert ... select, the way
 * a batch of runs is started in SQL, each run with its own message ('run <i>'). Returns how many
 * rows the statement inserted; on a pool it is its own transaction, its commit included.
 */
export async function benchAdmitRuns(db: Queryable, agentId: string, n: number): Promise<number> {
  const result = await db.query(
    `insert into everruns.runs (agent_id, input)
     select $1, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'run ' || g)))
       from generate_series(1, $2::int) g`,
    [agentId, n],
  );
  return result.rowCount ?? 0;
}
