"use client";
// What an operator does to one run, each confirmed and with a reason the audit log keeps
// (db/migrations/000015): send an event to a waiting run, rerun a failed or cancelled one (from
// its input, or from one of its committed steps: 000016), cancel (an interrupted run: instead of
// answering it). The API checks the role and the
// workspace; the buttons only show what the session's role may not do as disabled.
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { shortId } from "@/lib/format";
import { useMutation, useQuery } from "@/lib/hooks";
import { CANCEL_RUN, RERUN_FROM_STEP_CONTEXT_QUERY, RERUN_RUN, SEND_EVENT } from "@/lib/queries";
import { Button, ErrorBox } from "./ui";

/** The API's limits (db/sql/setAuditReason.ts MAX_REASON_CHARS, db/sql/sendEvent.ts MAX_SIGNAL_PAYLOAD_BYTES). */
export const MAX_REASON_CHARS = 500;
export const MAX_EVENT_PAYLOAD_BYTES = 65536;
const MAX_EVENT_NAME_CHARS = 200;

const FIELD =
  "block w-full rounded-md border border-slate-300 bg-white px-2 py-1 text-xs text-slate-900 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500";

/** The reason field every action shares: optional, at most MAX_REASON_CHARS, kept in the audit log. */
export function ReasonField({
  value,
  onChange,
  required = false,
  testId = "action-reason",
}: {
  value: string;
  onChange: (v: string) => void;
  required?: boolean;
  testId?: string;
}) {
  return (
    <label className="block text-xs font-medium text-slate-600">
      Reason{required ? "" : " (optional)"} — kept in the audit log
      <input
        data-testid={testId}
        value={value}
        maxLength={MAX_REASON_CHARS}
        onChange={(e) => onChange(e.target.value)}
        placeholder="e.g. incident 4711: provider outage over"
        className={`mt-1 ${FIELD}`}
      />
    </label>
  );
}

/** Parses the payload field: empty is no payload; else JSON within the API's size limit. */
export function parsePayload(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: true, value: null };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
  if (bytes > MAX_EVENT_PAYLOAD_BYTES) {
    return {
      ok: false,
      error: `${bytes.toLocaleString("en-US")} bytes; the limit is ${MAX_EVENT_PAYLOAD_BYTES.toLocaleString("en-US")}. Send a reference (an id, a URL) instead.`,
    };
  }
  return { ok: true, value };
}

/**
 * Sends an event to a run: the name prefilled with what the run waits for, a JSON payload
 * (checked here, and by the API), a reason. Says whether the event woke the run or was kept for
 * its next wait of that name.
 */
export function SendEventForm({ runId, eventName, onSent }: { runId: string; eventName: string | null; onSent?: () => void }) {
  const [name, setName] = useState(eventName ?? "");
  const [payload, setPayload] = useState("");
  const [reason, setReason] = useState("");
  const [result, setResult] = useState<string | null>(null);
  const { mutate, pending, error } = useMutation(SEND_EVENT);
  const parsed = parsePayload(payload);
  const nameProblem = name.trim() === "" ? "an event needs a name" : name.length > MAX_EVENT_NAME_CHARS ? `at most ${MAX_EVENT_NAME_CHARS} characters` : null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!parsed.ok || nameProblem) return;
    setResult(null);
    const answer = await mutate({ runId, name: name.trim(), payload: parsed.value, reason: reason.trim() || null });
    if (!answer?.sendEvent) return;
    setResult(
      answer.sendEvent.woke
        ? `Sent: the run woke up and continues.`
        : `Sent, but the run does not wait for “${name.trim()}” now: the event is kept for its next wait of that name.`,
    );
    onSent?.();
  };
  return (
    <form data-testid="send-event-form" onSubmit={(e) => void submit(e)} className="mt-3 space-y-2 rounded-md border border-violet-200 bg-white p-2.5">
      <div className="text-xs font-semibold text-violet-900">Send an event to this run</div>
      <label className="block text-xs font-medium text-slate-600">
        Event name
        <input
          data-testid="send-event-name"
          value={name}
          maxLength={MAX_EVENT_NAME_CHARS}
          onChange={(e) => setName(e.target.value)}
          spellCheck={false}
          className={`mt-1 font-mono ${FIELD}`}
        />
      </label>
      {nameProblem && name !== "" && <p className="text-xs text-rose-700">Name: {nameProblem}</p>}
      <label className="block text-xs font-medium text-slate-600">
        Payload (JSON, optional; the wait_for_event tool returns it to the agent)
        <textarea
          data-testid="send-event-payload"
          value={payload}
          onChange={(e) => setPayload(e.target.value)}
          rows={3}
          spellCheck={false}
          placeholder='{"approved_by": "ops"}'
          className={`mt-1 font-mono ${FIELD}`}
        />
      </label>
      {!parsed.ok && (
        <p data-testid="send-event-payload-error" className="text-xs text-rose-700">
          Payload: {parsed.error}
        </p>
      )}
      <ReasonField value={reason} onChange={setReason} testId="send-event-reason" />
      <div className="flex items-center justify-end gap-2">
        {result && (
          <span data-testid="send-event-result" className="mr-auto text-xs text-emerald-800">
            {result}
          </span>
        )}
        <Button
          type="submit"
          size="sm"
          variant="primary"
          needs="operator"
          data-testid="send-event-submit"
          disabled={pending || !parsed.ok || Boolean(nameProblem)}
        >
          {pending ? "Sending…" : "Send event"}
        </Button>
      </div>
      <ErrorBox error={error} title="The event was refused" />
    </form>
  );
}

/**
 * Rerun: a new run on the same thread with the same agent version and input, which takes the
 * failed run's place in the thread's history. Confirmed, with a reason; opens the new run.
 */
export function RerunButton({ runId, agentVersion }: { runId: string; agentVersion: number }) {
  const router = useRouter();
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState("");
  const { mutate, pending, error } = useMutation(RERUN_RUN);
  const rerun = async () => {
    const answer = await mutate({ runId, reason: reason.trim() || null, fromStep: null });
    if (answer?.rerunRun) router.push(`/runs/${answer.rerunRun.runId}`);
  };
  if (!confirming) {
    return (
      <Button variant="primary" needs="operator" data-testid="rerun" onClick={() => setConfirming(true)}>
        Rerun
      </Button>
    );
  }
  return (
    <div data-testid="rerun-confirm" className="w-80 space-y-2 rounded-md border border-sky-200 bg-sky-50 p-2.5 text-left">
      <p className="text-xs text-slate-700">
        Start a new run on the same thread with the same input and agent version <span className="font-medium">v{agentVersion}</span>? Run{" "}
        <span className="font-mono">{shortId(runId)}</span> stays as it is.
      </p>
      <ReasonField value={reason} onChange={setReason} testId="rerun-reason" />
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
          Back
        </Button>
        <Button size="sm" variant="primary" needs="operator" data-testid="confirm-rerun" disabled={pending} onClick={() => void rerun()}>
          {pending ? "Starting…" : "Rerun"}
        </Button>
      </div>
      <ErrorBox error={error} title="The rerun was refused" />
    </div>
  );
}

/**
 * Whether the run `runId` can be rerun from one of its steps (everruns.rerun_run(run, from_seq)):
 * failed or cancelled, not a continuation, and its thread's latest run (a run started after it
 * would sit between the chosen step and what follows). Asked again when `refreshKey` changes
 * (the run ended, or a new run came). Null while unknown or not allowed.
 */
export function useRerunFromStep(runId: string | null, refreshKey: string): { runId: string; agentVersion: number } | null {
  const { data, refetch } = useQuery(RERUN_FROM_STEP_CONTEXT_QUERY, { id: runId ?? "" }, { skip: !runId });
  const asked = useRef(refreshKey);
  useEffect(() => {
    if (!runId || asked.current === refreshKey) return;
    asked.current = refreshKey;
    void refetch();
  }, [runId, refreshKey, refetch]);
  const run = data?.runById;
  if (!run || run.parentRunId || (run.status !== "failed" && run.status !== "cancelled")) return null;
  if (run.threadByThreadId?.runsByThreadId.nodes[0]?.id !== run.id) return null;
  return { runId: run.id, agentVersion: run.agentVersion };
}

/** Opens the confirmation of a rerun from step `seq` (RerunFromStepConfirm). */
export function RerunFromStepButton({ seq, onClick }: { seq: number; onClick: () => void }) {
  return (
    <Button
      size="sm"
      variant="ghost"
      needs="operator"
      data-testid="rerun-from-step"
      className="shrink-0 !px-1.5 !py-0.5 text-[11px]"
      title={`Rerun from step ${seq}: a new run that continues from here`}
      onClick={onClick}
    >
      Rerun from here
    </Button>
  );
}

/**
 * Rerun from a step: a new run on the thread whose history is this run's input and its steps up
 * to and including `seq`, continuing with an LLM call. Confirmed, with a reason; opens the new run.
 */
export function RerunFromStepConfirm({ runId, seq, agentVersion, onBack }: { runId: string; seq: number; agentVersion: number; onBack: () => void }) {
  const router = useRouter();
  const [reason, setReason] = useState("");
  const { mutate, pending, error } = useMutation(RERUN_RUN);
  const rerun = async () => {
    const answer = await mutate({ runId, reason: reason.trim() || null, fromStep: seq });
    if (answer?.rerunRun) router.push(`/runs/${answer.rerunRun.runId}`);
  };
  return (
    <div data-testid="rerun-from-step-confirm" className="mt-2 ml-8 max-w-xl space-y-2 rounded-md border border-sky-200 bg-sky-50 p-2.5 text-left">
      <p className="text-xs text-slate-700">
        Start a new run on the same thread that continues from step <span className="font-medium">{seq}</span>: the model is sent this run&apos;s input and its
        steps up to and including step {seq}, nothing after (agent version <span className="font-medium">v{agentVersion}</span>). Run{" "}
        <span className="font-mono">{shortId(runId)}</span> stays as it is; its later steps are left out of the thread&apos;s history.
      </p>
      <ReasonField value={reason} onChange={setReason} testId="rerun-from-step-reason" />
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={onBack}>
          Back
        </Button>
        <Button size="sm" variant="primary" needs="operator" data-testid="confirm-rerun-from-step" disabled={pending} onClick={() => void rerun()}>
          {pending ? "Starting…" : `Rerun from step ${seq}`}
        </Button>
      </div>
      <ErrorBox error={error} title="The rerun was refused" />
    </div>
  );
}

/**
 * Cancel, confirmed, with a reason. An interrupted run is cancelled instead of answered
 * (everruns.cancel_run: its question is withdrawn, nothing it asked about runs).
 */
export function CancelRunButton({ runId, status, onCancelled }: { runId: string; status: string; onCancelled: (status: string) => void }) {
  const [confirming, setConfirming] = useState(false);
  const [reason, setReason] = useState("");
  const { mutate, pending, error } = useMutation(CANCEL_RUN);
  const interrupted = status === "interrupted";
  const cancel = async () => {
    const result = await mutate({ runId, reason: reason.trim() || null });
    if (result?.cancelRun?.run) {
      setConfirming(false);
      onCancelled(result.cancelRun.run.status);
    }
  };
  if (!confirming) {
    return (
      <Button variant="secondary" needs="operator" data-testid="cancel-run" onClick={() => setConfirming(true)} className="text-rose-700">
        {interrupted ? "Cancel instead of answering" : "Cancel run"}
      </Button>
    );
  }
  return (
    <div data-testid="cancel-confirm" className="w-80 space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5 text-left">
      <p className="text-xs text-rose-900">
        {interrupted
          ? "Cancel this run instead of answering it? Nothing it asked about runs, and it cannot be answered afterwards."
          : "Cancel this run? What is in flight is stopped; it cannot be resumed (it can be rerun)."}
      </p>
      <ReasonField value={reason} onChange={setReason} testId="cancel-reason" />
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
          Keep it
        </Button>
        <Button size="sm" variant="danger" needs="operator" data-testid="confirm-cancel" disabled={pending} onClick={() => void cancel()}>
          {pending ? "Cancelling…" : "Yes, cancel it"}
        </Button>
      </div>
      <ErrorBox error={error} title="The cancel was refused" />
    </div>
  );
}
