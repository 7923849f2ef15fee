// OAuth connections of workspaces to MCP servers (000028): the API's connect (begin), the
// unauthenticated callback's read by state, its completion or failure, disconnect and the list;
// the worker's read of the sealed tokens, its store of refreshed ones and its mark of refused
// ones. Related operations of one table kept together on purpose, as mcpToolLists.ts does.
//
// Sealed values (tokens, client registration, PKCE verifier) are sealed by the callers with
// lib/secret-box.ts at the places below (mcpOauthPlace): each is bound to its workspace, the
// server's URL and what it is, so a value copied to another row or column does not open.
import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import type { SecretPlace } from "../../lib/secret-box.ts";

/**
 * A server URL as connections are keyed: the WHATWG serialization (`https://Host:443/mcp` and
 * `https://host/mcp` are one server). The API and the worker both key by it.
 */
export function canonicalMcpUrl(url: string): string {
  return new URL(url).href;
}

/** What a sealed value of a connection is. */
export type McpOauthSealedKind = "tokens" | "client" | "verifier";

/** Where a connection's sealed value belongs (lib/secret-box.ts binds it to the workspace and this name). */
export function mcpOauthPlace(workspaceId: string, serverUrl: string, kind: McpOauthSealedKind): SecretPlace {
  return { workspaceId, name: `mcp-oauth:${kind}:${serverUrl}` };
}

const date = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());
const bytes = z.instanceof(Buffer);

// ---------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------

export interface BeginMcpOauth {
  serverUrl: string;
  scopes: string[];
  clientId: string | null;
  clientSealed: Buffer | null;
  verifierSealed: Buffer;
  state: string;
  redirectUri: string;
}

/** Begins a connect of the transaction's workspace (withWorkspace); returns when its state expires (ISO 8601). */
export async function beginMcpOauth(db: Queryable, input: BeginMcpOauth): Promise<string> {
  try {
    const { rows } = await db.query<{ until: Date }>("select everruns_private.begin_mcp_oauth($1, $2, $3, $4, $5, $6, $7) as until", [
      input.serverUrl,
      input.scopes,
      input.clientId,
      input.clientSealed,
      input.verifierSealed,
      input.state,
      input.redirectUri,
    ]);
    return date.parse(rows[0]!.until);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

export interface McpOauthFlow {
  id: string;
  workspaceId: string;
  workspaceName: string;
  serverUrl: string;
  scopes: string[];
  clientId: string | null;
  clientSealed: Buffer | null;
  verifierSealed: Buffer | null;
  redirectUri: string | null;
}

const FlowRow = z.object({
  id: z.string(),
  workspace_id: z.string(),
  workspace_name: z.string(),
  server_url: z.string(),
  scopes: z.array(z.string()),
  client_id: z.string().nullable(),
  client_information_sealed: bytes.nullable(),
  code_verifier_sealed: bytes.nullable(),
  redirect_uri: z.string().nullable(),
});

/** The flow of an unexpired state (no authentication: the state is the credential); null when unknown, used or expired. */
export async function mcpOauthByState(db: Queryable, state: string): Promise<McpOauthFlow | null> {
  try {
    const { rows } = await db.query("select * from everruns_private.mcp_oauth_by_state($1)", [state]);
    if (!rows[0]) return null;
    const r = FlowRow.parse(rows[0]);
    return {
      id: r.id,
      workspaceId: r.workspace_id,
      workspaceName: r.workspace_name,
      serverUrl: r.server_url,
      scopes: r.scopes,
      clientId: r.client_id,
      clientSealed: r.client_information_sealed,
      verifierSealed: r.code_verifier_sealed,
      redirectUri: r.redirect_uri,
    };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Completes the flow of `state`: tokens stored, connected, audited mcp.connected. False when the state is no longer valid. */
export async function completeMcpOauth(
  db: Queryable,
  input: {
    state: string;
    tokensSealed: Buffer;
    clientSealed: Buffer | null;
    /** the access token's expires_in (seconds), null: unknown */ expiresIn: number | null;
  },
): Promise<boolean> {
  try {
    const { rows } = await db.query<{ ok: boolean }>("select everruns_private.complete_mcp_oauth($1, $2, $3, $4) as ok", [
      input.state,
      input.tokensSealed,
      input.clientSealed,
      input.expiresIn,
    ]);
    return rows[0]!.ok;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** The flow of `state` failed (`error` says why, for the console). False when the state is no longer valid. */
export async function failMcpOauthFlow(db: Queryable, state: string, error: string): Promise<boolean> {
  try {
    const { rows } = await db.query<{ ok: boolean }>("select everruns_private.fail_mcp_oauth_flow($1, $2) as ok", [state, error.slice(0, 2000)]);
    return rows[0]!.ok;
  } catch (e) {
    throw fromDatabaseError(e);
  }
}

/** Disconnects the transaction's workspace from `serverUrl` (audited mcp.disconnected); false when it had no connection. */
export async function disconnectMcpOauth(db: Queryable, serverUrl: string): Promise<boolean> {
  try {
    const { rows } = await db.query<{ ok: boolean }>("select everruns_private.disconnect_mcp_oauth($1) as ok", [serverUrl]);
    return rows[0]!.ok;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** A connection as the API shows it: never a sealed value nor the state. */
export interface McpOauthConnection {
  server_url: string;
  status: "pending" | "connected" | "failed";
  scopes: string[];
  client_id: string | null;
  expires_at: string | null;
  connected_at: string | null;
  connected_by: string | null;
  last_refreshed_at: string | null;
  last_error: string | null;
  updated_at: string;
}

const ConnectionRow = z.object({
  server_url: z.string(),
  status: z.enum(["pending", "connected", "failed"]),
  scopes: z.array(z.string()),
  client_id: z.string().nullable(),
  expires_at: date.nullable(),
  connected_at: date.nullable(),
  connected_by: z.string().nullable(),
  last_refreshed_at: date.nullable(),
  last_error: z.string().nullable(),
  updated_at: date,
});

const LIST =
  "select server_url, status, scopes, client_id, expires_at, connected_at, connected_by, last_refreshed_at, last_error, updated_at " +
  "from everruns.mcp_oauth_connections order by server_url";

/** The connections of the transaction's workspace (row-level security), by URL. */
export async function listMcpOauthConnections(db: Queryable): Promise<McpOauthConnection[]> {
  try {
    const { rows } = await db.query(LIST);
    return rows.map((row) => ConnectionRow.parse(row));
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** The sealed value of the transaction's workspace's secret `name` (a connect's client secret); null when it has none. */
export async function mcpOauthClientSecret(db: Queryable, name: string): Promise<Buffer | null> {
  try {
    const { rows } = await db.query<{ sealed: Buffer | null }>("select everruns_private.mcp_oauth_client_secret($1) as sealed", [name]);
    return rows[0]?.sealed ?? null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

// ---------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------

export interface McpOauthTokensRow {
  id: string;
  status: "pending" | "connected" | "failed";
  scopes: string[];
  clientId: string | null;
  clientSealed: Buffer | null;
  tokensSealed: Buffer | null;
  generation: number;
  expiresAt: string | null;
}

const TokensRow = z.object({
  id: z.string(),
  status: z.enum(["pending", "connected", "failed"]),
  scopes: z.array(z.string()),
  client_id: z.string().nullable(),
  client_information_sealed: bytes.nullable(),
  tokens_sealed: bytes.nullable(),
  generation: z.number().int(),
  expires_at: date.nullable(),
});

/** A workspace's connection to `serverUrl` with its sealed tokens and client; null when it never connected. */
export async function readMcpOauthTokens(db: Queryable, workspaceId: string, serverUrl: string): Promise<McpOauthTokensRow | null> {
  try {
    const { rows } = await db.query("select * from everruns_private.mcp_oauth_tokens($1, $2)", [workspaceId, serverUrl]);
    if (!rows[0]) return null;
    const r = TokensRow.parse(rows[0]);
    return {
      id: r.id,
      status: r.status,
      scopes: r.scopes,
      clientId: r.client_id,
      clientSealed: r.client_information_sealed,
      tokensSealed: r.tokens_sealed,
      generation: r.generation,
      expiresAt: r.expires_at,
    };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Stores refreshed tokens for the grant of `generation` (a newer connect wins); true when stored. */
export async function storeMcpOauthTokens(
  db: Queryable,
  input: {
    workspaceId: string;
    serverUrl: string;
    generation: number;
    tokensSealed: Buffer;
    clientSealed: Buffer | null;
    /** the access token's expires_in (seconds), null: unknown */
    expiresIn: number | null;
  },
): Promise<boolean> {
  try {
    const { rows } = await db.query<{ ok: boolean }>("select everruns_private.store_mcp_oauth_tokens($1, $2, $3, $4, $5, $6) as ok", [
      input.workspaceId,
      input.serverUrl,
      input.generation,
      input.tokensSealed,
      input.clientSealed,
      input.expiresIn,
    ]);
    return rows[0]!.ok;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** The server refused `tokensSealed`: the connection is failed unless its tokens changed meanwhile; true when marked. */
export async function failMcpOauthTokens(db: Queryable, workspaceId: string, serverUrl: string, tokensSealed: Buffer, error: string): Promise<boolean> {
  try {
    const { rows } = await db.query<{ ok: boolean }>("select everruns_private.fail_mcp_oauth_tokens($1, $2, $3, $4) as ok", [
      workspaceId,
      serverUrl,
      tokensSealed,
      error.slice(0, 2000),
    ]);
    return rows[0]!.ok;
  } catch (e) {
    throw fromDatabaseError(e);
  }
}
