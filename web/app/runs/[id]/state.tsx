"use client";
// The run page's State card (issue 18, migration 000030): the run's last progress report
// (report_progress: its message, a bar for its fraction, when it was reported) and its live state
// (update_state: the JSON object, pretty-printed, folded when long). Both come with the run's
// RunFields, which runUpdated pushes on every step commit: the commit that changes runs.state or
// runs.progress is the one that streams its STATE_SNAPSHOT / STATE_DELTA or everruns.progress
// event, so the card shows what the event log says, and needs no patching of its own.
import { useState } from "react";
import { ProgressBar } from "@/components/RunProgress";
import { Card, Timestamp } from "@/components/ui";
import { prettyJson } from "@/lib/format";
import { formatFraction, type RunProgress } from "@/lib/state";

/** Longer than this, the state is folded to its first lines until asked for whole. */
const FOLDED_LINES = 24;

export function RunStateCard({ state, progress, live }: { state: Record<string, unknown> | null; progress: RunProgress | null; live: boolean }) {
  return (
    <Card
      title="State"
      testId="run-state-card"
      actions={live ? <span className="text-xs text-sky-700">live</span> : <span className="text-xs text-slate-500">as the run left it</span>}
    >
      {progress && <ProgressReport progress={progress} />}
      {state && (
        <div className={progress ? "mt-3 border-t border-slate-100 pt-3" : ""}>
          <StateJson state={state} />
        </div>
      )}
      {!progress && !state && (
        <p data-testid="run-state-empty" className="text-sm text-slate-500">
          Nothing reported yet: the agent sets its state with <span className="font-mono">update_state</span> and reports its progress with{" "}
          <span className="font-mono">report_progress</span>.
        </p>
      )}
    </Card>
  );
}

function ProgressReport({ progress }: { progress: RunProgress }) {
  return (
    <div data-testid="run-state-progress">
      <p data-testid="run-state-progress-message" className="whitespace-pre-wrap break-words text-sm text-slate-900">
        {progress.message}
      </p>
      <div className="mt-1.5 flex items-center gap-2 text-xs text-slate-500">
        {progress.fraction != null && (
          <>
            <ProgressBar fraction={progress.fraction} className="w-40" />
            <span data-testid="run-state-progress-fraction" className="tabular-nums text-slate-700">
              {formatFraction(progress.fraction)}
            </span>
          </>
        )}
        {progress.at && (
          <span data-testid="run-state-progress-at">
            reported <Timestamp value={progress.at} />
          </span>
        )}
      </div>
    </div>
  );
}

function StateJson({ state }: { state: Record<string, unknown> }) {
  const [open, setOpen] = useState(false);
  const text = prettyJson(state);
  const lines = text.split("\n").length;
  const long = lines > FOLDED_LINES;
  const folded = long && !open;
  const keys = Object.keys(state).length;
  return (
    <div>
      <div className="mb-1.5 flex items-center justify-between text-[11px] font-medium uppercase tracking-wide text-slate-500">
        <span data-testid="run-state-summary">
          {keys} key{keys === 1 ? "" : "s"} · {formatBytes(new TextEncoder().encode(JSON.stringify(state)).length)}
        </span>
        {long && (
          <button
            type="button"
            data-testid="run-state-toggle"
            onClick={() => setOpen((o) => !o)}
            className="normal-case tracking-normal text-sky-700 hover:underline"
          >
            {open ? "Fold" : `Show all ${lines} lines`}
          </button>
        )}
      </div>
      <div className="relative">
        <pre
          data-testid="run-state-json"
          data-folded={folded}
          className={`rounded-md bg-slate-50 p-2.5 font-mono text-xs leading-relaxed text-slate-800 ${
            folded ? "max-h-80 overflow-hidden" : "max-h-[70vh] overflow-auto"
          }`}
        >
          {text}
        </pre>
        {folded && (
          <button
            type="button"
            onClick={() => setOpen(true)}
            aria-label={`show all ${lines} lines of the state`}
            className="absolute inset-x-0 bottom-0 h-12 rounded-b-md bg-gradient-to-t from-slate-50 to-transparent"
          />
        )}
      </div>
    </div>
  );
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
}
