import type { Queryable } from "../pool.ts";

/** The bench's results table (everruns.batches.results_table of its chaos batch); a scratch database's own. */
export const BENCH_RESULTS_TABLE = "public.everruns_bench_batch_results";

/** `everruns bench --only batch`: creates BENCH_RESULTS_TABLE, with no unique key: a result inserted twice would show. */
export async function benchCreateResultsTable(db: Queryable): Promise<void> {
  await db.query(
    `create table if not exists public.everruns_bench_batch_results (
       batch_id uuid not null, item_id uuid not null, custom_id text not null, status text not null,
       output jsonb, error jsonb, run_id uuid, finished_at timestamptz)`,
  );
}
