// The console's only way to the API: GraphQL over HTTP (queries, mutations) and graphql-ws on
// the same /graphql path (subscriptions), both same-origin (the console's server passes
// /graphql through to the API).
//
// One websocket for the whole tab, opened eagerly and kept open: its state is the console's
// idea of "is the API there". When it drops, the client retries forever with a short capped
// backoff; graphql-ws re-sends every live subscription on reconnect, and `onReconnect`
// listeners refetch what they show, so a page recovers by itself when the API returns.
//
// Every operation is a typed document generated from api/schema.graphql (lib/queries.ts,
// lib/gql/): its result and variables types come from the schema, never from a cast.
//
// Both act for the browser's session: the console's server adds the session's API key (kept in
// an httpOnly cookie) to what it passes on. Without a session, or with a key the API refuses
// (revoked, expired), HTTP answers 401 and the websocket closes with 4401: `onAuthRequired`
// listeners hear it (the Shell sends the user to /login), and the websocket stops retrying.
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentString } from "./gql/graphql";

/** A generated GraphQL document: the operation's text, typed with its result and variables. */
export type Document<TResult, TVariables> = TypedDocumentString<TResult, TVariables>;

/** The variables argument of an operation: optional when it has no required variable. */
export type VariablesArg<TVariables> = Record<string, never> extends TVariables ? [variables?: TVariables] : [variables: TVariables];

/** A subscription: its document and variables (optional when it has no required variable). */
export type Payload<TResult, TVariables> = { query: Document<TResult, TVariables> } & (Record<string, never> extends TVariables
  ? { variables?: TVariables }
  : { variables: TVariables });

export interface GraphQLErrorEntry {
  message: string;
  path?: Array<string | number>;
  extensions?: { code?: string; [key: string]: unknown };
}

export class RequestError extends Error {
  /** true when the API could not be reached at all (network, 502/503 from our server). */
  readonly unreachable: boolean;
  readonly errors: GraphQLErrorEntry[];
  constructor(message: string, { unreachable = false, errors = [] }: { unreachable?: boolean; errors?: GraphQLErrorEntry[] } = {}) {
    super(message);
    this.name = "RequestError";
    this.unreachable = unreachable;
    this.errors = errors;
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

// ---- authentication -----------------------------------------------------------------------

/** The websocket close code of graphql-ws (and of the API) for a request without a valid key. */
export const WS_UNAUTHORIZED = 4401;

/** Why the API refused the session: no key at all (`unauthenticated`) or a refused one (`invalid_key`, `session_ended`). */
export interface AuthRequired {
  code: string;
  message: string;
}

let authRequired: AuthRequired | null = null;
const authListeners = new Set<(a: AuthRequired) => void>();

/** Set once the API refused the session (until the page is reloaded). */
export function authRequiredState(): AuthRequired | null {
  return authRequired;
}

export function onAuthRequired(listener: (a: AuthRequired) => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

let loggingOut = false;

/**
 * The user is logging out: the API refusing the session from now on is what they asked for, not
 * a reason to send them to the login page with a warning (the logout takes them there itself).
 * Without it, a request or the live connection refused a moment before the logout's own redirect
 * sent them to /login?next=… instead. false again when the logout failed.
 */
export function setLoggingOut(value: boolean): void {
  loggingOut = value;
}

function markAuthRequired(code: string, message: string): void {
  if (authRequired || loggingOut) return;
  authRequired = { code, message };
  for (const listener of authListeners) listener(authRequired);
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === "object" && value !== null && typeof (value as { code?: unknown }).code === "number" && "reason" in value;
}

// ---- connection state -------------------------------------------------------------------

export type ConnectionState = "connecting" | "online" | "offline";

let socketUp = false;
let everConnected = false;
let httpFailing = false;
let startedAt = 0;
let state: ConnectionState = "connecting";
const stateListeners = new Set<(s: ConnectionState) => void>();
const reconnectListeners = new Set<() => void>();

function recompute(): void {
  let next: ConnectionState;
  if (socketUp && !httpFailing) next = "online";
  else if (!everConnected && !httpFailing) next = "connecting";
  else next = "offline";
  if (next === state) return;
  state = next;
  for (const listener of stateListeners) listener(state);
}

export function connectionState(): ConnectionState {
  return state;
}

export function onConnectionState(listener: (s: ConnectionState) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

/**
 * The runId of the first message of a workspace-wide `runUpdated` (the nil UUID, run null): the
 * watch is live from then on; a list read before it should be read again (api/events-hub.ts).
 */
export const WATCH_STARTED = "00000000-0000-0000-0000-000000000000";

/** Called after the API came back (the websocket reconnected): refetch what you show. */
export function onReconnect(listener: () => void): () => void {
  reconnectListeners.add(listener);
  return () => reconnectListeners.delete(listener);
}

/** ms since the client started (the banner waits a moment before it says "connecting"). */
export function sinceStart(): number {
  return startedAt ? Date.now() - startedAt : 0;
}

// ---- websocket ----------------------------------------------------------------------------

let client: Client | null = null;

export function wsClient(): Client {
  if (client) return client;
  startedAt = Date.now();
  let lostAt = 0;
  client = createClient({
    url: () => `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/graphql`,
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    // graphql-ws's default doubles without a cap; an operator waits at most ~3 s after the API is back
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, 2500) + Math.random() * 250)),
    onNonLazyError: () => undefined,
    on: {
      connected: () => {
        socketUp = true;
        const wasLost = lostAt > 0;
        everConnected = true;
        lostAt = 0;
        if (wasLost) httpFailing = false;
        recompute();
        if (wasLost) for (const listener of reconnectListeners) listener();
      },
      closed: (event) => {
        if (isCloseEvent(event) && event.code === WS_UNAUTHORIZED) {
          // graphql-ws does not retry this one: the session is over until the user logs in again
          const reason = event.reason.replace(/^Unauthorized:\s*/, "");
          markAuthRequired(/needs a key/.test(reason) ? "unauthenticated" : "session_ended", reason || "the API refused the session's key");
        }
        if (socketUp || everConnected) lostAt ||= Date.now();
        socketUp = false;
        recompute();
      },
    },
  });
  return client;
}

export interface Sink<T> {
  next(data: T): void;
  error?(error: RequestError): void;
  complete?(): void;
}

/**
 * Subscribes; returns the unsubscribe function. `payload.variables` is sent again as it is when
 * the socket reconnects: mutate that object (e.g. a resume cursor) to change what a reconnect
 * asks for.
 */
export function subscribe<TResult, TVariables>(payload: Payload<TResult, TVariables>, sink: Sink<TResult>): () => void {
  const variables = (payload as { variables?: TVariables }).variables;
  // the same variables object: graphql-ws re-sends this payload, with its current values, on reconnect
  const wire = { query: payload.query.toString(), variables: (variables ?? {}) as Record<string, unknown> };
  return wsClient().subscribe<TResult>(wire, {
    next(result) {
      if (result.errors?.length) {
        sink.error?.(new RequestError(result.errors.map((e) => e.message).join("; "), { errors: result.errors as GraphQLErrorEntry[] }));
        return;
      }
      if (result.data) sink.next(result.data);
    },
    error(error) {
      const entries = Array.isArray(error) ? (error as GraphQLErrorEntry[]) : [];
      if (!entries.length && isCloseEvent(error)) {
        const code = error.code === WS_UNAUTHORIZED ? "unauthenticated" : "connection_closed";
        const message = `the API closed the live connection (${error.code}${error.reason ? `: ${error.reason}` : ""})`;
        return sink.error?.(new RequestError(message, { errors: [{ message, extensions: { code } }] }));
      }
      const message = entries.length ? entries.map((e) => e.message).join("; ") : error instanceof Error ? error.message : "subscription failed";
      sink.error?.(new RequestError(message, { errors: entries }));
    },
    complete() {
      sink.complete?.();
    },
  });
}

// ---- HTTP ---------------------------------------------------------------------------------

/** Runs a query or mutation over HTTP; resolves with its data, typed from the schema. */
export async function gql<TResult, TVariables>(document: Document<TResult, TVariables>, ...[variables]: VariablesArg<TVariables>): Promise<TResult> {
  const query = document.toString();
  let res: Response;
  try {
    res = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
      body: JSON.stringify({ query, variables: variables ?? {} }),
      cache: "no-store",
    });
  } catch (error) {
    markHttp(false);
    throw new RequestError(`the console cannot reach its server (${(error as Error).message})`, { unreachable: true });
  }
  // GraphQL's answer, or the API's (or the console server's) refusal: {"error": {"code", "message"}}
  type Body = { data?: TResult | null; errors?: GraphQLErrorEntry[]; error?: { code?: string; message?: string } } | null;
  let body: Body;
  try {
    body = (await res.json()) as Body;
  } catch {
    body = null;
  }
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    markHttp(false);
    throw new RequestError(body?.errors?.[0]?.message ?? body?.error?.message ?? `the API is not reachable (HTTP ${res.status})`, { unreachable: true });
  }
  markHttp(true);
  if (res.status === 401) {
    const code = body?.error?.code ?? "unauthenticated";
    const message = body?.error?.message ?? "not logged in";
    markAuthRequired(code, message);
    throw new RequestError(message, { errors: [{ message, extensions: { code } }] });
  }
  if (body?.error?.message && !body.errors?.length) {
    throw new RequestError(body.error.message, { errors: [{ message: body.error.message, extensions: { code: body.error.code } }] });
  }
  if (body?.errors?.length) throw new RequestError(body.errors.map((e) => e.message).join("; "), { errors: body.errors });
  if (!res.ok || !body || body.data == null) throw new RequestError(`the API answered HTTP ${res.status} without data`);
  return body.data;
}

function markHttp(ok: boolean): void {
  if (httpFailing === !ok) return;
  httpFailing = !ok;
  recompute();
}
