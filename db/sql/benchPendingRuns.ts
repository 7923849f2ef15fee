import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: runs of each of these workspaces waiting for admission
 * (queued, not admitted: runs_pending_idx, 000023), 0 for none.
 */
export async function benchPendingRuns(db: Queryable, workspaceIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query(
    `select w.id as workspace_id,
            (select count(*)::int from everruns.runs r where r.workspace_id = w.id and r.status = 'queued' and r.admitted_at is null) as pending
       from unnest($1::uuid[]) w(id)`,
    [workspaceIds],
  );
  const parsed = z.array(z.object({ workspace_id: z.string().uuid(), pending: z.number().int().min(0) })).parse(rows);
  return new Map(parsed.map((r) => [r.workspace_id, r.pending]));
}
