// Throwaway databases: every benchmark, load scenario and chaos run works on its own, created
// and migrated on the server of DATABASE_URL and dropped afterwards.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate } from "../../db/migrate.ts";
import { createPool } from "../../db/pool.ts";
import { createScratchDatabase } from "../../db/sql/createScratchDatabase.ts";
import { dropScratchDatabase } from "../../db/sql/dropScratchDatabase.ts";

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(serverUrl: string, fn: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * A new, migrated database on the server at serverUrl (dropped by drop()); `migrationsDir`
 * migrates it from another directory (a bench comparing with an earlier schema).
 */
export async function scratchDatabase(serverUrl: string, prefix = "everruns_scratch", migrationsDir?: string): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  await withAdmin(serverUrl, (admin) => createScratchDatabase(admin, name));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), "everruns-migrate", 2, { migrations: true });
  try {
    await migrate(pool, () => {}, migrationsDir);
  } finally {
    await pool.end();
  }
  return {
    url: url.toString(),
    drop: () => withAdmin(serverUrl, (admin) => dropScratchDatabase(admin, name).catch(() => undefined)),
  };
}

/** fn on a fresh scratch database, dropped afterwards (kept when keep(url) says so). */
export async function withScratchDatabase<T>(
  serverUrl: string,
  prefix: string,
  fn: (url: string) => Promise<T>,
  keep: (url: string) => boolean = () => false,
): Promise<T> {
  const db = await scratchDatabase(serverUrl, prefix);
  try {
    return await fn(db.url);
  } finally {
    if (!keep(db.url)) await db.drop();
  }
}
