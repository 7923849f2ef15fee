// API keys of a workspace (everruns.api_keys, 000006_keys_and_row_security.sql): create, list,
// revoke, and authenticate a presented key. The key itself is made and hashed in lib/api-key.ts
// and never reaches the database.
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { generateApiKey, hashApiKey, type ApiKeyRole } from "../../lib/api-key.ts";

/** What may be read of a key: never the key, nor its hash. */
export interface ApiKeyInfo {
  id: string;
  workspaceId: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

interface Row {
  id: string;
  workspace_id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

function toInfo(r: Row): ApiKeyInfo {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    name: r.name,
    role: r.role,
    prefix: r.prefix,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: iso(r.expires_at),
    revokedAt: iso(r.revoked_at),
    lastUsedAt: iso(r.last_used_at),
  };
}

export interface CreateApiKeyInput {
  name: string;
  role: ApiKeyRole;
  /** default: the transaction's workspace (an administrator without one: `default`) */
  workspaceId?: string | null;
  /** an absolute time, or null for a key that does not expire */
  expiresAt?: Date | null;
}

/** Creates a key; `key` is returned here once and stored nowhere. */
export async function createApiKey(db: Queryable, input: CreateApiKeyInput): Promise<{ key: string; info: ApiKeyInfo }> {
  const made = generateApiKey();
  try {
    const { rows } = await db.query<Row>("select * from everruns_private.create_api_key($1, $2, $3, $4, $5, $6)", [
      input.workspaceId ?? null,
      input.name,
      input.role,
      made.hash,
      made.prefix,
      input.expiresAt ?? null,
    ]);
    return { key: made.key, info: toInfo(rows[0]!) };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export async function listApiKeys(db: Queryable, workspaceId: string | null = null): Promise<ApiKeyInfo[]> {
  try {
    const { rows } = await db.query<Row>("select * from everruns_private.list_api_keys($1)", [workspaceId]);
    return rows.map(toInfo);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** True when this call revoked the key; false when it already was. Unknown (or another workspace's): NotFoundError. */
export async function revokeApiKey(db: Queryable, id: string): Promise<boolean> {
  try {
    const { rows } = await db.query<{ revoked: boolean }>("select everruns_private.revoke_api_key($1) as revoked", [id]);
    return rows[0]!.revoked;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export type KeyCheck =
  | { ok: true; keyId: string; workspaceId: string; workspaceName: string; role: ApiKeyRole; expiresAt: string | null }
  | { ok: false; refusal: "unknown" | "revoked" | "expired" };

/** Looks a presented key up by its hash: valid now, or why not. */
export async function authenticateApiKey(db: Queryable, key: string): Promise<KeyCheck> {
  const { rows } = await db.query<{
    key_id: string | null;
    workspace_id: string | null;
    workspace_name: string | null;
    role: ApiKeyRole | null;
    expires_at: Date | null;
    refusal: "unknown" | "revoked" | "expired" | null;
  }>("select * from everruns_private.authenticate_api_key($1)", [hashApiKey(key)]);
  const r = rows[0];
  if (!r || r.refusal || !r.key_id || !r.workspace_id || !r.role) return { ok: false, refusal: r?.refusal ?? "unknown" };
  return { ok: true, keyId: r.key_id, workspaceId: r.workspace_id, workspaceName: r.workspace_name ?? "", role: r.role, expiresAt: iso(r.expires_at) };
}
