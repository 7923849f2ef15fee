// The egress guard: every request the worker makes on a tenant's behalf (http tools, an agent's
// own provider base_url) goes through it, so that an agent cannot reach the worker's own
// network (loopback, private ranges, link-local and the cloud metadata address, ...) unless the
// operator allowed it (EVERRUNS_EGRESS_ALLOW, lib/egress/config.ts).
//
// - The check happens where the connection is made: an undici Agent whose connector resolves
//   the host (all its addresses), refuses it when any address is of a refused kind, and hands
//   the socket only the addresses it checked (its `lookup`), so DNS cannot change between the
//   check and the connect. An IP literal is checked before any socket exists.
// - No automatic redirects: up to `maxRedirects` hops are followed here, each a new request
//   through the same connector (so checked again); when the origin changes only a few harmless
//   headers survive (custom headers, API keys and the Idempotency-Key are dropped). 301/302
//   after POST and 303 become GET without a body, as browsers do.
// - A refusal is an EgressRefusedError whose message names the host and the kind of address and
//   says which setting allows it; it is the same whatever the port, so it tells nothing about
//   what listens there.
import { promises as dns, type LookupAddress } from "node:dns";
import net from "node:net";
import { Agent, buildConnector, fetch as undiciFetch, Headers, type RequestInit, type Response } from "undici";
import { egressRefusal, EgressRedirectError, EgressRefusedError } from "./errors.ts";
import { egressAllowFromEnv, parseAddress, refusedKind, type EgressAllowList } from "./config.ts";

/** Resolves a host name to every address it has (node:dns lookup by default; injectable for tests). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, order: "verbatim" });

export interface EgressGuardOptions {
  /** What the operator allows (default: EVERRUNS_EGRESS_ALLOW of this process, read at each check). */
  allow?: EgressAllowList | (() => EgressAllowList);
  resolve?: Resolver;
  /** Redirect hops followed (default 5). */
  maxRedirects?: number;
  /** How long a connection may take to open (default 10 s). */
  connectTimeoutMs?: number;
}

/** A request through the guard: fetch's options, less the ones the guard decides. */
export type EgressRequest = Omit<RequestInit, "dispatcher" | "redirect">;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** What survives a redirect to another origin. */
const CROSS_ORIGIN_HEADERS = new Set(["accept", "accept-language", "content-language", "content-type", "user-agent"]);
const BODY_HEADERS = ["content-type", "content-encoding", "content-language", "content-location", "content-length"];

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export { egressRefusal, EgressRedirectError, EgressRefusedError };

export class EgressGuard {
  readonly dispatcher: Agent;
  readonly maxRedirects: number;
  private readonly allowList: () => EgressAllowList;
  private readonly resolve: Resolver;

  constructor(options: EgressGuardOptions = {}) {
    const allow = options.allow ?? egressAllowFromEnv;
    this.allowList = typeof allow === "function" ? allow : () => allow;
    this.resolve = options.resolve ?? systemResolver;
    this.maxRedirects = options.maxRedirects ?? 5;
    const base = buildConnector({ lookup: this.lookup, autoSelectFamily: true, timeout: options.connectTimeoutMs ?? 10_000 });
    this.dispatcher = new Agent({
      connect: (connectOptions, callback) => {
        // Node connects to an IP literal without a lookup: check it here, before any socket.
        const hostname = connectOptions.hostname;
        if (net.isIP(hostname)) {
          const refusal = this.refusal(hostname, [hostname]);
          if (refusal) {
            callback(refusal, null);
            return;
          }
        }
        base(connectOptions, callback);
      },
    });
  }

  /** The addresses of `hostname` this guard lets a connection use, or an EgressRefusedError. */
  async check(hostname: string): Promise<LookupAddress[]> {
    const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
    const family = net.isIP(bare);
    const addresses: LookupAddress[] = family ? [{ address: bare, family }] : await this.resolve(bare);
    if (addresses.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${bare}`), { code: "ENOTFOUND", hostname: bare });
    }
    const refusal = this.refusal(
      bare,
      addresses.map((a) => a.address),
    );
    if (refusal) throw refusal;
    return addresses;
  }

  private refusal(hostname: string, addresses: string[]): EgressRefusedError | undefined {
    const allow = this.allowList();
    if (allow.allowsHost(hostname)) return undefined;
    for (const text of addresses) {
      const address = parseAddress(text);
      if (!address) return new EgressRefusedError(hostname, "unrecognised");
      const kind = refusedKind(address);
      if (kind !== undefined && !allow.allowsAddress(address)) return new EgressRefusedError(hostname, kind);
    }
    return undefined;
  }

  /** The socket's lookup: only the addresses `check` accepted, so the connection goes where was checked. */
  private readonly lookup = (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    this.check(hostname).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        const usable = wanted.length > 0 ? wanted : addresses;
        if (options.all) callback(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, []),
    );
  };

  /**
   * fetch through the guard, following redirects itself (each hop checked again). A refusal
   * rejects with the EgressRefusedError; too many redirects with an EgressRedirectError; anything
   * else as undici's fetch does.
   */
  async fetch(input: string | URL, init: EgressRequest = {}): Promise<Response> {
    let url = new URL(input);
    let method = (init.method ?? "GET").toUpperCase();
    let body = init.body ?? null;
    const headers = new Headers(init.headers);
    for (let hop = 0; ; hop++) {
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new EgressRedirectError(`the egress guard does not follow a redirect to ${url.protocol} URLs`);
      }
      let response: Response;
      try {
        response = await undiciFetch(url, { ...init, method, headers, body, redirect: "manual", dispatcher: this.dispatcher });
      } catch (error) {
        // fetch wraps the connector's refusal in a TypeError: give the refusal itself
        const refusal = egressRefusal(error);
        if (refusal instanceof EgressRefusedError && !init.signal?.aborted) throw refusal;
        throw error;
      }
      const location = REDIRECT_STATUSES.has(response.status) ? response.headers.get("location") : null;
      if (location === null) return response;
      await response.body?.cancel().catch(() => {});
      if (hop >= this.maxRedirects) {
        throw new EgressRedirectError(`the request to ${url.hostname} was redirected more than ${this.maxRedirects} times`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new EgressRedirectError(`${url.hostname} redirected to an invalid URL`);
      }
      if (((response.status === 301 || response.status === 302) && method === "POST") || (response.status === 303 && method !== "GET" && method !== "HEAD")) {
        method = "GET";
        body = null;
        for (const name of BODY_HEADERS) headers.delete(name);
      } else if (body !== null && !replayable(body)) {
        throw new EgressRedirectError(`${url.hostname} redirected (${response.status}) a request whose body cannot be sent again`);
      }
      if (next.origin !== url.origin) {
        for (const name of [...headers.keys()]) if (!CROSS_ORIGIN_HEADERS.has(name)) headers.delete(name);
      }
      url = next;
    }
  }

  /**
   * A `fetch` for an SDK's `fetch` option (the OpenAI and Anthropic SDKs take one): the same
   * guarded fetch, typed as the global one.
   */
  readonly sdkFetch = (input: string | URL | Request, init?: globalThis.RequestInit): Promise<globalThis.Response> => {
    if (input instanceof Request) return Promise.reject(new TypeError("the egress guard's fetch takes a URL and options, not a Request"));
    return this.fetch(input, init as EgressRequest) as unknown as Promise<globalThis.Response>;
  };

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function replayable(body: unknown): boolean {
  return typeof body === "string" || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof URLSearchParams || body instanceof Blob;
}

let shared: EgressGuard | undefined;

/** The process's guard, over EVERRUNS_EGRESS_ALLOW. */
export function defaultEgressGuard(): EgressGuard {
  shared ??= new EgressGuard();
  return shared;
}
