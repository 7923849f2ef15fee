// What the connection budget (db/connection-budget.ts) reads of the server, in one query on the
// check's own connection. Counts are server-wide (every database): max_connections is.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ConnectionCensusSchema = z.object({
  max_connections: z.number().int().min(1),
  superuser_reserved_connections: z.number().int().min(0),
  /** Postgres 16+; 0 before (the setting does not exist). */
  reserved_connections: z.number().int().min(0),
  is_superuser: z.boolean(),
  /** Superuser or a member of pg_read_all_stats: sees every session's backend_type. */
  sees_all_sessions: z.boolean(),
  /** Client connections whose application_name starts with "everruns", this check's own excluded. */
  everruns_now: z.number().int().min(0),
  /** Every client connection, this check's own excluded. */
  all_now: z.number().int().min(0),
});
export type ConnectionCensus = z.infer<typeof ConnectionCensusSchema>;

/**
 * The server's connection limits and who holds its connections now.
 *
 * A client connection is a `client backend`. Without superuser or pg_read_all_stats, Postgres
 * hides other roles' backend_type (null) but not their database or application_name; such a
 * session counts as a client when it is connected to a database. That also counts an autovacuum
 * worker of another role's view as a client: an over-count, which errs on the safe side (the
 * server's own processes, with no database, are never counted; walsenders have their own slots).
 */
export async function readConnectionCensus(db: Queryable): Promise<ConnectionCensus> {
  const { rows } = await db.query(
    `with sessions as (
       select a.application_name,
              coalesce(a.backend_type = 'client backend', a.datid is not null) as is_client
         from pg_catalog.pg_stat_activity a
        where a.pid <> pg_catalog.pg_backend_pid())
     select pg_catalog.current_setting('max_connections')::int as max_connections,
            pg_catalog.current_setting('superuser_reserved_connections')::int as superuser_reserved_connections,
            coalesce(pg_catalog.current_setting('reserved_connections', true)::int, 0) as reserved_connections,
            pg_catalog.current_setting('is_superuser') = 'on' as is_superuser,
            pg_catalog.current_setting('is_superuser') = 'on'
              or pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'usage') as sees_all_sessions,
            (select count(*) from sessions where is_client and application_name like 'everruns%')::int as everruns_now,
            (select count(*) from sessions where is_client)::int as all_now`,
  );
  return ConnectionCensusSchema.parse(rows[0]);
}
