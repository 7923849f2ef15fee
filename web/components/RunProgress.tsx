"use client";
// A run's last progress report (report_progress, runs.progress): a thin bar for its fraction (when
// it gave one) and its message. `compact`: the runs table's cell, one line cut to the column with
// the whole report on hover; otherwise the run page's, the message whole.
import { formatInstant } from "@/lib/format";
import { formatFraction, type RunProgress } from "@/lib/state";

export function ProgressBar({ fraction, className = "" }: { fraction: number; className?: string }) {
  return (
    <span
      data-testid="progress-bar"
      data-fraction={fraction}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(fraction * 100)}
      className={`block h-1.5 overflow-hidden rounded-full bg-slate-200 ${className}`}
    >
      <span className="block h-full rounded-full bg-sky-500 transition-[width] duration-300" style={{ width: `${fraction * 100}%` }} />
    </span>
  );
}

/** The runs table's progress cell: "[bar] 42% · message", cut to one line; the full report on hover. */
export function ProgressCell({ progress }: { progress: RunProgress | null }) {
  if (!progress) return <span className="text-slate-300">—</span>;
  const title = `${progress.fraction != null ? `${formatFraction(progress.fraction)} · ` : ""}${progress.message}${progress.at ? `\nreported ${formatInstant(progress.at)}` : ""}`;
  return (
    <span data-testid="run-progress" title={title} className="flex w-56 max-w-full items-center gap-2">
      {progress.fraction != null && (
        <>
          <ProgressBar fraction={progress.fraction} className="w-14 shrink-0" />
          <span data-testid="run-progress-fraction" className="shrink-0 text-xs tabular-nums text-slate-600">
            {formatFraction(progress.fraction)}
          </span>
        </>
      )}
      <span data-testid="run-progress-message" className="min-w-0 truncate text-xs text-slate-600">
        {progress.message}
      </span>
    </span>
  );
}
