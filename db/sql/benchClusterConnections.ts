import { z } from "zod";
import type { Queryable } from "../pool.ts";

const BackendSchema = z.object({
  /** application_name ('(none)' when empty); every worker's liveness connection under one name */
  app: z.string(),
  backend_type: z.string(),
  /** null for a Unix socket and for the server's own processes */
  client_port: z.number().int().nullable(),
});
export type Backend = z.infer<typeof BackendSchema>;

/**
 * Every backend of the cluster, of every database, this connection's own included
 * (`everruns bench --only pooler` tells PgBouncer's server connections from the others by their
 * client port).
 */
export async function benchClusterConnections(db: Queryable): Promise<Backend[]> {
  const { rows } = await db.query(
    `select case when application_name like 'everruns-worker:%' then 'everruns-worker:<pool id> (liveness)' else coalesce(nullif(application_name, ''), '(none)') end as app,
            backend_type, client_port
     from pg_catalog.pg_stat_activity`,
  );
  return z.array(BackendSchema).parse(rows);
}
