// OAuth for the MCP servers of an agent that require it (`"oauth": true` or `{scopes, client_id,
// client_secret}`, db/schemas.ts), on the worker's side. An operator connected the workspace to
// the server once (api/mcp-oauth.ts: authorization code + PKCE); the tokens are stored sealed in
// everruns.mcp_oauth_connections (000028), bound to the workspace and the server's URL.
//
// `McpOauthStore.forServer` reads the workspace's connection, opens its tokens and client with
// EVERRUNS_SECRET_KEY and gives the SDK an OAuthClientProvider over them (`DbOAuthProvider`):
// - tokens(): the tokens in memory (read once per connection; the SDK sends the access token).
// - the SDK refreshes: a 401 makes the transport call auth(), which posts the refresh token to the
//   authorization server (through the transport's fetch: the egress guard) and calls saveTokens,
//   which stores the new tokens (sealed) for this grant (the connection's generation).
// - a refresh refused (invalid_grant, invalid_client): the row is read again once: another worker
//   may have refreshed (and the server rotated the refresh token away from us), its tokens are
//   taken and refreshed with; the same tokens as ours: the connection is marked failed and the
//   call fails with McpOauthRequiredError, saying how to connect again.
// - the worker never starts an authorization: redirectToAuthorization() throws the same error
//   (or a TransientToolError when a refresh token was there and the authorization server did not
//   answer properly: it is tried again with the step), codeVerifier() throws.
// `identity` (the connection's id and generation) goes into the pool's key of the connection
// (connections.ts), so a new connect by an operator is a new MCP connection with the new tokens.
// No message of this module holds a token, a client secret or a sealed value.
import type { OAuthClientProvider, OAuthDiscoveryState } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import type { Queryable } from "../../db/pool.ts";
import type { McpOauthSpec } from "../../db/schemas.ts";
import { failMcpOauthTokens, mcpOauthPlace, readMcpOauthTokens, storeMcpOauthTokens, type McpOauthTokensRow } from "../../db/sql/mcpOauth.ts";
import type { Logger } from "../../lib/logger.ts";
import { openSecret, sealSecret, SECRET_KEY_ENV } from "../../lib/secret-box.ts";
import type { WorkspaceSecrets } from "../secrets.ts";
import { ToolError, TransientToolError } from "../tools/types.ts";

/** How an operator connects a workspace to a server (the console's page, or the REST route). */
export function connectHint(server: string): string {
  return `MCP server ${server} needs to be connected: an operator opens the console's MCP servers page and presses Connect, or POST /api/mcp/oauth/connect`;
}

/** The workspace is not connected to the server (never, disconnected, or its tokens were refused): the message says how to connect. */
export class McpOauthRequiredError extends ToolError {
  constructor(server: string, why?: string) {
    super(`${connectHint(server)}${why ? ` (${why})` : ""}`);
    this.name = "McpOauthRequiredError";
  }
}

/** What connections.ts needs of a server's OAuth: the SDK's provider, and the identity of its grant (part of the pool key). */
export interface McpOauthAuth {
  provider: OAuthClientProvider;
  identity: string;
}

/** The redirect URI the worker names (never used: the worker never starts an authorization, but the SDK needs one to refresh). */
const WORKER_REDIRECT = "http://localhost/everruns-worker-does-not-authorize";

export interface McpOauthStoreOptions {
  db: Queryable;
  /** EVERRUNS_SECRET_KEY; undefined: every OAuth server fails saying the worker needs it */
  key: Buffer | undefined;
  log: Logger;
}

/** One per worker process: the providers of the workspaces' OAuth connections. */
export class McpOauthStore {
  private readonly options: McpOauthStoreOptions;

  constructor(options: McpOauthStoreOptions) {
    this.options = options;
  }

  /**
   * The provider of the workspace's connection to `url` for the server `server` of an agent, or
   * McpOauthRequiredError when the workspace has no working connection; a ToolError when this
   * worker has no key or the stored values do not open.
   */
  async forServer(workspaceId: string, server: string, url: string, spec: McpOauthSpec | true, secrets: WorkspaceSecrets | undefined): Promise<McpOauthAuth> {
    const row = await this.read(workspaceId, url);
    const key = this.requireKey(server);
    if (!row || !row.tokensSealed || row.status === "failed") {
      throw new McpOauthRequiredError(server, row?.status === "failed" ? "its tokens were refused; connect it again" : undefined);
    }
    const tokens = openJson<OAuthTokens>(key, row.tokensSealed, mcpOauthPlace(workspaceId, url, "tokens"), server, "tokens");
    let client = row.clientSealed
      ? openJson<OAuthClientInformationMixed>(key, row.clientSealed, mcpOauthPlace(workspaceId, url, "client"), server, "client")
      : undefined;
    if (!client && typeof spec === "object" && spec.client_id) {
      // a pre-registered client named in the agent config (the connect stored none)
      const secret = spec.client_secret ? await this.resolveSecret(secrets, spec.client_secret.secret, server) : undefined;
      client = { client_id: spec.client_id, ...(secret !== undefined && { client_secret: secret }) };
    }
    if (!client) throw new McpOauthRequiredError(server, "the connection has no OAuth client");
    const provider = new DbOAuthProvider({
      store: this,
      workspaceId,
      server,
      url,
      row,
      tokens,
      client,
      scope: typeof spec === "object" && spec.scopes && spec.scopes.length > 0 ? spec.scopes.join(" ") : undefined,
    });
    return { provider, identity: `${row.id}:${row.generation}` };
  }

  /** @internal the row, as a provider reads it again */
  async read(workspaceId: string, url: string): Promise<McpOauthTokensRow | null> {
    try {
      return await readMcpOauthTokens(this.options.db, workspaceId, url);
    } catch (error) {
      throw new TransientToolError(`could not read the OAuth connection of ${url}: ${(error as Error).message}`, {
        code: "database",
        notDelivered: true,
        cause: error,
      });
    }
  }

  /** @internal */
  requireKey(server: string): Buffer {
    if (this.options.key) return this.options.key;
    throw new ToolError(
      `MCP server ${server} uses OAuth, and this worker cannot read its tokens: ${SECRET_KEY_ENV} is not set on it (set the same key as on the API)`,
    );
  }

  /** @internal */
  get db(): Queryable {
    return this.options.db;
  }

  /** @internal */
  get log(): Logger {
    return this.options.log;
  }

  private async resolveSecret(secrets: WorkspaceSecrets | undefined, name: string, server: string): Promise<string> {
    if (!secrets) throw new ToolError(`MCP server ${server}: its oauth.client_secret needs the workspace's secrets, which this worker cannot read`);
    try {
      return (await secrets.resolve([name])).get(name)!;
    } catch (error) {
      throw new ToolError(`MCP server ${server}: its oauth.client_secret: ${(error as Error).message}`, { cause: error });
    }
  }
}

function openJson<T>(key: Buffer, sealed: Buffer, place: ReturnType<typeof mcpOauthPlace>, server: string, what: string): T {
  try {
    return JSON.parse(openSecret(key, sealed, place)) as T;
  } catch (error) {
    throw new McpOauthRequiredError(server, `its stored OAuth ${what} do not open (${SECRET_KEY_ENV} differs from the API's?): ${(error as Error).message}`);
  }
}

interface ProviderInit {
  store: McpOauthStore;
  workspaceId: string;
  server: string;
  url: string;
  row: McpOauthTokensRow;
  tokens: OAuthTokens;
  client: OAuthClientInformationMixed;
  scope: string | undefined;
}

/** The SDK's OAuthClientProvider over one workspace's connection to one server (one per pooled MCP connection). */
export class DbOAuthProvider implements OAuthClientProvider {
  private readonly init: ProviderInit;
  private currentTokens: OAuthTokens | undefined;
  /** the sealed form of currentTokens as the row holds it (what a refused refresh compares) */
  private currentSealed: Buffer | null;
  private client: OAuthClientInformationMixed;
  /** the client changed (the SDK stamped its issuer): stored with the next tokens */
  private clientChanged = false;
  private generation: number;
  private reread = false;
  /**
   * Set by a refresh of this provider (until its access token expires, by the server's
   * expires_in): a refusal while it holds is a concurrent call's refresh with the refresh token
   * that one rotated away, not a revocation, and the SDK tries again with the new tokens (once).
   */
  private freshUntil = 0;
  /** the store of the last refresh, awaited before a refusal is judged */
  private saving: Promise<unknown> | undefined;
  private discovery: OAuthDiscoveryState | undefined;

  constructor(init: ProviderInit) {
    this.init = init;
    this.currentTokens = init.tokens;
    this.currentSealed = init.row.tokensSealed;
    this.client = init.client;
    this.generation = init.row.generation;
  }

  get redirectUrl(): string {
    return WORKER_REDIRECT;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "Everruns",
      redirect_uris: [WORKER_REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(this.init.scope !== undefined && { scope: this.init.scope }),
    };
  }

  clientInformation(): OAuthClientInformationMixed {
    return this.client;
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
    this.clientChanged = true;
  }

  async tokens(): Promise<OAuthTokens | undefined> {
    // left with none (a refusal judged another worker's): read the connection again
    if (!this.currentTokens) await this.loadFromRow();
    return this.currentTokens;
  }

  /** Takes the row's tokens when they are usable and not the ones this provider holds; true when it did. */
  private async loadFromRow(): Promise<boolean> {
    const { store, workspaceId, url, server } = this.init;
    const row = await store.read(workspaceId, url);
    if (!row?.tokensSealed || row.status === "failed" || (this.currentSealed && row.tokensSealed.equals(this.currentSealed))) return false;
    const key = store.requireKey(server);
    this.currentTokens = openJson<OAuthTokens>(key, row.tokensSealed, mcpOauthPlace(workspaceId, url, "tokens"), server, "tokens");
    this.currentSealed = row.tokensSealed;
    this.generation = row.generation;
    if (row.clientSealed) {
      this.client = openJson<OAuthClientInformationMixed>(key, row.clientSealed, mcpOauthPlace(workspaceId, url, "client"), server, "client");
    }
    return true;
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const { store, workspaceId, url, server } = this.init;
    const key = store.requireKey(server);
    // a refresh answer may leave the refresh token out: the old one stays valid (RFC 6749 6)
    const merged: OAuthTokens = {
      ...tokens,
      ...(tokens.refresh_token === undefined && this.currentTokens?.refresh_token && { refresh_token: this.currentTokens.refresh_token }),
    };
    const sealed = sealSecret(key, JSON.stringify(merged), mcpOauthPlace(workspaceId, url, "tokens"));
    const clientSealed = this.clientChanged ? sealSecret(key, JSON.stringify(this.client), mcpOauthPlace(workspaceId, url, "client")) : null;
    const expiresIn = typeof merged.expires_in === "number" && Number.isFinite(merged.expires_in) ? merged.expires_in : null;
    this.currentTokens = merged;
    this.currentSealed = sealed;
    this.reread = false;
    this.freshUntil = Date.now() + (expiresIn ?? 60) * 1000;
    const saving = storeMcpOauthTokens(store.db, {
      workspaceId,
      serverUrl: url,
      generation: this.generation,
      tokensSealed: sealed,
      clientSealed,
      expiresIn,
    });
    this.saving = saving.catch(() => undefined);
    // Not stored, the rotated refresh token would be lost with this process, and the next worker
    // would find the connection's refresh token refused: the call fails (and is retried) instead.
    const stored = await saving;
    if (!stored)
      store.log.info(
        `mcp ${server}: the workspace's connection to ${url} changed meanwhile (connected again or disconnected); its refreshed tokens were not stored`,
      );
    else this.clientChanged = false;
  }

  redirectToAuthorization(): never {
    // reached when a refresh could not be made: refused (invalidateCredentials threw first), or
    // the authorization server failed (a 5xx, an answer that is not OAuth): worth a retry
    if (this.currentTokens?.refresh_token) {
      throw new TransientToolError(
        `MCP server ${this.init.server}: its OAuth tokens could not be refreshed (the authorization server did not answer properly)`,
        {
          code: "mcp_oauth_refresh",
          notDelivered: true,
        },
      );
    }
    throw new McpOauthRequiredError(this.init.server);
  }

  saveCodeVerifier(): void {
    // the worker never starts an authorization (redirectToAuthorization throws next)
  }

  codeVerifier(): never {
    throw new McpOauthRequiredError(this.init.server);
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.discovery = state;
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.discovery;
  }

  /**
   * The SDK's answer to a refused refresh ('tokens': invalid_grant; 'all': invalid_client): read
   * the row again once (another worker may hold the current tokens); else mark it failed and fail.
   */
  async invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): Promise<void> {
    if (scope === "verifier" || scope === "discovery") {
      if (scope === "discovery") this.discovery = undefined;
      return;
    }
    const { store, workspaceId, url, server } = this.init;
    if (scope === "tokens") {
      await this.saving; // a concurrent call's refresh, stored first
      if (Date.now() < this.freshUntil) {
        this.freshUntil = 0;
        store.log.info(`mcp ${server}: a refresh was refused right after another call of this worker refreshed; using the new tokens`);
        return; // the SDK tries again with them
      }
    }
    if (!this.reread) {
      this.reread = true;
      if (await this.loadFromRow()) {
        store.log.info(`mcp ${server}: its refresh was refused, and another worker had stored newer tokens; using those`);
        return; // the SDK tries again with them
      }
    }
    const why = scope === "tokens" ? "the authorization server refused its refresh token" : "the authorization server refused its OAuth client";
    if (this.currentSealed) {
      await failMcpOauthTokens(store.db, workspaceId, url, this.currentSealed, why).catch((error: unknown) =>
        store.log.warn(`mcp ${server}: could not mark its OAuth connection failed: ${(error as Error).message}`),
      );
    }
    this.currentTokens = undefined;
    this.currentSealed = null;
    throw new McpOauthRequiredError(server, why);
  }
}
