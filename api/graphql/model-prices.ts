// A workspace's model prices over GraphQL (issue 20): the prices its workers cost LLM steps with,
// over the price table in code (worker/pricing.ts). The rows are read with Query.allModelPrices
// (the table everruns.model_prices, read-only in GraphQL: its comment's @behavior); this file adds
// two mutations, admin's (api/graphql/access.ts: the prices set what the workspace's daily cost
// quota counts, which only the database's owner sets), each db/sql's function on PostGraphile's client
// (one transaction as the key's workspace, row-level security confining it), audited by the
// table's trigger (model_price.set, model_price.deleted):
//
//   setModelPrice(provider, model, inputPerMillion, outputPerMillion, cacheReadPerMillion, cacheWritePerMillion)
//     → the price as stored (created, or replaced: a rate left out is null, the input rate)
//   deleteModelPrice(provider, model) → {provider, model, deleted}: false when there was none.
//
// Workers read a workspace's prices at most every 30 s (worker/model-prices.ts).
//
// And the model catalog those prices fall back on (Query.modelCatalog, any key: it is no
// workspace's data): lib/models/catalog.ts's table as this process has it, the release's
// lib/models/models.json with the operator's EVERRUNS_MODELS_FILE merged over it, so the console
// shows what the API and workers (started with the same environment) actually use instead of
// bundling the release's file. Read at each request: a table registered later shows at once.
import { sideEffectWithPgClient, type PgClient } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { context, lambda, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";
import { ValidationError } from "../../db/errors.ts";
import type { Queryable } from "../../db/pool.ts";
import { deleteModelPrice } from "../../db/sql/deleteModelPrice.ts";
import { checkModelPrice, setModelPrice } from "../../db/sql/setModelPrice.ts";
import { builtinModels, operatorModelsTable, providerModels } from "../../lib/models/catalog.ts";
import type { Auth } from "../auth.ts";

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

const SET_ARGS = ["provider", "model", "inputPerMillion", "outputPerMillion", "cacheReadPerMillion", "cacheWritePerMillion"] as const;

/** The arguments GraphQL gave (absent ones left out). */
function given(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
}

/** One entry of the catalog as Query.modelCatalog answers it (a CatalogModel). */
export interface CatalogModel {
  provider: string;
  modelPrefix: string;
  contextWindow: number | null;
  maxOutputTokens: number | null;
  inputPerMillion: number | null;
  outputPerMillion: number | null;
  cacheReadPerMillion: number | null;
  cacheWritePerMillion: number | null;
  thinking: boolean | null;
  reasoning: boolean | null;
  caching: boolean | null;
  structuredOutput: boolean | null;
  adaptiveThinking: boolean | null;
  thinkingOff: boolean | null;
  forcedToolChoice: boolean | null;
  outputFormat: boolean | null;
  temperature: boolean | null;
  effortLevels: string[] | null;
  fromOperatorFile: boolean;
}

/**
 * The merged catalog, entry by entry: the built-in table's providers and prefixes in its order,
 * then those only the operator's file has. An entry the operator's file names (new, or some of
 * its fields over the built-in's) is `fromOperatorFile`.
 */
export function catalogModels(): CatalogModel[] {
  const operator = operatorModelsTable();
  const providers = [...new Set([...Object.keys(builtinModels()), ...Object.keys(operator)])];
  return providers.flatMap((provider) =>
    Object.entries(providerModels(provider)).map(([modelPrefix, entry]) => ({
      provider,
      modelPrefix,
      contextWindow: entry.context_window ?? null,
      maxOutputTokens: entry.max_output_tokens ?? null,
      inputPerMillion: entry.prices?.input ?? null,
      outputPerMillion: entry.prices?.output ?? null,
      cacheReadPerMillion: entry.prices?.cache_read ?? null,
      cacheWritePerMillion: entry.prices?.cache_write ?? null,
      thinking: entry.thinking ?? null,
      reasoning: entry.reasoning ?? null,
      caching: entry.caching ?? null,
      structuredOutput: entry.structured_output ?? null,
      adaptiveThinking: entry.adaptive_thinking ?? null,
      thinkingOff: entry.thinking_off ?? null,
      forcedToolChoice: entry.forced_tool_choice ?? null,
      outputFormat: entry.output_format ?? null,
      temperature: entry.temperature ?? null,
      // [] (the API refuses effort) stays [], apart from null (unknown: any level allowed)
      effortLevels: entry.effort_levels ? [...entry.effort_levels] : null,
      fromOperatorFile: Object.hasOwn(operator[provider] ?? {}, modelPrefix),
    })),
  );
}

/** setModelPrice and deleteModelPrice (their roles: access.ts), and the modelCatalog query (any key). */
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
      """
      A model (family) of the catalog: the release's table (lib/models/models.json) with the operator's
      EVERRUNS_MODELS_FILE merged over it, as this API process loaded them. A field left null is unknown
      (a capability that is unknown is allowed).
      """
      type CatalogModel {
        "openai, anthropic or scripted: the agent config's provider."
        provider: String!
        "The model name prefix it describes (the longest matching prefix wins); empty: every model of the provider."
        modelPrefix: String!
        "Tokens of context (input and output together)."
        contextWindow: Int
        "The most output tokens of one call."
        maxOutputTokens: Int
        "USD per million input tokens; null: no price (a step costs 0 unless a workspace or agent price matches)."
        inputPerMillion: Float
        "USD per million output tokens (reasoning included)."
        outputPerMillion: Float
        "USD per million input tokens read from a prompt cache; null: the input rate."
        cacheReadPerMillion: Float
        "USD per million input tokens written to a prompt cache; null: the input rate."
        cacheWritePerMillion: Float
        "Anthropic extended thinking (thinking_budget_tokens)."
        thinking: Boolean
        "OpenAI reasoning (reasoning_effort, reasoning items)."
        reasoning: Boolean
        "Prompt caching."
        caching: Boolean
        "JSON answers of a given schema (output_schema)."
        structuredOutput: Boolean
        "Anthropic adaptive thinking (thinking: adaptive)."
        adaptiveThinking: Boolean
        "Anthropic: thinking can be turned off (thinking: off); false: the model always thinks and refuses a config that turns it off."
        thinkingOff: Boolean
        "Anthropic forced tool use (tool_choice any or tool); false: refused, and output_schema is sent as output_config.format."
        forcedToolChoice: Boolean
        "Anthropic JSON outputs (output_config.format with a JSON schema)."
        outputFormat: Boolean
        "A sampling temperature other than the default; false: the API refuses temperature for the model."
        temperature: Boolean
        "The effort levels (Anthropic output_config.effort: low, medium, high, xhigh, max) the model takes, lowest first; empty: none (effort is refused); null: unknown, any level allowed."
        effortLevels: [String!]
        "True when the operator's EVERRUNS_MODELS_FILE gives this entry or some of its fields."
        fromOperatorFile: Boolean!
      }
      extend type Query {
        "The model catalog prices and agent configs fall back on (any key: the same for every workspace)."
        modelCatalog: [CatalogModel!]!
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
        Steps that begin more than 30 s later use it. A cache rate left out follows the models table's ratio to the input rate (else the input rate).
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
      Query: {
        plans: {
          modelCatalog() {
            // read when the request runs (not when it is planned): the table registered now
            return lambda(context().get("everrunsAuth"), (auth: Auth | null) => {
              if (!auth) throw new ValidationError("no API key");
              return catalogModels();
            });
          },
        },
      },
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
