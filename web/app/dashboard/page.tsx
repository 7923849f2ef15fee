"use client";
// The operations dashboard: runs by status, success rate, throughput and step latency over
// time, tokens and cost per agent per day, live workers and the queue, recent failures; then
// step latency by kind, resume after a crash, LLM retries and errors by provider and usage
// against the workspace's limits (./observability.tsx, issue 19).
// Aggregates come from the database (api/graphql/dashboard.ts); the page refreshes when runs
// change (the runUpdated subscription, at most every 3 s) and every 10 s for workers and queue.
// A click on a chart opens the runs behind it: the runs list filtered to that status, agent and
// time bucket (on the runs' finished time for outcomes, created time for starts).
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useState } from "react";
import { BucketChart, HBars } from "@/components/charts";
import { Card, Empty, ErrorBox, Loading, PageHeader, Select, Stat, STATUS_COLORS } from "@/components/ui";
import { formatAgo, formatClock, formatCost, formatDateTime, formatDuration, formatNumber, formatPercent, shortId } from "@/lib/format";
import { useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import type { DashboardQuery } from "@/lib/gql/graphql";
import { DASHBOARD_QUERY, DASHBOARD_UPDATED } from "@/lib/queries";
import { ObservabilityCards } from "./observability";
import { present, RUN_STATUSES, runErrorOf } from "@/lib/types";

const WINDOWS = [
  { value: "3600", label: "Last hour", bucket: 120 },
  { value: "21600", label: "Last 6 hours", bucket: 900 },
  { value: "86400", label: "Last 24 hours", bucket: 3600 },
  { value: "604800", label: "Last 7 days", bucket: 6 * 3600 },
];
const DAYS = 7;
const AGENT_COLORS = ["#6366f1", "#14b8a6", "#f59e0b", "#ec4899", "#0ea5e9", "#84cc16", "#a855f7", "#ef4444", "#64748b"];

type AgentDailyUsage = DashboardQuery["agentDailyUsage"][number];

export default function DashboardPage() {
  const [windowValue, setWindowValue] = useState("3600");
  const w = WINDOWS.find((x) => x.value === windowValue) ?? WINDOWS[0]!;
  const { data, error, loading, refetch } = useQuery(DASHBOARD_QUERY, { window: Number(w.value), bucket: w.bucket, days: DAYS });
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const now = useNow(5000);
  const refresh = useThrottled(() => void refetch(), 3000);

  useEffect(() => {
    if (data) setUpdatedAt(Date.now());
  }, [data]);
  useEffect(() => {
    const timer = setInterval(() => void refetch(), 10_000);
    return () => clearInterval(timer);
  }, [refetch]);
  useSubscription(() => ({ query: DASHBOARD_UPDATED }), { next: () => refresh() }, "dashboard-live");

  return (
    <>
      <PageHeader
        title="Operations"
        subtitle={
          updatedAt ? (
            <span data-testid="dashboard-updated">live · updated {formatAgo(new Date(updatedAt).toISOString(), now)}</span>
          ) : (
            "Runs, workers and cost at a glance"
          )
        }
        actions={
          <Select
            label="Window"
            value={windowValue}
            onChange={setWindowValue}
            options={WINDOWS.map((x) => ({ value: x.value, label: x.label }))}
            testId="dashboard-window"
          />
        }
      />
      {error && !(error.unreachable && data) && (
        <div className="mb-4">
          <ErrorBox error={error} title="Could not load the dashboard" onRetry={() => void refetch()} />
        </div>
      )}
      {loading && !data ? (
        <Card>
          <Loading rows={8} />
        </Card>
      ) : (
        data && (
          <>
            <Dashboard data={data} bucketSeconds={w.bucket} windowSeconds={Number(w.value)} now={now} />
            <div className="mt-4">
              <ObservabilityCards windowSeconds={Number(w.value)} refreshKey={updatedAt} todayUsage={todayUsage(data)} />
            </div>
          </>
        )
      )}
    </>
  );
}

/** Today's (UTC) tokens and cost of the workspace, from its usage per agent per day. */
function todayUsage(data: DashboardQuery): { tokens: number; costUsd: number } {
  const today = new Date().toISOString().slice(0, 10);
  const rows = data.agentDailyUsage.filter((u) => u.day === today);
  return { tokens: rows.reduce((n, u) => n + u.inputTokens + u.outputTokens, 0), costUsd: rows.reduce((n, u) => n + u.costUsd, 0) };
}

/** The runs list filtered: `by` says whether the range is on created or finished time. */
function runsHref(filters: { status?: string; agent?: string; from: number; to: number; by: "created" | "finished" }): string {
  const q = new URLSearchParams();
  if (filters.status) q.set("status", filters.status);
  if (filters.agent) q.set("agent", filters.agent);
  q.set("from", new Date(filters.from).toISOString());
  q.set("to", new Date(filters.to).toISOString());
  if (filters.by === "finished") q.set("by", "finished");
  return `/runs?${q}`;
}

function Dashboard({ data, bucketSeconds, windowSeconds, now }: { data: DashboardQuery; bucketSeconds: number; windowSeconds: number; now: number }) {
  const router = useRouter();
  const failures = present(data.failures?.nodes).map((f) => ({ ...f, error: runErrorOf(f.error) }));
  const counts = Object.fromEntries(data.runStatusCounts.map((c) => [c.status, c.count])) as Record<string, number>;
  const total = data.runStatusCounts.reduce((n, c) => n + c.count, 0);
  const succeeded = counts.succeeded ?? 0;
  const failed = counts.failed ?? 0;
  const successRate = succeeded + failed > 0 ? succeeded / (succeeded + failed) : null;
  const active = (counts.queued ?? 0) + (counts.running ?? 0) + (counts.waiting ?? 0);
  const slots = data.liveWorkers.reduce((n, x) => n + x.concurrency, 0);
  const busy = data.liveWorkers.reduce((n, x) => n + x.runningJobs, 0);
  const q = data.queueDepth;

  const buckets = data.runThroughput;
  const multiDay = windowSeconds > 86400;
  const labels = buckets.map((b) => formatClock(Date.parse(b.start), multiDay));
  const tooltips = buckets.map((b) => `${formatClock(Date.parse(b.start), true)} – ${formatClock(Date.parse(b.start) + bucketSeconds * 1000)}`);
  const finishedTotal = buckets.reduce((n, b) => n + b.succeeded + b.failed + b.cancelled + b.interrupted, 0);
  const bucketRange = (i: number) => {
    const from = Date.parse(buckets[i]!.start);
    return { from, to: from + bucketSeconds * 1000 };
  };
  // a bar segment: the runs of that outcome that finished in the bucket; the "started" line or
  // the bucket's background: the runs created in it
  const openThroughput = (i: number, series: string | null) => {
    if (series && series !== "started") router.push(runsHref({ status: series, ...bucketRange(i), by: "finished" }));
    else router.push(runsHref({ ...bucketRange(i), by: "created" }));
  };

  return (
    <div className="space-y-4" data-testid="dashboard">
      <div className="grid grid-cols-2 gap-4 md:grid-cols-3 xl:grid-cols-6">
        <Card>
          <Stat label="Runs" value={formatNumber(total)} hint={`started in the window`} testId="stat-runs" />
        </Card>
        <Card>
          <Stat label="Success rate" value={formatPercent(successRate)} hint={`${succeeded} ok · ${failed} failed`} testId="stat-success" />
        </Card>
        <Card>
          <Stat label="Active" value={formatNumber(active)} hint={`${counts.running ?? 0} running · ${counts.waiting ?? 0} waiting`} testId="stat-active" />
        </Card>
        <Card>
          <Stat
            label="Need an answer"
            value={
              <Link href="/approvals" className="hover:text-amber-700">
                {formatNumber(data.runsAwaitingAnswerCount)}
              </Link>
            }
            hint="waiting for approval"
            testId="stat-interrupted"
          />
        </Card>
        <Card>
          <Stat
            label="Workers"
            value={formatNumber(data.liveWorkers.length)}
            hint={slots ? `${busy} of ${slots} slots busy` : "no worker is running"}
            testId="stat-workers"
          />
        </Card>
        <Card>
          <Stat
            label="Queue"
            value={formatNumber(q.ready)}
            hint={`ready · ${q.scheduled} scheduled${q.oldestReadyAgeMs != null && q.ready > 0 ? ` · oldest ${formatDuration(q.oldestReadyAgeMs)}` : ""}`}
            testId="stat-queue"
          />
        </Card>
      </div>

      <div className="grid gap-4 xl:grid-cols-3">
        <Card title="Runs by status" testId="runs-by-status">
          {total === 0 ? (
            <Empty title="No runs in this window" />
          ) : (
            <HBars
              testId="status-bars"
              rows={RUN_STATUSES.map((s) => ({
                key: s,
                label: (
                  <Link href={`/runs?status=${s}`} className="hover:underline">
                    {s}
                  </Link>
                ),
                value: counts[s] ?? 0,
                color: STATUS_COLORS[s] ?? "#94a3b8",
              }))}
            />
          )}
        </Card>
        <Card title={`Throughput · ${finishedTotal} finished`} className="xl:col-span-2" testId="throughput">
          <BucketChart
            testId="chart-throughput"
            labels={labels}
            tooltipLabels={tooltips}
            onBucketClick={openThroughput}
            clickHint="Click: the runs behind a bar (or started in the bucket)"
            stacked
            series={[
              { name: "succeeded", color: STATUS_COLORS.succeeded!, values: buckets.map((b) => b.succeeded) },
              { name: "failed", color: STATUS_COLORS.failed!, values: buckets.map((b) => b.failed) },
              { name: "cancelled", color: STATUS_COLORS.cancelled!, values: buckets.map((b) => b.cancelled) },
              { name: "interrupted", color: STATUS_COLORS.interrupted!, values: buckets.map((b) => b.interrupted) },
              { name: "started", color: "#0f172a", kind: "line", values: buckets.map((b) => b.started) },
            ]}
          />
        </Card>
      </div>

      <div className="grid gap-4 xl:grid-cols-2">
        <Card title="Success rate over time" testId="success-over-time">
          <BucketChart
            testId="chart-success"
            labels={labels}
            tooltipLabels={tooltips}
            onBucketClick={(i) => router.push(runsHref({ ...bucketRange(i), by: "finished" }))}
            clickHint="Click: the runs that finished in this bucket"
            yFormat={(v) => `${Math.round(v)}%`}
            empty="No run finished in this window"
            series={[
              {
                name: "success rate (succeeded ÷ succeeded + failed)",
                color: "#10b981",
                kind: "line",
                values: buckets.map((b) => (b.succeeded + b.failed > 0 ? (100 * b.succeeded) / (b.succeeded + b.failed) : null)),
              },
            ]}
          />
        </Card>
        <Card title="Step latency" testId="latency">
          <BucketChart
            testId="chart-latency"
            labels={labels}
            tooltipLabels={tooltips}
            onBucketClick={(i) => router.push(runsHref({ ...bucketRange(i), by: "created" }))}
            clickHint="Click: the runs started in this bucket"
            yFormat={(v) => formatDuration(v)}
            empty="No step committed in this window"
            series={[
              { name: "p50", color: "#6366f1", kind: "line", values: buckets.map((b) => b.stepP50Ms) },
              { name: "p95", color: "#f43f5e", kind: "line", dashed: true, values: buckets.map((b) => b.stepP95Ms) },
            ]}
          />
          <p className="mt-1 text-[11px] text-slate-400">
            LLM and tool steps (waits excluded), by the bucket they were committed in: {formatNumber(buckets.reduce((n, b) => n + b.steps, 0))} steps in{" "}
            {bucketSeconds % 3600 === 0
              ? `${bucketSeconds / 3600}-hour`
              : bucketSeconds % 60 === 0
                ? `${bucketSeconds / 60}-minute`
                : `${bucketSeconds}-second`}{" "}
            buckets.
          </p>
        </Card>
      </div>

      <CostPerAgent usage={data.agentDailyUsage} />

      <div className="grid gap-4 xl:grid-cols-2">
        <Card
          title={`Live workers · ${data.liveWorkers.length}`}
          bodyClassName=""
          testId="workers"
          actions={
            <Link href="/workers" className="text-xs font-normal text-sky-700 hover:underline" data-testid="dashboard-workers-link">
              Workers &amp; queue →
            </Link>
          }
        >
          {data.liveWorkers.length === 0 ? (
            <Empty title="No worker is alive">Runs stay queued until a worker starts: everruns worker, or everruns start.</Empty>
          ) : (
            <table className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Pool</th>
                  <th className="px-3 py-2">Host · pid</th>
                  <th className="px-3 py-2 text-right">Busy</th>
                  <th className="px-4 py-2">Up since</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.liveWorkers.map((x) => (
                  <tr key={x.poolId} data-testid="worker-row">
                    <td className="px-4 py-2 font-mono text-xs text-slate-700">{x.poolId}</td>
                    <td className="px-3 py-2 text-slate-600">
                      {x.hostname} · {x.pid}
                    </td>
                    <td className="px-3 py-2 text-right tabular-nums">
                      {x.runningJobs}/{x.concurrency}
                    </td>
                    <td className="px-4 py-2 text-slate-600" title={formatDateTime(x.startedAt)}>
                      {formatAgo(x.startedAt, now)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="flex gap-6 border-t border-slate-100 px-4 py-2 text-xs text-slate-600">
            <span>
              queue: <b className="tabular-nums">{q.ready}</b> ready
            </span>
            <span>
              <b className="tabular-nums">{q.scheduled}</b> scheduled (retries, timers)
            </span>
            <span>
              <b className="tabular-nums">{q.running}</b> running
            </span>
          </div>
        </Card>
        <Card title="Recent failures" bodyClassName="" testId="failures">
          {failures.length === 0 ? (
            <Empty title="No failed runs" />
          ) : (
            <ul className="divide-y divide-slate-100">
              {failures.map((f) => (
                <li key={f.id} data-testid="failure" className="px-4 py-2">
                  <div className="flex items-center gap-3 text-xs text-slate-500">
                    <Link href={`/runs/${f.id}`} className="font-mono text-[13px] text-sky-700 hover:underline">
                      {shortId(f.id)}
                    </Link>
                    <span>{f.agentByAgentId?.name ?? "?"}</span>
                    <span className="ml-auto">{formatAgo(f.finishedAt ?? f.createdAt, now)}</span>
                  </div>
                  <p className="mt-0.5 truncate text-sm text-rose-800" title={f.error?.message}>
                    {f.error?.code && (
                      <Link
                        href={`/runs?status=failed&error=${encodeURIComponent(f.error.code)}`}
                        title="every failed run with this error"
                        className="mr-1.5 rounded bg-rose-50 px-1 font-mono text-xs hover:underline"
                      >
                        {f.error.code}
                      </Link>
                    )}
                    {f.error?.message ?? "failed"}
                  </p>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
    </div>
  );
}

/** The share of input tokens read from the prompt cache (null without input). */
const cacheHitRatio = (u: { inputTokens: number; cacheReadTokens: number }) => (u.inputTokens > 0 ? u.cacheReadTokens / u.inputTokens : null);

function CostPerAgent({ usage }: { usage: AgentDailyUsage[] }) {
  const router = useRouter();
  const days = useMemo(() => {
    const out: string[] = [];
    const today = new Date();
    for (let i = DAYS - 1; i >= 0; i--)
      out.push(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i)).toISOString().slice(0, 10));
    return out;
  }, []);
  const agents = useMemo(() => {
    const totals = new Map<string, { name: string; cost: number; tokens: number; runs: number }>();
    for (const u of usage) {
      const t = totals.get(u.agentId) ?? { name: u.agentName, cost: 0, tokens: 0, runs: 0 };
      t.cost += u.costUsd;
      t.tokens += u.inputTokens + u.outputTokens;
      t.runs += u.runs;
      totals.set(u.agentId, t);
    }
    return [...totals.entries()].sort((a, b) => b[1].cost - a[1].cost || b[1].tokens - a[1].tokens);
  }, [usage]);
  const color = (i: number) => AGENT_COLORS[i % AGENT_COLORS.length]!;
  const value = (agentId: string, day: string, key: "costUsd" | "tokens") => {
    const u = usage.find((x) => x.agentId === agentId && x.day === day);
    if (!u) return 0;
    return key === "costUsd" ? u.costUsd : u.inputTokens + u.outputTokens;
  };
  const labels = days.map((d) => new Date(`${d}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" }));
  // a bar segment: that agent's runs started that UTC day; the day's background: every agent's
  const openDay = (i: number, series: string | null) => {
    const from = Date.parse(`${days[i]}T00:00:00Z`);
    const agent = agents.find(([, a]) => a.name === series)?.[0];
    router.push(runsHref({ agent, from, to: from + 86400_000, by: "created" }));
  };
  return (
    <Card title={`Tokens and cost per agent per day · last ${DAYS} days (UTC)`} testId="cost-per-agent">
      {agents.length === 0 ? (
        <Empty title="No runs in the last 7 days" />
      ) : (
        // the charts side by side (their x axes level), the table under them at full width: its
        // token columns (in / out, cache read / write, reasoning) need the room
        <div className="space-y-6">
          <div className="grid items-end gap-6 xl:grid-cols-2">
            <div>
              <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Cost (USD)</div>
              <BucketChart
                testId="chart-cost"
                labels={labels}
                onBucketClick={openDay}
                clickHint="Click: the runs of this agent and day"
                stacked
                yFormat={(v) => formatCost(v)}
                series={agents.map(([id, a], i) => ({ name: a.name, color: color(i), values: days.map((d) => value(id, d, "costUsd")) }))}
                height={170}
              />
            </div>
            <div>
              <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Tokens (in + out)</div>
              <BucketChart
                testId="chart-tokens"
                legend={false}
                labels={labels}
                onBucketClick={openDay}
                clickHint="Click: the runs of this agent and day"
                stacked
                yFormat={(v) => formatNumber(v)}
                series={agents.map(([id, a], i) => ({ name: a.name, color: color(i), values: days.map((d) => value(id, d, "tokens")) }))}
                height={170}
              />
            </div>
          </div>
          <div className="max-h-[360px] overflow-auto">
            <table data-testid="usage-table" className="w-full text-sm">
              <thead className="sticky top-0 bg-white">
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="py-2 pr-3">Day</th>
                  <th className="px-3 py-2">Agent</th>
                  <th className="px-3 py-2 text-right">Runs</th>
                  <th className="px-3 py-2 text-right">Tokens in / out</th>
                  <th className="px-3 py-2 text-right" title="Parts of the input tokens: read from / written to the provider's prompt cache">
                    Cache read / write
                  </th>
                  <th className="px-3 py-2 text-right" title="The part of the output tokens spent on reasoning">
                    Reasoning
                  </th>
                  <th className="py-2 pl-3 text-right">Cost</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {[...usage].reverse().map((u) => {
                  const i = agents.findIndex(([id]) => id === u.agentId);
                  return (
                    <tr key={`${u.day}-${u.agentId}`} data-testid="usage-row">
                      <td className="whitespace-nowrap py-1.5 pr-3 tabular-nums text-slate-600">{u.day}</td>
                      <td className="px-3 py-1.5">
                        <span className="mr-1.5 inline-block h-2 w-2 rounded-sm" style={{ background: color(i) }} />
                        <Link href={`/agents/${u.agentId}`} className="text-slate-800 hover:underline">
                          {u.agentName}
                        </Link>
                      </td>
                      <td className="px-3 py-1.5 text-right tabular-nums">{u.runs}</td>
                      <td className="px-3 py-1.5 text-right tabular-nums text-slate-700">
                        {formatNumber(u.inputTokens)} / {formatNumber(u.outputTokens)}
                      </td>
                      <td
                        className="px-3 py-1.5 text-right tabular-nums text-slate-700"
                        data-testid="usage-cache"
                        title={`${u.cacheReadTokens.toLocaleString("en-US")} read from the cache (${formatPercent(cacheHitRatio(u))} of input), ${u.cacheWriteTokens.toLocaleString("en-US")} written to it`}
                      >
                        {u.cacheReadTokens || u.cacheWriteTokens ? `${formatNumber(u.cacheReadTokens)} / ${formatNumber(u.cacheWriteTokens)}` : "—"}
                      </td>
                      <td className="px-3 py-1.5 text-right tabular-nums text-slate-700" data-testid="usage-reasoning">
                        {u.reasoningTokens ? formatNumber(u.reasoningTokens) : "—"}
                      </td>
                      <td className="py-1.5 pl-3 text-right tabular-nums font-medium">{formatCost(u.costUsd)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </Card>
  );
}
