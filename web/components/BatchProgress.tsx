"use client";
// What the Batches list and a batch's page share: the batch status badge (a batch has two
// statuses a run has not: paused and completed_with_errors), the progress bar (one segment per
// item status, in proportion), and the numbers of a batch's progress as numbers (the API sends
// its counters as BigInt strings and its cost as a BigFloat string).
import { formatNumber } from "@/lib/format";
import type { BatchProgressFieldsFragment } from "@/lib/gql/graphql";
import { STATUS_COLORS, StatusBadge } from "./ui";

export const BATCH_STATUSES = ["queued", "running", "paused", "succeeded", "completed_with_errors", "failed", "cancelled"] as const;
export const BATCH_ITEM_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
/** Statuses a batch leaves by itself or by a control: it has not ended. */
const ACTIVE_BATCH_STATUSES: readonly string[] = ["queued", "running", "paused"];
export const isBatchActive = (status: string) => ACTIVE_BATCH_STATUSES.includes(status);

const BATCH_BADGES: Record<string, { badge: string; dot: string; label: string }> = {
  paused: { badge: "bg-amber-50 text-amber-900 ring-amber-300", dot: "bg-amber-500", label: "paused" },
  completed_with_errors: { badge: "bg-orange-50 text-orange-900 ring-orange-300", dot: "bg-orange-500", label: "completed with errors" },
};

export function BatchStatusBadge({ status }: { status: string }) {
  const own = BATCH_BADGES[status];
  if (!own) return <StatusBadge status={status} />;
  return (
    <span data-status={status} className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${own.badge}`}>
      <span className={`h-1.5 w-1.5 rounded-full ${own.dot}`} />
      {own.label}
    </span>
  );
}

export interface BatchCounts {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** succeeded + failed + cancelled */
  done: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  itemsPerMinute: number | null;
  etaSeconds: number | null;
}

const num = (value: string | number | null | undefined): number => {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
};

/** A batch's progress as numbers (zeros while the API has none). */
export function countsOf(progress: BatchProgressFieldsFragment | null | undefined): BatchCounts {
  const succeeded = num(progress?.succeeded);
  const failed = num(progress?.failed);
  const cancelled = num(progress?.cancelled);
  return {
    total: num(progress?.total),
    queued: num(progress?.queued),
    running: num(progress?.running),
    succeeded,
    failed,
    cancelled,
    done: succeeded + failed + cancelled,
    inputTokens: num(progress?.inputTokens),
    outputTokens: num(progress?.outputTokens),
    costUsd: num(progress?.costUsd),
    itemsPerMinute: progress?.itemsPerMinute ?? null,
    etaSeconds: progress?.etaSeconds ?? null,
  };
}

/** The ETA as people say it: "< 1 min", "about 12 min", "about 3 h 20 min", "about 2 d 4 h". */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 60) return "< 1 min";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `about ${hours} h${minutes % 60 ? ` ${minutes % 60} min` : ""}`;
  const days = Math.floor(hours / 24);
  return `about ${days} d${hours % 24 ? ` ${hours % 24} h` : ""}`;
}

/** Items per minute: "12.5/min", "—" when nothing finished lately. */
export function formatRate(perMinute: number | null | undefined): string {
  if (perMinute == null || !Number.isFinite(perMinute)) return "—";
  if (perMinute === 0) return "0/min";
  return `${perMinute >= 100 ? formatNumber(Math.round(perMinute)) : perMinute.toFixed(perMinute >= 10 ? 0 : 1)}/min`;
}

const SEGMENTS = ["succeeded", "failed", "cancelled", "running", "queued"] as const;

/**
 * The progress bar: succeeded, failed, cancelled, running and queued items in proportion to the
 * total (each segment titled with its count). `size`: "sm" in the list, "lg" on a batch's page.
 */
export function BatchProgressBar({ counts, size = "sm", testId = "batch-progress-bar" }: { counts: BatchCounts; size?: "sm" | "lg"; testId?: string }) {
  const total = Math.max(counts.total, 1);
  const height = size === "lg" ? "h-3" : "h-2";
  const title = SEGMENTS.map((s) => `${counts[s].toLocaleString("en-US")} ${s}`).join(" · ");
  return (
    <div
      data-testid={testId}
      data-total={counts.total}
      data-done={counts.done}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={counts.total}
      aria-valuenow={counts.done}
      aria-label={`${counts.done} of ${counts.total} items done`}
      title={title}
      className={`flex w-full overflow-hidden rounded-full bg-slate-100 ${height} ${size === "sm" ? "min-w-28" : ""}`}
    >
      {SEGMENTS.map((s) =>
        counts[s] > 0 ? (
          <span
            key={s}
            data-segment={s}
            data-count={counts[s]}
            className={`block h-full ${s === "running" ? "animate-pulse" : ""}`}
            style={{ width: `${(counts[s] / total) * 100}%`, minWidth: 2, background: s === "queued" ? "#cbd5e1" : STATUS_COLORS[s] }}
          />
        ) : null,
      )}
    </div>
  );
}
