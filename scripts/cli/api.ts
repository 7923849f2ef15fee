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
  request<T>(method: "GET" | "POST", route: string, body?: unknown): Promise<T>;
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
    async request<T>(method: "GET" | "POST", route: string, body?: unknown): Promise<T> {
      const response = await fetch(`${url}${route}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
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
