"use client";
// The dashboard's observability cards (issue 19, "Console"), over the page's window:
// - step latency by kind: p50/p95/p99 and max of committed steps' duration (stepLatencyByKindList);
// - resume after a crash: per bucket, attempts lost to a dead worker (or fenced out) and p50/p95 of
//   the time until the run's next attempt began (resumeLatencyList);
// - LLM retries and errors by provider: attempts per committed step, retries, crashes, failed
//   steps / steps (providerStepStatsList);
// - usage against limits: the caller's workspace's daily token and cost quotas, running and queued
//   runs against their limits (workspaceLimits), today's usage when no quota counts it.
// Every figure is computed by the database (000037, percentile_cont), security invoker: row-level
// security keeps them to the key's workspace. Its own query, refreshed with the page, at most every 15 s
// (every minute for windows over a day).
import { useEffect, useRef } from "react";
import { BucketChart } from "@/components/charts";
import { Card, Empty, ErrorBox, Loading } from "@/components/ui";
import { formatClock, formatCost, formatDuration, formatNumber, formatPercent } from "@/lib/format";
import { graphql } from "@/lib/gql";
import type { DashboardObservabilityQuery } from "@/lib/gql/graphql";
import { useQuery } from "@/lib/hooks";
import { present } from "@/lib/types";

export const DASHBOARD_OBSERVABILITY_QUERY = graphql(`
  query DashboardObservability($window: Int!, $bucket: Int!) {
    stepLatencyByKindList(windowSeconds: $window) {
      kind
      steps
      failed
      p50Ms
      p95Ms
      p99Ms
      maxMs
    }
    resumeLatencyList(windowSeconds: $window, bucketSeconds: $bucket) {
      bucketStart
      attempts
      lost
      resumed
      p50Ms
      p95Ms
      maxMs
    }
    providerStepStatsList(windowSeconds: $window) {
      provider
      steps
      failed
      attempts
      retried
      lost
      errorRate
      attemptsPerStep
      p95Ms
    }
    workspaceLimits {
      workspaceId
      maxQueuedRuns
      maxRunningRuns
      maxTokensPerDay
      maxCostUsdPerDay
      queuedRuns
      activeRuns
      tokensToday
      costUsdToday
    }
  }
`);

/** The resume chart's bucket for the page's window: hourly from a day up, finer below. */
export function resumeBucketSeconds(windowSeconds: number): number {
  if (windowSeconds <= 3600) return 300;
  if (windowSeconds <= 6 * 3600) return 1800;
  return 3600;
}

const REFRESH_MS = 15_000;
/** Windows over a day: a week of steps is read (~1 s per 350,000 on 2 cores) */
const SLOW_REFRESH_MS = 60_000;

const KIND_COLORS: Record<string, string> = {
  llm: "#6366f1",
  tool: "#14b8a6",
  wait: "#94a3b8",
  state: "#f59e0b",
  compaction: "#a855f7",
  system: "#64748b",
};

export function ObservabilityCards({
  windowSeconds,
  refreshKey,
  todayUsage,
}: {
  windowSeconds: number;
  /** changes when the page refreshes: the cards refetch with it */
  refreshKey: number | null;
  /** today's (UTC) tokens and cost of the workspace, from the page's usage per agent per day */
  todayUsage: { tokens: number; costUsd: number };
}) {
  const bucket = resumeBucketSeconds(windowSeconds);
  const { data, error, loading, refetch } = useQuery(DASHBOARD_OBSERVABILITY_QUERY, { window: windowSeconds, bucket });
  // with the page (every 10 s, and when runs change), at most every REFRESH_MS (SLOW_REFRESH_MS
  // over a day): every figure reads all the steps of the window
  const fetchedAt = useRef(Date.now());
  useEffect(() => {
    if (refreshKey == null || Date.now() - fetchedAt.current < (windowSeconds > 86400 ? SLOW_REFRESH_MS : REFRESH_MS)) return;
    fetchedAt.current = Date.now();
    void refetch();
  }, [refreshKey, refetch, windowSeconds]);

  if (error && !data) return <ErrorBox error={error} title="Could not load step latency, resumes and provider errors" onRetry={() => void refetch()} />;
  if (loading && !data) {
    return (
      <Card>
        <Loading rows={4} />
      </Card>
    );
  }
  if (!data) return null;
  return (
    <div className="space-y-4" data-testid="observability">
      <div className="grid gap-4 xl:grid-cols-2">
        <StepLatencyCard rows={present(data.stepLatencyByKindList)} />
        <ResumeLatencyCard buckets={present(data.resumeLatencyList)} bucketSeconds={bucket} windowSeconds={windowSeconds} />
      </div>
      <div className="grid gap-4 xl:grid-cols-2">
        <ProviderCard rows={present(data.providerStepStatsList)} />
        <UsageLimitsCard limits={data.workspaceLimits ?? null} todayUsage={todayUsage} />
      </div>
    </div>
  );
}

type LatencyRow = NonNullable<DashboardObservabilityQuery["stepLatencyByKindList"]>[number] & object;

function StepLatencyCard({ rows }: { rows: LatencyRow[] }) {
  const top = Math.max(0, ...rows.map((r) => r.p99Ms ?? 0));
  return (
    <Card title="Step latency by kind" bodyClassName="" testId="latency-by-kind">
      {rows.length === 0 ? (
        <Empty title="No step committed in this window" />
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
              <th className="px-4 py-2">Kind</th>
              <th className="px-3 py-2 text-right">Steps</th>
              <th className="px-3 py-2 text-right">p50</th>
              <th className="px-3 py-2 text-right">p95</th>
              <th className="px-3 py-2 text-right">p99</th>
              <th className="px-3 py-2 text-right">max</th>
              <th className="w-1/4 px-4 py-2" aria-label="p50 to p99" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((r) => {
              const kind = r.kind ?? "?";
              const color = KIND_COLORS[kind] ?? "#64748b";
              const at = (v: number | null | undefined) => (top > 0 && v != null ? `${(100 * v) / top}%` : "0%");
              return (
                <tr key={kind} data-testid="latency-kind-row" data-kind={kind}>
                  <td className="whitespace-nowrap px-4 py-1.5">
                    <span className="mr-1.5 inline-block h-2 w-2 rounded-sm" style={{ background: color }} />
                    {kind}
                    {(r.failed ?? 0) > 0 && <span className="ml-1.5 text-xs text-rose-700">{formatNumber(r.failed)} failed</span>}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="latency-steps">
                    {formatNumber(r.steps)}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="latency-p50">
                    {formatDuration(r.p50Ms)}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="latency-p95">
                    {formatDuration(r.p95Ms)}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="latency-p99">
                    {formatDuration(r.p99Ms)}
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums text-slate-500">{formatDuration(r.maxMs)}</td>
                  <td className="px-4 py-1.5">
                    {/* p50 to p99 on a scale shared by the kinds; the tick is p95 */}
                    <div
                      className="relative h-2 rounded bg-slate-100"
                      title={`p50 ${formatDuration(r.p50Ms)} · p95 ${formatDuration(r.p95Ms)} · p99 ${formatDuration(r.p99Ms)}`}
                    >
                      <div
                        className="absolute inset-y-0 rounded"
                        style={{ left: at(r.p50Ms), right: `calc(100% - ${at(r.p99Ms)})`, background: color, opacity: 0.6 }}
                      />
                      <div className="absolute -inset-y-0.5 w-0.5 bg-slate-800" style={{ left: at(r.p95Ms) }} />
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <p className="border-t border-slate-100 px-4 py-1.5 text-[11px] text-slate-400">
        Committed steps by when they finished (wait: how long the run waited; state: workflow transitions).
      </p>
    </Card>
  );
}

type ResumeBucket = NonNullable<DashboardObservabilityQuery["resumeLatencyList"]>[number] & object;

function ResumeLatencyCard({ buckets, bucketSeconds, windowSeconds }: { buckets: ResumeBucket[]; bucketSeconds: number; windowSeconds: number }) {
  const multiDay = windowSeconds > 86400;
  const starts = buckets.map((b) => Date.parse(String(b.bucketStart)));
  const labels = starts.map((t) => formatClock(t, multiDay));
  const tooltips = starts.map((t) => `${formatClock(t, true)} – ${formatClock(t + bucketSeconds * 1000)}`);
  const lost = buckets.reduce((n, b) => n + (b.lost ?? 0), 0);
  const resumed = buckets.reduce((n, b) => n + (b.resumed ?? 0), 0);
  const attempts = buckets.reduce((n, b) => n + (b.attempts ?? 0), 0);
  const worstP95 = Math.max(0, ...buckets.map((b) => b.p95Ms ?? 0));
  return (
    <Card title={`Resume after a crash · ${formatNumber(lost)} lost attempt${lost === 1 ? "" : "s"}`} testId="resume-latency">
      <div className="mb-2 flex flex-wrap gap-x-6 gap-y-1 text-xs text-slate-600">
        <span data-testid="resume-lost">
          <b className="tabular-nums">{formatNumber(lost)}</b> of {formatNumber(attempts)} attempts lost
        </span>
        <span data-testid="resume-resumed">
          <b className="tabular-nums">{formatNumber(resumed)}</b> resumed
        </span>
        <span data-testid="resume-worst-p95">
          worst p95 <b className="tabular-nums">{lost > 0 ? formatDuration(worstP95) : "—"}</b>
        </span>
      </div>
      <BucketChart
        testId="chart-resume"
        labels={labels}
        tooltipLabels={tooltips}
        yFormat={(v) => formatDuration(v)}
        empty="No attempt was lost to a crash in this window"
        series={[
          { name: "p50", color: "#6366f1", kind: "line", values: buckets.map((b) => ((b.resumed ?? 0) > 0 ? (b.p50Ms ?? null) : null)) },
          { name: "p95", color: "#f43f5e", kind: "line", dashed: true, values: buckets.map((b) => ((b.resumed ?? 0) > 0 ? (b.p95Ms ?? null) : null)) },
        ]}
      />
      <p className="mt-1 text-[11px] text-slate-400">
        From the loss (the sweep that found the worker dead; a fenced-out attempt&apos;s last event) to the run&apos;s next attempt, in{" "}
        {bucketSeconds % 3600 === 0 ? `${bucketSeconds / 3600}-hour` : `${bucketSeconds / 60}-minute`} buckets. The Workers &amp; queue page lists the crashes
        and the stuck runs.
      </p>
    </Card>
  );
}

type ProviderRow = NonNullable<DashboardObservabilityQuery["providerStepStatsList"]>[number] & object;

function ProviderCard({ rows }: { rows: ProviderRow[] }) {
  return (
    <Card title="LLM retries and errors by provider" bodyClassName="" testId="provider-errors">
      {rows.length === 0 ? (
        <Empty title="No LLM step committed in this window" />
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
              <th className="px-4 py-2">Provider</th>
              <th className="px-3 py-2 text-right">Steps</th>
              <th className="px-3 py-2 text-right" title="Failed steps ÷ steps">
                Error rate
              </th>
              <th className="px-3 py-2 text-right" title="Every attempt of the committed steps (retries and crashes included) ÷ steps">
                Attempts / step
              </th>
              <th className="px-3 py-2 text-right" title="Attempts retried after a transient error (429, 5xx, timeouts)">
                Retried
              </th>
              <th className="px-3 py-2 text-right" title="Attempts lost to a dead worker or fenced out">
                Crashed
              </th>
              <th className="px-4 py-2 text-right">p95</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((r) => (
              <tr key={r.provider ?? "?"} data-testid="provider-row" data-provider={r.provider ?? ""}>
                <td className="px-4 py-1.5 font-medium text-slate-800">{r.provider}</td>
                <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums">{formatNumber(r.steps)}</td>
                <td
                  className={`px-3 py-1.5 whitespace-nowrap text-right tabular-nums ${(r.errorRate ?? 0) > 0.1 ? "font-medium text-rose-700" : ""}`}
                  data-testid="provider-error-rate"
                  title={`${formatNumber(r.failed)} failed of ${formatNumber(r.steps)}`}
                >
                  {formatPercent(r.errorRate ?? null)}
                </td>
                <td
                  className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums"
                  data-testid="provider-attempts-per-step"
                  title={`${formatNumber(r.attempts)} attempts`}
                >
                  {r.attemptsPerStep == null ? "—" : r.attemptsPerStep.toFixed(2)}
                </td>
                <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="provider-retried">
                  {formatNumber(r.retried)}
                </td>
                <td className="px-3 py-1.5 whitespace-nowrap text-right tabular-nums" data-testid="provider-lost">
                  {formatNumber(r.lost)}
                </td>
                <td className="px-4 py-1.5 whitespace-nowrap text-right tabular-nums">{formatDuration(r.p95Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="border-t border-slate-100 px-4 py-1.5 text-[11px] text-slate-400">
        LLM steps committed in this window, by the provider of the run&apos;s agent version.
      </p>
    </Card>
  );
}

type Limits = NonNullable<DashboardObservabilityQuery["workspaceLimits"]>;

function UsageBar({
  label,
  used,
  limit,
  format,
  testId,
  note,
}: {
  label: string;
  used: number;
  limit: number | null;
  format: (v: number) => string;
  testId: string;
  note?: string;
}) {
  const ratio = limit != null && limit > 0 ? used / limit : null;
  const color = ratio == null ? "#94a3b8" : ratio >= 1 ? "#e11d48" : ratio >= 0.8 ? "#f59e0b" : "#10b981";
  return (
    <div data-testid={testId} data-used={used} data-limit={limit ?? ""}>
      <div className="flex items-baseline justify-between text-xs">
        <span className="font-medium uppercase tracking-wide text-slate-500">{label}</span>
        <span className="tabular-nums text-slate-700" data-testid={`${testId}-text`}>
          {format(used)} {limit == null ? "· no limit" : `of ${format(limit)} (${formatPercent(ratio)})`}
        </span>
      </div>
      <div className="mt-1 h-2 overflow-hidden rounded bg-slate-100">
        <div className="h-full rounded" style={{ width: ratio == null ? "0%" : `${Math.min(100, ratio * 100)}%`, background: color }} />
      </div>
      {note && <div className="mt-0.5 text-[11px] text-slate-400">{note}</div>}
    </div>
  );
}

function UsageLimitsCard({ limits, todayUsage }: { limits: Limits | null; todayUsage: { tokens: number; costUsd: number } }) {
  return (
    <Card title="Usage against limits · this workspace" testId="usage-limits">
      {!limits ? (
        <p className="text-sm text-slate-500">This key acts in no workspace.</p>
      ) : (
        <div className="space-y-3">
          <UsageBar
            label="Tokens today (UTC)"
            used={limits.tokensToday ?? todayUsage.tokens}
            limit={limits.maxTokensPerDay ?? null}
            format={formatNumber}
            testId="usage-tokens"
            note={limits.maxTokensPerDay != null ? "over it, new LLM steps wait until 00:00 UTC or a raise" : undefined}
          />
          <UsageBar
            label="Cost today (UTC)"
            used={limits.costUsdToday ?? todayUsage.costUsd}
            limit={limits.maxCostUsdPerDay ?? null}
            format={formatCost}
            testId="usage-cost"
          />
          <UsageBar label="Active runs" used={limits.activeRuns} limit={limits.maxRunningRuns ?? null} format={formatNumber} testId="usage-active" />
          <UsageBar label="Queued runs" used={limits.queuedRuns} limit={limits.maxQueuedRuns ?? null} format={formatNumber} testId="usage-queued" />
          <p className="text-[11px] text-slate-400">
            Administrators change them with <code>everruns workspaces limits</code>; the Workers &amp; queue page has every limit.
          </p>
        </div>
      )}
    </Card>
  );
}
