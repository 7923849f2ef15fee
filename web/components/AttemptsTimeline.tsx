"use client";
// Every attempt of every step of a run (everruns.run_attempts) on one real time axis: when each
// began and ended, on which worker (pool, host, pid), and how it ended. A lost attempt (its
// worker died, or a newer attempt fenced it out) is followed by the gap until the next attempt
// began: from its last event to the next start, drawn as a hatched stretch of the axis.
import { attemptOutcomeLabel, isLostAttempt } from "@/lib/agui";
import { formatDuration, formatInstant, parseTime } from "@/lib/format";
import type { RunAttemptFieldsFragment as RunAttempt } from "@/lib/gql/graphql";
import { runErrorOf } from "@/lib/types";
import { KindBadge } from "./ui";

const OUTCOME_STYLES: Record<string, { bar: string; badge: string }> = {
  committed: { bar: "bg-emerald-400", badge: "bg-emerald-50 text-emerald-800" },
  worker_died: { bar: "bg-rose-400", badge: "bg-rose-100 text-rose-800" },
  fenced_out: { bar: "bg-rose-300", badge: "bg-rose-100 text-rose-800" },
  retried: { bar: "bg-amber-400", badge: "bg-amber-100 text-amber-800" },
  handed_back: { bar: "bg-slate-400", badge: "bg-slate-100 text-slate-700" },
  running: { bar: "bg-sky-400 animate-pulse", badge: "bg-sky-50 text-sky-800" },
  ended: { bar: "bg-slate-300", badge: "bg-slate-100 text-slate-600" },
};

/** "13:46:27.812": the clock time of an instant, to the millisecond (gaps are often short). */
function clock(t: number | null): string {
  if (t == null) return "—";
  const d = new Date(t);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** "step 2: tool simulate_work" → "simulate_work": the seq and the kind are shown beside it. */
function shortStepName(name: string | null | undefined): string | null {
  return name ? name.replace(/^step \d+: (llm|tool|wait|system) /, "") : null;
}

export function AttemptsTimeline({
  attempts,
  runStart,
  runEnd,
  settled,
}: {
  attempts: RunAttempt[];
  runStart: number | null;
  runEnd: number;
  /** the run does nothing more by itself: an attempt still open ended with it */
  settled: boolean;
}) {
  if (attempts.length === 0) {
    return <p className="px-4 py-6 text-center text-sm text-slate-500">No attempts recorded (runs started before this release have none).</p>;
  }
  const start = runStart ?? parseTime(attempts[0]!.startedAt) ?? runEnd;
  const span = Math.max(1, runEnd - start);
  const pos = (t: number) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
  const lost = attempts.filter((a) => isLostAttempt(a.outcome)).length;
  const stepCount = new Set(attempts.map((a) => a.seq)).size;

  return (
    <div data-testid="attempts">
      <p className="flex flex-wrap items-baseline justify-between gap-x-3 border-b border-slate-100 px-4 py-2 text-xs text-slate-500">
        <span>
          {attempts.length} attempt{attempts.length === 1 ? "" : "s"} of {stepCount} step{stepCount === 1 ? "" : "s"}
          {lost > 0 ? <span className="font-medium text-rose-700"> · {lost} lost to a crash or a takeover</span> : null}
        </span>
        <span className="tabular-nums" title={`${formatInstant(start)} → ${formatInstant(runEnd)}`}>
          axis {clock(start)} → {clock(runEnd)}
        </span>
      </p>
      <ol className="divide-y divide-slate-100">
        {attempts.map((a, i) => {
          const next = attempts[i + 1]?.seq === a.seq ? attempts[i + 1] : undefined;
          const s = parseTime(a.startedAt) ?? start;
          const open = a.outcome == null;
          const e = parseTime(a.lastEventAt) ?? parseTime(a.endedAt) ?? (open && !settled ? runEnd : s);
          const key = open ? (settled ? "ended" : "running") : a.outcome!;
          const style = OUTCOME_STYLES[key] ?? OUTCOME_STYLES.ended!;
          const lostHere = isLostAttempt(a.outcome);
          const nextStart = next ? parseTime(next.startedAt) : null;
          const gapMs = lostHere && nextStart != null ? nextStart - e : null;
          const retryError = runErrorOf((a.error as { error?: unknown } | null)?.error ?? null);
          return (
            <li
              key={`${a.seq}.${a.attempt}`}
              data-testid="attempt"
              data-step={a.seq}
              data-attempt={a.attempt}
              data-outcome={a.outcome ?? key}
              className={`px-4 py-2 ${lostHere ? "bg-rose-50/40" : ""}`}
            >
              <div className="flex min-w-0 items-center gap-2 text-sm">
                <span className="w-10 shrink-0 text-right font-mono text-xs text-slate-400" title={`step ${a.seq}, attempt ${a.attempt}`}>
                  {a.seq}.{a.attempt}
                </span>
                {a.stepKind && <KindBadge kind={a.stepKind} />}
                <span className="min-w-0 flex-1 truncate font-mono text-xs text-slate-800" title={a.stepName ?? undefined}>
                  {shortStepName(a.stepName) ?? `step ${a.seq}`}
                </span>
                <span data-testid="attempt-outcome" className={`shrink-0 rounded px-1.5 py-0.5 text-[11px] font-medium ${style.badge}`}>
                  attempt {a.attempt} · {attemptOutcomeLabel(a.outcome, settled)}
                </span>
              </div>
              <div className="relative mt-1.5 ml-12 h-2 rounded-full bg-slate-100">
                <div className={`absolute top-0 h-2 rounded-full ${style.bar}`} style={{ left: `${pos(s)}%`, width: `${Math.max(0.6, pos(e) - pos(s))}%` }} />
                {gapMs != null && nextStart != null && (
                  <div
                    data-testid="attempt-gap-bar"
                    title={`no worker on this step for ${formatDuration(gapMs)}`}
                    className="absolute top-0 h-2 rounded-full border border-rose-300"
                    style={{
                      left: `${pos(e)}%`,
                      width: `${Math.max(0.6, pos(nextStart) - pos(e))}%`,
                      backgroundImage: "repeating-linear-gradient(45deg, #fda4af 0, #fda4af 3px, #fff1f2 3px, #fff1f2 6px)",
                    }}
                  />
                )}
              </div>
              <p className="mt-1 ml-12 flex flex-wrap gap-x-3 text-[11px] text-slate-500">
                <span data-testid="attempt-worker" title={a.poolId ?? undefined}>
                  worker {a.poolId ?? "unknown"}
                  {a.hostname ? ` on ${a.hostname}` : ""}
                  {a.workerPid ? ` (pid ${a.workerPid})` : ""}
                </span>
                <span className="tabular-nums" title={formatInstant(s)}>
                  began {clock(s)}
                </span>
                {lostHere ? (
                  <>
                    <span className="tabular-nums" title={formatInstant(e)}>
                      last event {clock(e)}
                    </span>
                    {a.freedAt && (
                      <span className="tabular-nums" title={formatInstant(a.freedAt)}>
                        job freed {clock(parseTime(a.freedAt))}
                      </span>
                    )}
                    {gapMs != null && (
                      <span data-testid="attempt-gap" className="font-medium text-rose-700">
                        gap {formatDuration(gapMs)} until attempt {next!.attempt} began
                      </span>
                    )}
                  </>
                ) : (
                  !open && (
                    <span className="tabular-nums" title={formatInstant(a.endedAt)}>
                      ended {clock(parseTime(a.endedAt))} · {formatDuration(e - s)}
                    </span>
                  )
                )}
                {retryError?.message && <span className="text-amber-800">error: {retryError.message}</span>}
              </p>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
