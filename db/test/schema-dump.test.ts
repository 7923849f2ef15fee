import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { dumpSchema } from "../schema-dump.ts";
import { createTestDatabase, type TestDatabase } from "./helpers.ts";

const SCHEMA_FILE = fileURLToPath(new URL("../schema.sql", import.meta.url));
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

it("db/schema.sql matches the migrated database (UPDATE_SCHEMA=1 npm test rewrites it)", async () => {
  const dump = await dumpSchema(db.pool);
  if (process.env.UPDATE_SCHEMA === "1") await writeFile(SCHEMA_FILE, dump);
  const committed = await readFile(SCHEMA_FILE, "utf8").catch(() => "");
  const major = (s: string) => /server_version_num major: (\d+)/.exec(s)?.[1];
  if (major(committed) !== major(dump)) {
    console.warn(`db/schema.sql was dumped from Postgres ${major(committed)}, this server is ${major(dump)}: comparing skipped`);
    return;
  }
  expect(dump, "the schema changed: run UPDATE_SCHEMA=1 npx vitest run db/test/schema-dump.test.ts and commit db/schema.sql").toBe(committed);
});
