import { z } from "zod";
import type { Queryable } from "../pool.ts";

const CountsSchema = z.object({
  rows: z.number().int().min(0),
  distinct: z.number().int().min(0),
  duplicated: z.number().int().min(0),
});
export type ResultsTableCounts = z.infer<typeof CountsSchema>;

/**
 * `everruns bench --only batch`: of a batch's rows in BENCH_RESULTS_TABLE (benchBatchResultsTable.ts),
 * how many, how many distinct custom ids, and how many custom ids have more than one row.
 */
export async function benchResultsTableCounts(db: Queryable, batchId: string): Promise<ResultsTableCounts> {
  const { rows } = await db.query(
    `select count(*)::int as rows, count(distinct custom_id)::int as distinct,
            (select count(*)::int from (select custom_id from public.everruns_bench_batch_results where batch_id = $1
                                         group by custom_id having count(*) > 1) d) as duplicated
       from public.everruns_bench_batch_results where batch_id = $1`,
    [batchId],
  );
  return CountsSchema.parse(rows[0]);
}
