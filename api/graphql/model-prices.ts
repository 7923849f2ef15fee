// A workspace's model prices over GraphQL (issue 20): the prices its workers cost LLM steps with,
// over the price table in code (worker/pricing.ts). The rows are read with Query.allModelPrices
// (the table everruns.model_prices, read-only in GraphQL: its comment's @behavior); this file adds
// two mutations, operator's (api/graphql/access.ts), each db/sql's function on PostGraphile's client
// (one transaction as the key's workspace, row-level security confining it), audited by the
// table's trigger (model_price.set, model_price.deleted):
//
//   setModelPrice(provider, model, inputPerMillion, outputPerMillion, cacheReadPerMillion, cacheWritePerMillion)
//     → the price as stored (created, or replaced: a rate left out is null, the input rate)
//   deleteModelPrice(provider, model) → {provider, model, deleted}: false when there was none.
//
// Workers read a workspace's prices at most every 30 s (worker/model-prices.ts).
import { sideEffectWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import type { Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";
import type { Queryable } from "../../db/pool.ts";
import { deleteModelPrice } from "../../db/sql/deleteModelPrice.ts";
import { checkModelPrice, setModelPrice } from "../../db/sql/setModelPrice.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

const SET_ARGS = ["provider", "model", "inputPerMillion", "outputPerMillion", "cacheReadPerMillion", "cacheWritePerMillion"] as const;

/** The arguments GraphQL gave (absent ones left out). */
function given(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
}

/** setModelPrice and deleteModelPrice (their roles: access.ts). */
export const ModelPricesPlugin = extendSchema((build) => {
  const prices = build.input.pgRegistry.pgResources.model_prices;
  if (!prices) throw new Error("ModelPricesPlugin: the everruns.model_prices resource is missing (is migration 000029 applied?)");
  const executor = prices.executor;
  return {
    typeDefs: /* GraphQL */ `
      type SetModelPricePayload {
        "openai, anthropic or scripted: the agent config's provider."
        provider: String!
        "The model name prefix it prices; empty: every model of the provider."
        model: String!
        "USD per million input tokens."
        inputPerMillion: Float!
        "USD per million output tokens."
        outputPerMillion: Float!
        "USD per million input tokens read from a prompt cache; null: the input rate."
        cacheReadPerMillion: Float
        "USD per million input tokens written to a prompt cache; null: the input rate."
        cacheWritePerMillion: Float
        createdAt: Datetime!
        updatedAt: Datetime!
      }
      type DeleteModelPricePayload {
        provider: String!
        model: String!
        "True when the workspace had that price and it is gone."
        deleted: Boolean!
      }
      extend type Mutation {
        """
        Sets (creates or replaces) the workspace's price of a provider's models whose names start
        with model ("" for all of them), in USD per million tokens; the longest matching prefix wins.
        Workers use it within 30 s, for steps that finish from then on. A cache rate left out is the input rate.
        """
        setModelPrice(
          "openai, anthropic or scripted"
          provider: String!
          "A model name prefix, at most 200 characters, no spaces; empty: every model of the provider"
          model: String!
          inputPerMillion: Float!
          outputPerMillion: Float!
          cacheReadPerMillion: Float
          cacheWritePerMillion: Float
        ): SetModelPricePayload
        "Deletes the workspace's price of a provider's model prefix: the price table in code applies again."
        deleteModelPrice(provider: String!, model: String!): DeleteModelPricePayload
      }
    `,
    objects: {
      Mutation: {
        plans: {
          setModelPrice(_: unknown, fieldArgs: { getRaw(name: string): Step }) {
            const $args = Object.fromEntries(SET_ARGS.map((name) => [name, fieldArgs.getRaw(name)]));
            return sideEffectWithPgClient(executor, $args, async (client, args) =>
              setModelPrice(raw(client), checkModelPrice(given(args as Record<string, unknown>))),
            );
          },
          deleteModelPrice(_: unknown, fieldArgs: { getRaw(name: string): Step }) {
            const $args = { provider: fieldArgs.getRaw("provider"), model: fieldArgs.getRaw("model") };
            return sideEffectWithPgClient(executor, $args, async (client, args) => {
              const provider = String(args.provider);
              const model = String(args.model);
              return { provider, model, deleted: await deleteModelPrice(raw(client), { provider, model }) };
            });
          },
        },
      },
    },
  };
});
