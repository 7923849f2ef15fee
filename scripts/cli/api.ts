// The CLI's calls to the API: the commands that act on runs as an operator (run, approve,
// reject, signal, resume) go through the API with an API key, like any client, so the API's
// checks, roles and audit apply. The key: EVERRUNS_API_KEY, else the file everruns start keeps.
import { EverrunsError, NotFoundError } from "../../db/errors.ts";
import type { Env } from "../../db/env.ts";
import { cliApiKey } from "../api-key-file.ts";

export function apiUrlOf(env: Env): string {
  return (env.EVERRUNS_API_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, "");
}

export interface ApiClient {
  url: string;
  key: string;
  /** where the key came from (EVERRUNS_API_KEY or the file), for messages */
  source: string;
  request<T>(method: "GET" | "POST" | "PATCH" | "DELETE", route: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  refusedKey(status: number, message: string): EverrunsError;
}

export function apiClient(env: Env): ApiClient {
  const url = apiUrlOf(env);
  const { key, source } = cliApiKey();
  // a refused key: the API's message (revoked, expired, the role it needs) and where the key came from
  const refusedKey = (status: number, message: string) =>
    new EverrunsError(status === 401 ? "unauthenticated" : "forbidden", `the API refused the key from ${source} (HTTP ${status}): ${message}`);
  return {
    url,
    key,
    source,
    refusedKey,
    async request<T>(method: "GET" | "POST" | "PATCH" | "DELETE", route: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
      const response = await fetch(`${url}${route}`, {
        method,
        headers: { ...headers, authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).catch((error: unknown) => {
        throw new EverrunsError(
          "api_unreachable",
          `the API at ${url} is not reachable (${(error as Error).message}): start it with "everruns start" or "everruns api", or set EVERRUNS_API_URL`,
        );
      });
      const parsed = (await response.json().catch(() => ({}))) as { error?: { message?: string; code?: string } };
      const message = parsed.error?.message ?? response.statusText;
      if (response.status === 401 || response.status === 403) throw refusedKey(response.status, message);
      if (response.status === 404) throw new NotFoundError(message);
      if (!response.ok) throw new EverrunsError(parsed.error?.code ?? "rejected", `the API refused it (HTTP ${response.status}): ${message}`);
      return parsed as T;
    },
  };
}

/** The API answered a streamed request with an error: its HTTP status and the error body's fields (code, message, and any others, e.g. `lines`). */
export class ApiRefusedError extends EverrunsError {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, code: string, message: string, body: Record<string, unknown>) {
    super(code, message);
    this.status = status;
    this.body = body;
  }
}

interface StreamRequest {
  /** what to send, read as it is sent (a file or stdin through a Transform): never held whole */
  body?: AsyncIterable<Uint8Array>;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
}

/**
 * A request whose body or answer is a stream (a JSONL upload, NDJSON results, server-sent events):
 * the Response when it is 2xx, for the caller to read as it arrives. Refusals throw as `request`
 * does (unreachable, a refused key, 404), any other as ApiRefusedError with the error body.
 */
export async function streamRequest(api: ApiClient, method: "GET" | "POST", route: string, opts: StreamRequest = {}): Promise<Response> {
  const response = await fetch(`${api.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${api.key}`,
      ...(opts.contentType ? { "content-type": opts.contentType } : {}),
      ...(opts.accept ? { accept: opts.accept } : {}),
    },
    // a stream as the body needs half duplex: the answer may only be read once it is all sent
    ...(opts.body ? { body: opts.body, duplex: "half" as const } : {}),
    signal: opts.signal,
  }).catch((error: unknown) => {
    if (opts.signal?.aborted) throw error;
    const cause = (error as Error & { cause?: Error }).cause?.message;
    throw new EverrunsError(
      "api_unreachable",
      `the API at ${api.url} is not reachable (${(error as Error).message}${cause ? `: ${cause}` : ""}): start it with "everruns start" or "everruns api", or set EVERRUNS_API_URL`,
    );
  });
  if (response.ok) return response;
  const parsed = (await response.json().catch(() => ({}))) as { error?: Record<string, unknown> };
  const error = parsed.error ?? {};
  const message = typeof error.message === "string" ? error.message : response.statusText;
  if (response.status === 401 || response.status === 403) throw api.refusedKey(response.status, message);
  if (response.status === 404) throw new NotFoundError(message);
  const code = typeof error.code === "string" ? error.code : "rejected";
  throw new ApiRefusedError(response.status, code, `the API refused it (HTTP ${response.status}): ${message}`, error);
}
