"use client";
// The approvals history: who answered which approval, when, approve or reject (with the reason),
// and the arguments. Read from the audit log: each `approval.answered` entry (target = the
// continuation run, actor `key:<id>`) records its decisions since 000015 ({interruptId, approved,
// edited, reason}) and the operator's reason, and the log is filtered by action in GraphQL (an
// index), newest first: no scan of the newest entries of every kind. The log keeps no payloads,
// so the question and its arguments come from the answered run's interrupt, and edited arguments
// from the continuation's input (entries older than 000015 take their decisions from there too).
// An answer to a question about a call whose outcome is unknown (issue 17, `outcome-…`) is listed
// as what it is: "Did X take effect?" and "called again" / "skipped" / "result entered: …" — the
// log records it as approved (status resolved), so its action comes from the continuation's input
// ("answered" when that is not at hand; a cancelled one skipped, the worker's rule).
import Link from "next/link";
import { useEffect, useMemo } from "react";
import { graphql } from "@/lib/gql";
import { prettyJson, shortId } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { useSession } from "@/lib/session";
import type { Interrupt } from "@/lib/types";
import { DecisionBadge, decisionsOf, interruptQuestion, type AnswerDecision } from "./InterruptAnswer";
import { Card, Empty, ErrorBox, Loading, Timestamp } from "./ui";

export const APPROVAL_HISTORY_QUERY = graphql(`
  query ApprovalHistory {
    answerAudit: allAuditLogs(condition: { action: "approval.answered" }, orderBy: SEQ_DESC, first: 50) {
      nodes {
        id
        at
        actor
        targetId
        details
      }
    }
    answeredRuns: allRuns(condition: { status: "interrupted" }, orderBy: CREATED_AT_DESC, first: 200) {
      nodes {
        id
        agentId
        continuedBy
        agentByAgentId {
          id
          name
        }
        finished: runEventsByRunId(condition: { type: "RUN_FINISHED" }, orderBy: SEQ_DESC, first: 1) {
          nodes {
            event
          }
        }
        runByContinuedBy {
          id
          input
        }
      }
    }
  }
`);

interface AuditAnswer {
  interruptId?: unknown;
  status?: unknown;
  approved?: unknown;
  edited?: unknown;
  reason?: unknown;
}
interface AnsweredDetails {
  parent_run_id?: unknown;
  agent_id?: unknown;
  reason?: unknown;
  answers?: AuditAnswer[];
}

/** The decisions an approval.answered entry records (000015), by interrupt id; null for an older entry without them. */
export function auditDecisions(details: unknown): Map<string, AnswerDecision> | null {
  const answers = (details as AnsweredDetails | null)?.answers;
  if (!Array.isArray(answers) || answers.length === 0 || answers.some((a) => typeof a?.approved !== "boolean")) return null;
  const out = new Map<string, AnswerDecision>();
  for (const a of answers) {
    if (typeof a.interruptId !== "string") continue;
    // an unknown outcome's answer: the log keeps no payload, so its action is not known here
    // unless it was cancelled (which skips the call)
    const outcome = a.interruptId.startsWith("outcome-") ? { action: a.status === "cancelled" ? ("skip" as const) : null, result: null } : null;
    out.set(a.interruptId, {
      interruptId: a.interruptId,
      approved: a.approved === true,
      edited: a.edited === true,
      reason: typeof a.reason === "string" ? a.reason : null,
      arguments: null,
      outcome,
    });
  }
  return out;
}

/** "key:3f2a…" → "key 3f2a1b0c", "db:postgres" → "SQL as postgres". */
export function actorLabel(actor: string, ownKeyId: string | null): string {
  if (actor.startsWith("key:")) {
    const id = actor.slice(4);
    return id === ownKeyId ? `key ${shortId(id)} (you)` : `key ${shortId(id)}`;
  }
  if (actor.startsWith("db:")) return `SQL as ${actor.slice(3)}`;
  return actor;
}

/** What the arguments beside a decision are: "edited to: ", "not run: ", "called again with: ", "not called again: " or nothing. */
function argumentsLead(d: AnswerDecision): string {
  if (d.outcome) {
    if (d.outcome.action === "retry") return "called again with: ";
    return d.outcome.action === null ? "" : "not called again: ";
  }
  if (d.edited) return "edited to: ";
  return d.approved ? "" : "not run: ";
}

function interruptsOfEvent(event: unknown): Interrupt[] {
  const outcome = (event as { outcome?: { type?: string; interrupts?: unknown } } | null)?.outcome;
  return outcome?.type === "interrupt" && Array.isArray(outcome.interrupts) ? (outcome.interrupts as Interrupt[]) : [];
}

export function ApprovalsHistory({ refreshKey = 0 }: { refreshKey?: number }) {
  const { data, error, loading, refetch } = useQuery(APPROVAL_HISTORY_QUERY);
  const session = useSession();
  // the inbox bumps refreshKey when an answer is sent or a run leaves it
  useEffect(() => {
    if (refreshKey > 0) void refetch();
  }, [refreshKey, refetch]);
  const rows = useMemo(() => {
    const runs = new Map((data?.answeredRuns?.nodes ?? []).filter((r): r is NonNullable<typeof r> => Boolean(r)).map((r) => [r.id, r]));
    return (data?.answerAudit?.nodes ?? [])
      .filter((a): a is NonNullable<typeof a> => Boolean(a?.targetId))
      .map((entry) => {
        const details = (entry.details ?? {}) as AnsweredDetails;
        const parentId = typeof details.parent_run_id === "string" ? details.parent_run_id : null;
        const run = parentId ? (runs.get(parentId) ?? null) : null;
        // edited arguments are a payload: only the continuation's input holds them
        const fromInput = run?.runByContinuedBy?.id === entry.targetId ? decisionsOf(run.runByContinuedBy.input) : new Map<string, AnswerDecision>();
        const recorded = auditDecisions(details);
        const decisions = new Map<string, AnswerDecision>();
        for (const [id, d] of recorded ?? fromInput) {
          // the input says what an unknown outcome's answer was (the log does not)
          const outcome = fromInput.get(id)?.outcome ?? d.outcome ?? null;
          decisions.set(id, { ...d, arguments: fromInput.get(id)?.arguments ?? null, outcome });
        }
        return {
          entry,
          parentId,
          run,
          continuationId: entry.targetId!,
          decisions,
          fromLog: recorded !== null,
          reason: typeof details.reason === "string" ? details.reason : null,
          interrupts: interruptsOfEvent(run?.finished.nodes[0]?.event),
        };
      });
  }, [data]);

  return (
    <Card
      title="History · answered approvals and questions"
      testId="approvals-history"
      className="mt-6"
      bodyClassName=""
      actions={
        <button type="button" onClick={() => void refetch()} className="text-xs text-sky-700 hover:underline">
          refresh
        </button>
      }
    >
      {error && (
        <div className="p-3">
          <ErrorBox error={error} title="Could not load the approvals history" onRetry={() => void refetch()} />
        </div>
      )}
      {loading && !data ? (
        <Loading rows={3} />
      ) : rows.length === 0 ? (
        !error && <Empty title="No approval or question answered yet">Each answer shows here: who, when, what was decided, and the arguments.</Empty>
      ) : (
        <table className="w-full table-fixed text-sm">
          <thead className="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
            <tr>
              <th className="w-36 px-4 py-2">When</th>
              <th className="w-44 px-3 py-2">Who</th>
              <th className="w-40 px-3 py-2">Run</th>
              <th className="px-3 py-2">Decision · arguments</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100 align-top">
            {rows.map(({ entry, parentId, run, continuationId, decisions, fromLog, reason, interrupts }) => (
              <tr key={entry.id} data-testid="history-row" data-run-id={parentId ?? undefined} data-continuation={continuationId} data-from-log={fromLog}>
                <td className="px-4 py-2 text-slate-600">
                  <Timestamp value={entry.at} />
                </td>
                <td className="px-3 py-2 text-slate-700">
                  <span data-testid="history-who" title={entry.actor}>
                    {actorLabel(entry.actor, session?.keyId ?? null)}
                  </span>
                  {reason && (
                    <div data-testid="history-reason" className="mt-0.5 break-words text-xs text-slate-500" title="the operator's reason, from the audit log">
                      “{reason}”
                    </div>
                  )}
                </td>
                <td className="px-3 py-2 text-xs">
                  {parentId ? (
                    <Link href={`/runs/${parentId}`} className="font-mono text-sky-700 hover:underline">
                      {shortId(parentId)}
                    </Link>
                  ) : (
                    "?"
                  )}{" "}
                  → {/* the run the answer started */}
                  {/* named by its role, not its id: the inbox's "answered" line links the same id */}
                  <Link
                    href={`/runs/${continuationId}`}
                    aria-label="the run this answer started"
                    title={continuationId}
                    className="font-mono text-sky-700 hover:underline"
                  >
                    {shortId(continuationId)}
                  </Link>
                  {run && <div className="mt-0.5 text-slate-500">{run.agentByAgentId?.name ?? shortId(run.agentId)}</div>}
                </td>
                <td className="space-y-1.5 px-3 py-2">
                  {decisions.size === 0 && <span className="text-xs text-slate-400">the decisions of this answer are not recorded</span>}
                  {[...decisions.values()].map((d) => {
                    const asked = interrupts.find((i) => i.id === d.interruptId);
                    const args = d.arguments ?? asked?.metadata?.arguments;
                    return (
                      <div key={d.interruptId} data-testid="history-decision" className="min-w-0">
                        <div className="flex flex-wrap items-center gap-2">
                          <span className="text-slate-800">{asked ? interruptQuestion(asked) : d.interruptId}</span>
                          <DecisionBadge decision={d} />
                        </div>
                        {args !== undefined && args !== null && (
                          <pre className="mt-1 max-h-28 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-50 px-2 py-1 font-mono text-xs text-slate-700">
                            {argumentsLead(d)}
                            {prettyJson(args)}
                          </pre>
                        )}
                      </div>
                    );
                  })}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
