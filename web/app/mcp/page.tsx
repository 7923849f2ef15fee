"use client";
// MCP servers (issue 17): every MCP server an agent of the workspace has listed, one row per
// agent × server (everruns.mcp_servers): its name, the agent, the endpoint, whether the latest
// listing worked (or its error, and when), how many tools the latest successful list has, when it
// was listed and how many runs pinned that list. A row opens to its tools as the model sees them
// (`<server>__<tool>`), with their descriptions and the server's hints (read-only, idempotent,
// destructive). The servers are part of agent configs; a viewer sees all of it. Above them, the
// workspace's OAuth connections to the servers whose agents say "oauth" (./oauth.tsx): their
// status, and Connect / Disconnect for an operator. Read again every few seconds, like the
// webhooks page.
import Link from "next/link";
import { Fragment, useEffect, useState } from "react";
import { Card, Empty, ErrorBox, Loading, PageHeader, Timestamp } from "@/components/ui";
import { shortId } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import { present } from "@/lib/types";
import { McpOauthConnections } from "./oauth";
import { MCP_OAUTH_QUERY, MCP_SERVERS_QUERY } from "./queries";
import { exposedToolName, safeToolName, toolsOf, type McpTool } from "./tools";

const POLL_MS = 5000;

export default function McpServersPage() {
  const { data, error, loading, refetch } = useQuery(MCP_SERVERS_QUERY);
  const oauth = useQuery(MCP_OAUTH_QUERY);
  const refetchOauth = oauth.refetch;
  useEffect(() => {
    const timer = setInterval(() => {
      void refetch();
      void refetchOauth();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [refetch, refetchOauth]);
  const [open, setOpen] = useState<ReadonlySet<string>>(() => new Set());
  const rows = present(data?.allMcpServers?.nodes);
  const total = data?.allMcpServers?.totalCount ?? 0;
  const toggle = (key: string) =>
    setOpen((s) => {
      const next = new Set(s);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  return (
    <>
      <PageHeader
        title="MCP servers"
        subtitle={
          data?.allMcpServers ? (
            <span data-testid="mcp-summary">
              {total.toLocaleString("en-US")} server{total === 1 ? "" : "s"} of agents · refreshed every {POLL_MS / 1000} s
              {total > rows.length ? ` (the first ${rows.length} shown)` : ""}
            </span>
          ) : (
            "Tools from MCP servers, as each agent last listed them"
          )
        }
      />
      {oauth.error && !(oauth.error.unreachable && oauth.data) && (
        <div className="mb-5">
          <ErrorBox error={oauth.error} title="Could not load the OAuth connections" onRetry={() => void refetchOauth()} />
        </div>
      )}
      <McpOauthConnections data={oauth.data} refetch={() => void refetchOauth()} />
      <Card bodyClassName="">
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load the MCP servers" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={5} />
        ) : rows.length === 0 && !error ? (
          <Empty title="No MCP servers yet">
            Give an agent the tools of an MCP server with an entry in its config&apos;s <span className="font-mono">tools</span>:{" "}
            <span data-testid="mcp-empty-example" className="font-mono">
              {`{"type": "mcp", "name": "github", "url": "https://host/mcp"}`}
            </span>
            . A server shows here once a run of the agent has listed its tools; see <span className="font-mono">docs/mcp.md</span>.
          </Empty>
        ) : (
          rows.length > 0 && (
            <div className="overflow-x-auto">
              <table data-testid="mcp-servers-table" className="w-full text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                    <th className="px-4 py-2">Server</th>
                    <th className="px-3 py-2">Agent</th>
                    <th className="px-3 py-2">Endpoint</th>
                    <th className="px-3 py-2">Status</th>
                    <th className="px-3 py-2 text-right">Tools</th>
                    <th className="px-3 py-2">Listed</th>
                    <th className="px-4 py-2 text-right">Pinned runs</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {rows.map((s) => {
                    const key = `${s.agentId}/${s.server}`;
                    const expanded = open.has(key);
                    return (
                      <Fragment key={s.nodeId}>
                        <tr
                          data-testid="mcp-server-row"
                          data-server={s.server}
                          data-agent-id={s.agentId}
                          data-status={s.status ?? ""}
                          aria-expanded={expanded}
                          onClick={(e) => {
                            if ((e.target as HTMLElement).closest("a")) return;
                            toggle(key);
                          }}
                          className="cursor-pointer align-top hover:bg-slate-50"
                        >
                          <td className="px-4 py-2">
                            <button
                              type="button"
                              data-testid="mcp-server-toggle"
                              aria-label={`${expanded ? "hide" : "show"} the tools of ${s.server}`}
                              className="flex items-center gap-1.5 font-medium text-slate-900"
                            >
                              <span className={`inline-block w-3 text-slate-400 transition-transform ${expanded ? "rotate-90" : ""}`}>▸</span>
                              <span className="font-mono">{s.server}</span>
                            </button>
                          </td>
                          <td className="px-3 py-2">
                            <Link href={`/agents/${s.agentId}`} data-testid="mcp-agent-link" className="text-sky-700 hover:underline">
                              {s.agentName ?? shortId(s.agentId)}
                            </Link>
                          </td>
                          <td
                            className="max-w-[22rem] truncate px-3 py-2 font-mono text-xs text-slate-600"
                            title={s.endpoint ?? undefined}
                            data-testid="mcp-endpoint"
                          >
                            {s.endpoint}
                          </td>
                          <td className="px-3 py-2" data-testid="mcp-status">
                            <ServerStatus status={s.status} lastError={s.lastError} lastErrorAt={s.lastErrorAt} />
                          </td>
                          <td className="px-3 py-2 text-right tabular-nums text-slate-700" data-testid="mcp-tool-count">
                            {s.toolCount ?? <span className="text-slate-400">—</span>}
                          </td>
                          <td className="px-3 py-2 text-slate-600" data-testid="mcp-listed-at">
                            {s.listedAt ? <Timestamp value={s.listedAt} /> : <span className="text-slate-400">never</span>}
                          </td>
                          <td className="px-4 py-2 text-right tabular-nums text-slate-700" data-testid="mcp-pinned-runs">
                            {s.pinnedRuns ?? 0}
                          </td>
                        </tr>
                        {expanded && (
                          <tr data-testid="mcp-server-tools" data-server={s.server} className="bg-slate-50/60">
                            <td colSpan={7} className="px-4 py-3">
                              <ToolList server={s.server} tools={toolsOf(s.tools)} listed={s.listedAt != null} />
                            </td>
                          </tr>
                        )}
                      </Fragment>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        )}
      </Card>
    </>
  );
}

/** ok, or error with the latest failure and when (an ok server may have failed before: said in small print). */
function ServerStatus({
  status,
  lastError,
  lastErrorAt,
}: {
  status: string | null | undefined;
  lastError: string | null | undefined;
  lastErrorAt: string | null | undefined;
}) {
  if (status === "ok") {
    return (
      <div className="space-y-0.5">
        <span
          data-testid="mcp-status-badge"
          data-status="ok"
          className="inline-flex items-center gap-1.5 rounded-full bg-emerald-50 px-2 py-0.5 text-xs font-medium text-emerald-800 ring-1 ring-inset ring-emerald-300"
        >
          <span className="h-1.5 w-1.5 rounded-full bg-emerald-500" />
          ok
        </span>
        {lastError && lastErrorAt && (
          <p className="text-[11px] text-slate-500" title={lastError}>
            failed before, <Timestamp value={lastErrorAt} />
          </p>
        )}
      </div>
    );
  }
  return (
    <div className="max-w-md space-y-0.5">
      <span
        data-testid="mcp-status-badge"
        data-status="error"
        className="inline-flex items-center gap-1.5 rounded-full bg-rose-50 px-2 py-0.5 text-xs font-medium text-rose-800 ring-1 ring-inset ring-rose-300"
      >
        <span className="h-1.5 w-1.5 rounded-full bg-rose-500" />
        error
      </span>
      {lastError && (
        <p data-testid="mcp-last-error" className="break-words font-mono text-[11px] text-rose-800">
          {lastError}
        </p>
      )}
      {lastErrorAt && (
        <p className="text-[11px] text-slate-500">
          <Timestamp value={lastErrorAt} />
        </p>
      )}
    </div>
  );
}

/** The tools of a server's latest successful list, by the name the model sees. */
function ToolList({ server, tools, listed }: { server: string; tools: McpTool[]; listed: boolean }) {
  if (!listed) return <p className="text-xs text-slate-500">Never listed successfully: no tools yet. The error is beside the server.</p>;
  if (tools.length === 0) return <p className="text-xs text-slate-500">The server listed no tools.</p>;
  return (
    <ul className="divide-y divide-slate-200 rounded-md border border-slate-200 bg-white">
      {tools.map((t) => (
        <li key={t.name} data-testid="mcp-tool" data-tool={t.name} className="px-3 py-2">
          <div className="flex flex-wrap items-center gap-2">
            <ExposedName server={server} tool={t.name} />
            {safeToolName(server, t.name).safe !== `${server}__${t.name}` && (
              <span className="text-[11px] text-slate-500">
                (the server calls it <span className="font-mono">{t.name}</span>)
              </span>
            )}
            <ToolHints annotations={t.annotations} />
          </div>
          {(t.title ?? t.annotations?.title) && <p className="mt-0.5 text-xs font-medium text-slate-700">{t.title ?? t.annotations?.title}</p>}
          {t.description ? (
            <p data-testid="mcp-tool-description" className="mt-0.5 whitespace-pre-wrap text-xs text-slate-600">
              {t.description}
            </p>
          ) : (
            <p className="mt-0.5 text-xs text-slate-400">no description</p>
          )}
        </li>
      ))}
    </ul>
  );
}

/** `<server>__<tool>` as the model sees it (long names get their hash suffix once computed). */
function ExposedName({ server, tool }: { server: string; tool: string }) {
  const { safe, long } = safeToolName(server, tool);
  const [name, setName] = useState<string | null>(long ? null : safe);
  useEffect(() => {
    if (!long) return setName(safe);
    let live = true;
    void exposedToolName(server, tool).then((n) => live && setName(n));
    return () => {
      live = false;
    };
  }, [server, tool, safe, long]);
  return (
    <span data-testid="mcp-tool-name" className="font-mono text-[13px] font-medium text-slate-900" title="the tool's name to the model">
      {name ?? `${safe.slice(0, 57)}_…`}
    </span>
  );
}

/** The server's hints about a tool: read-only, idempotent, destructive (MCP ToolAnnotations; absent: not said). */
function ToolHints({ annotations }: { annotations: McpTool["annotations"] }) {
  const hints: Array<{ key: string; label: string; className: string; title: string }> = [];
  if (annotations?.readOnlyHint)
    hints.push({
      key: "read-only",
      label: "read-only",
      className: "bg-sky-50 text-sky-800 ring-sky-200",
      title: "does not change anything: called again after a crash",
    });
  if (annotations?.idempotentHint)
    hints.push({
      key: "idempotent",
      label: "idempotent",
      className: "bg-emerald-50 text-emerald-800 ring-emerald-200",
      title: "calling it twice has the effect of once: called again after a crash",
    });
  // the MCP default for a tool that is not read-only is destructive: said only when the server says so
  if (annotations?.destructiveHint === true && !annotations.readOnlyHint)
    hints.push({ key: "destructive", label: "destructive", className: "bg-rose-50 text-rose-800 ring-rose-200", title: "may delete or overwrite" });
  if (hints.length === 0) return null;
  return (
    <span className="flex flex-wrap gap-1">
      {hints.map((h) => (
        <span
          key={h.key}
          data-testid="mcp-tool-hint"
          data-hint={h.key}
          title={h.title}
          className={`rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset ${h.className}`}
        >
          {h.label}
        </span>
      ))}
    </span>
  );
}
