"use client";
// Threads: every conversation of the workspace, newest activity first, with its agent, run
// count, latest run and its status; a page of 50 at a time (api/graphql/operations.ts
// threadSummaries). The agent filter and the page live in the URL. Refreshed when runs change.
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback } from "react";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select, StatusBadge } from "@/components/ui";
import { formatAgo, formatDateTime, shortId } from "@/lib/format";
import { useNow, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { NAV_AGENTS_QUERY, NAV_RUN_UPDATED_ALL, THREADS_QUERY } from "@/lib/queries-navigation";
import { present } from "@/lib/types";

const PAGE_SIZE = 50;

export default function ThreadsPage() {
  return (
    <Suspense fallback={<Loading />}>
      <Threads />
    </Suspense>
  );
}

function Threads() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const agent = params.get("agent") ?? "";
  const page = Math.max(0, Math.min(200, Number.parseInt(params.get("page") ?? "0", 10) || 0));
  const setParams = useCallback(
    (changes: Record<string, string>) => {
      const next = new URLSearchParams(params.toString());
      for (const [key, value] of Object.entries(changes)) {
        if (value) next.set(key, value);
        else next.delete(key);
      }
      router.replace(`${pathname}${next.size ? `?${next}` : ""}`);
    },
    [params, pathname, router],
  );
  const { data, error, loading, refetch } = useQuery(THREADS_QUERY, { first: PAGE_SIZE, offset: page * PAGE_SIZE, agentId: agent || null });
  const agents = useQuery(NAV_AGENTS_QUERY);
  const now = useNow(5000);
  // a run's change moves its thread up: refetch at most every 2 s
  const refresh = useThrottled(() => void refetch(), 2000);
  useSubscription(() => ({ query: NAV_RUN_UPDATED_ALL }), { next: () => refresh() }, "threads-live");
  const threads = present(data?.threadSummaries.nodes);

  return (
    <>
      <PageHeader
        title="Threads"
        subtitle="Conversations: each run on a thread continues it. Newest activity first."
        actions={
          <Select
            label="Agent"
            value={agent}
            onChange={(v) => setParams({ agent: v, page: "" })}
            testId="threads-filter-agent"
            options={[{ value: "", label: "All" }, ...present(agents.data?.allAgents?.nodes).map((a) => ({ value: a.id, label: a.name }))]}
          />
        }
      />
      <Card bodyClassName="">
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load threads" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={6} />
        ) : threads.length === 0 && !error ? (
          <Empty title={agent ? "No threads of this agent" : page > 0 ? "No more threads" : "No threads yet"}>
            A thread starts with a run (from an agent&apos;s page, the CLI, the API or SQL); continue it by starting a run with its thread id.
          </Empty>
        ) : (
          <div className="overflow-x-auto">
            <table data-testid="threads-table" className="w-full text-sm">
              <thead>
                <tr className="border-b border-slate-200 text-left text-[11px] font-semibold uppercase tracking-wide text-slate-500">
                  <th className="px-4 py-2">Thread</th>
                  <th className="px-3 py-2">First message</th>
                  <th className="px-3 py-2">Agent</th>
                  <th className="px-3 py-2 text-right">Runs</th>
                  <th className="px-3 py-2">Latest run</th>
                  <th className="px-4 py-2">Last activity</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {threads.map((t) => (
                  <tr
                    key={t.threadId}
                    data-thread-id={t.threadId}
                    data-testid="thread-row"
                    className="cursor-pointer hover:bg-slate-50"
                    onClick={(e) => {
                      if ((e.target as HTMLElement).closest("a")) return;
                      router.push(`/threads/${t.threadId}`);
                    }}
                  >
                    <td className="px-4 py-2">
                      <Link href={`/threads/${t.threadId}`} title={t.threadId} className="font-mono text-[13px] text-sky-700 hover:underline">
                        {shortId(t.threadId)}
                      </Link>
                    </td>
                    <td className="max-w-md truncate px-3 py-2 text-slate-700" title={t.title ?? undefined}>
                      {t.title ?? <span className="text-slate-400">—</span>}
                    </td>
                    <td className="px-3 py-2">
                      {t.agentId ? (
                        <Link href={`/agents/${t.agentId}`} className="text-slate-700 hover:text-sky-700 hover:underline">
                          {t.agentName ?? shortId(t.agentId)}
                        </Link>
                      ) : (
                        <span className="text-slate-400">—</span>
                      )}
                    </td>
                    <td className="px-3 py-2 text-right tabular-nums">
                      <Link href={`/runs?q=${t.threadId}`} title="the runs of this thread" className="text-slate-700 hover:text-sky-700 hover:underline">
                        {t.runCount}
                      </Link>
                    </td>
                    <td className="whitespace-nowrap px-3 py-2">
                      {t.latestRunId ? (
                        <span className="inline-flex items-center gap-2">
                          {t.latestRunStatus && <StatusBadge status={t.latestRunStatus} />}
                          <Link href={`/runs/${t.latestRunId}`} title={t.latestRunId} className="font-mono text-[13px] text-sky-700 hover:underline">
                            {shortId(t.latestRunId)}
                          </Link>
                        </span>
                      ) : (
                        <span className="text-slate-400">no run</span>
                      )}
                    </td>
                    <td className="whitespace-nowrap px-4 py-2 text-slate-600" title={formatDateTime(t.lastActivityAt)}>
                      {formatAgo(t.lastActivityAt, now)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {(page > 0 || data?.threadSummaries.hasNextPage) && (
          <div className="flex items-center justify-center gap-3 border-t border-slate-100 py-2.5 text-xs text-slate-500">
            <Button size="sm" disabled={page === 0} onClick={() => setParams({ page: page > 1 ? String(page - 1) : "" })}>
              ← Newer
            </Button>
            <span data-testid="threads-page">page {page + 1}</span>
            <Button size="sm" disabled={!data?.threadSummaries.hasNextPage} onClick={() => setParams({ page: String(page + 1) })}>
              Older →
            </Button>
          </div>
        )}
      </Card>
    </>
  );
}
