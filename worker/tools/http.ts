// `http` tools (README, "What an agent can do"): the arguments are POSTed as JSON to the tool's url with
// `Idempotency-Key: <run_id>:<tool_call_id>`, the same on every retry of the call, so the
// receiving system can deduplicate what at-least-once execution may send twice. Every call goes
// through the egress guard (worker/egress/guard.ts): a private, loopback or metadata address is
// refused unless EVERRUNS_EGRESS_ALLOW lists it, redirects are followed by the guard (custom
// headers and the Idempotency-Key do not cross origins), and a connection failure says only
// that the host could not be reached (no port-scan oracle).
//
// A header's value may reference a secret of the run's workspace ({"secret": "<name>"}): it is
// resolved here, at call time, in the worker (worker/secrets.ts), and a missing secret is a
// ToolError the model sees. A resolved value that comes back in a response or an error (a
// server echoing its headers) is replaced by `[secret <name>]` before anything is returned.
import type { Response } from "undici";
import { isConnectionError } from "../../db/errors.ts";
import { retryAfterMs } from "../../lib/retry-after.ts";
import type { ToolSpec } from "../../db/schemas.ts";
import { EgressRedirectError, EgressRefusedError } from "../egress/errors.ts";
import type { EgressGuard } from "../egress/guard.ts";
import { MissingSecretError, redactSecrets, SecretsUnavailableError, type WorkspaceSecrets } from "../secrets.ts";
import { SecretOpenError } from "../../lib/secret-box.ts";
import { ToolError, TransientToolError, type Tool, type ToolContext } from "./types.ts";

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1_000_000;

type HttpSpec = Exclude<ToolSpec, string>;

async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new ToolError(`the response is ${declared} bytes, over this tool's limit of ${limit} (max_response_bytes)`);
  }
  const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new ToolError(`the response is over this tool's limit of ${limit} bytes (max_response_bytes)`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The names of the secrets an http tool's headers reference. */
export function headerSecretNames(spec: HttpSpec): string[] {
  return Object.values(spec.headers ?? {}).flatMap((v) => (typeof v === "string" ? [] : [v.secret]));
}

/** The tool's headers with their secret references resolved, and the values used (to redact them). */
async function resolveHeaders(spec: HttpSpec, secrets: WorkspaceSecrets | undefined): Promise<{ headers: Record<string, string>; used: Map<string, string> }> {
  const names = headerSecretNames(spec);
  const used = new Map<string, string>();
  const headers: Record<string, string> = {};
  if (names.length > 0) {
    let values: Map<string, string>;
    try {
      if (!secrets) throw new SecretsUnavailableError();
      values = await secrets.resolve(names);
    } catch (error) {
      if (error instanceof MissingSecretError) {
        throw new ToolError(`${spec.name}: ${error.message}; set it with \`everruns secrets set ${error.names[0]}\` (the tool's headers reference it)`);
      }
      if (error instanceof SecretsUnavailableError || error instanceof SecretOpenError) throw new ToolError(`${spec.name}: ${error.message}`);
      if (isConnectionError(error)) {
        throw new TransientToolError(`${spec.name}: could not read its secrets from the database`, { code: "secrets_unavailable", cause: error });
      }
      throw error;
    }
    for (const name of names) used.set(name, values.get(name)!);
  }
  for (const [header, value] of Object.entries(spec.headers ?? {})) headers[header] = typeof value === "string" ? value : used.get(value.secret)!;
  return { headers, used };
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
  const limit = spec.max_response_bytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return {
    definition: { name: spec.name, description: spec.description ?? `POSTs its arguments to ${url}`, parameters: spec.parameters ?? { type: "object" } },
    async execute(args, ctx) {
      const { headers, used } = await resolveHeaders(spec, options.secrets);
      try {
        return await call(args, ctx, headers, used);
      } catch (error) {
        if (error instanceof ToolError || error instanceof TransientToolError) throw redacted(error, used);
        throw error;
      }
    },
  };

  async function call(args: Record<string, unknown>, ctx: ToolContext, custom: Record<string, string>, used: ReadonlyMap<string, string>): Promise<unknown> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    // the guard (and undici under it) loads on the first http call, not at worker start
    const guard = options.guard ?? (await import("../egress/guard.ts")).defaultEgressGuard();
    let response: Response;
    try {
      response = await guard.fetch(url, {
        method: "POST",
        headers: { ...custom, "content-type": "application/json", accept: "application/json", "idempotency-key": ctx.idempotencyKey },
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
    let body: string;
    try {
      body = await readLimited(response, limit);
    } catch (error) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (error instanceof ToolError) throw error;
      if (timeout.aborted) throw new TransientToolError(`${spec.name}: the response from ${url} did not finish within ${timeoutMs} ms`, { code: "timeout" });
      throw new TransientToolError(`${spec.name}: the response from ${url} broke off: ${(error as Error).message}`, { code: "network", cause: error });
    }
    // a server that echoes its request (headers included) must not hand a secret to the model
    if (used.size > 0) body = redactSecrets(body, used);
    if (response.status === 429 || response.status === 408 || response.status >= 500) {
      throw new TransientToolError(`${spec.name}: ${url} answered ${response.status}: ${body.slice(0, 300)}`, {
        code: `http_${response.status}`,
        status: response.status,
        retryAfterMs: retryAfterMs(response.headers),
      });
    }
    if (!response.ok) throw new ToolError(`${url} answered ${response.status}: ${body.slice(0, 1000)}`);
    if (!body) return { status: response.status };
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return body;
    }
  }
}
