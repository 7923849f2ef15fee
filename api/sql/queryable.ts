import type pg from "pg";

/** A pool or a checked-out client: every api/sql function runs on either. */
export type Queryable = pg.Pool | pg.PoolClient;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}
