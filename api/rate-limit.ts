// The API's rate limits, shared by every API process: the windows live in Postgres
// (everruns_private.rate_limits, 000009), counted by rate-limiter-flexible's RateLimiterPostgres
// on the API's pool, one upsert per window per request (the row of a key is locked for the
// length of that statement only). Two things are limited:
//
//   - requests per API key: at most EVERRUNS_RATE_LIMIT_PER_MINUTE in a minute (default 1200)
//     and at most EVERRUNS_RATE_LIMIT_BURST in any one second (default 200), on every surface
//     that takes a key: REST, SSE, AG-UI, GraphQL over HTTP (checked right after the key is
//     verified, api/auth.ts) and each GraphQL operation over a websocket (api/server.ts);
//   - failed authentications per client address (a brute force of keys, or a client
//     misconfigured in a loop): at most EVERRUNS_AUTH_FAILURES_PER_MINUTE (default 60) 401s a
//     minute; after that every request from the address that brings a key this process has not
//     verified in the last 5 s is answered 429, its key unchecked, until the window ends.
//
// Over a limit: 429 `{"error": {"code": "rate_limited", "message": …}}` naming the limit and
// when to retry, with `Retry-After` (seconds). 0 turns a limit off. /healthz is never limited.
//
// Windows are fixed (they start at a key's first request and last a minute, or a second), as
// rate-limiter-flexible counts them. Once a key is over a window, this process refuses it from
// memory until the window ends, without asking the database again. When the database cannot
// be reached, each limiter falls back to an in-memory one of the same size (its insurance
// limiter): the limit then holds per process, and comes back shared once the database does.
import type { IncomingMessage } from "node:http";
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import type { Pool } from "../db/pool.ts";
import type { Logger } from "../lib/logger.ts";

export interface RateLimitSettings {
  /** Requests per API key per minute; 0: none. */
  perMinute: number;
  /** Requests per API key per second; 0: none. */
  burst: number;
  /** Failed authentications per client address per minute; 0: none. */
  authFailuresPerMinute: number;
}

/** A refusal: what to tell the client, and in how many seconds to retry. */
export interface RateLimited {
  message: string;
  retryAfterSeconds: number;
}

export const RATE_LIMIT_SCHEMA = "everruns_private";
export const RATE_LIMIT_TABLE = "rate_limits";

/** The address a request came from (the socket's: a proxy in front makes every client the proxy's). */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

function retryAfter(res: RateLimiterRes): number {
  return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/**
 * What a set of limits counts: its rows' key prefixes in everruns_private.rate_limits and the
 * words of its refusals. The API's keys (API_KEY_SCOPE) and webhook deliveries (HOOK_SCOPE,
 * api/hooks.ts: per webhook and sender address; failed deliveries per address) are counted apart,
 * so that a sender's mistakes never lock its address out of /api.
 */
export interface RateLimitScope {
  prefixes: { perMinute: string; burst: string; failures: string };
  /** "an API key may make": a request refusal reads "rate limit exceeded: <requests> at most …" */
  requests: string;
  /** what failed: "failed authentications" */
  failures: string;
  /** one failure: "invalid or missing key" */
  failure: string;
  /** after "retry in N seconds": " with a valid key" */
  retryHint: string;
}

export const API_KEY_SCOPE: RateLimitScope = {
  prefixes: { perMinute: "evr_rl_key", burst: "evr_rl_burst", failures: "evr_rl_authfail" },
  requests: "an API key may make",
  failures: "failed authentications",
  failure: "invalid or missing key",
  retryHint: " with a valid key",
};

interface Window {
  limiter: RateLimiterPostgres;
  points: number;
  per: "minute" | "second";
}

export class ApiRateLimits {
  readonly settings: RateLimitSettings;
  readonly #perKey: Window[] = [];
  readonly #authFailures: RateLimiterPostgres | null;
  readonly #log: Logger;
  #warnedFallback = false;

  readonly #scope: RateLimitScope;

  constructor(pool: Pool, settings: RateLimitSettings, log: Logger, scope: RateLimitScope = API_KEY_SCOPE) {
    this.settings = settings;
    this.#log = log;
    this.#scope = scope;
    const make = (keyPrefix: string, points: number, duration: number, blockInMemory: boolean) =>
      new RateLimiterPostgres({
        storeClient: pool,
        storeType: "pool",
        schemaName: RATE_LIMIT_SCHEMA,
        tableName: RATE_LIMIT_TABLE,
        tableCreated: true, // by 000009: the API's login may not create tables
        keyPrefix,
        points,
        duration,
        // over the window: refused from this process' memory until the window ends
        ...(blockInMemory ? { inMemoryBlockOnConsumed: points + 1 } : {}),
        insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
      });
    const { prefixes } = scope;
    if (settings.perMinute > 0)
      this.#perKey.push({ limiter: make(prefixes.perMinute, settings.perMinute, 60, true), points: settings.perMinute, per: "minute" });
    if (settings.burst > 0) this.#perKey.push({ limiter: make(prefixes.burst, settings.burst, 1, true), points: settings.burst, per: "second" });
    this.#authFailures = settings.authFailuresPerMinute > 0 ? make(prefixes.failures, settings.authFailuresPerMinute, 60, false) : null;
  }

  /** Whether any limit is on. */
  get enabled(): boolean {
    return this.#perKey.length > 0 || this.#authFailures !== null;
  }

  #describeKeyLimit(): string {
    return this.#perKey.map((w) => `${plural(w.points, "request")} per ${w.per}`).join(" and ");
  }

  #unexpected(error: unknown): null {
    // the insurance limiter answers when the database does not: this is neither
    if (!this.#warnedFallback) {
      this.#warnedFallback = true;
      this.#log.warn(`rate limit check failed, request let through: ${(error as Error)?.message ?? String(error)}`);
    }
    return null;
  }

  /** Counts one request (or GraphQL operation) of the key `keyId`; a refusal when it is over a limit. */
  async consumeKey(keyId: string): Promise<RateLimited | null> {
    if (this.#perKey.length === 0) return null;
    const results = await Promise.allSettled(this.#perKey.map((w) => w.limiter.consume(keyId)));
    let waitMs = -1;
    for (const result of results) {
      if (result.status === "fulfilled") continue;
      if (!(result.reason instanceof RateLimiterRes)) return this.#unexpected(result.reason);
      waitMs = Math.max(waitMs, result.reason.msBeforeNext);
    }
    if (waitMs < 0) return null;
    const seconds = retryAfter(new RateLimiterRes(0, waitMs));
    return {
      message: `rate limit exceeded: ${this.#scope.requests} at most ${this.#describeKeyLimit()} (EVERRUNS_RATE_LIMIT_PER_MINUTE, EVERRUNS_RATE_LIMIT_BURST); retry in ${plural(seconds, "second")}`,
      retryAfterSeconds: seconds,
    };
  }

  #authRefusal(res: RateLimiterRes): RateLimited {
    const seconds = retryAfter(res);
    return {
      message: `too many ${this.#scope.failures} from this address: at most ${plural(this.settings.authFailuresPerMinute, this.#scope.failure)} per minute (EVERRUNS_AUTH_FAILURES_PER_MINUTE); retry in ${plural(seconds, "second")}${this.#scope.retryHint}`,
      retryAfterSeconds: seconds,
    };
  }

  /** A refusal when `address` has used up its failed authentications for now (asked before a key is checked). */
  async authBlocked(address: string): Promise<RateLimited | null> {
    if (!this.#authFailures) return null;
    try {
      const res = await this.#authFailures.get(address);
      if (res && res.consumedPoints >= this.settings.authFailuresPerMinute && res.msBeforeNext > 0) return this.#authRefusal(res);
      return null;
    } catch (error) {
      return this.#unexpected(error);
    }
  }

  /** Counts a failed authentication from `address`; a refusal when that was one too many. */
  async authFailed(address: string): Promise<RateLimited | null> {
    if (!this.#authFailures) return null;
    try {
      await this.#authFailures.consume(address);
      return null;
    } catch (error) {
      if (error instanceof RateLimiterRes) return this.#authRefusal(error);
      return this.#unexpected(error);
    }
  }
}

/** A limiter with every limit off (no database use). */
export const NO_RATE_LIMITS: RateLimitSettings = { perMinute: 0, burst: 0, authFailuresPerMinute: 0 };
