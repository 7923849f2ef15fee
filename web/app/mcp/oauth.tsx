"use client";
// OAuth connections of the workspace to MCP servers (issue 17), on the /mcp page: one row per
// server URL that an agent's current config marks `"oauth"` (web/app/mcp/oauth-servers.ts), and
// per connection no agent names any more (so that it can be disconnected). Each row: the agents and
// their names for it, the connection's status (not connected, pending, connected, failed), when
// its access token expires, its last error; and for an operator "Connect" ("Reconnect" once there
// is a connection), which calls connectMcpServer and sends this tab to the authorization URL (the
// authorization server sends it back to the API's callback page, "Connected … You can close this
// tab."), and "Disconnect" (confirmed), which calls disconnectMcpServer. A viewer sees the
// status and why there are no buttons.
import Link from "next/link";
import { useState } from "react";
import { Button, Card, ErrorBox, Timestamp } from "@/components/ui";
import { formatInstant } from "@/lib/format";
import { useMutation, useNow } from "@/lib/hooks";
import { usePermission } from "@/lib/session";
import { present } from "@/lib/types";
import type { McpOauthQuery } from "@/lib/gql/graphql";
import { CONNECT_MCP_SERVER, DISCONNECT_MCP_SERVER } from "./queries";
import { oauthServersOf, type OauthServer } from "./oauth-servers";

type Connection = NonNullable<NonNullable<McpOauthQuery["allMcpOauthConnections"]>["nodes"][number]>;

const STATUS_STYLES: Record<string, { label: string; className: string; dot: string }> = {
  connected: { label: "connected", className: "bg-emerald-50 text-emerald-800 ring-emerald-300", dot: "bg-emerald-500" },
  pending: { label: "pending", className: "bg-amber-50 text-amber-800 ring-amber-300", dot: "bg-amber-500" },
  failed: { label: "failed", className: "bg-rose-50 text-rose-800 ring-rose-300", dot: "bg-rose-500" },
  none: { label: "not connected", className: "bg-slate-50 text-slate-700 ring-slate-300", dot: "bg-slate-400" },
};

/** The OAuth section of /mcp; `data` is MCP_OAUTH_QUERY's answer, `refetch` reads it again. */
export function McpOauthConnections({ data, refetch }: { data: McpOauthQuery | null | undefined; refetch: () => void }) {
  const permission = usePermission("operator");
  const servers = oauthServersOf(present(data?.allAgents?.nodes).map((a) => ({ id: a.id, name: a.name, config: a.config })));
  const connections = new Map(present(data?.allMcpOauthConnections?.nodes).map((c) => [c.serverUrl, c]));
  // connections no agent's config names (any more): still listed, to be disconnected
  const orphans: OauthServer[] = [...connections.keys()]
    .filter((url) => !servers.some((s) => s.url === url))
    .map((url) => ({ url, uses: [], scopes: null, clientId: null, clientSecretName: null }));
  const rows = [...servers, ...orphans];
  if (!data || rows.length === 0) return null;
  return (
    <Card title="OAuth connections" testId="mcp-oauth" className="mb-5" bodyClassName="">
      <p className="border-b border-slate-100 px-4 py-2 text-xs text-slate-500">
        Servers whose agents say <span className="font-mono">&quot;oauth&quot;</span> are used with this workspace&apos;s tokens: connect each once.
        {!permission.allowed && (
          <span data-testid="mcp-oauth-readonly" title={permission.reason ?? undefined} className="ml-1">
            Read-only: connecting and disconnecting needs an operator key.
          </span>
        )}
      </p>
      <div className="overflow-x-auto">
        <table data-testid="mcp-oauth-table" className="w-full text-sm">
          <thead>
            <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
              <th className="px-4 py-2">Server URL</th>
              <th className="px-3 py-2">Agents</th>
              <th className="px-3 py-2">Connection</th>
              <th className="px-3 py-2">Token expires</th>
              <th className="px-4 py-2 text-right">{permission.allowed ? "Actions" : ""}</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {rows.map((server) => (
              <OauthRow key={server.url} server={server} connection={connections.get(server.url) ?? null} canAct={permission.allowed} onChanged={refetch} />
            ))}
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function OauthRow({ server, connection, canAct, onChanged }: { server: OauthServer; connection: Connection | null; canAct: boolean; onChanged: () => void }) {
  const status = connection?.status ?? "none";
  return (
    <tr data-testid="mcp-oauth-row" data-url={server.url} data-status={status} className="align-top">
      <td className="max-w-[24rem] break-all px-4 py-2 font-mono text-xs text-slate-700" data-testid="mcp-oauth-url">
        {server.url}
      </td>
      <td className="px-3 py-2 text-xs">
        {server.uses.length === 0 ? (
          <span className="text-slate-400">no agent uses it now</span>
        ) : (
          <ul className="space-y-0.5">
            {server.uses.map((u) => (
              <li key={`${u.agentId}/${u.server}`}>
                <Link href={`/agents/${u.agentId}`} data-testid="mcp-oauth-agent" className="text-sky-700 hover:underline">
                  {u.agentName}
                </Link>
                {u.server && <span className="ml-1 font-mono text-slate-500">({u.server})</span>}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td className="px-3 py-2" data-testid="mcp-oauth-status">
        <ConnectionStatus status={status} connection={connection} />
      </td>
      <td className="px-3 py-2 text-xs text-slate-600" data-testid="mcp-oauth-expires">
        {connection?.status === "connected" && connection.expiresAt ? (
          <ExpiresAt value={connection.expiresAt} />
        ) : connection?.status === "connected" ? (
          <span className="text-slate-400" title="the authorization server did not say">
            unknown
          </span>
        ) : (
          <span className="text-slate-400">—</span>
        )}
        {connection?.lastRefreshedAt && (
          <p className="text-[11px] text-slate-500">
            refreshed <Timestamp value={connection.lastRefreshedAt} />
          </p>
        )}
      </td>
      <td className="px-4 py-2 text-right">{canAct && <OauthActions server={server} connected={connection !== null} onChanged={onChanged} />}</td>
    </tr>
  );
}

/** "in 59 min", "in 3 h" (a worker refreshes it when a run needs it), or "expired 2 min ago"; the instant on hover. */
function ExpiresAt({ value }: { value: string }) {
  const now = useNow(10_000);
  const t = Date.parse(value);
  if (!Number.isFinite(t)) return <span className="text-slate-400">—</span>;
  const s = Math.round((t - now) / 1000);
  const span = (n: number) =>
    n < 60 ? `${n} s` : n < 3600 ? `${Math.floor(n / 60)} min` : n < 86400 ? `${Math.floor(n / 3600)} h` : `${Math.floor(n / 86400)} d`;
  return (
    <time data-testid="mcp-oauth-expires-at" dateTime={value} title={formatInstant(value)} className={`whitespace-nowrap ${s <= 0 ? "text-amber-700" : ""}`}>
      {s > 0 ? `in ${span(s)}` : `expired ${span(-s)} ago (refreshed on use)`}
    </time>
  );
}

function ConnectionStatus({ status, connection }: { status: string; connection: Connection | null }) {
  const style = STATUS_STYLES[status] ?? STATUS_STYLES.none!;
  return (
    <div className="max-w-md space-y-0.5">
      <span
        data-testid="mcp-oauth-badge"
        data-status={status}
        className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${style.className}`}
      >
        <span className={`h-1.5 w-1.5 rounded-full ${style.dot}`} />
        {style.label}
      </span>
      {connection?.status === "connected" && connection.connectedAt && (
        <p className="text-[11px] text-slate-500">
          since <Timestamp value={connection.connectedAt} />
          {connection.connectedBy ? ` by ${connection.connectedBy}` : ""}
        </p>
      )}
      {connection?.status === "pending" && <p className="text-[11px] text-slate-500">a connect was begun and not completed: connect again</p>}
      {connection?.lastError && (
        <p data-testid="mcp-oauth-error" className="break-words font-mono text-[11px] text-rose-800">
          {connection.lastError}
        </p>
      )}
    </div>
  );
}

/** Connect / Reconnect (to the authorization server, this tab) and Disconnect (confirmed). */
function OauthActions({ server, connected, onChanged }: { server: OauthServer; connected: boolean; onChanged: () => void }) {
  const connect = useMutation(CONNECT_MCP_SERVER);
  const disconnect = useMutation(DISCONNECT_MCP_SERVER);
  const [confirming, setConfirming] = useState(false);
  const [leaving, setLeaving] = useState(false);

  const onConnect = async () => {
    const answer = await connect.mutate({
      input: {
        url: server.url,
        ...(server.scopes?.length ? { scopes: server.scopes } : {}),
        ...(server.clientId ? { clientId: server.clientId } : {}),
        ...(server.clientSecretName ? { clientSecretName: server.clientSecretName } : {}),
      },
    });
    const url = answer?.connectMcpServer?.authorizationUrl;
    if (!url) return;
    setLeaving(true);
    // same tab: the authorization server sends the browser back to the API's callback page
    window.location.assign(url);
  };
  const onDisconnect = async () => {
    const answer = await disconnect.mutate({ input: { url: server.url } });
    if (!answer?.disconnectMcpServer) return;
    setConfirming(false);
    onChanged();
  };

  return (
    <div className="flex flex-col items-end gap-2">
      <div className="flex items-center justify-end gap-2">
        <Button
          size="sm"
          variant="primary"
          needs="operator"
          data-testid="mcp-oauth-connect"
          disabled={connect.pending || leaving}
          title="Opens the server's authorization page in this tab; it comes back to the API's page that says Connected"
          onClick={() => void onConnect()}
        >
          {connect.pending || leaving ? "Opening…" : connected ? "Reconnect" : "Connect"}
        </Button>
        {connected && !confirming && (
          <Button
            size="sm"
            variant="secondary"
            needs="operator"
            data-testid="mcp-oauth-disconnect"
            className="text-rose-700"
            onClick={() => setConfirming(true)}
          >
            Disconnect
          </Button>
        )}
      </div>
      {confirming && (
        <div data-testid="mcp-oauth-disconnect-confirm" className="w-80 space-y-2 rounded-md border border-rose-200 bg-rose-50 p-2.5 text-left">
          <p className="text-xs text-rose-900">
            Forget this workspace&apos;s tokens for <span className="break-all font-mono">{server.url}</span>? Runs of its agents fail to reach it until it is
            connected again.
          </p>
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={() => setConfirming(false)}>
              Cancel
            </Button>
            <Button
              size="sm"
              variant="danger"
              needs="operator"
              data-testid="mcp-oauth-confirm-disconnect"
              disabled={disconnect.pending}
              onClick={() => void onDisconnect()}
            >
              {disconnect.pending ? "Disconnecting…" : "Disconnect"}
            </Button>
          </div>
        </div>
      )}
      {connect.error && (
        <div className="w-96 text-left">
          <ErrorBox error={connect.error} title="Could not begin the connect" />
        </div>
      )}
      {disconnect.error && (
        <div className="w-96 text-left">
          <ErrorBox error={disconnect.error} title="Could not disconnect" />
        </div>
      )}
    </div>
  );
}
