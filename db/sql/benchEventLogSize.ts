import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only event-log`: the partitions of run_events and run_steps, and their bytes on disk (indexes included). */
export async function benchEventLogSize(db: Queryable): Promise<{ partitions: number; bytes: number }> {
  const { rows } = await db.query(
    `select count(*)::int as partitions, coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::float8 as bytes
       from pg_catalog.pg_class c
      where c.relnamespace = 'everruns_partitions'::regnamespace and c.relkind = 'r'`,
  );
  return z.object({ partitions: z.number().int(), bytes: z.number() }).parse(rows[0]);
}
