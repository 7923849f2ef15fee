import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { toSecretMetadata, type SecretMetadata } from "./setSecret.ts";

/** The metadata of a workspace's secrets (default: the default workspace), by name: never a value nor a ciphertext. */
export async function listSecrets(db: Queryable, workspaceId: string | null = null): Promise<SecretMetadata[]> {
  try {
    const { rows } = await db.query<{ name: string; last4: string | null; created_at: Date; rotated_at: Date }>(
      "select * from everruns_private.list_secrets($1)",
      [workspaceId],
    );
    return rows.map(toSecretMetadata);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
