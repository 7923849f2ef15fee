import type { Queryable } from "../pool.ts";

/** A batch's counters (everruns.batch_progress, 000025): maintained as items change, never counted. */
export interface BatchProgress {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  items_per_minute: number;
  eta_seconds: number | null;
}

/** A batch as the API shows it: its public columns (not its workspace) and its progress. */
export interface BatchView {
  id: string;
  name: string | null;
  agent_id: string;
  agent_version: number;
  status: string;
  max_parallel: number;
  priority: number;
  on_item_error: string;
  stop_after_failures: number | null;
  stop_after_ratio: number | null;
  deadline: Date | null;
  results_table: string | null;
  metadata: Record<string, unknown>;
  error: unknown;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  progress: BatchProgress;
}

/** The batch's public columns and its progress (the computed column everruns.batches_progress). Shared with batchList.ts. */
export const BATCH_VIEW_COLUMNS = `b.id, b.name, b.agent_id, b.agent_version, b.status, b.max_parallel, b.priority, b.on_item_error,
       b.stop_after_failures, b.stop_after_ratio, b.deadline, b.results_table, b.metadata, b.error,
       b.created_at, b.started_at, b.finished_at, b.updated_at, to_jsonb(everruns.batches_progress(b)) as progress`;

/** One batch by id (row-level security: another workspace's is none), or null. */
export async function getBatch(db: Queryable, batchId: string): Promise<BatchView | null> {
  const { rows } = await db.query<BatchView>(`select ${BATCH_VIEW_COLUMNS} from everruns.batches b where b.id = $1`, [batchId]);
  return rows[0] ?? null;
}
