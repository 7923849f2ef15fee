// `http` tools (README, "What an agent can do"): the arguments are POSTed as JSON to the tool's url with
// `Idempotency-Key: <run_id>:<tool_call_id>`, the same on every retry of the call, so the
// receiving system can deduplicate what at-least-once execution may send twice. Every call goes
// through the egress guard (lib/egress/guard.ts): a private, loopback or metadata address is
// refused unless EVERRUNS_EGRESS_ALLOW lists it, redirects are followed by the guard (custom
// headers and the Idempotency-Key do not cross origins), and a connection failure says only
// that the host could not be reached (no port-scan oracle).
//
// A header's value may reference a secret of the run's workspace ({"secret": "<name>"}): it is
// resolved here, at call time, in the worker (worker/secrets.ts; worker/tools/headers.ts, shared
// with MCP servers), and a missing secret is a ToolError the model sees. A resolved value that
// comes back in a response or an error (a server echoing its headers) is replaced by
// `[secret <name>]` before anything is returned.
//
// A response is read as a stream and never held beyond its cap: min(the tool's
// max_response_bytes, the operator's EVERRUNS_HTTP_MAX_RESPONSE_BYTES; default 1 MiB), counted
// in bytes as decoded (after gzip/br), whatever the content-length says. Once the cap is passed
// the body is cancelled (the connection closed) and the call is a ToolError naming the limit;
// nothing of the body is kept. An error status's body is read only as far as the model is shown
// of it (a few KB) and cut there.
import type { Response } from "undici";
import { z } from "zod";
import { ConfigError } from "../../db/errors.ts";
import { retryAfterMs } from "../../lib/retry-after.ts";
import type { HttpToolSpec } from "../../db/schemas.ts";
import { EgressRedirectError, EgressRefusedError } from "../../lib/egress/errors.ts";
import type { EgressGuard } from "../../lib/egress/guard.ts";
import { redactSecrets, type WorkspaceSecrets } from "../secrets.ts";
import { headerSecretNames as secretNamesOf, resolveHeaders } from "./headers.ts";
import { ToolError, TransientToolError, type Tool, type ToolContext } from "./types.ts";

const DEFAULT_TIMEOUT_MS = 30_000;

/** The operator's maximum for any http tool's response, in bytes (README, Configuration). */
export const HTTP_MAX_RESPONSE_BYTES_ENV = "EVERRUNS_HTTP_MAX_RESPONSE_BYTES";
/** Its default: 1 MiB. */
export const DEFAULT_HTTP_MAX_RESPONSE_BYTES = 1_048_576;
/** The most it may be set to: the largest max_response_bytes a tool may ask for (db/schemas.ts). */
export const HTTP_MAX_RESPONSE_BYTES_LIMIT = 100_000_000;
/** How much of an error status's body is read: the model is shown its first 1000 characters. */
const ERROR_BODY_BYTES = 4096;

/** EVERRUNS_HTTP_MAX_RESPONSE_BYTES: a whole number of bytes, 1 to 100000000 (for db/env.ts, too). */
export const HttpMaxResponseBytesSchema = z
  .string()
  .trim()
  .regex(/^\d+$/, `${HTTP_MAX_RESPONSE_BYTES_ENV} must be a whole number of bytes`)
  .transform(Number)
  .pipe(
    z
      .number()
      .min(1, `${HTTP_MAX_RESPONSE_BYTES_ENV} must be at least 1`)
      .max(HTTP_MAX_RESPONSE_BYTES_LIMIT, `${HTTP_MAX_RESPONSE_BYTES_ENV} must be at most ${HTTP_MAX_RESPONSE_BYTES_LIMIT}`),
  );

let cachedMax: { raw: string | undefined; value: number } | undefined;

/**
 * EVERRUNS_HTTP_MAX_RESPONSE_BYTES as this process has it (parsed once per value; unset or empty:
 * 1 MiB). An invalid value is a ConfigError naming the variable.
 */
export function httpMaxResponseBytesFromEnv(): number {
  const raw = process.env[HTTP_MAX_RESPONSE_BYTES_ENV]?.trim() || undefined;
  if (cachedMax && cachedMax.raw === raw) return cachedMax.value;
  let value = DEFAULT_HTTP_MAX_RESPONSE_BYTES;
  if (raw !== undefined) {
    const parsed = HttpMaxResponseBytesSchema.safeParse(raw);
    if (!parsed.success) throw new ConfigError(`invalid environment: ${parsed.error.issues[0]!.message} (got "${raw}")`);
    value = parsed.data;
  }
  cachedMax = { raw, value };
  return value;
}

type HttpSpec = HttpToolSpec;

/**
 * The body, read as a stream up to `cap` bytes. Past the cap the rest is not read: the body is
 * cancelled (undici closes the connection) and `over` is true; `data` then holds the first `cap`
 * bytes. At most `cap` bytes plus the chunk being read are held, whatever the content-length.
 */
async function readCapped(response: Response, cap: number): Promise<{ data: Buffer; over: boolean }> {
  const body = response.body;
  if (!body) return { data: Buffer.alloc(0), over: false };
  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { data: Buffer.concat(chunks, size), over: false };
    const room = cap - size;
    if (value.byteLength > room) {
      if (room > 0) chunks.push(value.subarray(0, room));
      size = cap;
      await reader.cancel().catch(() => {});
      return { data: Buffer.concat(chunks, size), over: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
}

/** `text` with resolved secret values replaced; when it was cut, a tail that begins a secret value is dropped too. */
function redactBody(text: string, used: ReadonlyMap<string, string>, cut: boolean): string {
  if (used.size === 0) return text;
  let out = redactSecrets(text, used);
  if (cut) {
    for (const value of used.values()) {
      for (let k = Math.min(value.length - 1, out.length); k > 0; k--) {
        if (out.endsWith(value.slice(0, k))) {
          out = out.slice(0, -k);
          break;
        }
      }
    }
  }
  return out;
}

/** The names of the secrets an http tool's headers reference. */
export function headerSecretNames(spec: HttpSpec): string[] {
  return secretNamesOf(spec.headers);
}

/** Keeps resolved secret values out of a tool error's message. */
function redacted<E extends ToolError | TransientToolError>(error: E, used: ReadonlyMap<string, string>): E {
  if (used.size > 0) error.message = redactSecrets(error.message, used);
  return error;
}

export function httpTool(spec: HttpSpec, options: { guard?: EgressGuard; secrets?: WorkspaceSecrets } = {}): Tool {
  const url = spec.url!;
  const host = new URL(url).hostname;
  const timeoutMs = spec.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  return {
    definition: { name: spec.name, description: spec.description ?? `POSTs its arguments to ${url}`, parameters: spec.parameters ?? { type: "object" } },
    async execute(args, ctx) {
      // the operator's maximum caps what the tool asks for (read here, so a bad value names itself)
      const operatorMax = httpMaxResponseBytesFromEnv();
      const limit = Math.min(spec.max_response_bytes ?? operatorMax, operatorMax);
      const { headers, used } = await resolveHeaders(spec.name, spec.headers, options.secrets);
      try {
        return await call(args, ctx, headers, used, { limit, operatorMax });
      } catch (error) {
        if (error instanceof ToolError || error instanceof TransientToolError) throw redacted(error, used);
        throw error;
      }
    },
  };

  /** Why the response was refused: the cap, and the setting it comes from. */
  function overLimit(limit: number, operatorMax: number, declared?: number): ToolError {
    const why =
      spec.max_response_bytes !== undefined && spec.max_response_bytes <= operatorMax
        ? "this tool's max_response_bytes"
        : spec.max_response_bytes !== undefined
          ? `this tool's max_response_bytes (${spec.max_response_bytes}) capped by the operator's ${HTTP_MAX_RESPONSE_BYTES_ENV}`
          : `the operator's ${HTTP_MAX_RESPONSE_BYTES_ENV}`;
    const what =
      declared !== undefined
        ? `is ${declared} bytes (its content-length), over this call's limit of ${limit} bytes (${why}); it was not read`
        : `is over this call's limit of ${limit} bytes (${why}); reading stopped there and nothing of it is returned`;
    return new ToolError(`${spec.name}: the response from ${url} ${what}`);
  }

  async function call(
    args: Record<string, unknown>,
    ctx: ToolContext,
    custom: Record<string, string>,
    used: ReadonlyMap<string, string>,
    caps: { limit: number; operatorMax: number },
  ): Promise<unknown> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    // the guard (and undici under it) loads on the first http call, not at worker start
    const guard = options.guard ?? (await import("../../lib/egress/guard.ts")).defaultEgressGuard();
    let response: Response;
    try {
      response = await guard.fetch(url, {
        method: "POST",
        headers: {
          ...custom,
          "content-type": "application/json",
          accept: "application/json",
          "idempotency-key": ctx.idempotencyKey,
          // the run's trace continues in the callee (docs/observability.md, "Traces")
          ...(ctx.traceparent && { traceparent: ctx.traceparent }),
          // and the caller's tracestate with it, unchanged (W3C)
          ...(ctx.traceparent && ctx.tracestate && { tracestate: ctx.tracestate }),
        },
        body: JSON.stringify(args),
        signal,
      });
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (timeout.aborted) throw new TransientToolError(`${spec.name}: no response from ${url} within ${timeoutMs} ms (timeout_ms)`, { code: "timeout" });
      if (error instanceof EgressRefusedError || error instanceof EgressRedirectError) throw new ToolError(`${spec.name}: ${error.message}`, { cause: error });
      // Refused, reset, unresolvable or timed out while connecting: one text for all, so an
      // agent cannot map which ports of a host are open.
      throw new TransientToolError(`${spec.name}: could not reach ${host}`, { code: "network", cause: error });
    }
    const failed = !response.ok;
    let body: string;
    let cut: boolean;
    try {
      const declared = response.headers.get("content-length");
      // a declared size over the cap is refused unread; an absent or lying one changes nothing below
      if (!failed && declared !== null && /^\d+$/.test(declared) && Number(declared) > caps.limit) {
        await response.body?.cancel().catch(() => {});
        throw overLimit(caps.limit, caps.operatorMax, Number(declared));
      }
      const { data, over } = await readCapped(response, failed ? Math.min(caps.limit, ERROR_BODY_BYTES) : caps.limit);
      if (over && !failed) throw overLimit(caps.limit, caps.operatorMax);
      body = data.toString("utf8");
      cut = over;
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (error instanceof ToolError) throw error;
      if (timeout.aborted) throw new TransientToolError(`${spec.name}: the response from ${url} did not finish within ${timeoutMs} ms`, { code: "timeout" });
      throw new TransientToolError(`${spec.name}: the response from ${url} broke off: ${(error as Error).message}`, { code: "network", cause: error });
    }
    // a server that echoes its request (headers included) must not hand a secret to the model
    body = redactBody(body, used, cut);
    const excerpt = (n: number) => (cut || body.length > n ? `${body.slice(0, n)} [cut]` : body);
    if (response.status === 429 || response.status === 408 || response.status >= 500) {
      throw new TransientToolError(`${spec.name}: ${url} answered ${response.status}: ${excerpt(300)}`, {
        code: `http_${response.status}`,
        status: response.status,
        retryAfterMs: retryAfterMs(response.headers),
      });
    }
    if (!response.ok) throw new ToolError(`${url} answered ${response.status}: ${excerpt(1000)}`);
    if (!body) return { status: response.status };
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return body;
    }
  }
}
