"use client";
// Runs: the live table. Filters live in the URL; rows arrive and change through the
// runUpdated subscription (every run's changes), never by polling.
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { RunsTable } from "@/components/RunsTable";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select } from "@/components/ui";
import { gql } from "@/lib/graphql";
import { isBefore, isUuid } from "@/lib/format";
import { useConnectionState, useQuery, useSubscription } from "@/lib/hooks";
import { AGENT_NAMES_QUERY, RUN_UPDATED_ALL, RUNS_QUERY } from "@/lib/queries";
import type { RunCondition, RunRowFieldsFragment as RunRow } from "@/lib/gql/graphql";
import { present, RUN_STATUSES } from "@/lib/types";

const PAGE_SIZE = 50;
const WINDOWS: Array<{ value: string; label: string; seconds: number }> = [
  { value: "", label: "Any time", seconds: 0 },
  { value: "15m", label: "Last 15 min", seconds: 900 },
  { value: "1h", label: "Last hour", seconds: 3600 },
  { value: "24h", label: "Last 24 h", seconds: 86400 },
  { value: "7d", label: "Last 7 days", seconds: 7 * 86400 },
];

export default function RunsPage() {
  return (
    <Suspense fallback={<Loading />}>
      <Runs />
    </Suspense>
  );
}

function Runs() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const status = params.get("status") ?? "";
  const agent = params.get("agent") ?? "";
  const timeWindow = params.get("window") ?? "";
  const q = params.get("q") ?? "";
  const [search, setSearch] = useState(q);
  useEffect(() => setSearch(q), [q]);

  const setParam = useCallback(
    (key: string, value: string) => {
      const next = new URLSearchParams(params.toString());
      if (value) next.set(key, value);
      else next.delete(key);
      router.replace(`${pathname}${next.size ? `?${next}` : ""}`);
    },
    [params, pathname, router],
  );

  const idFilter = isUuid(q) ? q.trim().toLowerCase() : "";
  const prefix = !idFilter && q ? q.trim().toLowerCase() : "";
  // the window's start is fixed when the filter is chosen: new runs always fall inside it
  const createdAfter = useMemo(() => {
    const w = WINDOWS.find((x) => x.value === timeWindow);
    return w && w.seconds ? new Date(Date.now() - w.seconds * 1000).toISOString() : null;
  }, [timeWindow]);
  const condition = useMemo(() => {
    const c: RunCondition = {};
    if (status) c.status = status;
    if (agent) c.agentId = agent;
    if (createdAfter) c.createdAfter = createdAfter;
    if (idFilter) c.id = idFilter;
    return c;
  }, [status, agent, createdAfter, idFilter]);

  const { data, error, loading, setData, refetch } = useQuery(RUNS_QUERY, { condition, first: PAGE_SIZE });
  const agents = useQuery(AGENT_NAMES_QUERY);
  const [flash, setFlash] = useState<Map<string, number>>(() => new Map());
  const [moreError, setMoreError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  const matches = useCallback(
    (run: RunRow) =>
      (!status || run.status === status) &&
      (!agent || run.agentId === agent) &&
      (!createdAfter || run.createdAt >= createdAfter) &&
      (!idFilter || run.id === idFilter),
    [status, agent, createdAfter, idFilter],
  );

  // Updates are applied once per animation frame: under load (a benchmark, a burst of SQL
  // inserts) hundreds of runs change a second, and the table re-renders at most 60 times.
  const pending = useRef(new Map<string, RunRow>());
  const frame = useRef<number | null>(null);
  const flush = useCallback(() => {
    frame.current = null;
    const batch = [...pending.current.values()];
    pending.current.clear();
    if (batch.length === 0) return;
    setData((d) => {
      if (!d?.allRuns) return d;
      let { totalCount } = d.allRuns;
      const nodes = present(d.allRuns.nodes);
      for (const run of batch) {
        const idx = nodes.findIndex((n) => n.id === run.id);
        if (idx >= 0) {
          if (isBefore(run.updatedAt, nodes[idx]!.updatedAt)) continue; // older than what is shown
          if (matches(run)) nodes[idx] = run;
          else {
            nodes.splice(idx, 1);
            totalCount--;
          }
          continue;
        }
        if (!matches(run)) continue;
        // newest first: a new run lands above the first row created before it; one older than
        // every row shown belongs to a later page
        const at = nodes.findIndex((n) => n.createdAt < run.createdAt);
        if (at < 0 && d.allRuns.pageInfo.hasNextPage) continue;
        nodes.splice(at < 0 ? nodes.length : at, 0, run);
        totalCount++;
      }
      return { allRuns: { ...d.allRuns, totalCount, nodes } };
    });
    setFlash((f) => {
      const next = new Map(f.size > 500 ? [] : f);
      for (const run of batch) next.set(run.id, (next.get(run.id) ?? 0) + 1);
      return next;
    });
  }, [matches, setData]);
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  useSubscription(
    () => ({ query: RUN_UPDATED_ALL }),
    {
      next: ({ runUpdated }) => {
        const run = runUpdated?.run;
        if (!run) return;
        const queued = pending.current.get(run.id);
        if (!queued || !isBefore(run.updatedAt, queued.updatedAt)) pending.current.set(run.id, run);
        frame.current ??= requestAnimationFrame(flush);
      },
    },
    "runs-live",
  );

  const loadMore = async () => {
    if (!data?.allRuns?.pageInfo.endCursor) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const more = await gql(RUNS_QUERY, { condition, first: PAGE_SIZE, after: data.allRuns.pageInfo.endCursor });
      setData((d) => {
        if (!d?.allRuns || !more.allRuns) return more;
        const shown = present(d.allRuns.nodes);
        const seen = new Set(shown.map((n) => n.id));
        return { allRuns: { ...more.allRuns, nodes: [...shown, ...present(more.allRuns.nodes).filter((n) => !seen.has(n.id))] } };
      });
    } catch (e) {
      setMoreError((e as Error).message);
    } finally {
      setLoadingMore(false);
    }
  };

  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    setParam("q", search.trim());
  };

  const rows = useMemo(() => present(data?.allRuns?.nodes).filter((r) => !prefix || r.id.startsWith(prefix)), [data, prefix]);
  const active = rows.filter((r) => ["queued", "running", "waiting"].includes(r.status)).length;
  const filtered = Boolean(status || agent || timeWindow || q);
  const connection = useConnectionState();

  return (
    <>
      <PageHeader
        title="Runs"
        subtitle={
          data?.allRuns ? (
            <span data-testid="runs-summary">
              {data.allRuns.totalCount.toLocaleString("en-US")} run{data.allRuns.totalCount === 1 ? "" : "s"}
              {filtered ? " match" : ""} · {active} active ·{" "}
              {connection === "online" ? (
                <>
                  live
                  <span className="ml-1.5 inline-block h-1.5 w-1.5 animate-pulse rounded-full bg-emerald-500 align-middle" />
                </>
              ) : (
                <span className="text-rose-700">updates paused</span>
              )}
            </span>
          ) : (
            "Every run, live"
          )
        }
      />
      <Card bodyClassName="">
        <div className="flex flex-wrap items-center gap-3 border-b border-slate-100 px-4 py-2.5">
          <Select
            label="Status"
            value={status}
            onChange={(v) => setParam("status", v)}
            testId="filter-status"
            options={[{ value: "", label: "All" }, ...RUN_STATUSES.map((s) => ({ value: s, label: s }))]}
          />
          <Select
            label="Agent"
            value={agent}
            onChange={(v) => setParam("agent", v)}
            testId="filter-agent"
            options={[{ value: "", label: "All" }, ...present(agents.data?.allAgents?.nodes).map((a) => ({ value: a.id, label: a.name }))]}
          />
          <Select
            label="Time"
            value={timeWindow}
            onChange={(v) => setParam("window", v)}
            testId="filter-time"
            options={WINDOWS.map((w) => ({ value: w.value, label: w.label }))}
          />
          <form onSubmit={onSearch} className="ml-auto flex items-center gap-1.5">
            <input
              data-testid="search-id"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              placeholder="Search by run id"
              spellCheck={false}
              className="w-72 rounded-md border border-slate-300 px-2 py-1 font-mono text-xs shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
            />
            <Button type="submit" size="sm">
              Search
            </Button>
            {filtered && (
              <Button size="sm" variant="ghost" onClick={() => router.replace(pathname)}>
                Clear
              </Button>
            )}
          </form>
        </div>
        {prefix && (
          <p className="border-b border-slate-100 bg-slate-50 px-4 py-1.5 text-xs text-slate-500">
            Showing loaded runs whose id starts with <span className="font-mono">{prefix}</span>; paste a whole run id to search every run.
          </p>
        )}
        {error && !(error.unreachable && data) && (
          <div className="p-4">
            <ErrorBox error={error} title="Could not load runs" onRetry={() => void refetch()} />
          </div>
        )}
        {loading && !data ? (
          <Loading rows={6} />
        ) : rows.length === 0 && !error ? (
          <Empty title={filtered ? "No runs match these filters" : "No runs yet"}>
            {filtered
              ? "Change the filters, or wait: new runs that match appear here as they start."
              : "Start one from an agent's page, the CLI, the API or a SQL insert; it appears here at once."}
          </Empty>
        ) : (
          rows.length > 0 && <RunsTable runs={rows} flash={flash} />
        )}
        {data?.allRuns?.pageInfo.hasNextPage && !prefix && (
          <div className="flex items-center justify-center gap-3 border-t border-slate-100 py-2.5">
            <Button size="sm" onClick={() => void loadMore()} disabled={loadingMore}>
              {loadingMore ? "Loading…" : `Load ${PAGE_SIZE} more`}
            </Button>
            {moreError && <span className="text-xs text-rose-700">{moreError}</span>}
          </div>
        )}
      </Card>
    </>
  );
}
