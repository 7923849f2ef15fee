import type { Queryable } from "../pool.ts";

/**
 * Client connections to this database by application_name (other than the caller's own); every
 * worker's liveness connection (`everruns-worker:<pool id>`) is counted under one name.
 */
export async function connectionsByApplication(db: Queryable): Promise<Record<string, number>> {
  const { rows } = await db.query<{ app: string; n: number }>(
    `select case when application_name like 'everruns-worker:%' then 'everruns-worker:<pool id> (liveness)' else application_name end as app,
            count(*)::int as n
     from pg_stat_activity
     where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
     group by 1 order by 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.app || "(none)", r.n]));
}
