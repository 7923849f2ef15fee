// The key in use and the workspace's keys over GraphQL. `whoami` (any key): the workspace and
// role of the key in use. `apiKeys`, `createApiKey`, `revokeApiKey` (admin, api/graphql/access.ts):
// the keys of the admin's own workspace; a new key is returned once, by createApiKey, and never
// again (the table is hidden from the schema, `@behavior -*`; these plans call db/sql/apiKeys.ts
// on PostGraphile's client, under the caller's workspace).
import { constant, context, lambda } from "postgraphile/grafast";
import { sideEffectWithPgClient, withPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import { isUuid, type Queryable } from "../../db/pool.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../../db/sql/apiKeys.ts";
import { ApiKeyRoleSchema } from "../../lib/api-key.ts";
import type { Auth } from "../auth.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;
const MAX_EXPIRY_DAYS = 3650;

export const ApiKeysPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("ApiKeysPlugin: the everruns.runs resource is missing (is the everruns schema exposed?)");
  const executor = runs.executor;
  return {
    typeDefs: /* GraphQL */ `
      "The key a request is made with: its workspace and role."
      type Whoami {
        keyId: UUID!
        workspaceId: UUID!
        workspaceName: String!
        "viewer, operator or admin."
        role: String!
      }
      "An API key of the workspace: never the key itself."
      type ApiKey {
        id: UUID!
        name: String!
        "viewer, operator or admin."
        role: String!
        "The key's first 12 characters (evr_ and 8 more), to tell keys apart."
        prefix: String!
        "Who created it: key:<id> or db:<database role>."
        createdBy: String!
        createdAt: Datetime!
        expiresAt: Datetime
        revokedAt: Datetime
        "When it was last used (noted at most once a minute)."
        lastUsedAt: Datetime
      }
      type CreateApiKeyPayload {
        "The key. Shown this once: store it now, it cannot be read again."
        key: String!
        apiKey: ApiKey!
      }
      type RevokeApiKeyPayload {
        "True when this call revoked the key, false when it already was."
        revoked: Boolean!
      }
      extend type Query {
        "The workspace and role of the API key this request is made with."
        whoami: Whoami!
        "The API keys of this workspace (admin)."
        apiKeys: [ApiKey!]!
      }
      extend type Mutation {
        "Creates an API key of this workspace (admin). The key is in the payload, this once."
        createApiKey(
          "1-100 letters, digits, spaces and _ . : @ -"
          name: String!
          "viewer, operator or admin"
          role: String!
          "Days until it expires (1-3650); none: it does not expire."
          expiresInDays: Int
        ): CreateApiKeyPayload
        "Revokes an API key of this workspace (admin); requests with it fail from then on (within 5 s)."
        revokeApiKey(id: UUID!): RevokeApiKeyPayload
      }
    `,
    objects: {
      Query: {
        plans: {
          whoami() {
            return lambda(context().get("everrunsAuth"), (auth: Auth | null) => {
              if (!auth) throw new ValidationError("no API key");
              return auth;
            });
          },
          apiKeys() {
            return withPgClient(executor, constant(null), async (client) => listApiKeys(raw(client)));
          },
        },
      },
      Mutation: {
        plans: {
          createApiKey(_, fieldArgs) {
            const $args = { name: fieldArgs.getRaw("name"), role: fieldArgs.getRaw("role"), days: fieldArgs.getRaw("expiresInDays") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              const role = ApiKeyRoleSchema.safeParse(args.role);
              if (!role.success) throw new ValidationError(`role must be viewer, operator or admin, got ${JSON.stringify(args.role)}`);
              const days = args.days == null ? null : Number(args.days);
              if (days !== null && (!Number.isInteger(days) || days < 1 || days > MAX_EXPIRY_DAYS)) {
                throw new ValidationError(`expiresInDays must be a whole number from 1 to ${MAX_EXPIRY_DAYS}, got ${String(args.days)}`);
              }
              const { key, info } = await createApiKey(raw(client), {
                name: String(args.name),
                role: role.data,
                expiresAt: days === null ? null : new Date(Date.now() + days * 86_400_000),
              });
              return { key, apiKey: info };
            });
          },
          revokeApiKey(_, fieldArgs) {
            return sideEffectWithPgClient(executor, fieldArgs.getRaw("id"), async (client, id) => {
              if (!isUuid(String(id))) throw new ValidationError(`id must be a UUID, got ${String(id)}`);
              return { revoked: await revokeApiKey(raw(client), String(id)) };
            });
          },
        },
      },
    },
  };
});
