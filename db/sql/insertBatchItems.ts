import { describeStorableProblem, findStorableProblem, textProblem } from "../../lib/storable-json.ts";
import { fromDatabaseError, ValidationError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** One item as a caller gives it: a run input, and the id naming its result (the ordinal when absent). */
export interface NewBatchItem {
  customId?: string | null;
  input: unknown;
}

/** Where item `index` of a call is, for a message: `items[3] (custom id "a-17")`. */
function itemName(index: number, customId: string | null | undefined): string {
  return customId ? `items[${index}] (custom id ${JSON.stringify(customId)})` : `items[${index}]`;
}

/**
 * Inserts a few items (GraphQL's createBatch: at most a thousand; large batches go through COPY,
 * db/sql/batchItemsStage.ts and batchItemsFromStage.ts) into a batch, in the caller's transaction, in their order, with one
 * statement. Every refusal names the item by its index (and custom id): what lib/storable-json.ts
 * refuses and repeated custom ids are found here first; whether an input is a valid run input is
 * the items trigger's to say (everruns_private.assert_valid_run_input, the same rule as a run's,
 * written once), so when the statement fails on an input the items are inserted again one by one,
 * after a rollback to a savepoint, to name the first that fails. That costs a statement per item,
 * only on that path; the caller's transaction then fails as a whole.
 */
export async function insertBatchItems(db: Queryable, batchId: string, items: readonly NewBatchItem[]): Promise<void> {
  const seen = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    if (item.customId != null) {
      const problem = textProblem(item.customId);
      if (problem) throw new ValidationError(`${itemName(index, null)}: customId ${problem}`, { code: "invalid_items" });
      const earlier = seen.get(item.customId);
      if (earlier !== undefined) {
        throw new ValidationError(`${itemName(index, item.customId)}: the custom id of items[${earlier}] too; custom ids are unique in a batch`, {
          code: "invalid_items",
        });
      }
      seen.set(item.customId, index);
    }
    const problem = findStorableProblem(item.input ?? null, "input");
    if (problem)
      throw new ValidationError(`${itemName(index, item.customId)}: invalid run input: ${describeStorableProblem(problem)}`, { code: "invalid_items" });
  }
  const rows = items.map((item) => ({ custom_id: item.customId ?? null, input: item.input ?? null }));
  await db.query("savepoint insert_batch_items");
  try {
    await db.query(
      `insert into everruns.batch_items (batch_id, custom_id, input)
       select $1, e.item ->> 'custom_id', e.item -> 'input'
         from jsonb_array_elements($2::jsonb) with ordinality as e(item, n)
        order by e.n`,
      [batchId, JSON.stringify(rows)],
    );
  } catch (error) {
    const mapped = fromDatabaseError(error);
    if (!(mapped instanceof ValidationError)) throw mapped;
    await db.query("rollback to savepoint insert_batch_items");
    for (const [index, row] of rows.entries()) {
      try {
        await db.query("insert into everruns.batch_items (batch_id, custom_id, input) values ($1, $2, $3::jsonb)", [
          batchId,
          row.custom_id,
          JSON.stringify(row.input),
        ]);
      } catch (itemError) {
        const itemMapped = fromDatabaseError(itemError);
        if (!(itemMapped instanceof ValidationError)) throw itemMapped;
        throw new ValidationError(`${itemName(index, row.custom_id)}: ${itemMapped.message}`, { code: "invalid_items", cause: itemError });
      }
    }
    throw mapped;
  }
  await db.query("release savepoint insert_batch_items");
}
