import type { Queryable } from "../pool.ts";

/** Proves the database answers (health checks). Rejects when it does not. */
export async function ping(db: Queryable): Promise<void> {
  await db.query("select 1");
}

/** True when the session may write: false on a standby (or a server set default_transaction_read_only). */
export async function isWritable(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ writable: boolean }>("select pg_catalog.current_setting('transaction_read_only') = 'off' as writable");
  return rows[0]!.writable;
}
