// `http` tools (README, "What an agent can do"): the arguments are POSTed as JSON to the tool's url with
// `Idempotency-Key: <run_id>:<tool_call_id>`, the same on every retry of the call, so the
// receiving system can deduplicate what at-least-once execution may send twice. Every call goes
// through the egress guard (worker/egress/guard.ts): a private, loopback or metadata address is
// refused unless EVERRUNS_EGRESS_ALLOW lists it, redirects are followed by the guard (custom
// headers and the Idempotency-Key do not cross origins), and a connection failure says only
// that the host could not be reached (no port-scan oracle).
import type { Response } from "undici";
import { retryAfterMs } from "../../lib/retry-after.ts";
import type { ToolSpec } from "../../db/schemas.ts";
import { defaultEgressGuard, EgressRedirectError, EgressRefusedError, type EgressGuard } from "../egress/guard.ts";
import { ToolError, TransientToolError, type Tool } from "./types.ts";

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

export function httpTool(spec: HttpSpec, options: { guard?: EgressGuard } = {}): Tool {
  const url = spec.url!;
  const host = new URL(url).hostname;
  const timeoutMs = spec.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const limit = spec.max_response_bytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  return {
    definition: { name: spec.name, description: spec.description ?? `POSTs its arguments to ${url}`, parameters: spec.parameters ?? { type: "object" } },
    async execute(args, ctx) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([ctx.signal, timeout]);
      const guard = options.guard ?? defaultEgressGuard();
      let response: Response;
      try {
        response = await guard.fetch(url, {
          method: "POST",
          headers: { ...spec.headers, "content-type": "application/json", accept: "application/json", "idempotency-key": ctx.idempotencyKey },
          body: JSON.stringify(args),
          signal,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (timeout.aborted) throw new TransientToolError(`${spec.name}: no response from ${url} within ${timeoutMs} ms (timeout_ms)`, { code: "timeout" });
        if (error instanceof EgressRefusedError || error instanceof EgressRedirectError)
          throw new ToolError(`${spec.name}: ${error.message}`, { cause: error });
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
    },
  };
}
