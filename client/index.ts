// The Everruns client: follows a run's events from GET /api/runs/:id/events as an async iterator
// that survives the network and the API. It reconnects after a dropped connection or an API
// restart with Last-Event-ID (so the server resumes exactly after the last event received),
// drops any event it has already yielded, and finishes at the run's terminal event
// (RUN_FINISHED or RUN_ERROR). Used by `everruns run --follow`, the chaos and load tests.
//
// SSE is parsed by eventsource-parser; reconnects back off with the project's one policy
// (lib/backoff.ts) and wait with its one sleep (lib/sleep.ts).
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { backoffMs, type BackoffPolicy } from "../lib/backoff.ts";
import { sleep } from "../lib/sleep.ts";

export type { EventSourceMessage } from "eventsource-parser";

export interface RunEvent {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

export interface FollowOptions {
  /** Start after this seq (default 0: the whole log). */
  after?: number;
  signal?: AbortSignal;
  /** First reconnect delay (default 200 ms); grows exponentially, with jitter, up to maxRetryDelayMs. */
  retryDelayMs?: number;
  /** Longest reconnect delay (default 5 s). */
  maxRetryDelayMs?: number;
  /** Give up when no connection has succeeded for this long (default 5 minutes). */
  giveUpAfterMs?: number;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long (default 45 s). */
  stallTimeoutMs?: number;
  /** Called before each reconnect, e.g. to tell the user. */
  onReconnect?: (info: { attempt: number; after: number; reason: string }) => void;
  /** An API key (`evr_…`), sent as `Authorization: Bearer <key>` on every connection and reconnection. */
  apiKey?: string;
  /** Headers sent on every connection and reconnection (an Authorization here wins over apiKey). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** The server refused the request (unknown run, bad cursor): reconnecting would not help. */
export class FollowError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "FollowError";
    this.status = status;
    this.code = code;
  }
}

const TERMINAL = new Set(["RUN_FINISHED", "RUN_ERROR"]);

export interface SseReadOptions {
  /** Called on every chunk received (heartbeats included): proof the connection is alive. */
  onBytes?: () => void;
  /** Called on every comment line (`: ping` heartbeats), without its leading colon. */
  onComment?: (comment: string) => void;
}

/**
 * The messages of an SSE byte stream, in order, as eventsource-parser reads them (`id`, `event`,
 * `data`); comments are not messages. Cancels the stream when the caller stops early.
 */
export async function* sseMessages(body: ReadableStream<Uint8Array>, opts: SseReadOptions = {}): AsyncGenerator<EventSourceMessage> {
  const pending: EventSourceMessage[] = [];
  const parser = createParser({
    onEvent: (message) => pending.push(message),
    ...(opts.onComment && { onComment: opts.onComment }),
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      opts.onBytes?.();
      parser.feed(decoder.decode(value, { stream: true }));
      while (pending.length > 0) yield pending.shift()!;
    }
    parser.feed(decoder.decode());
    // a message not ended by a blank line is incomplete: per the SSE spec it is dropped
    parser.reset({ consume: true });
    while (pending.length > 0) yield pending.shift()!;
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

/**
 * The events of run `runId` from the API at `baseUrl` (e.g. http://127.0.0.1:4000), each exactly
 * once and in order, until the run's terminal event. The API wants a key (`apiKey`, or an
 * Authorization in `headers`). Throws FollowError when the server refuses (401/403: no key, or
 * one it refuses; 404 unknown run; 400 bad cursor) and an Error when it stays unreachable for
 * giveUpAfterMs.
 * Returns quietly when `signal` aborts.
 */
export async function* followRunEvents(baseUrl: string, runId: string, opts: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
  const doFetch = opts.fetch ?? fetch;
  const backoff: BackoffPolicy = { initial_delay_ms: opts.retryDelayMs ?? 200, max_delay_ms: opts.maxRetryDelayMs ?? 5000, multiplier: 2 };
  const giveUpAfterMs = opts.giveUpAfterMs ?? 5 * 60_000;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 45_000;
  const url = `${baseUrl.replace(/\/+$/, "")}/api/runs/${encodeURIComponent(runId)}/events`;
  const hasAuthorization = Object.keys(opts.headers ?? {}).some((name) => name.toLowerCase() === "authorization");
  const authorization = opts.apiKey && !hasAuthorization ? { Authorization: `Bearer ${opts.apiKey}` } : undefined;
  let last = opts.after ?? 0;
  let attempt = 0;
  /** failed connection attempts since the last one that succeeded: drives the backoff */
  let failures = 0;
  let failingSince: number | null = null;

  for (;;) {
    if (opts.signal?.aborted) return;
    const attemptAbort = new AbortController();
    const onOuterAbort = () => attemptAbort.abort();
    opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
    let stall: ReturnType<typeof setTimeout> | undefined;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => attemptAbort.abort(new Error(`no data for ${stallTimeoutMs} ms`)), stallTimeoutMs);
    };
    let reason: string;
    try {
      armStall();
      const response = await doFetch(url, {
        headers: {
          Accept: "text/event-stream",
          ...authorization,
          ...opts.headers,
          ...(last > 0 && { "Last-Event-ID": String(last) }),
        },
        signal: attemptAbort.signal,
      });
      if (response.status >= 400 && response.status < 500) {
        const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
        throw new FollowError(response.status, body?.error?.code ?? "http_error", body?.error?.message ?? `HTTP ${response.status}`);
      }
      if (!response.ok || !response.body) {
        reason = `HTTP ${response.status}`;
      } else {
        failingSince = null;
        failures = 0;
        // `: end`: the server says the run's log has ended (its terminal event was sent before,
        // possibly on an earlier connection: a resume at the last seq of a finished run)
        let ended = false;
        const onComment = (comment: string) => {
          if (comment.trim() === "end") ended = true;
        };
        for await (const message of sseMessages(response.body, { onBytes: armStall, onComment })) {
          const seq = Number(message.id);
          if (!Number.isInteger(seq) || seq <= last) continue; // seen before (or not an event)
          const event = JSON.parse(message.data) as Record<string, unknown>;
          last = seq;
          const type = String(event.type);
          yield { seq, type, event };
          if (TERMINAL.has(type)) return;
        }
        if (ended) return;
        reason = "the stream ended before the run did";
      }
    } catch (error) {
      if (error instanceof FollowError) throw error;
      if (opts.signal?.aborted) return;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      reason = cause?.code ?? cause?.message ?? (attemptAbort.signal.reason as Error | undefined)?.message ?? (error as Error).message;
    } finally {
      clearTimeout(stall);
      opts.signal?.removeEventListener("abort", onOuterAbort);
      attemptAbort.abort();
    }
    failingSince ??= Date.now();
    if (Date.now() - failingSince > giveUpAfterMs) {
      throw new Error(`gave up following run ${runId} after ${giveUpAfterMs} ms without a connection (last error: ${reason})`);
    }
    attempt++;
    failures++;
    opts.onReconnect?.({ attempt, after: last, reason });
    try {
      await sleep(backoffMs(backoff, failures), opts.signal);
    } catch {
      return; // aborted while waiting to reconnect
    }
  }
}
