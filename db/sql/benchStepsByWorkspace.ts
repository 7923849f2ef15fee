import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only fairness`: committed steps (run_steps) of each of these workspaces so far (0 for none). */
export async function benchStepsByWorkspace(db: Queryable, workspaceIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query(
    `select w.id as workspace_id, (select count(*)::int from everruns.run_steps s where s.workspace_id = w.id) as steps
       from unnest($1::uuid[]) w(id)`,
    [workspaceIds],
  );
  const parsed = z.array(z.object({ workspace_id: z.string().uuid(), steps: z.number().int().min(0) })).parse(rows);
  return new Map(parsed.map((r) => [r.workspace_id, r.steps]));
}
