"use client";
// React hooks over lib/graphql.ts: queries that refetch when the API comes back,
// subscriptions tied to a component's lifetime, the connection state, a ticking clock.
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import {
  connectionState,
  gql,
  onConnectionState,
  onReconnect,
  RequestError,
  subscribe,
  wsClient,
  type ConnectionState,
  type Document,
  type Payload,
  type Sink,
  type VariablesArg,
} from "./graphql";

export interface QueryState<T> {
  data: T | null;
  error: RequestError | null;
  /** true until the first answer (data or error) */
  loading: boolean;
  /** a refetch is under way (data is kept meanwhile) */
  refreshing: boolean;
  refetch: () => Promise<void>;
  /** replace the data locally (live updates) */
  setData: (update: (data: T | null) => T | null) => void;
}

export interface QueryOptions {
  /** do not run the query (e.g. the id in the URL is not a UUID) */
  skip?: boolean;
}

/** `useQuery`'s arguments after the document: variables (optional when none is required), options. */
export type QueryArgs<TVariables> =
  Record<string, never> extends TVariables ? [variables?: TVariables, opts?: QueryOptions] : [variables: TVariables, opts?: QueryOptions];

/**
 * Runs the query `document` on mount, whenever `variables` change (compared as JSON), and after the API
 * comes back. Stale answers (an older request finishing last) are dropped. Live updates made
 * with `setData` while a request is in flight are applied again to its answer, so an update
 * that arrives during a refetch is not lost (updaters must be safe to apply twice).
 */
export function useQuery<T, TVariables>(document: Document<T, TVariables>, ...[variables, opts = {}]: QueryArgs<TVariables>): QueryState<T> {
  const [data, setDataState] = useState<T | null>(null);
  const [error, setError] = useState<RequestError | null>(null);
  const [loading, setLoading] = useState(true);
  const [refreshing, setRefreshing] = useState(false);
  const key = JSON.stringify(variables ?? {});
  const latest = useRef(0);
  const inFlight = useRef(0);
  const during = useRef<Array<(d: T | null) => T | null>>([]);
  const documentRef = useRef(document);
  documentRef.current = document;

  const run = useCallback(async () => {
    const id = ++latest.current;
    inFlight.current++;
    setRefreshing(true);
    try {
      const result = await gql(documentRef.current, ...([JSON.parse(key)] as VariablesArg<TVariables>));
      if (id !== latest.current) return;
      const replay = during.current;
      during.current = [];
      setDataState(replay.reduce<T | null>((d, update) => update(d), result));
      setError(null);
    } catch (e) {
      if (id !== latest.current) return;
      setError(e instanceof RequestError ? e : new RequestError(String(e)));
    } finally {
      inFlight.current--;
      if (inFlight.current === 0) during.current = [];
      if (id === latest.current) {
        setLoading(false);
        setRefreshing(false);
      }
    }
  }, [key]);

  useEffect(() => {
    if (opts.skip) return;
    setLoading((l) => l || data === null);
    void run();
    return onReconnect(() => void run());
  }, [run, opts.skip]);

  const setData = useCallback((update: (d: T | null) => T | null) => {
    if (inFlight.current > 0) during.current.push(update);
    setDataState((d) => update(d));
  }, []);
  return { data, error, loading: loading && !opts.skip, refreshing, refetch: run, setData };
}

/**
 * A subscription for the component's lifetime (re-made when `key` changes). `payload` is
 * built once per key; mutate its variables to change what a reconnect asks for.
 */
export function useSubscription<T, TVariables>(makePayload: () => Payload<T, TVariables> | null, sink: Sink<T>, key: string): void {
  const sinkRef = useRef(sink);
  sinkRef.current = sink;
  useEffect(() => {
    const payload = makePayload();
    if (!payload) return;
    return subscribe(payload, {
      next: (d) => sinkRef.current.next(d),
      error: (e) => sinkRef.current.error?.(e),
      complete: () => sinkRef.current.complete?.(),
    });
  }, [key]);
}

export function useConnectionState(): ConnectionState {
  return useSyncExternalStore(
    (cb) => {
      wsClient();
      return onConnectionState(cb);
    },
    connectionState,
    () => "connecting",
  );
}

/** Date.now(), re-rendering every `everyMs` while `active`. */
export function useNow(everyMs = 1000, active = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs, active]);
  return now;
}

/** Calls `fn` at most once per `ms` (leading and trailing). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    const wait = last.current + ms - Date.now();
    if (wait <= 0) {
      last.current = Date.now();
      fnRef.current();
    } else if (!timer.current) {
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = Date.now();
        fnRef.current();
      }, wait);
    }
  }, [ms]);
}

/** The mutation helper: runs it, tracks pending and the error to show. */
export function useMutation<TData, TVariables>(mutation: Document<TData, TVariables>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<RequestError | null>(null);
  const mutate = useCallback(
    async (...args: VariablesArg<TVariables>): Promise<TData | null> => {
      setPending(true);
      setError(null);
      try {
        return await gql(mutation, ...args);
      } catch (e) {
        setError(e instanceof RequestError ? e : new RequestError(String(e)));
        return null;
      } finally {
        setPending(false);
      }
    },
    [mutation],
  );
  return { mutate, pending, error, setError };
}
