// The committed api/schema.graphql is the GraphQL contract the console and other clients are
// typed against. This test rebuilds the schema from a freshly migrated database and fails when
// the two differ: a migration or a plugin changed the API without the file being updated.
// To accept a change: EVERRUNS_UPDATE_SCHEMA=1 npx vitest run api/test/schema.test.ts
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../db/test/helpers.ts";
import { printGraphQLSchema, SCHEMA_FILE } from "../graphql/export-schema.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

it("api/schema.graphql matches the schema generated from the migrations", async () => {
  const generated = await printGraphQLSchema(db.url);
  if (process.env.EVERRUNS_UPDATE_SCHEMA === "1") await writeFile(SCHEMA_FILE, generated);
  const committed = await readFile(SCHEMA_FILE, "utf8").catch(() => "");
  if (generated !== committed) {
    const a = committed.split("\n");
    const b = generated.split("\n");
    const first = b.findIndex((line, i) => line !== a[i]);
    throw new Error(
      `api/schema.graphql is out of date (first difference at line ${first + 1}: committed ${JSON.stringify(a[first])}, generated ${JSON.stringify(b[first])}). ` +
        "If the change is intended, regenerate it: EVERRUNS_UPDATE_SCHEMA=1 npx vitest run api/test/schema.test.ts",
    );
  }
  expect(generated).toBe(committed);
});
