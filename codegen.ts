// graphql-codegen: the console's operation types, generated from the committed API schema.
//
//   npm run codegen                    writes web/lib/gql/ (committed)
//   node scripts/codegen-check.ts      fails when web/lib/gql/ is stale or an operation does not match the schema
//
// Documents are the `graphql(`...`)` calls of the console (web/lib/queries.ts). The client preset
// turns each into a typed document string: `useQuery(RUNS_QUERY, ...)` knows the result and the
// variables of `query Runs`, so a field renamed in api/schema.graphql fails here, not in the browser.
// Paths are relative to the repository root (run it from there).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "api/schema.graphql",
  documents: ["web/{app,components,lib}/**/*.{ts,tsx}", "!web/lib/gql/**"],
  ignoreNoDocuments: false,
  errorsOnly: true,
  silent: true,
  generates: {
    "web/lib/gql/": {
      preset: "client",
      presetConfig: {
        gqlTagName: "graphql",
        // fragments are plain reusable selections here: their fields are part of the result type
        fragmentMasking: false,
      },
      config: {
        // documents are strings (sent as they are; no graphql-js printer in the browser bundle)
        documentMode: "string",
        useTypeImports: true,
        enumsAsTypes: true,
        onlyOperationTypes: true,
        skipTypename: true,
        avoidOptionals: false,
        strictScalars: true,
        // PostGraphile's scalars as they travel in JSON (see api/schema.graphql):
        scalars: {
          UUID: "string",
          Datetime: "string",
          Date: "string",
          Cursor: "string",
          Base64EncodedBinary: "string",
          // "all big integers will be output as strings"
          BigInt: "string",
          // arbitrary precision: a string
          BigFloat: "string",
          // any JSON value; web/lib/types.ts narrows the documents Everruns stores
          JSON: "unknown",
        },
      },
    },
  },
};

export default config;
