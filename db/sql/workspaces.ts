// Workspaces: administrators' operations (the CLI, on the owner's connection). Roles are bound
// with SQL itself: `select everruns.bind_role(role, workspace, access)`.
import { fromDatabaseError, NotFoundError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

export interface Workspace {
  id: string;
  name: string;
  createdAt: string;
}

export const WORKSPACE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export async function createWorkspace(db: Queryable, name: string): Promise<Workspace> {
  try {
    const { rows } = await db.query<{ id: string; name: string; created_at: Date }>("select * from everruns_private.create_workspace($1)", [name]);
    return { id: rows[0]!.id, name: rows[0]!.name, createdAt: new Date(rows[0]!.created_at).toISOString() };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** A workspace as `everruns workspaces list` shows it. */
export interface WorkspaceListing extends Workspace {
  /** Days a finished run keeps its events and steps (000038); null: forever. */
  retentionDays: number | null;
}

export async function listWorkspaces(db: Queryable): Promise<WorkspaceListing[]> {
  const { rows } = await db.query<{ id: string; name: string; created_at: Date; retention_days: number | null }>(
    "select id, name, created_at, retention_days from everruns.workspaces order by created_at, name",
  );
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at).toISOString(), retentionDays: r.retention_days }));
}

/** A workspace by name or id; NotFoundError naming the ones there are otherwise. */
export async function findWorkspace(db: Queryable, ref: string): Promise<Workspace> {
  const { rows } = await db.query<{ id: string; name: string; created_at: Date }>(
    "select id, name, created_at from everruns.workspaces where name = $1 or id::text = lower($1)",
    [ref],
  );
  if (!rows[0]) {
    const names = (await listWorkspaces(db)).map((w) => w.name);
    throw new NotFoundError(`no workspace "${ref}" (there are: ${names.join(", ")}); create it with: everruns workspaces create ${ref}`);
  }
  return { id: rows[0].id, name: rows[0].name, createdAt: new Date(rows[0].created_at).toISOString() };
}
