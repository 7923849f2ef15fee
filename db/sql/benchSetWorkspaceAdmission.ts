import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: sets the limits the object names on a workspace
 * (everruns_private.set_workspace_admission, 000023: max_running_runs, weight, ...).
 */
export async function benchSetWorkspaceAdmission(
  db: Queryable,
  workspaceId: string,
  limits: { max_running_runs?: number | null; weight?: number },
): Promise<void> {
  await db.query("select everruns_private.set_workspace_admission($1, $2::jsonb)", [workspaceId, JSON.stringify(limits)]);
}
