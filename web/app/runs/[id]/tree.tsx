"use client";
// The run page's Sub-agents card (issue 18, migration 000033): the run that called this one and
// the root of its tree, the runs its agent tool calls started (status, agent, the call, cost; a
// link to open each), the ones below it that wait for an answer, and the usage of the whole tree
// (Run.treeUsage: runs.usage is the run's own). Its own query: refetched when the run changes
// (its page passes updatedAt, which runUpdated moves on every commit: a child's end wakes the
// caller, which commits) and every 3 s while the tree is unfinished, since a child's own steps
// push nothing to its caller's page.
import Link from "next/link";
import { useEffect } from "react";
import { Card, StatusBadge } from "@/components/ui";
import { formatCost, formatCostExact, shortId, totalTokens } from "@/lib/format";
import { graphql } from "@/lib/gql";
import { useQuery } from "@/lib/hooks";
import { TERMINAL_STATUSES, usageOf } from "@/lib/types";

const RUN_TREE_QUERY = graphql(`
  query RunTree($id: UUID!) {
    runById(id: $id) {
      id
      callerToolCallId
      treeUsage
      caller {
        id
        status
        agentByAgentId {
          name
        }
      }
      root {
        id
        status
        agentByAgentId {
          name
        }
      }
      childrenList {
        id
        status
        parentRunId
        continuedBy
        callerToolCallId
        usage
        agentByAgentId {
          name
        }
      }
      awaitingDescendantsList {
        id
        agentByAgentId {
          name
        }
      }
    }
  }
`);

const POLL_MS = 3000;

const linkClass = "rounded-md border border-slate-200 bg-white px-2.5 py-1 text-slate-600 hover:border-sky-300 hover:text-sky-700";

/** Nothing when the run has no caller and started no child. */
export function RunTreeCard({ runId, updatedAt }: { runId: string; updatedAt: string }) {
  const tree = useQuery(RUN_TREE_QUERY, { id: runId });
  const run = tree.data?.runById ?? null;
  const refetch = tree.refetch;
  useEffect(() => {
    void refetch();
  }, [updatedAt, refetch]);
  const children = (run?.childrenList ?? []).filter((c) => c !== null);
  const awaiting = (run?.awaitingDescendantsList ?? []).filter((c) => c !== null);
  // an answered child stays interrupted, its continuation goes on: only the ones not continued count
  const unfinished = children.some((c) => !TERMINAL_STATUSES.includes(c.status) && !c.continuedBy);
  useEffect(() => {
    if (!unfinished) return;
    const timer = setInterval(() => void refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [unfinished, refetch]);

  if (!run || (!run.caller && children.length === 0)) return null;
  const usage = usageOf(run.treeUsage);
  const runs = typeof (run.treeUsage as { runs?: unknown } | null)?.runs === "number" ? (run.treeUsage as { runs: number }).runs : children.length + 1;
  return (
    <Card
      title={`Sub-agents${children.length > 0 ? ` · ${children.length} run${children.length === 1 ? "" : "s"}` : ""}`}
      testId="run-tree-card"
      actions={
        <span className="text-xs text-slate-500" title={formatCostExact(usage.cost_usd ?? 0)} data-testid="run-tree-usage">
          tree: {runs} runs · {formatCost(usage.cost_usd ?? 0)} · {totalTokens(usage)} tokens
        </span>
      }
    >
      {run.caller && (
        <div className="mb-3 flex flex-wrap gap-2 text-sm">
          <Link data-testid="run-caller" href={`/runs/${run.caller.id}`} className={linkClass}>
            ← called by {run.caller.agentByAgentId?.name ?? "run"} <span className="font-mono">{shortId(run.caller.id)}</span>
          </Link>
          {run.root && run.root.id !== run.caller.id && (
            <Link data-testid="run-root" href={`/runs/${run.root.id}`} className={linkClass}>
              ⇤ root {run.root.agentByAgentId?.name ?? "run"} <span className="font-mono">{shortId(run.root.id)}</span>
            </Link>
          )}
        </div>
      )}
      {awaiting.length > 0 && (
        <p data-testid="run-tree-awaiting" className="mb-3 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {awaiting.length === 1 ? "A run below this one waits" : `${awaiting.length} runs below this one wait`} for an answer:{" "}
          {awaiting.map((a, i) => (
            <span key={a.id}>
              {i > 0 && ", "}
              <Link href={`/runs/${a.id}`} className="font-mono underline">
                {a.agentByAgentId?.name ?? "run"} {shortId(a.id)}
              </Link>
            </span>
          ))}
        </p>
      )}
      {children.length > 0 && (
        <ul data-testid="run-children" className="divide-y divide-slate-100 text-sm">
          {children.map((c) => (
            <li key={c.id} data-testid="run-child" className="flex items-center justify-between gap-2 py-1.5">
              <span className="flex min-w-0 items-center gap-2">
                <StatusBadge status={c.status} />
                <Link href={`/runs/${c.id}`} className="truncate text-sky-700 hover:underline">
                  {c.agentByAgentId?.name ?? "run"} <span className="font-mono">{shortId(c.id)}</span>
                </Link>
                {c.parentRunId && <span className="text-xs text-slate-500">continues {shortId(c.parentRunId)}</span>}
              </span>
              <span className="shrink-0 text-xs tabular-nums text-slate-500">{formatCost(usageOf(c.usage).cost_usd ?? 0)}</span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
