"use client";
// The login page: an API key in a password field, checked by the console's server with the API
// (POST /session), which keeps it in an httpOnly cookie. The link `everruns start` prints,
// /login#key=evr_…, logs in by itself: the key is taken out of the address bar before anything
// else happens, and the fragment never reaches a server. Once logged in, back to ?next= (where
// the user was sent from), with a full load so the live connection starts with the new session.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { currentSession, login, safeNext, takeLoginNotice, type LoginNotice, type SessionInfo } from "@/lib/session";

type Phase = { kind: "starting" } | { kind: "link" } | { kind: "form" } | { kind: "submitting" } | { kind: "done" };

function keyFromFragment(hash: string): string | null {
  if (!hash || hash.length < 2) return null;
  const key = new URLSearchParams(hash.slice(1)).get("key");
  return key && key.trim() ? key.trim() : null;
}

export function LoginForm() {
  const [phase, setPhase] = useState<Phase>({ kind: "starting" });
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<LoginNotice | null>(null);
  const [current, setCurrent] = useState<SessionInfo | null>(null);
  const next = useRef("/runs");
  const input = useRef<HTMLInputElement>(null);
  const started = useRef(false);

  const submit = async (value: string, fromLink: boolean) => {
    setError(null);
    setPhase({ kind: fromLink ? "link" : "submitting" });
    const result = await login(value);
    if (result.ok) {
      setPhase({ kind: "done" });
      window.location.replace(next.current);
      return;
    }
    setError(fromLink ? `The key in the link was refused: ${result.message}` : result.message);
    setPhase({ kind: "form" });
    requestAnimationFrame(() => {
      input.current?.focus();
      input.current?.select();
    });
  };

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    const { pathname, search, hash } = window.location;
    next.current = safeNext(new URLSearchParams(search).get("next"));
    const fromLink = keyFromFragment(hash);
    // the key leaves the address bar (and this history entry) first
    if (hash) window.history.replaceState(null, "", `${pathname}${search}`);
    setNotice(takeLoginNotice());
    if (fromLink) return void submit(fromLink, true);
    setPhase({ kind: "form" });
    input.current?.focus();
    void currentSession().then(setCurrent);
  }, []);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const value = key.trim();
    if (!value) {
      setError("Enter an API key.");
      return input.current?.focus();
    }
    void submit(value, false);
  };

  const busy = phase.kind === "starting" || phase.kind === "link" || phase.kind === "submitting" || phase.kind === "done";
  return (
    <div className="flex min-h-screen items-center justify-center bg-slate-100 px-4 py-10">
      <div className="w-full max-w-md">
        <div className="mb-6 flex items-center justify-center gap-2 text-slate-900">
          <svg viewBox="0 0 24 24" className="h-8 w-8" aria-hidden>
            <circle cx="12" cy="12" r="9" fill="none" stroke="#0ea5e9" strokeWidth="2.5" />
            <path d="M12 7v5l3 3" fill="none" stroke="#0f172a" strokeWidth="2.5" strokeLinecap="round" />
          </svg>
          <span className="text-xl font-semibold tracking-tight">Everruns</span>
        </div>
        <div data-testid="login" className="rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
          <h1 className="text-lg font-semibold text-slate-900">Log in to the console</h1>
          <p className="mt-1 text-sm text-slate-500">
            With an API key: what you see and may do is its workspace&apos;s, within its role (viewer, operator or admin).
          </p>

          {notice && (
            <div
              role="status"
              data-testid="login-notice"
              data-tone={notice.tone}
              className={`mt-4 rounded-md border px-3 py-2 text-sm ${
                notice.tone === "warning" ? "border-amber-200 bg-amber-50 text-amber-900" : "border-sky-200 bg-sky-50 text-sky-900"
              }`}
            >
              {notice.message}
            </div>
          )}

          {current && phase.kind === "form" && (
            <div data-testid="login-current" className="mt-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900">
              You are logged in to workspace <span className="font-medium">{current.workspace.name}</span> as {current.role}.{" "}
              <a href={next.current} className="font-medium text-sky-700 hover:underline">
                Continue
              </a>{" "}
              or log in with another key below.
            </div>
          )}

          {phase.kind === "link" ? (
            <p role="status" data-testid="login-from-link" className="mt-6 text-sm text-slate-600">
              Logging in with the key from the link…
            </p>
          ) : (
            <form onSubmit={onSubmit} className="mt-5 space-y-3" noValidate>
              <label className="block text-sm">
                <span className="text-xs font-medium uppercase tracking-wide text-slate-500">API key</span>
                <input
                  ref={input}
                  data-testid="login-key"
                  type="password"
                  name="key"
                  autoComplete="off"
                  autoCapitalize="off"
                  autoCorrect="off"
                  spellCheck={false}
                  placeholder="evr_…"
                  value={key}
                  onChange={(e) => {
                    setKey(e.target.value);
                    if (error) setError(null);
                  }}
                  aria-invalid={error ? true : undefined}
                  aria-describedby={error ? "login-error" : undefined}
                  className={`mt-1 block w-full rounded-md border px-2.5 py-2 font-mono text-sm shadow-sm focus:outline-none focus:ring-1 ${
                    error ? "border-rose-400 focus:border-rose-500 focus:ring-rose-500" : "border-slate-300 focus:border-sky-500 focus:ring-sky-500"
                  }`}
                />
              </label>
              {error && (
                <p
                  id="login-error"
                  role="alert"
                  data-testid="login-error"
                  className="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800"
                >
                  {error}
                </p>
              )}
              <button
                type="submit"
                data-testid="login-submit"
                disabled={busy}
                className="inline-flex w-full items-center justify-center rounded-md bg-slate-900 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-slate-700 disabled:cursor-not-allowed disabled:bg-slate-400"
              >
                {phase.kind === "submitting" || phase.kind === "done" ? "Logging in…" : "Log in"}
              </button>
            </form>
          )}
        </div>
        <div className="mt-4 space-y-1 text-center text-xs text-slate-500">
          <p>
            <span className="font-mono">everruns start</span> printed a link that logs you in as admin.
          </p>
          <p>
            An admin makes more keys with <span className="font-mono">everruns keys create --role viewer</span> (or operator, admin).
          </p>
          <p>The key is kept in a cookie that scripts cannot read, for 12 hours or until you log out.</p>
        </div>
      </div>
    </div>
  );
}
