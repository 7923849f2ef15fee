"use client";
// The approvals inbox: every run waiting for an answer, oldest first, with approve / reject
// (confirmed, with a reason) / edit arguments right there, the same answers as the run page.
// Live: a run that becomes interrupted appears, an answered one leaves. Below it, the history of
// answers: who, when, approve or reject, the arguments. Several runs can be selected and approved
// or rejected at once, confirmed with their count, their ids and a reason (BulkActions).
// A run that asks what to do with a tool call whose outcome is unknown (issue 17, reason
// tool_outcome_unknown) is answered here too, with call again / skip / enter result
// (OutcomeAnswer); it cannot be selected: bulk approve / reject never answers such a question.
// Nor a run that reached its agent's budget (reason budget): raised or stopped here (BudgetAnswer).
import Link from "next/link";
import { useMemo, useState } from "react";
import { ApprovalsHistory } from "@/components/ApprovalsHistory";
import { BudgetAnswer, isBudgetInterrupt } from "@/components/BudgetAnswer";
import { BulkActions } from "@/components/BulkActions";
import { DecisionBadge, InterruptAnswer, type AnswerDecision } from "@/components/InterruptAnswer";
import { isOutcomeInterrupt, OutcomeAnswer, SentAnswerBadge, type SentAnswer } from "@/components/OutcomeAnswer";
import { Card, Empty, ErrorBox, Loading, PageHeader, Timestamp } from "@/components/ui";
import { interruptsOf } from "@/lib/agui";
import { shortId, textOf } from "@/lib/format";
import { useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { APPROVALS_QUERY, RUN_STATUS_UPDATED } from "@/lib/queries";
import { agUiEventOf, runInputOf, type AgUiEvent } from "@/lib/types";

function pendingClientCalls(event: AgUiEvent | null): boolean {
  const outcome = event?.outcome as { pendingToolCallIds?: unknown[] } | undefined;
  return Array.isArray(outcome?.pendingToolCallIds) && outcome.pendingToolCallIds.length > 0;
}

export default function ApprovalsPage() {
  const { data, error, loading, refetch } = useQuery(APPROVALS_QUERY);
  const refresh = useThrottled(() => void refetch(), 500);
  const [answered, setAnswered] = useState<Record<string, { next: string; decisions: AnswerDecision[]; outcomes?: SentAnswer[] }>>({});
  const [historyKey, setHistoryKey] = useState(0);
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());

  const pending = useMemo(
    () =>
      (data?.runsAwaitingAnswer ?? []).map((run) => {
        const finished = agUiEventOf(run.finished.nodes[0]?.event);
        // a question about an unknown outcome is no approval: bulk approve / reject must not answer it
        const outcome = (interruptsOf(finished) ?? []).some(isOutcomeInterrupt);
        // nor is a budget question: it is raised or stopped, never approved
        const budget = (interruptsOf(finished) ?? []).some(isBudgetInterrupt);
        return { ...run, input: runInputOf(run.input), finished, outcome, budget };
      }),
    [data],
  );
  const selectable = pending.filter((r) => !r.outcome && !r.budget);
  const total = data?.runsAwaitingAnswerCount ?? 0;
  const ids = useMemo(() => new Set(pending.map((r) => r.id)), [pending]);

  useSubscription(
    () => ({ query: RUN_STATUS_UPDATED }),
    {
      next: ({ runUpdated }) => {
        if (!runUpdated) return;
        const run = runUpdated.run;
        if (run?.status === "interrupted" || ids.has(runUpdated.runId) || (run?.parentRunId && ids.has(run.parentRunId))) {
          refresh();
          // answered elsewhere (the run page, the CLI, SQL): the history gains a row
          if (run?.parentRunId) setHistoryKey((k) => k + 1);
        }
      },
    },
    "approvals",
  );

  // only runs still shown can stay selected
  const selectedRuns = selectable.filter((r) => selected.has(r.id)).map((r) => ({ id: r.id, status: r.status }));
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <>
      <PageHeader
        title="Approvals"
        subtitle={
          data ? (
            <span data-testid="approvals-summary">
              {total === 0
                ? "Nothing is waiting for an answer"
                : `${total} run${total === 1 ? "" : "s"} waiting, oldest first${total > pending.length ? ` (the first ${pending.length} shown)` : ""}`}
            </span>
          ) : (
            "Runs waiting for a human answer"
          )
        }
      />
      {error && (
        <div className="mb-4">
          <ErrorBox error={error} title="Could not load the runs waiting for an answer" onRetry={() => void refetch()} />
        </div>
      )}
      <div className="mb-3 overflow-hidden rounded-lg empty:hidden">
        <BulkActions
          selected={selectedRuns}
          actions={["approve", "reject"]}
          onDone={() => {
            setSelected(new Set());
            setHistoryKey((k) => k + 1);
            refresh();
          }}
          onClear={() => setSelected(new Set())}
        />
      </div>
      {loading && !data ? (
        <Card>
          <Loading rows={4} />
        </Card>
      ) : pending.length === 0 && Object.keys(answered).length === 0 ? (
        !error && (
          <Card>
            <Empty title="Inbox zero">
              Runs that need an approval (a tool marked requires_approval), or ask what to do with a tool call whose outcome is unknown, show up here the moment
              they stop.
            </Empty>
          </Card>
        )
      ) : (
        <ul className="space-y-3" data-testid="approvals">
          {selectable.length > 1 && (
            <li className="flex items-center gap-2 px-1 text-xs text-slate-600">
              <label className="flex items-center gap-1.5">
                <input
                  type="checkbox"
                  data-testid="select-all"
                  checked={selectable.every((r) => selected.has(r.id))}
                  onChange={(e) => setSelected(e.target.checked ? new Set(selectable.map((r) => r.id)) : new Set())}
                />
                Select all {selectable.length} to answer them at once
                {selectable.length < pending.length && " (questions about unknown outcomes are answered one by one)"}
              </label>
            </li>
          )}
          {Object.entries(answered).map(([runId, { next, decisions, outcomes }]) => (
            <li
              key={runId}
              data-testid="answered"
              data-run-id={runId}
              className="flex flex-wrap items-center gap-2 rounded-lg border border-emerald-200 bg-emerald-50 px-4 py-2.5 text-sm text-emerald-900"
            >
              <span>
                Answered run <span className="font-mono">{shortId(runId)}</span>:
              </span>
              {decisions.map((d) => (
                <DecisionBadge key={d.interruptId} decision={d} />
              ))}
              {outcomes?.map((a) => (
                <SentAnswerBadge key={a.interruptId} answer={a} />
              ))}
              <span>
                — the work continues in run{" "}
                <Link href={`/runs/${next}`} className="font-mono text-sky-700 hover:underline">
                  {shortId(next)}
                </Link>
                .
              </span>
            </li>
          ))}
          {pending.map((run) => {
            const interrupts = interruptsOf(run.finished) ?? [];
            const prompt = [...(run.input?.messages ?? [])].reverse().find((m) => m.role === "user");
            return (
              <li
                key={run.id}
                data-testid="approval"
                data-run-id={run.id}
                data-kind={run.budget ? "budget" : run.outcome ? "outcome" : "approval"}
                className="rounded-lg border border-amber-200 bg-white shadow-sm"
              >
                <div className="flex flex-wrap items-start justify-between gap-4 px-4 py-3">
                  <div className="min-w-0 flex-1 space-y-1.5">
                    <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-slate-500">
                      <input
                        type="checkbox"
                        aria-label={`select run ${run.id}`}
                        data-testid="select-run"
                        disabled={run.outcome || run.budget}
                        title={
                          run.budget
                            ? "reached its budget: raise it or stop below, bulk approve / reject does not"
                            : run.outcome
                              ? "asks what to do with a call whose outcome is unknown: answer it below, bulk approve / reject does not"
                              : undefined
                        }
                        checked={!run.outcome && !run.budget && selected.has(run.id)}
                        onChange={() => toggle(run.id)}
                      />
                      <Link href={`/runs/${run.id}`} className="font-mono text-[13px] font-medium text-sky-700 hover:underline">
                        run {shortId(run.id)}
                      </Link>
                      <span>
                        agent{" "}
                        <Link href={`/agents/${run.agentId}`} className="text-slate-700 hover:underline">
                          {run.agentByAgentId?.name ?? shortId(run.agentId)}
                        </Link>
                      </span>
                      <span>
                        waiting since <Timestamp value={run.finishedAt ?? run.createdAt} />
                      </span>
                    </div>
                    {prompt && <p className="truncate text-sm text-slate-600">“{textOf(prompt.content)}”</p>}
                    {interrupts.length === 0 && (
                      <p className="text-xs text-slate-500">
                        {pendingClientCalls(run.finished)
                          ? "Waiting for the client to return the result of a tool it runs; the client's answer continues the run."
                          : "The run’s interrupt details are not in its event log; open the run to see it."}
                      </p>
                    )}
                  </div>
                </div>
                {/* the question, its arguments (once) and the three answers: approve, reject, edit */}
                {interrupts.length > 0 && run.outcome && (
                  <div className="border-t border-amber-100 px-4 py-3">
                    <OutcomeAnswer
                      runId={run.id}
                      interrupts={interrupts}
                      onResumed={(next, outcomes) => {
                        setAnswered((a) => ({ ...a, [run.id]: { next, decisions: [], outcomes } }));
                        setHistoryKey((k) => k + 1);
                        refresh();
                      }}
                    />
                  </div>
                )}
                {interrupts.length > 0 && run.budget && (
                  <div className="border-t border-amber-100 px-4 py-3">
                    <BudgetAnswer
                      runId={run.id}
                      interrupt={interrupts.find(isBudgetInterrupt)!}
                      onResumed={(next) => {
                        setAnswered((a) => ({ ...a, [run.id]: { next, decisions: [] } }));
                        setHistoryKey((k) => k + 1);
                        refresh();
                      }}
                    />
                  </div>
                )}
                {interrupts.length > 0 && !run.outcome && !run.budget && (
                  <div className="border-t border-amber-100 px-4 py-3">
                    <InterruptAnswer
                      runId={run.id}
                      interrupts={interrupts}
                      onResumed={(next, decisions) => {
                        setAnswered((a) => ({ ...a, [run.id]: { next, decisions: [...decisions.values()] } }));
                        setHistoryKey((k) => k + 1);
                        refresh();
                      }}
                    />
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      <ApprovalsHistory refreshKey={historyKey} />
    </>
  );
}
