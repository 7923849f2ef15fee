import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only batch`: a batch's items counted by status (what its counters must equal). */
export async function benchBatchRecount(db: Queryable, batchId: string): Promise<Record<string, number>> {
  const { rows } = await db.query("select status, count(*)::int as n from everruns.batch_items where batch_id = $1 group by status", [batchId]);
  return Object.fromEntries(
    z
      .array(z.object({ status: z.string(), n: z.number().int() }))
      .parse(rows)
      .map((r) => [r.status, r.n]),
  );
}
