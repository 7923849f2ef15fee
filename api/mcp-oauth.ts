// OAuth connections of a workspace to MCP servers that require it (issue 17; 000028). An agent's
// `{"type": "mcp", "url": …, "oauth": true}` server is used with the workspace's tokens; an
// operator connects the workspace once:
//
//   POST   /api/mcp/oauth/connect {url, scopes?, client_id?, client_secret_name?}   operator
//          → 201 {authorization_url, state, expires_at}: open authorization_url in a browser
//   GET    /api/mcp/oauth/callback?code&state        no API key: the state is the credential
//          → 200 HTML "Connected <url> for workspace <name>. You can close this tab.", or an
//            HTML error page (400: unknown or expired state, the authorization server's error;
//            502: the code exchange failed)
//   GET    /api/mcp/oauth                            viewer → {connections: [...]} (no secrets)
//   DELETE /api/mcp/oauth?url=<url>                   operator → {disconnected: true} | 404
//
// The connect discovers the server's authorization server (RFC 9728 / RFC 8414), registers a
// client dynamically where it offers it (else client_id and the secret named
// client_secret_name), and starts an authorization-code flow with PKCE, all through the SDK's
// auth() with every request through the egress guard (its sdkFetch). The state (32 random bytes)
// is the callback's only credential, valid 10 minutes (the database clock); the PKCE verifier
// and the client are stored sealed (lib/secret-box.ts, bound to the workspace and the URL), the
// tokens too once the callback exchanged the code. Nothing sealed, no token and no state ever
// leaves in an answer but the connect's own (its state, which its authorization_url holds anyway).
//
// The callback URL is EVERRUNS_PUBLIC_URL + /api/mcp/oauth/callback when set (the API behind a
// proxy: its public origin), else the connect request's own origin. Unknown or expired states
// count as failed authentications of the client's address (api/rate-limit.ts).
//
// Mounted before /api's authentication (the callback takes no key): the other routes
// authenticate themselves with the `authenticate` middleware they are given.
//
// The connect and the disconnect are McpOauthOperations, shared with GraphQL's connectMcpServer
// and disconnectMcpServer (api/graphql/mcp-oauth.ts: the console's Connect button). Through the
// console's /graphql proxy (scripts/web-server.ts) the request's origin is the API's address as
// the console's server calls it: a deployment whose browsers reach the API elsewhere (or not at
// all but through a proxy) sets EVERRUNS_PUBLIC_URL, or the authorization server redirects the
// browser to an address it cannot open.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { OAuthClientProvider } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import express, { Router, type Request, type RequestHandler, type Response } from "express";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { withTransaction, type Pool } from "../db/pool.ts";
import {
  beginMcpOauth,
  canonicalMcpUrl,
  completeMcpOauth,
  disconnectMcpOauth,
  failMcpOauthFlow,
  listMcpOauthConnections,
  mcpOauthByState,
  mcpOauthClientSecret,
  mcpOauthPlace,
} from "../db/sql/mcpOauth.ts";
import type { Logger } from "../lib/logger.ts";
import { openSecret, SECRET_KEY_ENV, SecretNameSchema, sealSecret, secretKeyFromEnv } from "../lib/secret-box.ts";
import { authOf, requireRole, withWorkspace, API_DATABASE_ROLE, type Auth } from "./auth.ts";
import { HttpStatusError, parseBody, parseQuery } from "./http-errors.ts";
import { clientAddress, type ApiRateLimits } from "./rate-limit.ts";

/** The API's public origin (behind a proxy), for the OAuth callback URL. */
export const PUBLIC_URL_ENV = "EVERRUNS_PUBLIC_URL";
export const MCP_OAUTH_PATH = "/api/mcp/oauth";
export const MCP_OAUTH_CALLBACK_PATH = `${MCP_OAUTH_PATH}/callback`;
/** How long a connect's discovery, registration and token exchange may take. */
const OUTBOUND_TIMEOUT_MS = 30_000;

/** What the connect, the callback and the disconnect need (REST and GraphQL alike). */
export interface McpOauthOperationsDeps {
  pool: Pool;
  log: Logger;
  /** EVERRUNS_SECRET_KEY (default: from the environment); none: connect and callback answer 503 */
  secretKey?: Buffer | null | undefined;
  /** EVERRUNS_PUBLIC_URL (default: from the environment) */
  publicUrl?: string | undefined;
  /** the egress guard's fetch (default: the process's guard, loaded on first use) */
  fetchFn?: FetchLike;
}

export interface McpOauthDeps extends McpOauthOperationsDeps {
  /** /api's authentication (the callback goes without it) */
  authenticate: RequestHandler;
  /** failed callbacks count as failed authentications of the client's address */
  limits?: ApiRateLimits | undefined;
  /** the operations to use (default: made from these deps); the API shares one with GraphQL */
  operations?: McpOauthOperations;
}

/** A connect's arguments (REST's body; GraphQL's input under its own names, mapped onto these). */
export const ConnectInput = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "must be the MCP server's http:// or https:// URL" }).max(2000),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/, "must be an OAuth scope (printable characters, no spaces, quotes or backslashes)"))
    .max(64)
    .optional(),
  client_id: z.string().min(1).max(1000).optional(),
  client_secret_name: SecretNameSchema.optional(),
});

export type McpOauthConnectInput = z.output<typeof ConnectInput>;

/** What a connect answers: open authorizationUrl in the browser (valid until expiresAt). */
export interface McpOauthConnectAnswer {
  /** the server's URL as the connection is kept (canonical: new URL(url).href) */
  url: string;
  authorizationUrl: string;
  state: string;
  expiresAt: string;
}

const CallbackQuery = z.object({
  state: z.string().max(200).optional(),
  code: z.string().max(4096).optional(),
  error: z.string().max(200).optional(),
  error_description: z.string().max(2000).optional(),
});

const UrlQuery = z.object({ url: z.string().min(1).max(2000) });

class CapturingProvider implements OAuthClientProvider {
  readonly redirectTo: string;
  readonly scope: string | undefined;
  client: OAuthClientInformationMixed | undefined;
  clientChanged = false;
  authorizationUrl: URL | undefined;
  verifier: string | undefined;
  savedTokens: OAuthTokens | undefined;
  private readonly stateValue: string | undefined;

  constructor(init: { redirectTo: string; scope?: string | undefined; client?: OAuthClientInformationMixed | undefined; state?: string; verifier?: string }) {
    this.redirectTo = init.redirectTo;
    this.scope = init.scope;
    this.client = init.client;
    this.stateValue = init.state;
    this.verifier = init.verifier;
  }
  get redirectUrl(): string {
    return this.redirectTo;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "Everruns",
      redirect_uris: [this.redirectTo],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(this.scope !== undefined && { scope: this.scope }),
    };
  }
  state(): string {
    return this.stateValue ?? "";
  }
  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
    this.clientChanged = true;
  }
  tokens(): undefined {
    return undefined;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.savedTokens = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    if (!this.verifier) throw new Error("no PKCE code verifier was stored for this connect");
    return this.verifier;
  }
}

/**
 * The connect and the disconnect of a workspace, for REST (mcpOauthRouter) and GraphQL
 * (api/graphql/mcp-oauth.ts) alike; the callback uses its key and egress fetch.
 */
export class McpOauthOperations {
  private readonly deps: McpOauthOperationsDeps;
  private keyLoaded = false;
  private key: Buffer | null = null;
  private fetchPromise: Promise<FetchLike> | undefined;

  constructor(deps: McpOauthOperationsDeps) {
    this.deps = deps;
  }

  /** EVERRUNS_SECRET_KEY, or a 503 naming it. */
  secretKey(): Buffer {
    if (!this.keyLoaded) {
      this.key = (this.deps.secretKey === undefined ? secretKeyFromEnv() : this.deps.secretKey) ?? null;
      this.keyLoaded = true;
    }
    if (!this.key) {
      throw new HttpStatusError(
        503,
        "secrets_unavailable",
        `${SECRET_KEY_ENV} is not set on the API: it seals OAuth tokens; set the same key as on the workers`,
      );
    }
    return this.key;
  }

  /** The egress guard's fetch (lib/egress/guard.ts; loaded on the first connect or callback). */
  fetchFn(): Promise<FetchLike> {
    if (this.deps.fetchFn) return Promise.resolve(this.deps.fetchFn);
    // every discovery, registration and token request is checked against EVERRUNS_EGRESS_ALLOW as the workers' are
    this.fetchPromise ??= import("../lib/egress/guard.ts").then((m) => {
      const guard = m.defaultEgressGuard();
      // undici's Response is another class than this realm's: the SDK reads OAuth error bodies only of a `Response`
      return async (input: string | URL, init?: RequestInit) => asGlobalResponse(await guard.sdkFetch(input, init));
    });
    return this.fetchPromise;
  }

  /** EVERRUNS_PUBLIC_URL (the deps' or the environment's), if set. */
  publicUrl(): string | undefined {
    const url = (this.deps.publicUrl ?? process.env[PUBLIC_URL_ENV])?.trim();
    return url || undefined;
  }

  /** The callback URL for a connect requested at `origin` (EVERRUNS_PUBLIC_URL first). */
  callbackUrl(origin: string): string {
    return callbackUrl(origin, this.publicUrl());
  }

  /**
   * Begins connecting the key's workspace to the MCP server `input.url`: discovery, dynamic
   * registration (or the given client), PKCE; the flow is stored (pending) and its authorization
   * URL answered. `origin`: the requesting origin (the callback's, unless EVERRUNS_PUBLIC_URL).
   */
  async connect(auth: Auth, input: McpOauthConnectInput, origin: string): Promise<McpOauthConnectAnswer> {
    const { pool, log } = this.deps;
    requireRole(auth, "operator", "connecting the workspace to an MCP server");
    if (input.client_secret_name && !input.client_id) {
      throw new ValidationError("invalid MCP OAuth connect: client_secret_name needs client_id (the client the secret belongs to)");
    }
    // The secret is sent to the token endpoint the server's metadata names: naming one is reading
    // it, which only an admin may (secrets are write-only to everyone else)
    if (input.client_secret_name) requireRole(auth, "admin", "connecting with a client secret from the workspace's secrets");
    const key = this.secretKey();
    const url = canonicalMcpUrl(input.url);
    const redirectTo = this.callbackUrl(origin);
    let client: OAuthClientInformationMixed | undefined;
    if (input.client_id) {
      let secret: string | undefined;
      if (input.client_secret_name) {
        const name = input.client_secret_name;
        const sealed = await withWorkspace(pool, auth, (db) => mcpOauthClientSecret(db, name));
        if (!sealed) throw new ValidationError(`secret "${name}" is not set in this workspace (everruns secrets set ${name})`);
        secret = openSecret(key, sealed, { workspaceId: auth.workspaceId, name });
      }
      client = { client_id: input.client_id, ...(secret !== undefined && { client_secret: secret }) };
    }
    const state = randomBytes(32).toString("base64url");
    const provider = new CapturingProvider({ redirectTo, scope: input.scopes?.join(" ") || undefined, client, state });
    const sdkAuth = (await import("@modelcontextprotocol/sdk/client/auth.js")).auth;
    try {
      const result = await withTimeout(
        sdkAuth(provider, { serverUrl: url, ...(input.scopes?.length && { scope: input.scopes.join(" ") }), fetchFn: await this.fetchFn() }),
        `the authorization server of ${url} did not answer within ${OUTBOUND_TIMEOUT_MS / 1000} s`,
      );
      if (result !== "REDIRECT" || !provider.authorizationUrl || !provider.verifier) {
        throw new Error("the SDK did not start an authorization");
      }
    } catch (error) {
      throw outboundError(error, url);
    }
    const clientSealed = provider.client ? sealSecret(key, JSON.stringify(provider.client), mcpOauthPlace(auth.workspaceId, url, "client")) : null;
    const verifierSealed = sealSecret(key, provider.verifier, mcpOauthPlace(auth.workspaceId, url, "verifier"));
    const expiresAt = await withWorkspace(pool, auth, (db) =>
      beginMcpOauth(db, {
        serverUrl: url,
        scopes: input.scopes ?? [],
        clientId: provider.client?.client_id ?? null,
        clientSealed,
        verifierSealed,
        state,
        redirectUri: redirectTo,
      }),
    );
    log.info(`mcp oauth: workspace ${auth.workspaceName} began connecting ${url} (key ${auth.keyId})`);
    return { url, authorizationUrl: provider.authorizationUrl.href, state, expiresAt };
  }

  /**
   * Forgets the key's workspace's connection to `rawUrl` (its tokens with it): disconnected false
   * when there was none (REST answers 404 then).
   */
  async disconnect(auth: Auth, rawUrl: string): Promise<{ disconnected: boolean; url: string }> {
    const { pool, log } = this.deps;
    requireRole(auth, "operator", "disconnecting the workspace from an MCP server");
    let url: string;
    try {
      url = canonicalMcpUrl(rawUrl);
    } catch {
      throw new ValidationError("invalid MCP OAuth disconnect: url must be the MCP server's URL");
    }
    const gone = await withWorkspace(pool, auth, (db) => disconnectMcpOauth(db, url));
    if (gone) log.info(`mcp oauth: workspace ${auth.workspaceName} disconnected ${url} (key ${auth.keyId})`);
    return { disconnected: gone, url };
  }
}

export function mcpOauthRouter(deps: McpOauthDeps): Router {
  const router = Router();
  const { pool, log } = deps;
  const json = express.json({ limit: "64kb" });
  const operations = deps.operations ?? new McpOauthOperations(deps);
  const secretKey = () => operations.secretKey();
  const fetchFn = () => operations.fetchFn();
  const sdkAuth = async () => (await import("@modelcontextprotocol/sdk/client/auth.js")).auth;

  router.post(`${MCP_OAUTH_PATH}/connect`, deps.authenticate, json, async (req, res, next) => {
    try {
      const auth = authOf(req);
      requireRole(auth, "operator", "connecting the workspace to an MCP server");
      const input = parseBody(req, ConnectInput, "MCP OAuth connect");
      const answer = await operations.connect(auth, input, requestOrigin(req));
      res.status(201).json({ authorization_url: answer.authorizationUrl, state: answer.state, expires_at: answer.expiresAt });
    } catch (error) {
      next(error);
    }
  });

  router.get(MCP_OAUTH_CALLBACK_PATH, async (req, res) => {
    res.set({
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      "x-content-type-options": "nosniff",
    });
    const address = clientAddress(req);
    try {
      if (deps.limits) {
        const blocked = await deps.limits.authBlocked(address);
        if (blocked) {
          res.set("Retry-After", String(blocked.retryAfterSeconds));
          return page(res, 429, "Too many attempts", blocked.message);
        }
      }
      const parsed = CallbackQuery.safeParse(req.query ?? {});
      const query = parsed.success ? parsed.data : {};
      const state = query.state ?? "";
      const flow = state.length >= 43 ? await asApi(pool, (db) => mcpOauthByState(db, state)) : null;
      if (!flow) {
        await deps.limits?.authFailed(address);
        return page(res, 400, "Connection failed", "This connect link is unknown, already used or expired (it is valid 10 minutes). Press Connect again.");
      }
      if (query.error) {
        const why = `the authorization server answered ${query.error}${query.error_description ? `: ${query.error_description}` : ""}`;
        await asApi(pool, (db) => failMcpOauthFlow(db, state, why));
        return page(res, 400, "Connection failed", `Connecting ${flow.serverUrl} for workspace ${flow.workspaceName} failed: ${why}.`);
      }
      if (!query.code) {
        await deps.limits?.authFailed(address);
        return page(res, 400, "Connection failed", "The authorization server sent no code. Press Connect again.");
      }
      const key = secretKey();
      if (!flow.verifierSealed || !flow.redirectUri) return page(res, 400, "Connection failed", "This connect has no PKCE verifier. Press Connect again.");
      const verifier = openSecret(key, flow.verifierSealed, mcpOauthPlace(flow.workspaceId, flow.serverUrl, "verifier"));
      const client = flow.clientSealed
        ? (JSON.parse(openSecret(key, flow.clientSealed, mcpOauthPlace(flow.workspaceId, flow.serverUrl, "client"))) as OAuthClientInformationMixed)
        : undefined;
      const provider = new CapturingProvider({ redirectTo: flow.redirectUri, client, verifier });
      try {
        const auth = await sdkAuth();
        await withTimeout(
          auth(provider, { serverUrl: flow.serverUrl, authorizationCode: query.code, fetchFn: await fetchFn() }),
          `the authorization server of ${flow.serverUrl} did not answer within ${OUTBOUND_TIMEOUT_MS / 1000} s`,
        );
        if (!provider.savedTokens) throw new Error("the authorization server answered no tokens");
      } catch (error) {
        const mapped = outboundError(error, flow.serverUrl);
        await asApi(pool, (db) => failMcpOauthFlow(db, state, `exchanging the code failed: ${mapped.message}`)).catch(() => undefined);
        log.warn(`mcp oauth: the code exchange of ${flow.serverUrl} (workspace ${flow.workspaceName}) failed: ${mapped.message}`);
        return page(
          res,
          502,
          "Connection failed",
          `Connecting ${flow.serverUrl} for workspace ${flow.workspaceName} failed: ${mapped.message}. Press Connect again.`,
        );
      }
      const tokens = provider.savedTokens;
      const tokensSealed = sealSecret(key, JSON.stringify(tokens), mcpOauthPlace(flow.workspaceId, flow.serverUrl, "tokens"));
      const clientSealed =
        provider.clientChanged && provider.client
          ? sealSecret(key, JSON.stringify(provider.client), mcpOauthPlace(flow.workspaceId, flow.serverUrl, "client"))
          : null;
      const expiresIn = typeof tokens.expires_in === "number" && Number.isFinite(tokens.expires_in) ? tokens.expires_in : null;
      const done = await asApi(pool, (db) => completeMcpOauth(db, { state, tokensSealed, clientSealed, expiresIn }));
      if (!done) return page(res, 400, "Connection failed", "This connect expired while the code was exchanged. Press Connect again.");
      log.info(`mcp oauth: workspace ${flow.workspaceName} connected ${flow.serverUrl}`);
      return page(res, 200, "Connected", `Connected ${flow.serverUrl} for workspace ${flow.workspaceName}. You can close this tab.`);
    } catch (error) {
      if (error instanceof HttpStatusError) return page(res, error.status, "Connection failed", error.message);
      log.error(`mcp oauth: callback failed: ${(error as Error).stack ?? String(error)}`);
      return page(res, 500, "Connection failed", "The connect could not be completed (the server log has the details). Press Connect again.");
    }
  });

  router.get(MCP_OAUTH_PATH, deps.authenticate, async (req, res, next) => {
    try {
      const auth = authOf(req);
      requireRole(auth, "viewer", "listing the workspace's MCP OAuth connections");
      const connections = await withWorkspace(pool, auth, (db) => listMcpOauthConnections(db));
      res.json({ connections });
    } catch (error) {
      next(error);
    }
  });

  router.delete(MCP_OAUTH_PATH, deps.authenticate, async (req, res, next) => {
    try {
      const auth = authOf(req);
      requireRole(auth, "operator", "disconnecting the workspace from an MCP server");
      const { url: raw } = parseQuery(req, UrlQuery, "MCP OAuth disconnect");
      const { disconnected, url } = await operations.disconnect(auth, raw);
      if (!disconnected) throw new NotFoundError(`this workspace has no OAuth connection to ${url}`);
      res.json({ disconnected: true, url });
    } catch (error) {
      next(error);
    }
  });

  return router;
}

/**
 * A request's own origin, as express gives it (`req.protocol`: https behind a proxy that says so
 * when express trusts it) with its Host header; a bare node request (no express): http, or https
 * on a TLS socket.
 */
export function requestOrigin(req: IncomingMessage | Request): string {
  const protocol = (req as Partial<Request>).protocol ?? ((req.socket as { encrypted?: boolean } | undefined)?.encrypted ? "https" : "http");
  const host = req.headers.host;
  return `${protocol}://${typeof host === "string" && host ? host : "localhost"}`;
}

/** The callback URL: EVERRUNS_PUBLIC_URL's origin and path prefix, else the request's own origin. */
function callbackUrl(origin: string, publicUrl: string | undefined): string {
  if (publicUrl && publicUrl.trim()) {
    const base = new URL(publicUrl.trim());
    return new URL(`${base.pathname.replace(/\/+$/, "")}${MCP_OAUTH_CALLBACK_PATH}`, base.origin).href;
  }
  return new URL(MCP_OAUTH_CALLBACK_PATH, origin).href;
}

/** A transaction as the API's role with no workspace: the callback's security-definer functions. */
async function asApi<T>(pool: Pool, fn: (db: Parameters<Parameters<typeof withTransaction>[1]>[0]) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query("select set_config('role', $1, true)", [API_DATABASE_ROLE]);
    return fn(client);
  });
}

function withTimeout<T>(promise: Promise<T>, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(message)), OUTBOUND_TIMEOUT_MS);
      timer.unref();
    }),
  ]);
}

/** An outbound failure of a connect or callback, as a 400 (refused by the egress guard) or 502 (the server's failure). */
function outboundError(error: unknown, url: string): HttpStatusError {
  if (error instanceof HttpStatusError) return error;
  const message = ((error as Error | undefined)?.message ?? String(error)).slice(0, 500);
  // the egress guard's refusal, anywhere in the cause chain (fetch and the SDK wrap it)
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current && typeof current === "object"; depth++) {
    const name = (current as { name?: unknown }).name;
    if (name === "EgressRefusedError" || name === "EgressRedirectError") {
      return new HttpStatusError(400, "egress_refused", `${url}: ${(current as Error).message} (the API's EVERRUNS_EGRESS_ALLOW decides what it may reach)`);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return new HttpStatusError(502, "oauth_failed", `the OAuth flow of ${url} failed: ${message}`);
}

/** What a Response of another realm (undici's) offers. */
interface ResponseLike {
  status: number;
  statusText: string;
  headers: { entries(): IterableIterator<[string, string]> };
  body: ReadableStream<Uint8Array> | null;
}

/** `response` as this realm's Response: status, headers and the body stream kept. */
function asGlobalResponse(response: globalThis.Response | ResponseLike): globalThis.Response {
  if (response instanceof globalThis.Response) return response;
  const nullBody = response.status === 101 || response.status === 204 || response.status === 205 || response.status === 304;
  return new globalThis.Response(nullBody ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers.entries()],
  });
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A small HTML page (everything escaped). */
function page(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .type("html")
    .send(
      `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)} · Everruns</title></head>` +
        `<body style="font-family: system-ui, sans-serif; margin: 3rem auto; max-width: 40rem">` +
        `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`,
    );
}
