// One Postgres for the whole test run: TEST_DATABASE_URL / DATABASE_URL when set, else an
// embedded throwaway cluster. A template database is migrated once; each test file clones it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate } from "../migrate.ts";
import { createPool } from "../pool.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../scripts/embedded-postgres.ts";

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    templateDb: string;
  }
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export default async function setup(project: TestProject) {
  let serverUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  let embedded: EmbeddedPostgres | null = null;
  let dataRoot: string | null = null;
  if (!serverUrl) {
    dataRoot = await mkdtemp(path.join(tmpdir(), "everruns-test-"));
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataRoot, "pg"), port: 0, durable: false, database: "postgres" });
    serverUrl = embedded.url;
  }
  const templateDb = `everruns_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${templateDb}`);
  await admin.query(`create database ${templateDb}`);
  const pool = createPool(databaseUrl(serverUrl, templateDb), "everruns-test-setup", 2, { migrations: true });
  await migrate(pool);
  await pool.end();
  project.provide("serverUrl", serverUrl);
  project.provide("templateDb", templateDb);

  return async () => {
    await admin.query(`drop database if exists ${templateDb} with (force)`).catch(() => undefined);
    await admin.end();
    if (embedded) await embedded.stop();
    if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
  };
}
