"use client";
// Batches (issue 15): every batch of the workspace, newest first, with its progress (a bar of
// its items by status, done of total), its rate, ETA and cost so far; filtered by status (kept in
// the URL). A batch's progress is not pushed workspace-wide (batchProgress follows one batch), so
// the list is read again every few seconds while it shows an unfinished batch, like the workers
// page; "Load more" grows the page read (the poll reads all of it).
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useState } from "react";
import { BATCH_STATUSES, BatchProgressBar, BatchStatusBadge, countsOf, formatEta, formatRate, isBatchActive } from "@/components/BatchProgress";
import { Button, Card, Cost, Empty, ErrorBox, Loading, PageHeader, Select, Timestamp } from "@/components/ui";
import { shortId } from "@/lib/format";
import { useQuery } from "@/lib/hooks";
import type { BatchCondition } from "@/lib/gql/graphql";
import { present } from "@/lib/types";
import { BATCHES_QUERY } from "./queries";

const PAGE_SIZE = 50;
/** How often the list is read again while a batch shown has not ended. */
const POLL_MS = 3000;
/** ... and when every batch shown has ended (one may have been created meanwhile). */
const IDLE_POLL_MS = 15_000;

export default function BatchesPage() {
  return (
    <Suspense fallback={<Loading />}>
      <Batches />
    </Suspense>
  );
}

function Batches() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const status = params.get("status") ?? "";
  const [limit, setLimit] = useState(PAGE_SIZE);
  useEffect(() => setLimit(PAGE_SIZE), [status]);
  const setParam = useCallback(
    (key: string, value: string) => {
      const next = new URLSearchParams(params.toString());
      if (value) next.set(key, value);
      else next.delete(key);
      router.replace(`${pathname}${next.size ? `?${next}` : ""}`);
    },
    [params, pathname, router],
  );

  const condition: BatchCondition = status ? { status } : {};
  const { data, error, loading, refetch } = useQuery(BATCHES_QUERY, { condition, first: limit });
  const rows = present(data?.batches?.nodes);
  const active = rows.filter((b) => isBatchActive(b.status)).length;
  const pollMs = active > 0 ? POLL_MS : IDLE_POLL_MS;
  useEffect(() => {
    const timer = setInterval(() => void refetch(), pollMs);
    return () => clearInterval(timer);
  }, [refetch, pollMs]);

  return (
    <>
      <PageHeader
        title="Batches"
        subtitle={
          data?.batches ? (
            <span data-testid="batches-summary">
              {data.batches.totalCount.toLocaleString("en-US")} batch{data.batches.totalCount === 1 ? "" : "es"}
              {status ? " match" : ""} · {active} active · refreshed every {pollMs / 1000} s
            </span>
          ) : (
            "Items run through one agent, at most so many at once"
          )
        }
      />
      <Card bodyClassName="">
        <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 px-4 py-2.5">
          <Select
            label="Status"
            value={status}
            onChange={(v) => setParam("status", v)}
            testId="batches-filter-status"
            options={[{ value: "", label: "All" }, ...BATCH_STATUSES.map((s) => ({ value: s, label: s.replaceAll("_", " ") }))]}
          />
        </div>
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load batches" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={5} />
        ) : rows.length === 0 && !error ? (
          <Empty title={status ? "No batches with this status" : "No batches yet"}>
            {status ? (
              "Choose another status, or All."
            ) : (
              <>
                Create one with <span className="font-mono">everruns batch run &lt;agent&gt; items.jsonl</span>,{" "}
                <span className="font-mono">POST /api/batches</span>, the GraphQL <span className="font-mono">createBatch</span> or SQL (
                <span className="font-mono">everruns.start_batch</span>).
              </>
            )}
          </Empty>
        ) : (
          rows.length > 0 && (
            <div className="overflow-x-auto">
              <table data-testid="batches-table" className="w-full text-sm">
                <thead>
                  <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                    <th className="px-4 py-2">Batch</th>
                    <th className="px-3 py-2">Agent</th>
                    <th className="px-3 py-2">Status</th>
                    <th className="w-1/5 px-3 py-2">Progress</th>
                    <th className="px-3 py-2 text-right">Done</th>
                    <th className="px-3 py-2 text-right">Rate</th>
                    <th className="px-3 py-2">ETA</th>
                    <th className="px-3 py-2 text-right">Cost</th>
                    <th className="px-4 py-2">Created</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {rows.map((batch) => {
                    const counts = countsOf(batch.progress);
                    const active = isBatchActive(batch.status);
                    return (
                      <tr
                        key={batch.id}
                        data-batch-id={batch.id}
                        data-status={batch.status}
                        onClick={(e) => {
                          if ((e.target as HTMLElement).closest("a")) return;
                          router.push(`/batches/${batch.id}`);
                        }}
                        className="cursor-pointer hover:bg-slate-50"
                      >
                        <td className="px-4 py-2">
                          <Link href={`/batches/${batch.id}`} title={batch.id} data-testid="batch-link" className="text-sky-700 hover:underline">
                            {batch.name ? (
                              <span className="font-medium">{batch.name}</span>
                            ) : (
                              <span className="font-mono text-[13px]">{shortId(batch.id)}</span>
                            )}
                          </Link>
                          {batch.name && <span className="ml-1.5 font-mono text-[11px] text-slate-400">{shortId(batch.id)}</span>}
                        </td>
                        <td className="px-3 py-2">
                          <Link href={`/agents/${batch.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                            {batch.agentByAgentId?.name ?? shortId(batch.agentId)}
                          </Link>
                          <span className="ml-1 rounded bg-slate-100 px-1 text-[11px] tabular-nums text-slate-500">v{batch.agentVersion}</span>
                        </td>
                        <td className="whitespace-nowrap px-3 py-2" data-testid="batch-row-status">
                          <BatchStatusBadge status={batch.status} />
                        </td>
                        <td className="px-3 py-2">
                          <BatchProgressBar counts={counts} />
                        </td>
                        <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700" data-testid="batch-row-done">
                          {counts.done.toLocaleString("en-US")} / {counts.total.toLocaleString("en-US")}
                          {counts.failed > 0 && (
                            <span className="ml-1 text-[11px] text-rose-700" title={`${counts.failed} failed`}>
                              ({counts.failed.toLocaleString("en-US")} failed)
                            </span>
                          )}
                        </td>
                        <td className="whitespace-nowrap px-3 py-2 text-right tabular-nums text-slate-700" data-testid="batch-row-rate">
                          {active || counts.itemsPerMinute ? formatRate(counts.itemsPerMinute) : "—"}
                        </td>
                        <td className="whitespace-nowrap px-3 py-2 text-slate-700" data-testid="batch-row-eta">
                          {batch.status === "running" ? (
                            formatEta(counts.etaSeconds)
                          ) : batch.status === "paused" ? (
                            <span className="text-amber-800">paused</span>
                          ) : (
                            "—"
                          )}
                        </td>
                        <td className="px-3 py-2 text-right text-slate-700">
                          <Cost usd={counts.costUsd} />
                        </td>
                        <td className="px-4 py-2 text-slate-600">
                          <Timestamp value={batch.createdAt} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        )}
        {data?.batches?.pageInfo.hasNextPage && (
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
