import { z } from "zod";
import type { Queryable } from "../pool.ts";

export interface BenchBatchSpec {
  agentId: string;
  maxParallel: number;
  name: string;
  /** a table of the bench's own into which each item's result row is inserted (everruns.batches.results_table) */
  resultsTable?: string;
}

/**
 * `everruns bench --only batch`: a queued batch of an agent (its items inserted next, then
 * everruns.start_batch); returns its id.
 */
export async function benchCreateBatch(db: Queryable, spec: BenchBatchSpec): Promise<string> {
  const { rows } = await db.query("insert into everruns.batches (agent_id, max_parallel, name, results_table) values ($1, $2, $3, $4) returning id", [
    spec.agentId,
    spec.maxParallel,
    spec.name,
    spec.resultsTable ?? null,
  ]);
  return z.object({ id: z.string().uuid() }).parse(rows[0]).id;
}
