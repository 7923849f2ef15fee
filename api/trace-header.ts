// The W3C `traceparent` and `tracestate` request headers (docs/observability.md, "Traces"): POST
// /api/runs, AG-UI and /hooks/:id runs continue the caller's trace. An invalid header is ignored, as
// W3C Trace Context prescribes (an invalid traceparent: the run starts a trace of its own, and its
// tracestate goes with it; an invalid tracestate alone: the run keeps none); only version 00 is taken.
import type { Queryable } from "../db/pool.ts";
import { setTraceParent } from "../db/sql/setTraceParent.ts";
import { validTraceparent } from "../lib/tracing/ids.ts";
import { validTracestate } from "../lib/tracing/tracestate.ts";

/** The trace context of a request: its valid traceparent, and its tracestate when that is valid too. */
export interface TraceContext {
  traceParent: string;
  traceState: string | null;
}

type Headers = Record<string, string | string[] | undefined>;

/** The request's traceparent when it is valid, else null. */
export function traceParentOf(headers: Headers): string | null {
  const value = headers.traceparent;
  // two traceparent headers are invalid (W3C: a single header)
  return typeof value === "string" ? validTraceparent(value) : null;
}

/** The request's trace context: null without a valid traceparent (a tracestate alone is ignored). */
export function traceContextOf(headers: Headers): TraceContext | null {
  const traceParent = traceParentOf(headers);
  if (traceParent === null) return null;
  // several tracestate headers are one list (W3C; Node joins repeated headers with ", " already)
  return { traceParent, traceState: validTracestate(headers.tracestate) };
}

/** Runs `fn` with the runs it inserts continuing `trace` (none: `fn` alone); `db` must be inside a transaction. */
export async function withTraceContext<T>(db: Queryable, trace: TraceContext | null, fn: () => Promise<T>): Promise<T> {
  if (trace !== null) await setTraceParent(db, trace.traceParent, trace.traceState);
  return fn();
}
