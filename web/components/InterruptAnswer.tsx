"use client";
// Answering a run's interrupts: approve, reject, or approve with edited arguments. Every open
// interrupt is answered in one resumeRun call; the work continues in a new run on the thread.
import { useState } from "react";
import { useMutation } from "@/lib/hooks";
import { RESUME_RUN } from "@/lib/queries";
import { prettyJson } from "@/lib/format";
import type { Interrupt, ResumeAnswer } from "@/lib/types";
import { Button, ErrorBox } from "./ui";

type Decision = { approved: boolean; arguments?: Record<string, unknown> };

export function answersFor(interrupts: Interrupt[], decide: (i: Interrupt) => Decision): ResumeAnswer[] {
  return interrupts.map((i) => {
    const d = decide(i);
    return { interruptId: i.id, status: "resolved", payload: d.arguments ? { approved: d.approved, arguments: d.arguments } : { approved: d.approved } };
  });
}

/** The answer buttons of a run: one card per interrupt, or quick approve/reject all (compact). */
export function InterruptAnswer({
  runId,
  interrupts,
  onResumed,
  compact = false,
}: {
  runId: string;
  interrupts: Interrupt[];
  onResumed: (newRunId: string) => void;
  compact?: boolean;
}) {
  const { mutate, pending, error } = useMutation(RESUME_RUN);
  const [editing, setEditing] = useState<Record<string, string>>({});
  const [editError, setEditError] = useState<string | null>(null);
  const [decisions, setDecisions] = useState<Record<string, Decision>>({});

  const send = async (answers: ResumeAnswer[]) => {
    const result = await mutate({ runId, resume: answers });
    if (result?.resumeRun?.runId) onResumed(result.resumeRun.runId);
  };

  if (compact || interrupts.length === 0) {
    return (
      <div className="flex flex-col items-end gap-1.5">
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
          <Button
            variant="danger"
            size="sm"
            disabled={pending}
            needs="operator"
            data-testid="reject"
            onClick={() => void send(answersFor(interrupts, () => ({ approved: false })))}
          >
            Reject
          </Button>
        </div>
        {error && <p className="max-w-xs text-right text-xs text-rose-700">{error.message}</p>}
      </div>
    );
  }

  const single = interrupts.length === 1;
  const decideOne = (i: Interrupt, d: Decision) => {
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
                <p className="text-sm font-medium text-slate-900">{i.message ?? "Approval needed"}</p>
                <p className="mt-0.5 text-xs text-slate-500">
                  {i.reason && <span className="mr-2">reason: {i.reason}</span>}
                  {i.metadata?.toolName && (
                    <span>
                      tool: <span className="font-mono text-slate-700">{i.metadata.toolName}</span>
                    </span>
                  )}
                </p>
              </div>
              {d && (
                <span className={`rounded px-1.5 py-0.5 text-xs font-medium ${d.approved ? "bg-emerald-100 text-emerald-800" : "bg-rose-100 text-rose-800"}`}>
                  {d.approved ? (d.arguments ? "approve (edited)" : "approve") : "reject"}
                </span>
              )}
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
                <pre className="mt-2 max-h-48 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs text-slate-800">{prettyJson(i.metadata.arguments)}</pre>
              )
            )}
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
                  <Button
                    key="reject"
                    variant="danger"
                    size="sm"
                    disabled={pending}
                    needs="operator"
                    data-testid="reject"
                    onClick={() => decideOne(i, { approved: false })}
                  >
                    Reject
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
