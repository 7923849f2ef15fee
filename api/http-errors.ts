// Every error an HTTP route can meet becomes `{"error": {"code", "message"}}` with a status that
// says whose fault it is. Raw driver errors and stack traces never reach a client: unknown
// errors are logged here and answered with a plain 500.
import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import { z } from "zod";
import { EverrunsError, LimitError, NotFoundError, ValidationError, fromDatabaseError, isConnectionError } from "../db/errors.ts";
import { describeTimeout } from "../db/pool.ts";
import { describeIssues } from "../db/schemas.ts";
import type { Logger } from "../lib/logger.ts";
import { describeStorableProblem, findStorableProblem } from "../lib/storable-json.ts";

export interface HttpError {
  status: number;
  code: string;
  message: string;
  /** Sent as the Retry-After header (a 429 of a workspace limit). */
  retryAfterSeconds?: number;
}

/** An error that already knows its HTTP status (415, 413, 501, ...). */
export class HttpStatusError extends EverrunsError {
  readonly status: number;
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

export function toHttpError(error: unknown, log: Logger): HttpError {
  const mapped = fromDatabaseError(error);
  if (mapped instanceof HttpStatusError) return { status: mapped.status, code: mapped.code, message: mapped.message };
  if (mapped instanceof LimitError) {
    return { status: 429, code: mapped.code, message: mapped.message, retryAfterSeconds: mapped.retryAfterSeconds };
  }
  if (mapped instanceof NotFoundError) return { status: 404, code: mapped.code, message: mapped.message };
  if (mapped instanceof ValidationError) {
    const status = mapped.code === "conflict" || mapped.code === "immutable" ? 409 : mapped.code === "not_allowed" ? 403 : 400;
    return { status, code: mapped.code, message: mapped.message };
  }
  if (mapped instanceof EverrunsError) return { status: 400, code: mapped.code, message: mapped.message };
  const e = mapped as { type?: string; status?: number; code?: string; message?: string; hint?: string } | null;
  // body-parser (express.json) errors carry a `type`
  if (e?.type === "entity.parse.failed") return { status: 400, code: "invalid_json", message: `the request body is not valid JSON: ${e.message}` };
  if (e?.type === "entity.too.large") return { status: 413, code: "too_large", message: "the request body is too large" };
  // body-parser's other errors, and the router's (a malformed %-escape in a path parameter is a
  // URIError with status 400 and no type: found by `everruns fuzz`)
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) {
    return { status: e.status, code: "bad_request", message: e.message ?? "bad request" };
  }
  if (typeof e?.code === "string") {
    // A domain error of our SQL (class EV) that db/errors.ts does not know yet: its message is for users.
    if (e.code.startsWith("EV")) return { status: 400, code: "rejected", message: e.hint ? `${e.message} (${e.hint})` : (e.message ?? "rejected") };
    if (e.code === "42883") {
      return { status: 501, code: "not_implemented", message: `the database lacks a function this route needs (${e.message}); run the migrations` };
    }
  }
  if (isConnectionError(error)) {
    log.warn(`database unavailable: ${(error as Error).message}`);
    return { status: 503, code: "database_unavailable", message: "the database is unreachable right now; retry shortly" };
  }
  const timeout = describeTimeout(error);
  if (timeout) {
    log.warn(`request failed: ${timeout}`);
    return { status: 503, code: "database_timeout", message: "the database did not answer in time; retry shortly" };
  }
  log.error(`unhandled error: ${(error as Error)?.stack ?? String(error)}`);
  return { status: 500, code: "internal_error", message: "internal error; the server log has the details" };
}

export function sendError(res: Parameters<RequestHandler>[1], error: HttpError): void {
  if (error.retryAfterSeconds !== undefined) res.set("Retry-After", String(error.retryAfterSeconds));
  res.status(error.status).json({ error: { code: error.code, message: error.message } });
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error, _req, res, _next) => {
    const http = toHttpError(error, log);
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, http);
  };
}

/**
 * The parsed JSON body, validated: a missing body or a wrong Content-Type says so. Before the
 * schema sees it, the body must be storable (lib/storable-json.ts): no U+0000 or lone surrogate
 * in any string or key, no non-finite number (1e999), nesting at most MAX_JSON_DEPTH deep. Every
 * REST and AG-UI body comes through here, so such a body is a 400 naming the field, never a 500
 * from Postgres or from JSON.stringify.
 */
export function parseBody<T>(req: Request, schema: z.ZodType<T>, what: string): T {
  if (req.body === undefined) {
    throw new HttpStatusError(415, "unsupported_media_type", `send ${what} as a JSON body with Content-Type: application/json`);
  }
  const problem = findStorableProblem(req.body);
  if (problem) throw new ValidationError(`invalid ${what}: ${describeStorableProblem(problem)}`);
  const result = schema.safeParse(req.body);
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

/** A request's query string checked by `schema` (a 400 naming each field). */
export function parseQuery<T>(req: Request, schema: z.ZodType<T>, what: string): T {
  const result = schema.safeParse(req.query ?? {});
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

/** Whether the request carries body bytes, whatever their type (a POST without a body sends none, or Content-Length: 0). */
export function carriesBody(req: Request): boolean {
  const length = req.get("content-length");
  if (length !== undefined) return Number(length) > 0;
  return req.get("transfer-encoding") !== undefined;
}
