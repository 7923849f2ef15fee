"use client";
// Schedules (issue 16): every schedule of the workspace by name, with its agent, its cron
// expression (or interval) and time zone, when it fires next and fired last, whether it is paused
// (and the note saying why, or the spec error that paused it) and its consecutive failed runs.
// Nothing pushes schedule changes, so the list is read again every few seconds, like the
// batches page; "Load more" grows the page read.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Timestamp } from "@/components/ui";
import { formatInstant, shortId } from "@/lib/format";
import { useNow, useQuery } from "@/lib/hooks";
import { present } from "@/lib/types";
import { ActiveBadge, PausedBadge } from "./badges";
import { SCHEDULES_QUERY } from "./queries";
import { describeSpec, formatInZone, formatUntil } from "./times";

const PAGE_SIZE = 100;
/** How often the list is read again (a fire moves nextFireAt and lastFireAt). */
const POLL_MS = 5000;

export default function SchedulesPage() {
  const router = useRouter();
  const [limit, setLimit] = useState(PAGE_SIZE);
  const { data, error, loading, refetch } = useQuery(SCHEDULES_QUERY, { first: limit });
  useEffect(() => {
    const timer = setInterval(() => void refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [refetch]);
  const now = useNow(1000);
  const rows = present(data?.schedules?.nodes);
  const paused = rows.filter((s) => s.paused).length;

  return (
    <>
      <PageHeader
        title="Schedules"
        subtitle={
          data?.schedules ? (
            <span data-testid="schedules-summary">
              {data.schedules.totalCount.toLocaleString("en-US")} schedule{data.schedules.totalCount === 1 ? "" : "s"} · {paused} paused · refreshed every{" "}
              {POLL_MS / 1000} s
            </span>
          ) : (
            "Agents run on a cron expression or an interval"
          )
        }
      />
      <Card bodyClassName="">
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load schedules" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={5} />
        ) : rows.length === 0 && !error ? (
          <Empty title="No schedules yet">
            Create one with <span className="font-mono">everruns schedules create</span>, <span className="font-mono">POST /api/schedules</span> or the GraphQL{" "}
            <span className="font-mono">createSchedule</span>.
          </Empty>
        ) : (
          rows.length > 0 && (
            <div className="overflow-x-auto">
              <table data-testid="schedules-table" className="w-full text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                    <th className="px-4 py-2">Schedule</th>
                    <th className="px-3 py-2">Agent</th>
                    <th className="px-3 py-2">Cron or interval</th>
                    <th className="px-3 py-2">Time zone</th>
                    <th className="px-3 py-2">Next fire</th>
                    <th className="px-3 py-2">Last fire</th>
                    <th className="px-3 py-2">State</th>
                    <th className="px-4 py-2 text-right">Failures</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {rows.map((s) => (
                    <tr
                      key={s.id}
                      data-schedule-id={s.id}
                      data-paused={s.paused ? "true" : "false"}
                      onClick={(e) => {
                        if ((e.target as HTMLElement).closest("a")) return;
                        router.push(`/schedules/${s.id}`);
                      }}
                      className="cursor-pointer hover:bg-slate-50"
                    >
                      <td className="px-4 py-2">
                        <Link href={`/schedules/${s.id}`} title={s.id} data-testid="schedule-link" className="font-medium text-sky-700 hover:underline">
                          {s.name}
                        </Link>
                      </td>
                      <td className="px-3 py-2">
                        <Link href={`/agents/${s.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                          {s.agentByAgentId?.name ?? shortId(s.agentId)}
                        </Link>
                      </td>
                      <td className="whitespace-nowrap px-3 py-2 font-mono text-[13px] text-slate-800" data-testid="schedule-row-spec">
                        {describeSpec(s)}
                      </td>
                      <td className="whitespace-nowrap px-3 py-2 text-slate-700">{s.timezone}</td>
                      <td
                        className="whitespace-nowrap px-3 py-2 text-slate-700"
                        data-testid="schedule-row-next"
                        title={s.nextFireAt ? `${formatInZone(s.nextFireAt, s.timezone)} · ${formatInstant(s.nextFireAt)}` : undefined}
                      >
                        {s.paused ? <span className="text-slate-400">paused</span> : s.nextFireAt ? formatUntil(s.nextFireAt, now) : "—"}
                      </td>
                      <td className="px-3 py-2 text-slate-600">
                        {s.lastFireAt ? <Timestamp value={s.lastFireAt} /> : <span className="text-slate-400">never</span>}
                      </td>
                      <td className="max-w-xs px-3 py-2" data-testid="schedule-row-state">
                        {s.paused ? (
                          <span className="flex flex-col">
                            <PausedBadge />
                            {(s.specError ?? s.pausedNote) && (
                              <span className="truncate text-xs text-slate-500" title={s.specError ?? s.pausedNote ?? undefined}>
                                {s.specError ? `spec error: ${s.specError}` : s.pausedNote}
                              </span>
                            )}
                          </span>
                        ) : (
                          <ActiveBadge />
                        )}
                      </td>
                      <td
                        className={`px-4 py-2 text-right tabular-nums ${s.consecutiveFailures > 0 ? "text-rose-700" : "text-slate-500"}`}
                        title={s.pauseAfterFailures != null ? `paused after ${s.pauseAfterFailures} consecutive failed runs` : "never paused for failures"}
                      >
                        {s.consecutiveFailures}
                        {s.pauseAfterFailures != null && <span className="text-slate-400"> / {s.pauseAfterFailures}</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        )}
        {data?.schedules?.pageInfo.hasNextPage && (
          <div className="flex items-center justify-center border-t border-slate-100 py-2.5">
            <Button size="sm" onClick={() => setLimit((l) => l + PAGE_SIZE)}>
              Load {PAGE_SIZE} more
            </Button>
          </div>
        )}
      </Card>
    </>
  );
}
