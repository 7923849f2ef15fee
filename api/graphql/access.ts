// Who may do what over GraphQL. Every operation runs for a verified API key (api/auth.ts):
//
// - HTTP: the express middleware authenticated the request before grafserv saw it.
// - Websockets: the key comes in the graphql-ws connection_init payload
//   (`{"authorization": "Bearer evr_…"}`), or in the upgrade request's Authorization header (the
//   console's server adds it from its session cookie). Without a valid one the socket is closed
//   with 4401 and the reason.
//
// The key's workspace and role go into the Grafast context, and into pgSettings: PostGraphile
// runs each operation in a transaction as role everruns_api with everruns.workspace_id set, so
// row-level security confines every query to the key's workspace.
//
// Roles: queries and subscriptions need any key (viewer); the run mutations (startRun,
// cancelRun, resumeRun, sendEvent, rerunRun), the batch mutations (createBatch and its controls), pausing and
// resuming schedules, triggerAgent, test webhook deliveries, resending notifications and connecting and
// disconnecting MCP servers (connectMcpServer, disconnectMcpServer) and setting and deleting model prices
// (setModelPrice, deleteModelPrice) operator; every other
// mutation (agents, secrets, keys, creating, changing and deleting schedules, webhooks and notification endpoints) and the
// apiKeys and secrets queries admin. A mutation not listed is admin's: a new one is closed until it is listed.
import type { IncomingMessage } from "node:http";
import { context, sideEffect, type Step } from "postgraphile/grafast";
import { wrapPlans } from "postgraphile/utils";
import type { ApiKeyRole } from "../../lib/api-key.ts";
import { authOf, requireRole, workspaceSettings, type Auth, type Authenticator } from "../auth.ts";

const OPERATOR_MUTATIONS = new Set([
  "startRun",
  "cancelRun",
  "resumeRun",
  "sendEvent",
  "rerunRun",
  // workflows (000034)
  "sendEventByKey",
  "redriveRun",
  "createBatch",
  "startBatch",
  "pauseBatch",
  "resumeBatch",
  "cancelBatch",
  "setBatchParallel",
  "retryFailedItems",
  // triggers (triggers.ts): creating, changing and deleting them is admin's
  "pauseSchedule",
  "resumeSchedule",
  "triggerAgent",
  "sendTestWebhookDelivery",
  "resendNotification",
  // OAuth connections to MCP servers (mcp-oauth.ts), as REST's POST /api/mcp/oauth/connect and DELETE /api/mcp/oauth
  "connectMcpServer",
  "disconnectMcpServer",
]);
const ADMIN_QUERIES = new Set(["apiKeys", "secrets"]);

/** The role a root field needs, or null for any key. */
export function roleForField(typeName: string, fieldName: string): ApiKeyRole | null {
  if (typeName === "Mutation") return OPERATOR_MUTATIONS.has(fieldName) ? "operator" : "admin";
  if (typeName === "Query") return ADMIN_QUERIES.has(fieldName) ? "admin" : null;
  return null;
}

/** Adds a role check in front of every root field that needs more than a viewer. */
export const FieldRolesPlugin = wrapPlans(
  (ctx) => {
    const typeName = ctx.Self.name;
    const fieldName = ctx.scope.fieldName;
    const needs = roleForField(typeName, fieldName);
    return needs ? { needs, what: `${typeName === "Mutation" ? "the mutation" : "the field"} ${fieldName}` } : null;
  },
  ({ needs, what }) =>
    (plan) => {
      sideEffect(context().get("everrunsAuth"), (auth) => {
        if (!auth) return; // the schema export: nothing runs
        requireRole(auth, needs, what);
      });
      return plan() as Step;
    },
);

interface RequestContextLike {
  expressv4?: { req: IncomingMessage };
  node?: { req: IncomingMessage };
  ws?: {
    request: IncomingMessage;
    socket: { close(code: number, reason: string): void };
    normalizedConnectionParams?: Record<string, string | string[]>;
  };
}

/** The identity of a GraphQL request (HTTP: set by the middleware; websockets: verified here). */
export async function authOfGraphqlRequest(requestContext: RequestContextLike, authenticator: Authenticator): Promise<Auth> {
  const http = requestContext.expressv4?.req ?? requestContext.node?.req;
  if (http) return authOf(http);
  const ws = requestContext.ws;
  if (!ws) throw new Error("a GraphQL request from neither HTTP nor a websocket");
  try {
    return await authenticator.authenticate(ws.normalizedConnectionParams?.authorization ?? ws.request.headers.authorization);
  } catch (error) {
    // a websocket close reason is at most 123 bytes
    ws.socket.close(4401, `Unauthorized: ${(error as Error).message}`.slice(0, 120));
    throw error;
  }
}

/** The Grafast context of a request: its identity, and the settings its transactions run with. */
export async function graphqlContext(
  requestContext: RequestContextLike,
  authenticator: Authenticator,
): Promise<{ everrunsAuth: Auth; pgSettings: Record<string, string> }> {
  const auth = await authOfGraphqlRequest(requestContext, authenticator);
  return { everrunsAuth: auth, pgSettings: workspaceSettings(auth) };
}
