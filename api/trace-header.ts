// The W3C `traceparent` request header (docs/observability.md, "Traces"): POST /api/runs, AG-UI
// and /hooks/:id runs continue the caller's trace. An invalid header is ignored, as W3C Trace
// Context prescribes (the run starts a trace of its own); only version 00 is taken.
import type { Queryable } from "../db/pool.ts";
import { setTraceParent } from "../db/sql/setTraceParent.ts";
import { validTraceparent } from "../lib/tracing/ids.ts";

/** The request's traceparent when it is valid, else null. */
export function traceParentOf(headers: Record<string, string | string[] | undefined>): string | null {
  const value = headers.traceparent;
  // two traceparent headers are invalid (W3C: a single header)
  return typeof value === "string" ? validTraceparent(value) : null;
}

/** Runs `fn` with the runs it inserts continuing `traceParent` (none: `fn` alone); `db` must be inside a transaction. */
export async function withTraceParent<T>(db: Queryable, traceParent: string | null, fn: () => Promise<T>): Promise<T> {
  if (traceParent !== null) await setTraceParent(db, traceParent);
  return fn();
}
