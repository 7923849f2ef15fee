"use client";
// The steps of a run (its committed checkpoints) on one time axis: kind, name, attempt,
// duration, with the retries that preceded a step and the step still in progress: its name and
// attempt, and how long it has run, ticking.
import type { retriesByStep } from "@/lib/agui";
import { formatDuration, parseTime } from "@/lib/format";
import type { RunStepFieldsFragment as RunStep } from "@/lib/gql/graphql";
import { runErrorOf } from "@/lib/types";
import { KindBadge } from "./ui";

type Retries = ReturnType<typeof retriesByStep>;

const BAR_COLORS: Record<string, string> = { llm: "bg-indigo-400", tool: "bg-teal-400", wait: "bg-violet-300", system: "bg-slate-400" };

export function StepsTimeline({
  steps,
  retries,
  runStart,
  runEnd,
  inProgress,
  current = null,
  now = runEnd,
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
}) {
  const start = runStart ?? parseTime(steps[0]?.startedAt) ?? runEnd;
  const span = Math.max(1, runEnd - start);
  const pos = (t: number) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
  const nextSeq = (steps.at(-1)?.seq ?? 0) + 1;
  const pendingRetries = retries.get(nextSeq) ?? [];

  if (steps.length === 0 && !inProgress) return <p className="px-4 py-6 text-center text-sm text-slate-500">No steps were committed.</p>;

  return (
    <ol data-testid="timeline" className="divide-y divide-slate-100">
      {steps.map((step) => {
        const s = parseTime(step.startedAt) ?? start;
        const e = parseTime(step.finishedAt) ?? s;
        const left = pos(s);
        const width = Math.max(0.6, pos(e) - left);
        const duration = step.durationMs != null ? Number(step.durationMs) : e - s;
        const before = retries.get(step.seq) ?? [];
        const error = runErrorOf(step.error);
        return (
          <li key={step.seq} data-testid="timeline-step" data-kind={step.kind} data-attempt={step.attempt} className="px-4 py-2">
            {before.map((r) => (
              <RetryLine key={r.seq} retry={r} />
            ))}
            <div className="flex items-center gap-2 text-sm">
              <span className="w-6 shrink-0 text-right font-mono text-xs text-slate-400">{step.seq}</span>
              <KindBadge kind={step.kind} />
              <span className="min-w-0 flex-1 truncate font-mono text-xs text-slate-800" title={step.name}>
                {step.name}
              </span>
              {step.attempt > 1 && (
                <span
                  title="the step was attempted more than once (a crash or a retry)"
                  className="rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800"
                >
                  attempt {step.attempt}
                </span>
              )}
              {step.status !== "succeeded" && <span className="rounded bg-rose-100 px-1.5 py-0.5 text-[11px] font-medium text-rose-800">{step.status}</span>}
              <span className="w-16 shrink-0 text-right text-xs tabular-nums text-slate-600">{formatDuration(duration)}</span>
            </div>
            <div className="relative mt-1.5 ml-8 h-1.5 rounded-full bg-slate-100">
              <div
                className={`absolute top-0 h-1.5 rounded-full ${step.status !== "succeeded" ? "bg-rose-400" : (BAR_COLORS[step.kind] ?? "bg-slate-400")}`}
                style={{ left: `${left}%`, width: `${width}%` }}
              />
            </div>
            {error?.message && <p className="mt-1 ml-8 text-xs text-rose-700">{error.message}</p>}
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
              <span className="rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800">attempt {current.attempt}</span>
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
      <span>
        attempt {retry.attempt ?? "?"}
        {retry.maxAttempts ? `/${retry.maxAttempts}` : ""} failed{retry.delayMs != null ? ` · next in ${formatDuration(retry.delayMs)}` : ""}
      </span>
      <span className="min-w-0 truncate text-amber-700/80">— {retry.error}</span>
    </div>
  );
}
