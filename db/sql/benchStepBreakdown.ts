// `everruns bench --only pooler` (scripts/bench/pooler.ts): where the fleet's step time went.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const BreakdownRowSchema = z.object({
  what: z.string(),
  n: z.number().int(),
  /** null on the rows that count attempts */
  p50: z.number().nullable(),
  p99: z.number().nullable(),
});
export type BreakdownRow = z.infer<typeof BreakdownRowSchema>;

/**
 * Per kind of step over these runs: begin → commit p50/p99 in ms (an LLM step's includes its
 * call), the gap before the next step by transition, and the attempts that did not commit, by
 * outcome (counts only), sorted by what they are.
 */
export async function benchStepBreakdown(db: Queryable, runIds: string[]): Promise<BreakdownRow[]> {
  const { rows } = await db.query(
    `with s as (select * from everruns.run_steps where run_id = any($1))
     select 'begin→commit of ' || kind || ' steps' as what, count(*)::int as n,
            percentile_cont(0.5) within group (order by duration_ms) as p50, percentile_cont(0.99) within group (order by duration_ms) as p99
     from s group by kind
     union all
     select 'gap ' || a.kind || '→' || b.kind, count(*)::int,
            percentile_cont(0.5) within group (order by extract(epoch from (b.started_at - a.finished_at)) * 1000),
            percentile_cont(0.99) within group (order by extract(epoch from (b.started_at - a.finished_at)) * 1000)
     from s a join s b on b.run_id = a.run_id and b.seq = a.seq + 1 group by a.kind, b.kind
     union all
     select 'attempts ' || coalesce(outcome, 'open'), count(*)::int, null, null
     from everruns.run_attempts where run_id = any($1) and outcome is distinct from 'committed' group by outcome
     order by 1`,
    [runIds],
  );
  return z.array(BreakdownRowSchema).parse(rows);
}
