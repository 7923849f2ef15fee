"use client";
// The workspace's admission limits and usage (issue 14): max queued runs against the runs queued
// now, runs per minute against the tokens its bucket holds now, max running runs against the
// runs active now (holding a worker slot or due to), the runs waiting for a slot and how long
// the oldest has waited, the fair-share weight, the daily token and cost quotas against today's
// usage (UTC), whether the workspace has dedicated workers, "unlimited" where unset, and the CLI command an
// administrator changes them with (limits are set on the database, not through the API). Its
// own query, refreshed every 5 s like the rest of the Workers & queue page (api/graphql/operations.ts).
import { useEffect } from "react";
import { Card, ErrorBox, Loading, Stat } from "@/components/ui";
import { formatCost, formatDateTime, formatDuration, formatNumber, parseTime } from "@/lib/format";
import { graphql } from "@/lib/gql";
import { useNow, useQuery } from "@/lib/hooks";

const QUOTA_HINT = "over it, new LLM steps wait until 00:00 UTC or a raise";

const WORKSPACE_LIMITS_QUERY = graphql(`
  query WorkspaceLimits {
    workspaceLimits {
      workspaceId
      workspaceName
      maxQueuedRuns
      runsPerMinute
      maxRunningRuns
      weight
      maxTokensPerDay
      maxCostUsdPerDay
      dedicated
      queuedRuns
      pendingRuns
      activeRuns
      oldestPendingAt
      tokensToday
      costUsdToday
      tokens
      updatedAt
    }
  }
`);

export function WorkspaceLimitsCard() {
  const { data, error, loading, refetch } = useQuery(WORKSPACE_LIMITS_QUERY);
  const now = useNow(5000);
  useEffect(() => {
    const timer = setInterval(() => void refetch(), 5000);
    return () => clearInterval(timer);
  }, [refetch]);
  const limits = data?.workspaceLimits;
  const workspace = limits?.workspaceName ?? "<workspace>";
  const oldestPending = parseTime(limits?.oldestPendingAt);
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
          <div className="grid grid-cols-1 gap-4 md:grid-cols-3 xl:grid-cols-4">
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
            <Stat
              label="Max running runs"
              value={limits.maxRunningRuns == null ? "unlimited" : `${formatNumber(limits.activeRuns)} of ${formatNumber(limits.maxRunningRuns)} active`}
              hint={limits.maxRunningRuns == null ? `${formatNumber(limits.activeRuns)} active now` : "more runs wait queued for a slot"}
              testId="limit-max-running"
            />
            <Stat
              label="Waiting for a slot"
              value={formatNumber(limits.pendingRuns)}
              hint={oldestPending == null ? "no run waits" : `oldest waiting ${formatDuration(now - oldestPending)}`}
              testId="limit-pending"
            />
            <Stat label="Weight" value={formatNumber(limits.weight)} hint="its share of the worker slots against other workspaces'" testId="limit-weight" />
            <Stat
              label="Tokens per day"
              value={limits.maxTokensPerDay == null ? "unlimited" : `${formatNumber(limits.tokensToday ?? 0)} of ${formatNumber(limits.maxTokensPerDay)} today`}
              hint={
                limits.maxTokensPerDay != null
                  ? QUOTA_HINT
                  : limits.tokensToday != null
                    ? `${formatNumber(limits.tokensToday)} tokens today`
                    : "no quota (usage counted only under one)"
              }
              testId="limit-tokens-per-day"
            />
            <Stat
              label="Cost per day"
              value={limits.maxCostUsdPerDay == null ? "unlimited" : `${formatCost(limits.costUsdToday ?? 0)} of ${formatCost(limits.maxCostUsdPerDay)}`}
              hint={
                limits.maxCostUsdPerDay != null
                  ? `today; ${QUOTA_HINT}`
                  : limits.costUsdToday != null
                    ? `${formatCost(limits.costUsdToday)} today`
                    : "no quota (usage counted only under one)"
              }
              testId="limit-cost-per-day"
            />
            <Stat
              label="Dedicated workers"
              value={limits.dedicated ? "yes" : "no"}
              hint={limits.dedicated ? `only everruns worker --workspace ${workspace} runs its steps` : "shared workers run its steps"}
              testId="limit-dedicated"
            />
          </div>
          <p className="mt-3 text-xs text-slate-500" data-testid="limits-howto">
            An administrator changes them on the database:{" "}
            <code className="rounded bg-slate-100 px-1 py-0.5 font-mono text-[11px] text-slate-700">
              everruns workspaces limits {workspace} --max-queued-runs N --runs-per-minute N --max-running-runs N --weight N --max-tokens-per-day N
              --max-cost-usd-per-day X --dedicated|--shared
            </code>{" "}
            (none: unlimited; weight 1-1000, default 1; quotas count per UTC day; --shared undoes --dedicated).
            {limits.updatedAt && <> Last changed {formatDateTime(limits.updatedAt)}.</>}
          </p>
        </>
      )}
    </Card>
  );
}
