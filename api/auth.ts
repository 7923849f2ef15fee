// Authentication and the workspace of every request. Every surface but /healthz takes an API key,
// `Authorization: Bearer evr_…` (graphql-ws: in the connection_init payload,
// `{"authorization": "Bearer evr_…"}`). A verified key gives the request its workspace and role;
// the database does the isolation: each request's queries run in a transaction with
//
//   role                    everruns_api   (owns nothing, no BYPASSRLS: row-level security applies)
//   everruns.workspace_id   the key's workspace (the policies of 000006_keys_and_row_security.sql)
//   everruns.actor          key:<key id>   (the audit log's actor)
//
// for REST through withWorkspace() below, for GraphQL through PostGraphile's pgSettings.
//
// Refusals are JSON: 401 `unauthenticated` (no key, or not a key), `invalid_key` (unknown,
// revoked, expired: the message says which, never whose); 403 `forbidden` names the role needed.
// Verified keys are remembered for 5 s: a revocation takes effect within that.
//
// Rate limits (api/rate-limit.ts) are checked here, right after the key is verified, so they are
// per key: 429 `rate_limited` with Retry-After. Failed authentications are counted per client
// address; an address over its limit gets 429 before its key is even looked at.
import type { IncomingMessage } from "node:http";
import type { RequestHandler, Response } from "express";
import { authenticateApiKey } from "../db/sql/apiKeys.ts";
import { withTransaction, type Pool, type PoolClient } from "../db/pool.ts";
import { API_KEY_PATTERN, hashApiKey, roleAllows, type ApiKeyRole } from "../lib/api-key.ts";
import { HttpStatusError, sendError } from "./http-errors.ts";
import { clientAddress, type ApiRateLimits, type RateLimited } from "./rate-limit.ts";

/** Who a request is: a verified key's id, workspace and role. */
export interface Auth {
  keyId: string;
  workspaceId: string;
  workspaceName: string;
  role: ApiKeyRole;
}

export const API_DATABASE_ROLE = "everruns_api";
const CACHE_MS = 5_000;
const CACHE_MAX = 10_000;

export class AuthError extends HttpStatusError {}

export function unauthenticated(message: string): AuthError {
  return new AuthError(401, "unauthenticated", message);
}

/** A 403 naming the role an action needs. */
export function requireRole(auth: Auth, needs: ApiKeyRole, what: string): void {
  if (!roleAllows(auth.role, needs)) {
    throw new AuthError(
      403,
      "forbidden",
      `${what} needs an API key with role ${needs}${needs === "admin" ? "" : " or admin"}; this key's role is ${auth.role}`,
    );
  }
}

/** The key of an `Authorization: Bearer <key>` value (a bare key is taken too: graphql-ws payloads). */
export function keyFromAuthorization(value: string | string[] | undefined): string | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const m = /^\s*(?:Bearer\s+)?(\S+)\s*$/i.exec(v);
  return m ? m[1]! : null;
}

export class Authenticator {
  private readonly cache = new Map<string, { auth: Auth; until: number }>();
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** Whether `authorization` holds a key verified in the last few seconds (no database needed). */
  isRemembered(authorization: string | string[] | undefined): boolean {
    const key = keyFromAuthorization(authorization);
    if (!key || !API_KEY_PATTERN.test(key)) return false;
    const hit = this.cache.get(hashApiKey(key).toString("base64"));
    return hit !== undefined && hit.until > Date.now();
  }

  /** The request's identity, or an AuthError (401). */
  async authenticate(authorization: string | string[] | undefined): Promise<Auth> {
    const key = keyFromAuthorization(authorization);
    if (!key) throw unauthenticated("this API needs a key: send Authorization: Bearer <key> (everruns keys create makes one; everruns start printed one)");
    if (!API_KEY_PATTERN.test(key)) throw unauthenticated("the Authorization header does not hold an Everruns API key (evr_ and 43 characters)");
    const id = hashApiKey(key).toString("base64");
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && hit.until > now) return hit.auth;
    const check = await authenticateApiKey(this.pool, key);
    if (!check.ok) {
      this.cache.delete(id);
      const why = { unknown: "is not a key of this Everruns", revoked: "has been revoked", expired: "has expired" }[check.refusal];
      throw new AuthError(401, "invalid_key", `this API key ${why}; ask an admin of its workspace for a new one (everruns keys create)`);
    }
    const auth: Auth = { keyId: check.keyId, workspaceId: check.workspaceId, workspaceName: check.workspaceName, role: check.role };
    const expires = check.expiresAt ? Date.parse(check.expiresAt) : Infinity;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(id, { auth, until: Math.min(now + CACHE_MS, expires) });
    return auth;
  }

  /** Forgets verified keys (tests of revocation). */
  clear(): void {
    this.cache.clear();
  }
}

// The verified identity of each HTTP request (express and grafserv see the same request object).
const requestAuth = new WeakMap<IncomingMessage, Auth>();

export function authOf(req: IncomingMessage): Auth {
  const auth = requestAuth.get(req);
  if (!auth) throw unauthenticated("this request was not authenticated");
  return auth;
}

/** A 429 `rate_limited` with Retry-After. */
export function sendRateLimited(res: Response, limited: RateLimited): void {
  res.set("Retry-After", String(limited.retryAfterSeconds));
  sendError(res, { status: 429, code: "rate_limited", message: limited.message });
}

/**
 * Authenticates `req` (its Authorization header) and counts it against the rate limits: its
 * identity, or a 429's refusal, or an AuthError (401, counted against the client's address).
 */
export async function authenticateRequest(
  authenticator: Authenticator,
  limits: ApiRateLimits | undefined,
  req: IncomingMessage,
  authorization: string | string[] | undefined = req.headers.authorization,
): Promise<{ auth: Auth } | { limited: RateLimited }> {
  if (limits && !authenticator.isRemembered(authorization)) {
    const blocked = await limits.authBlocked(clientAddress(req));
    if (blocked) return { limited: blocked };
  }
  let auth: Auth;
  try {
    auth = await authenticator.authenticate(authorization);
  } catch (error) {
    if (limits && error instanceof AuthError && error.status === 401) {
      const limited = await limits.authFailed(clientAddress(req));
      if (limited) return { limited };
    }
    throw error;
  }
  const limited = await limits?.consumeKey(auth.keyId);
  return limited ? { limited } : { auth };
}

/** Express middleware: every request it sees must carry a valid key, within its rate limits. */
export function authMiddleware(authenticator: Authenticator, limits?: ApiRateLimits): RequestHandler {
  return (req, res, next) => {
    authenticateRequest(authenticator, limits, req).then(
      (result) => {
        if ("limited" in result) return sendRateLimited(res, result.limited);
        requestAuth.set(req, result.auth);
        next();
      },
      (error: unknown) => next(error),
    );
  };
}

/** The settings of a transaction acting for `auth` (PostGraphile's pgSettings take the same). */
export function workspaceSettings(auth: Auth): Record<string, string> {
  return { role: API_DATABASE_ROLE, "everruns.workspace_id": auth.workspaceId, "everruns.actor": `key:${auth.keyId}` };
}

/** Runs `fn` in a transaction acting for `auth`: row-level security confines it to the key's workspace. */
export async function withWorkspace<T>(pool: Pool, auth: Auth, fn: (db: PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    const settings = workspaceSettings(auth);
    await client.query("select set_config(k, v, true) from jsonb_each_text($1::jsonb) as s(k, v)", [JSON.stringify(settings)]);
    return fn(client);
  });
}
