"use client";
// The runs table: status (and error code), agent and the version the run pinned, thread,
// started, duration, steps, tokens, cost. Rows that changed flash briefly; durations of
// unfinished runs tick.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { formatAgo, formatCost, formatDateTime, formatDuration, formatNumber, runDurationMs, shortId } from "@/lib/format";
import { useNow } from "@/lib/hooks";
import type { RunRowFieldsFragment as RunRow } from "@/lib/gql/graphql";
import { runErrorOf, usageOf } from "@/lib/types";
import { StatusBadge } from "./ui";

/** A row; `agentVersion` when the query asked for it (the runs list does). */
type Row = RunRow & { agentVersion?: number };

export function RunsTable({ runs, flash, showAgent = true }: { runs: Row[]; flash?: Map<string, number>; showAgent?: boolean }) {
  const router = useRouter();
  const now = useNow(1000);
  return (
    <div className="overflow-x-auto">
      <table data-testid="runs-table" className="w-full text-sm">
        <thead>
          <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
            <th className="px-4 py-2">Status</th>
            <th className="px-3 py-2">Run</th>
            {showAgent && <th className="px-3 py-2">Agent</th>}
            <th className="px-3 py-2">Thread</th>
            <th className="px-3 py-2">Started</th>
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
            return (
              <tr
                key={`${run.id}:${n}`}
                data-run-id={run.id}
                data-status={run.status}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest("a")) return;
                  router.push(`/runs/${run.id}`);
                }}
                className={`cursor-pointer hover:bg-slate-50 ${n > 0 ? "row-flash" : ""}`}
              >
                <td className="px-4 py-2">
                  <StatusBadge status={run.status} />
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
                <td className="whitespace-nowrap px-3 py-2 text-slate-600" title={formatDateTime(started)}>
                  {formatAgo(started, now)}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700">
                  {run.status === "queued" ? <span className="text-slate-400">queued</span> : formatDuration(runDurationMs(run, now))}
                </td>
                <td className="px-3 py-2 text-right tabular-nums text-slate-700">{run.runStepsByRunId.totalCount}</td>
                <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700" title={`${inTokens} in / ${outTokens} out`}>
                  {formatNumber(inTokens + outTokens)}
                </td>
                <td className="px-4 py-2 text-right tabular-nums text-slate-700">{formatCost(usage.cost_usd ?? 0)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
