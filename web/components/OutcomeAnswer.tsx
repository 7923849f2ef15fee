"use client";
// Answering a run that asks what to do with a tool call whose outcome is unknown (issue 17): the
// step calling an MCP tool ended (a worker killed mid-call, a timeout) before its result was
// recorded, so the call may or may not have taken effect, and the run ended interrupted with an
// interrupt of reason tool_outcome_unknown (worker/tool-step.ts). Each such question shows the
// worker's message, the call's arguments and how often it was sent, and three answers, each
// confirmed before it is sent: "Call again" ({action: "retry"}), "Skip" ({action: "skip"}: the
// model is told it was not run again), "Enter result" ({action: "result", result}: the model sees
// the text as the tool's answer). The answer goes through resumeRun, as the approval buttons'
// do (InterruptAnswer.tsx); a run's open interrupts are answered all at once, so a run that asks
// for approvals too gets approve / reject here beside them, and one "Send" answers every one.
// Used by the run page and the approvals inbox whenever a run's interrupts include such a question.
import { useState } from "react";
import { isOutcomeQuestion } from "@/lib/agui";
import { prettyJson } from "@/lib/format";
import { useMutation } from "@/lib/hooks";
import { RESUME_RUN } from "@/lib/queries";
import type { Interrupt, ResumeAnswer } from "@/lib/types";
import { auditReasonOf, MAX_REASON_CHARS } from "./InterruptAnswer";
import { Button, ErrorBox, Timestamp } from "./ui";

/** Whether an interrupt asks what to do with a call whose outcome is unknown (the CLI's rule too, scripts/cli/follow.ts). */
export const isOutcomeInterrupt = isOutcomeQuestion;

export type OutcomeAction = "retry" | "skip" | "result";

/** One answer of this component: an outcome question's action, or an approval's decision. */
export type OutcomeDecision = { kind: "outcome"; action: OutcomeAction; result?: string } | { kind: "approval"; approved: boolean; reason?: string };

/** What one answer did, as the inbox says it once sent. */
export interface SentAnswer {
  interruptId: string;
  toolName: string | null;
  decision: OutcomeDecision;
}

/** The resume entry of one answer (resumeRun's `resume`; the outcome payload is worker/tool-step.ts's responseSchema). */
export function resumeEntry(interruptId: string, d: OutcomeDecision) {
  if (d.kind === "outcome") {
    const payload: { action: OutcomeAction; result?: string } = { action: d.action };
    if (d.action === "result") payload.result = d.result ?? "";
    return { interruptId, status: "resolved" as const, payload };
  }
  const payload: { approved: boolean; reason?: string } = { approved: d.approved };
  if (d.reason) payload.reason = d.reason;
  return { interruptId, status: "resolved" as const, payload };
}

const ACTION_LABEL: Record<OutcomeAction, string> = { retry: "called again", skip: "skipped", result: "result entered" };

/** An answer as a badge: "called again", "skipped", "result entered", "approved", "rejected: …". */
export function SentAnswerBadge({ answer }: { answer: SentAnswer }) {
  const d = answer.decision;
  const label = d.kind === "outcome" ? ACTION_LABEL[d.action] : d.approved ? "approved" : d.reason ? `rejected: “${d.reason}”` : "rejected";
  const good = d.kind === "outcome" ? d.action !== "skip" : d.approved;
  return (
    <span
      data-testid="outcome-decision"
      data-decision={d.kind === "outcome" ? d.action : d.approved ? "approved" : "rejected"}
      className={`inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-xs font-medium ${good ? "bg-emerald-100 text-emerald-800" : "bg-zinc-200 text-zinc-800"}`}
    >
      {answer.toolName && <span className="font-mono">{answer.toolName}</span>} {label}
    </span>
  );
}

/** The numbers the worker put in an outcome interrupt's metadata (how often the call was sent, when last). */
function dispatchInfo(i: Interrupt): { dispatches: number | null; lastDispatchedAt: string | null } {
  const m = i.metadata ?? {};
  return {
    dispatches: typeof m.dispatches === "number" ? m.dispatches : null,
    lastDispatchedAt: typeof m.lastDispatchedAt === "string" ? m.lastDispatchedAt : null,
  };
}

/**
 * The answers to a run's interrupts when at least one asks about an unknown outcome. One
 * question: its answer is sent once confirmed. Several: each is decided, then one "Send" sends all.
 */
export function OutcomeAnswer({
  runId,
  interrupts,
  onResumed,
}: {
  runId: string;
  interrupts: Interrupt[];
  onResumed: (newRunId: string, answers: SentAnswer[]) => void;
}) {
  const { mutate, pending, error } = useMutation(RESUME_RUN);
  const [decisions, setDecisions] = useState<Record<string, OutcomeDecision>>({});
  const single = interrupts.length === 1;

  const send = async (all: Record<string, OutcomeDecision>) => {
    const resume = interrupts.map((i) => resumeEntry(i.id, all[i.id]!));
    // a rejection's reason goes to the audit log too (as InterruptAnswer sends it)
    const rejections: ResumeAnswer[] = [];
    for (const [interruptId, d] of Object.entries(all)) {
      if (d.kind === "approval") rejections.push({ interruptId, status: "resolved", payload: { approved: d.approved, reason: d.reason } });
    }
    const reason = auditReasonOf(rejections);
    const result = await mutate({ runId, resume, reason });
    if (result?.resumeRun?.runId) {
      onResumed(
        result.resumeRun.runId,
        interrupts.map((i) => ({ interruptId: i.id, toolName: i.metadata?.toolName ?? null, decision: all[i.id]! })),
      );
    }
  };
  const decide = (i: Interrupt, d: OutcomeDecision) => {
    if (single) return void send({ [i.id]: d });
    setDecisions((all) => ({ ...all, [i.id]: d }));
  };
  const allDecided = interrupts.every((i) => decisions[i.id]);

  return (
    <div data-testid="outcome-answer" className="space-y-3">
      {interrupts.map((i) =>
        isOutcomeInterrupt(i) ? (
          <OutcomeQuestion key={i.id} interrupt={i} pending={pending} decided={decisions[i.id] ?? null} onDecide={(d) => decide(i, d)} />
        ) : (
          <ApprovalQuestion key={i.id} interrupt={i} pending={pending} decided={decisions[i.id] ?? null} onDecide={(d) => decide(i, d)} />
        ),
      )}
      {!single && (
        <div className="flex items-center gap-2">
          <Button variant="primary" disabled={!allDecided || pending} needs="operator" data-testid="submit-answers" onClick={() => void send(decisions)}>
            {pending ? "Sending…" : `Send ${interrupts.length} answers`}
          </Button>
          {!allDecided && <span className="text-xs text-slate-500">Answer every question first: a run&apos;s questions are answered all at once.</span>}
        </div>
      )}
      <ErrorBox error={error} title="The answer was refused" />
    </div>
  );
}

/** One unknown-outcome question: the worker's message, the arguments, the three answers and their confirmation. */
function OutcomeQuestion({
  interrupt: i,
  pending,
  decided,
  onDecide,
}: {
  interrupt: Interrupt;
  pending: boolean;
  decided: OutcomeDecision | null;
  onDecide: (d: OutcomeDecision) => void;
}) {
  const [confirming, setConfirming] = useState<OutcomeAction | null>(null);
  const [result, setResult] = useState("");
  const tool = i.metadata?.toolName ?? "the tool";
  const { dispatches, lastDispatchedAt } = dispatchInfo(i);
  const confirmText: Record<OutcomeAction, string> = {
    retry: `Call ${tool} again with the same arguments? If the first call did take effect, it happens twice.`,
    skip: `Skip ${tool}? It is not called again; the agent is told its outcome is unknown and that it was skipped.`,
    result: `Use this as the result of ${tool}? It is not called again; the agent sees the text as the tool's answer.`,
  };
  const trimmed = result.trim();
  return (
    <div data-testid="outcome-question" data-interrupt-id={i.id} className="rounded-md border border-amber-200 bg-white p-3">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0">
          <p className="text-sm font-medium text-slate-900">
            Did <span className="font-mono">{tool}</span> take effect? Its outcome is unknown.
          </p>
          <p className="mt-0.5 text-xs text-slate-500">
            {dispatches != null && (
              <span data-testid="outcome-dispatches">
                sent {dispatches} time{dispatches === 1 ? "" : "s"}
              </span>
            )}
            {lastDispatchedAt && (
              <>
                {" "}
                · last <Timestamp value={lastDispatchedAt} />
              </>
            )}
            {i.toolCallId && <span className="ml-2 font-mono">tool call {i.toolCallId}</span>}
          </p>
        </div>
        {decided && <SentAnswerBadge answer={{ interruptId: i.id, toolName: null, decision: decided }} />}
      </div>
      {i.message && (
        <p data-testid="outcome-message" className="mt-2 whitespace-pre-wrap break-words text-sm text-slate-700">
          {i.message}
        </p>
      )}
      {i.metadata?.arguments !== undefined && (
        <pre
          data-testid="interrupt-arguments"
          className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-50 p-2 font-mono text-xs text-slate-800"
        >
          {prettyJson(i.metadata.arguments)}
        </pre>
      )}
      {confirming ? (
        <form
          data-testid="outcome-confirm"
          data-action={confirming}
          className="mt-2 max-w-xl space-y-2 rounded-md border border-amber-300 bg-amber-50 p-2.5"
          onSubmit={(e) => {
            e.preventDefault();
            if (confirming === "result" && !trimmed) return;
            onDecide(confirming === "result" ? { kind: "outcome", action: "result", result } : { kind: "outcome", action: confirming });
            setConfirming(null);
          }}
        >
          <p className="text-xs font-medium text-amber-950">{confirmText[confirming]}</p>
          {confirming === "result" && (
            <textarea
              data-testid="outcome-result"
              autoFocus
              value={result}
              onChange={(e) => setResult(e.target.value)}
              rows={4}
              placeholder={`What ${tool} returned (or did), e.g. created issue #42`}
              className="block w-full rounded-md border border-amber-300 bg-white p-1.5 font-mono text-xs text-slate-900 focus:border-amber-500 focus:outline-none focus:ring-1 focus:ring-amber-500"
            />
          )}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirming(null)} data-testid="outcome-cancel">
              Back
            </Button>
            <Button
              type="submit"
              size="sm"
              variant={confirming === "skip" ? "danger" : "primary"}
              needs="operator"
              disabled={pending || (confirming === "result" && !trimmed)}
              data-testid="outcome-confirm-button"
            >
              {pending ? "Sending…" : confirming === "retry" ? "Call it again" : confirming === "skip" ? "Skip it" : "Use this result"}
            </Button>
          </div>
        </form>
      ) : (
        <div className="mt-2 flex flex-wrap gap-2">
          <Button size="sm" variant="primary" needs="operator" disabled={pending} data-testid="outcome-retry" onClick={() => setConfirming("retry")}>
            Call again…
          </Button>
          <Button size="sm" needs="operator" disabled={pending} data-testid="outcome-skip" onClick={() => setConfirming("skip")}>
            Skip…
          </Button>
          <Button size="sm" needs="operator" disabled={pending} data-testid="outcome-enter-result" onClick={() => setConfirming("result")}>
            Enter result…
          </Button>
        </div>
      )}
    </div>
  );
}

/** An approval beside an outcome question (one run asks both): approve, or reject with a reason. */
function ApprovalQuestion({
  interrupt: i,
  pending,
  decided,
  onDecide,
}: {
  interrupt: Interrupt;
  pending: boolean;
  decided: OutcomeDecision | null;
  onDecide: (d: OutcomeDecision) => void;
}) {
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const tool = i.metadata?.toolName;
  return (
    <div data-testid="interrupt" data-interrupt-id={i.id} className="rounded-md border border-amber-200 bg-white p-3">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <p className="text-sm font-medium text-slate-900">
          {tool ? (
            <>
              Approve calling <span className="font-mono">{tool}</span>?
            </>
          ) : (
            (i.message ?? (i.reason ? i.reason.replace(/_/g, " ") : "Approval needed"))
          )}
        </p>
        {decided && <SentAnswerBadge answer={{ interruptId: i.id, toolName: null, decision: decided }} />}
      </div>
      {i.metadata?.arguments !== undefined && (
        <pre
          data-testid="interrupt-arguments"
          className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-50 p-2 font-mono text-xs text-slate-800"
        >
          {prettyJson(i.metadata.arguments)}
        </pre>
      )}
      {rejecting ? (
        <form
          data-testid="reject-confirm"
          className="mt-2 max-w-md space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5"
          onSubmit={(e) => {
            e.preventDefault();
            if (!reason.trim()) return;
            onDecide({ kind: "approval", approved: false, reason: reason.trim() });
            setRejecting(false);
          }}
        >
          <label className="block text-xs font-medium text-rose-900">
            Reject {tool ? `calling ${tool}` : "this request"}? It will not run; the agent is told it was rejected, and why:
            <textarea
              data-testid="reject-reason"
              autoFocus
              value={reason}
              maxLength={MAX_REASON_CHARS}
              onChange={(e) => setReason(e.target.value)}
              rows={2}
              className="mt-1 block w-full rounded-md border border-rose-300 bg-white p-1.5 text-xs font-normal text-slate-900"
            />
          </label>
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setRejecting(false)}>
              Back
            </Button>
            <Button type="submit" size="sm" variant="danger" needs="operator" disabled={pending || !reason.trim()} data-testid="confirm-reject">
              Reject
            </Button>
          </div>
        </form>
      ) : (
        <div className="mt-2 flex gap-2">
          <Button
            size="sm"
            variant="success"
            needs="operator"
            disabled={pending}
            data-testid="approve"
            onClick={() => onDecide({ kind: "approval", approved: true })}
          >
            Approve
          </Button>
          <Button size="sm" variant="danger" needs="operator" disabled={pending} data-testid="reject" onClick={() => setRejecting(true)}>
            Reject…
          </Button>
        </div>
      )}
    </div>
  );
}
