import pg from "pg";

// bigint columns (count(*), ids) as numbers: our counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
// numeric as numbers (durations, costs): display values, not money arithmetic.
pg.types.setTypeParser(1700, (v) => Number.parseFloat(v));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * What every db/sql function runs on: a pool, a checked-out client (a transaction, PostGraphile's
 * client in a mutation) or a dedicated connection (the API's LISTEN connection). pg.Pool,
 * pg.PoolClient and pg.Client all satisfy it as they are.
 */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` reads as a Postgres uuid (so `$1::uuid` will not fail on it). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function createPool(connectionString: string, applicationName: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, application_name: applicationName, max, idleTimeoutMillis: 30_000 });
  // An idle client that loses its connection must not crash the process; the next query
  // gets a fresh connection.
  pool.on("error", (error) => console.error(`[everruns] idle database connection lost: ${error.message}`));
  pool.on("connect", (client) => {
    client.on("error", (error) => console.error(`[everruns] database connection lost: ${error.message}`));
  });
  return pool;
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await fn(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
