// The trace id of a run, as its log lines carry it (docs/observability.md "Logs") and its trace
// is exported: the caller's trace when the run was started with a W3C traceparent (a caller's
// trace continues through the run), else one derived from the run id, so that a run's lines and
// its spans are found by the same id without any lookup. The one parser of traceparent values:
// lib/tracing/ids.ts (span ids, outbound traceparents) re-exports it, so a request's lines and the
// run it starts name one trace.

/** A W3C traceparent of version 00, lowercase: `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>`. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE_ID = "0".repeat(32);
const ZERO_SPAN_ID = "0".repeat(16);

export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: number;
}

/**
 * The traceparent header's value parsed, or null when it is absent or invalid: W3C Trace Context
 * says a receiver that cannot parse it ignores it (and starts a trace of its own). Only version 00
 * is taken, in its exact form (lowercase hex, no extra fields); an all-zero id is invalid.
 * Surrounding spaces are trimmed (HTTP header values may carry them).
 */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== "string") return null;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return null;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

/** The trace id a `traceparent` header names, or undefined when it names none (parseTraceparent). */
export function traceIdOf(traceParent: string | null | undefined): string | undefined {
  return parseTraceparent(traceParent)?.traceId;
}

/**
 * The trace id of run `runId`: the trace id of its traceparent when it has a valid one (the run
 * joined its caller's trace: runs.trace_parent), else the run id's 32 hex digits (the uuid
 * without its dashes).
 */
export function runTraceId(runId: string, traceParent?: string | null): string {
  return traceIdOf(traceParent) ?? runId.replaceAll("-", "").toLowerCase();
}
