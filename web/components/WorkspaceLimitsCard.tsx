"use client";
// The workspace's admission limits and usage (issue 14): max queued runs against the runs queued
// now, runs per minute against the tokens its bucket holds now, "unlimited" where unset, and the
// CLI command an administrator changes them with (limits are set on the database, not through
// the API). Its own query, refreshed every 5 s like the rest of the Workers & queue page (api/graphql/operations.ts).
import { useEffect } from "react";
import { Card, ErrorBox, Loading, Stat } from "@/components/ui";
import { formatDateTime, formatNumber } from "@/lib/format";
import { graphql } from "@/lib/gql";
import { useQuery } from "@/lib/hooks";

const WORKSPACE_LIMITS_QUERY = graphql(`
  query WorkspaceLimits {
    workspaceLimits {
      workspaceId
      workspaceName
      maxQueuedRuns
      runsPerMinute
      queuedRuns
      tokens
      updatedAt
    }
  }
`);

export function WorkspaceLimitsCard() {
  const { data, error, loading, refetch } = useQuery(WORKSPACE_LIMITS_QUERY);
  useEffect(() => {
    const timer = setInterval(() => void refetch(), 5000);
    return () => clearInterval(timer);
  }, [refetch]);
  const limits = data?.workspaceLimits;
  const workspace = limits?.workspaceName ?? "<workspace>";
  return (
    <Card title="Limits" testId="workspace-limits">
      {error && !data ? (
        <ErrorBox error={error} title="Could not load the workspace's limits" onRetry={() => void refetch()} />
      ) : loading && !data ? (
        <Loading rows={2} />
      ) : !limits ? (
        <p className="text-sm text-slate-500">This key acts in no workspace.</p>
      ) : (
        <>
          <div className="grid grid-cols-1 gap-4 md:grid-cols-2">
            <Stat
              label="Max queued runs"
              value={limits.maxQueuedRuns == null ? "unlimited" : `${formatNumber(limits.queuedRuns)} of ${formatNumber(limits.maxQueuedRuns)} queued`}
              hint={
                limits.maxQueuedRuns == null
                  ? `${formatNumber(limits.queuedRuns)} queued now`
                  : "a run beyond it is refused (workspace_limit) until queued runs start"
              }
              testId="limit-max-queued"
            />
            <Stat
              label="Runs per minute"
              value={limits.runsPerMinute == null ? "unlimited" : `${formatNumber(limits.runsPerMinute)} / min`}
              hint={
                limits.runsPerMinute == null
                  ? "no rate limit"
                  : `${formatNumber(limits.tokens ?? 0)} of ${formatNumber(limits.runsPerMinute)} can start at once now`
              }
              testId="limit-runs-per-minute"
            />
          </div>
          <p className="mt-3 text-xs text-slate-500" data-testid="limits-howto">
            An administrator changes them on the database:{" "}
            <code className="rounded bg-slate-100 px-1 py-0.5 font-mono text-[11px] text-slate-700">
              everruns workspaces limits {workspace} --max-queued-runs N --runs-per-minute N
            </code>{" "}
            (none: unlimited).
            {limits.updatedAt && <> Last changed {formatDateTime(limits.updatedAt)}.</>}
          </p>
        </>
      )}
    </Card>
  );
}
