"use client";
// The approvals history: who answered which approval, when, approve or reject (with the reason),
// and the arguments approved. Built from what exists:
// - the decisions are in each continuation run's input.resume (the answer the API stored); an
//   answered run is an interrupted run whose continued_by is set;
// - who and when are in the audit log (`approval.answered`, target = the continuation run, actor
//   `key:<id>`), which records the ids but, on purpose, not the payload (db/migrations/000003).
// The audit log has no filter by action or target in GraphQL: the newest entries are read and
// matched here (an answer older than them shows "who: not in the last N audit entries").
import Link from "next/link";
import { useEffect, useMemo } from "react";
import { graphql } from "@/lib/gql";
import { prettyJson, shortId } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { useSession } from "@/lib/session";
import type { Interrupt } from "@/lib/types";
import { DecisionBadge, decisionsOf, interruptQuestion } from "./InterruptAnswer";
import { Card, Empty, ErrorBox, Loading, Timestamp } from "./ui";

/** How many answered runs the history shows, and how many audit entries are read to find who answered. */
export const HISTORY_RUNS = 50;
export const HISTORY_AUDIT_ENTRIES = 1000;

export const APPROVAL_HISTORY_QUERY = graphql(`
  query ApprovalHistory {
    answeredRuns: allRuns(condition: { status: "interrupted" }, orderBy: CREATED_AT_DESC, first: 200) {
      nodes {
        id
        agentId
        createdAt
        finishedAt
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
          status
          createdAt
          input
        }
      }
    }
    answerAudit: allAuditLogs(orderBy: SEQ_DESC, first: 1000) {
      nodes {
        id
        at
        actor
        action
        targetId
      }
    }
  }
`);

/** "key:3f2a…" → "key 3f2a1b0c", "db:postgres" → "SQL as postgres". */
export function actorLabel(actor: string, ownKeyId: string | null): string {
  if (actor.startsWith("key:")) {
    const id = actor.slice(4);
    return id === ownKeyId ? `key ${shortId(id)} (you)` : `key ${shortId(id)}`;
  }
  if (actor.startsWith("db:")) return `SQL as ${actor.slice(3)}`;
  return actor;
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
    const audit = new Map<string, { at: string; actor: string }>();
    for (const a of data?.answerAudit?.nodes ?? []) {
      if (a && a.action === "approval.answered" && a.targetId && !audit.has(a.targetId)) audit.set(a.targetId, { at: a.at, actor: a.actor });
    }
    return (data?.answeredRuns?.nodes ?? [])
      .filter((r): r is NonNullable<typeof r> => Boolean(r?.runByContinuedBy))
      .slice(0, HISTORY_RUNS)
      .map((r) => {
        const continuation = r.runByContinuedBy!;
        const decisions = decisionsOf(continuation.input);
        const interrupts = interruptsOfEvent(r.finished.nodes[0]?.event);
        return { run: r, continuation, decisions, interrupts, who: audit.get(continuation.id) ?? null };
      })
      .filter((row) => row.decisions.size > 0);
  }, [data]);

  return (
    <Card
      title="History · answered approvals"
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
        !error && <Empty title="No approval answered yet">Each answer shows here: who, when, approve or reject, and the arguments.</Empty>
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
            {rows.map(({ run, continuation, decisions, interrupts, who }) => (
              <tr key={run.id} data-testid="history-row" data-run-id={run.id} data-continuation={continuation.id}>
                <td className="px-4 py-2 text-slate-600">
                  <Timestamp value={who?.at ?? continuation.createdAt} />
                </td>
                <td className="px-3 py-2 text-slate-700" data-testid="history-who">
                  {who ? (
                    <span title={who.actor}>{actorLabel(who.actor, session?.keyId ?? null)}</span>
                  ) : (
                    <span className="text-xs text-slate-400">not in the last {HISTORY_AUDIT_ENTRIES} audit entries</span>
                  )}
                </td>
                <td className="px-3 py-2 text-xs">
                  <Link href={`/runs/${run.id}`} className="font-mono text-sky-700 hover:underline">
                    {shortId(run.id)}
                  </Link>{" "}
                  → {/* the run the answer started */}
                  {/* named by its role, not its id: the inbox's "answered" line links the same id */}
                  <Link
                    href={`/runs/${continuation.id}`}
                    aria-label="the run this answer started"
                    title={continuation.id}
                    className="font-mono text-sky-700 hover:underline"
                  >
                    {shortId(continuation.id)}
                  </Link>
                  <div className="mt-0.5 text-slate-500">{run.agentByAgentId?.name ?? shortId(run.agentId)}</div>
                </td>
                <td className="space-y-1.5 px-3 py-2">
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
                            {d.edited ? "edited to: " : d.approved ? "" : "not run: "}
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
