"use client";
// Notifications (issue 16): the workspace's notification endpoints (where run and batch events are
// POSTed, signed per Standard Webhooks: name, URL, events, agent, enabled) and their deliveries,
// newest first: the event, the endpoint, the status (pending, delivered, failed), the attempts so
// far, the last answer (HTTP status or error), when it was made and delivered. A delivery opens
// (?delivery=<id>) to its attempt log and payload, with an operator's "Resend" (the same
// webhook-id: receivers de-duplicate by it). Read again every few seconds, like the batches page.
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useState } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select, Timestamp } from "@/components/ui";
import { formatInstant, isUuid, prettyJson, shortId } from "@/lib/format";
import type { NotificationDeliveryCondition } from "@/lib/gql/graphql";
import { useMutation, useQuery } from "@/lib/hooks";
import { usePermission } from "@/lib/session";
import { present } from "@/lib/types";
import { EnabledBadge } from "../webhooks/badges";
import { NOTIFICATION_DELIVERY_QUERY, NOTIFICATIONS_QUERY, RESEND_NOTIFICATION } from "./queries";

const ENDPOINTS = 200;
const PAGE_SIZE = 50;
const POLL_MS = 3000;
const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

const DELIVERY_STYLES: Record<string, string> = {
  pending: "bg-sky-50 text-sky-800 ring-sky-300",
  delivered: "bg-emerald-50 text-emerald-800 ring-emerald-300",
  failed: "bg-rose-50 text-rose-800 ring-rose-300",
};

export default function NotificationsPage() {
  return (
    <Suspense fallback={<Loading />}>
      <Notifications />
    </Suspense>
  );
}

function Notifications() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const status = params.get("status") ?? "";
  const selected = params.get("delivery") ?? "";
  const [limit, setLimit] = useState(PAGE_SIZE);
  useEffect(() => setLimit(PAGE_SIZE), [status]);
  const setParam = useCallback(
    (key: string, value: string) => {
      const next = new URLSearchParams(params.toString());
      if (value) next.set(key, value);
      else next.delete(key);
      router.replace(`${pathname}${next.size ? `?${next}` : ""}`, { scroll: false });
    },
    [params, pathname, router],
  );

  const condition: NotificationDeliveryCondition = status ? { status } : {};
  const { data, error, loading, refetch } = useQuery(NOTIFICATIONS_QUERY, { endpoints: ENDPOINTS, deliveries: limit, condition });
  useEffect(() => {
    const timer = setInterval(() => void refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [refetch]);
  const endpoints = present(data?.notificationEndpoints?.nodes);
  const deliveries = present(data?.notificationDeliveries?.nodes);

  return (
    <>
      <PageHeader
        title="Notifications"
        subtitle={
          data ? (
            <span data-testid="notifications-summary">
              {endpoints.length.toLocaleString("en-US")} endpoint{endpoints.length === 1 ? "" : "s"} ·{" "}
              {(data.notificationDeliveries?.totalCount ?? 0).toLocaleString("en-US")} deliver{data.notificationDeliveries?.totalCount === 1 ? "y" : "ies"}
              {status ? ` ${status}` : ""} · refreshed every {POLL_MS / 1000} s
            </span>
          ) : (
            "Run and batch events POSTed to your endpoints, signed"
          )
        }
      />
      {error && !(error.unreachable && data) && (
        <div className="mb-4">
          <ErrorBox error={error} title="Could not load notifications" onRetry={() => void refetch()} />
        </div>
      )}

      <Card testId="endpoints" className="mb-4" bodyClassName="" title="Endpoints">
        {loading && !data ? (
          <Loading rows={3} />
        ) : endpoints.length === 0 ? (
          <Empty title="No endpoints yet">
            Create one with <span className="font-mono">everruns notify create</span>, <span className="font-mono">POST /api/notification-endpoints</span> or
            the GraphQL <span className="font-mono">createNotificationEndpoint</span>.
          </Empty>
        ) : (
          <div className="overflow-x-auto">
            <table data-testid="endpoints-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Endpoint</th>
                  <th className="px-3 py-2">URL</th>
                  <th className="px-3 py-2">Events</th>
                  <th className="px-3 py-2">Agent</th>
                  <th className="px-3 py-2">Secret</th>
                  <th className="px-4 py-2">Enabled</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {endpoints.map((e) => (
                  <tr key={e.id} data-endpoint-id={e.id} className="hover:bg-slate-50">
                    <td className="px-4 py-2 font-medium text-slate-900" title={e.id}>
                      {e.name}
                    </td>
                    <td className="max-w-sm truncate px-3 py-2 font-mono text-xs text-slate-700" title={e.url}>
                      {e.url}
                    </td>
                    <td className="px-3 py-2">
                      <span className="flex flex-wrap gap-1">
                        {present(e.events).map((event) => (
                          <span key={event} className="rounded bg-slate-100 px-1.5 py-0.5 font-mono text-[11px] text-slate-700">
                            {event}
                          </span>
                        ))}
                      </span>
                    </td>
                    <td className="px-3 py-2">
                      {e.agentId ? (
                        <Link href={`/agents/${e.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                          {e.agentByAgentId?.name ?? shortId(e.agentId)}
                        </Link>
                      ) : (
                        <span className="text-slate-500">every agent</span>
                      )}
                    </td>
                    <td className="px-3 py-2 font-mono text-xs text-slate-600">{e.secretName}</td>
                    <td className="px-4 py-2">
                      <EnabledBadge enabled={e.enabled} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      {selected && <DeliveryDetail id={selected} onClose={() => setParam("delivery", "")} onResent={() => void refetch()} />}

      <Card
        testId="notification-deliveries"
        bodyClassName=""
        title={
          <span>
            Deliveries <span className="font-normal text-slate-500">{data?.notificationDeliveries?.totalCount.toLocaleString("en-US") ?? ""}</span>
          </span>
        }
        actions={<span className="text-xs text-slate-500">newest first</span>}
      >
        <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 px-4 py-2.5">
          <Select
            label="Status"
            value={status}
            onChange={(v) => setParam("status", v)}
            testId="deliveries-filter-status"
            options={[{ value: "", label: "All" }, ...DELIVERY_STATUSES.map((s) => ({ value: s, label: s }))]}
          />
        </div>
        {loading && !data ? (
          <Loading rows={5} />
        ) : deliveries.length === 0 ? (
          <Empty title={status ? `No ${status} deliveries` : "No deliveries yet"}>
            {status ? "Choose another status, or All." : "A delivery is made when a run or batch an endpoint listens to ends."}
          </Empty>
        ) : (
          <div className="overflow-x-auto">
            <table data-testid="notification-deliveries-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Event</th>
                  <th className="px-3 py-2">Endpoint</th>
                  <th className="px-3 py-2">Status</th>
                  <th className="px-3 py-2 text-right">Attempts</th>
                  <th className="px-3 py-2">Last answer</th>
                  <th className="px-3 py-2">Created</th>
                  <th className="px-4 py-2">Delivered</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {deliveries.map((d) => (
                  <tr
                    key={d.id}
                    data-delivery-id={d.id}
                    data-status={d.status}
                    onClick={() => setParam("delivery", d.id === selected ? "" : d.id)}
                    className={`cursor-pointer hover:bg-slate-50 ${d.id === selected ? "bg-sky-50/60" : ""}`}
                  >
                    <td className="whitespace-nowrap px-4 py-2">
                      <span className="font-mono text-[13px] text-slate-800">{d.event}</span>
                      <SubjectLink event={d.event} subjectId={d.subjectId} />
                    </td>
                    <td className="px-3 py-2 text-slate-700">{d.notificationEndpointByEndpointId?.name ?? shortId(d.endpointId)}</td>
                    <td className="px-3 py-2" data-testid="delivery-status">
                      <DeliveryStatus status={d.status} />
                    </td>
                    <td className="px-3 py-2 text-right tabular-nums text-slate-700" data-testid="delivery-attempts">
                      {d.attempts}
                    </td>
                    <td className="max-w-xs truncate px-3 py-2 text-xs" title={d.lastError ?? undefined}>
                      <LastAnswer statusCode={d.lastStatusCode} error={d.lastError} />
                    </td>
                    <td className="px-3 py-2 text-slate-600">
                      <Timestamp value={d.createdAt} />
                    </td>
                    <td className="px-4 py-2 text-slate-600">
                      {d.deliveredAt ? (
                        <Timestamp value={d.deliveredAt} />
                      ) : d.status === "pending" && d.nextAttemptAt ? (
                        <span className="text-xs text-slate-500" title={formatInstant(d.nextAttemptAt)}>
                          next try <Timestamp value={d.nextAttemptAt} />
                        </span>
                      ) : (
                        "—"
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data?.notificationDeliveries?.pageInfo.hasNextPage && (
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

function DeliveryStatus({ status }: { status: string }) {
  return (
    <span
      data-status={status}
      className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${DELIVERY_STYLES[status] ?? DELIVERY_STYLES.pending}`}
    >
      {status}
    </span>
  );
}

function LastAnswer({ statusCode, error }: { statusCode: number | null | undefined; error: string | null | undefined }) {
  if (statusCode == null && !error) return <span className="text-slate-400">—</span>;
  const ok = statusCode != null && statusCode >= 200 && statusCode < 300;
  return (
    <span className={ok ? "text-emerald-800" : "text-rose-700"}>
      {statusCode != null && <span className="font-mono">HTTP {statusCode}</span>}
      {statusCode != null && error ? " · " : ""}
      {error}
    </span>
  );
}

/** The run (or batch) an event is about. */
function SubjectLink({ event, subjectId }: { event: string; subjectId: string }) {
  const href = event.startsWith("batch.") ? `/batches/${subjectId}` : `/runs/${subjectId}`;
  return (
    <Link href={href} title={subjectId} onClick={(e) => e.stopPropagation()} className="ml-1.5 font-mono text-[11px] text-sky-700 hover:underline">
      {shortId(subjectId)}
    </Link>
  );
}

/** One delivery: its attempt log (each try's answer), its payload, and an operator's Resend. */
function DeliveryDetail({ id, onClose, onResent }: { id: string; onClose: () => void; onResent: () => void }) {
  const valid = isUuid(id);
  const detail = useQuery(NOTIFICATION_DELIVERY_QUERY, { id }, { skip: !valid });
  const delivery = detail.data?.notificationDelivery ?? null;
  const permission = usePermission("operator");
  const resend = useMutation(RESEND_NOTIFICATION);
  const [resent, setResent] = useState(false);
  useEffect(() => setResent(false), [id]);
  useEffect(() => {
    if (!valid) return;
    const timer = setInterval(() => void detail.refetch(), POLL_MS);
    return () => clearInterval(timer);
  }, [valid, detail.refetch]);

  const onResend = async () => {
    const answer = await resend.mutate({ id });
    if (!answer?.resendNotification?.notificationDelivery) return;
    setResent(true);
    onResent();
    void detail.refetch();
  };

  return (
    <Card
      testId="delivery-detail"
      className="mb-4"
      title={
        <span>
          Delivery <span className="font-mono text-[13px]">{shortId(id)}</span>
          {delivery && <span className="ml-2 font-mono text-[13px] font-normal text-slate-600">{delivery.event}</span>}
        </span>
      }
      actions={
        <span className="flex items-center gap-2">
          {delivery && permission.allowed && (
            <Button
              size="sm"
              variant="primary"
              needs="operator"
              data-testid="delivery-resend"
              disabled={resend.pending}
              title="Send it again now under the same webhook-id (receivers de-duplicate by it); retried for a day"
              onClick={() => void onResend()}
            >
              {resend.pending ? "Resending…" : "Resend"}
            </Button>
          )}
          {delivery && !permission.allowed && (
            <span data-testid="delivery-resend-readonly" title={permission.reason ?? undefined} className="text-xs text-slate-500">
              Resending needs an operator key.
            </span>
          )}
          <Button size="sm" variant="ghost" data-testid="delivery-close" onClick={onClose}>
            Close
          </Button>
        </span>
      }
      bodyClassName=""
    >
      {!valid || (detail.data && !delivery) ? (
        <Empty title="No such delivery" icon="not-found">
          There is no notification delivery <span className="font-mono">{id}</span> in this workspace.
        </Empty>
      ) : detail.error && !delivery ? (
        <div className="p-4">
          <ErrorBox error={detail.error} title="Could not load this delivery" onRetry={() => void detail.refetch()} />
        </div>
      ) : !delivery ? (
        <Loading rows={3} />
      ) : (
        <>
          <div className="flex flex-wrap items-center gap-x-5 gap-y-1 border-b border-slate-100 px-4 py-2.5 text-sm text-slate-700">
            <span data-testid="delivery-detail-status">
              <DeliveryStatus status={delivery.status} />
            </span>
            <span>
              to <span className="font-medium">{delivery.notificationEndpointByEndpointId?.name ?? shortId(delivery.endpointId)}</span>
            </span>
            <span>
              webhook-id <span className="font-mono text-xs">msg_{delivery.id.replaceAll("-", "")}</span>
            </span>
            {delivery.status === "pending" && (
              <span className="text-xs text-slate-500">
                gives up <Timestamp value={delivery.giveUpAt} />
              </span>
            )}
            {resent && (
              <span data-testid="delivery-resent" className="text-xs text-emerald-800">
                Queued to be sent again.
              </span>
            )}
          </div>
          {resend.error && (
            <div className="px-4 pt-3">
              <ErrorBox error={resend.error} title="The delivery was not resent" />
            </div>
          )}
          <div className="grid gap-4 p-4 lg:grid-cols-2">
            <div>
              <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Attempts</div>
              {present(delivery.attemptLog.nodes).length === 0 ? (
                <p className="text-sm text-slate-500">No attempt yet.</p>
              ) : (
                <table data-testid="attempt-log" className="w-full text-sm">
                  <thead>
                    <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                      <th className="py-1.5 pr-3">#</th>
                      <th className="py-1.5 pr-3">Started</th>
                      <th className="py-1.5 pr-3">Outcome</th>
                      <th className="py-1.5">Answer</th>
                    </tr>
                  </thead>
                  <tbody className="divide-y divide-slate-100">
                    {present(delivery.attemptLog.nodes).map((a) => (
                      <tr key={String(a.id)} data-testid="attempt" data-outcome={a.outcome ?? "open"}>
                        <td className="py-1.5 pr-3 tabular-nums text-slate-500">{a.attempt}</td>
                        <td className="py-1.5 pr-3 text-slate-600">
                          <Timestamp value={a.startedAt} />
                        </td>
                        <td className="py-1.5 pr-3 text-slate-800">{a.outcome ?? <span className="text-slate-400">in flight</span>}</td>
                        <td className="max-w-xs truncate py-1.5 text-xs" title={a.error ?? undefined}>
                          <LastAnswer statusCode={a.statusCode} error={a.error} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </div>
            <div>
              <div className="mb-1 text-[11px] font-medium uppercase tracking-wide text-slate-500">Payload</div>
              <pre data-testid="delivery-payload" className="max-h-64 overflow-auto rounded bg-slate-50 p-2 font-mono text-xs text-slate-800">
                {prettyJson(delivery.payload)}
              </pre>
            </div>
          </div>
        </>
      )}
    </Card>
  );
}
