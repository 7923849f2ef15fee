// `everruns bench --only mcp` (scripts/bench/mcp.ts): per run, its first step's duration and the
// span of its steps, from the database clock (run_steps).
import { z } from "zod";
import type { Queryable } from "../pool.ts";

const RunSpanSchema = z.object({
  run_id: z.string(),
  status: z.string(),
  steps: z.number().int().min(0),
  /** the first step's kind and begin → commit, ms; null when the run has no step */
  first_kind: z.string().nullable(),
  first_ms: z.number().nullable(),
  /** the first step's begin → the last step's commit, ms (no queue wait); null when no step */
  span_ms: z.number().nullable(),
});
export type BenchRunSpan = z.infer<typeof RunSpanSchema>;

/** One row per run of runIds (in runIds' order): its status, its first step's duration, its steps' span. */
export async function benchMcpRunSpans(db: Queryable, runIds: string[]): Promise<BenchRunSpan[]> {
  const { rows } = await db.query(
    `select r.id::text as run_id, r.status,
            (select count(*)::int from everruns.run_steps s where s.run_id = r.id) as steps,
            f.kind as first_kind, f.duration_ms::float8 as first_ms,
            (select extract(epoch from (max(s.finished_at) - min(s.started_at))) * 1000
               from everruns.run_steps s where s.run_id = r.id)::float8 as span_ms
       from unnest($1::uuid[]) with ordinality as ids(id, n)
       join everruns.runs r on r.id = ids.id
       left join lateral (select s.kind, s.duration_ms from everruns.run_steps s
                           where s.run_id = r.id order by s.seq limit 1) f on true
      order by ids.n`,
    [runIds],
  );
  return z.array(RunSpanSchema).parse(rows);
}
