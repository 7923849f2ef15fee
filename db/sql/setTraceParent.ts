import type { Queryable } from "../pool.ts";

/**
 * The W3C traceparent that runs inserted by the rest of this transaction continue, when they are
 * given none (everruns_private.tg_runs__trace_parent, 000035; a value that is not a valid
 * traceparent is ignored there), and the tracestate they keep with it (000042; null: none, an
 * invalid one is ignored there too). Transaction-local: `db` must be inside a transaction.
 */
export async function setTraceParent(db: Queryable, traceParent: string, traceState: string | null = null): Promise<void> {
  // both settings every time: "" clears a tracestate an earlier statement of the transaction set
  await db.query("select set_config('everruns.trace_parent', $1, true), set_config('everruns.trace_state', $2, true)", [traceParent, traceState ?? ""]);
}
