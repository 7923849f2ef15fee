"use client";
// An operator's controls of one batch (the API's rules: api/graphql/access.ts lists the batch
// mutations as the operator's; the SQL functions of 000025 say which state allows what):
// Start (queued), Pause (queued or running: items in flight go on, no new one starts), Resume
// (paused), Cancel (not ended; confirmed: its running items are cancelled, its queued ones never
// run), Retry failed (started, with failed items — or cancelled ones, when asked; confirmed) and
// the maximum parallelism (not ended). Only a role that may use them sees them: a viewer reads a
// note instead. Each control answers with the batch after the change (`onChanged`); the API's
// refusal (a batch that ended meanwhile) is shown beside the controls.
import { useEffect, useState, type FormEvent } from "react";
import { useMutation } from "@/lib/hooks";
import type { BatchFieldsFragment } from "@/lib/gql/graphql";
import { usePermission } from "@/lib/session";
import { CANCEL_BATCH, PAUSE_BATCH, RESUME_BATCH, RETRY_FAILED_ITEMS, SET_BATCH_PARALLEL, START_BATCH } from "@/app/batches/queries";
import { isBatchActive, type BatchCounts } from "./BatchProgress";
import { Button, ErrorBox } from "./ui";

const MAX_PARALLEL = 10_000;

type Confirming = "cancel" | "retry" | null;

export function BatchControls({
  batch,
  counts,
  onChanged,
}: {
  batch: Pick<BatchFieldsFragment, "id" | "status" | "maxParallel">;
  counts: BatchCounts;
  onChanged: (batch: BatchFieldsFragment) => void;
}) {
  const permission = usePermission("operator");
  const start = useMutation(START_BATCH);
  const pause = useMutation(PAUSE_BATCH);
  const resume = useMutation(RESUME_BATCH);
  const cancel = useMutation(CANCEL_BATCH);
  const retry = useMutation(RETRY_FAILED_ITEMS);
  const parallel = useMutation(SET_BATCH_PARALLEL);
  const [confirming, setConfirming] = useState<Confirming>(null);
  const [includeCancelled, setIncludeCancelled] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [maxParallel, setMaxParallel] = useState(String(batch.maxParallel));
  useEffect(() => setMaxParallel(String(batch.maxParallel)), [batch.maxParallel]);

  if (!permission.allowed) {
    return (
      <p data-testid="batch-controls-readonly" title={permission.reason ?? undefined} className="text-xs text-slate-500">
        Read-only: pausing, resuming, cancelling and retrying a batch need an operator key.
      </p>
    );
  }

  const status = batch.status;
  const active = isBatchActive(status);
  const pending = start.pending || pause.pending || resume.pending || cancel.pending || retry.pending || parallel.pending;
  const error = start.error ?? pause.error ?? resume.error ?? cancel.error ?? retry.error ?? parallel.error;
  const retryable = status !== "queued" && counts.failed + counts.cancelled > 0;
  const retryCount = counts.failed + (includeCancelled ? counts.cancelled : 0);
  const wanted = Number(maxParallel);
  const parallelProblem =
    maxParallel.trim() === "" || !Number.isInteger(wanted) || wanted < 1 || wanted > MAX_PARALLEL
      ? `a whole number from 1 to ${MAX_PARALLEL.toLocaleString("en-US")}`
      : null;

  const done = (answer: { batch?: BatchFieldsFragment | null } | null | undefined, message: string | null) => {
    if (answer?.batch) onChanged(answer.batch);
    setNotice(answer ? message : null);
  };
  const control = async (kind: "start" | "pause" | "resume" | "cancel") => {
    const variables = { batchId: batch.id };
    if (kind === "start") done((await start.mutate(variables))?.startBatch, null);
    else if (kind === "pause") done((await pause.mutate(variables))?.pauseBatch, null);
    else if (kind === "resume") done((await resume.mutate(variables))?.resumeBatch, null);
    else {
      const answer = await cancel.mutate(variables);
      setConfirming(null);
      done(answer?.cancelBatch, null);
    }
  };
  const retryItems = async () => {
    const answer = await retry.mutate({ batchId: batch.id, includeCancelled });
    setConfirming(null);
    const retried = answer?.retryFailedItems?.retried ?? 0;
    done(answer?.retryFailedItems, `${retried.toLocaleString("en-US")} item${retried === 1 ? "" : "s"} queued again.`);
  };
  const setParallel = async (e: FormEvent) => {
    e.preventDefault();
    if (parallelProblem || wanted === batch.maxParallel) return;
    const answer = await parallel.mutate({ batchId: batch.id, maxParallel: wanted });
    done(answer?.setBatchParallel, answer ? `At most ${wanted.toLocaleString("en-US")} items run at once now.` : null);
  };

  return (
    <div data-testid="batch-controls" className="flex flex-col items-end gap-2">
      <div className="flex flex-wrap items-center justify-end gap-2">
        {status === "queued" && (
          <Button variant="primary" needs="operator" data-testid="batch-start" disabled={pending} onClick={() => void control("start")}>
            Start
          </Button>
        )}
        {(status === "queued" || status === "running") && (
          <Button
            needs="operator"
            data-testid="batch-pause"
            disabled={pending}
            title="Items in flight go on; no new item starts until you resume"
            onClick={() => void control("pause")}
          >
            Pause
          </Button>
        )}
        {status === "paused" && (
          <Button variant="primary" needs="operator" data-testid="batch-resume" disabled={pending} onClick={() => void control("resume")}>
            Resume
          </Button>
        )}
        {retryable && (
          <Button needs="operator" data-testid="batch-retry" disabled={pending} onClick={() => setConfirming(confirming === "retry" ? null : "retry")}>
            Retry failed…
          </Button>
        )}
        {active && (
          <Button
            variant="danger"
            needs="operator"
            data-testid="batch-cancel"
            disabled={pending}
            onClick={() => setConfirming(confirming === "cancel" ? null : "cancel")}
          >
            Cancel…
          </Button>
        )}
      </div>
      {active && (
        <form onSubmit={(e) => void setParallel(e)} className="flex items-center gap-1.5 text-xs font-medium text-slate-500">
          <label htmlFor="batch-max-parallel" title="At most this many items in flight at once, inside the workspace's limits">
            Max parallel
          </label>
          <input
            id="batch-max-parallel"
            data-testid="batch-max-parallel"
            type="number"
            min={1}
            max={MAX_PARALLEL}
            value={maxParallel}
            onChange={(e) => setMaxParallel(e.target.value)}
            className="w-24 rounded-md border border-slate-300 bg-white px-2 py-1 text-sm font-normal tabular-nums text-slate-800 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
          />
          <Button
            type="submit"
            size="sm"
            needs="operator"
            data-testid="batch-max-parallel-set"
            disabled={pending || Boolean(parallelProblem) || wanted === batch.maxParallel}
          >
            Set
          </Button>
          {parallelProblem && maxParallel !== "" && <span className="text-rose-700">{parallelProblem}</span>}
        </form>
      )}
      {confirming === "cancel" && (
        <div data-testid="batch-cancel-confirm" className="w-96 rounded-md border border-rose-200 bg-rose-50 p-3 text-sm text-rose-900">
          <p className="font-medium">Cancel this batch?</p>
          <p className="mt-1 text-xs">
            Its {counts.running.toLocaleString("en-US")} running item{counts.running === 1 ? " is" : "s are"} cancelled and its{" "}
            {counts.queued.toLocaleString("en-US")} queued item{counts.queued === 1 ? "" : "s"} never run. Finished items keep their results; failed and
            cancelled ones can be retried later.
          </p>
          <div className="mt-2 flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirming(null)}>
              Keep it running
            </Button>
            <Button
              size="sm"
              variant="danger"
              needs="operator"
              data-testid="batch-cancel-confirm-button"
              disabled={pending}
              onClick={() => void control("cancel")}
            >
              {cancel.pending ? "Cancelling…" : "Cancel the batch"}
            </Button>
          </div>
        </div>
      )}
      {confirming === "retry" && (
        <div data-testid="batch-retry-confirm" className="w-96 rounded-md border border-slate-200 bg-white p-3 text-sm text-slate-800 shadow-sm">
          <p className="font-medium">Run the failed items again?</p>
          <p className="mt-1 text-xs text-slate-600">
            {retryCount.toLocaleString("en-US")} item{retryCount === 1 ? "" : "s"} go back to the queue with their custom ids; their new runs replace the old
            ones. {active ? "" : "The batch runs again."}
          </p>
          {counts.cancelled > 0 && (
            <label className="mt-2 flex items-center gap-1.5 text-xs text-slate-700">
              <input
                type="checkbox"
                data-testid="batch-retry-include-cancelled"
                checked={includeCancelled}
                onChange={(e) => setIncludeCancelled(e.target.checked)}
              />
              the {counts.cancelled.toLocaleString("en-US")} cancelled item{counts.cancelled === 1 ? "" : "s"} too
            </label>
          )}
          <div className="mt-2 flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirming(null)}>
              Back
            </Button>
            <Button
              size="sm"
              variant="primary"
              needs="operator"
              data-testid="batch-retry-confirm-button"
              disabled={pending || retryCount === 0}
              onClick={() => void retryItems()}
            >
              {retry.pending ? "Retrying…" : `Retry ${retryCount.toLocaleString("en-US")}`}
            </Button>
          </div>
        </div>
      )}
      {notice && (
        <p data-testid="batch-control-notice" className="text-xs text-emerald-800">
          {notice}
        </p>
      )}
      {error && (
        <div className="w-96">
          <ErrorBox error={error} title="The batch did not change" />
        </div>
      )}
    </div>
  );
}
