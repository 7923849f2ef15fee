// `everruns bench --only inflight` (scripts/bench/inflight.ts): how long the runs' LLM steps took.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const DurationsSchema = z.object({
  /** null when the runs have no LLM step yet */
  p50: z.number().nullable(),
  p99: z.number().nullable(),
});

/** Begin → commit of these runs' LLM steps, p50 and p99 in ms (NaN when there is none). */
export async function benchLlmStepDurations(db: Queryable, runIds: string[]): Promise<{ p50: number; p99: number }> {
  const { rows } = await db.query(
    `select percentile_cont(0.5) within group (order by duration_ms) as p50, percentile_cont(0.99) within group (order by duration_ms) as p99
     from everruns.run_steps where run_id = any($1) and kind = 'llm'`,
    [runIds],
  );
  const d = DurationsSchema.parse(rows[0]);
  return { p50: d.p50 ?? NaN, p99: d.p99 ?? NaN };
}
