// Secrets over GraphQL, write-only: setSecret seals a value with EVERRUNS_SECRET_KEY
// (lib/secret-box.ts) and stores it, deleteSecret removes one, and `secrets` lists their metadata
// (name, last 4 characters, created and last set). No field returns a value or a ciphertext: the
// table itself is hidden from the schema (`@behavior -*` in 000004_secrets.sql) and these plans
// call db/sql (the same functions the CLI uses) on PostGraphile's own client. Secrets belong to
// the default workspace until the API has workspaces.
import { constant } from "postgraphile/grafast";
import { sideEffectWithPgClient, withPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { extendSchema } from "postgraphile/utils";
import { ConfigError } from "../../db/errors.ts";
import type { Queryable } from "../../db/pool.ts";
import { deleteSecret } from "../../db/sql/deleteSecret.ts";
import { listSecrets } from "../../db/sql/listSecrets.ts";
import { setSecret } from "../../db/sql/setSecret.ts";
import { requireSecretKey, SecretKeyError } from "../../lib/secret-box.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

/** EVERRUNS_SECRET_KEY, read when a secret is first set (the API starts without one; setSecret then says what is missing). */
function apiSecretKey(): Buffer {
  try {
    return requireSecretKey(process.env, "the API");
  } catch (error) {
    if (error instanceof SecretKeyError) throw new ConfigError(error.message);
    throw error;
  }
}

export const SecretsPlugin = extendSchema((build) => {
  const runs = build.input.pgRegistry.pgResources.runs;
  if (!runs) throw new Error("SecretsPlugin: the everruns.runs resource is missing (is the everruns schema exposed?)");
  const executor = runs.executor;
  return {
    typeDefs: /* GraphQL */ `
      "What may be read of a secret: never its value."
      type SecretMetadata {
        name: String!
        "The value's last 4 characters; null when the value is under 12 characters."
        last4: String
        createdAt: Datetime!
        "When the value was last set."
        rotatedAt: Datetime!
      }
      type SetSecretPayload {
        name: String!
        "The value's last 4 characters; null when the value is under 12 characters."
        last4: String
        createdAt: Datetime!
        rotatedAt: Datetime!
      }
      type DeleteSecretPayload {
        name: String!
        "True when the secret existed and was deleted."
        deleted: Boolean!
      }
      extend type Query {
        "The secrets agents can reference ({\\"secret\\": \\"<name>\\"} headers, api_key_secret): metadata only."
        secrets: [SecretMetadata!]!
      }
      extend type Mutation {
        """
        Sets (creates or replaces) a secret: encrypted at rest, readable by workers only. Reference it
        from an agent config by name: an http tool header {"secret": "<name>"} or a provider's api_key_secret.
        """
        setSecret("1-100 letters, digits, _, . or -" name: String!, value: String!): SetSecretPayload
        "Deletes a secret; runs that reference it fail to resolve it from then on."
        deleteSecret(name: String!): DeleteSecretPayload
      }
    `,
    objects: {
      Query: {
        plans: {
          secrets() {
            return withPgClient(executor, constant(null), async (client) => listSecrets(raw(client)));
          },
        },
      },
      Mutation: {
        plans: {
          setSecret(_, fieldArgs) {
            const $args = { name: fieldArgs.getRaw("name"), value: fieldArgs.getRaw("value") };
            return sideEffectWithPgClient(executor, $args, async (client, args) =>
              setSecret(raw(client), { name: String(args.name), value: String(args.value), key: apiSecretKey() }),
            );
          },
          deleteSecret(_, fieldArgs) {
            const $name = fieldArgs.getRaw("name");
            return sideEffectWithPgClient(executor, $name, async (client, name) => ({
              name: String(name),
              deleted: await deleteSecret(raw(client), String(name)),
            }));
          },
        },
      },
    },
  };
});
