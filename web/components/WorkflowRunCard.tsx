"use client";
// The run page's Workflow card (issue 21): a workflow run drawn on its definition's graph: the
// state it is in now (the run's AG-UI state, `current`) highlighted, the states it went through
// with their visits, time and retries, a parked state with why it waits and its deadline, a
// failed one in red; the transitions taken drawn bolder; and the list of transitions. A run that
// continues another on its thread (after an approval: parentRunId) continues its workflow: the
// transitions of the runs it continues come first. Its own query, refetched when the run changes
// (its page passes updatedAt, which runUpdated moves on every step commit), so the graph follows
// the run live.
import Link from "next/link";
import { useEffect, useMemo } from "react";
import { Card, ErrorBox, Loading } from "@/components/ui";
import { WorkflowGraph } from "@/components/WorkflowGraph";
import { formatDateTime, formatDuration, shortId } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { WORKFLOW_RUN_QUERY } from "@/lib/queries";
import { TERMINAL_STATUSES } from "@/lib/types";
import { overlayOf, readMachine, transitionsOf, workflowCurrentOf, workflowDefinitionOf, type Transition, type WorkflowStepRow } from "@/lib/workflow";

export function WorkflowRunCard({
  runId,
  config,
  state,
  status,
  updatedAt,
}: {
  runId: string;
  /** the run's pinned agent version's config */
  config: unknown;
  /** the run's AG-UI state: {current, data} */
  state: unknown;
  status: string;
  updatedAt: string;
}) {
  const definition = useMemo(() => workflowDefinitionOf(config), [config]);
  const machine = useMemo(() => (definition ? readMachine(definition) : null), [definition]);
  const query = useQuery(WORKFLOW_RUN_QUERY, { id: runId }, { skip: !machine });
  const refetch = query.refetch;
  useEffect(() => {
    if (machine) void refetch();
  }, [updatedAt, refetch, machine]);

  const data = query.data?.runById ?? null;
  // this run and the runs it continues, oldest first (its own steps always; its ancestors' when they are among the thread's latest runs)
  const chain = useMemo(() => {
    if (!data) return [];
    const byId = new Map((data.threadByThreadId?.runsByThreadId.nodes ?? []).filter((r) => r !== null).map((r) => [r.id, r]));
    byId.set(data.id, data);
    const out: Array<{ id: string; runStepsByRunId: { nodes: Array<WorkflowStepRow | null> } }> = [];
    const seen = new Set<string>();
    for (let r = byId.get(data.id); r && !seen.has(r.id); r = r.parentRunId ? byId.get(r.parentRunId) : undefined) {
      seen.add(r.id);
      out.unshift(r);
    }
    return out;
  }, [data]);
  const transitions = useMemo(
    () =>
      chain.flatMap((r) =>
        transitionsOf(
          r.id,
          (r.runStepsByRunId.nodes ?? []).filter((s) => s !== null),
        ),
      ),
    [chain],
  );
  const current = workflowCurrentOf(state);
  const ended = TERMINAL_STATUSES.includes(status);
  const overlay = useMemo(() => overlayOf(transitions, current, ended), [transitions, current, ended]);
  const taken = useMemo(() => new Set(transitions.filter((t) => t.kind === "state" && t.next).map((t) => `${t.state}\u0000${t.next}`)), [transitions]);

  if (!machine) return null;
  const parked = !ended ? [...overlay.entries()].find(([, o]) => o.status === "waiting") : undefined;
  return (
    <Card
      title="Workflow"
      testId="workflow-run"
      actions={
        <span className="text-xs text-slate-500">
          {transitions.filter((t) => t.kind === "state").length} transitions
          {chain.length > 1 && ` · over ${chain.length} runs`}
        </span>
      }
    >
      {query.error && <ErrorBox error={query.error} title="Could not load the workflow's steps" onRetry={() => void refetch()} />}
      <div data-testid="workflow-now" className="mb-2 text-sm text-slate-700">
        {parked ? (
          <span className="text-violet-900">
            Waiting in <span className="font-mono font-medium">{parked[0]}</span>
            {parked[1].reason && <> for {reasonText(parked[1].reason)}</>}
            {parked[1].until && <> until {formatDateTime(parked[1].until)}</>}
          </span>
        ) : current && !ended ? (
          <span className="text-sky-900">
            Now in <span className="font-mono font-medium">{current}</span>
          </span>
        ) : ended ? (
          <span>The workflow ended ({status}).</span>
        ) : (
          <span className="text-slate-500">Not started yet.</span>
        )}
      </div>
      {query.loading && !query.data ? <Loading /> : <WorkflowGraph machine={machine} overlay={overlay} taken={taken} testId="workflow-run-graph" />}
      <Transitions transitions={transitions} runId={runId} />
    </Card>
  );
}

function reasonText(reason: string): string {
  switch (reason) {
    case "timer":
      return "a timer";
    case "event":
      return "an event";
    case "children":
      return "its child runs";
    case "retry":
      return "a retry's backoff";
    case "approval":
      return "an approval";
    default:
      return reason;
  }
}

function Transitions({ transitions, runId }: { transitions: Transition[]; runId: string }) {
  if (transitions.length === 0) return <p className="mt-3 text-xs text-slate-500">No transitions yet.</p>;
  return (
    <div className="mt-3 max-h-80 overflow-auto rounded border border-slate-200">
      <table data-testid="workflow-transitions" className="w-full text-xs">
        <thead className="sticky top-0 bg-slate-50 text-left text-[11px] uppercase tracking-wide text-slate-500">
          <tr>
            <th className="px-2 py-1 font-medium">State</th>
            <th className="px-2 py-1 font-medium">Type</th>
            <th className="px-2 py-1 font-medium">Entered</th>
            <th className="px-2 py-1 text-right font-medium">Took</th>
            <th className="px-2 py-1 text-right font-medium">Retries</th>
            <th className="px-2 py-1 font-medium">Then</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {transitions.map((t) => (
            <tr
              key={`${t.runId}-${t.seq}`}
              data-testid="workflow-transition"
              data-state={t.state}
              data-kind={t.kind}
              className={t.status === "failed" ? "bg-rose-50" : t.kind === "wait" ? "bg-violet-50/50" : ""}
            >
              <td className="px-2 py-1 font-mono text-slate-800">
                {t.state}
                {t.runId !== runId && (
                  <Link
                    href={`/runs/${t.runId}`}
                    className="ml-1 font-sans text-[10px] text-sky-700 hover:underline"
                    title="a step of the run this one continues"
                  >
                    run {shortId(t.runId)}
                  </Link>
                )}
              </td>
              <td className="px-2 py-1 text-slate-600">{t.type}</td>
              <td className="px-2 py-1 tabular-nums text-slate-600">{t.enteredAt ? formatDateTime(t.enteredAt) : "—"}</td>
              <td className="px-2 py-1 text-right tabular-nums text-slate-600">{t.tookMs != null ? formatDuration(t.tookMs) : "—"}</td>
              <td className="px-2 py-1 text-right tabular-nums text-slate-600">{t.retries || ""}</td>
              <td className="px-2 py-1 text-slate-700">
                {t.kind === "wait" ? (
                  <span className="text-violet-800">
                    waits for {reasonText(t.reason ?? "?")}
                    {t.event?.name && (
                      <>
                        {" "}
                        <span className="font-mono">{t.event.name}</span>
                      </>
                    )}
                    {t.until && <> until {formatDateTime(t.until)}</>}
                  </span>
                ) : t.error ? (
                  <span className={t.caught ? "text-amber-800" : "text-rose-800"} title={t.error.Cause}>
                    {t.error.Error ?? "error"}
                    {t.error.Cause ? `: ${t.error.Cause}` : ""}
                    {t.caught && t.next ? ` → caught, ${t.next}` : ""}
                  </span>
                ) : t.next ? (
                  <span>
                    → <span className="font-mono">{t.next}</span>
                  </span>
                ) : (
                  <span className="text-slate-500">end</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
