// Which Postgres the CLI uses: DATABASE_URL when set, else the embedded server under
// .everruns/ (started on first use, reused while it runs).
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Env } from "../db/env.ts";
import type { EmbeddedPostgres } from "./embedded-postgres.ts";

export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface Database {
  url: string;
  embedded: EmbeddedPostgres | null;
}

export async function resolveDatabase(env: Env, log: (line: string) => void): Promise<Database> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, embedded: null };
  const dataDir = env.EVERRUNS_DATA_DIR ?? path.join(PROJECT_ROOT, ".everruns", "pg");
  // loaded only here: a process given DATABASE_URL (every worker in production) never needs it
  const { startEmbeddedPostgres } = await import("./embedded-postgres.ts");
  const embedded = await startEmbeddedPostgres({ dataDir, port: env.EVERRUNS_PG_PORT, durable: true, database: "everruns", log });
  return { url: embedded.url, embedded };
}
