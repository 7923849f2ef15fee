import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only batch` (cost, no worker): ends a batch item's run as its last step's
 * commit does (status succeeded, its output, finished_at), so the batch's triggers run as they do
 * then: the item finishes and the next is released. False when the run had already ended.
 */
export async function benchBatchFinishRun(db: Queryable, runId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update everruns.runs set status = 'succeeded', output = '{"text": "ok"}', finished_at = now(), updated_at = now()
      where id = $1 and status not in ('succeeded', 'failed', 'cancelled')`,
    [runId],
  );
  return rowCount === 1;
}
