"use client";
// One schedule (issue 16): its settings (cron expression or interval, time zone, overlap,
// catch-up, misfire grace, thread, failure pause, input), its next 10 fire times in its own time
// zone and in UTC (Schedule.nextFireTimes: from the database's clock, none while paused), and its
// recent fires: the occurrence, what became of it (started, skipped, buffered, failed) and why,
// and its run with the run's status. An operator pauses it (with a note, shown with it and kept
// in the audit log) or resumes it; a viewer reads a note instead. Read again every few seconds.
import Link from "next/link";
import { useParams } from "next/navigation";
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, StatusBadge, Timestamp } from "@/components/ui";
import { isUuid, prettyJson, shortId } from "@/lib/format";
import type { ScheduleFieldsFragment } from "@/lib/gql/graphql";
import { useMutation, useNow, useQuery } from "@/lib/hooks";
import { usePermission } from "@/lib/session";
import { present } from "@/lib/types";
import { ActiveBadge, PausedBadge } from "../badges";
import { PAUSE_SCHEDULE, RESUME_SCHEDULE, SCHEDULE_QUERY } from "../queries";
import { describeSpec, formatInterval, formatInZone, formatUntil, formatUtc } from "../times";

const FIRES = 50;
const POLL_MS = 5000;
const NOTE_MAX = 1000;

const FIRE_STATUS_STYLES: Record<string, string> = {
  started: "bg-emerald-50 text-emerald-800 ring-emerald-300",
  buffered: "bg-violet-50 text-violet-800 ring-violet-300",
  skipped: "bg-slate-100 text-slate-700 ring-slate-300",
  failed: "bg-rose-50 text-rose-800 ring-rose-300",
};

export default function SchedulePage() {
  const { id } = useParams<{ id: string }>();
  const valid = isUuid(id);
  const detail = useQuery(SCHEDULE_QUERY, { id, fires: FIRES }, { skip: !valid });
  const schedule = detail.data?.schedule ?? null;
  useEffect(() => {
    if (!valid) return;
    const timer = setInterval(() => void detail.refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [valid, detail.refetch]);
  const now = useNow(1000);

  if (!valid || (detail.data && !schedule)) {
    return (
      <Card>
        <Empty title="No such schedule" icon="not-found">
          There is no schedule <span className="font-mono">{id}</span> in this workspace.{" "}
          <Link href="/schedules" className="text-sky-700 hover:underline">
            Back to schedules
          </Link>
        </Empty>
      </Card>
    );
  }
  if (detail.loading && !detail.data) return <Loading rows={8} />;
  if (detail.error && !schedule) return <ErrorBox error={detail.error} title="Could not load this schedule" onRetry={() => void detail.refetch()} />;
  if (!schedule) return <Loading rows={8} />;

  // a pause or resume answers with the schedule after it: shown at once, the fires kept
  const applied = (fresh: ScheduleFieldsFragment) => detail.setData((d) => (d?.schedule ? { schedule: { ...d.schedule, ...fresh } } : d));
  const fires = present(schedule.fires.nodes);

  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span>Schedule {schedule.name}</span>
            <span data-testid="schedule-state" data-paused={schedule.paused ? "true" : "false"}>
              {schedule.paused ? <PausedBadge /> : <ActiveBadge />}
            </span>
          </span>
        }
        subtitle={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <Link href="/schedules" className="text-sky-700 hover:underline">
              ← schedules
            </Link>
            <span>
              agent{" "}
              <Link href={`/agents/${schedule.agentId}`} className="text-sky-700 hover:underline">
                {schedule.agentByAgentId?.name ?? shortId(schedule.agentId)}
              </Link>
            </span>
            <span className="font-mono">{describeSpec(schedule)}</span>
            <span>{schedule.timezone}</span>
            <span className="font-mono text-xs text-slate-400">{schedule.id}</span>
          </span>
        }
        actions={<ScheduleControls schedule={schedule} onChanged={applied} />}
      />

      {schedule.paused && (schedule.pausedNote || schedule.specError) && (
        <div data-testid="schedule-paused-note" className="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          {schedule.specError ? (
            <>
              <span className="font-medium">Paused: its occurrences cannot be computed.</span> <span className="font-mono text-xs">{schedule.specError}</span>{" "}
              Change its cron expression, interval or time zone, then resume it.
            </>
          ) : (
            <>
              <span className="font-medium">Paused:</span> {schedule.pausedNote}
            </>
          )}
        </div>
      )}

      <div className="mb-4 grid gap-4 lg:grid-cols-2">
        <Card testId="schedule-settings" title="Settings">
          <dl className="grid grid-cols-2 gap-x-6 gap-y-3 text-sm">
            <Setting label={schedule.cron ? "Cron" : "Interval"} testId="schedule-spec" mono>
              {schedule.cron ?? (schedule.intervalSeconds != null ? `every ${formatInterval(schedule.intervalSeconds)}` : "—")}
            </Setting>
            <Setting label="Time zone" testId="schedule-timezone">
              {schedule.timezone}
            </Setting>
            <Setting label="Overlap" title="When an occurrence comes while the previous fire's run is still active">
              {schedule.overlap.replaceAll("_", " ")}
            </Setting>
            <Setting label="Catch-up" title="Occurrences missed while nothing ran">
              {schedule.catchUp === "all" ? `all (at most ${schedule.catchUpMax})` : schedule.catchUp}
            </Setting>
            <Setting label="Misfire grace">{formatInterval(schedule.misfireGraceSeconds)}</Setting>
            <Setting label="Thread">
              {schedule.thread === "shared" && schedule.threadId ? (
                <Link href={`/threads/${schedule.threadId}`} className="text-sky-700 hover:underline">
                  shared {shortId(schedule.threadId)}
                </Link>
              ) : (
                schedule.thread
              )}
            </Setting>
            <Setting label="Pause after failures">{schedule.pauseAfterFailures != null ? `${schedule.pauseAfterFailures} in a row` : "never"}</Setting>
            <Setting label="Failures in a row" testId="schedule-failures">
              <span className={schedule.consecutiveFailures > 0 ? "text-rose-700" : undefined}>{schedule.consecutiveFailures}</span>
            </Setting>
            <Setting label="Last fire">{schedule.lastFireAt ? <Timestamp value={schedule.lastFireAt} /> : "never"}</Setting>
            <Setting label="Missed">{String(schedule.missedTotal)}</Setting>
            <Setting label="Created">
              <Timestamp value={schedule.createdAt} />
            </Setting>
            <Setting label="Updated">
              <Timestamp value={schedule.updatedAt} />
            </Setting>
          </dl>
          <div className="mt-4 border-t border-slate-100 pt-3">
            <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Input of each fire</div>
            <pre data-testid="schedule-input" className="max-h-64 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs text-slate-800">
              {prettyJson(schedule.input)}
            </pre>
          </div>
        </Card>

        <Card
          testId="schedule-next-fires"
          title="Next fire times"
          actions={<span className="text-xs text-slate-500">in {schedule.timezone} and UTC</span>}
          bodyClassName=""
        >
          {schedule.nextFireTimes.length === 0 ? (
            <Empty title={schedule.paused ? "Paused: nothing fires" : "No fire time"}>
              {schedule.paused ? "Resume it to see when it fires next." : "Its occurrences cannot be computed."}
            </Empty>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                    <th className="px-4 py-2">#</th>
                    <th className="px-3 py-2">{schedule.timezone}</th>
                    <th className="px-3 py-2">UTC</th>
                    <th className="px-4 py-2 text-right">When</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {schedule.nextFireTimes.map((t, i) => (
                    <tr key={String(t)} data-testid="next-fire" data-at={String(t)}>
                      <td className="px-4 py-1.5 tabular-nums text-slate-400">{i + 1}</td>
                      <td className="whitespace-nowrap px-2 py-1.5 font-mono text-[13px] text-slate-800" data-testid="next-fire-local">
                        {formatInZone(String(t), schedule.timezone)}
                      </td>
                      <td className="whitespace-nowrap px-2 py-1.5 font-mono text-[13px] text-slate-600" data-testid="next-fire-utc">
                        {formatUtc(String(t))}
                      </td>
                      <td className="whitespace-nowrap px-4 py-1.5 text-right text-slate-600">{formatUntil(String(t), now)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Card>
      </div>

      <Card
        testId="schedule-fires"
        bodyClassName=""
        title={
          <span>
            Recent fires <span className="font-normal text-slate-500">{schedule.fires.totalCount.toLocaleString("en-US")}</span>
          </span>
        }
        actions={<span className="text-xs text-slate-500">newest first · refreshed every {POLL_MS / 1000} s</span>}
      >
        {fires.length === 0 ? (
          <Empty title="No fires yet">{schedule.paused ? "It is paused." : `It fires next ${formatUntil(schedule.nextFireAt, now)}.`}</Empty>
        ) : (
          <div className="overflow-x-auto">
            <table data-testid="fires-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Occurrence</th>
                  <th className="px-3 py-2">Fired</th>
                  <th className="px-3 py-2">Status</th>
                  <th className="px-3 py-2">Reason</th>
                  <th className="px-4 py-2">Run</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {fires.map((fire) => (
                  <tr key={fire.id} data-fire-id={fire.id} data-status={fire.status} className="hover:bg-slate-50">
                    <td className="whitespace-nowrap px-4 py-2 font-mono text-[13px] text-slate-800" title={formatUtc(fire.occurrenceAt)}>
                      {formatInZone(fire.occurrenceAt, schedule.timezone)}
                    </td>
                    <td className="px-3 py-2 text-slate-600">
                      <Timestamp value={fire.firedAt} />
                    </td>
                    <td className="px-3 py-2">
                      <span
                        className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${FIRE_STATUS_STYLES[fire.status] ?? FIRE_STATUS_STYLES.skipped}`}
                      >
                        {fire.status}
                      </span>
                    </td>
                    <td className="max-w-md truncate px-3 py-2 text-xs text-slate-600" title={fire.reason ?? undefined}>
                      {fire.reason ?? "—"}
                    </td>
                    <td className="whitespace-nowrap px-4 py-2">
                      {fire.runId ? (
                        <span className="flex items-center gap-2">
                          <Link
                            href={`/runs/${fire.runId}`}
                            title={fire.runId}
                            data-testid="fire-run-link"
                            className="font-mono text-[13px] text-sky-700 hover:underline"
                          >
                            {shortId(fire.runId)}
                          </Link>
                          {fire.run && <StatusBadge status={fire.run.status} />}
                        </span>
                      ) : (
                        <span className="text-xs text-slate-400">no run</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}

function Setting({ label, children, testId, title, mono }: { label: string; children: ReactNode; testId?: string; title?: string; mono?: boolean }) {
  return (
    <div className="min-w-0">
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500" title={title}>
        {label}
      </dt>
      <dd data-testid={testId} className={`truncate text-slate-900 ${mono ? "font-mono text-[13px]" : ""}`}>
        {children}
      </dd>
    </div>
  );
}

/**
 * Pause (with an optional note: why, for whoever looks next) and Resume, an operator's
 * (api/graphql/access.ts). A viewer reads a note instead; the API's refusal is shown beside them.
 */
function ScheduleControls({
  schedule,
  onChanged,
}: {
  schedule: Pick<ScheduleFieldsFragment, "id" | "paused" | "nextFireAt">;
  onChanged: (schedule: ScheduleFieldsFragment) => void;
}) {
  const permission = usePermission("operator");
  const pause = useMutation(PAUSE_SCHEDULE);
  const resume = useMutation(RESUME_SCHEDULE);
  const [pausing, setPausing] = useState(false);
  const [note, setNote] = useState("");

  if (!permission.allowed) {
    return (
      <p data-testid="schedule-controls-readonly" title={permission.reason ?? undefined} className="text-xs text-slate-500">
        Read-only: pausing and resuming a schedule need an operator key.
      </p>
    );
  }
  const pending = pause.pending || resume.pending;
  const error = pause.error ?? resume.error;
  const onPause = async (e: FormEvent) => {
    e.preventDefault();
    const answer = await pause.mutate({ id: schedule.id, note: note.trim() || null });
    const fresh = answer?.pauseSchedule?.schedule;
    if (fresh) {
      onChanged(fresh);
      setPausing(false);
      setNote("");
    }
  };
  const onResume = async () => {
    const fresh = (await resume.mutate({ id: schedule.id }))?.resumeSchedule?.schedule;
    if (fresh) onChanged(fresh);
  };

  return (
    <div data-testid="schedule-controls" className="flex flex-col items-end gap-2">
      <div className="flex items-center gap-2">
        {schedule.paused ? (
          <Button
            variant="primary"
            needs="operator"
            data-testid="schedule-resume"
            disabled={pending}
            title="Fires again from now on: what came due while paused is not caught up"
            onClick={() => void onResume()}
          >
            {resume.pending ? "Resuming…" : "Resume"}
          </Button>
        ) : (
          <Button needs="operator" data-testid="schedule-pause" disabled={pending} onClick={() => setPausing((p) => !p)}>
            Pause…
          </Button>
        )}
      </div>
      {pausing && !schedule.paused && (
        <form
          onSubmit={(e) => void onPause(e)}
          data-testid="schedule-pause-form"
          className="w-96 rounded-md border border-slate-200 bg-white p-3 text-sm shadow-sm"
        >
          <label htmlFor="schedule-pause-note" className="font-medium text-slate-800">
            Pause this schedule?
          </label>
          <p className="mt-0.5 text-xs text-slate-600">Nothing fires until it is resumed. The note is shown with it and kept in the audit log.</p>
          <textarea
            id="schedule-pause-note"
            data-testid="schedule-pause-note"
            value={note}
            onChange={(e) => setNote(e.target.value)}
            maxLength={NOTE_MAX}
            rows={2}
            placeholder="Why (optional), e.g. upstream API down until Monday"
            className="mt-2 w-full rounded-md border border-slate-300 px-2 py-1 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
          />
          <div className="mt-2 flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setPausing(false)}>
              Back
            </Button>
            <Button type="submit" size="sm" variant="primary" needs="operator" data-testid="schedule-pause-confirm" disabled={pending}>
              {pause.pending ? "Pausing…" : "Pause schedule"}
            </Button>
          </div>
        </form>
      )}
      {error && (
        <div className="w-96">
          <ErrorBox error={error} title="The schedule did not change" />
        </div>
      )}
    </div>
  );
}
