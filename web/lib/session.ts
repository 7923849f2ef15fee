"use client";
// The browser's login session. The console's server keeps it (scripts/web-server.ts): the API key
// lives in an httpOnly cookie that no script here can read, and /graphql acts for it. This module
// talks to the server's /session endpoints (log in, log out, who am I), carries a notice to the
// login page across its reload, and says what the session's role may do, so that pages disable
// what the API would refuse (api/graphql/access.ts has the rules).
import { createContext, useContext } from "react";

export type Role = "viewer" | "operator" | "admin";
const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

/** The key the console acts with (GraphQL `whoami`). */
export interface Session {
  keyId: string;
  workspaceId: string;
  workspaceName: string;
  role: Role;
}

/** A role the console does not know is treated as the least one. */
export function toRole(role: string): Role {
  return (ROLES as readonly string[]).includes(role) ? (role as Role) : "viewer";
}

/** viewer < operator < admin. */
export function roleAllows(has: Role, needs: Role): boolean {
  return ROLES.indexOf(has) >= ROLES.indexOf(needs);
}

/** The Shell provides it; null while it is not known (the API is unreachable): the API decides then. */
export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session | null {
  return useContext(SessionContext);
}

export interface Permission {
  allowed: boolean;
  /** Why not, naming the role needed (a tooltip); null when allowed. */
  reason: string | null;
}

/** Whether the session's role may do what needs `needs`. */
export function usePermission(needs: Role | undefined): Permission {
  const session = useSession();
  if (!needs || !session || roleAllows(session.role, needs)) return { allowed: true, reason: null };
  return {
    allowed: false,
    reason: `Needs an API key with role ${needs}${needs === "admin" ? "" : " or admin"}; this session's key is a ${session.role} key`,
  };
}

// ---- the server's /session ---------------------------------------------------------------

export type LoginResult = { ok: true } | { ok: false; message: string };

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { error?: { message?: string } } | null;
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  return `the console answered HTTP ${res.status}`;
}

/** Logs in with `key`: the server checks it with the API and sets the session cookie. */
export async function login(key: string): Promise<LoginResult> {
  let res: Response;
  try {
    res = await fetch("/session", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ key }),
      cache: "no-store",
    });
  } catch (error) {
    return { ok: false, message: `the console's server is not reachable (${(error as Error).message})` };
  }
  if (res.ok) return { ok: true };
  return { ok: false, message: await errorMessage(res) };
}

/** Logs out: the server clears the session cookie. */
export async function logout(): Promise<LoginResult> {
  try {
    const res = await fetch("/session", { method: "DELETE", cache: "no-store" });
    return res.ok ? { ok: true } : { ok: false, message: await errorMessage(res) };
  } catch (error) {
    return { ok: false, message: `the console's server is not reachable (${(error as Error).message})` };
  }
}

export interface SessionInfo {
  workspace: { id: string; name: string };
  role: string;
}

/** The current session's workspace and role, or null when there is none (or it is refused). */
export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const res = await fetch("/session", { cache: "no-store", headers: { accept: "application/json" } });
    return res.ok ? ((await res.json()) as SessionInfo) : null;
  } catch {
    return null;
  }
}

// ---- the way to the login page and back ---------------------------------------------------

export const LOGIN_PATH = "/login";
export const HOME_PATH = "/runs";

/** Where to go after logging in: a path of this console, never another site nor the login page. */
export function safeNext(next: string | null | undefined): string {
  if (!next || typeof window === "undefined") return HOME_PATH;
  try {
    const url = new URL(next, window.location.origin);
    if (url.origin !== window.location.origin || !next.startsWith("/") || next.startsWith("//")) return HOME_PATH;
    if (url.pathname === LOGIN_PATH || url.pathname.startsWith(`${LOGIN_PATH}/`)) return HOME_PATH;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return HOME_PATH;
  }
}

/** /login?next=<where the user is now>. */
export function loginHref(next?: string): string {
  const here = next ?? (typeof window === "undefined" ? HOME_PATH : `${window.location.pathname}${window.location.search}`);
  const target = safeNext(here);
  return target === HOME_PATH ? LOGIN_PATH : `${LOGIN_PATH}?next=${encodeURIComponent(target)}`;
}

export interface LoginNotice {
  tone: "info" | "warning";
  message: string;
}

const NOTICE_KEY = "everruns.login-notice";

/** A message for the login page (it is shown once, after the reload that gets there). */
export function setLoginNotice(notice: LoginNotice): void {
  try {
    window.sessionStorage.setItem(NOTICE_KEY, JSON.stringify(notice));
  } catch {
    // storage disabled: the login page just shows no notice
  }
}

export function takeLoginNotice(): LoginNotice | null {
  try {
    const text = window.sessionStorage.getItem(NOTICE_KEY);
    window.sessionStorage.removeItem(NOTICE_KEY);
    const notice = text ? (JSON.parse(text) as LoginNotice) : null;
    return notice && typeof notice.message === "string" ? notice : null;
  } catch {
    return null;
  }
}
