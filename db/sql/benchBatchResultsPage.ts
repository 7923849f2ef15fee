import { z } from "zod";
import type { Queryable } from "../pool.ts";

const ResultRowSchema = z.object({
  id: z.string().uuid(),
  custom_id: z.string(),
  status: z.string(),
  result_xid: z.string(),
});
export type BenchResultRow = z.infer<typeof ResultRowSchema>;

/** The position after a row of everruns.batch_results: its (result_xid, id). */
export interface BenchResultsCursor {
  xid: string;
  id: string;
}

/** `everruns bench --only batch`: one page of everruns.batch_results after the cursor (null: from the start). */
export async function benchBatchResultsPage(db: Queryable, batchId: string, after: BenchResultsCursor | null, maxRows: number): Promise<BenchResultRow[]> {
  const { rows } = await db.query("select id, custom_id, status, result_xid::text as result_xid from everruns.batch_results($1, $2::xid8, $3::uuid, $4)", [
    batchId,
    after?.xid ?? null,
    after?.id ?? null,
    maxRows,
  ]);
  return z.array(ResultRowSchema).parse(rows);
}
