// The log context of an HTTP request (docs/observability.md "Logs"): every line logged while the
// request is handled — by any logger, in any module, across awaits — carries its request id and,
// once known, its trace id and workspace; one access line per request when it ends.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { LogScope, runInLogScope, type Logger } from "./logger.ts";
import { traceIdOf } from "./trace-id.ts";

/** An X-Request-Id a client or proxy sends is kept when it looks like an id (else one is made). */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request's id: its X-Request-Id header when it is a plain id, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * Middleware (first in the chain): runs the rest of the request in a log scope with its
 * `request_id` (echoed as X-Request-Id) and the trace id of its `traceparent` header, and logs one
 * access line when the response is done: debug, or info for a 5xx, with method, path (without its
 * query string, which may carry codes and tokens), status, duration and what the scope learned
 * (the workspace of the API key: addLogBindings).
 */
export function requestLogging(log: Logger): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const requestId = requestIdOf(req);
    const traceParent = req.headers.traceparent;
    const traceId = traceIdOf(typeof traceParent === "string" ? traceParent : undefined);
    const scope = new LogScope({ request_id: requestId, ...(traceId !== undefined && { trace_id: traceId }) });
    res.setHeader("X-Request-Id", requestId);
    const began = performance.now();
    res.once("close", () => {
      scope.end();
      const status = res.statusCode;
      // express rewrites req.url in mounted routers; originalUrl is what was asked
      const path = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? "/").split("?")[0]!;
      const ms = Math.round((performance.now() - began) * 10) / 10;
      const line = `${req.method} ${path} ${res.writableFinished ? status : `${status} (closed early)`} ${ms} ms`;
      const fields = { ...scope.bindings, method: req.method, path, status, duration_ms: ms };
      if (status >= 500) log.info(line, fields);
      else log.debug(line, fields);
    });
    runInLogScope(scope, next);
  };
}
