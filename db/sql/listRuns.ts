import type { Queryable } from "../pool.ts";

/** A line of `everruns runs`. */
export interface RunSummary {
  id: string;
  agent: string;
  status: string;
  steps: number;
  created_at: Date;
  seconds: number;
  cost_usd: string | null;
}

/** The `limit` newest runs with their agent's name, steps so far and wall time (runs_created_idx). */
export async function listRuns(db: Queryable, limit: number): Promise<RunSummary[]> {
  const { rows } = await db.query<RunSummary>(
    `select r.id, a.name as agent, r.status, r.step_cursor - 1 as steps, r.created_at,
            round(extract(epoch from (coalesce(r.finished_at, now()) - coalesce(r.started_at, r.created_at)))::numeric, 1) as seconds,
            r.usage ->> 'cost_usd' as cost_usd
       from everruns.runs r
       join everruns.agents a on a.id = r.agent_id
      order by r.created_at desc
      limit $1`,
    [limit],
  );
  return rows;
}
