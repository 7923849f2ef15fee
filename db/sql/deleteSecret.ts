import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { checkSecretName } from "./setSecret.ts";

/** Deletes a secret of a workspace (default: the default workspace); true when there was one. */
export async function deleteSecret(db: Queryable, name: string, workspaceId: string | null = null): Promise<boolean> {
  checkSecretName(name);
  try {
    const { rows } = await db.query<{ deleted: boolean }>("select everruns_private.delete_secret($1, $2) as deleted", [workspaceId, name]);
    return rows[0]!.deleted;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
