import pg from "pg";

// bigint columns (count(*), ids) as numbers: our counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
// numeric as numbers (durations, costs): display values, not money arithmetic.
pg.types.setTypeParser(1700, (v) => Number.parseFloat(v));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

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
