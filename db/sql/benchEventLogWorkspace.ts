import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only event-log`: a new workspace with this retention (days a finished run's
 * history is kept; null: forever); returns its id and the version of `agentId` its runs name.
 */
export async function benchEventLogWorkspace(
  db: Queryable,
  name: string,
  retentionDays: number | null,
  agentId: string,
): Promise<{ id: string; agentVersion: number }> {
  const { rows } = await db.query(
    `with w as (insert into everruns.workspaces (name, retention_days) values ($1, $2) returning id)
     select w.id, (select max(v.version) from everruns.agent_versions v where v.agent_id = $3) as agent_version from w`,
    [name, retentionDays, agentId],
  );
  const row = z.object({ id: z.string().uuid(), agent_version: z.number().int() }).parse(rows[0]);
  return { id: row.id, agentVersion: row.agent_version };
}
