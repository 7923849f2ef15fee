import type { Queryable } from "../pool.ts";

/** A sealed secret as the worker reads it (lib/secret-box.ts opens it). */
export interface SecretCiphertext {
  name: string;
  ciphertext: Buffer;
  rotatedAt: Date;
}

/**
 * The sealed values of the named secrets of a workspace (everruns_private.read_secret_ciphertexts,
 * granted to everruns_worker only). Workers only: nothing else reads a ciphertext. A name the
 * workspace has no secret of is absent from the result.
 */
export async function readSecretCiphertexts(db: Queryable, workspaceId: string, names: readonly string[]): Promise<SecretCiphertext[]> {
  if (names.length === 0) return [];
  const { rows } = await db.query<{ name: string; ciphertext: Buffer; rotated_at: Date }>("select * from everruns_private.read_secret_ciphertexts($1, $2)", [
    workspaceId,
    [...new Set(names)],
  ]);
  return rows.map((r) => ({ name: r.name, ciphertext: r.ciphertext, rotatedAt: r.rotated_at }));
}
