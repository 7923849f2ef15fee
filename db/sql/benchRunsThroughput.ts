import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ThroughputSchema = z.object({
  finished: z.number().int().min(0),
  seconds: z.coerce.number().nullable(),
});
export type RunsThroughput = z.infer<typeof ThroughputSchema>;

/**
 * `everruns bench --only fairness`: how many of these runs finished, and the seconds from the
 * first one's creation to the last one's end (null: none finished), from the database clock.
 */
export async function benchRunsThroughput(db: Queryable, runIds: string[]): Promise<RunsThroughput> {
  const { rows } = await db.query(
    `select count(finished_at)::int as finished,
            extract(epoch from (max(finished_at) - min(created_at))) as seconds
       from everruns.runs where id = any($1)`,
    [runIds],
  );
  return ThroughputSchema.parse(rows[0]);
}
