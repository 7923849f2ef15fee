// OAuth connections to MCP servers over GraphQL (issue 17): the console's Connect and Disconnect
// buttons. The connections themselves are read with Query.allMcpOauthConnections (the table,
// read-only, no secrets); this file adds two mutations (operator's: api/graphql/access.ts), each
// the very operation REST's routes run (api/mcp-oauth.ts, McpOauthOperations):
//
//   connectMcpServer(input: {url, scopes, clientId, clientSecretName})
//     → {url, authorizationUrl, state, expiresAt}: the browser opens authorizationUrl; the
//       authorization server sends it back to the API's callback (GET /api/mcp/oauth/callback),
//       which completes the connection and answers "Connected …".
//   disconnectMcpServer(input: {url}) → {disconnected, url}: false when there was no connection.
//
// The callback URL is EVERRUNS_PUBLIC_URL's when set, else the request's origin. Through the
// console's /graphql proxy that origin is the API's address as the console's server calls it
// (EVERRUNS_WEB_API_URL): set EVERRUNS_PUBLIC_URL on the API when browsers reach it elsewhere.
// The origin comes from the Grafast context (`everrunsOrigin`, set in api/graphql/preset.ts).
//
// Neither runs in PostGraphile's transaction: the connect talks to the authorization server
// (up to 30 s) and runs its own short transactions under the key (withWorkspace), as REST does.
import { access, context, sideEffect, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";
import { z } from "zod";
import { ValidationError } from "../../db/errors.ts";
import { ConnectInput, McpOauthOperations, type McpOauthOperationsDeps } from "../mcp-oauth.ts";

// the global Grafast namespace is augmented with namespace syntax (as grafast-context.d.ts does)
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Grafast {
    interface Context {
      /** The origin the request came to (scheme://host), for the OAuth callback URL; null: none (websockets, the schema export). */
      everrunsOrigin?: string | null;
    }
  }
}

/** GraphQL's names → REST's (ConnectInput). */
const GraphqlConnectInput = z.strictObject({
  url: z.string(),
  scopes: z.array(z.string()).nullish(),
  clientId: z.string().nullish(),
  clientSecretName: z.string().nullish(),
});
const GraphqlDisconnectInput = z.strictObject({ url: z.string().min(1).max(2000) });

/** REST's names in the shared rules' messages, as GraphQL's. */
const graphqlNames = (message: string) => message.replaceAll("client_secret_name", "clientSecretName").replaceAll("client_id", "clientId");

/** `value` checked by `schema`: a ValidationError naming each problem by its argument. */
function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.length ? `${graphqlNames(i.path.join("."))}: ` : ""}${i.message}`);
    throw new ValidationError(`invalid ${what}: ${problems.join("; ")}`, { code: "invalid_argument" });
  }
  return result.data;
}

export type McpOauthMutationsDeps = McpOauthOperationsDeps & { operations?: McpOauthOperations };

/** connectMcpServer and disconnectMcpServer (their roles: access.ts). */
export function makeMcpOauthMutationsPlugin(deps: McpOauthMutationsDeps): GraphileConfig.Plugin {
  const operations = deps.operations ?? new McpOauthOperations(deps);
  return extendSchema(() => ({
    typeDefs: /* GraphQL */ `
      input ConnectMcpServerInput {
        "The MCP server's http:// or https:// URL, as the agent config names it."
        url: String!
        "The scopes to ask for (default: the server's own choice)."
        scopes: [String!]
        "A client registered with the authorization server beforehand (default: registered dynamically where the server offers it)."
        clientId: String
        "The name of the workspace secret holding clientId's client secret."
        clientSecretName: String
      }
      type ConnectMcpServerPayload {
        "The server's URL as the connection is kept (new URL(url).href)."
        url: String!
        "Open it in the browser (same tab): the authorization server sends the browser back to the API's callback, which says Connected."
        authorizationUrl: String!
        "The connect's state (the authorization URL holds it too)."
        state: String!
        "Until when the authorization may be completed (10 minutes)."
        expiresAt: Datetime!
      }
      input DisconnectMcpServerInput {
        "The MCP server's URL."
        url: String!
      }
      type DisconnectMcpServerPayload {
        "True when the workspace had a connection to the server (it and its tokens are gone); false when it had none."
        disconnected: Boolean!
        url: String!
      }
      extend type Mutation {
        """
        Begins connecting the workspace to an MCP server that requires OAuth (an agent's
        {"type": "mcp", "oauth": true} server): open authorizationUrl in the browser. The
        authorization server redirects to EVERRUNS_PUBLIC_URL/api/mcp/oauth/callback, else to the
        API's address this request came to.
        """
        connectMcpServer(input: ConnectMcpServerInput!): ConnectMcpServerPayload
        "Forgets the workspace's OAuth connection to an MCP server and its tokens (runs using it fail until it is connected again)."
        disconnectMcpServer(input: DisconnectMcpServerInput!): DisconnectMcpServerPayload
      }
    `,
    objects: {
      Mutation: {
        plans: {
          connectMcpServer(_: unknown, fieldArgs: { getRaw(name: string): Step }) {
            const $args = { input: fieldArgs.getRaw("input"), auth: context().get("everrunsAuth"), origin: context().get("everrunsOrigin") };
            return sideEffect($args, async ({ input, auth, origin }) => {
              if (!auth) throw new Error("connectMcpServer needs an API key");
              const given = parseInput(GraphqlConnectInput, input, "MCP server connect");
              const parsed = parseInput(
                ConnectInput,
                {
                  url: given.url,
                  ...(given.scopes != null && { scopes: given.scopes }),
                  ...(given.clientId != null && { client_id: given.clientId }),
                  ...(given.clientSecretName != null && { client_secret_name: given.clientSecretName }),
                },
                "MCP server connect",
              );
              if (!origin && !operations.publicUrl()) {
                throw new ValidationError(
                  "connectMcpServer needs an HTTP request (its origin is the OAuth callback's) or EVERRUNS_PUBLIC_URL on the API: send it over HTTP, not a websocket",
                );
              }
              try {
                return await operations.connect(auth, parsed, origin ?? "http://localhost");
              } catch (error) {
                if (error instanceof ValidationError) throw new ValidationError(graphqlNames(error.message), { code: error.code });
                throw error;
              }
            });
          },
          disconnectMcpServer(_: unknown, fieldArgs: { getRaw(name: string): Step }) {
            const $args = { input: fieldArgs.getRaw("input"), auth: context().get("everrunsAuth") };
            return sideEffect($args, async ({ input, auth }) => {
              if (!auth) throw new Error("disconnectMcpServer needs an API key");
              const { url } = parseInput(GraphqlDisconnectInput, input, "MCP server disconnect");
              return operations.disconnect(auth, url);
            });
          },
        },
      },
      ConnectMcpServerPayload: {
        plans: {
          url: ($r: Step) => access($r, "url"),
          authorizationUrl: ($r: Step) => access($r, "authorizationUrl"),
          state: ($r: Step) => access($r, "state"),
          expiresAt: ($r: Step) => access($r, "expiresAt"),
        },
      },
      DisconnectMcpServerPayload: {
        plans: { disconnected: ($r: Step) => access($r, "disconnected"), url: ($r: Step) => access($r, "url") },
      },
    },
  }));
}
