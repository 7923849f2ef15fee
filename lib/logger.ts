// Structured logs (docs/observability.md "Logs"): pino, one JSON object per line — `level` as
// its name, `time` in ISO 8601 UTC, `pid`, `hostname`, `component` (who logs: worker, api, …),
// the bindings of the work it is about (run_id, seq, attempt, workspace_id, trace_id, …) and
// `msg` — when stdout is no terminal or LOG_FORMAT=json; one readable line each (pino-pretty)
// in a terminal or with LOG_FORMAT=pretty. debug and info go to stdout, warn and error to
// stderr. Every line is written synchronously before the call returns: a process killed with
// -9 loses none already logged (no worker thread, no buffer). Secrets are never written:
// fields named like credentials are redacted, and API keys, bearer tokens and connection
// strings' passwords are cut out of messages and string fields.
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire } from "node:module";
import pino, { type DestinationStream, type Logger as PinoLogger } from "pino";

/**
 * What a line is about, bound once to a child logger (`log.child({...})`) and written on each of
 * its lines. A closed set, so that operators' queries and dashboards can rely on the names.
 */
export type LogBindings = {
  /** Who logs: `worker`, `api`, `everruns`, `web`… (set by consoleLogger from its prefix). */
  component?: string;
  /** The run a line is about (worker steps: every line). */
  run_id?: string;
  /** The run's step (`run_steps.seq`, the run's step cursor) the line is about. */
  seq?: number;
  /** The step's attempt (`run_steps.attempt`: 2 and up after a crash or a retry). */
  attempt?: number;
  /** The workspace of the run, or of the API key of a request. */
  workspace_id?: string;
  /** The W3C trace id (32 hex): a run's (lib/trace-id.ts runTraceId), or a request's traceparent. */
  trace_id?: string;
  /** The agent, by id (`agent_id`) or by name (`agent`). */
  agent_id?: string;
  agent?: string;
  /** The run's thread, and the run that started it as a sub-agent. */
  thread_id?: string;
  parent_run_id?: string;
  /** graphile-worker's job and the worker pool (liveness registration) running it. */
  job_id?: string;
  pool_id?: string;
  /** An API request: its id (X-Request-Id, given or made). */
  request_id?: string;
};

/** More about one line: any JSON-serializable values (secrets are redacted, see REDACT_PATHS). */
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * A logger whose every line carries `bindings` too (over this one's). Optional, so that a
   * logger of four functions (a test's recorder) still is one: call it through childLogger().
   */
  child?(bindings: LogBindings): Logger;
}

/**
 * `log.child(bindings)`; for a logger without child (four functions), one that passes the
 * bindings with each line's fields, which such a logger may ignore.
 */
export function childLogger(log: Logger, bindings: LogBindings): Logger {
  if (log.child) return log.child(bindings);
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => log[level](message, fields ? { ...bindings, ...fields } : bindings);
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => childLogger(log, { ...bindings, ...more }),
  };
}

const LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** LOG_FORMAT when it is json or pretty (db/env.ts refuses anything else at start); else pretty in a terminal, JSON otherwise. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  const chosen = env.LOG_FORMAT;
  if (chosen === "json" || chosen === "pretty") return chosen;
  return stdout.isTTY ? "pretty" : "json";
}

// ---- secrets ----

const CENSOR = "[Redacted]";

/**
 * Fields never written as they are, at the top level and one level down (`req.headers.authorization`
 * is `*.headers.authorization`): credentials by their usual names.
 */
export const REDACT_PATHS: readonly string[] = [
  "authorization",
  "cookie",
  "password",
  "api_key",
  "apiKey",
  "secret",
  "token",
  "access_token",
  "refresh_token",
  "client_secret",
]
  .flatMap((name) => [name, `*.${name}`, `headers.${name}`, `*.headers.${name}`])
  .concat([
    'headers["x-api-key"]',
    '*.headers["x-api-key"]',
    'headers["set-cookie"]',
    '*.headers["set-cookie"]',
    'headers["proxy-authorization"]',
    '*.headers["proxy-authorization"]',
  ]);

/**
 * Secrets in text: an Everruns API key (evr_…), a bearer or basic credential, provider keys
 * (sk-…), webhook secrets (whsec_…), and the password of a URL's user info
 * (postgres://user:password@host, as scripts/cli/instance.ts withoutPassword hides it).
 */
const SECRET_TEXT =
  /\b(evr_[A-Za-z0-9_-]{16,}|whsec_[A-Za-z0-9+/=_-]{16,}|sk-[A-Za-z0-9_-]{16,})|\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}|(\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi;

/** What each of SECRET_TEXT's cases begins with: a cheaper test for the text of most lines, which hold none. */
const MAYBE_SECRET = /evr_|whsec_|sk-|bearer|basic|:\/\//i;

/** `text` with the secrets it holds replaced by [Redacted] (the scheme and user of a URL stay). */
export function redactText(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  return text.replace(SECRET_TEXT, (_match, token: string | undefined, scheme: string | undefined, userInfo: string | undefined) => {
    if (token !== undefined) return CENSOR;
    if (scheme !== undefined) return `${scheme} ${CENSOR}`;
    return `${userInfo}:${CENSOR}@`;
  });
}

/** A value with the secrets cut out of its strings: a string, an Error, or the strings of a plain object (one level down). */
function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value instanceof Error)
    return { type: value.constructor.name || value.name, message: redactText(value.message), ...(value.stack && { stack: redactText(value.stack) }) };
  if (depth === 0 && value !== null && typeof value === "object" && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype) {
    return redactFields(value as LogFields, depth + 1);
  }
  return value;
}

/** Fields with secrets cut out of their strings (REDACT_PATHS does the names); the same object when nothing changed. */
function redactFields(fields: LogFields, depth = 0): LogFields {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    const clean = redactValue(value, depth);
    if (clean !== value) (out ??= { ...fields })[key] = clean;
  }
  return out ?? fields;
}

// ---- the log context of a request ----

/** Bindings written on every line logged while work of one scope runs (its awaits and callbacks included). */
export class LogScope {
  ended = false;
  readonly bindings: LogBindings;
  constructor(bindings: LogBindings) {
    this.bindings = { ...bindings };
  }
  /** Adds bindings, e.g. the workspace once a request is authenticated. */
  add(bindings: LogBindings): void {
    Object.assign(this.bindings, bindings);
  }
  /** No line is stamped with it any more (timers and connections made within it may outlive it). */
  end(): void {
    this.ended = true;
  }
}

const scopes = new AsyncLocalStorage<LogScope>();

/** Runs `fn` in `scope`: every line any logger writes meanwhile, within it and what it awaits or schedules, carries its bindings. */
export function runInLogScope<T>(scope: LogScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** Adds bindings to the scope this code runs in (none: nothing). */
export function addLogBindings(bindings: LogBindings): void {
  scopes.getStore()?.add(bindings);
}

/** The bindings of the scope this code runs in, if any is open. */
export function currentLogBindings(): LogBindings | undefined {
  const scope = scopes.getStore();
  return scope && !scope.ended ? scope.bindings : undefined;
}

// ---- where lines go ----

/** pino's numeric levels: warn is 40. */
const WARN = 40;

/**
 * A pino destination writing each line at once (fs.writeSync through sonic-boom, which retries
 * a full pipe): debug and info to stdout, warn and error to stderr; pretty lines formatted in
 * this thread first.
 */
interface Sink extends DestinationStream {
  lastLevel: number;
}

const sinks: Partial<Record<LogFormat, Sink>> = {};

function sink(format: LogFormat): Sink {
  const existing = sinks[format];
  if (existing) return existing;
  const out = pino.destination({ dest: 1, sync: true });
  const err = pino.destination({ dest: 2, sync: true });
  // pino-pretty only in pretty mode: a worker under a supervisor (JSON) does not load it
  const pretty = format === "pretty" ? prettifier() : null;
  const made: Sink = {
    [Symbol.for("pino.metadata")]: true, // pino sets lastLevel before each write
    lastLevel: 0,
    write(line: string) {
      (this.lastLevel >= WARN ? err : out).write(pretty ? pretty(line) : line);
    },
  };
  sinks[format] = made;
  return made;
}

/** pino-pretty's formatter, used in this thread (its transport would format in a worker thread, and lose lines at a kill -9). */
function prettifier(): (line: string) => string {
  const require = createRequire(import.meta.url);
  const { prettyFactory, isColorSupported } = require("pino-pretty") as typeof import("pino-pretty");
  const format = prettyFactory({
    colorize: isColorSupported && process.stdout.isTTY === true,
    translateTime: false, // the time as written: ISO 8601 UTC
    ignore: "pid,hostname,component",
    messageFormat: "{if component}[{component}] {end}{msg}",
    singleLine: true,
  });
  return (line) => format(line);
}

// ---- loggers ----

/** "[worker 1234]" → "worker" (the pid is a field of its own), "[api]" → "api", "quota" → "quota". */
function componentOf(prefix: string): string {
  const bare = prefix
    .trim()
    .replace(/^\[(.*)\]$/, "$1")
    .trim();
  const own = ` ${process.pid}`;
  return (bare.endsWith(own) ? bare.slice(0, -own.length) : bare) || prefix;
}

/** A Logger over pino logger `root` with `bindings` (each key once per line: a child's replace its parent's). */
function wrap(root: PinoLogger, bindings: LogBindings): Logger {
  const p = root.child(bindings);
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (!p.isLevelEnabled(level)) return;
    const text = redactText(message);
    if (fields === undefined) p[level](text);
    else p[level](redactFields(fields), text);
  };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => wrap(root, { ...bindings, ...redactFields(more) }),
  };
}

/**
 * The process's logger for one component (`prefix`, as "[worker]" or "[api 1234]": its name
 * becomes the `component` field), writing lines at `level` and above in the format of
 * logFormat() (LOG_FORMAT, or whether stdout is a terminal).
 */
export function consoleLogger(prefix: string, level: LogLevel = "info", format: LogFormat = logFormat()): Logger {
  const root = pino(
    {
      level: LEVELS.includes(level) ? level : "info",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: CENSOR },
      // errors in fields are written as {type, message, stack} already (redactValue)
      serializers: { err: (value: unknown) => value },
      // the bindings of the request (or other scope) this line is logged in (runInLogScope)
      // (a copy: pino merges the line's fields into what mixin returns)
      mixin: () => ({ ...currentLogBindings() }),
    },
    sink(format),
  );
  return wrap(root, { component: componentOf(prefix) });
}
