"use client";
// The steps of a run (its committed checkpoints) on one time axis: kind, name, attempt,
// duration, with the retries that preceded a step and the step still in progress: its name and
// attempt, and how long it has run, ticking. While the run waits, its last step (the wait) shows
// how long it has waited, ticking, not the milliseconds it took to park the run. A step's error
// that is the run's error (shown at the top of the page) is not repeated here. A failed or
// cancelled run that is its thread's latest offers "Rerun from here" on each step (000016).
import { useParams } from "next/navigation";
import { useState } from "react";
import type { retriesByStep } from "@/lib/agui";
import { formatAttempt, formatDuration, formatRetry, parseTime } from "@/lib/format";
import type { RunStepFieldsFragment as RunStep } from "@/lib/gql/graphql";
import { runErrorOf } from "@/lib/types";
import { RerunFromStepButton, RerunFromStepConfirm, useRerunFromStep } from "./OperatorActions";
import { KindBadge } from "./ui";

type Retries = ReturnType<typeof retriesByStep>;

const BAR_COLORS: Record<string, string> = {
  llm: "bg-indigo-400",
  tool: "bg-teal-400",
  wait: "bg-violet-300",
  system: "bg-slate-400",
  compaction: "bg-amber-400",
};

export function StepsTimeline({
  steps,
  retries,
  runStart,
  runEnd,
  inProgress,
  current = null,
  now = runEnd,
  waiting = false,
  runError = null,
  runId,
}: {
  steps: RunStep[];
  retries: Retries;
  runStart: number | null;
  runEnd: number;
  /** the run is still working: show the next step as running */
  inProgress: boolean;
  /** the step in progress, as far as known: its name (its STEP_STARTED, or its attempt's record), attempt and start */
  current?: { name: string | null; kind: string | null; attempt: number | null; startedAt: number | null } | null;
  /** the clock the elapsed time of the step in progress ticks with */
  now?: number;
  /** the run is parked (a wait or a timer): its last step is the wait, still going */
  waiting?: boolean;
  /** the run's error message, shown at the top of the page */
  runError?: string | null;
  /** the run whose steps these are (default: the run page's route id), for "Rerun from here" */
  runId?: string;
}) {
  const params = useParams<{ id?: string }>();
  // asked again when the run ends (inProgress, runError) or commits a step
  const rerunFrom = useRerunFromStep(runId ?? params?.id ?? null, `${inProgress}:${waiting}:${runError ?? ""}:${steps.length}`);
  const [confirmingSeq, setConfirmingSeq] = useState<number | null>(null);
  const start = runStart ?? parseTime(steps[0]?.startedAt) ?? runEnd;
  const span = Math.max(1, runEnd - start);
  const pos = (t: number) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
  const nextSeq = (steps.at(-1)?.seq ?? 0) + 1;
  const pendingRetries = retries.get(nextSeq) ?? [];

  if (steps.length === 0 && !inProgress) return <p className="px-4 py-6 text-center text-sm text-slate-500">No steps were committed.</p>;

  return (
    <ol data-testid="timeline" className="divide-y divide-slate-100">
      {steps.map((step, index) => {
        const s = parseTime(step.startedAt) ?? start;
        // the wait a parked run is in: it lasts until now
        const waitingHere = waiting && index === steps.length - 1;
        const e = waitingHere ? now : (parseTime(step.finishedAt) ?? s);
        const left = pos(s);
        const width = Math.max(0.6, pos(e) - left);
        const duration = waitingHere ? now - s : step.durationMs != null ? Number(step.durationMs) : e - s;
        const before = retries.get(step.seq) ?? [];
        const error = runErrorOf(step.error);
        return (
          <li
            key={step.seq}
            data-testid="timeline-step"
            data-kind={step.kind}
            data-attempt={step.attempt}
            data-waiting={waitingHere || undefined}
            className="px-4 py-2"
          >
            {before.map((r) => (
              <RetryLine key={r.seq} retry={r} />
            ))}
            <div className="flex items-center gap-2 text-sm">
              <span className="w-6 shrink-0 text-right font-mono text-xs text-slate-400">{step.seq}</span>
              <KindBadge kind={step.kind} />
              {/* whole, wrapped: a model name is never cut off */}
              <span data-testid="timeline-step-name" className="min-w-0 flex-1 break-words font-mono text-xs text-slate-800" title={step.name}>
                {step.name}
              </span>
              {step.attempt > 1 && (
                <span
                  title="the step was attempted more than once (a crash or a retry)"
                  className="rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800"
                >
                  {formatAttempt(step.attempt)}
                </span>
              )}
              {step.status !== "succeeded" && <span className="rounded bg-rose-100 px-1.5 py-0.5 text-[11px] font-medium text-rose-800">{step.status}</span>}
              <span
                data-testid="timeline-step-duration"
                className={`w-24 shrink-0 text-right text-xs tabular-nums ${waitingHere ? "text-violet-700" : "text-slate-600"}`}
                title={waitingHere ? "waiting since this step parked the run" : undefined}
              >
                {waitingHere ? `waiting ${formatDuration(duration)}` : formatDuration(duration)}
              </span>
              {rerunFrom && <RerunFromStepButton seq={step.seq} onClick={() => setConfirmingSeq(step.seq)} />}
            </div>
            <div className="relative mt-1.5 ml-8 h-1.5 rounded-full bg-slate-100">
              <div
                className={`absolute top-0 h-1.5 rounded-full ${step.status !== "succeeded" ? "bg-rose-400" : waitingHere ? "animate-pulse bg-violet-300" : (BAR_COLORS[step.kind] ?? "bg-slate-400")}`}
                style={{ left: `${left}%`, width: `${width}%` }}
              />
            </div>
            {error?.message &&
              (error.message === runError ? (
                <p className="mt-1 ml-8 text-xs text-rose-700">the run&apos;s error (above)</p>
              ) : (
                <p className="mt-1 ml-8 text-xs text-rose-700">{error.message}</p>
              ))}
            {rerunFrom && confirmingSeq === step.seq && (
              <RerunFromStepConfirm runId={rerunFrom.runId} seq={step.seq} agentVersion={rerunFrom.agentVersion} onBack={() => setConfirmingSeq(null)} />
            )}
          </li>
        );
      })}
      {inProgress && (
        <li data-testid="timeline-running" className="px-4 py-2">
          {pendingRetries.map((r) => (
            <RetryLine key={r.seq} retry={r} />
          ))}
          <div className="flex items-center gap-2 text-sm text-slate-500">
            <span className="w-6 shrink-0 text-right font-mono text-xs text-slate-400">{nextSeq}</span>
            <span className="h-2 w-2 shrink-0 animate-pulse rounded-full bg-sky-500" />
            {current?.kind && <KindBadge kind={current.kind} />}
            <span data-testid="timeline-running-name" className="min-w-0 flex-1 truncate font-mono text-xs text-slate-800" title={current?.name ?? undefined}>
              {current?.name?.replace(/^step \d+: (llm|tool|wait|system) /, "") ?? "starting…"}
            </span>
            {current?.attempt != null && current.attempt > 1 && (
              <span className="rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800">{formatAttempt(current.attempt)}</span>
            )}
            <span data-testid="timeline-running-elapsed" className="w-16 shrink-0 text-right text-xs tabular-nums text-sky-700">
              {current?.startedAt != null ? formatDuration(now - current.startedAt) : "—"}
            </span>
          </div>
          {current?.startedAt != null && (
            <div className="relative mt-1.5 ml-8 h-1.5 rounded-full bg-slate-100">
              <div
                className="absolute top-0 h-1.5 animate-pulse rounded-full bg-sky-300"
                style={{ left: `${pos(current.startedAt)}%`, width: `${Math.max(0.6, pos(now) - pos(current.startedAt))}%` }}
              />
            </div>
          )}
        </li>
      )}
    </ol>
  );
}

function RetryLine({ retry }: { retry: { attempt: number | null; maxAttempts: number | null; delayMs: number | null; error: string } }) {
  return (
    <div data-testid="timeline-retry" title={retry.error} className="mb-1 ml-8 flex min-w-0 items-center gap-1.5 whitespace-nowrap text-[11px] text-amber-800">
      <span className="rounded bg-amber-100 px-1 font-medium">retry</span>
      {/* the one wording (formatRetry): "attempt 1 of 5 failed · attempt 2 of 5 in 1.0 s" */}
      <span data-testid="retry-wording">{formatRetry(retry.attempt, retry.maxAttempts, retry.delayMs)}</span>
      <span className="min-w-0 truncate text-amber-700/80">— {retry.error}</span>
    </div>
  );
}
