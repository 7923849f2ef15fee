"use client";
// Run detail: the conversation as it streams, the steps timeline, usage and cost, the step in
// progress (name, attempt, a ticking elapsed time) or what a waiting run waits for, every attempt
// of every step (worker, outcome, the gaps a crash left), the raw event log with superseded
// attempts marked; the operator's actions, each with a reason the audit log keeps: cancel (an
// interrupted run: instead of answering), answer an interrupt, send an event to a waiting run,
// rerun a failed or cancelled one. The numbers are live: runUpdated fires on every step commit
// (000013), not only on status changes. Each thing is said once: the run's error and an
// interrupt's question in their panel at the top, the conversation and the timeline refer to it.
// The run's priority (when not 0) and, while it is queued and not admitted yet, why it waits
// (explainQueue, 000023): its own query, refetched on the run's updates and every 5 s meanwhile
// (an admission changes no status, so nothing is pushed).
// MCP (issue 17): the run's MCP tool calls with their server, progress and dispatch count, and its
// pinned tool lists (./mcp.tsx); a question about a call whose outcome is unknown is answered with
// call again / skip / enter result (OutcomeAnswer) instead of approve / reject; the conversation
// marks the calls of the agent's MCP servers ("MCP · <server>") and says such an answer as what it is.
// State (issue 18): the run's live state (update_state) and last progress report (report_progress)
// in their card (./state.tsx), live through runUpdated, whose RunFields carry both. Sub-agents
// (issue 18): the run's caller and root, its children and its tree's usage (./tree.tsx).
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, type ReactNode } from "react";
import { ConversationView } from "@/components/Conversation";
import { AttemptsTimeline } from "@/components/AttemptsTimeline";
import { BudgetAnswer, BudgetCard, isBudgetInterrupt } from "@/components/BudgetAnswer";
import { EventLog } from "@/components/EventLog";
import { decisionsOf, InterruptAnswer } from "@/components/InterruptAnswer";
import { isOutcomeInterrupt, OutcomeAnswer } from "@/components/OutcomeAnswer";
import { CancelRunButton, RerunButton, SendEventForm } from "@/components/OperatorActions";
import { StepsTimeline } from "@/components/StepsTimeline";
import { RunTraceLink } from "@/lib/trace-link";
import { WorkflowRunCard } from "@/components/WorkflowRunCard";
import { isWorkflowConfig } from "@/lib/workflow";
import { Card, Empty, ErrorBox, Loading, PageHeader, StatusBadge, Timestamp } from "@/components/ui";
import { attemptMarks, interruptsOf, openStep, retriesByStep } from "@/lib/agui";
import {
  formatAttempt,
  formatCost,
  formatCostExact,
  formatDateTime,
  formatDuration,
  formatPercent,
  isBefore,
  isUuid,
  parseTime,
  runDurationMs,
  shortId,
} from "@/lib/format";
import { graphql } from "@/lib/gql";
import { useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { RUN_ANSWERS_SUBSCRIPTION, RUN_ATTEMPTS_QUERY, RUN_DETAIL_QUERY, RUN_STEPS_QUERY, RUN_UPDATED_ONE } from "@/lib/queries";
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
  type Usage,
  type Waiting,
} from "@/lib/types";
import { progressOf, reportsState, stateOf } from "@/lib/state";
import { useRunEvents } from "@/lib/useRunEvents";
import { RUN_BATCH_QUERY } from "../../batches/queries";
import { mcpServerNames } from "../../mcp/tools";
import { RunMcpCard } from "./mcp";
import { HistoryExpired } from "./expired";
import { RunStateCard } from "./state";
import { RunTreeCard } from "./tree";

const STEP_EVENTS = new Set(["STEP_FINISHED", "RUN_FINISHED", "RUN_ERROR", "CUSTOM"]);

/** The run's priority and admission, and where it stands in its workspace's queue (RunFields carries neither). */
const RUN_QUEUE_QUERY = graphql(`
  query RunQueue($id: UUID!) {
    runById(id: $id) {
      id
      priority
      admittedAt
    }
    explainQueue(runId: $id) {
      admitted
      heldBy
      position
      message
    }
  }
`);

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
  const queue = useQuery(RUN_QUEUE_QUERY, { id }, { skip: !valid });
  // an item of a batch: the link back to it (the batch and the item never change for a run)
  const runBatch = useQuery(RUN_BATCH_QUERY, { id }, { skip: !valid });
  const refetchQueue = useThrottled(() => void queue.refetch(), 500);
  // queued and not admitted yet: it waits for a worker slot
  const pending = run?.status === "queued" && queue.data?.runById?.admittedAt == null;
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => void queue.refetch(), 5000);
    return () => clearInterval(timer);
  }, [pending, queue.refetch]);

  useSubscription(
    () => (valid ? { query: RUN_UPDATED_ONE, variables: { id } } : null),
    {
      next: ({ runUpdated }) => {
        const fresh = runUpdated?.run;
        if (!fresh) return;
        detail.setData((d) => (d?.runById && !isBefore(fresh.updatedAt, d.runById.updatedAt) ? { runById: { ...d.runById, ...fresh } } : d));
        refetchSteps();
        refetchAttempts();
        // back in the queue (a waking run of a full workspace), or leaving it
        if (fresh.status === "queued" || pending) refetchQueue();
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
  // retention removed the run's events (historyExpiredAt, 000038): nothing to subscribe to
  const eventsOf = run && !run.historyExpiredAt ? id : null;
  const { events, conversation, done, error: eventsError } = useRunEvents(eventsOf, input, onBatch, parentInterrupts);

  const settled = run ? isSettled(run.status) : false;
  const now = useNow(1000, Boolean(run && !settled));
  const continuation = run?.runByContinuedBy ?? (run?.continuedBy ? { id: run.continuedBy, status: "…" } : null);
  const retries = useMemo(() => retriesByStep(events), [events]);
  const attemptList = present(attempts.data?.allRunAttempts?.nodes);
  const marks = useMemo(() => attemptMarks(attemptList), [attempts.data]);
  const logStep = useMemo(() => openStep(events), [events]);
  const interrupts = run?.status === "interrupted" && !continuation ? conversation.interrupts : null;
  // approve or reject, and why: the continuation's answers
  const answers = useMemo(() => (run?.runByContinuedBy ? decisionsOf(run.runByContinuedBy.input) : null), [run?.runByContinuedBy]);
  // the agent's MCP servers, whose tool calls the conversation marks (the config is the run's pinned version's)
  const configTools = run?.agentVersionByAgentIdAndAgentVersion?.config;
  const mcpServers = useMemo(() => mcpServerNames(agentConfigOf(configTools).tools), [configTools]);

  if (detail.loading && !detail.data) return <Loading rows={8} />;
  if (detail.error && !run) return <ErrorBox error={detail.error} title="Could not load this run" onRetry={() => void detail.refetch()} />;
  if (!run) {
    return (
      <Card>
        <Empty title="No such run" icon="not-found">
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
  // an interrupted run ended its work for now: it waits for a person, it did not fail or finish
  const awaitingAnswer = run.status === "interrupted" && !continuation;
  // a run whose history retention removed cannot be rerun (EV008, 000038): no button to fail with
  const rerunnable = (run.status === "failed" || run.status === "cancelled") && !run.parentRunId && !run.historyExpiredAt;
  const durationMs = runDurationMs(run, now);
  const priority = queue.data?.runById?.priority ?? 0;
  const explanation = pending && queue.data?.explainQueue && !queue.data.explainQueue.admitted ? queue.data.explainQueue : null;
  const batchOf = runBatch.data?.runById?.batchId ? runBatch.data.runById : null;
  const runState = stateOf(run.state);
  const progress = progressOf(run.progress);
  // the card when there is something to show, or the agent can report some (it shows "none yet")
  const showState = runState != null || progress != null || reportsState(config?.tools);

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
              {awaitingAnswer ? (
                <span
                  data-testid="status-awaiting-answer"
                  className="inline-flex items-center gap-1.5 rounded-full bg-amber-100 px-2 py-0.5 text-xs font-medium text-amber-900 ring-1 ring-amber-300"
                >
                  <span className="h-1.5 w-1.5 animate-pulse rounded-full bg-amber-500" />
                  waiting for an answer
                </span>
              ) : (
                <StatusBadge status={run.status} />
              )}
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
            <span>
              created <Timestamp value={run.createdAt} />
            </span>
            {priority !== 0 && (
              <span
                data-testid="run-priority"
                title={`higher first within its workspace: admitted as if queued ${Math.abs(priority)} minutes ${priority > 0 ? "earlier" : "later"}`}
              >
                priority <span className="font-medium tabular-nums text-slate-700">{priority > 0 ? `+${priority}` : priority}</span>
              </span>
            )}
            <span className="font-mono text-xs text-slate-400">{run.id}</span>
            <RunTraceLink runId={run.id} />
          </span>
        }
        actions={
          <div className="flex items-start gap-2">
            {rerunnable && <RerunButton runId={run.id} agentVersion={run.agentVersion} />}
            {!TERMINAL_STATUSES.includes(run.status) && !continuation && (
              <CancelRunButton
                runId={run.id}
                status={run.status}
                onCancelled={(status) => {
                  detail.setData((d) => (d?.runById ? { runById: { ...d.runById, status } } : d));
                  refetchDetail();
                }}
              />
            )}
          </div>
        }
      />

      {(run.parentRunId || continuation || run.rerunOf || batchOf) && (
        <div className="mb-4 flex flex-wrap gap-2 text-sm">
          {batchOf?.batchId && (
            <Link
              data-testid="run-batch-link"
              href={`/batches/${batchOf.batchId}${batchOf.batchItemByBatchItemId ? `?item=${encodeURIComponent(batchOf.batchItemByBatchItemId.customId)}` : ""}`}
              className="rounded-md border border-slate-200 bg-white px-2.5 py-1 text-slate-600 hover:border-sky-300 hover:text-sky-700"
            >
              ← item <span className="font-mono">{batchOf.batchItemByBatchItemId?.customId ?? "?"}</span> of batch{" "}
              {batchOf.batchByBatchId?.name ?? <span className="font-mono">{shortId(batchOf.batchId)}</span>}
            </Link>
          )}
          {run.rerunOf && (
            <Link
              data-testid="rerun-of"
              href={`/runs/${run.rerunOf}`}
              className="rounded-md border border-slate-200 bg-white px-2.5 py-1 text-slate-600 hover:border-sky-300 hover:text-sky-700"
            >
              ← rerun of run <span className="font-mono">{shortId(run.rerunOf)}</span>
            </Link>
          )}
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
          title={
            <span className="text-amber-900">Waiting for an answer from an operator{interrupts.length > 1 ? ` (${interrupts.length} questions)` : ""}</span>
          }
          actions={
            <span className="text-xs text-amber-800">
              asked <Timestamp value={run.finishedAt} /> · holds no worker meanwhile
            </span>
          }
        >
          {interrupts.some(isBudgetInterrupt) ? (
            // a budget step asks one question alone (worker/run-budget.ts)
            <BudgetAnswer runId={run.id} interrupt={interrupts.find(isBudgetInterrupt)!} onResumed={(next) => router.push(`/runs/${next}`)} />
          ) : interrupts.some(isOutcomeInterrupt) ? (
            <OutcomeAnswer runId={run.id} interrupts={interrupts} onResumed={(next) => router.push(`/runs/${next}`)} />
          ) : (
            <InterruptAnswer runId={run.id} interrupts={interrupts} onResumed={(next) => router.push(`/runs/${next}`)} />
          )}
        </Card>
      )}

      {run.status === "failed" && runError && (
        <div className="mb-4" data-testid="run-error">
          <ErrorBox error={`${runError.code ? `${runError.code}: ` : ""}${runError.message ?? "the run failed"}`} title="The run failed" />
        </div>
      )}

      {explanation && (
        <Card testId="queue-panel" className="mb-4 border-sky-200 bg-sky-50/30" title={<span className="text-sky-900">Waiting for a worker slot</span>}>
          <QueueStanding explanation={explanation} />
        </Card>
      )}

      {waiting && (
        <Card testId="waiting-panel" className="mb-4 border-violet-200 bg-violet-50/30" title={<span className="text-violet-900">Waiting</span>}>
          <WaitingFor waiting={waiting} now={now} since={parseTime(stepList.at(-1)?.finishedAt)} />
          <SendEventForm runId={run.id} eventName={waiting.type === "event" ? (waiting.name ?? null) : null} onSent={refetchDetail} />
        </Card>
      )}

      {/* a workflow (issue 21): its graph with the run on it, full width (nothing for another agent) */}
      <div className="mb-4 empty:hidden">
        <WorkflowRunCard runId={run.id} config={version?.config} state={run.state} status={run.status} updatedAt={run.updatedAt} />
      </div>

      <div className="grid gap-4 lg:grid-cols-5">
        <Card
          title="Conversation"
          className="lg:col-span-3"
          actions={
            run.status === "waiting" ? (
              <span className="text-xs text-violet-700">waiting</span>
            ) : live ? (
              <span className="text-xs text-sky-700">streaming</span>
            ) : undefined
          }
        >
          {eventsError && <ErrorBox error={eventsError} title="The live event stream failed" />}
          {run.historyExpiredAt ? (
            <HistoryExpired expiredAt={run.historyExpiredAt} retentionDays={run.workspaceByWorkspaceId?.retentionDays} />
          ) : (
            <ConversationView
              items={conversation.items}
              live={live && run.status !== "waiting"}
              answeredBy={continuation?.id ?? null}
              answers={answers}
              ended={conversation.ended}
              errorShownAbove={run.status === "failed" && Boolean(runError)}
              questionShownAbove={Boolean(interrupts)}
              mcpServers={mcpServers}
            />
          )}
        </Card>

        <div className="space-y-4 lg:col-span-2">
          {showState && <RunStateCard state={runState} progress={progress} live={!settled} />}
          {config?.budget !== undefined && <BudgetCard budget={config.budget} spend={run.budgetSpend} />}
          <RunTreeCard runId={run.id} updatedAt={run.updatedAt} />
          <Card title="Usage and cost" testId="usage">
            <dl className="grid grid-cols-3 gap-x-4 gap-y-3 text-sm">
              {run.status === "interrupted" ? (
                // it stopped to ask: how long it worked before asking, not a finished run's duration
                <Metric label="Worked before asking" value={formatDuration(durationMs)} testId="usage-duration" />
              ) : (
                <Metric
                  label={settled ? "Duration" : run.status === "waiting" ? "Elapsed, waiting now" : "Running for"}
                  value={formatDuration(durationMs)}
                  testId="usage-duration"
                />
              )}
              <Metric label="Steps" value={String(stepCount)} testId="usage-steps" />
              <Metric label="Cost" value={formatCost(usage.cost_usd ?? 0)} title={formatCostExact(usage.cost_usd ?? 0)} testId="usage-cost" />
              <TokenMetric
                label="Input tokens"
                total={usage.input_tokens ?? 0}
                part={usage.cache_read_tokens ?? 0}
                partName="cached"
                testId="usage-input-tokens"
              />
              <TokenMetric
                label="Output tokens"
                total={usage.output_tokens ?? 0}
                part={usage.reasoning_tokens ?? 0}
                partName="reasoning"
                testId="usage-output-tokens"
              />
              <Metric
                label="Model"
                wrap
                testId="usage-model"
                value={
                  config
                    ? isWorkflowConfig(config)
                      ? "workflow (its Tasks' agents have their own)"
                      : `${config.provider ?? "?"}${config.model ? ` · ${config.model}` : ""}`
                    : "—"
                }
              />
              <Metric label="Started" value={run.startedAt ? <Timestamp value={run.startedAt} /> : "—"} />
              <Metric
                label={run.status === "interrupted" ? "Asked" : "Finished"}
                value={run.finishedAt ? <Timestamp value={run.finishedAt} /> : "—"}
                testId="usage-finished"
              />
              <Metric label="Queued for" value={run.startedAt ? formatDuration((parseTime(run.startedAt) ?? 0) - (parseTime(run.createdAt) ?? 0)) : "—"} />
            </dl>
            <TokenCategories usage={usage} />
            {current && <CurrentStep step={current} now={now} />}
          </Card>
          <RunMcpCard
            runId={run.id}
            parentRunId={run.parentRunId ?? null}
            configTools={config?.tools}
            items={conversation.items}
            events={events}
            live={live && run.status !== "waiting"}
          />
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
                runId={run.id}
                steps={stepList}
                retries={retries}
                runStart={parseTime(run.startedAt) ?? parseTime(run.createdAt)}
                runEnd={parseTime(run.finishedAt) ?? now}
                inProgress={run.status === "running" || run.status === "queued"}
                current={current}
                now={now}
                waiting={run.status === "waiting"}
                runError={runError?.message ?? null}
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
  return kind && ["llm", "tool", "wait", "system", "compaction"].includes(kind) ? kind : null;
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
        <span className="shrink-0 rounded bg-amber-100 px-1.5 py-0.5 text-[11px] font-medium text-amber-800">{formatAttempt(step.attempt)}</span>
      )}
      <span data-testid="current-step-elapsed" className="shrink-0 tabular-nums text-sky-800" title="how long this attempt has run">
        {step.startedAt != null ? formatDuration(now - step.startedAt) : "—"}
      </span>
    </div>
  );
}

/** What a waiting run waits for: an event by name, its sub-agents, a timer until its deadline (counting down), and for how long it has waited. */
function WaitingFor({ waiting, now, since }: { waiting: Waiting; now: number; since: number | null }) {
  const until = parseTime(waiting.until);
  return (
    <div data-testid="waiting-for" className="text-sm text-violet-900">
      {waiting.type === "event" ? (
        <>
          Waiting for event <span className="font-mono font-medium">{waiting.name ?? "?"}</span>
          {until != null && (
            <>
              {" "}
              · gives up at {formatDateTime(until)} (in {formatDuration(until - now)})
            </>
          )}
        </>
      ) : waiting.type === "children" ? (
        // a sub-agent call (000033): its children's ends wake it (the Sub-agents card lists them)
        <>
          Waiting for its sub-agents · {waiting.active ?? "?"} running
          {waiting.unstarted ? `, ${waiting.unstarted} to start as slots free` : ""}
        </>
      ) : (
        <>
          Waiting for a timer · resumes{" "}
          {until != null ? (
            <>
              at {formatDateTime(until)} (in {formatDuration(until - now)})
            </>
          ) : (
            "soon"
          )}
        </>
      )}
      {since != null && (
        <span data-testid="waiting-elapsed" className="text-violet-700">
          {" "}
          · waiting for {formatDuration(now - since)}
        </span>
      )}
      <span className="text-violet-700"> · it holds no worker meanwhile.</span>
    </div>
  );
}

/** Why a queued run is not admitted yet: explain_queue's message, its place in its workspace's queue and what holds it back. */
function QueueStanding({ explanation }: { explanation: { heldBy?: string | null; position?: number | null; message: string } }) {
  return (
    <div data-testid="queue-explanation" className="text-sm text-sky-900">
      <p data-testid="queue-message">{explanation.message}</p>
      <p className="mt-1 text-xs text-sky-800">
        {explanation.position != null && (
          <>
            position <span className="font-medium tabular-nums">{explanation.position}</span> in its workspace&apos;s queue
          </>
        )}
        {explanation.position != null && explanation.heldBy && " · "}
        {explanation.heldBy && (
          <>
            held by <span className="font-mono">{explanation.heldBy}</span>
          </>
        )}
        <span className="text-sky-700"> · it holds no worker meanwhile.</span>
      </p>
    </div>
  );
}

/** A figure; `wrap`: shown whole over several lines (a model name), never cut off. */
/** Every token count of a run, exactly (a run's counts are read one by one, not compared in columns). */
const formatTokens = (n: number) => n.toLocaleString("en-US");

/**
 * A token count and the part of it in one category, under it: "120,400" / "98,000 cached". The
 * part's line is there only when the provider reported some (an older run's usage has none).
 */
function TokenMetric({ label, total, part, partName, testId }: { label: string; total: number; part: number; partName: string; testId: string }) {
  const title = `${label.replace(" tokens", "")} ${formatTokens(total)}${part > 0 ? ` (${formatTokens(part)} ${partName})` : ""}`;
  return (
    <div className="min-w-0" title={title}>
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="truncate tabular-nums text-slate-900" data-testid={testId}>
        {formatTokens(total)}
      </dd>
      {part > 0 && (
        <dd className="truncate text-xs tabular-nums text-slate-500" data-testid={`${testId}-${partName}`}>
          {formatTokens(part)} {partName}
        </dd>
      )}
    </div>
  );
}

/**
 * The prompt cache's and reasoning's share of a run's tokens, each priced at its own rate: shown
 * when the provider reported any. The hit ratio is the share of input tokens read from the cache.
 */
function TokenCategories({ usage }: { usage: Usage }) {
  const input = usage.input_tokens ?? 0;
  const cacheRead = usage.cache_read_tokens ?? 0;
  const cacheWrite = usage.cache_write_tokens ?? 0;
  const reasoning = usage.reasoning_tokens ?? 0;
  if (cacheRead === 0 && cacheWrite === 0 && reasoning === 0) return null;
  const cached = cacheRead > 0 || cacheWrite > 0;
  return (
    <dl data-testid="usage-categories" className="mt-3 grid grid-cols-3 gap-x-4 gap-y-3 border-t border-slate-100 pt-3 text-sm">
      {cacheRead > 0 && (
        <Metric
          label="Cache read"
          value={formatTokens(cacheRead)}
          title="Input tokens read from the provider's prompt cache, billed at the cheaper cached rate"
          testId="usage-cache-read"
        />
      )}
      {cacheWrite > 0 && (
        <Metric
          label="Cache write"
          value={formatTokens(cacheWrite)}
          title="Input tokens written to the provider's prompt cache, billed at the cache-write rate"
          testId="usage-cache-write"
        />
      )}
      {cached && (
        <Metric
          label="Cache hit ratio"
          value={formatPercent(input > 0 ? cacheRead / input : null)}
          title={`${formatTokens(cacheRead)} of ${formatTokens(input)} input tokens were read from the cache`}
          testId="usage-cache-hit-ratio"
        />
      )}
      {reasoning > 0 && (
        <Metric
          label="Reasoning"
          value={formatTokens(reasoning)}
          title={`Output tokens spent on reasoning: ${formatTokens(reasoning)} of ${formatTokens(usage.output_tokens ?? 0)}`}
          testId="usage-reasoning"
        />
      )}
    </dl>
  );
}

function Metric({ label, value, testId, wrap = false, title }: { label: string; value: ReactNode; testId?: string; wrap?: boolean; title?: string }) {
  return (
    <div className={`min-w-0 ${wrap ? "col-span-2" : ""}`}>
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd
        data-testid={testId}
        className={`${wrap ? "break-words" : "truncate"} tabular-nums text-slate-900`}
        title={title ?? (typeof value === "string" ? value : undefined)}
      >
        {value}
      </dd>
    </div>
  );
}
