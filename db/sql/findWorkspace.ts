// The workspace `everruns worker --workspace <name or id>` serves, and whether it is dedicated
// (everruns_private.workspace_limits.dedicated, 000023), through everruns_private.worker_workspace:
// a security-definer reader granted to everruns_worker, which may not read workspaces itself.
import type { Queryable } from "../pool.ts";

export interface WorkerWorkspace {
  id: string;
  name: string;
  /** Its step jobs are run_step:<id>, which only workers started for it take. */
  dedicated: boolean;
}

/** The workspace named `ref` (its name, or its id in any case); null when there is none. */
export async function findWorkerWorkspace(db: Queryable, ref: string): Promise<WorkerWorkspace | null> {
  const { rows } = await db.query<WorkerWorkspace>("select id, name, dedicated from everruns_private.worker_workspace($1)", [ref]);
  return rows[0] ?? null;
}
