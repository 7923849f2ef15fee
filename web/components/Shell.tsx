"use client";
// The frame of every page: the navigation, the session (workspace, role, log out), the
// connection banner, and the live count of runs waiting for an approval.
//
// Nothing of a page runs before the session is known: the Shell asks the API `whoami` first
// (through the console's server, which adds the session's key). No session, or a key the API
// refuses (now or later: a 401, a websocket closed with 4401), and the user is sent to /login,
// which brings them back here once logged in. The login page itself gets no frame.
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useEffect, useState, useSyncExternalStore, type ReactNode } from "react";
import { authRequiredState, connectionState, onAuthRequired, onConnectionState, setLoggingOut, sinceStart, type AuthRequired } from "@/lib/graphql";
import { useConnectionState, useQuery, useSubscription, useThrottled } from "@/lib/hooks";
import { PENDING_APPROVALS_QUERY, RUN_STATUS_UPDATED, WHOAMI_QUERY } from "@/lib/queries";
import { LOGIN_PATH, loginHref, logout, SessionContext, setLoginNotice, toRole, type Session } from "@/lib/session";

const NAV = [
  { href: "/runs", label: "Runs", icon: "M4 6h16M4 12h16M4 18h10" },
  { href: "/threads", label: "Threads", icon: "M4 5h16v10H8l-4 4V5z" },
  { href: "/approvals", label: "Approvals", icon: "M9 12l2 2 4-4M12 3l7 4v5c0 4.5-3 8-7 9-4-1-7-4.5-7-9V7l7-4z" },
  { href: "/batches", label: "Batches", icon: "M4 7l8-4 8 4-8 4-8-4zm0 5l8 4 8-4M4 17l8 4 8-4" },
  { href: "/schedules", label: "Schedules", icon: "M12 8v4l3 2M12 3a9 9 0 100 18 9 9 0 000-18z" },
  { href: "/webhooks", label: "Webhooks", icon: "M10 14a4 4 0 005.7 0l3-3a4 4 0 00-5.7-5.7l-1 1M14 10a4 4 0 00-5.7 0l-3 3a4 4 0 005.7 5.7l1-1" },
  { href: "/notifications", label: "Notifications", icon: "M15 17h5l-1.4-1.4A2 2 0 0118 14.2V11a6 6 0 10-12 0v3.2c0 .5-.2 1-.6 1.4L4 17h5m6 0a3 3 0 11-6 0" },
  { href: "/agents", label: "Agents", icon: "M12 12a4 4 0 100-8 4 4 0 000 8zm-7 9a7 7 0 0114 0" },
  { href: "/mcp", label: "MCP servers", testId: "nav-mcp", icon: "M5 4h14v6H5zM5 14h14v6H5zM12 10v4M9 7h.01M9 17h.01" },
  { href: "/dashboard", label: "Dashboard", icon: "M4 20V10m6 10V4m6 16v-7m4 7H2" },
  { href: "/prices", label: "Model prices", testId: "nav-prices", icon: "M3 12V4h8l10 10-8 8L3 12zM7.5 7.5h.01" },
  { href: "/workers", label: "Workers & queue", testId: "nav-workers", icon: "M4 4h16v6H4zM4 14h16v6H4zM8 7h.01M8 17h.01" },
];

const ROLE_STYLES: Record<string, string> = {
  admin: "bg-sky-500/15 text-sky-300 ring-sky-400/40",
  operator: "bg-emerald-500/15 text-emerald-300 ring-emerald-400/40",
  viewer: "bg-slate-500/20 text-slate-300 ring-slate-400/40",
};

const ROLE_HINTS: Record<string, string> = {
  admin: "admin: runs, approvals, agents, secrets and keys",
  operator: "operator: may start, cancel and answer runs; agents are read-only",
  viewer: "viewer: read-only; starting, cancelling and answering runs needs operator",
};

export function Shell({ children }: { children: ReactNode }) {
  const pathname = usePathname();
  if (pathname === LOGIN_PATH) return <>{children}</>;
  return <SessionShell>{children}</SessionShell>;
}

function useAuthRequired(): AuthRequired | null {
  return useSyncExternalStore(onAuthRequired, authRequiredState, () => null);
}

type SessionState = { state: "checking" } | { state: "ready"; session: Session | null } | { state: "required" };

/** The session's key (GraphQL whoami), and whether the API refused it. */
function useSessionState(): SessionState {
  const whoami = useQuery(WHOAMI_QUERY);
  const required = useAuthRequired();
  const data = whoami.data?.whoami ?? null;
  const hadSession = data !== null;

  // sent to the login page (a full load: the live connection starts anew with the new session)
  useEffect(() => {
    if (!required) return;
    // no key at all: a first visit (nothing to say), or a session that outlived its cookie;
    // a key refused (revoked, expired): the API's words
    if (required.code !== "unauthenticated") setLoginNotice({ tone: "warning", message: `Your session has ended: ${required.message}` });
    else if (hadSession) setLoginNotice({ tone: "warning", message: "Your session has ended (a session lasts 12 hours, or until you log out): log in again." });
    window.location.replace(loginHref());
  }, [required, hadSession]);

  // the API was not reachable when the page loaded: ask again once it is (the connection's state
  // only: the websocket itself is opened by the frame, once the session is known)
  const connection = useSyncExternalStore(onConnectionState, connectionState, () => "connecting");
  useEffect(() => {
    if (connection === "online" && !data && whoami.error && !required) void whoami.refetch();
  }, [connection, data, whoami.error, required]);

  if (required) return { state: "required" };
  if (data) return { state: "ready", session: { ...data, role: toRole(data.role) } };
  // the API is unreachable (or failed): the pages say so and recover; the API decides what is allowed
  if (whoami.error) return { state: "ready", session: null };
  return { state: "checking" };
}

function SessionShell({ children }: { children: ReactNode }) {
  const auth = useSessionState();
  const ready = auth.state === "ready";
  const session = ready ? auth.session : null;
  return (
    <SessionContext.Provider value={session}>
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
            {session && <SessionBadge session={session} />}
            {ready ? <LiveNav /> : <Nav pending={0} />}
            {ready && <LogoutButton />}
            {ready && <ConnectionDot />}
          </div>
        </aside>
        <div className="min-w-0 flex-1">
          {ready && <ConnectionBanner />}
          <main className="mx-auto max-w-[1440px] px-6 py-5">
            {ready ? (
              children
            ) : (
              <div role="status" aria-live="polite" data-testid="session-checking" className="py-16 text-center text-sm text-slate-500">
                {auth.state === "required" ? "Taking you to the login page…" : "Checking your session…"}
              </div>
            )}
          </main>
        </div>
      </div>
    </SessionContext.Provider>
  );
}

function SessionBadge({ session }: { session: Session }) {
  return (
    <div data-testid="session" className="mx-3 mb-3 rounded-md bg-slate-800/70 px-3 py-2" title={`${ROLE_HINTS[session.role]} · key ${session.keyId}`}>
      <div className="text-[10px] font-medium uppercase tracking-wide text-slate-500">Workspace</div>
      <div className="flex items-center justify-between gap-2">
        <span data-testid="session-workspace" className="truncate text-sm font-medium text-white">
          {session.workspaceName || session.workspaceId}
        </span>
        <span
          data-testid="session-role"
          data-role={session.role}
          className={`shrink-0 rounded px-1.5 py-0.5 text-[11px] font-medium ring-1 ring-inset ${ROLE_STYLES[session.role] ?? ROLE_STYLES.viewer}`}
        >
          {session.role}
        </span>
      </div>
      {session.role === "viewer" && <div className="mt-1 text-[11px] text-slate-400">read-only</div>}
    </div>
  );
}

function LogoutButton() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const out = async () => {
    setPending(true);
    setError(null);
    setLoggingOut(true);
    const result = await logout();
    if (!result.ok) {
      setLoggingOut(false);
      setPending(false);
      return setError(result.message);
    }
    setLoginNotice({ tone: "info", message: "You have logged out." });
    window.location.replace(LOGIN_PATH);
  };
  return (
    <div className="px-2 pb-2">
      <button
        type="button"
        data-testid="logout"
        disabled={pending}
        onClick={() => void out()}
        className="flex w-full items-center gap-2.5 rounded-md px-2.5 py-1.5 text-sm hover:bg-slate-800/60 hover:text-white disabled:opacity-60"
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
          <path d="M15 4h3a2 2 0 012 2v12a2 2 0 01-2 2h-3M10 17l5-5-5-5M15 12H4" />
        </svg>
        {pending ? "Logging out…" : "Log out"}
      </button>
      {error && (
        <p role="alert" data-testid="logout-error" className="px-2.5 pt-1 text-xs text-rose-300">
          Could not log out: {error}
        </p>
      )}
    </div>
  );
}

function LiveNav() {
  return <Nav pending={usePendingApprovals()} />;
}

function Nav({ pending }: { pending: number }) {
  const pathname = usePathname();
  return (
    <nav className="flex-1 space-y-0.5 px-2">
      {NAV.map((item) => {
        const active = pathname === item.href || pathname.startsWith(`${item.href}/`);
        return (
          <Link
            key={item.href}
            href={item.href}
            data-testid={item.testId ?? `nav-${item.label.toLowerCase()}`}
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
  );
}

function usePendingApprovals(): number {
  const { data, refetch } = useQuery(PENDING_APPROVALS_QUERY);
  const refresh = useThrottled(() => void refetch(), 1000);
  // The count follows runUpdated, but notifications missed while the socket was down (a
  // reconnect) or a change that raced the first count would leave it stale: the badge said "1"
  // while the inbox said nothing waits. Count again on every page change and every reconnect.
  const pathname = usePathname();
  const connection = useConnectionState();
  useEffect(() => {
    if (connection === "online") refresh();
  }, [pathname, connection, refresh]);
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
