import type { Queryable } from "../pool.ts";

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Drops a throwaway database, closing its connections first. */
export async function dropScratchDatabase(admin: Queryable, name: string): Promise<void> {
  if (!NAME.test(name)) throw new Error(`not a plain database name: ${name}`);
  await admin.query(`drop database if exists ${name} with (force)`);
}
