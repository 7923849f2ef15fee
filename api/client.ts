// A client of GET /api/runs/:id/events that survives the network and the API: it follows a
// run's events as an async iterator, reconnects after a dropped connection or an API restart
// with Last-Event-ID (so the server resumes exactly after the last event received), drops any
// event it has already yielded, and finishes at the run's terminal event (RUN_FINISHED or
// RUN_ERROR). Used by `everruns run --follow`; works in any runtime with fetch.

export interface RunEvent {
  seq: number;
  type: string;
  event: Record<string, unknown>;
}

export interface FollowOptions {
  /** Start after this seq (default 0: the whole log). */
  after?: number;
  signal?: AbortSignal;
  /** First reconnect delay; doubles on each failed attempt up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Give up when no connection has succeeded for this long (default 5 minutes). */
  giveUpAfterMs?: number;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long (default 45 s). */
  stallTimeoutMs?: number;
  /** Called before each reconnect, e.g. to tell the user. */
  onReconnect?: (info: { attempt: number; after: number; reason: string }) => void;
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

interface Frame {
  id?: string;
  data?: string;
}

/** Splits an SSE byte stream into frames (blank-line separated); comments are dropped. */
export async function* sseFrames(body: ReadableStream<Uint8Array>, onBytes: () => void = () => {}): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = "";
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: Frame = {};
        for (const line of block.split("\n")) {
          if (line === "" || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") frame.id = value;
          else if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
        }
        if (frame.data !== undefined || frame.id !== undefined) yield frame;
      }
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => undefined);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * The events of run `runId` from the API at `baseUrl` (e.g. http://127.0.0.1:4000), each exactly
 * once and in order, until the run's terminal event. Throws FollowError when the server refuses
 * (404 unknown run, 400 bad cursor) and an Error when it stays unreachable for giveUpAfterMs.
 */
export async function* followRunEvents(baseUrl: string, runId: string, opts: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
  const doFetch = opts.fetch ?? fetch;
  const retryDelayMs = opts.retryDelayMs ?? 200;
  const maxRetryDelayMs = opts.maxRetryDelayMs ?? 5000;
  const giveUpAfterMs = opts.giveUpAfterMs ?? 5 * 60_000;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 45_000;
  const url = `${baseUrl.replace(/\/+$/, "")}/api/runs/${encodeURIComponent(runId)}/events`;
  let last = opts.after ?? 0;
  let attempt = 0;
  let delay = retryDelayMs;
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
        headers: { Accept: "text/event-stream", ...opts.headers, ...(last > 0 && { "Last-Event-ID": String(last) }) },
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
        delay = retryDelayMs;
        for await (const frame of sseFrames(response.body, armStall)) {
          if (frame.data === undefined) continue;
          const seq = Number(frame.id);
          if (!Number.isInteger(seq) || seq <= last) continue; // seen before (or not an event)
          const event = JSON.parse(frame.data) as Record<string, unknown>;
          last = seq;
          const type = String(event.type);
          yield { seq, type, event };
          if (TERMINAL.has(type)) return;
        }
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
    opts.onReconnect?.({ attempt, after: last, reason });
    await sleep(delay, opts.signal);
    delay = Math.min(delay * 2, maxRetryDelayMs);
  }
}
