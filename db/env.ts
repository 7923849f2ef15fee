// Process configuration from the environment, validated once at start-up. An invalid value
// stops the process with a message naming the variable and what is wrong with it.
import { isIPv6 } from "node:net";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { ConnectionTargetError, parseConnectionTarget } from "./connection-target.ts";
import { providerEnvShape } from "../worker/providers/registry.ts";
import { EgressAllowSchema, ProviderKeyEnvsSchema } from "../lib/egress/config.ts";

const intFromEnv = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

/** EVERRUNS_ALLOWED_HOSTS / EVERRUNS_ALLOWED_ORIGINS: "*" (anything: unsafe) or the listed entries, normalized. */
export type AllowList = "*" | string[];

const allowListFromEnv = (name: string, expected: string, normalize: (entry: string) => string | null) =>
  z.string().transform((value, ctx): AllowList => {
    const entries = value
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean);
    if (entries.includes("*")) return "*";
    const out: string[] = [];
    for (const entry of entries) {
      const normalized = normalize(entry);
      if (normalized === null) {
        ctx.addIssue({ code: "custom", message: `${name} has an invalid entry "${entry}": expected ${expected}, or * for any (unsafe)` });
        return z.NEVER;
      }
      out.push(normalized);
    }
    return out;
  });

const validPort = (port: string | undefined) => port === undefined || (/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535);

/** "Example.com:4000" → "example.com:4000", "::1" → "[::1]", "[::1]:80" → "[::1]:80"; null if not host[:port]. */
export function normalizeHostEntry(entry: string): string | null {
  const e = entry.toLowerCase();
  if (isIPv6(e)) return `[${e}]`;
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(e);
  if (bracketed) return isIPv6(bracketed[1]!) && validPort(bracketed[2]) ? e : null;
  const named = /^([a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*)(?::(\d+))?$/.exec(e);
  return named && validPort(named[2]) ? e : null;
}

/** "https://Console.example.com/" → "https://console.example.com"; null if not an http(s) origin. */
export function normalizeOriginEntry(entry: string): string | null {
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash) return null;
  return url.origin;
}

export const AllowedHostsSchema = allowListFromEnv("EVERRUNS_ALLOWED_HOSTS", "host[:port] (everruns.example.com, 10.0.0.5:4000, [::1])", normalizeHostEntry);
export const AllowedOriginsSchema = allowListFromEnv(
  "EVERRUNS_ALLOWED_ORIGINS",
  "an origin, scheme://host[:port] (https://console.example.com, http://localhost:5173)",
  normalizeOriginEntry,
);

/**
 * Defaults of the EVERRUNS_DB_*_TIMEOUT_MS variables. Every engine statement is a short keyed
 * update or read (a step's commit is milliseconds; the slowest, a sweep or a dashboard page,
 * well under a second), so each bound is far above normal and only stops what is stuck:
 * - statement 60 s: a query that long is hung (a lost network, a pathological plan); failing it
 *   frees the worker's slot and its connection, and the step attempt is retried.
 * - lock 10 s: engine transactions hold a run's row for milliseconds; a 10 s wait means something
 *   else holds it (an administrator's open transaction): fail and retry rather than pile up.
 * - idle in transaction 60 s: the engine never waits inside a transaction (LLM and tool calls run
 *   outside), so such a session is a leak; ending it frees its locks for everyone.
 * - connect 10 s: a healthy server accepts in milliseconds and a managed failover takes 30-120 s;
 *   10 s lets the reconnect loop retry (with backoff) instead of hanging on one try.
 */
export const DB_TIMEOUT_DEFAULTS = { statementMs: 60_000, lockMs: 10_000, idleInTransactionMs: 60_000, connectMs: 10_000 } as const;

const EnvObject = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .superRefine((value, ctx) => {
      // a host list (h1:5432,h2:5432) and target_session_attrs are read by db/connection-target.ts
      try {
        parseConnectionTarget(value);
      } catch (error) {
        if (!(error instanceof ConnectionTargetError)) throw error;
        ctx.addIssue({ code: "custom", message: `DATABASE_URL: ${error.message}` });
      }
    })
    .optional(),
  /**
   * A direct connection to the same database when DATABASE_URL goes through a transaction-mode
   * pooler (PgBouncer): LISTEN, the liveness connections, migrations and the connection budget use
   * it, and pooled connections carry no startup options and no named prepared statements.
   */
  DATABASE_DIRECT_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  PORT: intFromEnv("PORT", 1, 65535).default(4000),
  HOST: z.string().min(1).default("127.0.0.1"),
  /** Steps one worker process runs at once (an LLM or tool call each); none of them holds a connection while it waits. */
  WORKER_MAX_IN_FLIGHT: intFromEnv("WORKER_MAX_IN_FLIGHT", 1, 20_000).optional(),
  /** @deprecated the former name of WORKER_MAX_IN_FLIGHT, still read when that is unset */
  WORKER_CONCURRENCY: intFromEnv("WORKER_CONCURRENCY", 1, 20_000).optional(),
  /** Database connections one worker process's pool may hold (plus its LISTEN and liveness connections). */
  WORKER_DB_CONNECTIONS: intFromEnv("WORKER_DB_CONNECTIONS", 3, 1000).default(10),
  /** Connections the API process's pool may hold (plus its LISTEN connection). */
  API_DB_CONNECTIONS: intFromEnv("API_DB_CONNECTIONS", 1, 1000).default(10),
  /** Connections of max_connections an Everruns process refuses to take, left for other clients (db/connection-budget.ts). */
  EVERRUNS_DB_RESERVED_CONNECTIONS: intFromEnv("EVERRUNS_DB_RESERVED_CONNECTIONS", 0, 100_000).default(10),
  /** How long one job may run a run's steps back to back, each commit beginning the next step (0: off; default in worker/main.ts). */
  WORKER_INLINE_CHAIN_MS: intFromEnv("WORKER_INLINE_CHAIN_MS", 0, 3_600_000).optional(),
  WORKER_SHUTDOWN_TIMEOUT_MS: intFromEnv("WORKER_SHUTDOWN_TIMEOUT_MS", 0, 3_600_000).default(10_000),
  /** How long a finished step retries its commit while the database is unreachable (worker/tasks/run_step.ts). */
  EVERRUNS_COMMIT_RETRY_MS: intFromEnv("EVERRUNS_COMMIT_RETRY_MS", 0, 3_600_000).default(60_000),
  /** Where `everruns run` finds the API (default http://127.0.0.1:PORT). */
  EVERRUNS_API_URL: z.url("EVERRUNS_API_URL must be a URL").optional(),
  /** The console's port (everruns start, everruns web). */
  EVERRUNS_WEB_PORT: intFromEnv("EVERRUNS_WEB_PORT", 0, 65535).default(3000),
  EVERRUNS_PG_PORT: intFromEnv("EVERRUNS_PG_PORT", 1, 65535).default(54329),
  EVERRUNS_DATA_DIR: z.string().min(1).optional(),
  /** Hosts, IPs and CIDR ranges the worker may reach on an agent's behalf even when private or loopback (lib/egress/config.ts). */
  EVERRUNS_EGRESS_ALLOW: EgressAllowSchema.optional(),
  /** Further variables an agent's api_key_env may name (its provider's own default is always allowed). */
  EVERRUNS_PROVIDER_KEY_ENVS: ProviderKeyEnvsSchema.optional(),
  /** Host names the API and the console answer to besides loopback and HOST (api/request-guard.ts). */
  EVERRUNS_ALLOWED_HOSTS: AllowedHostsSchema.optional(),
  /** Web origins that may send the API state-changing requests and open its websockets, besides its own and the console's. */
  EVERRUNS_ALLOWED_ORIGINS: AllowedOriginsSchema.optional(),
  /** Requests per API key per minute, shared by every API process (api/rate-limit.ts); 0: no limit. */
  EVERRUNS_RATE_LIMIT_PER_MINUTE: intFromEnv("EVERRUNS_RATE_LIMIT_PER_MINUTE", 0, 100_000_000).default(1200),
  /** Requests per API key in any one second (the burst a key may send at once); 0: no per-second cap. */
  EVERRUNS_RATE_LIMIT_BURST: intFromEnv("EVERRUNS_RATE_LIMIT_BURST", 0, 100_000_000).default(200),
  /** Failed authentications (401) per client address per minute before it gets 429s; 0: no limit. */
  EVERRUNS_AUTH_FAILURES_PER_MINUTE: intFromEnv("EVERRUNS_AUTH_FAILURES_PER_MINUTE", 0, 100_000_000).default(60),
  /** How long a client may take to send a request's headers (slowloris), in ms. */
  EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: intFromEnv("EVERRUNS_HTTP_HEADERS_TIMEOUT_MS", 1000, 3_600_000).default(10_000),
  /** How long a client may take to send a whole request, body included (408 after), in ms; responses (SSE) are not limited. */
  EVERRUNS_HTTP_REQUEST_TIMEOUT_MS: intFromEnv("EVERRUNS_HTTP_REQUEST_TIMEOUT_MS", 1000, 3_600_000).default(30_000),
  /** How long an idle keep-alive connection stays open, in ms (behind a proxy: longer than the proxy's). */
  EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS: intFromEnv("EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS", 0, 3_600_000).default(5_000),
  // Timeouts of the engine's database connections (worker and API pools, liveness, LISTEN),
  // sent as connection options (db/pool.ts); 0: off (the server's own setting applies).
  /** Longest statement, in ms: a hung query or a runaway plan fails instead of holding a worker slot. */
  EVERRUNS_DB_STATEMENT_TIMEOUT_MS: intFromEnv("EVERRUNS_DB_STATEMENT_TIMEOUT_MS", 0, 86_400_000).default(DB_TIMEOUT_DEFAULTS.statementMs),
  /** Longest wait for a row or table lock, in ms: a stuck lock fails the waiting step attempt, which is retried. */
  EVERRUNS_DB_LOCK_TIMEOUT_MS: intFromEnv("EVERRUNS_DB_LOCK_TIMEOUT_MS", 0, 86_400_000).default(DB_TIMEOUT_DEFAULTS.lockMs),
  /** Longest idle time inside an open transaction, in ms: the server ends such a session and frees its locks. */
  EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: intFromEnv("EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 0, 86_400_000).default(
    DB_TIMEOUT_DEFAULTS.idleInTransactionMs,
  ),
  /** Longest wait for a database connection, a new one or a free one of a pool, in ms. */
  EVERRUNS_DB_CONNECT_TIMEOUT_MS: intFromEnv("EVERRUNS_DB_CONNECT_TIMEOUT_MS", 0, 3_600_000).default(DB_TIMEOUT_DEFAULTS.connectMs),
  /**
   * A JSON file of models (prices, context windows, capabilities) merged over the built-in table,
   * lib/models/models.json, in its shape; read at API and worker start (lib/models/operator-file.ts).
   */
  EVERRUNS_MODELS_FILE: z.string().min(1, "EVERRUNS_MODELS_FILE must be a file's path").optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Log lines as JSON or readable text (lib/logger.ts); unset: readable in a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(["json", "pretty"], { error: "must be json or pretty (unset: pretty in a terminal, JSON otherwise)" }).optional(),
  /** A separate listener for /metrics (api/metrics.ts), without a key: every workspace's series; `everruns worker` serves only there. */
  METRICS_PORT: intFromEnv("METRICS_PORT", 0, 65535).optional(),
  /** The address of the METRICS_PORT listener (default HOST's default, 127.0.0.1): an internal, network-restricted one. */
  METRICS_HOST: z.string().min(1, "METRICS_HOST must be an address (127.0.0.1, 0.0.0.0, ::)").optional(),
  /** Distinct workspace and agent (and model) label values /metrics shows, by activity; the rest read "other". */
  METRICS_MAX_LABEL_VALUES: intFromEnv("METRICS_MAX_LABEL_VALUES", 1, 10_000).default(50),
  // each provider's own (OPENAI_API_KEY, ANTHROPIC_BASE_URL, ...): worker/providers/<name>.config.ts
  ...providerEnvShape(),
});
/** A request's headers arrive within the time for the whole request. */
const headersWithinRequest = (env: { EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: number; EVERRUNS_HTTP_REQUEST_TIMEOUT_MS: number }) =>
  env.EVERRUNS_HTTP_HEADERS_TIMEOUT_MS <= env.EVERRUNS_HTTP_REQUEST_TIMEOUT_MS;
const headersWithinRequestProblem = {
  message: "must be at most EVERRUNS_HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)",
  path: ["EVERRUNS_HTTP_HEADERS_TIMEOUT_MS"],
};
const EnvSchema = EnvObject.refine(headersWithinRequest, headersWithinRequestProblem);
export type Env = z.infer<typeof EnvSchema>;

function parseEnv<T extends z.ZodType>(schema: T, source: NodeJS.ProcessEnv): z.infer<T> {
  // Empty strings count as unset, as most shells and .env files mean them.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message}`).join("\n");
    throw new ConfigError(`invalid environment:\n${problems}`);
  }
  return result.data;
}

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  return parseEnv(EnvSchema, source);
}

const RequestGuardEnvSchema = EnvObject.pick({ EVERRUNS_WEB_PORT: true, EVERRUNS_ALLOWED_HOSTS: true, EVERRUNS_ALLOWED_ORIGINS: true });
export type RequestGuardEnv = z.infer<typeof RequestGuardEnvSchema>;

/** Only what the request guard reads (the console's server process, an API started without them). */
export function loadRequestGuardEnv(source: NodeJS.ProcessEnv = process.env): RequestGuardEnv {
  return parseEnv(RequestGuardEnvSchema, source);
}

const ApiLimitsEnvSchema = EnvObject.pick({
  EVERRUNS_RATE_LIMIT_PER_MINUTE: true,
  EVERRUNS_RATE_LIMIT_BURST: true,
  EVERRUNS_AUTH_FAILURES_PER_MINUTE: true,
  EVERRUNS_HTTP_HEADERS_TIMEOUT_MS: true,
  EVERRUNS_HTTP_REQUEST_TIMEOUT_MS: true,
  EVERRUNS_HTTP_KEEPALIVE_TIMEOUT_MS: true,
}).refine(headersWithinRequest, headersWithinRequestProblem);
export type ApiLimitsEnv = z.infer<typeof ApiLimitsEnvSchema>;

/** The API's rate limits and HTTP timeouts (api/rate-limit.ts, api/server.ts). */
export function loadApiLimitsEnv(source: NodeJS.ProcessEnv = process.env): ApiLimitsEnv {
  return parseEnv(ApiLimitsEnvSchema, source);
}

const ConnectionBudgetEnvSchema = EnvObject.pick({ EVERRUNS_DB_RESERVED_CONNECTIONS: true });

/** The connections a process leaves to other clients (db/connection-budget.ts). */
export function loadConnectionBudgetEnv(source: NodeJS.ProcessEnv = process.env): z.infer<typeof ConnectionBudgetEnvSchema> {
  return parseEnv(ConnectionBudgetEnvSchema, source);
}

const DbTimeoutsEnvSchema = EnvObject.pick({
  EVERRUNS_DB_STATEMENT_TIMEOUT_MS: true,
  EVERRUNS_DB_LOCK_TIMEOUT_MS: true,
  EVERRUNS_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: true,
  EVERRUNS_DB_CONNECT_TIMEOUT_MS: true,
});
export type DbTimeoutsEnv = z.infer<typeof DbTimeoutsEnvSchema>;

/** The engine's database timeouts (db/pool.ts: every pool, the liveness and LISTEN connections). */
export function loadDbTimeoutsEnv(source: NodeJS.ProcessEnv = process.env): DbTimeoutsEnv {
  return parseEnv(DbTimeoutsEnvSchema, source);
}

const MetricsEnvSchema = EnvObject.pick({ METRICS_PORT: true, METRICS_HOST: true, METRICS_MAX_LABEL_VALUES: true });
export type MetricsEnv = z.infer<typeof MetricsEnvSchema>;

/** Where /metrics is served besides the API's port, and its label cap (api/metrics.ts, worker/metrics.ts). */
export function loadMetricsEnv(source: NodeJS.ProcessEnv = process.env): MetricsEnv {
  return parseEnv(MetricsEnvSchema, source);
}
