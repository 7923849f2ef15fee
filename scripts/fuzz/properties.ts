// The properties `everruns fuzz` checks of every answer (scripts/fuzz/index.ts): each returns
// null when the answer is acceptable, else a sentence saying what is wrong with it.

/** An HTTP answer as the fuzzer saw it: status, content type and (for JSON answers) the body text. */
export interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim().length > 0;

/** A 4xx error body of the REST routes and AG-UI: `{"error": {"code", "message"}}`, both non-empty strings. */
function restErrorProblem(body: string): string | null {
  const parsed = parseJson(body);
  if (!parsed.ok) return `a 4xx whose body is not JSON: ${body.slice(0, 200)}`;
  const error = (parsed.value as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (!error || !nonEmpty(error.code) || !nonEmpty(error.message)) return `a 4xx without {"error": {"code", "message"}}: ${body.slice(0, 200)}`;
  if (error.code === "internal_error" || /internal error/i.test(error.message)) return `a 4xx that hides an internal error: ${body.slice(0, 200)}`;
  return null;
}

/**
 * 431 with no body: Node's HTTP parser refuses a request line and headers over 16 KB (a path of
 * a very long run id) before the application sees the request, so no JSON error is possible.
 */
function parserRefusal(answer: HttpAnswer): boolean {
  return answer.status === 431 && answer.body === "";
}

/**
 * REST and AG-UI: a 2xx (JSON, or an SSE stream when `sse`), or a 4xx with a JSON error naming
 * what is wrong. Never a 5xx.
 */
export function restAnswerProblem(answer: HttpAnswer, opts: { sse?: boolean } = {}): string | null {
  if (parserRefusal(answer)) return null;
  if (answer.status >= 500) return `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
  if (answer.status >= 400) return restErrorProblem(answer.body);
  if (answer.status >= 200 && answer.status < 300) {
    if (opts.sse && answer.contentType.startsWith("text/event-stream")) return null;
    if (!parseJson(answer.body).ok) return `HTTP ${answer.status} whose body is not JSON: ${answer.body.slice(0, 200)}`;
    return null;
  }
  return `unexpected HTTP ${answer.status}`;
}

/**
 * GraphQL: no 5xx; a JSON body; every error has a message and none is an internal error; an
 * answer without errors has data. A 4xx from before GraphQL (413) may use the REST error shape.
 */
export function graphqlAnswerProblem(answer: HttpAnswer): string | null {
  if (parserRefusal(answer)) return null;
  if (answer.status >= 500) return `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`;
  const parsed = parseJson(answer.body);
  if (!parsed.ok) return `HTTP ${answer.status} whose body is not JSON: ${answer.body.slice(0, 200)}`;
  const body = parsed.value as { data?: unknown; errors?: Array<{ message?: unknown; extensions?: { code?: unknown } }>; error?: unknown } | null;
  if (answer.status >= 400 && body && typeof body === "object" && "error" in body) return restErrorProblem(answer.body);
  if (!body || typeof body !== "object") return `HTTP ${answer.status} with a body that is not an object: ${answer.body.slice(0, 200)}`;
  if (body.errors !== undefined) {
    if (!Array.isArray(body.errors) || body.errors.length === 0) return `"errors" is not a non-empty array: ${answer.body.slice(0, 200)}`;
    for (const e of body.errors) {
      if (!nonEmpty(e?.message)) return `an error without a message: ${JSON.stringify(e).slice(0, 200)}`;
      if (/internal error/i.test(e.message) || e.extensions?.code === "internal_error") return `an internal error: ${e.message}`;
    }
    return null;
  }
  if (answer.status >= 400) return `HTTP ${answer.status} without errors: ${answer.body.slice(0, 200)}`;
  if (body.data === undefined || body.data === null) return `no data and no errors: ${answer.body.slice(0, 200)}`;
  return null;
}

/**
 * SQLSTATE classes a refusal of hostile input through SQL may have: our own (EV…), data
 * exceptions (22…, invalid JSON, NUL, bad UUID), integrity constraints (23…), insufficient
 * privilege (42501), program limits (54…, too deep, too long).
 */
export const MAPPED_SQLSTATE = /^(EV|22|23|54)|^42501$/;

/** Through SQL: success, or an error whose SQLSTATE is one we map. */
export function sqlErrorProblem(error: unknown): string | null {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code !== "string") return `an error without a SQLSTATE: ${error instanceof Error ? error.message : JSON.stringify(error)}`;
  if (!MAPPED_SQLSTATE.test(e.code)) return `SQLSTATE ${e.code}: ${String(e.message)}`;
  return null;
}

/** A description of a generated value short enough for a log line (long strings cut, NUL and surrogates escaped). */
export function describeValue(value: unknown, max = 600): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_k, v: unknown) => (typeof v === "string" && v.length > 80 ? `${v.slice(0, 40)}…(${v.length} chars)` : v)) ?? String(value);
  } catch {
    text = String(value);
  }
  // JSON.stringify writes lone surrogates as \udxxx already; make NUL and other controls visible too
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
