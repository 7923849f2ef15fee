import type { Queryable } from "../pool.ts";

/** One committed step of a run, as the compaction bench reads it (scripts/bench/compaction.ts). */
export interface BenchCompactionStep {
  seq: number;
  kind: string;
  attempt: number;
  usage: { input_tokens?: number; output_tokens?: number } | null;
  duration_ms: number;
  /** the row's size on disk (pg_column_size of the whole row) */
  bytes: number;
}

/** The committed steps of a run from `fromSeq` on, in order (all of them by default). */
export async function benchCompactionSteps(db: Queryable, runId: string, fromSeq = 0): Promise<BenchCompactionStep[]> {
  const { rows } = await db.query<BenchCompactionStep>(
    `select s.seq, s.kind, s.attempt, s.usage, s.duration_ms::float8 as duration_ms, pg_column_size(s.*) as bytes
       from everruns.run_steps s where s.run_id = $1 and s.seq >= $2 order by s.seq`,
    [runId, fromSeq],
  );
  return rows;
}
