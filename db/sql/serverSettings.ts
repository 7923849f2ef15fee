import type { Queryable } from "../pool.ts";

export interface ServerSettings {
  version: string;
  synchronousCommit: string;
  maxConnections: string;
}

/** The Postgres version and the settings printed above every benchmark figure. */
export async function serverSettings(db: Queryable): Promise<ServerSettings> {
  const { rows } = await db.query<ServerSettings>(
    `select current_setting('server_version') as version, current_setting('synchronous_commit') as "synchronousCommit",
            current_setting('max_connections') as "maxConnections"`,
  );
  return rows[0]!;
}
