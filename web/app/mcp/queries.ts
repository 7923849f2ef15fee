// The GraphQL documents of the console's MCP views (issue 17): the workspace's MCP servers (one
// row per agent × server of everruns.mcp_servers: the latest listing's status, the latest
// successful list's tools, the latest error), and a run's MCP side (the tool lists it pinned, one
// per server, and the MCP calls it dispatched, everruns.tool_dispatches). Checked and typed by
// graphql-codegen like web/app/webhooks/queries.ts. Page sizes are literals: the API's cost limit
// (api/graphql/limits.ts) counts a page size given by a variable as its maximum.
import { graphql } from "@/lib/gql";

export const MCP_SERVERS_QUERY = graphql(`
  query McpServers {
    allMcpServers(first: 500, orderBy: [SERVER_ASC, AGENT_NAME_ASC, AGENT_ID_ASC]) {
      totalCount
      nodes {
        nodeId
        agentId
        agentName
        server
        endpoint
        status
        tools
        toolCount
        listedAt
        lastError
        lastErrorAt
        pinnedRuns
      }
    }
  }
`);

/**
 * A run's pinned tool lists and its MCP dispatches. A dispatch is keyed by the run whose LLM turn
 * made the call: a continuation that calls again after an answer updates its parent's row, so the
 * run page asks for its parent's too (`parentId`; the run's own id again when it has none).
 */
export const RUN_MCP_QUERY = graphql(`
  query RunMcp($id: UUID!, $parentId: UUID!) {
    allRunMcpTools(condition: { runId: $id }, first: 100, orderBy: [SERVER_ASC]) {
      nodes {
        server
        pinnedAt
        listId
        mcpToolListByListId {
          id
          endpoint
          fetchedAt
          tools
        }
      }
    }
    own: allToolDispatches(condition: { runId: $id }, first: 200) {
      nodes {
        runId
        toolCallId
        toolName
        dispatches
        state
        lastDispatchedAt
        authorizedBy
        lastRunId
      }
    }
    parent: allToolDispatches(condition: { runId: $parentId }, first: 200) {
      nodes {
        runId
        toolCallId
        toolName
        dispatches
        state
        lastDispatchedAt
        authorizedBy
        lastRunId
      }
    }
  }
`);

/**
 * OAuth connections (issue 17): every agent's current config (its `{"type": "mcp", "oauth": …}`
 * servers, web/app/mcp/oauth-servers.ts) and the workspace's connections (no secrets), matched by
 * the server's canonical URL.
 */
export const MCP_OAUTH_QUERY = graphql(`
  query McpOauth {
    allAgents(orderBy: NAME_ASC, first: 1000) {
      nodes {
        id
        name
        config
      }
    }
    allMcpOauthConnections(orderBy: [SERVER_URL_ASC], first: 500) {
      nodes {
        nodeId
        serverUrl
        status
        scopes
        clientId
        expiresAt
        connectedAt
        connectedBy
        lastRefreshedAt
        lastError
        updatedAt
      }
    }
  }
`);

/** Begins a connect: the console then sends the browser to authorizationUrl (operator's). */
export const CONNECT_MCP_SERVER = graphql(`
  mutation ConnectMcpServer($input: ConnectMcpServerInput!) {
    connectMcpServer(input: $input) {
      url
      authorizationUrl
      expiresAt
    }
  }
`);

/** Forgets the workspace's connection and its tokens (operator's). */
export const DISCONNECT_MCP_SERVER = graphql(`
  mutation DisconnectMcpServer($input: DisconnectMcpServerInput!) {
    disconnectMcpServer(input: $input) {
      disconnected
      url
    }
  }
`);
