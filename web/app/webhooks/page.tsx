"use client";
// Webhooks (issue 16): every inbound webhook of the workspace by name, with its agent, how its
// senders are verified (and with which secrets), whether it is enabled, and its deliveries of the
// last 24 hours (counted from its latest ones). Read again every few seconds, like the batches page.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Timestamp } from "@/components/ui";
import { parseTime, shortId } from "@/lib/format";
import { useNow, useQuery } from "@/lib/hooks";
import { present } from "@/lib/types";
import { EnabledBadge } from "./badges";
import { WEBHOOKS_QUERY } from "./queries";

const PAGE_SIZE = 100;
const POLL_MS = 5000;
const DAY_MS = 86_400_000;

export default function WebhooksPage() {
  const router = useRouter();
  const [limit, setLimit] = useState(PAGE_SIZE);
  const { data, error, loading, refetch } = useQuery(WEBHOOKS_QUERY, { first: limit });
  useEffect(() => {
    const timer = setInterval(() => void refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [refetch]);
  const now = useNow(10_000);
  const rows = present(data?.webhooks?.nodes);

  return (
    <>
      <PageHeader
        title="Webhooks"
        subtitle={
          data?.webhooks ? (
            <span data-testid="webhooks-summary">
              {data.webhooks.totalCount.toLocaleString("en-US")} webhook{data.webhooks.totalCount === 1 ? "" : "s"} · refreshed every {POLL_MS / 1000} s
            </span>
          ) : (
            "Signed deliveries from other systems start runs"
          )
        }
      />
      <Card bodyClassName="">
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load webhooks" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={5} />
        ) : rows.length === 0 && !error ? (
          <Empty title="No webhooks yet">
            Create one with <span className="font-mono">everruns webhooks create</span>, <span className="font-mono">POST /api/webhooks</span> or the GraphQL{" "}
            <span className="font-mono">createWebhook</span>.
          </Empty>
        ) : (
          rows.length > 0 && (
            <div className="overflow-x-auto">
              <table data-testid="webhooks-table" className="w-full text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                    <th className="px-4 py-2">Webhook</th>
                    <th className="px-3 py-2">Agent</th>
                    <th className="px-3 py-2">Verify</th>
                    <th className="px-3 py-2">Enabled</th>
                    <th className="px-3 py-2 text-right">Deliveries, 24 h</th>
                    <th className="px-4 py-2">Last delivery</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {rows.map((w) => {
                    const recent = present(w.deliveries.nodes);
                    const lastDay = recent.filter((d) => (parseTime(d.receivedAt) ?? 0) > now - DAY_MS).length;
                    // every delivery read is of the last day: there may be more than were read
                    const more = lastDay === recent.length && w.deliveries.totalCount > recent.length;
                    return (
                      <tr
                        key={w.id}
                        data-webhook-id={w.id}
                        data-enabled={w.enabled ? "true" : "false"}
                        onClick={(e) => {
                          if ((e.target as HTMLElement).closest("a")) return;
                          router.push(`/webhooks/${w.id}`);
                        }}
                        className="cursor-pointer hover:bg-slate-50"
                      >
                        <td className="px-4 py-2">
                          <Link href={`/webhooks/${w.id}`} title={w.id} data-testid="webhook-link" className="font-medium text-sky-700 hover:underline">
                            {w.name}
                          </Link>
                        </td>
                        <td className="px-3 py-2">
                          <Link href={`/agents/${w.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                            {w.agentByAgentId?.name ?? shortId(w.agentId)}
                          </Link>
                        </td>
                        <td className="whitespace-nowrap px-3 py-2 text-slate-700" data-testid="webhook-row-verify">
                          {w.verify}
                          <span className="ml-1.5 font-mono text-[11px] text-slate-400">{present(w.secretNames).join(", ")}</span>
                        </td>
                        <td className="px-3 py-2">
                          <EnabledBadge enabled={w.enabled} />
                        </td>
                        <td className="px-3 py-2 text-right tabular-nums text-slate-700" data-testid="webhook-row-deliveries">
                          {lastDay.toLocaleString("en-US")}
                          {more ? "+" : ""}
                        </td>
                        <td className="px-4 py-2 text-slate-600">
                          {recent[0] ? <Timestamp value={recent[0].receivedAt} /> : <span className="text-slate-400">none yet</span>}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        )}
        {data?.webhooks?.pageInfo.hasNextPage && (
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
