import type { Queryable } from "../pool.ts";

/** Where a reader of a batch's results is: the last row's (result_xid, id), as `${xid}.${id}` to clients. */
export interface BatchResultsCursor {
  xid: string;
  id: string;
}

/** One finished item, as GET /api/batches/:id/results writes it (one JSON line each). */
export interface BatchResultRow {
  custom_id: string;
  status: string;
  output: unknown;
  error: unknown;
  usage: unknown;
  run_id: string | null;
  attempts: number;
  finished_at: Date | null;
  /** Resume after this row: pass it back as ?after=. */
  cursor: string;
}

/** The cursor of `${xid}.${uuid}` (readBatchResults' `cursor`: opaque to clients), or null when the text is not one. */
export function parseBatchResultsCursor(text: string): BatchResultsCursor | null {
  const m = /^(\d{1,20})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(text);
  return m ? { xid: m[1]!, id: m[2]!.toLowerCase() } : null;
}

/**
 * The batch's finished items after `after`, in the order they finished, at most `maxRows`
 * (everruns.batch_results, security invoker: row-level security applies). It returns only
 * results older than this statement's snapshot's oldest running transaction, so a result that
 * commits later never lands behind a cursor already handed out: a follower that asks again
 * misses nothing and sees nothing twice.
 */
export async function readBatchResults(db: Queryable, batchId: string, after: BatchResultsCursor | null, maxRows: number): Promise<BatchResultRow[]> {
  const { rows } = await db.query<BatchResultRow>(
    `select r.custom_id, r.status, r.output, r.error, r.usage, r.run_id, r.attempts, r.finished_at,
            r.result_xid::text || '.' || r.id::text as cursor
       from everruns.batch_results($1, $2::xid8, $3::uuid, $4) r`,
    [batchId, after?.xid ?? null, after?.id ?? null, maxRows],
  );
  return rows;
}
