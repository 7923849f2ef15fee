// The MCP servers of a workspace's agents that require OAuth (issue 17), from each agent's current
// config: its `tools` entries `{"type": "mcp", "url": …, "oauth": true | {scopes, client_id,
// client_secret}}`, one entry per server URL (canonical, `new URL(url).href`, as the API keeps a
// connection: db/sql/mcpOauth.ts canonicalMcpUrl), with the agents that use it and what a connect
// asks for (the first agent's oauth object that names any). Pure: the page and its tests use it.

/** One agent's use of an OAuth MCP server. */
export interface OauthServerUse {
  agentId: string;
  agentName: string;
  /** the server's name in the agent's config (its tools' prefix) */
  server: string;
}

export interface OauthServer {
  /** canonical URL: the connection's key */
  url: string;
  uses: OauthServerUse[];
  /** what connectMcpServer is given (from the config's oauth object) */
  scopes: string[] | null;
  clientId: string | null;
  clientSecretName: string | null;
}

/** `new URL(url).href`, or null for what is no URL. */
export function canonicalUrl(url: string): string | null {
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The OAuth MCP servers of `agents` (their current configs), by URL. */
export function oauthServersOf(agents: ReadonlyArray<{ id: string; name: string; config: unknown }>): OauthServer[] {
  const byUrl = new Map<string, OauthServer>();
  for (const agent of agents) {
    const tools = isRecord(agent.config) && Array.isArray(agent.config.tools) ? agent.config.tools : [];
    for (const tool of tools) {
      if (!isRecord(tool) || tool.type !== "mcp" || typeof tool.url !== "string") continue;
      const oauth = tool.oauth;
      if (oauth === undefined || oauth === false || oauth === null) continue;
      const url = canonicalUrl(tool.url);
      if (!url) continue;
      let entry = byUrl.get(url);
      if (!entry) {
        entry = { url, uses: [], scopes: null, clientId: null, clientSecretName: null };
        byUrl.set(url, entry);
      }
      entry.uses.push({ agentId: agent.id, agentName: agent.name, server: typeof tool.name === "string" ? tool.name : "" });
      if (isRecord(oauth)) {
        if (entry.scopes === null && Array.isArray(oauth.scopes)) entry.scopes = oauth.scopes.filter((s): s is string => typeof s === "string");
        if (entry.clientId === null && typeof oauth.client_id === "string") {
          entry.clientId = oauth.client_id;
          const secret = isRecord(oauth.client_secret) && typeof oauth.client_secret.secret === "string" ? oauth.client_secret.secret : null;
          entry.clientSecretName = secret;
        }
      }
    }
  }
  return [...byUrl.values()].sort((a, b) => a.url.localeCompare(b.url));
}
