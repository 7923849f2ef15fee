import type { Queryable } from "../pool.ts";

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Creates an empty database (for the scripts' throwaway databases). The name must be a plain identifier. */
export async function createScratchDatabase(admin: Queryable, name: string): Promise<void> {
  if (!NAME.test(name)) throw new Error(`not a plain database name: ${name}`);
  await admin.query(`create database ${name}`);
}
