import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only fairness`: per run of these that has started, ms from its creation to
 * the start of its first step (started_at − created_at, the database clock), in creation order.
 */
export async function benchQueueWaits(db: Queryable, runIds: string[]): Promise<number[]> {
  const { rows } = await db.query(
    `select extract(epoch from (started_at - created_at)) * 1000 as ms
       from everruns.runs where id = any($1) and started_at is not null order by created_at`,
    [runIds],
  );
  return z
    .array(z.object({ ms: z.coerce.number() }))
    .parse(rows)
    .map((r) => r.ms);
}
