"use client";
// Workers & queue: the live worker processes (pool, host and pid for admins, slots, last seen)
// and the steps of this workspace each runs now; the step queue now and over time (sampled
// every 5 s by the workers); runs that are stuck (a step with no progress beyond a threshold,
// or no job at all); waiting runs with their deadlines; workers that stopped or crashed and the
// runs a crash freed; the workspace's admission limits and usage (WorkspaceLimitsCard). Workers
// serve every workspace: only this workspace's steps are shown.
// Refreshed every 5 s (api/graphql/operations.ts).
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useEffect } from "react";
import { BucketChart } from "@/components/charts";
import { WorkspaceLimitsCard } from "@/components/WorkspaceLimitsCard";
import { Card, Empty, ErrorBox, Loading, PageHeader, Select, Stat, StatusBadge } from "@/components/ui";
import { formatAgo, formatClock, formatDateTime, formatDuration, formatNumber, shortId } from "@/lib/format";
import { useNow, useQuery } from "@/lib/hooks";
import type { WorkersAndQueueQuery } from "@/lib/gql/graphql";
import { WORKERS_QUERY } from "@/lib/queries-navigation";

const QUEUE_WINDOWS = [
  { value: "900", label: "Last 15 min", bucket: 15 },
  { value: "3600", label: "Last hour", bucket: 60 },
  { value: "21600", label: "Last 6 hours", bucket: 300 },
  { value: "86400", label: "Last 24 hours", bucket: 1800 },
];
const STALLED = [
  { value: "60", label: "1 min" },
  { value: "300", label: "5 min" },
  { value: "900", label: "15 min" },
  { value: "3600", label: "1 hour" },
];

export default function WorkersPage() {
  return (
    <Suspense fallback={<Loading />}>
      <Workers />
    </Suspense>
  );
}

function Workers() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const queueWindow = QUEUE_WINDOWS.find((w) => w.value === params.get("queue")) ?? QUEUE_WINDOWS[1]!;
  const stalled = STALLED.find((s) => s.value === params.get("stalled")) ?? STALLED[1]!;
  const setParam = (key: string, value: string) => {
    const next = new URLSearchParams(params.toString());
    next.set(key, value);
    router.replace(`${pathname}?${next}`);
  };
  const { data, error, loading, refetch } = useQuery(WORKERS_QUERY, {
    queueWindow: Number(queueWindow.value),
    queueBucket: queueWindow.bucket,
    stalledSeconds: Number(stalled.value),
  });
  const now = useNow(1000);
  useEffect(() => {
    const timer = setInterval(() => void refetch(), 5000);
    return () => clearInterval(timer);
  }, [refetch]);

  return (
    <>
      <PageHeader title="Workers & queue" subtitle="Live workers, the step queue over time, stuck runs, timers and crashes · refreshed every 5 s" />
      {error && !(error.unreachable && data) && (
        <div className="mb-4">
          <ErrorBox error={error} title="Could not load workers and queue" onRetry={() => void refetch()} />
        </div>
      )}
      {loading && !data ? (
        <Card>
          <Loading rows={8} />
        </Card>
      ) : (
        data && (
          <div className="space-y-4" data-testid="workers-page">
            <Overview data={data} />
            <WorkspaceLimitsCard />
            <LiveWorkers data={data} now={now} />
            <Card
              title="Queue over time"
              testId="queue-history"
              actions={
                <Select
                  label="Window"
                  value={queueWindow.value}
                  onChange={(v) => setParam("queue", v)}
                  options={QUEUE_WINDOWS.map((w) => ({ value: w.value, label: w.label }))}
                  testId="queue-window"
                />
              }
            >
              <QueueHistory data={data} bucketSeconds={queueWindow.bucket} multiDay={Number(queueWindow.value) > 21600} />
            </Card>
            <div className="grid gap-4 xl:grid-cols-2">
              <StuckRuns data={data} now={now} stalled={stalled.value} onStalled={(v) => setParam("stalled", v)} />
              <Timers data={data} now={now} />
            </div>
            <Exits data={data} now={now} />
          </div>
        )
      )}
    </>
  );
}

type Data = WorkersAndQueueQuery;

function Overview({ data }: { data: Data }) {
  const slots = data.workerStatuses.reduce((n, w) => n + w.concurrency, 0);
  const mine = data.workerStatuses.reduce((n, w) => n + w.steps.length, 0);
  const q = data.queueDepth;
  const crashes = data.workerExits.filter((e) => e.crashed).length;
  return (
    <div className="grid grid-cols-2 gap-4 md:grid-cols-3 xl:grid-cols-5">
      <Card>
        <Stat
          label="Workers"
          value={formatNumber(data.workerStatuses.length)}
          hint={slots ? `${slots} slot${slots === 1 ? "" : "s"} · ${mine} busy with yours` : "no worker is running"}
          testId="stat-live-workers"
        />
      </Card>
      <Card>
        <Stat label="Ready" value={formatNumber(q.ready)} hint="due now, waiting for a free slot" testId="stat-ready" />
      </Card>
      <Card>
        <Stat
          label="Oldest ready"
          value={q.ready > 0 && q.oldestReadyAgeMs != null ? formatDuration(q.oldestReadyAgeMs) : "—"}
          hint="waited the longest"
          testId="stat-oldest"
        />
      </Card>
      <Card>
        <Stat label="Scheduled" value={formatNumber(q.scheduled)} hint="timers, retries, wait timeouts" testId="stat-scheduled" />
      </Card>
      <Card>
        <Stat label="Stuck · crashes" value={`${data.stuckRuns.length} · ${crashes}`} hint="stuck now · crashed in 24 h" testId="stat-stuck" />
      </Card>
    </div>
  );
}

const TH = "px-3 py-2";
const HEAD = "border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500";

function RunLink({ id }: { id: string }) {
  return (
    <Link href={`/runs/${id}`} title={id} className="font-mono text-[13px] text-sky-700 hover:underline">
      {shortId(id)}
    </Link>
  );
}

function LiveWorkers({ data, now }: { data: Data; now: number }) {
  return (
    <Card title={`Live workers · ${data.workerStatuses.length}`} bodyClassName="" testId="live-workers">
      {data.workerStatuses.length === 0 ? (
        <Empty title="No worker is alive">Runs stay queued until a worker starts: everruns worker, or everruns start.</Empty>
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className={HEAD}>
              <th className="px-4 py-2">Pool</th>
              <th className={TH}>Host · pid</th>
              <th className={`${TH} text-right`}>Slots</th>
              <th className={TH}>Started</th>
              <th className={TH}>Last seen</th>
              <th className="px-4 py-2">Running now (this workspace)</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {data.workerStatuses.map((w) => (
              <tr key={w.poolId} data-testid="live-worker" data-pool-id={w.poolId} className="align-top">
                <td className="px-4 py-2 font-mono text-xs text-slate-700">{w.poolId}</td>
                <td className="px-3 py-2 text-slate-600">
                  {w.hostname != null ? (
                    <>
                      {w.hostname} · {w.pid}
                    </>
                  ) : (
                    <span className="text-slate-400" title="host names and pids map the deployment: admin keys only">
                      hidden (admin only)
                    </span>
                  )}
                </td>
                <td className="px-3 py-2 text-right tabular-nums">{w.concurrency}</td>
                <td className="whitespace-nowrap px-3 py-2 text-slate-600" title={formatDateTime(w.startedAt)}>
                  {formatAgo(w.startedAt, now)}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-slate-600" title={formatDateTime(w.lastSeenAt)}>
                  {formatAgo(w.lastSeenAt, now)}
                </td>
                <td className="px-4 py-2">
                  {w.steps.length === 0 ? (
                    <span className="text-xs text-slate-400">none of this workspace&apos;s steps</span>
                  ) : (
                    <ul className="space-y-1">
                      {w.steps.map((s) => (
                        <li key={s.runId} data-testid="worker-step" data-run-id={s.runId} className="flex flex-wrap items-center gap-2 text-xs text-slate-600">
                          <RunLink id={s.runId} />
                          <span>{s.agentName ?? "?"}</span>
                          <span>
                            step {s.step} · attempt {s.attempt}
                          </span>
                          <span className="tabular-nums text-slate-500" title={formatDateTime(s.stepStartedAt ?? s.lockedAt)}>
                            {s.stepStartedAt ? `running ${formatDuration(now - Date.parse(s.stepStartedAt))}` : `taken ${formatAgo(s.lockedAt, now)}`}
                          </span>
                        </li>
                      ))}
                    </ul>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function QueueHistory({ data, bucketSeconds, multiDay }: { data: Data; bucketSeconds: number; multiDay: boolean }) {
  const h = data.queueHistory;
  const labels = h.map((b) => formatClock(Date.parse(b.start), multiDay));
  const tooltips = h.map((b) => `${formatClock(Date.parse(b.start), true)} – ${formatClock(Date.parse(b.start) + bucketSeconds * 1000)}`);
  return (
    <div className="grid gap-6 xl:grid-cols-2">
      <div>
        <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Jobs (deepest sample per bucket)</div>
        <BucketChart
          testId="chart-queue-depth"
          labels={labels}
          tooltipLabels={tooltips}
          empty="No job of this workspace in this window (samples are taken every 5 s while a worker runs)"
          series={[
            { name: "ready", color: "#f59e0b", kind: "line", values: h.map((b) => b.ready) },
            { name: "running", color: "#0ea5e9", kind: "line", values: h.map((b) => b.running) },
            { name: "scheduled", color: "#94a3b8", kind: "line", dashed: true, values: h.map((b) => b.scheduled) },
          ]}
        />
      </div>
      <div>
        <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Age of the oldest ready job</div>
        <BucketChart
          testId="chart-queue-age"
          labels={labels}
          tooltipLabels={tooltips}
          yFormat={(v) => formatDuration(v)}
          empty="No step waited for a worker in this window"
          series={[{ name: "oldest ready", color: "#f43f5e", kind: "line", values: h.map((b) => b.oldestReadyAgeMs ?? null) }]}
        />
      </div>
    </div>
  );
}

function StuckRuns({ data, now, stalled, onStalled }: { data: Data; now: number; stalled: string; onStalled: (v: string) => void }) {
  return (
    <Card
      title={`Stuck runs · ${data.stuckRuns.length}`}
      bodyClassName=""
      testId="stuck-runs"
      actions={
        <Select
          label="No progress for"
          value={stalled}
          onChange={onStalled}
          options={STALLED.map((s) => ({ value: s.value, label: s.label }))}
          testId="stalled-threshold"
        />
      }
    >
      {data.stuckRuns.length === 0 ? (
        <Empty title="No stuck run">Running steps progressed within the threshold, and every unfinished run has a job.</Empty>
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className={HEAD}>
              <th className="px-4 py-2">Run</th>
              <th className={TH}>Why</th>
              <th className={TH}>Step</th>
              <th className="px-4 py-2">Since</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {data.stuckRuns.map((r) => (
              <tr key={r.runId} data-testid="stuck-run" data-run-id={r.runId}>
                <td className="px-4 py-2">
                  <span className="inline-flex items-center gap-2">
                    <StatusBadge status={r.status} />
                    <RunLink id={r.runId} />
                    <span className="text-xs text-slate-500">{r.agentName}</span>
                  </span>
                </td>
                <td className="px-3 py-2 text-xs text-slate-700">
                  {r.reason === "no_job" ? "no job: nothing will advance it (workers repair this within ~5 s; is any worker running?)" : "step wrote nothing"}
                </td>
                <td className="px-3 py-2 text-xs tabular-nums text-slate-600">
                  {r.step} · attempt {r.attempt}
                </td>
                <td className="whitespace-nowrap px-4 py-2 text-xs text-slate-600" title={formatDateTime(r.since)}>
                  {formatDuration(now - Date.parse(r.since))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function Timers({ data, now }: { data: Data; now: number }) {
  return (
    <Card title={`Scheduled timers · ${data.scheduledTimers.length}`} bodyClassName="" testId="timers">
      {data.scheduledTimers.length === 0 ? (
        <Empty title="No waiting run">Runs that sleep or wait for an event appear here with their deadline.</Empty>
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className={HEAD}>
              <th className="px-4 py-2">Run</th>
              <th className={TH}>Waits for</th>
              <th className="px-4 py-2">Deadline</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {data.scheduledTimers.map((t) => (
              <tr key={t.runId} data-testid="timer" data-run-id={t.runId}>
                <td className="px-4 py-2">
                  <span className="inline-flex items-center gap-2">
                    <RunLink id={t.runId} />
                    <span className="text-xs text-slate-500">{t.agentName}</span>
                  </span>
                </td>
                <td className="px-3 py-2 text-xs text-slate-700">
                  {t.kind === "event" ? (
                    <>
                      event <span className="font-mono">{t.eventName}</span> (or its timeout)
                    </>
                  ) : (
                    "a timer (sleep)"
                  )}
                </td>
                <td className="whitespace-nowrap px-4 py-2 text-xs text-slate-600" title={t.until ? formatDateTime(t.until) : undefined}>
                  {t.until ? (
                    <>
                      {formatDateTime(t.until)} · {Date.parse(t.until) > now ? `in ${formatDuration(Date.parse(t.until) - now)}` : "due now"}
                    </>
                  ) : (
                    "none"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function Exits({ data, now }: { data: Data; now: number }) {
  return (
    <Card title="Stopped and crashed workers · last 24 h" bodyClassName="" testId="worker-exits">
      {data.workerExits.length === 0 ? (
        <Empty title="No worker stopped or crashed in the last 24 hours" />
      ) : (
        <table className="w-full text-sm">
          <thead>
            <tr className={HEAD}>
              <th className="px-4 py-2">Pool</th>
              <th className={TH}>Host · pid</th>
              <th className={TH}>How</th>
              <th className={TH}>When</th>
              <th className={TH}>Lived</th>
              <th className="px-4 py-2">Freed runs (this workspace)</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {data.workerExits.map((e) => (
              <tr key={`${e.poolId}-${e.exitedAt}`} data-testid="worker-exit" data-pool-id={e.poolId} data-crashed={e.crashed}>
                <td className="px-4 py-2 font-mono text-xs text-slate-700">{e.poolId}</td>
                <td className="px-3 py-2 text-slate-600">{e.hostname != null ? `${e.hostname} · ${e.pid}` : <span className="text-slate-400">hidden</span>}</td>
                <td className="px-3 py-2 text-xs">
                  {e.crashed ? (
                    <span className="rounded bg-rose-50 px-1.5 py-0.5 font-medium text-rose-800">crashed: liveness lost, jobs freed</span>
                  ) : (
                    <span className="rounded bg-slate-100 px-1.5 py-0.5 text-slate-600">stopped cleanly</span>
                  )}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-xs text-slate-600" title={formatDateTime(e.exitedAt)}>
                  {formatAgo(e.exitedAt, now)}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-xs tabular-nums text-slate-600">
                  {formatDuration(Date.parse(e.exitedAt) - Date.parse(e.startedAt))}
                </td>
                <td className="px-4 py-2">
                  {e.freedRunIds.length === 0 ? (
                    <span className="text-xs text-slate-400">none</span>
                  ) : (
                    <span className="flex flex-wrap gap-2">
                      {e.freedRunIds.map((id) => (
                        <RunLink key={id} id={id} />
                      ))}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
