"use client";
// Answering a run's interrupts: approve, reject (confirmed, with a reason), or approve with edited
// arguments. Every open interrupt is answered in one resumeRun call; the work continues in a new
// run on the thread. The same component serves the run page and the approvals inbox, so both
// offer the same three answers, and each interrupt's arguments are shown once, here.
// The wording of answers made elsewhere is here too (decisionsOf, interruptQuestion,
// DecisionBadge): a question about a call whose outcome is unknown (issue 17, answered by
// OutcomeAnswer.tsx) is asked and its answer told as what it is — "Did X take effect?", "called
// again", "skipped", "result entered" — never as an approval.
import { useState } from "react";
import { isOutcomeQuestion, outcomeAnswerOf, type OutcomeAnswerAction } from "@/lib/agui";
import { useMutation } from "@/lib/hooks";
import { RESUME_RUN } from "@/lib/queries";
import { prettyJson } from "@/lib/format";
import type { Interrupt, ResumeAnswer } from "@/lib/types";
import { MAX_REASON_CHARS as MAX_AUDIT_REASON_CHARS } from "./OperatorActions";
import { Button, ErrorBox } from "./ui";

type Decision = { approved: boolean; arguments?: Record<string, unknown>; reason?: string };

/**
 * The answer to an unknown-outcome question: call again, skip, or the entered result. `action`
 * null: it was answered, but what was answered is not known here (an audit entry whose
 * continuation's input is not at hand: the log keeps no payloads).
 */
export type OutcomeDecisionOf = { action: OutcomeAnswerAction | null; result: string | null };

/**
 * What was decided for one interrupt, as the approvals history and the conversation show it.
 * `outcome`: set for an answer to an unknown-outcome question (then `approved` is only "not
 * skipped", for callers that know approvals only); absent or null for an approval.
 */
export type AnswerDecision = {
  interruptId: string;
  approved: boolean;
  edited: boolean;
  reason: string | null;
  arguments: Record<string, unknown> | null;
  outcome?: OutcomeDecisionOf | null;
};

/** A reason is sent to the model with the rejection (worker/tool-step.ts): kept short. */
export const MAX_REASON_CHARS = 1000;

export function answersFor(interrupts: Interrupt[], decide: (i: Interrupt) => Decision): ResumeAnswer[] {
  return interrupts.map((i) => {
    const d = decide(i);
    // `reason` is part of the approval's responseSchema (worker/tool-step.ts): the model reads it
    const payload: { approved: boolean; arguments?: Record<string, unknown>; reason?: string } = { approved: d.approved };
    if (d.arguments) payload.arguments = d.arguments;
    if (d.reason) payload.reason = d.reason;
    return { interruptId: i.id, status: "resolved", payload };
  });
}

/**
 * The reason the audit log keeps with the answer (resumeRun's `reason`, details.reason of
 * approval.answered, as the bulk reject sends it): the rejections' reasons, each once. The API
 * takes at most MAX_AUDIT_REASON_CHARS (a rejection's reason may be longer, for the model), so a
 * longer one is cut there; each answer keeps its whole reason (details.answers). Null: no rejection.
 */
export function auditReasonOf(answers: ResumeAnswer[]): string | null {
  const reasons = new Set<string>();
  for (const a of answers) {
    if (a.payload?.approved === false && a.payload.reason) reasons.add(a.payload.reason);
  }
  if (reasons.size === 0) return null;
  const joined = [...reasons].join("; ");
  return joined.length <= MAX_AUDIT_REASON_CHARS ? joined : `${joined.slice(0, MAX_AUDIT_REASON_CHARS - 1)}…`;
}

/** The decisions a continuation run carries (its input.resume), by interrupt id. */
export function decisionsOf(input: unknown): Map<string, AnswerDecision> {
  const out = new Map<string, AnswerDecision>();
  const resume = (input as { resume?: unknown } | null)?.resume;
  if (!Array.isArray(resume)) return out;
  for (const raw of resume) {
    const r = raw as { interruptId?: unknown; status?: unknown; payload?: { approved?: unknown; arguments?: unknown; reason?: unknown } };
    if (typeof r?.interruptId !== "string") continue;
    const payload = r.payload ?? {};
    const outcome = outcomeAnswerOf(r);
    if (outcome) {
      out.set(r.interruptId, { interruptId: r.interruptId, approved: outcome.action !== "skip", edited: false, reason: null, arguments: null, outcome });
      continue;
    }
    const args =
      payload.arguments && typeof payload.arguments === "object" && !Array.isArray(payload.arguments) ? (payload.arguments as Record<string, unknown>) : null;
    out.set(r.interruptId, {
      interruptId: r.interruptId,
      // the worker's rule (worker/conversation.ts): resolved and not approved: false
      approved: r.status === "resolved" && payload.approved !== false,
      edited: args !== null,
      reason: typeof payload.reason === "string" ? payload.reason : null,
      arguments: args,
    });
  }
  return out;
}

/**
 * The question of an interrupt without its arguments (the worker's message repeats them as JSON:
 * "Approve calling echo with {...}?"); the arguments are shown once, formatted, beside it. A
 * question about an unknown outcome is asked as OutcomeAnswer asks it.
 */
export function interruptQuestion(i: Interrupt): string {
  if (isOutcomeQuestion(i)) return `Did ${i.metadata?.toolName ?? "a tool call"} take effect? Its outcome is unknown.`;
  if (i.metadata?.toolName) return `Approve calling ${i.metadata.toolName}?`;
  return i.message ?? (i.reason ? i.reason.replace(/_/g, " ") : "Approval needed");
}

/** An entered result as a badge shows it: cut to MAX_BADGE_RESULT_CHARS (the whole text in its title). */
const MAX_BADGE_RESULT_CHARS = 80;

/** "called again", "skipped", "result entered: “…”" ("answered" when the action is not known). */
export function outcomeDecisionLabel(outcome: OutcomeDecisionOf): string {
  switch (outcome.action) {
    case "retry":
      return "called again";
    case "skip":
      return "skipped";
    case "result": {
      const text = outcome.result ?? "";
      return `result entered: “${text.length <= MAX_BADGE_RESULT_CHARS ? text : `${text.slice(0, MAX_BADGE_RESULT_CHARS - 1)}…`}”`;
    }
    default:
      return "answered";
  }
}

export function DecisionBadge({ decision }: { decision: Pick<AnswerDecision, "approved" | "edited" | "reason" | "outcome"> }) {
  const outcome = decision.outcome;
  if (outcome) {
    // data-decision as OutcomeAnswer's SentAnswerBadge says it: the action
    return (
      <span
        data-testid="decision"
        data-decision={outcome.action ?? "answered"}
        title={outcome.action === "result" && outcome.result !== null ? `the result entered: ${outcome.result}` : undefined}
        className={`inline-flex min-w-0 items-center gap-1 break-words rounded px-1.5 py-0.5 text-xs font-medium ${outcome.action === "skip" ? "bg-zinc-200 text-zinc-800" : "bg-emerald-100 text-emerald-800"}`}
      >
        {outcomeDecisionLabel(outcome)}
      </span>
    );
  }
  return (
    <span
      data-testid="decision"
      data-decision={decision.approved ? "approved" : "rejected"}
      title={decision.reason ? `reason: ${decision.reason}` : undefined}
      className={`inline-flex items-center gap-1 rounded px-1.5 py-0.5 text-xs font-medium ${decision.approved ? "bg-emerald-100 text-emerald-800" : "bg-rose-100 text-rose-800"}`}
    >
      {decision.approved ? (decision.edited ? "approved with edited arguments" : "approved") : decision.reason ? `rejected: “${decision.reason}”` : "rejected"}
    </span>
  );
}

/**
 * The answer buttons of a run: one card per interrupt (tool, arguments, approve / reject / edit),
 * or, `compact`, approve all / reject all. Reject never sends on the first click: it asks to
 * confirm and for a reason, which the model is told (it was not executed, and why).
 */
export function InterruptAnswer({
  runId,
  interrupts,
  onResumed,
  compact = false,
}: {
  runId: string;
  interrupts: Interrupt[];
  onResumed: (newRunId: string, decisions: Map<string, AnswerDecision>) => void;
  compact?: boolean;
}) {
  const { mutate, pending, error } = useMutation(RESUME_RUN);
  const [editing, setEditing] = useState<Record<string, string>>({});
  const [editError, setEditError] = useState<string | null>(null);
  const [decisions, setDecisions] = useState<Record<string, Decision>>({});
  /** the interrupt whose rejection is being confirmed ("*": all of them, compact) */
  const [rejecting, setRejecting] = useState<string | null>(null);

  const send = async (answers: ResumeAnswer[]) => {
    // the rejections' reasons go to the audit log too, not only to the model
    const result = await mutate({ runId, resume: answers, reason: auditReasonOf(answers) });
    if (result?.resumeRun?.runId) onResumed(result.resumeRun.runId, decisionsOf({ resume: answers }));
  };

  if (compact || interrupts.length === 0) {
    return (
      <div className="flex flex-col items-end gap-1.5">
        {rejecting ? (
          <RejectConfirm
            what={
              interrupts.length === 1 && interrupts[0]!.metadata?.toolName ? `calling ${interrupts[0]!.metadata.toolName}` : `all ${interrupts.length} requests`
            }
            pending={pending}
            onCancel={() => setRejecting(null)}
            onConfirm={(reason) => void send(answersFor(interrupts, () => ({ approved: false, reason })))}
          />
        ) : (
          <div className="flex gap-2">
            <Button
              variant="success"
              size="sm"
              disabled={pending}
              needs="operator"
              data-testid="approve"
              onClick={() => void send(answersFor(interrupts, () => ({ approved: true })))}
            >
              Approve
            </Button>
            <Button variant="danger" size="sm" disabled={pending} needs="operator" data-testid="reject" onClick={() => setRejecting("*")}>
              Reject…
            </Button>
          </div>
        )}
        {error && <p className="max-w-xs text-right text-xs text-rose-700">{error.message}</p>}
      </div>
    );
  }

  const single = interrupts.length === 1;
  const decideOne = (i: Interrupt, d: Decision) => {
    setRejecting(null);
    if (single) return void send(answersFor(interrupts, () => d));
    setDecisions((all) => ({ ...all, [i.id]: d }));
  };
  const parseEdited = (i: Interrupt): Record<string, unknown> | null => {
    try {
      const value = JSON.parse(editing[i.id] ?? "") as unknown;
      if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("the arguments must be a JSON object");
      setEditError(null);
      return value as Record<string, unknown>;
    } catch (e) {
      setEditError(`Arguments of ${i.metadata?.toolName ?? i.id}: ${(e as Error).message}`);
      return null;
    }
  };
  const allDecided = interrupts.every((i) => decisions[i.id]);

  return (
    <div data-testid="interrupt-answer" className="space-y-3">
      {interrupts.map((i) => {
        const d = decisions[i.id];
        const isEditing = editing[i.id] !== undefined;
        return (
          <div key={i.id} data-testid="interrupt" className="rounded-md border border-amber-200 bg-white p-3">
            <div className="flex flex-wrap items-start justify-between gap-2">
              <div className="min-w-0">
                <p className="text-sm font-medium text-slate-900">{interruptQuestion(i)}</p>
                {i.metadata?.toolName && (
                  <p className="mt-0.5 text-xs text-slate-500">
                    tool <span className="font-mono text-slate-700">{i.metadata.toolName}</span>
                    {i.reason && i.reason !== "tool_approval" && <span className="ml-2">· {i.reason}</span>}
                  </p>
                )}
              </div>
              {d && <DecisionBadge decision={{ approved: d.approved, edited: Boolean(d.arguments), reason: d.reason ?? null }} />}
            </div>
            {isEditing ? (
              <textarea
                data-testid="edit-arguments"
                value={editing[i.id]}
                onChange={(e) => setEditing((all) => ({ ...all, [i.id]: e.target.value }))}
                spellCheck={false}
                rows={Math.min(14, (editing[i.id] ?? "").split("\n").length + 1)}
                className="mt-2 w-full rounded-md border border-slate-300 p-2 font-mono text-xs focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
              />
            ) : (
              i.metadata?.arguments !== undefined && (
                <pre
                  data-testid="interrupt-arguments"
                  className="mt-2 max-h-48 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-50 p-2 font-mono text-xs text-slate-800"
                >
                  {prettyJson(i.metadata.arguments)}
                </pre>
              )
            )}
            {rejecting === i.id ? (
              <div className="mt-2">
                <RejectConfirm
                  what={i.metadata?.toolName ? `calling ${i.metadata.toolName}` : "this request"}
                  pending={pending}
                  onCancel={() => setRejecting(null)}
                  onConfirm={(reason) => decideOne(i, { approved: false, reason })}
                />
              </div>
            ) : (
              <div className="mt-2 flex flex-wrap gap-2">
                {isEditing ? (
                  <>
                    <Button
                      key="approve-edited"
                      variant="success"
                      size="sm"
                      disabled={pending}
                      needs="operator"
                      data-testid="approve-edited"
                      onClick={() => {
                        const args = parseEdited(i);
                        if (args) decideOne(i, { approved: true, arguments: args });
                      }}
                    >
                      Approve with these arguments
                    </Button>
                    <Button key="discard" size="sm" variant="ghost" onClick={() => setEditing(({ [i.id]: _drop, ...rest }) => rest)}>
                      Discard edits
                    </Button>
                  </>
                ) : (
                  <>
                    <Button
                      key="approve"
                      variant="success"
                      size="sm"
                      disabled={pending}
                      needs="operator"
                      data-testid="approve"
                      onClick={() => decideOne(i, { approved: true })}
                    >
                      Approve
                    </Button>
                    <Button key="reject" variant="danger" size="sm" disabled={pending} needs="operator" data-testid="reject" onClick={() => setRejecting(i.id)}>
                      Reject…
                    </Button>
                    <Button
                      key="edit"
                      size="sm"
                      disabled={pending}
                      needs="operator"
                      data-testid="edit"
                      onClick={() => setEditing((all) => ({ ...all, [i.id]: prettyJson(i.metadata?.arguments ?? {}) }))}
                    >
                      Edit arguments
                    </Button>
                  </>
                )}
              </div>
            )}
          </div>
        );
      })}
      {!single && (
        <div className="flex items-center gap-2">
          <Button
            variant="primary"
            disabled={!allDecided || pending}
            needs="operator"
            data-testid="submit-answers"
            onClick={() => void send(answersFor(interrupts, (i) => decisions[i.id]!))}
          >
            {pending ? "Sending…" : `Send ${interrupts.length} answers`}
          </Button>
          {!allDecided && <span className="text-xs text-slate-500">Answer every interrupt first.</span>}
        </div>
      )}
      <ErrorBox error={editError} title="Cannot use these arguments" />
      <ErrorBox error={error} title="The answer was refused" />
    </div>
  );
}

/** The second step of a rejection: why (required; the model is told), then confirm or go back. */
function RejectConfirm({ what, pending, onCancel, onConfirm }: { what: string; pending: boolean; onCancel: () => void; onConfirm: (reason: string) => void }) {
  const [reason, setReason] = useState("");
  const trimmed = reason.trim();
  return (
    <form
      data-testid="reject-confirm"
      className="w-full max-w-md space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5 text-left"
      onSubmit={(e) => {
        e.preventDefault();
        if (trimmed) onConfirm(trimmed);
      }}
    >
      <label className="block text-xs font-medium text-rose-900">
        Reject {what}? It will not run; the agent is told it was rejected, and why:
        <textarea
          data-testid="reject-reason"
          autoFocus
          value={reason}
          maxLength={MAX_REASON_CHARS}
          onChange={(e) => setReason(e.target.value)}
          rows={2}
          placeholder="Reason (required), e.g. wrong account; ask the customer first"
          className="mt-1 block w-full rounded-md border border-rose-300 bg-white p-1.5 text-xs font-normal text-slate-900 focus:border-rose-500 focus:outline-none focus:ring-1 focus:ring-rose-500"
        />
      </label>
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={onCancel} data-testid="reject-cancel">
          Keep waiting
        </Button>
        <Button type="submit" size="sm" variant="danger" needs="operator" disabled={pending || !trimmed} data-testid="confirm-reject">
          {pending ? "Rejecting…" : "Reject"}
        </Button>
      </div>
    </form>
  );
}
