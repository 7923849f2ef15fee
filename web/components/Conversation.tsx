"use client";
// A run's conversation: user input, assistant text as it streams, reasoning (collapsed), tool
// calls with their arguments and results, retries, errors and interrupts. A tool call of an MCP
// server (issue 17: named `<server>__<tool>`, the server one of the run's) carries an "MCP ·
// <server>" badge; a call whose outcome is unknown, and the answer to it, are said as what they
// are ("outcome unknown — waiting for an answer", "called again", "skipped", "result entered"),
// not as an approval.
import Link from "next/link";
import { mcpServerOf } from "@/app/mcp/tools";
import { isOutcomeQuestion, type ConversationItem } from "@/lib/agui";
import { formatRetry, prettyJson, shortId } from "@/lib/format";
import { DecisionBadge, interruptQuestion, outcomeDecisionLabel, type AnswerDecision } from "./InterruptAnswer";

/**
 * `answeredBy`: the continuation run that answered this run's interrupt, if any; `answers`: its
 * decisions (decisionsOf(continuation.input), InterruptAnswer.tsx), so "answered" says approved
 * or rejected, and why. `errorShownAbove` / `questionShownAbove`: the page shows the run's error
 * or the open interrupt's questions in a panel of their own; here they are a one-line pointer
 * where they happened, not a third copy. `mcpServers`: the names of the run's MCP servers
 * (mcpServerNames of its agent config's tools, app/mcp/tools.ts), to mark their tool calls.
 */
export function ConversationView({
  items,
  live,
  answeredBy = null,
  answers = null,
  ended = false,
  errorShownAbove = false,
  questionShownAbove = false,
  mcpServers = null,
}: {
  items: ConversationItem[];
  live: boolean;
  answeredBy?: string | null;
  answers?: Map<string, AnswerDecision> | null;
  ended?: boolean;
  errorShownAbove?: boolean;
  questionShownAbove?: boolean;
  mcpServers?: readonly string[] | null;
}) {
  // tool calls an interrupt asks a human about: approve it, or (outcome) what to do with it
  const asked = new Map<string, "approval" | "outcome">();
  for (const i of items) {
    if (i.kind !== "interrupt") continue;
    for (const x of i.interrupts) if (x.toolCallId) asked.set(x.toolCallId, isOutcomeQuestion(x) ? "outcome" : "approval");
  }
  // the answer to each asked tool call, by tool call id (the decisions are by interrupt id)
  const decidedCalls = new Map<string, AnswerDecision>();
  for (const i of items) {
    if (i.kind !== "interrupt") continue;
    for (const x of i.interrupts) {
      const d = answers?.get(x.id);
      if (d && x.toolCallId) decidedCalls.set(x.toolCallId, d);
    }
  }
  return (
    <ol data-testid="conversation" className="space-y-3">
      {items.map((item) => (
        <li key={item.key}>
          <Item
            item={item}
            answeredBy={answeredBy}
            answers={answers}
            decidedCalls={decidedCalls}
            ended={ended}
            asked={asked}
            errorShownAbove={errorShownAbove}
            questionShownAbove={questionShownAbove}
            mcpServers={mcpServers}
          />
        </li>
      ))}
      {live && !items.some((i) => "streaming" in i && i.streaming) && (
        <li data-testid="conversation-waiting" className="flex items-center gap-2 pl-1 text-xs text-slate-400">
          <span className="inline-flex gap-0.5">
            <span className="h-1.5 w-1.5 animate-bounce rounded-full bg-slate-300 [animation-delay:-0.2s]" />
            <span className="h-1.5 w-1.5 animate-bounce rounded-full bg-slate-300 [animation-delay:-0.1s]" />
            <span className="h-1.5 w-1.5 animate-bounce rounded-full bg-slate-300" />
          </span>
          working…
        </li>
      )}
    </ol>
  );
}

function Role({ children, className = "" }: { children: React.ReactNode; className?: string }) {
  return <div className={`mb-1 text-[11px] font-semibold uppercase tracking-wide ${className}`}>{children}</div>;
}

function Item({
  item,
  answeredBy,
  answers,
  decidedCalls,
  ended,
  asked,
  errorShownAbove,
  questionShownAbove,
  mcpServers,
}: {
  item: ConversationItem;
  answeredBy: string | null;
  answers: Map<string, AnswerDecision> | null;
  decidedCalls: Map<string, AnswerDecision>;
  ended: boolean;
  asked: Map<string, "approval" | "outcome">;
  errorShownAbove: boolean;
  questionShownAbove: boolean;
  mcpServers: readonly string[] | null;
}) {
  switch (item.kind) {
    case "user":
      return (
        <div data-testid="msg-user" className="rounded-lg border border-slate-200 bg-slate-50 px-3.5 py-2.5">
          <Role className="text-slate-500">User</Role>
          <p className="whitespace-pre-wrap text-sm text-slate-900">{item.text}</p>
        </div>
      );
    case "system":
      return (
        <div className="rounded-lg border border-dashed border-slate-200 px-3.5 py-2">
          <Role className="text-slate-400">System</Role>
          <p className="whitespace-pre-wrap text-xs text-slate-600">{item.text}</p>
        </div>
      );
    case "resume":
      return (
        <div data-testid="msg-resume" className="rounded-lg border border-amber-200 bg-amber-50/60 px-3.5 py-2.5">
          <Role className="text-amber-700">Answer to the interrupt</Role>
          <ul className="space-y-1 text-sm text-slate-800">
            {item.answers.map((a) =>
              a.outcome ? (
                // an unknown outcome's answer: what the person chose for the call, not an approval
                <li key={a.interruptId} data-testid="resume-outcome" data-action={a.outcome.action}>
                  {a.interrupt?.metadata?.toolName ? (
                    <span className="font-mono text-xs">{a.interrupt.metadata.toolName}</span>
                  ) : (
                    <span className="font-mono text-xs text-slate-500">{a.interruptId}</span>
                  )}{" "}
                  <span className={`font-medium ${a.outcome.action === "skip" ? "text-zinc-600" : "text-emerald-700"}`}>
                    {a.outcome.action === "result" ? "result entered:" : outcomeDecisionLabel(a.outcome)}
                  </span>
                  {a.outcome.action === "result" && (
                    <pre
                      data-testid="resume-outcome-result"
                      className="mt-1 overflow-x-auto whitespace-pre-wrap break-words rounded bg-white/70 p-2 font-mono text-xs"
                    >
                      {a.outcome.result}
                    </pre>
                  )}
                </li>
              ) : (
                <li key={a.interruptId}>
                  <span className={a.status === "resolved" && a.payload?.approved !== false ? "font-medium text-emerald-700" : "font-medium text-rose-700"}>
                    {a.status === "cancelled" ? "cancelled" : a.payload?.approved === false ? "rejected" : "approved"}
                  </span>{" "}
                  {a.interrupt?.metadata?.toolName ? (
                    <span>
                      calling <span className="font-mono text-xs">{a.interrupt.metadata.toolName}</span>
                      {a.payload?.arguments ? " with edited arguments" : ""}
                    </span>
                  ) : (
                    <span className="font-mono text-xs text-slate-500">{a.interruptId}</span>
                  )}
                  {a.payload?.arguments && (
                    <pre className="mt-1 overflow-x-auto rounded bg-white/70 p-2 font-mono text-xs">{prettyJson(a.payload.arguments)}</pre>
                  )}
                </li>
              ),
            )}
          </ul>
        </div>
      );
    case "assistant":
      return (
        <div data-testid="msg-assistant" data-streaming={item.streaming} className="rounded-lg border border-sky-100 bg-white px-3.5 py-2.5 shadow-sm">
          <Role className="text-sky-700">Assistant</Role>
          <p className={`whitespace-pre-wrap text-sm leading-relaxed text-slate-900 ${item.streaming ? "streaming-caret" : ""}`}>{item.text}</p>
        </div>
      );
    case "reasoning":
      return (
        <details data-testid="msg-reasoning" className="group rounded-lg border border-slate-200 bg-slate-50/60 px-3.5 py-2">
          <summary className="cursor-pointer select-none text-xs font-medium text-slate-500">
            Reasoning{" "}
            <span className="font-normal">
              · {item.text.length.toLocaleString("en-US")} chars{item.streaming ? " · thinking…" : ""}
            </span>
          </summary>
          <p className="mt-2 whitespace-pre-wrap text-xs italic leading-relaxed text-slate-600">{item.text}</p>
        </details>
      );
    case "tool": {
      const mcp = mcpServers ? mcpServerOf(item.name, mcpServers) : null;
      return (
        <div data-testid="msg-tool" data-tool={item.name} className="overflow-hidden rounded-lg border border-teal-200 bg-white">
          <div className="flex items-center justify-between gap-2 border-b border-teal-100 bg-teal-50/70 px-3.5 py-1.5">
            <span className="flex min-w-0 flex-wrap items-center gap-x-2 gap-y-0.5 text-xs font-semibold text-teal-800">
              <span>
                Tool call <span className="font-mono">{item.name}</span>
              </span>
              {mcp && (
                <span
                  data-testid="tool-mcp-server"
                  data-server={mcp.server}
                  title={`tool ${mcp.tool} of the MCP server ${mcp.server}`}
                  className="rounded bg-indigo-100 px-1.5 py-0.5 text-[11px] font-medium text-indigo-800"
                >
                  MCP · {mcp.server}
                </span>
              )}
            </span>
            <span data-testid="tool-status" className="shrink-0 font-mono text-[11px] text-teal-700/70">
              {toolStatus(item, { answeredBy, decided: decidedCalls.get(item.toolCallId), asked: asked.get(item.toolCallId), ended })}
            </span>
          </div>
          <div className="grid gap-0 md:grid-cols-2">
            <div className="min-w-0 border-teal-100 px-3.5 py-2 md:border-r">
              <div className="mb-1 text-[10px] font-semibold uppercase tracking-wide text-slate-400">Arguments</div>
              <pre data-testid="tool-args" className="max-h-60 overflow-auto whitespace-pre-wrap break-all font-mono text-xs text-slate-800">
                {item.args ? prettyJson(item.args) : "{}"}
              </pre>
            </div>
            <div className="min-w-0 px-3.5 py-2">
              <div className="mb-1 text-[10px] font-semibold uppercase tracking-wide text-slate-400">Result</div>
              {item.result === null ? (
                <p className="text-xs text-slate-400">—</p>
              ) : (
                <pre data-testid="tool-result" className="max-h-60 overflow-auto whitespace-pre-wrap break-all font-mono text-xs text-slate-800">
                  {prettyJson(item.result)}
                </pre>
              )}
            </div>
          </div>
        </div>
      );
    }
    case "retry":
      return (
        <div data-testid="msg-retry" className="flex items-center gap-2 rounded-md border border-amber-200 bg-amber-50 px-3 py-1.5 text-xs text-amber-900">
          <span className="font-semibold">Retry</span>
          {/* the one wording (formatRetry): "attempt 1 of 5 failed · attempt 2 of 5 in 1.0 s" */}
          <span data-testid="retry-wording">{formatRetry(item.attempt, item.maxAttempts, item.delayMs)}</span>
          <span className="min-w-0 break-words text-amber-800/80">— {item.error}</span>
        </div>
      );
    case "error":
      if (errorShownAbove) {
        return (
          <div data-testid="msg-error" data-compact="true" className="rounded-md border border-rose-200 bg-rose-50 px-3 py-1.5 text-xs text-rose-800">
            The run failed here{item.code ? ` (${item.code})` : ""}: the error is shown at the top of the page.
          </div>
        );
      }
      return (
        <div data-testid="msg-error" className="rounded-lg border border-rose-200 bg-rose-50 px-3.5 py-2.5">
          <Role className="text-rose-700">Run error{item.code ? ` · ${item.code}` : ""}</Role>
          <p className="whitespace-pre-wrap text-sm text-rose-900">{item.message}</p>
        </div>
      );
    case "interrupt":
      if (questionShownAbove && !answeredBy) {
        return (
          <div data-testid="msg-interrupt" data-compact="true" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-1.5 text-xs text-amber-900">
            The run stopped here to ask {item.interrupts.length === 1 ? "a question" : `${item.interrupts.length} questions`}: answer above.
          </div>
        );
      }
      return (
        <div
          data-testid="msg-interrupt"
          className={`rounded-lg border px-3.5 py-2.5 ${answeredBy ? "border-slate-200 bg-slate-50" : "border-amber-300 bg-amber-50"}`}
        >
          <Role className={answeredBy ? "text-slate-500" : "text-amber-800"}>
            {answeredBy ? (
              <>
                Interrupted — answered by run{" "}
                <Link href={`/runs/${answeredBy}`} className="font-mono normal-case text-sky-700 hover:underline">
                  {shortId(answeredBy)}
                </Link>
              </>
            ) : (
              "Interrupted — waiting for an answer"
            )}
          </Role>
          <ul className={`space-y-0.5 text-sm ${answeredBy ? "text-slate-700" : "text-amber-950"}`}>
            {item.interrupts.map((i) => {
              const decision = answers?.get(i.id);
              return (
                <li key={i.id} className="flex flex-wrap items-center gap-x-2">
                  {/* the arguments are in the tool call above: not repeated here */}
                  <span>{interruptQuestion(i)}</span>
                  {decision && <DecisionBadge decision={decision} />}
                </li>
              );
            })}
          </ul>
        </div>
      );
    case "cancelled":
      return (
        <div data-testid="msg-cancelled" className="rounded-lg border border-zinc-200 bg-zinc-50 px-3.5 py-2 text-sm text-zinc-600">
          The run was cancelled; what was in flight was stopped.
        </div>
      );
  }
}

/** What a tool call's header says of it: running, done, or what its interrupt's answer (or the lack of one) means for it. */
function toolStatus(
  item: Extract<ConversationItem, { kind: "tool" }>,
  {
    answeredBy,
    decided,
    asked,
    ended,
  }: { answeredBy: string | null; decided: AnswerDecision | undefined; asked: "approval" | "outcome" | undefined; ended: boolean },
): string {
  if (item.streaming) return "calling…";
  if (item.result !== null) return "done";
  if (answeredBy) {
    if (decided?.outcome) {
      switch (decided.outcome.action) {
        case "retry":
          return "called again in the next run";
        case "skip":
          return "skipped: not called again";
        case "result":
          return "result entered: not called again";
        default:
          return "answered: see the next run";
      }
    }
    if (decided?.approved === false) return "rejected: not run";
    if (decided) return "approved: runs in the next run";
    return asked === "outcome" ? "answered: see the next run" : "answered: runs in the next run";
  }
  if (asked === "outcome") return "outcome unknown — waiting for an answer";
  if (asked === "approval") return "waiting for approval";
  return ended ? "no result" : "waiting for result";
}
