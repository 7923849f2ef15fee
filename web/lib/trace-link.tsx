"use client";
// The run page's "Trace" link (web/lib/trace-url.ts): the trace URL template comes from the
// console's server (TraceUrlProvider in web/app/runs/[id]/layout.tsx), the run's trace id from its
// traceparent (Run.traceParent, 000035) or its id (runTraceIdOf). Without a template nothing is shown and nothing is queried; a template the
// server refused shows why, so a typo in EVERRUNS_TRACE_URL is not a silently missing link.
import { createContext, useContext, type ReactNode } from "react";
import { graphql } from "@/lib/gql";
import { useQuery } from "@/lib/hooks";
import { isTraceId, runTraceIdOf, traceUrlOf, type TraceUrlConfig } from "@/lib/trace-url";

const TraceUrlContext = createContext<TraceUrlConfig>({ template: null, problem: null });

export function TraceUrlProvider({ value, children }: { value: TraceUrlConfig; children: ReactNode }) {
  return <TraceUrlContext.Provider value={value}>{children}</TraceUrlContext.Provider>;
}

const RUN_TRACE_ID_QUERY = graphql(`
  query RunTraceId($id: UUID!) {
    runById(id: $id) {
      id
      traceParent
    }
  }
`);

export function RunTraceLink({ runId }: { runId: string }) {
  const { template, problem } = useContext(TraceUrlContext);
  const { data } = useQuery(RUN_TRACE_ID_QUERY, { id: runId }, { skip: !template });
  if (problem) {
    return (
      <span data-testid="run-trace-problem" className="rounded bg-amber-50 px-1.5 text-xs text-amber-800 ring-1 ring-amber-200" title={problem}>
        no trace link: EVERRUNS_TRACE_URL is invalid
      </span>
    );
  }
  const run = data?.runById;
  const traceId = run ? runTraceIdOf(run.id, run.traceParent) : null;
  if (!template || !traceId || !isTraceId(traceId)) return null;
  return (
    <a
      data-testid="run-trace-link"
      href={traceUrlOf(template, traceId)}
      target="_blank"
      rel="noopener noreferrer"
      title={`trace ${traceId} in the trace UI (EVERRUNS_TRACE_URL)`}
      className="rounded-md border border-slate-200 bg-white px-2 py-0.5 text-xs text-sky-700 hover:border-sky-300 hover:underline"
    >
      Trace ↗
    </a>
  );
}
