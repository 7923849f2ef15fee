"use client";
// The frame of every page: the navigation, the connection banner, and the live count of runs
// waiting for an approval.
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { sinceStart } from "@/lib/graphql";
import { useConnectionState, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { PENDING_APPROVALS_QUERY, RUN_STATUS_UPDATED } from "@/lib/queries";

const NAV = [
  { href: "/runs", label: "Runs", icon: "M4 6h16M4 12h16M4 18h10" },
  { href: "/approvals", label: "Approvals", icon: "M9 12l2 2 4-4M12 3l7 4v5c0 4.5-3 8-7 9-4-1-7-4.5-7-9V7l7-4z" },
  { href: "/agents", label: "Agents", icon: "M12 12a4 4 0 100-8 4 4 0 000 8zm-7 9a7 7 0 0114 0" },
  { href: "/dashboard", label: "Dashboard", icon: "M4 20V10m6 10V4m6 16v-7m4 7H2" },
];

export function Shell({ children }: { children: ReactNode }) {
  const pathname = usePathname();
  const pending = usePendingApprovals();
  return (
    <div className="flex min-h-screen">
      <aside className="w-52 shrink-0 bg-slate-900 text-slate-300">
        <div className="sticky top-0 flex h-screen flex-col">
          <Link href="/runs" className="flex items-center gap-2 px-4 py-4 text-white">
            <svg viewBox="0 0 24 24" className="h-6 w-6" aria-hidden>
              <circle cx="12" cy="12" r="9" fill="none" stroke="#38bdf8" strokeWidth="2.5" />
              <path d="M12 7v5l3 3" fill="none" stroke="#e2e8f0" strokeWidth="2.5" strokeLinecap="round" />
            </svg>
            <span className="text-[15px] font-semibold tracking-tight">Everruns</span>
          </Link>
          <nav className="flex-1 space-y-0.5 px-2">
            {NAV.map((item) => {
              const active = pathname === item.href || pathname.startsWith(`${item.href}/`) || (item.href === "/runs" && pathname.startsWith("/threads"));
              return (
                <Link
                  key={item.href}
                  href={item.href}
                  data-testid={`nav-${item.label.toLowerCase()}`}
                  className={`flex items-center gap-2.5 rounded-md px-2.5 py-1.5 text-sm ${active ? "bg-slate-800 font-medium text-white" : "hover:bg-slate-800/60 hover:text-white"}`}
                >
                  <svg
                    viewBox="0 0 24 24"
                    className="h-4 w-4 shrink-0"
                    fill="none"
                    stroke="currentColor"
                    strokeWidth="2"
                    strokeLinecap="round"
                    strokeLinejoin="round"
                    aria-hidden
                  >
                    <path d={item.icon} />
                  </svg>
                  <span className="flex-1">{item.label}</span>
                  {item.href === "/approvals" && pending > 0 && (
                    <span data-testid="approvals-badge" className="rounded-full bg-amber-400 px-1.5 text-xs font-semibold tabular-nums text-slate-900">
                      {pending}
                    </span>
                  )}
                </Link>
              );
            })}
          </nav>
          <ConnectionDot />
        </div>
      </aside>
      <div className="min-w-0 flex-1">
        <ConnectionBanner />
        <main className="mx-auto max-w-[1440px] px-6 py-5">{children}</main>
      </div>
    </div>
  );
}

function usePendingApprovals(): number {
  const { data, refetch } = useQuery(PENDING_APPROVALS_QUERY);
  const refresh = useThrottled(() => void refetch(), 1000);
  // a run that stops for an answer, or a continuation that answers one (or a run cancelled)
  useSubscription(
    () => ({ query: RUN_STATUS_UPDATED }),
    {
      next: ({ runUpdated }) => {
        const run = runUpdated?.run;
        if (!run || run.status === "interrupted" || run.parentRunId || run.status === "cancelled") refresh();
      },
    },
    "pending-approvals",
  );
  return data?.runsAwaitingAnswerCount ?? 0;
}

function ConnectionDot() {
  const state = useConnectionState();
  const label = state === "online" ? "API connected" : state === "offline" ? "API unreachable" : "Connecting…";
  const color = state === "online" ? "bg-emerald-400" : state === "offline" ? "bg-rose-500" : "bg-amber-400";
  return (
    <div data-testid="connection-state" data-state={state} className="flex items-center gap-2 border-t border-slate-800 px-4 py-3 text-xs text-slate-400">
      <span className={`h-2 w-2 rounded-full ${color}`} />
      {label}
    </div>
  );
}

function ConnectionBanner() {
  const state = useConnectionState();
  const [showConnecting, setShowConnecting] = useState(false);
  const [recovered, setRecovered] = useState(false);
  const [wasOffline, setWasOffline] = useState(false);

  useEffect(() => {
    if (state !== "connecting") return setShowConnecting(false);
    const timer = setTimeout(() => setShowConnecting(true), Math.max(0, 2000 - sinceStart()));
    return () => clearTimeout(timer);
  }, [state]);

  useEffect(() => {
    if (state === "offline") setWasOffline(true);
    if (state === "online" && wasOffline) {
      setWasOffline(false);
      setRecovered(true);
      const timer = setTimeout(() => setRecovered(false), 2500);
      return () => clearTimeout(timer);
    }
  }, [state, wasOffline]);

  if (state === "offline") {
    return (
      <div
        role="alert"
        data-testid="offline-banner"
        className="sticky top-0 z-20 flex items-center gap-2 border-b border-rose-300 bg-rose-50 px-6 py-2 text-sm text-rose-900"
      >
        <span className="h-2 w-2 animate-pulse rounded-full bg-rose-500" />
        <span className="font-medium">The API is unreachable.</span>
        <span className="text-rose-800">Retrying — live updates are paused and everything refreshes by itself when it is back.</span>
      </div>
    );
  }
  if (state === "connecting" && showConnecting) {
    return (
      <div role="status" data-testid="connecting-banner" className="sticky top-0 z-20 border-b border-amber-200 bg-amber-50 px-6 py-2 text-sm text-amber-900">
        Connecting to the API…
      </div>
    );
  }
  if (recovered) {
    return (
      <div
        role="status"
        data-testid="reconnected-banner"
        className="sticky top-0 z-20 border-b border-emerald-200 bg-emerald-50 px-6 py-2 text-sm text-emerald-900"
      >
        Reconnected to the API — the page is up to date again.
      </div>
    );
  }
  return null;
}
