// Deterministic trace and span ids of runs (docs/observability.md, "Traces"): a re-export of a
// run from its rows sends the same ids, and a worker can name the span of the step attempt it
// runs (the traceparent its http tools and MCP calls send) without asking anyone.
// db/migrations/000035_trace_context.sql (tg_runs__trace_parent) computes the same in SQL.
import { hash } from "node:crypto";
import { parseTraceparent, runTraceId } from "../trace-id.ts";

export { parseTraceparent, type TraceParent } from "../trace-id.ts";

/** `value` normalized when it is a valid traceparent (what runs.trace_parent accepts), else null. */
export function validTraceparent(value: unknown): string | null {
  const parsed = parseTraceparent(value);
  return parsed ? formatTraceparent(parsed.traceId, parsed.spanId, parsed.flags) : null;
}

export function formatTraceparent(traceId: string, spanId: string, flags = 1): string {
  return `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, "0")}`;
}

/** The first 16 hex digits of SHA-256 of `text`: a span id (never all zero in practice). */
function spanIdOf(text: string): string {
  // the one-shot hash (a string is hashed as its UTF-8): a span id per step attempt, twice a step
  return hash("sha256", text, "hex").slice(0, 16);
}

/** The trace of a run: the trace its trace_parent continues, else its own id's 32 hex digits (lib/trace-id.ts). */
export { runTraceId };

/** The span id of a run's root span (`invoke_agent <agent>`). */
export function rootSpanId(runId: string): string {
  return spanIdOf(`${runId.toLowerCase()}:root`);
}

/** The span id of attempt `attempt` (runs.step_attempt, the fence) of step `seq` of a run. */
export function attemptSpanId(runId: string, seq: number, attempt: number): string {
  return spanIdOf(`${runId.toLowerCase()}:${seq}:${attempt}:attempt`);
}

/** The traceparent a step attempt sends to what it calls (http tools, MCP servers): its own span as the parent. */
export function attemptTraceparent(runId: string, traceParent: string | null | undefined, seq: number, attempt: number): string {
  // the flags (sampled or not) of the trace the run continues, else sampled
  return formatTraceparent(runTraceId(runId, traceParent), attemptSpanId(runId, seq, attempt), parseTraceparent(traceParent)?.flags ?? 1);
}
