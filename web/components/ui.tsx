"use client";
// Small building blocks shared by every page: badges, cards, headers, the loading, empty and
// error states, buttons.
import Link from "next/link";
import type { ReactNode } from "react";
import { formatCost, formatCostExact, formatInstant, formatTimestamp, shortId } from "@/lib/format";
import { useNow } from "@/lib/hooks";
import { usePermission, type Role } from "@/lib/session";

const STATUS_STYLES: Record<string, { badge: string; dot: string }> = {
  queued: { badge: "bg-slate-100 text-slate-700 ring-slate-300", dot: "bg-slate-400" },
  running: { badge: "bg-sky-50 text-sky-800 ring-sky-300", dot: "bg-sky-500 animate-pulse" },
  waiting: { badge: "bg-violet-50 text-violet-800 ring-violet-300", dot: "bg-violet-500" },
  interrupted: { badge: "bg-amber-50 text-amber-900 ring-amber-300", dot: "bg-amber-500" },
  succeeded: { badge: "bg-emerald-50 text-emerald-800 ring-emerald-300", dot: "bg-emerald-500" },
  failed: { badge: "bg-rose-50 text-rose-800 ring-rose-300", dot: "bg-rose-500" },
  cancelled: { badge: "bg-zinc-100 text-zinc-600 ring-zinc-300", dot: "bg-zinc-400" },
};

export const STATUS_COLORS: Record<string, string> = {
  queued: "#94a3b8",
  running: "#0ea5e9",
  waiting: "#8b5cf6",
  interrupted: "#f59e0b",
  succeeded: "#10b981",
  failed: "#f43f5e",
  cancelled: "#a1a1aa",
};

export function StatusBadge({ status }: { status: string }) {
  const style = STATUS_STYLES[status] ?? STATUS_STYLES.queued!;
  return (
    <span data-status={status} className={`inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${style.badge}`}>
      <span className={`h-1.5 w-1.5 rounded-full ${style.dot}`} />
      {status}
    </span>
  );
}

const KIND_STYLES: Record<string, string> = {
  llm: "bg-indigo-50 text-indigo-700 ring-indigo-200",
  tool: "bg-teal-50 text-teal-700 ring-teal-200",
  wait: "bg-violet-50 text-violet-700 ring-violet-200",
  system: "bg-slate-100 text-slate-600 ring-slate-200",
  // a summary of the oldest turns, written to keep the context within its budget (docs/context.md)
  compaction: "bg-amber-50 text-amber-700 ring-amber-200",
};

export function KindBadge({ kind }: { kind: string }) {
  return (
    <span className={`inline-block rounded px-1.5 py-0.5 font-mono text-[11px] ring-1 ring-inset ${KIND_STYLES[kind] ?? KIND_STYLES.system}`}>{kind}</span>
  );
}

export function Card({
  title,
  actions,
  children,
  className = "",
  bodyClassName = "p-4",
  testId,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
  testId?: string;
}) {
  return (
    <section data-testid={testId} className={`rounded-lg border border-slate-200 bg-white shadow-sm ${className}`}>
      {(title || actions) && (
        <header className="flex items-center justify-between gap-3 border-b border-slate-100 px-4 py-2.5">
          <h2 className="text-sm font-semibold text-slate-800">{title}</h2>
          {actions && <div className="flex items-center gap-2">{actions}</div>}
        </header>
      )}
      <div className={bodyClassName}>{children}</div>
    </section>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-5 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="truncate text-xl font-semibold tracking-tight text-slate-900">{title}</h1>
        {subtitle && <div className="mt-0.5 text-sm text-slate-500">{subtitle}</div>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

export function Loading({ label = "Loading…", rows = 3 }: { label?: string; rows?: number }) {
  return (
    <div role="status" aria-live="polite" data-testid="loading" className="space-y-2 p-4">
      <span className="sr-only">{label}</span>
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="h-4 animate-pulse rounded bg-slate-100" style={{ width: `${90 - i * 15}%` }} />
      ))}
    </div>
  );
}

/**
 * An empty state. The icon is a still outline (an empty tray, or a "not found" magnifier): never
 * a ring or a pulse, which read as "still loading" at a glance.
 */
export function Empty({ title, children, icon = "empty" }: { title: string; children?: ReactNode; icon?: "empty" | "not-found" }) {
  return (
    <div data-testid="empty" className="flex flex-col items-center justify-center px-6 py-10 text-center">
      <EmptyIcon kind={icon} />
      <p className="text-sm font-medium text-slate-700">{title}</p>
      {children && <div className="mt-1 max-w-md text-sm text-slate-500">{children}</div>}
    </div>
  );
}

export function EmptyIcon({ kind, className = "mb-2 h-8 w-8" }: { kind: "empty" | "not-found"; className?: string }) {
  return (
    <svg
      data-testid={`icon-${kind}`}
      aria-hidden
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.5}
      strokeLinecap="round"
      strokeLinejoin="round"
      className={`${className} text-slate-400`}
    >
      {kind === "not-found" ? (
        <>
          {/* a magnifier with a cross: searched, nothing there */}
          <circle cx="10.5" cy="10.5" r="6" />
          <path d="M15 15l5.5 5.5M8.5 8.5l4 4M12.5 8.5l-4 4" />
        </>
      ) : (
        <>
          {/* an empty tray */}
          <path d="M3 13.5l2.6-7.2A1.5 1.5 0 0 1 7 5.3h10a1.5 1.5 0 0 1 1.4 1l2.6 7.2" />
          <path d="M3 13.5V18a1.5 1.5 0 0 0 1.5 1.5h15A1.5 1.5 0 0 0 21 18v-4.5h-5.2l-1.3 2.2h-5l-1.3-2.2H3z" />
        </>
      )}
    </svg>
  );
}

/**
 * A point in time as people read it: "5 min ago" (ticking), the full local and UTC instant on
 * hover. `value`: an ISO timestamp or epoch milliseconds (AG-UI events' `timestamp`).
 */
export function Timestamp({ value, className = "" }: { value: string | number | null | undefined; className?: string }) {
  const now = useNow(10_000);
  const iso = typeof value === "number" ? (Number.isFinite(value) ? new Date(value).toISOString() : undefined) : (value ?? undefined);
  return (
    <time data-testid="timestamp" dateTime={iso} title={formatInstant(value)} className={`whitespace-nowrap ${className}`}>
      {formatTimestamp(value, now)}
    </time>
  );
}

/** A cost in USD, formatted the one way (formatCost), the exact amount on hover. */
export function Cost({ usd, className = "" }: { usd: number | null | undefined; className?: string }) {
  return (
    <span data-testid="cost" title={formatCostExact(usd)} className={`tabular-nums ${className}`}>
      {formatCost(usd)}
    </span>
  );
}

export function ErrorBox({
  error,
  title = "Something went wrong",
  onRetry,
}: {
  error: { message: string } | string | null;
  title?: string;
  onRetry?: () => void;
}) {
  if (!error) return null;
  const message = typeof error === "string" ? error : error.message;
  return (
    <div role="alert" data-testid="error" className="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800">
      <div className="flex items-start justify-between gap-3">
        <div className="min-w-0">
          <p className="font-medium">{title}</p>
          <p className="mt-0.5 break-words font-mono text-xs">{message}</p>
        </div>
        {onRetry && (
          <button
            type="button"
            onClick={onRetry}
            className="shrink-0 rounded border border-rose-300 bg-white px-2 py-0.5 text-xs font-medium text-rose-700 hover:bg-rose-100"
          >
            Retry
          </button>
        )}
      </div>
    </div>
  );
}

type ButtonVariant = "primary" | "secondary" | "danger" | "success" | "ghost";
const BUTTON_STYLES: Record<ButtonVariant, string> = {
  primary: "bg-slate-900 text-white hover:bg-slate-700 disabled:bg-slate-400",
  secondary: "border border-slate-300 bg-white text-slate-700 hover:bg-slate-50 disabled:text-slate-400",
  danger: "bg-rose-600 text-white hover:bg-rose-500 disabled:bg-rose-300",
  success: "bg-emerald-600 text-white hover:bg-emerald-500 disabled:bg-emerald-300",
  ghost: "text-slate-600 hover:bg-slate-100 disabled:text-slate-300",
};

/**
 * A button. `needs`: the role its action needs (the API's rule, api/graphql/access.ts); a session
 * whose key's role is lower sees it disabled, with a tooltip naming the role needed.
 */
export function Button({
  variant = "secondary",
  size = "md",
  className = "",
  needs,
  ...props
}: React.ButtonHTMLAttributes<HTMLButtonElement> & { variant?: ButtonVariant; size?: "sm" | "md"; needs?: Role }) {
  const permission = usePermission(needs);
  const sizing = size === "sm" ? "px-2 py-1 text-xs" : "px-3 py-1.5 text-sm";
  const button = (
    <button
      type="button"
      className={`inline-flex items-center justify-center gap-1.5 rounded-md font-medium shadow-sm transition-colors disabled:cursor-not-allowed ${sizing} ${BUTTON_STYLES[variant]} ${className}`}
      {...props}
      {...(permission.allowed ? {} : { disabled: true, title: permission.reason ?? undefined, "aria-disabled": true, "data-needs-role": needs })}
    />
  );
  if (permission.allowed) return button;
  // a disabled button gets no pointer events in some browsers: the tooltip is on its wrapper too
  return (
    <span title={permission.reason ?? undefined} data-testid="role-gate" className="inline-flex cursor-not-allowed">
      {button}
    </span>
  );
}

export function IdLink({ href, id, full = false }: { href: string; id: string; full?: boolean }) {
  return (
    <Link href={href} title={id} className="font-mono text-[13px] text-sky-700 hover:text-sky-900 hover:underline">
      {full ? id : shortId(id)}
    </Link>
  );
}

export function Stat({ label, value, hint, testId }: { label: string; value: ReactNode; hint?: ReactNode; testId?: string }) {
  return (
    <div data-testid={testId} className="min-w-0">
      <div className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</div>
      <div className="mt-0.5 truncate text-2xl font-semibold tabular-nums text-slate-900">{value}</div>
      {hint && <div className="mt-0.5 truncate text-xs text-slate-500">{hint}</div>}
    </div>
  );
}

export function Select({
  label,
  value,
  onChange,
  options,
  testId,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: Array<{ value: string; label: string }>;
  testId?: string;
}) {
  return (
    <label className="flex items-center gap-1.5 text-xs font-medium text-slate-500">
      {label}
      <select
        data-testid={testId}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm font-normal text-slate-800 shadow-sm focus:border-sky-500 focus:outline-none focus:ring-1 focus:ring-sky-500"
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}
