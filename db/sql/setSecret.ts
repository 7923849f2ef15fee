import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { lastFour, SECRET_NAME_PATTERN, sealSecret, secretValueProblem } from "../../lib/secret-box.ts";

/** What may be read of a secret: never its value. */
export interface SecretMetadata {
  name: string;
  /** the value's last 4 characters; null for a value under 12 characters */
  last4: string | null;
  createdAt: string;
  rotatedAt: string;
}

interface Row {
  name: string;
  last4: string | null;
  created_at: Date | string;
  rotated_at: Date | string;
}

export function toSecretMetadata(row: Row): SecretMetadata {
  return { name: row.name, last4: row.last4, createdAt: new Date(row.created_at).toISOString(), rotatedAt: new Date(row.rotated_at).toISOString() };
}

/** A secret's name, checked; a ValidationError naming the rule otherwise. */
export function checkSecretName(name: string): string {
  if (!SECRET_NAME_PATTERN.test(name)) {
    throw new ValidationError(`invalid secret name ${JSON.stringify(name.slice(0, 120))}: a secret's name is 1-100 letters, digits, _, . or -`, {
      code: "invalid_secret",
    });
  }
  return name;
}

/**
 * Sets (creates or replaces) a secret of a workspace (default: the default workspace): sealed
 * here with `key` (lib/secret-box.ts) for that workspace and name, stored by
 * everruns_private.set_secret. Returns its metadata; the value goes nowhere else.
 */
export async function setSecret(db: Queryable, input: { name: string; value: string; key: Buffer; workspaceId?: string | null }): Promise<SecretMetadata> {
  const name = checkSecretName(input.name);
  const problem = secretValueProblem(input.value);
  if (problem) throw new ValidationError(`secret "${name}": ${problem}`, { code: "invalid_secret" });
  try {
    const ws = await db.query<{ id: string }>("select coalesce($1::uuid, everruns_private.current_or_default_workspace_id()) as id", [
      input.workspaceId ?? null,
    ]);
    const workspaceId = ws.rows[0]!.id;
    const sealed = sealSecret(input.key, input.value, { workspaceId, name });
    const { rows } = await db.query<Row>("select * from everruns_private.set_secret($1, $2, $3, $4)", [workspaceId, name, sealed, lastFour(input.value)]);
    return toSecretMetadata(rows[0]!);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
