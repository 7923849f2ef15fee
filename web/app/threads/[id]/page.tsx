"use client";
// A thread: its runs, oldest first, read as one conversation; a reply continues it. An answered
// interrupt says approve or reject (and why), from the continuation's answers; an unanswered one
// reads as waiting for an answer, not as a finished run.
import Link from "next/link";
import { useParams } from "next/navigation";
import { useMemo, useState } from "react";
import { interruptsOf } from "@/lib/agui";
import { ConversationView } from "@/components/Conversation";
import { decisionsOf, type AnswerDecision } from "@/components/InterruptAnswer";
import { Button, Card, Cost, Empty, ErrorBox, Loading, PageHeader, StatusBadge, Timestamp } from "@/components/ui";
import { formatDuration, formatNumber, isUuid, runDurationMs, shortId } from "@/lib/format";
import { useMutation, useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import type { ParentFinishedFragment, RunFieldsFragment } from "@/lib/gql/graphql";
import { START_RUN, THREAD_QUERY, THREAD_RUNS_UPDATED } from "@/lib/queries";
import { agUiEventOf, isSettled, present, runInputOf, usageOf } from "@/lib/types";
import { useRunEvents } from "@/lib/useRunEvents";

export default function ThreadPage() {
  const { id } = useParams<{ id: string }>();
  const { data, error, loading, refetch, setData } = useQuery(THREAD_QUERY, { id }, { skip: !isUuid(id) });
  const refresh = useThrottled(() => void refetch(), 500);
  const thread = data?.threadById ?? null;

  useSubscription(
    () => ({ query: THREAD_RUNS_UPDATED }),
    {
      next: ({ runUpdated }) => {
        const changed = runUpdated?.run;
        if (!runUpdated || changed?.threadId !== id) return;
        const known = thread?.runsByThreadId.nodes.some((r) => r?.id === runUpdated.runId);
        if (!known) return refresh();
        setData((d) =>
          d?.threadById
            ? {
                threadById: {
                  ...d.threadById,
                  runsByThreadId: {
                    nodes: present(d.threadById.runsByThreadId.nodes).map((r) => (r.id === runUpdated.runId ? { ...r, status: changed.status } : r)),
                  },
                },
              }
            : d,
        );
        if (isSettled(changed.status)) refresh(); // final usage and output
      },
    },
    `thread-${id}`,
  );

  if (loading && !data) return <Loading rows={8} />;
  if (error && !thread) return <ErrorBox error={error} title="Could not load this thread" onRetry={() => void refetch()} />;
  if (!thread) {
    return (
      <Card>
        <Empty title="No such thread" icon="not-found">
          <Link href="/runs" className="text-sky-700 hover:underline">
            Back to runs
          </Link>
        </Empty>
      </Card>
    );
  }
  const runs = present(thread.runsByThreadId.nodes);
  const cost = runs.reduce((n, r) => n + (usageOf(r.usage).cost_usd ?? 0), 0);
  const tokens = runs.reduce((n, r) => n + (usageOf(r.usage).input_tokens ?? 0) + (usageOf(r.usage).output_tokens ?? 0), 0);
  const last = runs.at(-1);
  return (
    <>
      <PageHeader
        title={
          <span>
            Thread <span className="font-mono">{shortId(thread.id)}</span>
          </span>
        }
        subtitle={
          <span>
            {thread.agentByAgentId && (
              <>
                agent{" "}
                <Link href={`/agents/${thread.agentByAgentId.id}`} className="text-sky-700 hover:underline">
                  {thread.agentByAgentId.name}
                </Link>{" "}
                ·{" "}
              </>
            )}
            {runs.length} run{runs.length === 1 ? "" : "s"} · {formatNumber(tokens)} tokens · <Cost usd={cost} /> · started{" "}
            <Timestamp value={thread.createdAt} />
          </span>
        }
      />
      <div className="mx-auto max-w-4xl space-y-4" data-testid="thread">
        {runs.length === 0 && (
          <Card>
            <Empty title="This thread has no runs" />
          </Card>
        )}
        {runs.map((run) => (
          <ThreadRun
            key={run.id}
            run={run}
            answeredBy={run.continuedBy}
            answers={run.continuedBy ? decisionsOf(runs.find((r) => r.id === run.continuedBy)?.input) : null}
          />
        ))}
        {thread.agentByAgentId &&
          last &&
          (isSettled(last.status) && last.status !== "interrupted" ? <Reply agentId={thread.agentByAgentId.id} threadId={thread.id} /> : null)}
      </div>
    </>
  );
}

function ThreadRun({
  run,
  answeredBy,
  answers,
}: {
  run: RunFieldsFragment & ParentFinishedFragment;
  answeredBy: string | null;
  answers: Map<string, AnswerDecision> | null;
}) {
  const parentInterrupts = useMemo(() => interruptsOf(agUiEventOf(run.parent?.finished.nodes[0]?.event)), [run.parent]);
  const input = useMemo(() => runInputOf(run.input), [run.input]);
  const usage = usageOf(run.usage);
  const { conversation, done } = useRunEvents(run.id, input, undefined, parentInterrupts);
  const now = useNow(1000, !isSettled(run.status));
  return (
    <section data-testid="thread-run" data-run-id={run.id} className="rounded-lg border border-slate-200 bg-white shadow-sm">
      <header className="flex flex-wrap items-center gap-3 border-b border-slate-100 px-4 py-2 text-xs text-slate-500">
        {run.status === "interrupted" && !answeredBy ? (
          <span data-testid="status-awaiting-answer" className="rounded-full bg-amber-100 px-2 py-0.5 font-medium text-amber-900 ring-1 ring-amber-300">
            waiting for an answer
          </span>
        ) : (
          <StatusBadge status={run.status} />
        )}
        <Link href={`/runs/${run.id}`} className="font-mono text-[13px] text-sky-700 hover:underline">
          run {shortId(run.id)}
        </Link>
        {run.parentRunId && <span>answers run {shortId(run.parentRunId)}</span>}
        {run.rerunOf && <span>rerun of run {shortId(run.rerunOf)}</span>}
        <Timestamp value={run.createdAt} />
        <span className="ml-auto tabular-nums">
          {run.status === "interrupted" ? "worked " : ""}
          {formatDuration(runDurationMs(run, now))}
          {run.status === "interrupted" ? " before asking" : ""} · {formatNumber((usage.input_tokens ?? 0) + (usage.output_tokens ?? 0))} tokens ·{" "}
          <Cost usd={usage.cost_usd ?? 0} />
        </span>
      </header>
      <div className="p-4">
        <ConversationView
          items={conversation.items}
          live={!isSettled(run.status) && !done && run.status !== "waiting"}
          answeredBy={answeredBy}
          answers={answers}
          ended={conversation.ended}
        />
      </div>
    </section>
  );
}

function Reply({ agentId, threadId }: { agentId: string; threadId: string }) {
  const [text, setText] = useState("");
  const { mutate, pending, error } = useMutation(START_RUN);
  const send = async () => {
    if (!text.trim()) return;
    const result = await mutate({ agent: agentId, threadId, input: { messages: [{ role: "user", content: text }] } });
    if (result) setText(""); // the new run appears through the runUpdated subscription
  };
  return (
    <Card title="Continue the thread">
      <div className="flex gap-2">
        <textarea
          data-testid="reply"
          value={text}
          onChange={(e) => setText(e.target.value)}
          rows={2}
          placeholder="A new message on this thread starts another run"
          className="flex-1 rounded-md border border-slate-300 p-2 text-sm shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
        />
        <Button variant="primary" needs="operator" data-testid="reply-send" disabled={pending || !text.trim()} onClick={() => void send()} className="self-end">
          {pending ? "Sending…" : "Send"}
        </Button>
      </div>
      <ErrorBox error={error} title="The run was not started" />
    </Card>
  );
}
