"use client";
// The runs table: status (and error code, or the step a running run is on), agent and the
// version the run pinned, thread, started, the run's last progress report (report_progress: a bar
// and its message), duration, steps, tokens, cost. Rows that changed flash
// briefly; durations of unfinished runs tick. With `selection`, each row has a checkbox (the runs
// list's bulk actions).
import Link from "next/link";
import { useRouter } from "next/navigation";
import { formatAttempt, formatDuration, formatNumber, runDurationMs, shortId } from "@/lib/format";
import { useNow } from "@/lib/hooks";
import type { RunRowFieldsFragment as RunRow } from "@/lib/gql/graphql";
import { progressOf } from "@/lib/state";
import { runErrorOf, usageOf } from "@/lib/types";
import { ProgressCell } from "./RunProgress";
import { Cost, StatusBadge, Timestamp } from "./ui";

/** A row; `agentVersion` when the query asked for it (the runs list does). */
type Row = RunRow & { agentVersion?: number };

/** Selected rows and how to change them (the runs list's bulk actions). */
export interface RowSelection {
  selected: ReadonlySet<string>;
  toggle: (id: string) => void;
  toggleAll: (ids: string[], on: boolean) => void;
}

/** The step a running run is on: its attempt's record, pushed with runUpdated (000013). */
function currentStepOf(run: Row): { name: string; attempt: number } | null {
  if (run.status !== "running") return null;
  const attempt = run.current?.nodes[0];
  if (!attempt || attempt.outcome != null) return null;
  return { name: (attempt.stepName ?? `step ${attempt.seq}: ${attempt.stepKind ?? "?"}`).replace(/^step \d+: /, ""), attempt: attempt.attempt };
}

export function RunsTable({
  runs,
  flash,
  showAgent = true,
  selection,
}: {
  runs: Row[];
  flash?: Map<string, number>;
  showAgent?: boolean;
  selection?: RowSelection;
}) {
  const router = useRouter();
  const now = useNow(1000);
  // the Progress column only when a run shown has reported some: most agents never do
  const showProgress = runs.some((r) => r.progress != null);
  const allSelected = Boolean(selection) && runs.length > 0 && runs.every((r) => selection!.selected.has(r.id));
  return (
    <div className="overflow-x-auto">
      <table data-testid="runs-table" className="w-full text-sm">
        <thead>
          <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
            {/* the selection's checkbox lives in the status cell: the columns are the same with or without it */}
            <th className="px-4 py-2">
              {selection && (
                <input
                  type="checkbox"
                  aria-label="select every run shown"
                  data-testid="select-all"
                  checked={allSelected}
                  onChange={(e) =>
                    selection.toggleAll(
                      runs.map((r) => r.id),
                      e.target.checked,
                    )
                  }
                  className="mr-2 align-middle"
                />
              )}
              Status
            </th>
            <th className="px-3 py-2">Run</th>
            {showAgent && <th className="px-3 py-2">Agent</th>}
            <th className="px-3 py-2">Thread</th>
            <th className="px-3 py-2">Started</th>
            {showProgress && <th className="px-3 py-2">Progress</th>}
            <th className="px-3 py-2 text-right">Duration</th>
            <th className="px-3 py-2 text-right">Steps</th>
            <th className="px-3 py-2 text-right">Tokens</th>
            <th className="px-4 py-2 text-right">Cost</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {runs.map((run) => {
            const n = flash?.get(run.id) ?? 0;
            const usage = usageOf(run.usage);
            const inTokens = usage.input_tokens ?? 0;
            const outTokens = usage.output_tokens ?? 0;
            const started = run.startedAt ?? run.createdAt;
            const errorCode = run.status === "failed" ? runErrorOf(run.error)?.code : undefined;
            const step = currentStepOf(run);
            return (
              <tr
                key={`${run.id}:${n}`}
                data-run-id={run.id}
                data-status={run.status}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("a, input, label")) return;
                  router.push(`/runs/${run.id}`);
                }}
                className={`cursor-pointer hover:bg-slate-50 ${n > 0 ? "row-flash" : ""} ${selection?.selected.has(run.id) ? "bg-sky-50/70" : ""}`}
              >
                <td className="whitespace-nowrap px-4 py-2">
                  {selection && (
                    <input
                      type="checkbox"
                      aria-label={`select run ${run.id}`}
                      data-testid="select-run"
                      checked={selection.selected.has(run.id)}
                      onChange={() => selection.toggle(run.id)}
                      className="mr-2 align-middle"
                    />
                  )}
                  <StatusBadge status={run.status} />
                  {step && (
                    <span
                      data-testid="run-current-step"
                      title={`${step.name} (${formatAttempt(step.attempt)})`}
                      className="ml-1.5 font-mono text-[11px] text-sky-800"
                    >
                      {step.name}
                      {step.attempt > 1 ? ` · ${formatAttempt(step.attempt)}` : ""}
                    </span>
                  )}
                  {errorCode && (
                    <Link
                      href={`/runs?error=${encodeURIComponent(errorCode)}`}
                      title={`error ${errorCode}: show every run with this error`}
                      data-testid="run-error-code"
                      className="ml-1.5 rounded bg-rose-50 px-1 font-mono text-[11px] text-rose-800 hover:underline"
                    >
                      {errorCode}
                    </Link>
                  )}
                </td>
                <td className="px-3 py-2">
                  <Link href={`/runs/${run.id}`} title={run.id} className="font-mono text-[13px] text-sky-700 hover:underline">
                    {shortId(run.id)}
                  </Link>
                  {run.parentRunId && (
                    <span
                      title={`continues run ${run.parentRunId}`}
                      className="ml-1.5 rounded bg-slate-100 px-1 text-[10px] font-medium uppercase text-slate-500"
                    >
                      resume
                    </span>
                  )}
                </td>
                {showAgent && (
                  <td className="px-3 py-2">
                    {run.agentByAgentId ? (
                      <Link href={`/agents/${run.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                        {run.agentByAgentId.name}
                      </Link>
                    ) : (
                      <span className="font-mono text-xs text-slate-400">{shortId(run.agentId)}</span>
                    )}
                    {run.agentVersion != null && (
                      <Link
                        href={`/runs?agent=${run.agentId}&version=${run.agentVersion}`}
                        title={`runs of version ${run.agentVersion} of this agent`}
                        data-testid="run-agent-version"
                        className="ml-1 rounded bg-slate-100 px-1 text-[11px] tabular-nums text-slate-500 hover:text-sky-700"
                      >
                        v{run.agentVersion}
                      </Link>
                    )}
                  </td>
                )}
                <td className="px-3 py-2">
                  <Link
                    href={`/threads/${run.threadId}`}
                    title={run.threadId}
                    className="font-mono text-[13px] text-slate-500 hover:text-sky-700 hover:underline"
                  >
                    {shortId(run.threadId)}
                  </Link>
                </td>
                <td className="px-3 py-2 text-slate-600">
                  <Timestamp value={started} />
                </td>
                {showProgress && (
                  <td className="px-3 py-2">
                    <ProgressCell progress={progressOf(run.progress)} />
                  </td>
                )}
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700">
                  {run.status === "queued" ? <span className="text-slate-400">queued</span> : formatDuration(runDurationMs(run, now))}
                </td>
                <td className="px-3 py-2 text-right tabular-nums text-slate-700">{run.runStepsByRunId.totalCount}</td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700" title={`${inTokens} in / ${outTokens} out`}>
                  {formatNumber(inTokens + outTokens)}
                </td>
                <td className="px-4 py-2 text-right text-slate-700">
                  <Cost usd={usage.cost_usd ?? 0} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
