// API keys: `evr_` + 43 characters of base64url (32 random bytes). Shown once when created;
// the database keeps only their SHA-256 and the first 12 characters (`evr_` + 8) to tell keys
// apart in lists (everruns.api_keys, 000006_keys_and_row_security.sql).
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";

export const API_KEY_PATTERN = /^evr_[A-Za-z0-9_-]{43}$/;
export const API_KEY_ROLES = ["viewer", "operator", "admin"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];
export const ApiKeyRoleSchema = z.enum(API_KEY_ROLES, { error: "a key's role is viewer, operator or admin" });

/** viewer < operator < admin: whether a key of role `has` may do what needs `needs`. */
export function roleAllows(has: ApiKeyRole, needs: ApiKeyRole): boolean {
  return API_KEY_ROLES.indexOf(has) >= API_KEY_ROLES.indexOf(needs);
}

export interface NewApiKey {
  /** The key itself: give it to its user, store it nowhere. */
  key: string;
  hash: Buffer;
  prefix: string;
}

export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

export function generateApiKey(): NewApiKey {
  const key = `evr_${randomBytes(32).toString("base64url")}`;
  return { key, hash: hashApiKey(key), prefix: key.slice(0, 12) };
}

/** "30d", "12h", "90m", "2w" → milliseconds; null when it is not such a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})([mhdw])$/.exec(text.trim());
  if (!m) return null;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as "m" | "h" | "d" | "w"];
  const ms = Number(m[1]) * unit;
  return ms > 0 ? ms : null;
}
