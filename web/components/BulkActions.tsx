"use client";
// Bulk cancel / approve / reject for the runs list and the approvals inbox. A confirmation names
// how many runs and which, and asks for the reason the audit log keeps with each run's row
// (run.cancelled / approval.answered, 000015). Each run is its own mutation (cancelRun,
// resumeRun): one that finished or was answered meanwhile fails alone and is reported by id,
// the others go through.
import { useState } from "react";
import { gql, RequestError } from "@/lib/graphql";
import { shortId } from "@/lib/format";
import { CANCEL_RUN, RESUME_RUN, RUN_INTERRUPTS_QUERY } from "@/lib/queries";
import { TERMINAL_STATUSES, type Interrupt } from "@/lib/types";
import { answersFor } from "./InterruptAnswer";
import { MAX_REASON_CHARS } from "./OperatorActions";
import { Button } from "./ui";

export type BulkAction = "cancel" | "approve" | "reject";
export interface BulkTarget {
  id: string;
  status: string;
}

const VERB: Record<BulkAction, { label: string; doing: string; done: string; applies: (status: string) => boolean; variant: "danger" | "success" }> = {
  cancel: { label: "Cancel", doing: "Cancelling", done: "cancelled", applies: (s) => !TERMINAL_STATUSES.includes(s), variant: "danger" },
  approve: { label: "Approve", doing: "Approving", done: "approved", applies: (s) => s === "interrupted", variant: "success" },
  reject: { label: "Reject", doing: "Rejecting", done: "rejected", applies: (s) => s === "interrupted", variant: "danger" },
};

/** Answers every open approval of one run (approve, or reject with the reason); refuses other interrupts. */
async function answerRun(runId: string, approved: boolean, reason: string): Promise<void> {
  const data = await gql(RUN_INTERRUPTS_QUERY, { id: runId });
  const run = data.runById;
  if (!run) throw new Error("no such run");
  if (run.status !== "interrupted" || run.continuedBy) throw new Error(`not waiting for an answer (${run.continuedBy ? "already answered" : run.status})`);
  const interrupts: Interrupt[] = (run.interrupts as { interrupts?: Interrupt[] } | null)?.interrupts ?? [];
  const other = interrupts.find((i) => i.reason && i.reason !== "tool_approval");
  if (other) throw new Error(`asks for ${other.reason?.replace(/_/g, " ")}, not an approval: answer it on its page`);
  if (interrupts.length === 0) throw new Error("has no open interrupt");
  const resume = answersFor(interrupts, () => (approved ? { approved: true } : { approved: false, reason }));
  await gql(RESUME_RUN, { runId, resume, reason });
}

async function act(action: BulkAction, runId: string, reason: string): Promise<void> {
  if (action === "cancel") {
    const data = await gql(CANCEL_RUN, { runId, reason });
    if (!data.cancelRun?.cancelled) throw new Error("had already ended");
    return;
  }
  await answerRun(runId, action === "approve", reason);
}

/**
 * The bar above a list with selected rows: the actions that apply to at least one of them, and
 * the confirmation. `onDone` after a bulk action ran (the list refreshes; the selection clears).
 */
export function BulkActions({
  selected,
  actions,
  onDone,
  onClear,
}: {
  selected: BulkTarget[];
  actions: BulkAction[];
  onDone: () => void;
  onClear: () => void;
}) {
  const [confirming, setConfirming] = useState<BulkAction | null>(null);
  const [reason, setReason] = useState("");
  const [running, setRunning] = useState(false);
  const [results, setResults] = useState<Array<{ id: string; error: string | null }> | null>(null);
  const [lastAction, setLastAction] = useState<BulkAction | null>(null);
  if (selected.length === 0 && !results) return null;
  const targets = confirming ? selected.filter((r) => VERB[confirming].applies(r.status)) : [];
  const skipped = confirming ? selected.length - targets.length : 0;
  const trimmed = reason.trim();

  const run = async (action: BulkAction) => {
    setRunning(true);
    const out: Array<{ id: string; error: string | null }> = [];
    for (const t of targets) {
      try {
        await act(action, t.id, trimmed);
        out.push({ id: t.id, error: null });
      } catch (e) {
        out.push({ id: t.id, error: e instanceof RequestError || e instanceof Error ? e.message : String(e) });
      }
    }
    setRunning(false);
    setResults(out);
    setLastAction(action);
    setConfirming(null);
    setReason("");
    onDone();
  };

  return (
    <div data-testid="bulk-bar" className="border-b border-slate-100 bg-sky-50/60 px-4 py-2 text-sm">
      {selected.length > 0 && !confirming && (
        <div className="flex flex-wrap items-center gap-2">
          <span data-testid="bulk-count" className="font-medium text-slate-800">
            {selected.length} selected
          </span>
          {actions.map((a) => {
            const n = selected.filter((r) => VERB[a].applies(r.status)).length;
            return (
              <Button key={a} size="sm" variant="secondary" needs="operator" data-testid={`bulk-${a}`} disabled={n === 0} onClick={() => setConfirming(a)}>
                {VERB[a].label} {n > 0 ? n : ""}
              </Button>
            );
          })}
          <Button size="sm" variant="ghost" onClick={onClear}>
            Clear selection
          </Button>
        </div>
      )}
      {confirming && (
        <form
          data-testid="bulk-confirm"
          className="max-w-2xl space-y-2"
          onSubmit={(e) => {
            e.preventDefault();
            if (trimmed && targets.length > 0) void run(confirming);
          }}
        >
          <p className="text-slate-800">
            {VERB[confirming].label}{" "}
            <span data-testid="bulk-confirm-count" className="font-semibold">
              {targets.length} run{targets.length === 1 ? "" : "s"}
            </span>
            {confirming === "reject" ? " (none of what they asked about runs; each agent is told the reason)" : ""}
            {confirming === "cancel" ? " (what is in flight is stopped)" : ""}?
            {skipped > 0 && (
              <span className="text-slate-500">
                {" "}
                {skipped} selected run{skipped === 1 ? "" : "s"} cannot be {VERB[confirming].done} and are left out.
              </span>
            )}
          </p>
          <ul data-testid="bulk-confirm-ids" className="flex max-h-24 flex-wrap gap-1 overflow-auto">
            {targets.map((t) => (
              <li key={t.id} title={t.id} className="rounded bg-white px-1.5 py-0.5 font-mono text-[11px] text-slate-700 ring-1 ring-slate-200">
                {shortId(t.id)}
              </li>
            ))}
          </ul>
          <label className="block text-xs font-medium text-slate-600">
            Reason (required) — kept in the audit log with each run{confirming === "reject" ? ", and told to each agent" : ""}
            <input
              data-testid="bulk-reason"
              autoFocus
              value={reason}
              maxLength={MAX_REASON_CHARS}
              onChange={(e) => setReason(e.target.value)}
              placeholder="e.g. incident 4711: runs started by the bad deploy"
              className="mt-1 block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-xs text-slate-900 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
            />
          </label>
          <div className="flex gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirming(null)} disabled={running}>
              Back
            </Button>
            <Button
              type="submit"
              size="sm"
              variant={VERB[confirming].variant}
              needs="operator"
              data-testid="bulk-confirm-submit"
              disabled={running || !trimmed || targets.length === 0}
            >
              {running ? `${VERB[confirming].doing}…` : `${VERB[confirming].label} ${targets.length} run${targets.length === 1 ? "" : "s"}`}
            </Button>
          </div>
        </form>
      )}
      {results && lastAction && !confirming && (
        <div data-testid="bulk-results" className="mt-1.5 text-xs">
          <span className="text-emerald-800">
            {results.filter((r) => !r.error).length} of {results.length} {VERB[lastAction].done}.
          </span>
          {results
            .filter((r) => r.error)
            .map((r) => (
              <div key={r.id} data-testid="bulk-failure" className="text-rose-700">
                <span className="font-mono">{shortId(r.id)}</span>: {r.error}
              </div>
            ))}
          <button type="button" className="ml-2 text-sky-700 hover:underline" onClick={() => setResults(null)}>
            dismiss
          </button>
        </div>
      )}
    </div>
  );
}
