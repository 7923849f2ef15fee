import type { Queryable } from "../pool.ts";

/**
 * `everruns bench --only batch`: n items into a batch in one insert ... select (custom ids
 * `item-<first>` … `item-<first + n - 1>`, each its own message). Returns how many rows the
 * statement inserted.
 */
export async function benchInsertBatchItems(db: Queryable, batchId: string, n: number, first = 1): Promise<number> {
  const result = await db.query(
    `insert into everruns.batch_items (batch_id, custom_id, input)
     select $1, 'item-' || g, jsonb_build_object('messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'item ' || g)))
       from generate_series($2::bigint, $2::bigint + $3::int - 1) g`,
    [batchId, first, n],
  );
  return result.rowCount ?? 0;
}
