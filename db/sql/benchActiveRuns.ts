import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: a workspace's active runs now (running, or queued and
 * admitted: what max_running_runs bounds, runs_active_idx, 000023).
 */
export async function benchActiveRuns(db: Queryable, workspaceId: string): Promise<number> {
  const { rows } = await db.query(
    `select count(*)::int as n from everruns.runs
      where workspace_id = $1 and (status = 'running' or (status = 'queued' and admitted_at is not null))`,
    [workspaceId],
  );
  return z.object({ n: z.number().int().min(0) }).parse(rows[0]).n;
}
