// Turning what an HTTP API SDK (the OpenAI and Anthropic SDKs share their error classes' shape)
// and the network under it throw into a ProviderError the engine can act on: retryable or not,
// how long to wait, and a message that says what to do. An abort of the request's own signal is
// never wrapped: the engine decides what an abort means (worker/abort.ts, StepAbort), so it gets
// the signal's reason back as is. No SDK is imported here: each provider passes its own classes.
import { retryAfterMs } from "../../lib/retry-after.ts";
import { EGRESS_ALLOW_ENV, egressAllowFromEnv, PROVIDER_KEY_ENVS_ENV, providerKeyEnvsFromEnv } from "../../lib/egress/config.ts";
import { egressRefusal } from "../../lib/egress/errors.ts";
import { SecretOpenError } from "../../lib/secret-box.ts";
import { MissingSecretError, SecretsUnavailableError, type WorkspaceSecrets } from "../secrets.ts";
import { ProviderError } from "./types.ts";

type ErrorClass = abstract new (...args: never[]) => Error;

/** The error classes of a provider's SDK (both official SDKs have these). */
export interface SdkErrors {
  /** the SDK's base error class */
  base: ErrorClass;
  APIError: ErrorClass;
  APIUserAbortError: ErrorClass;
  APIConnectionError: ErrorClass;
  APIConnectionTimeoutError: ErrorClass;
}

export interface ErrorContext {
  /** the provider's name for people: "OpenAI" */
  label: string;
  /** where the SDK talks to when no base URL is set */
  defaultUrl: string;
  sdk: SdkErrors;
  /**
   * Where the API key came from, named in authentication errors: an environment variable's name,
   * or `the secret "<name>"` (resolveApiKey).
   */
  apiKeyEnv: string;
  /** The request's signal: when it aborted, its reason is what the caller gets. */
  signal?: AbortSignal;
  /** The base URL the client talked to (undefined: the SDK's default). */
  baseURL?: string;
  model?: string;
}

/** The API key for a call, or a non-retryable ProviderError naming the variable to set. */
export function requireApiKey(label: string, envName: string): string {
  const key = process.env[envName]?.trim();
  if (key) return key;
  throw new ProviderError(
    `no ${label} API key: set the ${envName} environment variable on the worker ` +
      `(or set the agent's api_key_env to the name of a variable that holds the key)`,
    { retryable: false, code: "missing_api_key" },
  );
}

/** The workspace secrets a request carries (LlmRequest.secrets, set by the engine for the run's workspace). */
export function requestSecrets(request: object): WorkspaceSecrets | undefined {
  const secrets = (request as { secrets?: unknown }).secrets;
  return secrets && typeof (secrets as WorkspaceSecrets).resolve === "function" ? (secrets as WorkspaceSecrets) : undefined;
}

/**
 * The API key of a call and where it came from: the agent's `api_key_secret` (a secret of the
 * run's workspace, decrypted here) when set, else its environment variable (allowedApiKeyEnv,
 * requireApiKey). A secret that is not set, or cannot be read, fails the run at once (a
 * non-retryable ProviderError naming the secret, never holding a value); a database outage while
 * reading it is thrown as is (the job is retried).
 */
export async function resolveApiKey(
  label: string,
  config: { api_key_secret?: string | undefined; api_key_env?: string | undefined },
  defaultEnv: string,
  secrets: WorkspaceSecrets | undefined,
): Promise<{ apiKey: string; source: string }> {
  const name = config.api_key_secret;
  if (name === undefined) {
    const env = allowedApiKeyEnv(label, config.api_key_env, defaultEnv);
    return { apiKey: requireApiKey(label, env), source: env };
  }
  const source = `the secret "${name}"`;
  try {
    if (!secrets) throw new SecretsUnavailableError();
    const value = (await secrets.resolve([name])).get(name)?.trim();
    if (!value) throw new MissingSecretError([name]);
    return { apiKey: value, source };
  } catch (error) {
    if (error instanceof MissingSecretError) {
      throw new ProviderError(
        `the agent's api_key_secret names secret "${name}", which is not set in this workspace: set it (everruns secrets set ${name}, ` +
          `or the setSecret mutation) to the ${label} API key, then start the run again`,
        { retryable: false, code: "missing_secret" },
      );
    }
    if (error instanceof SecretsUnavailableError || error instanceof SecretOpenError) {
      throw new ProviderError(`the agent's ${label} key, secret "${name}", cannot be read: ${error.message}`, {
        retryable: false,
        code: "secret_unreadable",
      });
    }
    throw error;
  }
}

/**
 * The variable an agent's key comes from: the provider's own (`defaultEnv`) unless the agent names
 * another, which must be listed in EVERRUNS_PROVIDER_KEY_ENVS (an agent must not make the worker
 * send DATABASE_URL or another secret to a server). Else a non-retryable ProviderError; the
 * variable is never read.
 */
export function allowedApiKeyEnv(label: string, requested: string | undefined, defaultEnv: string): string {
  if (requested === undefined || requested === defaultEnv) return defaultEnv;
  if (providerKeyEnvsFromEnv().has(requested)) return requested;
  throw new ProviderError(
    `the agent's api_key_env names ${requested}, which agents may not use: an agent's ${label} key comes from ${defaultEnv} ` +
      `or from a variable the operator listed in ${PROVIDER_KEY_ENVS_ENV}. Remove api_key_env from the agent config, ` +
      `or have the operator add ${requested} to ${PROVIDER_KEY_ENVS_ENV}`,
    { retryable: false, code: "api_key_env_not_allowed" },
  );
}

/**
 * Whether an agent's own base_url must go through the egress guard: undefined when the agent sets
 * none or names the same origin as a trusted URL (the operator's *_BASE_URL, the provider's
 * own); true when the operator listed its host in EVERRUNS_EGRESS_ALLOW. Any other base_url
 * would receive the worker's API key: a non-retryable ProviderError naming the setting.
 */
export function agentBaseUrlGuarded(label: string, baseUrl: string | undefined, trusted: ReadonlyArray<string | undefined>, baseUrlEnv: string): boolean {
  if (baseUrl === undefined) return false;
  const url = new URL(baseUrl);
  const origin = (u: string) => {
    try {
      return new URL(u).origin;
    } catch {
      return undefined;
    }
  };
  if (trusted.some((t) => t !== undefined && origin(t) === url.origin)) return false;
  if (egressAllowFromEnv().allowsHost(url.hostname.replace(/^\[|\]$/g, ""))) return true;
  throw new ProviderError(
    `the agent's base_url ${baseUrl} is not allowed: the worker sends its ${label} API key to the base URL, and ${url.hostname} ` +
      `is not on ${EGRESS_ALLOW_ENV}. Remove base_url from the agent config (the worker's ${baseUrlEnv} or ${label}'s own API is used), ` +
      `or have the operator add ${url.hostname} to ${EGRESS_ALLOW_ENV}`,
    { retryable: false, code: "base_url_not_allowed" },
  );
}

const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_ABORTED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** A transport failure (reset socket, refused connection, a body cut short), anywhere in the cause chain. */
function networkFailure(error: unknown): string | undefined {
  let current: unknown = error;
  const seen: string[] = [];
  for (let depth = 0; depth < 6 && current && typeof current === "object"; depth++) {
    const e = current as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    const message = typeof e.message === "string" ? e.message : "";
    if (message) seen.push(message);
    if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return seen.join(": ") || e.code;
    if (current instanceof TypeError && /^(terminated|fetch failed)$/i.test(message)) {
      const cause = e.cause as { message?: unknown } | undefined;
      if (cause && typeof cause.message === "string") seen.push(cause.message);
      return seen.join(": ");
    }
    current = e.cause;
  }
  return undefined;
}

function bodyMessage(error: { message: string; status?: number | undefined }): string {
  // The SDKs prefix the status ("429 Rate limit reached..."): we say the status ourselves.
  return error.status ? error.message.replace(new RegExp(`^${error.status}\\s+`), "") : error.message;
}

/** error.code (OpenAI) or error.type (both), from the error body. */
function errorKind(error: unknown): string {
  const e = error as { code?: unknown; type?: unknown; error?: { type?: unknown; code?: unknown; error?: { type?: unknown } } };
  for (const value of [e.code, e.type, e.error?.code, e.error?.type, e.error?.error?.type]) {
    if (typeof value === "string" && value) return value;
  }
  return "";
}

type ApiError = { status: number | undefined; headers: Headers | undefined; message: string };

function fromStatus(error: ApiError, kind: string, ctx: ErrorContext): ProviderError {
  const label = ctx.label;
  const status = error.status!;
  const detail = bodyMessage(error);
  const where = ctx.baseURL ?? ctx.defaultUrl;
  const options = { status, cause: error };
  if (status === 429) {
    if (kind === "insufficient_quota") {
      return new ProviderError(
        `${label} says the account is out of quota (429 insufficient_quota): ${detail}. Check the plan and billing of the account behind ${ctx.apiKeyEnv}`,
        { ...options, retryable: false, code: "quota_exceeded" },
      );
    }
    const wait = retryAfterMs(error.headers);
    return new ProviderError(`${label} rate limited the call (429): ${detail}`, {
      ...options,
      retryable: true,
      code: "rate_limit",
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }
  if (status >= 500 || status === 408 || status === 409) {
    const wait = retryAfterMs(error.headers);
    const what = status === 408 ? "timed out on its side" : status === 409 ? "reported a conflict" : "had a server error";
    return new ProviderError(`${label} ${what} (${status}): ${detail}`, {
      ...options,
      retryable: true,
      code: status >= 500 ? "server_error" : status === 408 ? "timeout" : "conflict",
      ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    });
  }
  switch (status) {
    case 401:
      return new ProviderError(
        `${label} rejected the API key (401): ${detail}. Check ${ctx.apiKeyEnv}: it must hold a valid ${label} API key` +
          (ctx.baseURL ? ` for ${ctx.baseURL}` : ""),
        { ...options, retryable: false, code: "invalid_api_key" },
      );
    case 402:
      return new ProviderError(`${label} refused the call for billing reasons (402): ${detail}. Check the account's plan and billing`, {
        ...options,
        retryable: false,
        code: "billing",
      });
    case 403:
      return new ProviderError(
        `${label} denied access (403): ${detail}. Check that the key in ${ctx.apiKeyEnv} may use model "${ctx.model ?? "?"}" (project, organisation, region)`,
        { ...options, retryable: false, code: "permission_denied" },
      );
    case 404:
      return new ProviderError(`${label} answered 404: ${detail}. Check the model name "${ctx.model ?? "?"}" and the base URL (${where})`, {
        ...options,
        retryable: false,
        code: "not_found",
      });
    case 413:
      return new ProviderError(`${label} says the request is too large (413): ${detail}. Shorten the conversation or the tool results`, {
        ...options,
        retryable: false,
        code: "request_too_large",
      });
    case 400:
    case 422:
      return new ProviderError(
        `${label} rejected the request (${status}): ${detail}. Check the agent config (model, max_tokens, temperature, ` +
          `reasoning settings) and the tools' JSON schemas`,
        { ...options, retryable: false, code: "bad_request" },
      );
    default:
      return new ProviderError(`${label} refused the call (${status}): ${detail}`, { ...options, retryable: false, code: "provider_error" });
  }
}

const RETRYABLE_KINDS = /rate_limit|overloaded|server_error|api_error|timeout|unavailable|internal/i;

/**
 * What to throw for an error raised by an LLM call: the abort reason of `ctx.signal` when it
 * aborted; a ProviderError for API errors, network failures and broken streams; anything else
 * (a bug of ours) unchanged.
 */
export function providerError(error: unknown, ctx: ErrorContext): unknown {
  if (ctx.signal?.aborted) return ctx.signal.reason;
  if (error instanceof ProviderError) return error;
  const label = ctx.label;
  const where = ctx.baseURL ?? ctx.defaultUrl;
  const sdk = ctx.sdk;

  const refused = egressRefusal(error);
  if (refused) {
    // the egress guard refused the agent's base_url (or a redirect from it): retrying cannot help
    return new ProviderError(`the ${label} call to the agent's base_url was refused: ${refused.message}`, {
      retryable: false,
      code: "egress_refused",
      cause: error,
    });
  }

  if (error instanceof sdk.APIUserAbortError) {
    // aborted, but not by our signal (the SDK's own controller): treat as a broken call
    return new ProviderError(`the ${label} call was aborted`, { retryable: true, code: "aborted", cause: error });
  }
  if (error instanceof sdk.APIConnectionTimeoutError) {
    return new ProviderError(`the ${label} call timed out (${where})`, { retryable: true, code: "timeout", cause: error });
  }
  if (error instanceof sdk.APIConnectionError) {
    const why = networkFailure(error.cause) ?? error.message;
    return new ProviderError(`could not reach ${label} at ${where}: ${why}`, { retryable: true, code: "network_error", cause: error });
  }
  if (error instanceof sdk.APIError) {
    const api = error as unknown as ApiError;
    const kind = errorKind(error);
    if (typeof api.status === "number") return fromStatus(api, kind, ctx);
    // An error event inside a stream that had started fine (HTTP 200).
    const retryable = RETRYABLE_KINDS.test(kind) || !/invalid|authentication|permission|not_found|context_length|quota|billing/i.test(kind);
    return new ProviderError(`${label} reported an error mid-stream${kind ? ` (${kind})` : ""}: ${error.message}`, {
      retryable,
      code: retryable ? "stream_error" : "bad_request",
      cause: error,
    });
  }
  const network = networkFailure(error);
  if (network !== undefined) {
    return new ProviderError(`the response from ${label} broke off (${network}); the call can be retried`, {
      retryable: true,
      code: "stream_interrupted",
      cause: error,
    });
  }
  if (error instanceof SyntaxError || error instanceof sdk.base) {
    // a garbled event stream (a proxy cutting frames) or an SDK-level failure reading it
    return new ProviderError(`could not read the response from ${label}: ${error.message}`, {
      retryable: true,
      code: "bad_stream",
      cause: error,
    });
  }
  return error;
}

/** A stream that ended without its closing event: the connection was cut cleanly mid-response. */
export function truncatedStream(label: string, missing: string): ProviderError {
  return new ProviderError(`the response from ${label} ended before ${missing}; the call can be retried`, {
    retryable: true,
    code: "stream_interrupted",
  });
}

/**
 * Iterates `source` but stops at once when `signal` aborts, rejecting with its reason (the SDKs
 * end an aborted stream quietly, and only after the body read notices).
 */
export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- AbortSignal.reason is `any` in TypeScript's lib; it is passed on as the aborter gave it (a StepAbort here)
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => {});
  let finished = false;
  try {
    while (true) {
      if (signal.aborted) throw signal.reason;
      const pending = iterator.next();
      pending.catch(() => {}); // if the abort wins the race, a later rejection is not unhandled
      const next = await Promise.race([pending, aborted]);
      if (next.done) {
        finished = true;
        break;
      }
      yield next.value;
    }
    if (signal.aborted) throw signal.reason;
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Release the HTTP response; never wait on it (it may hang on a dead socket).
    if (!finished) iterator.return?.()?.catch(() => {});
  }
}
