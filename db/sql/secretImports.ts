import { fromDatabaseError } from "../errors.ts";
import type { Pool } from "../pool.ts";
import { lastFour, sealSecret } from "../../lib/secret-box.ts";

/**
 * Seals the credentials 000007 took out of agent configs (everruns_private.secret_imports) into
 * everruns.secrets with `key`: everruns_private.seal_secret_import stores each sealed value in the
 * transaction that deletes its plaintext row (one that another process sealed meanwhile is
 * skipped). Returns how many this call sealed.
 */
export async function sealSecretImports(pool: Pool, key: Buffer): Promise<number> {
  let sealed = 0;
  for (let after = ""; ;) {
    const { rows } = await pool.query<{ workspace_id: string; name: string; value: string }>(
      "select workspace_id, name, value from everruns_private.secret_imports where workspace_id::text || '/' || name > $1 order by workspace_id::text || '/' || name limit 1000",
      [after],
    );
    sealed += await sealRows(pool, key, rows);
    if (rows.length < 1000) return sealed;
    after = `${rows.at(-1)!.workspace_id}/${rows.at(-1)!.name}`;
  }
}

async function sealRows(pool: Pool, key: Buffer, rows: { workspace_id: string; name: string; value: string }[]): Promise<number> {
  let sealed = 0;
  for (const row of rows) {
    const ciphertext = sealSecret(key, row.value, { workspaceId: row.workspace_id, name: row.name });
    try {
      const { rows: done } = await pool.query<{ sealed: boolean }>("select everruns_private.seal_secret_import($1, $2, $3, $4) as sealed", [
        row.workspace_id,
        row.name,
        ciphertext,
        lastFour(row.value),
      ]);
      if (done[0]!.sealed) sealed++;
    } catch (error) {
      throw fromDatabaseError(error);
    }
  }
  return sealed;
}

/** How many credentials wait to be sealed (a process without EVERRUNS_SECRET_KEY says so). */
export async function countSecretImports(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from everruns_private.secret_imports");
  return rows[0]!.n;
}
