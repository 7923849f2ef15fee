// The GraphQL documents of the console's Model prices page (issue 20): the workspace's own prices
// (everruns.model_prices, read by every key), the model catalog they fall back on (modelCatalog:
// the release's table with the operator's EVERRUNS_MODELS_FILE over it, any key) and the
// operator's setModelPrice / deleteModelPrice (api/graphql/model-prices.ts). Checked and typed by graphql-codegen like web/app/webhooks/queries.ts.
// The page size is a literal: the API's cost limit (api/graphql/limits.ts) counts a page size
// given by a variable as its maximum.
import { graphql } from "@/lib/gql";

export const MODEL_PRICES_QUERY = graphql(`
  query ModelPrices {
    allModelPrices(first: 1000, orderBy: [PROVIDER_ASC, MODEL_ASC]) {
      totalCount
      nodes {
        id
        provider
        model
        inputPerMillion
        outputPerMillion
        cacheReadPerMillion
        cacheWritePerMillion
        updatedAt
      }
    }
  }
`);

export const MODEL_CATALOG_QUERY = graphql(`
  query ModelCatalog {
    modelCatalog {
      provider
      modelPrefix
      contextWindow
      maxOutputTokens
      inputPerMillion
      outputPerMillion
      cacheReadPerMillion
      cacheWritePerMillion
      thinking
      reasoning
      caching
      structuredOutput
      adaptiveThinking
      thinkingOff
      forcedToolChoice
      outputFormat
      temperature
      effortLevels
      fromOperatorFile
    }
  }
`);

export const SET_MODEL_PRICE = graphql(`
  mutation SetModelPrice(
    $provider: String!
    $model: String!
    $inputPerMillion: Float!
    $outputPerMillion: Float!
    $cacheReadPerMillion: Float
    $cacheWritePerMillion: Float
  ) {
    setModelPrice(
      provider: $provider
      model: $model
      inputPerMillion: $inputPerMillion
      outputPerMillion: $outputPerMillion
      cacheReadPerMillion: $cacheReadPerMillion
      cacheWritePerMillion: $cacheWritePerMillion
    ) {
      provider
      model
      updatedAt
    }
  }
`);

export const DELETE_MODEL_PRICE = graphql(`
  mutation DeleteModelPrice($provider: String!, $model: String!) {
    deleteModelPrice(provider: $provider, model: $model) {
      provider
      model
      deleted
    }
  }
`);
