"use client";
// One batch (issue 15): its status and an operator's controls (components/BatchControls.tsx),
// a progress bar and the counts by status (each opens the items of that status), the rate over
// the last minutes and the ETA at that rate, cost and tokens so far, when it started and ended,
// why it failed or was cancelled, and a chart of items finished per minute over the last 30
// minutes (processed: succeeded or failed, not those a cancel ended unrun). Live through the batchProgress subscription (a message whenever its status or counters
// change, at most one a second; it completes once the batch ended, and is made again when a
// retry runs it anew); the chart's window also moves every 30 s while the batch runs.
// Below, its items: filtered by status (and one custom id, exact), a page of 50 at a time, each
// with its attempts, a preview of its output or error and a link to its run. The filters and the
// page live in the URL.
import Link from "next/link";
import { useParams, usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { BatchControls } from "@/components/BatchControls";
import { BATCH_ITEM_STATUSES, BatchProgressBar, BatchStatusBadge, countsOf, formatEta, formatRate, isBatchActive } from "@/components/BatchProgress";
import { BucketChart } from "@/components/charts";
import { Button, Card, Cost, Empty, ErrorBox, Loading, PageHeader, Select, StatusBadge, STATUS_COLORS, Timestamp } from "@/components/ui";
import { formatClock, formatDuration, formatInstant, formatNumber, isBefore, isUuid, parseTime, shortId } from "@/lib/format";
import type { BatchFieldsFragment, BatchItemCondition } from "@/lib/gql/graphql";
import { useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { present, runErrorOf } from "@/lib/types";
import { BATCH_ITEMS_QUERY, BATCH_PROGRESS_SUBSCRIPTION, BATCH_QUERY } from "../queries";

const ITEMS_PAGE = 50;
/** How often the chart's window moves while the batch runs (the subscription says only what changed). */
const CHART_REFRESH_MS = 30_000;
const PREVIEW_CHARS = 140;

export default function BatchPage() {
  return (
    <Suspense fallback={<Loading rows={8} />}>
      <BatchDetail />
    </Suspense>
  );
}

function BatchDetail() {
  const { id } = useParams<{ id: string }>();
  const valid = isUuid(id);
  const detail = useQuery(BATCH_QUERY, { id }, { skip: !valid });
  const batch = detail.data?.batch ?? null;
  const active = batch ? isBatchActive(batch.status) : false;
  const [itemsVersion, setItemsVersion] = useState(0);
  const refreshItems = useThrottled(() => setItemsVersion((v) => v + 1), 1000);

  const apply = useCallback(
    (fresh: BatchFieldsFragment) => {
      detail.setData((d) => (d?.batch && isBefore(fresh.updatedAt, d.batch.updatedAt) ? d : { batch: fresh }));
      refreshItems();
    },
    [detail.setData, refreshItems],
  );

  // the subscription completes once the batch ended: made again when it runs anew (a retry)
  useSubscription(
    () => (valid && batch ? { query: BATCH_PROGRESS_SUBSCRIPTION, variables: { batchId: id } } : null),
    {
      next: ({ batchProgress }) => {
        if (batchProgress?.batch) apply(batchProgress.batch);
      },
    },
    `batch-${id}-${batch ? (active ? "live" : "ended") : "none"}`,
  );
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void detail.refetch(), CHART_REFRESH_MS);
    return () => clearInterval(timer);
  }, [active, detail.refetch]);

  const now = useNow(1000, active);

  if (!valid || (detail.data && !batch)) {
    return (
      <Card>
        <Empty title="No such batch" icon="not-found">
          There is no batch <span className="font-mono">{id}</span> in this workspace.{" "}
          <Link href="/batches" className="text-sky-700 hover:underline">
            Back to batches
          </Link>
        </Empty>
      </Card>
    );
  }
  if (detail.loading && !detail.data) return <Loading rows={8} />;
  if (detail.error && !batch) return <ErrorBox error={detail.error} title="Could not load this batch" onRetry={() => void detail.refetch()} />;
  if (!batch) return <Loading rows={8} />;

  const counts = countsOf(batch.progress);
  const error = runErrorOf(batch.error);
  const started = parseTime(batch.startedAt);
  const elapsed = started == null ? null : (parseTime(batch.finishedAt) ?? now) - started;

  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-3">
            <span>Batch {batch.name ? <span>{batch.name}</span> : <span className="font-mono">{shortId(batch.id)}</span>}</span>
            <span data-testid="batch-status" data-status={batch.status}>
              <BatchStatusBadge status={batch.status} />
            </span>
          </span>
        }
        subtitle={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <Link href="/batches" className="text-sky-700 hover:underline">
              ← batches
            </Link>
            <span>
              agent{" "}
              <Link href={`/agents/${batch.agentId}`} className="text-sky-700 hover:underline">
                {batch.agentByAgentId?.name ?? shortId(batch.agentId)}
              </Link>{" "}
              v{batch.agentVersion}
            </span>
            <span>
              created <Timestamp value={batch.createdAt} />
            </span>
            <span data-testid="batch-policy">
              {batch.onItemError === "stop_after"
                ? `stops after ${[batch.stopAfterFailures != null ? `${batch.stopAfterFailures} failures` : null, batch.stopAfterRatio != null ? `${Math.round(batch.stopAfterRatio * 100)}% failed` : null].filter(Boolean).join(" or ")}`
                : "failed items do not stop it"}
            </span>
            {batch.priority !== 0 && <span>priority {batch.priority > 0 ? `+${batch.priority}` : batch.priority}</span>}
            {batch.deadline && (
              <span title={formatInstant(batch.deadline)}>
                deadline <Timestamp value={batch.deadline} />
              </span>
            )}
            <span className="font-mono text-xs text-slate-400">{batch.id}</span>
          </span>
        }
        actions={<BatchControls batch={batch} counts={counts} onChanged={apply} />}
      />

      {error && (batch.status === "failed" || batch.status === "cancelled") && (
        <div className="mb-4" data-testid="batch-error">
          <ErrorBox
            error={`${error.code ? `${error.code}: ` : ""}${error.message ?? "the batch ended"}`}
            title={batch.status === "cancelled" ? "The batch was cancelled" : "The batch failed"}
          />
        </div>
      )}

      <Card testId="batch-progress" className="mb-4" title="Progress" actions={<span className="text-xs text-slate-500">{active ? "live" : "ended"}</span>}>
        <div className="mb-1.5 flex items-baseline justify-between gap-3 text-sm">
          <span data-testid="batch-done" className="tabular-nums text-slate-800">
            <span className="text-lg font-semibold">{counts.done.toLocaleString("en-US")}</span> of {counts.total.toLocaleString("en-US")} items done
            {counts.total > 0 && <span className="ml-1.5 text-slate-500">({Math.floor((counts.done / counts.total) * 100)}%)</span>}
          </span>
          <span className="text-xs text-slate-500">
            at most <span className="tabular-nums">{batch.maxParallel.toLocaleString("en-US")}</span> at once
          </span>
        </div>
        <BatchProgressBar counts={counts} size="lg" />
        <ItemCounts batchId={batch.id} counts={counts} />
        <dl className="mt-4 grid grid-cols-2 gap-x-6 gap-y-3 border-t border-slate-100 pt-3 text-sm sm:grid-cols-4 lg:grid-cols-8">
          <Metric
            label="Rate"
            testId="batch-rate"
            value={formatRate(counts.itemsPerMinute)}
            title="Items processed (succeeded or failed) per minute over the last 5 minutes"
          />
          <Metric
            label="ETA"
            testId="batch-eta"
            value={batch.status === "running" ? formatEta(counts.etaSeconds) : batch.status === "paused" ? "paused" : "—"}
            title={counts.etaSeconds != null ? `${Math.round(counts.etaSeconds)} s at the current rate` : "No ETA: nothing finished lately, or nothing is left"}
          />
          <Metric label="Cost so far" testId="batch-cost" value={<Cost usd={counts.costUsd} />} />
          <Metric
            label="Tokens"
            testId="batch-tokens"
            value={formatNumber(counts.inputTokens + counts.outputTokens)}
            title={`${counts.inputTokens.toLocaleString("en-US")} in / ${counts.outputTokens.toLocaleString("en-US")} out`}
          />
          <Metric label="Started" testId="batch-started" value={batch.startedAt ? <Timestamp value={batch.startedAt} /> : "not yet"} />
          <Metric label="Finished" testId="batch-finished" value={batch.finishedAt ? <Timestamp value={batch.finishedAt} /> : "—"} />
          <Metric label={batch.finishedAt ? "Took" : "Running for"} value={formatDuration(elapsed)} />
          <Metric label="Agent version" value={`v${batch.agentVersion}`} />
        </dl>
      </Card>

      <Card
        testId="batch-throughput"
        className="mb-4"
        title="Items processed per minute"
        actions={<span className="text-xs text-slate-500">succeeded or failed · last 30 minutes</span>}
      >
        <ThroughputChart throughput={batch.throughput} />
      </Card>

      <BatchItems batchId={batch.id} counts={counts} version={itemsVersion} />
    </>
  );
}

/** The counts by status; each opens the items of that status. */
function ItemCounts({ batchId, counts }: { batchId: string; counts: ReturnType<typeof countsOf> }) {
  return (
    <ul className="mt-3 flex flex-wrap gap-x-5 gap-y-1.5 text-sm">
      {BATCH_ITEM_STATUSES.map((status) => (
        <li key={status}>
          <Link
            href={`/batches/${batchId}?status=${status}`}
            scroll={false}
            data-testid={`batch-count-${status}`}
            data-count={counts[status]}
            className="inline-flex items-center gap-1.5 text-slate-600 hover:text-sky-700"
            title={`show the ${status} items`}
          >
            <span className="inline-block h-2 w-2.5 rounded-sm" style={{ background: status === "queued" ? "#cbd5e1" : STATUS_COLORS[status] }} />
            {status} <span className="font-semibold tabular-nums text-slate-900">{counts[status].toLocaleString("en-US")}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

function ThroughputChart({ throughput }: { throughput: BatchFieldsFragment["throughput"] }) {
  const points = present(throughput);
  const labels = points.map((p) => (p.minute ? formatClock(Date.parse(p.minute)) : ""));
  const values = points.map((p) => Number(p.finished ?? 0));
  return (
    <BucketChart
      testId="batch-throughput-chart"
      labels={labels}
      tooltipLabels={points.map((p) => (p.minute ? `minute from ${formatClock(Date.parse(p.minute))}` : ""))}
      series={[{ name: "processed", color: STATUS_COLORS.succeeded!, values }]}
      yFormat={(v) => formatNumber(v)}
      legend={false}
      height={160}
      empty="No item processed in the last 30 minutes"
    />
  );
}

function Metric({ label, value, testId, title }: { label: string; value: ReactNode; testId?: string; title?: string }) {
  return (
    <div className="min-w-0">
      <dt className="text-[11px] font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd data-testid={testId} className="truncate tabular-nums text-slate-900" title={title ?? (typeof value === "string" ? value : undefined)}>
        {value}
      </dd>
    </div>
  );
}

/** A short preview of an item's output (its JSON answer, else its text) or error. */
function previewOf(item: { output: unknown; error: unknown }): { text: string; error: boolean } | null {
  const error = runErrorOf(item.error);
  if (error) return { text: `${error.code ? `${error.code}: ` : ""}${error.message ?? ""}`, error: true };
  const output = item.output;
  if (output == null) return null;
  if (typeof output === "object" && !Array.isArray(output)) {
    const o = output as { json?: unknown; text?: unknown };
    if (o.json !== undefined) return { text: JSON.stringify(o.json), error: false };
    if (typeof o.text === "string") return { text: o.text, error: false };
  }
  return { text: typeof output === "string" ? output : JSON.stringify(output), error: false };
}

function BatchItems({ batchId, counts, version }: { batchId: string; counts: ReturnType<typeof countsOf>; version: number }) {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const status = params.get("status") ?? "";
  const customId = params.get("item") ?? "";
  const page = Math.max(0, Math.floor(Number(params.get("page") ?? 0)) || 0);
  const [search, setSearch] = useState(customId);
  useEffect(() => setSearch(customId), [customId]);
  const setParams = useCallback(
    (changes: Record<string, string>) => {
      const next = new URLSearchParams(params.toString());
      for (const [key, value] of Object.entries(changes)) {
        if (value) next.set(key, value);
        else next.delete(key);
      }
      router.replace(`${pathname}${next.size ? `?${next}` : ""}`, { scroll: false });
    },
    [params, pathname, router],
  );

  const condition = useMemo(() => {
    const c: BatchItemCondition = {};
    if (status) c.status = status;
    if (customId) c.customId = customId;
    return c;
  }, [status, customId]);
  const items = useQuery(BATCH_ITEMS_QUERY, { id: batchId, condition, first: ITEMS_PAGE, offset: page * ITEMS_PAGE });
  // the batch moved: read the page shown again (throttled by the caller)
  useEffect(() => {
    if (version > 0) void items.refetch();
  }, [version]);

  const connection = items.data?.batch?.items ?? null;
  const rows = present(connection?.nodes);
  const total = connection?.totalCount ?? 0;
  const pages = Math.max(1, Math.ceil(total / ITEMS_PAGE));
  const filtered = Boolean(status || customId);
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    setParams({ item: search.trim(), page: "" });
  };

  return (
    <Card
      testId="batch-items"
      bodyClassName=""
      title={
        <span>
          Items{" "}
          <span data-testid="batch-items-count" className="font-normal text-slate-500">
            {connection ? `${total.toLocaleString("en-US")}${filtered ? ` of ${counts.total.toLocaleString("en-US")}` : ""}` : ""}
          </span>
        </span>
      }
    >
      <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 px-4 py-2.5">
        <Select
          label="Status"
          value={status}
          onChange={(v) => setParams({ status: v, page: "" })}
          testId="items-filter-status"
          options={[{ value: "", label: "All" }, ...BATCH_ITEM_STATUSES.map((s) => ({ value: s, label: s }))]}
        />
        <form onSubmit={onSearch} className="ml-auto flex items-center gap-1.5">
          <input
            data-testid="items-search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="custom id (exact)"
            maxLength={200}
            spellCheck={false}
            className="w-56 rounded-md border border-slate-300 px-2 py-1 font-mono text-xs shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
          />
          <Button type="submit" size="sm">
            Find
          </Button>
          {filtered && (
            <Button size="sm" variant="ghost" onClick={() => setParams({ status: "", item: "", page: "" })}>
              Clear
            </Button>
          )}
        </form>
      </div>
      {items.error && !(items.error.unreachable && items.data) && (
        <div className="p-4">
          <ErrorBox error={items.error} title="Could not load the items" onRetry={() => void items.refetch()} />
        </div>
      )}
      {items.loading && !items.data ? (
        <Loading rows={5} />
      ) : rows.length === 0 && !items.error ? (
        <Empty title={customId ? `No item ${customId}` : filtered ? `No ${status} items` : "No items"}>
          {customId ? "A custom id is matched exactly." : filtered ? "Choose another status, or All." : "This batch has no items."}
        </Empty>
      ) : (
        rows.length > 0 && (
          <div className="overflow-x-auto">
            <table data-testid="items-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Custom id</th>
                  <th className="px-3 py-2">Status</th>
                  <th className="px-3 py-2 text-right">Attempts</th>
                  <th className="px-3 py-2">Output or error</th>
                  <th className="px-3 py-2">Finished</th>
                  <th className="px-4 py-2">Run</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {rows.map((item) => {
                  const preview = previewOf(item);
                  return (
                    <tr key={item.id} data-item-id={item.id} data-custom-id={item.customId} data-status={item.status} className="hover:bg-slate-50">
                      <td className="max-w-56 truncate px-4 py-2 font-mono text-[13px] text-slate-800" title={item.customId}>
                        {item.customId}
                      </td>
                      <td className="whitespace-nowrap px-3 py-2">
                        <StatusBadge status={item.status} />
                      </td>
                      <td className="px-3 py-2 text-right tabular-nums text-slate-700">{item.attempts}</td>
                      <td className="max-w-md px-3 py-2" data-testid="item-preview">
                        {preview ? (
                          <span title={preview.text} className={`block truncate font-mono text-xs ${preview.error ? "text-rose-700" : "text-slate-600"}`}>
                            {preview.text.length > PREVIEW_CHARS ? `${preview.text.slice(0, PREVIEW_CHARS)}…` : preview.text}
                          </span>
                        ) : (
                          <span className="text-xs text-slate-400">—</span>
                        )}
                      </td>
                      <td className="px-3 py-2 text-slate-600">{item.finishedAt ? <Timestamp value={item.finishedAt} /> : "—"}</td>
                      <td className="px-4 py-2">
                        {item.runId ? (
                          <Link
                            href={`/runs/${item.runId}`}
                            title={item.runId}
                            data-testid="item-run-link"
                            className="font-mono text-[13px] text-sky-700 hover:underline"
                          >
                            {shortId(item.runId)}
                          </Link>
                        ) : (
                          <span className="text-xs text-slate-400">not run yet</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )
      )}
      {total > ITEMS_PAGE && (
        <div className="flex items-center justify-center gap-3 border-t border-slate-100 py-2.5 text-xs text-slate-600">
          <Button size="sm" data-testid="items-prev" disabled={page === 0} onClick={() => setParams({ page: page > 1 ? String(page - 1) : "" })}>
            ← Previous
          </Button>
          <span data-testid="items-page" className="tabular-nums">
            {(page * ITEMS_PAGE + 1).toLocaleString("en-US")}–{Math.min(total, (page + 1) * ITEMS_PAGE).toLocaleString("en-US")} of{" "}
            {total.toLocaleString("en-US")} · page {page + 1} of {pages}
          </span>
          <Button size="sm" data-testid="items-next" disabled={page + 1 >= pages} onClick={() => setParams({ page: String(page + 1) })}>
            Next →
          </Button>
        </div>
      )}
    </Card>
  );
}
