// Builds the GraphQL schema from a migrated database and prints it in a stable order; the
// committed api/schema.graphql is its output, and api/test/schema.test.ts fails when they drift.
//
//   DATABASE_URL=postgres://... node api/graphql/export-schema.ts   (rewrites api/schema.graphql)
import "../graphile-env.ts";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { makeSchema } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";
import { createPool } from "../../db/pool.ts";
import { consoleLogger } from "../../lib/logger.ts";
import { makePreset } from "./preset.ts";

export const SCHEMA_FILE = fileURLToPath(new URL("../schema.graphql", import.meta.url));

export async function printGraphQLSchema(databaseUrl: string): Promise<string> {
  const pool = createPool(databaseUrl, "everruns-schema-export", 2);
  try {
    const { schema } = await makeSchema(makePreset({ pool, log: consoleLogger("[schema]", "warn") }));
    return `${printSchema(lexicographicSortSchema(schema))}\n`;
  } finally {
    await pool.end();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("set DATABASE_URL to a migrated database");
    process.exit(1);
  }
  await writeFile(SCHEMA_FILE, await printGraphQLSchema(url));
  console.log(`wrote ${SCHEMA_FILE}`);
}
