import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * Sessions of this database waiting on the notify lock right now (`everruns bench --only commit`
 * samples it). Postgres holds the lock from a transaction's NOTIFY until after its commit's WAL
 * flush; it is a shared object's (locktype object, classid pg_database, database 0), one for the
 * whole cluster, so sessions of other databases queue on it too: only this database's are counted.
 */
export async function benchNotifyLockWaits(db: Queryable): Promise<number> {
  const { rows } = await db.query(
    `select count(*)::int as n from pg_catalog.pg_locks l join pg_catalog.pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'object' and l.classid = 'pg_catalog.pg_database'::regclass and not l.granted and a.datname = current_database()`,
  );
  return z.object({ n: z.number().int().min(0) }).parse(rows[0]).n;
}
