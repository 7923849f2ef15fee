// Server-sent events of a run's AG-UI event log, shared by GET /api/runs/:id/events and the
// AG-UI endpoint. Each event is one frame, `id: <seq>` then `data: <event json>`, so a client
// that reconnects with Last-Event-ID resumes exactly after the last event it saw. Frames are
// encoded once per row and shared by every client of the run. One timer sends the heartbeat
// comments of every open stream.
//
// A stream that ends because the run's log did (after its terminal event, or at once for a client
// that resumed at that event) says so last with the comment `: end`, so that a client can tell it
// from a dropped connection, which it should resume: a client that already had the terminal
// event and resumed after it gets a stream with no event, and `: end` is how it knows to stop.
// (A cursor past the last event never gets a stream: 400 invalid_cursor, api/events-hub.ts.)
import { once } from "node:events";
import type { Response } from "express";
import { EventEncoder } from "@ag-ui/encoder";
import type { BaseEvent } from "@ag-ui/core";
import type { Logger } from "../lib/logger.ts";
import type { RunEventRow, Subscription } from "./events-hub.ts";
import { observeDeliveryLag } from "./metrics.ts";

const encoder = new EventEncoder();
const frames = new WeakMap<RunEventRow, string>();

/** `id: <seq>\ndata: <json>\n\n`, computed once per row object. */
export function sseFrame(row: RunEventRow): string {
  let frame = frames.get(row);
  if (frame === undefined) {
    frame = `id: ${row.seq}\n${encoder.encodeSSE(row.event as unknown as BaseEvent)}`;
    frames.set(row, frame);
  }
  return frame;
}

export interface SseOptions {
  /** Interval of `: ping` comments on every open stream. */
  heartbeatMs: number;
}

/** The open SSE responses of this process: heartbeats and shutdown. */
export class SseStreams {
  private readonly open = new Set<Response>();
  private timer: NodeJS.Timeout | null = null;
  private readonly heartbeatMs: number;
  constructor(opts: SseOptions) {
    this.heartbeatMs = opts.heartbeatMs;
  }

  get size(): number {
    return this.open.size;
  }

  /** Sends the SSE headers and registers the response until it closes. */
  begin(res: Response): void {
    res.status(200);
    res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
    res.setHeader("Cache-Control", "no-cache, no-transform");
    res.setHeader("Connection", "keep-alive");
    res.setHeader("X-Accel-Buffering", "no"); // nginx: do not buffer the stream
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.socket?.setTimeout(0);
    res.write(": stream open\n\n");
    this.open.add(res);
    res.once("close", () => this.open.delete(res));
    if (!this.timer) {
      this.timer = setInterval(() => {
        for (const r of this.open) if (!r.writableEnded && !r.destroyed) r.write(": ping\n\n");
      }, this.heartbeatMs);
      this.timer.unref();
    }
  }

  /** Ends every open stream (server shutdown); clients reconnect with Last-Event-ID. */
  closeAll(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const res of this.open) res.end();
    this.open.clear();
  }
}

/** The last comment of a stream that ended because the run's log did. */
export const SSE_END_COMMENT = ": end\n\n";

/**
 * Writes a run's events to `res` until the terminal event (then ends the response with
 * SSE_END_COMMENT) or until the client goes away (then stops reading; the run itself goes on).
 */
export async function pipeRunEvents(res: Response, subscription: Subscription<RunEventRow>, log: Logger, runId: string): Promise<void> {
  let gone = false;
  const onClose = () => {
    gone = true;
    subscription.close();
  };
  res.once("close", onClose);
  try {
    for await (const row of subscription) {
      if (gone) break;
      const flushed = res.write(sseFrame(row));
      observeDeliveryLag("sse", row); // /metrics (api/metrics.ts): live rows only
      if (!flushed) {
        // a slow client: wait for its buffer to drain (or for it to leave)
        const done = new AbortController();
        await Promise.race([once(res, "drain", { signal: done.signal }), once(res, "close", { signal: done.signal })]).catch(() => undefined);
        done.abort();
      }
    }
    // the subscription only finishes by itself after the terminal event (or at the end already)
    if (!gone) res.end(SSE_END_COMMENT);
  } catch (error) {
    log.warn(`SSE stream of run ${runId} failed: ${(error as Error).message}`);
    res.end();
  } finally {
    res.off("close", onClose);
    subscription.close();
  }
}
