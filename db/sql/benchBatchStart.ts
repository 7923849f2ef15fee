import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";

/** `everruns bench --only batch`: everruns.start_batch (up to max_parallel items released at once); returns the batch's status after it. */
export async function benchStartBatch(db: Queryable, batchId: string): Promise<string> {
  try {
    const { rows } = await db.query("select status from everruns.start_batch($1)", [batchId]);
    return z.object({ status: z.string() }).parse(rows[0]).status;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
