"use client";
// Run detail: the conversation as it streams, the steps timeline, usage and cost, the step in
// progress (name, attempt, a ticking elapsed time) or what a waiting run waits for, every attempt
// of every step (worker, outcome, the gaps a crash left), the raw event log with superseded
// attempts marked; cancel, and answer an interrupt. The numbers are live: runUpdated fires on
// every step commit (000013), not only on status changes.
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useCallback, useMemo, useState } from "react";
import { ConversationView } from "@/components/Conversation";
import { AttemptsTimeline } from "@/components/AttemptsTimeline";
import { EventLog } from "@/components/EventLog";
import { InterruptAnswer } from "@/components/InterruptAnswer";
import { StepsTimeline } from "@/components/StepsTimeline";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, StatusBadge } from "@/components/ui";
import { attemptMarks, interruptsOf, openStep, retriesByStep } from "@/lib/agui";
import { formatCost, formatCostExact, formatDateTime, formatDuration, formatNumber, isBefore, isUuid, parseTime, runDurationMs, shortId } from "@/lib/format";
import { useMutation, useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { CANCEL_RUN, RUN_ANSWERS_SUBSCRIPTION, RUN_ATTEMPTS_QUERY, RUN_DETAIL_QUERY, RUN_STEPS_QUERY, RUN_UPDATED_ONE } from "@/lib/queries";
import {
  agentConfigOf,
  agUiEventOf,
  isSettled,
  present,
  runErrorOf,
  runInputOf,
  TERMINAL_STATUSES,
  usageOf,
  waitingOf,
  type RunEventMessage,
  type Waiting,
} from "@/lib/types";
import { useRunEvents } from "@/lib/useRunEvents";

const STEP_EVENTS = new Set(["STEP_FINISHED", "RUN_FINISHED", "RUN_ERROR", "CUSTOM"]);

export default function RunPage() {
  const { id } = useParams<{ id: string }>();
  const router = useRouter();
  const valid = isUuid(id);
  const detail = useQuery(RUN_DETAIL_QUERY, { id }, { skip: !valid });
  const steps = useQuery(RUN_STEPS_QUERY, { id }, { skip: !valid });
  const attempts = useQuery(RUN_ATTEMPTS_QUERY, { id }, { skip: !valid });
  const refetchAttempts = useThrottled(() => void attempts.refetch(), 500);
  const refetchSteps = useThrottled(() => {
    void steps.refetch();
    refetchAttempts();
  }, 250);
  const refetchDetail = useThrottled(() => void detail.refetch(), 500);
  const run = detail.data?.runById ?? null;

  useSubscription(
    () => (valid ? { query: RUN_UPDATED_ONE, variables: { id } } : null),
    {
      next: ({ runUpdated }) => {
        const fresh = runUpdated?.run;
        if (!fresh) return;
        detail.setData((d) => (d?.runById && !isBefore(fresh.updatedAt, d.runById.updatedAt) ? { runById: { ...d.runById, ...fresh } } : d));
        refetchSteps();
        refetchAttempts();
        // an interrupted run may gain a continuation; a terminal run has its final numbers
        if (fresh.status === "interrupted" || TERMINAL_STATUSES.includes(fresh.status)) refetchDetail();
      },
    },
    `run-${id}`,
  );

  // answered elsewhere (the inbox, another operator, an AG-UI client): the continuation's
  // creation is what announces it
  const awaiting = run?.status === "interrupted" && !run.continuedBy;
  useSubscription(
    () => (awaiting ? { query: RUN_ANSWERS_SUBSCRIPTION } : null),
    {
      next: ({ runUpdated }) => {
        if (runUpdated?.run?.parentRunId === id) refetchDetail();
      },
    },
    `answers-${id}-${awaiting}`,
  );

  const onBatch = useCallback(
    (batch: RunEventMessage[]) => {
      if (batch.some((e) => STEP_EVENTS.has(e.type))) refetchSteps();
      if (batch.some((e) => e.type === "STEP_STARTED")) refetchAttempts();
    },
    [refetchSteps, refetchAttempts],
  );
  const parentInterrupts = useMemo(() => interruptsOf(agUiEventOf(run?.parent?.finished.nodes[0]?.event)), [run?.parent]);
  const input = useMemo(() => runInputOf(run?.input), [run?.input]);
  const { events, conversation, done, error: eventsError } = useRunEvents(run ? id : null, input, onBatch, parentInterrupts);

  const settled = run ? isSettled(run.status) : false;
  const now = useNow(1000, Boolean(run && !settled));
  const continuation = run?.runByContinuedBy ?? (run?.continuedBy ? { id: run.continuedBy, status: "…" } : null);
  const retries = useMemo(() => retriesByStep(events), [events]);
  const attemptList = present(attempts.data?.allRunAttempts?.nodes);
  const marks = useMemo(() => attemptMarks(attemptList), [attempts.data]);
  const logStep = useMemo(() => openStep(events), [events]);
  const interrupts = run?.status === "interrupted" && !continuation ? conversation.interrupts : null;

  if (detail.loading && !detail.data) return <Loading rows={8} />;
  if (detail.error && !run) return <ErrorBox error={detail.error} title="Could not load this run" onRetry={() => void detail.refetch()} />;
  if (!run) {
    return (
      <Card>
        <Empty title="No such run">
          There is no run <span className="font-mono">{id}</span>.{" "}
          <Link href="/runs" className="text-sky-700 hover:underline">
            Back to runs
          </Link>
        </Empty>
      </Card>
    );
  }

  const version = run.agentVersionByAgentIdAndAgentVersion;
  const config = version ? agentConfigOf(version.config) : null;
  const usage = usageOf(run.usage);
  const runError = runErrorOf(run.error);
  const stepList = present(steps.data?.allRunSteps?.nodes);
  const live = !settled && !done;
  const stepCount = run.stepCount?.totalCount ?? stepList.length;
  // the step in progress: its attempt's record (pushed with runUpdated), named by its STEP_STARTED
  // as soon as the log has it
  const attempt = run.current?.nodes[0] ?? null;
  const openAttempt = attempt && attempt.outcome == null && !settled && run.status !== "waiting" ? attempt : null;
  const current =
    run.status === "running" || run.status === "queued"
      ? {
          name: logStep?.name ?? openAttempt?.stepName ?? null,
          kind: openAttempt?.stepKind ?? kindOfStepName(logStep?.name) ?? null,
          attempt: openAttempt?.attempt ?? null,
          startedAt: parseTime(openAttempt?.startedAt) ?? logStep?.at ?? null,
        }
      : null;
  const waiting = run.status === "waiting" ? waitingOf(run.waiting) : null;

  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span>
              Run{" "}
              <span className="font-mono" title={run.id}>
                {shortId(run.id)}
              </span>
            </span>
            <span data-testid="run-status" data-status={run.status}>
              <StatusBadge status={run.status} />
            </span>
          </span>
        }
        subtitle={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <span>
              agent{" "}
              <Link href={`/agents/${run.agentId}`} className="text-sky-700 hover:underline">
                {run.agentByAgentId?.name ?? shortId(run.agentId)}
              </Link>{" "}
              v{run.agentVersion}
            </span>
            <span>
              thread{" "}
              <Link href={`/threads/${run.threadId}`} className="font-mono text-sky-700 hover:underline">
                {shortId(run.threadId)}
              </Link>
            </span>
            <span>created {formatDateTime(run.createdAt)}</span>
            <span className="font-mono text-xs text-slate-400">{run.id}</span>
          </span>
        }
        actions={
          <CancelButton
            runId={run.id}
            status={run.status}
            onCancelled={(status) => detail.setData((d) => (d?.runById ? { runById: { ...d.runById, status } } : d))}
          />
        }
      />

      {(run.parentRunId || continuation) && (
        <div className="mb-4 flex flex-wrap gap-2 text-sm">
          {run.parentRunId && (
            <Link
              href={`/runs/${run.parentRunId}`}
              className="rounded-md border border-slate-200 bg-white px-2.5 py-1 text-slate-600 hover:border-sky-300 hover:text-sky-700"
            >
              ← continues run <span className="font-mono">{shortId(run.parentRunId)}</span>
            </Link>
          )}
          {continuation && (
            <Link
              data-testid="continued-by"
              href={`/runs/${continuation.id}`}
              className="rounded-md border border-sky-200 bg-sky-50 px-2.5 py-1 text-sky-800 hover:border-sky-400"
            >
              continued by run <span className="font-mono">{shortId(continuation.id)}</span> ({continuation.status}) →
            </Link>
          )}
        </div>
      )}

      {interrupts && (
        <Card
          testId="interrupt-panel"
          className="mb-4 border-amber-300 bg-amber-50/40"
          title={<span className="text-amber-900">This run is waiting for an answer</span>}
        >
          <InterruptAnswer runId={run.id} interrupts={interrupts} onResumed={(next) => router.push(`/runs/${next}`)} />
        </Card>
      )}

      {run.status === "failed" && runError && (
        <div className="mb-4">
          <ErrorBox error={`${runError.code ? `${runError.code}: ` : ""}${runError.message ?? "the run failed"}`} title="The run failed" />
        </div>
      )}

      <div className="grid gap-4 lg:grid-cols-5">
        <Card title="Conversation" className="lg:col-span-3" actions={live ? <span className="text-xs text-sky-700">streaming</span> : undefined}>
          {eventsError && <ErrorBox error={eventsError} title="The live event stream failed" />}
          <ConversationView
            items={conversation.items}
            live={live && run.status !== "waiting"}
            answeredBy={continuation?.id ?? null}
            ended={conversation.ended}
          />
          {run.status === "waiting" && (
            <p className="mt-3 text-xs text-violet-700">The run is waiting (a timer or an external event); it holds no worker meanwhile.</p>
          )}
        </Card>

        <div className="space-y-4 lg:col-span-2">
          <Card title="Usage and cost" testId="usage">
            <dl className="grid grid-cols-3 gap-x-4 gap-y-3 text-sm">
              <Metric label="Duration" value={formatDuration(runDurationMs(run, now))} />
              <Metric label="Steps" value={String(stepCount)} testId="usage-steps" />
              <Metric label="Cost" value={formatCost(usage.cost_usd ?? 0)} title={formatCostExact(usage.cost_usd ?? 0)} testId="usage-cost" />
              <Metric label="Input tokens" value={formatNumber(usage.input_tokens ?? 0)} testId="usage-input-tokens" />
              <Metric label="Output tokens" value={formatNumber(usage.output_tokens ?? 0)} testId="usage-output-tokens" />
              <Metric label="Model" value={config ? `${config.provider ?? "?"}${config.model ? ` · ${config.model}` : ""}` : "—"} />
              <Metric label="Started" value={formatDateTime(run.startedAt)} />
              <Metric label="Finished" value={formatDateTime(run.finishedAt)} />
              <Metric label="Queued for" value={run.startedAt ? formatDuration((parseTime(run.startedAt) ?? 0) - (parseTime(run.createdAt) ?? 0)) : "—"} />
            </dl>
            {current && <CurrentStep step={current} now={now} />}
            {waiting && <WaitingFor waiting={waiting} now={now} />}
          </Card>
          <Card title={`Timeline · ${stepList.length} step${stepList.length === 1 ? "" : "s"}`} bodyClassName="">
            {steps.error && (
              <div className="p-3">
                <ErrorBox error={steps.error} title="Could not load the steps" onRetry={() => void steps.refetch()} />
              </div>
            )}
            {steps.loading && !steps.data ? (
              <Loading />
            ) : (
              <StepsTimeline
                steps={stepList}
                retries={retries}
                runStart={parseTime(run.startedAt) ?? parseTime(run.createdAt)}
                runEnd={parseTime(run.finishedAt) ?? now}
                inProgress={run.status === "running" || run.status === "queued"}
                current={current}
                now={now}
              />
            )}
          </Card>
          <Card
            title={`Attempts · ${attemptList.length}`}
            bodyClassName=""
            testId="attempts-card"
            actions={<span className="text-xs text-slate-500">every try of every step, on the run&apos;s time axis</span>}
          >
            {attempts.error && (
              <div className="p-3">
                <ErrorBox error={attempts.error} title="Could not load the attempts" onRetry={() => void attempts.refetch()} />
              </div>
            )}
            {attempts.loading && !attempts.data ? (
              <Loading />
            ) : (
              <AttemptsTimeline
                attempts={attemptList}
                runStart={parseTime(run.startedAt) ?? parseTime(run.createdAt)}
                runEnd={parseTime(run.finishedAt) ?? now}
                settled={settled}
              />
            )}
          </Card>
        </div>
      </div>

      <details className="group mt-4 rounded-lg border border-slate-200 bg-white shadow-sm" data-testid="event-log-section">
        <summary className="flex cursor-pointer select-none items-center justify-between px-4 py-2.5 text-sm font-semibold text-slate-800">
          <span>
            Raw AG-UI event log{" "}
            <span className="font-normal text-slate-500">
              · {events.length} events{live ? " · live" : ""}
            </span>
          </span>
          <span className="text-xs font-normal text-slate-500 group-open:hidden">show</span>
          <span className="hidden text-xs font-normal text-slate-500 group-open:inline">hide</span>
        </summary>
        <div className="border-t border-slate-100">
          <EventLog events={events} marks={marks} />
        </div>
      </details>
    </>
  );
}

/** "step 2: tool simulate_work" → "tool" (the worker's step names, worker/steps.ts stepName). */
function kindOfStepName(name: string | null | undefined): string | null {
  const kind = /^step \d+: (\w+)/.exec(name ?? "")?.[1];
  return kind && ["llm", "tool", "wait", "system"].includes(kind) ? kind : null;
}

/** The step in progress: its name, attempt, and how long it has run (ticking with `now`). */
function CurrentStep({ step, now }: { step: { name: string | null; kind: string | null; attempt: number | null; startedAt: number | null }; now: number }) {
  return (
    <div data-testid="current-step" className="mt-3 flex min-w-0 items-center gap-2 rounded-md border border-sky-200 bg-sky-50/60 px-2.5 py-1.5 text-xs">
      <span className="h-2 w-2 shrink-0 animate-pulse rounded-full bg-sky-500" />
      <span className="shrink-0 font-medium text-sky-900">Now</span>
      <span data-testid="current-step-name" className="min-w-0 flex-1 truncate font-mono text-slate-800" title={step.name ?? undefined}>
        {step.name ?? "starting the next step…"}
      </span>
      {step.attempt != null && step.attempt > 1 && (
        <span className="shrink-0 rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800">attempt {step.attempt}</span>
      )}
      <span data-testid="current-step-elapsed" className="shrink-0 tabular-nums text-sky-800" title="how long this attempt has run">
        {step.startedAt != null ? formatDuration(now - step.startedAt) : "—"}
      </span>
    </div>
  );
}

/** What a waiting run waits for: an event by name, a timer until its deadline (counting down). */
function WaitingFor({ waiting, now }: { waiting: Waiting; now: number }) {
  const until = parseTime(waiting.until);
  return (
    <div data-testid="waiting-for" className="mt-3 rounded-md border border-violet-200 bg-violet-50/60 px-2.5 py-1.5 text-xs text-violet-900">
      {waiting.type === "event" ? (
        <>
          Waiting for event <span className="font-mono font-medium">{waiting.name ?? "?"}</span>
          {until != null ? ` · gives up ${formatDateTime(until)} (in ${formatDuration(until - now)})` : ""}
        </>
      ) : (
        <>Waiting for a timer · resumes {until != null ? `${formatDateTime(until)} (in ${formatDuration(until - now)})` : "soon"}</>
      )}
    </div>
  );
}

function Metric({ label, value, testId, title }: { label: string; value: string; testId?: string; title?: string }) {
  return (
    <div className="min-w-0">
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd data-testid={testId} className="truncate tabular-nums text-slate-900" title={title ?? value}>
        {value}
      </dd>
    </div>
  );
}

function CancelButton({ runId, status, onCancelled }: { runId: string; status: string; onCancelled: (status: string) => void }) {
  const [confirming, setConfirming] = useState(false);
  const { mutate, pending, error } = useMutation(CANCEL_RUN);
  if (TERMINAL_STATUSES.includes(status)) return null;
  const cancel = async () => {
    const result = await mutate({ runId });
    setConfirming(false);
    if (result?.cancelRun?.run) onCancelled(result.cancelRun.run.status);
  };
  return (
    <div className="flex items-center gap-2">
      {error && <span className="text-xs text-rose-700">{error.message}</span>}
      {confirming ? (
        <>
          <span className="text-sm text-slate-600">Cancel this run?</span>
          <Button variant="danger" needs="operator" data-testid="confirm-cancel" disabled={pending} onClick={() => void cancel()}>
            {pending ? "Cancelling…" : "Yes, cancel it"}
          </Button>
          <Button variant="ghost" onClick={() => setConfirming(false)}>
            Keep it
          </Button>
        </>
      ) : (
        <Button variant="secondary" needs="operator" data-testid="cancel-run" onClick={() => setConfirming(true)} className="text-rose-700">
          Cancel run
        </Button>
      )}
    </div>
  );
}
