"use client";
// Runs: the live table. Filters live in the URL (status, agent, version, error code, a time window
// or an absolute from/to range on created or finished time, a search), so a filtered view can be
// linked (the dashboard's charts do); rows arrive and change through the runUpdated subscription
// (every run's changes, each step's commit included: a running run's progress report moves in its
// row's Progress cell as it is reported), never by polling. Rows can be selected for bulk cancel / approve /
// reject, confirmed with the count, the ids and a reason (components/BulkActions.tsx).
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { BulkActions, type BulkTarget } from "@/components/BulkActions";
import { RunsTable, type RowSelection } from "@/components/RunsTable";
import { Button, Card, Empty, ErrorBox, Loading, PageHeader, Select } from "@/components/ui";
import { gql, WATCH_STARTED } from "@/lib/graphql";
import { isBefore, isUuid } from "@/lib/format";
import { useConnectionState, useQuery, useSubscription } from "@/lib/hooks";
import { NAV_AGENTS_QUERY, NAV_RUN_UPDATED_ALL, NAV_RUNS_QUERY } from "@/lib/queries-navigation";
import type { RunCondition, NavRunRowFieldsFragment as RunRow } from "@/lib/gql/graphql";
import { present, RUN_STATUSES, runErrorOf } from "@/lib/types";

const PAGE_SIZE = 50;
/** How far back a text search looks (api/graphql/conditions.ts RUN_SEARCH_WINDOW_DAYS). */
const SEARCH_WINDOW_DAYS = 30;
/** Suggestions for the error filter (any code may be typed: error.code of a failed run). */
const ERROR_CODES = [
  "bad_request",
  "rate_limit",
  "timeout",
  "server_error",
  "network_error",
  "provider_error",
  "invalid_agent_config",
  "missing_secret",
  "egress_refused",
  "cancelled",
];
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
  const version = agent ? (params.get("version") ?? "") : "";
  const errorCode = params.get("error") ?? "";
  const timeWindow = params.get("window") ?? "";
  const from = validInstant(params.get("from"));
  const to = validInstant(params.get("to"));
  const byFinished = params.get("by") === "finished";
  const q = params.get("q") ?? "";
  const [search, setSearch] = useState(q);
  useEffect(() => setSearch(q), [q]);

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
  const setParam = useCallback((key: string, value: string) => setParams({ [key]: value }), [setParams]);

  const term = q.trim();
  const idSearch = isUuid(term) ? term.toLowerCase() : "";
  const textSearch = !idSearch && term ? term : "";
  const searchTooShort = textSearch.length > 0 && textSearch.length < 3;
  // the window's start is fixed when the filter is chosen: new runs always fall inside it
  const createdAfter = useMemo(() => {
    const w = WINDOWS.find((x) => x.value === timeWindow);
    return w && w.seconds ? new Date(Date.now() - w.seconds * 1000).toISOString() : null;
  }, [timeWindow]);
  const condition = useMemo(() => {
    const c: RunCondition = {};
    if (status) c.status = status;
    if (agent) c.agentId = agent;
    if (version) c.agentVersion = Number(version);
    if (errorCode) c.errorCode = errorCode;
    if (createdAfter) c.createdAfter = createdAfter;
    if (byFinished) {
      if (from) c.finishedAfter = from;
      if (to) c.finishedBefore = to;
    } else {
      if (from) c.createdAfter = createdAfter && createdAfter > from ? createdAfter : from;
      if (to) c.createdBefore = to;
    }
    if (term && !searchTooShort) c.search = term;
    return c;
  }, [status, agent, version, errorCode, createdAfter, byFinished, from, to, term, searchTooShort]);

  const { data, error, loading, setData, refetch } = useQuery(NAV_RUNS_QUERY, { condition, first: PAGE_SIZE }, { skip: searchTooShort });
  const agents = useQuery(NAV_AGENTS_QUERY);
  const [flash, setFlash] = useState<Map<string, number>>(() => new Map());
  const [moreError, setMoreError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  // A changed run stays or appears only if it passes the filters; a text search needs the run's
  // input, which rows do not carry: then only the rows shown are updated.
  const matches = useCallback(
    (run: RunRow) => {
      if (status && run.status !== status) return false;
      if (agent && run.agentId !== agent) return false;
      if (version && run.agentVersion !== Number(version)) return false;
      if (errorCode && runErrorOf(run.error)?.code !== errorCode) return false;
      if (createdAfter && run.createdAt < createdAfter) return false;
      const t = byFinished ? run.finishedAt : run.createdAt;
      if ((from || to) && !t) return false;
      if (from && t && Date.parse(t) < Date.parse(from)) return false;
      if (to && t && Date.parse(t) >= Date.parse(to)) return false;
      if (idSearch && run.id !== idSearch && run.threadId !== idSearch && run.parentRunId !== idSearch) return false;
      return true;
    },
    [status, agent, version, errorCode, createdAfter, byFinished, from, to, idSearch],
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
        if (!matches(run) || textSearch) continue;
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
  }, [matches, setData, textSearch]);
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );

  useSubscription(
    () => ({ query: NAV_RUN_UPDATED_ALL }),
    {
      next: ({ runUpdated }) => {
        // the watch is live (first message, and again after a reconnect): a run started between
        // the list's read and now reached neither, so read the list again
        if (runUpdated?.runId === WATCH_STARTED) return void refetch();
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
      const more = await gql(NAV_RUNS_QUERY, { condition, first: PAGE_SIZE, after: data.allRuns.pageInfo.endCursor });
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

  const rows = useMemo(() => (searchTooShort ? [] : present(data?.allRuns?.nodes)), [data, searchTooShort]);
  const active = rows.filter((r) => ["queued", "running", "waiting"].includes(r.status)).length;
  const filtered = Boolean(status || agent || errorCode || timeWindow || from || to || q);
  const agentNodes = present(agents.data?.allAgents?.nodes);
  const agentVersions = agentNodes.find((a) => a.id === agent)?.version ?? 0;
  const connection = useConnectionState();
  const [selectedIds, setSelectedIds] = useState<ReadonlySet<string>>(() => new Set());
  const selection: RowSelection = useMemo(
    () => ({
      selected: selectedIds,
      toggle: (id) =>
        setSelectedIds((s) => {
          const next = new Set(s);
          if (next.has(id)) next.delete(id);
          else next.add(id);
          return next;
        }),
      toggleAll: (ids, on) =>
        setSelectedIds((s) => {
          const next = new Set(s);
          for (const id of ids) {
            if (on) next.add(id);
            else next.delete(id);
          }
          return next;
        }),
    }),
    [selectedIds],
  );
  // the selection holds rows shown: the status each action checks is the row's live one
  const selectedRows: BulkTarget[] = rows.filter((r) => selectedIds.has(r.id)).map((r) => ({ id: r.id, status: r.status }));

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
            onChange={(v) => setParams({ agent: v, version: "" })}
            testId="filter-agent"
            options={[{ value: "", label: "All" }, ...agentNodes.map((a) => ({ value: a.id, label: a.name }))]}
          />
          {agent && (
            <Select
              label="Version"
              value={version}
              onChange={(v) => setParam("version", v)}
              testId="filter-version"
              options={[
                { value: "", label: "All" },
                ...Array.from({ length: agentVersions }, (_, i) => agentVersions - i).map((v) => ({ value: String(v), label: `v${v}` })),
              ]}
            />
          )}
          <ErrorCodeFilter value={errorCode} onChange={(v) => setParam("error", v)} />
          <Select
            label="Time"
            value={timeWindow}
            onChange={(v) => setParam("window", v)}
            testId="filter-time"
            options={WINDOWS.map((w) => ({ value: w.value, label: w.label }))}
          />
          <DateRange
            from={from}
            to={to}
            byFinished={byFinished}
            onChange={(f, t, finished) => setParams({ from: f ?? "", to: t ?? "", by: finished ? "finished" : "" })}
          />
          <form onSubmit={onSearch} className="ml-auto flex items-center gap-1.5">
            <input
              data-testid="search-id"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              placeholder="Id (run, thread, parent) or input text"
              title={`A whole run, thread or parent run id; or text in the run's input (runs of the last ${SEARCH_WINDOW_DAYS} days)`}
              spellCheck={false}
              className="w-80 rounded-md border border-slate-300 px-2 py-1 font-mono text-xs shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
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
        {(textSearch || idSearch) && (
          <p data-testid="search-note" className="border-b border-slate-100 bg-slate-50 px-4 py-1.5 text-xs text-slate-500">
            {searchTooShort ? (
              <span className="text-rose-700">Type at least 3 characters to search the runs&apos; input, or paste a whole run or thread id.</span>
            ) : idSearch ? (
              <>
                Runs with id, thread or parent run <span className="font-mono">{idSearch}</span>.
              </>
            ) : (
              <>
                Runs whose input contains <span className="font-mono">“{textSearch}”</span>, among the runs of the last {SEARCH_WINDOW_DAYS} days (older runs
                are not searched by text: find them by id or a date range). New matches appear when you search again.
              </>
            )}
          </p>
        )}
        <BulkActions
          selected={selectedRows}
          actions={["cancel", "approve", "reject"]}
          onDone={() => {
            setSelectedIds(new Set());
            void refetch();
          }}
          onClear={() => setSelectedIds(new Set())}
        />
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
          rows.length > 0 && <RunsTable runs={rows} flash={flash} selection={selection} />
        )}
        {data?.allRuns?.pageInfo.hasNextPage && (
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

function validInstant(value: string | null): string | null {
  if (!value) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** An ISO instant as the value of a datetime-local input (the browser's time zone). */
function toLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** An absolute from/to range on the runs' created (or finished) time, in the browser's time zone; kept in the URL as UTC. */
function DateRange({
  from,
  to,
  byFinished,
  onChange,
}: {
  from: string | null;
  to: string | null;
  byFinished: boolean;
  onChange: (from: string | null, to: string | null, byFinished: boolean) => void;
}) {
  const asIso = (local: string) => (local ? new Date(local).toISOString() : null);
  const input =
    "rounded-md border border-slate-300 bg-white px-1.5 py-0.5 text-xs text-slate-800 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500";
  return (
    <div className="flex items-center gap-1.5 text-xs font-medium text-slate-500" data-testid="filter-range">
      <select
        aria-label="Range applies to"
        data-testid="filter-range-by"
        value={byFinished ? "finished" : "created"}
        onChange={(e) => onChange(from, to, e.target.value === "finished")}
        className={input}
      >
        <option value="created">Created</option>
        <option value="finished">Finished</option>
      </select>
      <span>from</span>
      <input
        type="datetime-local"
        aria-label="from"
        data-testid="filter-from"
        value={toLocalInput(from)}
        onChange={(e) => onChange(asIso(e.target.value), to, byFinished)}
        className={input}
      />
      <span>to</span>
      <input
        type="datetime-local"
        aria-label="to"
        data-testid="filter-to"
        value={toLocalInput(to)}
        onChange={(e) => onChange(from, asIso(e.target.value), byFinished)}
        className={input}
      />
    </div>
  );
}

/** The error code filter: typed (with suggestions), applied on Enter or when the field loses focus. */
function ErrorCodeFilter({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const apply = () => {
    const v = text.trim();
    if (v !== value) onChange(v);
  };
  return (
    <label className="flex items-center gap-1.5 text-xs font-medium text-slate-500">
      Error
      <input
        data-testid="filter-error"
        list="error-codes"
        value={text}
        placeholder="any code"
        spellCheck={false}
        onChange={(e) => setText(e.target.value)}
        onBlur={apply}
        onKeyDown={(e) => {
          if (e.key === "Enter") {
            e.preventDefault();
            apply();
          }
        }}
        className="w-32 rounded-md border border-slate-300 bg-white px-2 py-1 font-mono text-xs text-slate-800 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
      />
      <datalist id="error-codes">
        {ERROR_CODES.map((c) => (
          <option key={c} value={c} />
        ))}
      </datalist>
    </label>
  );
}
