// Errors Everruns raises. Each says what went wrong and what to do; raw driver errors are
// wrapped (kept as `cause`) and never shown to a user as they are.
import { MAX_JSON_DEPTH } from "../lib/storable-json.ts";

export class EverrunsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input from a user: config, run input, arguments. Maps to HTTP 400 / a GraphQL error. */
export class ValidationError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? "invalid_input", message, options);
  }
}

/** Something named by the user does not exist. Maps to HTTP 404. */
export class NotFoundError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not_found", message, options);
  }
}

/** This step attempt was fenced out: a newer attempt, a cancel or a commit got there first. */
export class StaleAttemptError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("stale_attempt", message, options);
  }
}

/** Invalid configuration of the process itself (environment). */
export class ConfigError extends EverrunsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_config", message, options);
  }
}

/**
 * A workspace's admission limit refused new runs (EV012, 000021): max_queued_runs or
 * runs_per_minute. Maps to HTTP 429 with Retry-After, and a GraphQL error `workspace_limit`.
 */
export class LimitError extends EverrunsError {
  /** When to try again: from the database's DETAIL `retry_after=<s>` (runs_per_minute), else 10 s. */
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super("workspace_limit", message, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Seconds to wait when a limit does not say: max_queued_runs frees as runs start, usually within seconds. */
export const DEFAULT_RETRY_AFTER_SECONDS = 10;

/** `retry_after=<s>` in an EV012's DETAIL, else DEFAULT_RETRY_AFTER_SECONDS. */
export function retryAfterOf(detail: string | undefined): number {
  const match = /\bretry_after=(\d+)\b/.exec(detail ?? "");
  return match ? Math.max(1, Number(match[1])) : DEFAULT_RETRY_AFTER_SECONDS;
}

/** The one place SQLSTATEs of our SQL functions (class EV, see 000001_core.sql) become errors. */
export function fromDatabaseError(error: unknown): unknown {
  const e = error as { code?: string; message?: string; hint?: string; detail?: string } | null;
  if (!e || typeof e.code !== "string") return error;
  const message = e.hint ? `${e.message} (${e.hint})` : (e.message ?? "database error");
  switch (e.code) {
    case "EV001":
      return new ValidationError(message, { cause: error, code: "invalid_agent_config" });
    case "EV002":
      return new NotFoundError(message, { cause: error });
    case "EV003":
    case "EV007":
      return new ValidationError(message, { cause: error, code: "invalid_run_input" });
    case "EV004":
      return new StaleAttemptError(message, { cause: error });
    case "EV005":
      return new NotFoundError(message, { cause: error });
    case "EV006":
      return new ValidationError(message, { cause: error, code: "immutable" });
    case "EV008":
      return new ValidationError(message, { cause: error, code: "invalid_resume" });
    case "EV009":
      return new ValidationError(message, { cause: error, code: "not_receiving_events" });
    case "EV010":
      return new ValidationError(message, { cause: error, code: "invalid_access" });
    case "EV011": // over a limit: of send_event (000008: payload size or depth, pending signals), a workspace's 200 model prices (000029)
      return new ValidationError(message, { cause: error, code: "limit_exceeded" });
    case "EV012": // a workspace's admission limit (000021): max_queued_runs, runs_per_minute
      return new LimitError(message, retryAfterOf(e.detail), { cause: error });
    case "42501": // insufficient_privilege, row-level security included
      return new ValidationError(message, { cause: error, code: "not_allowed" });
    case "22P02": // invalid_text_representation, e.g. a malformed uuid, a lone surrogate in JSON ("\ud800")
      return new ValidationError(e.detail ? `${message}: ${e.detail}` : message, { cause: error });
    // Text Postgres cannot store. The API rejects it before (lib/storable-json.ts); these are for
    // what gets past that (a GraphQL argument of a generated mutation, a new route). The
    // driver's text ("invalid byte sequence for encoding UTF8: 0x00") is replaced by what to do.
    case "22021": // character_not_in_repertoire: U+0000 in a text value
      return new ValidationError("the input holds U+0000 (a NUL character), which Postgres cannot store in text; remove it", { cause: error });
    case "22P05": // untranslatable_character: "\u0000" in JSON
      return new ValidationError("the input holds \\u0000 (a NUL character) in JSON, which Postgres cannot store; remove it", { cause: error });
    case "54001": // statement_too_complex: "stack depth limit exceeded", e.g. parsing JSON nested thousands deep
      return new ValidationError(`the input is nested too deeply to store (at most ${MAX_JSON_DEPTH} levels)`, { cause: error });
    case "54000": // program_limit_exceeded, e.g. a jsonb or an array over Postgres's size limits
      return new ValidationError("the input is too large to store", { cause: error, code: "too_large" });
    case "23505": // unique_violation
      return new ValidationError(message, { cause: error, code: "conflict" });
    case "22023": // invalid_parameter_value: a JSON value of the wrong kind for a jsonb function
      return new ValidationError(`invalid input: ${message}`, { cause: error });
    default:
      return error;
  }
}

/** Connection-level trouble: worth retrying the whole job later. */
export function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  if (!e) return false;
  if (typeof e.code === "string") {
    if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND"].includes(e.code)) return true;
    if (e.code.startsWith("08") || e.code === "57P01" || e.code === "57P02" || e.code === "57P03") return true;
    if (e.code === "40001" || e.code === "40P01" || e.code === "53300") return true;
    // read_only_sql_transaction: a standby answered (a failover under way, or a demoted primary):
    // the database is not back yet, as far as writing goes
    if (e.code === "25006") return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message ?? "");
}

/**
 * True when `error` (a driver error, or one fromDatabaseError wrapped) is a unique violation, of
 * `constraint` when given: e.g. a run id that is taken because a retried request inserted it first.
 */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; cause?: unknown } | null;
  if (!e) return false;
  if (e.code === "23505") return constraint === undefined || e.constraint === constraint;
  return e.cause !== undefined && e.cause !== error && isUniqueViolation(e.cause, constraint);
}
