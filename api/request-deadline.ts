// The whole-request deadline (EVERRUNS_HTTP_REQUEST_TIMEOUT_MS), kept here rather than by node's
// `requestTimeout`, which has no per-request exemption in its public interface: a batch upload
// (api/batches.ts) streams millions of items for longer, and lifts its request's deadline once it
// is authorised (it bounds itself: idle and total limits). Node still times the headers
// (`headersTimeout`). A request not fully received in time is answered 408, as node would, and its
// connection closed; a response already under way (a handler that answered before reading the
// body) just loses its connection.
import type { IncomingMessage, ServerResponse } from "node:http";

const deadlines = new WeakMap<IncomingMessage, NodeJS.Timeout>();

/** Starts `req`'s deadline: it must have arrived whole within `ms` (0: no deadline). */
export function startRequestDeadline(req: IncomingMessage, res: ServerResponse, ms: number): void {
  // a request without a body has arrived whole with its headers (node's headersTimeout timed them)
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (ms <= 0 || !hasBody || req.complete) return;
  const timer = setTimeout(() => {
    deadlines.delete(req);
    if (req.complete) return;
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    res.shouldKeepAlive = false;
    res.writeHead(408, { "content-type": "application/json; charset=utf-8", connection: "close" });
    res.end(JSON.stringify({ error: { code: "request_timeout", message: `the request did not arrive whole within ${ms} ms` } }), () => req.socket.destroy());
  }, ms);
  timer.unref();
  deadlines.set(req, timer);
  const clear = () => liftRequestDeadline(req);
  req.once("end", clear);
  req.once("close", clear);
}

/** Takes `req` out of its deadline (a route that bounds its own request's duration). */
export function liftRequestDeadline(req: IncomingMessage): void {
  const timer = deadlines.get(req);
  if (timer) clearTimeout(timer);
  deadlines.delete(req);
}
