// The PostGraphile preset of the API: Amber over the `everruns` schema only (never
// everruns_private or graphile_worker), our smart tags and conditions, the run mutations and
// the live subscriptions, the dashboard's read-only aggregates, API keys, the role of each root
// field, the limits of a request (api/graphql/limits.ts), batches (api/graphql/batches.ts), schedules, webhooks and
// notifications (api/graphql/triggers.ts), OAuth connections to MCP servers
// (api/graphql/mcp-oauth.ts), model prices (api/graphql/model-prices.ts), websockets on /graphql, Ruru at
// /graphiql when enabled. Every operation runs for an API
// key, in its workspace (api/graphql/access.ts).
import type { IncomingMessage } from "node:http";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import type { Pool } from "../../db/pool.ts";
import type { Logger } from "../../lib/logger.ts";
import type { EventsHub } from "../events-hub.ts";
import type { Authenticator } from "../auth.ts";
import { FieldRolesPlugin, graphqlContext } from "./access.ts";
import { AgentConfigValidationPlugin } from "./agent-config-validation.ts";
import { ApiKeysPlugin } from "./api-keys.ts";
import { BatchInflectionPlugin, BatchMutationsPlugin, BatchOrderPlugin, BatchSubscriptionsPlugin, Xid8CodecPlugin } from "./batches.ts";
import {
  RunEventsAfterSeqCondition,
  RunsAgentVersionCondition,
  RunsCreatedAfterCondition,
  RunsCreatedBeforeCondition,
  RunsErrorCodeCondition,
  RunsFinishedAfterCondition,
  RunsFinishedBeforeCondition,
  RunsParentRunIdCondition,
  RunsSearchCondition,
} from "./conditions.ts";
import { DashboardPlugin } from "./dashboard.ts";
import { makeMaskError } from "./errors.ts";
import { makeLimitsPlugin, MAX_REQUEST_BYTES, PageLimitsPlugin } from "./limits.ts";
import { makeMcpOauthMutationsPlugin } from "./mcp-oauth.ts";
import { ModelPricesPlugin } from "./model-prices.ts";
import { requestOrigin, type McpOauthOperations } from "../mcp-oauth.ts";
import type { EverrunsGrafastContext } from "./grafast-context.d.ts";
import { EverrunsIdsPlugin } from "./inflection.ts";
import { RunMutationsPlugin } from "./mutations.ts";
import { OperationsPlugin } from "./operations.ts";
import { SecretsPlugin } from "./secrets.ts";
import { EverrunsHideFunctionsPlugin, EverrunsSmartTagsPlugin } from "./smart-tags.ts";
import { hubSubscriber, RunSubscriptionsPlugin } from "./subscriptions.ts";
import { makeTriggerMutationsPlugin, TriggerFieldsPlugin, TriggerInflectionPlugin, TriggerOrderPlugin } from "./triggers.ts";

export const GRAPHQL_PATH = "/graphql";
export const GRAPHIQL_PATH = "/graphiql";

export interface PresetOptions {
  pool: Pool;
  log: Logger;
  /** Subscriptions need it; the schema export does without. */
  hub?: EventsHub | null;
  /** Ruru (GraphiQL) at /graphiql. */
  graphiql?: boolean;
  /** Verifies the API keys of websocket operations (HTTP requests come verified); null: nothing is served (the schema export). */
  authenticator?: Authenticator | null;
  /** Production: no introspection, no "Did you mean …?" suggestions (default: NODE_ENV=production). */
  production?: boolean;
  /** connectMcpServer's and disconnectMcpServer's operations (default: their own, with EVERRUNS_SECRET_KEY and EVERRUNS_PUBLIC_URL from the environment); the API passes REST's. */
  mcpOauth?: McpOauthOperations;
}

export function makePreset({
  pool,
  log,
  hub = null,
  graphiql = false,
  authenticator = null,
  production = process.env.NODE_ENV === "production",
  mcpOauth,
}: PresetOptions): GraphileConfig.Preset {
  const subscriber = hub ? hubSubscriber(hub, pool) : undefined;
  return {
    extends: [PostGraphileAmberPreset],
    plugins: [
      EverrunsIdsPlugin,
      BatchInflectionPlugin,
      TriggerInflectionPlugin,
      Xid8CodecPlugin,
      EverrunsSmartTagsPlugin,
      EverrunsHideFunctionsPlugin,
      RunsCreatedAfterCondition,
      RunsCreatedBeforeCondition,
      RunEventsAfterSeqCondition,
      RunsParentRunIdCondition,
      RunsAgentVersionCondition,
      RunsErrorCodeCondition,
      RunsSearchCondition,
      RunsFinishedAfterCondition,
      RunsFinishedBeforeCondition,
      AgentConfigValidationPlugin,
      RunMutationsPlugin,
      BatchMutationsPlugin,
      BatchOrderPlugin,
      TriggerOrderPlugin,
      TriggerFieldsPlugin,
      makeTriggerMutationsPlugin({ pool, log }),
      makeMcpOauthMutationsPlugin({ pool, log, ...(mcpOauth && { operations: mcpOauth }) }),
      SecretsPlugin,
      ModelPricesPlugin,
      ApiKeysPlugin,
      FieldRolesPlugin,
      RunSubscriptionsPlugin,
      BatchSubscriptionsPlugin,
      DashboardPlugin,
      OperationsPlugin,
      PageLimitsPlugin,
      makeLimitsPlugin({ introspection: !production, suggestions: !production }),
    ],
    // Our own pool (shared with REST) and no pgSubscriber: subscriptions use the events hub's
    // single LISTEN connection instead of one of PostGraphile's. The pg adaptor names its
    // queries (a prepared-statement cache per connection; DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0,
    // read once at import, turns it off): behind a transaction-mode pooler the pool is `pooled`,
    // whose clients run them unnamed (db/pool.ts). Its pgSettings are set_config(…, true), local
    // to each operation's transaction: nothing of a session is used.
    pgServices: [makePgService({ pool, schemas: ["everruns"], pubsub: false })],
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      websockets: true,
      graphiql,
      graphiqlOnGraphQLGET: false,
      graphiqlPath: GRAPHIQL_PATH,
      watch: false,
      maxRequestLength: MAX_REQUEST_BYTES,
      maskError: makeMaskError(log, { suggestions: !production }),
    },
    grafast: {
      explain: false,
      // every operation acts for its API key: role everruns_api, the key's workspace (api/graphql/access.ts)
      // and the origin an HTTP request came to (connectMcpServer's OAuth callback, api/graphql/mcp-oauth.ts)
      async context(requestContext): Promise<EverrunsGrafastContext & { everrunsOrigin: string | null }> {
        const http = (requestContext as { expressv4?: { req: IncomingMessage }; node?: { req: IncomingMessage } }).expressv4?.req ?? requestContext.node?.req;
        const everrunsOrigin = http ? requestOrigin(http) : null;
        if (!authenticator) return { everrunsHub: subscriber ?? null, everrunsAuth: null, everrunsOrigin };
        return { everrunsHub: subscriber ?? null, everrunsOrigin, ...(await graphqlContext(requestContext as never, authenticator)) };
      },
    },
  } satisfies GraphileConfig.Preset;
}
