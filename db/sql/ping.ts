import type { Queryable } from "../pool.ts";

/** Proves the database answers (health checks). Rejects when it does not. */
export async function ping(db: Queryable): Promise<void> {
  await db.query("select 1");
}
