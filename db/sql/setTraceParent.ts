import type { Queryable } from "../pool.ts";

/**
 * The W3C traceparent that runs inserted by the rest of this transaction continue, when they are
 * given none (everruns_private.tg_runs__trace_parent, 000035; a value that is not a valid
 * traceparent is ignored there). Transaction-local: `db` must be inside a transaction.
 */
export async function setTraceParent(db: Queryable, traceParent: string): Promise<void> {
  await db.query("select set_config('everruns.trace_parent', $1, true)", [traceParent]);
}
