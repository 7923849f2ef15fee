import pg from "pg";
import type { Queryable } from "../pool.ts";

/** Creates database `name` on the server `admin` is connected to, unless it exists. */
export async function ensureDatabase(admin: Queryable, name: string): Promise<void> {
  const exists = await admin.query("select 1 from pg_database where datname = $1", [name]);
  // CREATE DATABASE takes no parameters: the name goes in as a quoted identifier
  if (exists.rowCount === 0) await admin.query(`create database ${pg.escapeIdentifier(name)}`);
}
