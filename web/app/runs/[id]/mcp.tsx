"use client";
// The run page's MCP card (issue 17): the run's calls of MCP tools — tool calls named
// `<server>__<tool>` for a server of the agent's config or one the run pinned — each marked with
// its server, its latest progress while it runs (CUSTOM everruns.tool_progress events: the
// message, and a bar when the server gave a total), and how many times it was sent when more than
// once (everruns.tool_dispatches: a crash or a timeout made the call's outcome unknown and it was
// sent again); and the tool lists the run pinned, one per server (the tools the model saw: a
// retried or resumed step uses the same), with their tool count and when they were listed.
// Nothing shows for a run without MCP tools.
import { useEffect, useMemo } from "react";
import { Card, Timestamp } from "@/components/ui";
import type { ConversationItem } from "@/lib/agui";
import { useQuery, useThrottled } from "@/lib/hooks";
import { present, type RunEventMessage } from "@/lib/types";
import { RUN_MCP_QUERY } from "../../mcp/queries";
import { mcpServerNames, mcpServerOf, toolsOf } from "../../mcp/tools";

/** The latest everruns.tool_progress of one tool call. */
interface Progress {
  progress: number;
  total: number | null;
  message: string | null;
}

/** The latest progress of each tool call, by tool call id. */
export function progressByCall(events: RunEventMessage[]): Map<string, Progress> {
  const out = new Map<string, Progress>();
  for (const e of events) {
    if (e.type !== "CUSTOM" || e.event.name !== "everruns.tool_progress") continue;
    const v = (e.event.value ?? {}) as { tool_call_id?: unknown; progress?: unknown; total?: unknown; message?: unknown };
    if (typeof v.tool_call_id !== "string" || typeof v.progress !== "number") continue;
    out.set(v.tool_call_id, {
      progress: v.progress,
      total: typeof v.total === "number" && v.total > 0 ? v.total : null,
      message: typeof v.message === "string" ? v.message : null,
    });
  }
  return out;
}

/** Events after which the run's pins or dispatches may have changed (a step began or ended). */
const CHANGING = new Set(["STEP_STARTED", "STEP_FINISHED", "TOOL_CALL_START", "TOOL_CALL_RESULT", "RUN_FINISHED", "RUN_ERROR"]);

export function RunMcpCard({
  runId,
  parentRunId,
  configTools,
  items,
  events,
  live,
}: {
  runId: string;
  parentRunId: string | null;
  /** the run's agent version's config.tools */
  configTools: unknown;
  items: ConversationItem[];
  events: RunEventMessage[];
  live: boolean;
}) {
  const mcp = useQuery(RUN_MCP_QUERY, { id: runId, parentId: parentRunId ?? runId });
  const refetch = useThrottled(() => void mcp.refetch(), 500);
  const changes = useMemo(() => events.filter((e) => CHANGING.has(e.type)).length, [events]);
  useEffect(() => {
    if (changes > 0) refetch();
  }, [changes, refetch]);

  const pins = present(mcp.data?.allRunMcpTools?.nodes);
  const dispatches = useMemo(() => {
    const out = new Map<string, { dispatches: number; state: string; lastDispatchedAt: string }>();
    for (const d of [...present(mcp.data?.parent?.nodes), ...present(mcp.data?.own?.nodes)]) out.set(d.toolCallId, d);
    return out;
  }, [mcp.data]);
  const servers = useMemo(() => new Set([...mcpServerNames(configTools), ...pins.map((p) => p.server)]), [configTools, pins]);
  const progress = useMemo(() => progressByCall(events), [events]);
  const calls = items.flatMap((item) => {
    if (item.kind !== "tool") return [];
    const of = mcpServerOf(item.name, servers);
    return of ? [{ item, ...of }] : [];
  });
  // a call of a retried step shows twice in the log (each attempt's TOOL_CALL_START): once here
  const seen = new Set<string>();
  const unique = calls.filter((c) => (seen.has(c.item.toolCallId) ? false : (seen.add(c.item.toolCallId), true)));

  if (servers.size === 0 && unique.length === 0) return null;
  return (
    <Card
      title={`MCP · ${unique.length} call${unique.length === 1 ? "" : "s"}`}
      testId="mcp-card"
      actions={<span className="text-xs text-slate-500">tools from MCP servers</span>}
    >
      {unique.length > 0 ? (
        <ul className="space-y-2">
          {unique.map(({ item, server, tool }) => {
            const p = progress.get(item.toolCallId);
            const d = dispatches.get(item.toolCallId);
            const running = item.result === null && live;
            return (
              <li
                key={item.toolCallId}
                data-testid="mcp-call"
                data-tool-call-id={item.toolCallId}
                data-server={server}
                className="rounded-md border border-slate-200 px-2.5 py-1.5"
              >
                <div className="flex flex-wrap items-center gap-2 text-xs">
                  <span
                    data-testid="mcp-call-server"
                    className="rounded bg-indigo-50 px-1.5 py-0.5 font-medium text-indigo-800 ring-1 ring-inset ring-indigo-200"
                  >
                    MCP · {server}
                  </span>
                  <span className="font-mono text-slate-800" title={item.name}>
                    {tool}
                  </span>
                  <span className="text-slate-500">{item.result !== null ? "done" : running ? "running" : "no result"}</span>
                  {d && d.dispatches > 1 && (
                    <span
                      data-testid="mcp-dispatches"
                      title={`sent ${d.dispatches} times (an earlier attempt's outcome was unknown); last at ${d.lastDispatchedAt}`}
                      className="rounded bg-amber-100 px-1.5 py-0.5 font-medium text-amber-900"
                    >
                      sent {d.dispatches}×
                    </span>
                  )}
                </div>
                {p && running && <ProgressLine progress={p} />}
              </li>
            );
          })}
        </ul>
      ) : (
        <p className="text-xs text-slate-500">No MCP tool called yet.</p>
      )}
      {pins.length > 0 && (
        <div className="mt-3 border-t border-slate-100 pt-2" data-testid="mcp-pinned">
          <div className="mb-1 text-[11px] font-semibold uppercase tracking-wide text-slate-500">Pinned tool lists</div>
          <table className="w-full text-xs">
            <tbody className="divide-y divide-slate-100">
              {pins.map((pin) => {
                const list = pin.mcpToolListByListId;
                return (
                  <tr key={pin.server} data-testid="mcp-pinned-list" data-server={pin.server}>
                    <td className="py-1 pr-2 font-mono text-slate-800">{pin.server}</td>
                    <td className="py-1 pr-2 tabular-nums text-slate-700" data-testid="mcp-pinned-count">
                      {list ? `${toolsOf(list.tools).length} tools` : "—"}
                    </td>
                    <td className="py-1 text-right text-slate-500">listed {list ? <Timestamp value={list.fetchedAt} /> : "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** A call's latest progress: its message, and a bar when the server said the total. */
function ProgressLine({ progress: p }: { progress: Progress }) {
  const ratio = p.total ? Math.max(0, Math.min(1, p.progress / p.total)) : null;
  return (
    <div data-testid="mcp-progress" className="mt-1 space-y-1">
      <div className="flex items-center justify-between gap-2 text-[11px] text-slate-600">
        <span data-testid="mcp-progress-message" className="min-w-0 truncate">
          {p.message ?? "working…"}
        </span>
        <span className="shrink-0 tabular-nums">{ratio !== null ? `${Math.round(ratio * 100)}%` : p.progress}</span>
      </div>
      {ratio !== null && (
        <div
          data-testid="mcp-progress-bar"
          role="progressbar"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(ratio * 100)}
          className="h-1.5 overflow-hidden rounded-full bg-slate-100"
        >
          <div className="h-full rounded-full bg-indigo-500 transition-[width]" style={{ width: `${ratio * 100}%` }} />
        </div>
      )}
    </div>
  );
}
