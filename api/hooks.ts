// POST /hooks/:id: inbound webhooks (issue 16, 000026). No API key: the sender proves itself with
// the webhook's signature scheme (lib/webhook-signatures.ts) over the exact bytes received, with
// the workspace secrets the webhook names. A verified delivery is recorded and its run inserted
// (or queued on its long-lived thread) by everruns_private.receive_webhook in one transaction;
// a rejected one writes nothing. The route never waits for the agent: 202 {run_id, delivery_id},
// or 200 with duplicate: true for a repeat of a delivery (same de-duplication key within 24 h);
// queued: true when the run waits for its thread's earlier runs (it exists once it starts).
//
// Mounted before /api's authentication and JSON parsing (the raw body is what is signed), and
// after the Host check only: senders are other systems, which send no Origin a browser would.
//
// What is read per delivery: the webhook and its sealed secrets (webhook_for_delivery, security
// definer: the route has no workspace), cached with the opened secrets for `cacheMs` (2 s) per
// API process, so a burst of deliveries costs one read; a rotated secret or a changed webhook is
// seen within that time.
//
// Until the signature is verified the caller is anybody, so (issue 16's security review):
//   - failures are counted per client address (404 and 401, EVERRUNS_AUTH_FAILURES_PER_MINUTE, as
//     the API counts failed keys); an address over it gets 429 before anything else is looked at.
//     The per-webhook limits (EVERRUNS_RATE_LIMIT_PER_MINUTE and _BURST, per webhook and address)
//     count verified deliveries only: nobody without the secret can use up a webhook's window.
//   - nothing about the webhook is told: a webhook that cannot verify (no secret set, no
//     EVERRUNS_SECRET_KEY, a secret that does not open or is malformed) answers a bare 503
//     webhook_unavailable or 500 webhook_misconfigured, the reason logged (warn, with its id); a
//     test delivery (an operator's API key) gets the reason. A broken secret beside a usable one
//     is logged and left out: deliveries signed with the usable one are accepted.
//   - the body is read up to the webhook's max_body_bytes (413 beyond; never more than that plus
//     one chunk is held). `bearer` is verified from its header before the body is read. Bodies
//     not verified yet share one budget per process (`unverifiedBytesBudget`, 64 MiB): over it,
//     503 busy with Retry-After, so a flood of large unsigned bodies cannot exhaust memory.
//   - a rendered input_template is counted as it is built and stops (422 input_too_large) past
//     max_run_input_bytes: a small template naming a large value many times cannot balloon.
//   - every refusal before the body is read closes the connection (404, 413, 429, 503, 401 of
//     bearer): an unread body is not drained for keep-alive.
import { createHash, createHmac, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Router } from "express";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, withTransaction, type Pool } from "../db/pool.ts";
import { receiveWebhook, webhookForDelivery, type ReceiveResult } from "../db/sql/receiveWebhook.ts";
import { MAX_RUN_INPUT_BYTES } from "../db/sql/startRun.ts";
import { getWebhook, type WebhookRow } from "../db/sql/webhooks.ts";
import { resolvePointer, renderTemplate, TemplateTooLargeError } from "../lib/json-pointer.ts";
import type { Logger } from "../lib/logger.ts";
import { openSecret, SECRET_KEY_ENV, secretKeyFromEnv } from "../lib/secret-box.ts";
import { describeStorableProblem, findStorableProblem } from "../lib/storable-json.ts";
import { secretFormatError, signStandard, verifyDelivery, WebhookConfigError, type Headers } from "../lib/webhook-signatures.ts";
import { requireRole, withWorkspace, type Auth } from "./auth.ts";
import { errorHandler, HttpStatusError } from "./http-errors.ts";
import { traceContextOf, withTraceContext } from "./trace-header.ts";
import { ApiRateLimits, clientAddress, type RateLimited, type RateLimitScope, type RateLimitSettings } from "./rate-limit.ts";

/** No body is read beyond this before the webhook (and its own limit) is known: the table's largest max_body_bytes. */
export const HARD_CAP_BYTES = 5 * 1024 * 1024;
/** How long a webhook and its opened secrets are reused (per API process). */
export const DEFAULT_HOOK_CACHE_MS = 2_000;
/** Bytes of bodies not verified yet that one API process holds at most, across all deliveries. */
export const DEFAULT_UNVERIFIED_BYTES_BUDGET = 64 * 1024 * 1024;
const CACHE_MAX = 10_000;
/** receive_webhook's delivery_key column holds at most this; a longer key is replaced by its SHA-256. */
const MAX_DELIVERY_KEY_CHARS = 500;
/** When a sender refused as busy should try again. */
const BUSY_RETRY_SECONDS = 1;

export interface HooksDeps {
  pool: Pool;
  log: Logger;
  /** EVERRUNS_SECRET_KEY (default: from the environment); none: every delivery is refused with 503. */
  secretKey?: Buffer | null;
  /** How long a webhook's row and opened secrets are reused (default 2000 ms; 0: read every time). */
  cacheMs?: number;
  /** Failures per client address, verified deliveries per webhook and address (default: none). */
  limits?: HookRateLimits | null;
  /** Bytes of not-yet-verified bodies in flight in this process at most (default 64 MiB): over it, 503 busy. */
  unverifiedBytesBudget?: number;
}

/** An answer of the hook: its status and JSON body. */
export interface HookAnswer {
  status: 200 | 202;
  /** queued: the run waits for its long-lived thread's earlier runs (GET /api/runs/:id finds it once it starts) */
  body: { run_id: string; delivery_id: string; duplicate?: true; queued?: true };
}

/** A refusal that tells the sender when to retry (429, 503 busy): sent with Retry-After. */
class RetryLaterError extends HttpStatusError {
  readonly retryAfterSeconds: number;
  constructor(status: number, code: string, message: string, retryAfterSeconds: number) {
    super(status, code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const notFound = () => new HttpStatusError(404, "not_found", "no such webhook (unknown, disabled, or not a webhook id)");
const rateLimited = (limited: RateLimited) => new RetryLaterError(429, "rate_limited", limited.message, limited.retryAfterSeconds);
// What a sender learns of a webhook that cannot verify: nothing but that (the reason is logged).
const unavailable = () =>
  new HttpStatusError(503, "webhook_unavailable", "this webhook cannot take deliveries right now; its owners can see why in the API's log");
const misconfigured = () => new HttpStatusError(500, "webhook_misconfigured", "this webhook is misconfigured; its owners can see why in the API's log");

/**
 * Rate limits of POST /hooks/:id, counted as api/rate-limit.ts counts API keys but apart from
 * them: verified deliveries per webhook and client address (`consumeKey("<webhook>/<address>")`),
 * failed deliveries (404, 401) per client address (`authBlocked`, `authFailed`).
 */
export const HOOK_SCOPE: RateLimitScope = {
  prefixes: { perMinute: "evr_rl_hook", burst: "evr_rl_hook_burst", failures: "evr_rl_hookfail" },
  requests: "a sender may make to one webhook",
  failures: "failed deliveries",
  failure: "unknown webhook or invalid signature",
  retryHint: "",
};

export type HookRateLimits = ApiRateLimits;

export function hookRateLimits(pool: Pool, settings: RateLimitSettings, log: Logger): HookRateLimits {
  return new ApiRateLimits(pool, settings, log, HOOK_SCOPE);
}

// ---- bodies not verified yet: one budget per process ----

let unverifiedInFlight = 0;

/** Bytes of bodies this process holds that are not verified yet (every delivery's, whatever its router). */
export function unverifiedBytesInFlight(): number {
  return unverifiedInFlight;
}

/** One delivery's share of the process's budget of unverified bytes; released once verified or refused. */
class UnverifiedBytes {
  #held = 0;
  readonly #budget: number;
  constructor(budget: number) {
    this.#budget = budget;
  }

  get held(): number {
    return this.#held;
  }

  /** Takes `bytes` more of the budget; false (nothing taken) when that would be over it. */
  take(bytes: number): boolean {
    if (bytes <= 0) return true;
    if (unverifiedInFlight + bytes > this.#budget) return false;
    unverifiedInFlight += bytes;
    this.#held += bytes;
    return true;
  }

  release(): void {
    unverifiedInFlight -= this.#held;
    this.#held = 0;
  }
}

function busy(): RetryLaterError {
  return new RetryLaterError(503, "busy", `this API is receiving too many webhook bodies right now; retry in ${BUSY_RETRY_SECONDS} s`, BUSY_RETRY_SECONDS);
}

// ---- the webhook and its secrets, cached ----

interface Loaded {
  webhook: WebhookRow;
  /** the usable secrets, opened: their index in secret_names and value (unset, unopenable and malformed ones left out) */
  secrets: Array<{ index: number; secret: string }>;
  /** why no delivery can be verified now: `detail` is for the log and the webhook's operators, never for a sender */
  problem: { status: 500 | 503; code: string; detail: string } | null;
  /** what was logged of this reading (once each per cacheMs, not once per delivery) */
  logged: Set<string>;
}

type HookCache = Map<string, { until: number; loaded: Promise<Loaded | null> }>;
// per pool: the route and test deliveries (REST, GraphQL) of one API process share it
const caches = new WeakMap<Pool, HookCache>();

function cacheOf(pool: Pool): HookCache {
  let cache = caches.get(pool);
  if (!cache) caches.set(pool, (cache = new Map() as HookCache));
  return cache;
}

/** Logs (warn) a problem of a webhook once per reading of it. */
function warnOnce(deps: HooksDeps, loaded: Loaded, detail: string): void {
  if (loaded.logged.has(detail)) return;
  loaded.logged.add(detail);
  deps.log.warn(`webhook ${loaded.webhook.id} (${loaded.webhook.name}): ${detail}`);
}

async function readWebhook(deps: HooksDeps, webhookId: string): Promise<Loaded | null> {
  const found = await webhookForDelivery(deps.pool, webhookId);
  if (!found) return null;
  const { webhook } = found;
  const loaded: Loaded = { webhook, secrets: [], problem: null, logged: new Set() };
  let key: Buffer | null;
  try {
    key = (deps.secretKey === undefined ? secretKeyFromEnv() : deps.secretKey) ?? null;
  } catch (error) {
    key = null;
    warnOnce(deps, loaded, (error as Error).message);
  }
  if (!key) {
    loaded.problem = {
      status: 503,
      code: "secrets_unavailable",
      detail: `this API cannot open webhook secrets: set ${SECRET_KEY_ENV} (the key the secrets were set with) and restart it`,
    };
    warnOnce(deps, loaded, loaded.problem.detail);
    return loaded;
  }
  const broken: string[] = [];
  webhook.secret_names.forEach((name, index) => {
    const sealed = found.secretCiphertexts[index];
    if (!sealed) return;
    let secret: string;
    try {
      secret = openSecret(key, sealed, { workspaceId: webhook.workspace_id, name });
    } catch (error) {
      broken.push(`secret ${name}: ${(error as Error).message}`);
      return;
    }
    // a malformed secret would make verifyDelivery refuse every delivery, its usable partner's too
    const malformed = secretFormatError(webhook.verify, secret);
    if (malformed) broken.push(`secret ${name} is unusable for ${webhook.verify}: ${malformed}`);
    else loaded.secrets.push({ index, secret });
  });
  if (loaded.secrets.length > 0) {
    for (const b of broken) warnOnce(deps, loaded, `${b} (deliveries are verified with its other secret only)`);
  } else if (broken.length > 0) {
    loaded.problem = { status: 500, code: "webhook_misconfigured", detail: `no secret of this webhook is usable: ${broken.join("; ")}` };
  } else {
    loaded.problem = {
      status: 503,
      code: "secrets_unavailable",
      detail: `this webhook has none of its secrets set: set ${webhook.secret_names.join(" or ")} with \`everruns secrets set\``,
    };
  }
  if (loaded.problem) warnOnce(deps, loaded, loaded.problem.detail);
  return loaded;
}

/** The webhook and its opened secrets, from this process's cache when read in the last cacheMs. */
async function loadWebhook(deps: HooksDeps, webhookId: string, fresh = false): Promise<Loaded | null> {
  const cacheMs = deps.cacheMs ?? DEFAULT_HOOK_CACHE_MS;
  if (cacheMs <= 0 || fresh) return readWebhook(deps, webhookId);
  const cache = cacheOf(deps.pool);
  const now = Date.now();
  const hit = cache.get(webhookId);
  if (hit && hit.until > now) return hit.loaded;
  if (cache.size >= CACHE_MAX) cache.clear();
  const loaded = readWebhook(deps, webhookId);
  cache.set(webhookId, { until: now + cacheMs, loaded });
  // a failed read is not remembered
  loaded.catch(() => cache.delete(webhookId));
  return loaded;
}

/** Why `loaded` cannot verify: the reason for an operator (`detailed`, a test delivery), else the bare answer a sender gets. */
function problemError(loaded: Loaded, detailed: boolean): HttpStatusError | null {
  const { problem } = loaded;
  if (!problem) return null;
  if (detailed) return new HttpStatusError(problem.status, problem.code, `webhook ${loaded.webhook.name}: ${problem.detail}`);
  return problem.status === 503 ? unavailable() : misconfigured();
}

/**
 * Verifies a delivery's signature with the webhook's usable secrets: the index in secret_names of
 * the one that verified and the sender's message id, or an HttpStatusError (401 with the reason
 * of lib/webhook-signatures.ts, which never tells a secret; 500/503 without detail unless `detailed`).
 */
function verifySender(deps: HooksDeps, loaded: Loaded, headers: Headers, raw: Buffer, detailed: boolean): { secretIndex: number; messageId: string | null } {
  const problem = problemError(loaded, detailed);
  if (problem) throw problem;
  const { webhook } = loaded;
  let verified;
  try {
    verified = verifyDelivery(
      {
        scheme: webhook.verify,
        secrets: loaded.secrets.map((s) => s.secret),
        header: webhook.signature_header,
        prefix: webhook.signature_prefix,
        toleranceSeconds: webhook.tolerance_seconds,
      },
      headers,
      raw,
    );
  } catch (error) {
    if (!(error instanceof WebhookConfigError)) throw error;
    warnOnce(deps, loaded, error.message);
    if (detailed) throw new HttpStatusError(500, "webhook_misconfigured", `webhook ${webhook.name}: ${error.message}`);
    throw misconfigured();
  }
  if (!verified.ok) throw new HttpStatusError(401, "invalid_signature", verified.reason);
  return { secretIndex: loaded.secrets[verified.secretIndex]!.index, messageId: verified.webhookId };
}

// ---- one delivery ----

/** The payload of a body: JSON when it parses (a GitHub form's `payload` field), else the text as a JSON string. */
export function parsePayload(raw: Buffer, contentType: string | undefined): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw);
  } catch {
    throw new HttpStatusError(400, "invalid_body", "the body is not UTF-8 text; send JSON (or text) in UTF-8");
  }
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  let payload: unknown = text;
  if (type === "application/x-www-form-urlencoded") {
    const field = new URLSearchParams(text).get("payload");
    if (field !== null) {
      try {
        payload = JSON.parse(field);
      } catch (error) {
        throw new HttpStatusError(400, "invalid_json", `the form's payload field is not valid JSON: ${(error as Error).message}`);
      }
    }
  } else if (type === "application/json" || type.endsWith("+json")) {
    try {
      payload = JSON.parse(text);
    } catch (error) {
      throw new HttpStatusError(400, "invalid_json", `the body is not valid JSON (Content-Type ${type}): ${(error as Error).message}`);
    }
  } else {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = text; // plain text: the payload is the string
    }
  }
  const problem = findStorableProblem(payload);
  if (problem) throw new HttpStatusError(400, "invalid_body", `the payload cannot be stored: ${describeStorableProblem(problem)}`);
  return payload;
}

/** A pointed value usable as a key (a string, or a number as text), else undefined. */
function keyAt(payload: unknown, pointer: string): string | undefined {
  const value = resolvePointer(payload, pointer);
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function inputTooLarge(webhook: Pick<WebhookRow, "name">, what: string): HttpStatusError {
  return new HttpStatusError(
    422,
    "input_too_large",
    `webhook ${webhook.name}: ${what}, over the ${MAX_RUN_INPUT_BYTES} bytes a run input may have (max_run_input_bytes): nothing was started; template fewer or smaller values of the payload`,
  );
}

/**
 * The run input of a delivery: the webhook's template rendered (default: the payload as the
 * user's message), with the payload as context. The rendering stops (422 input_too_large) as
 * soon as its text is over the run input limit, however many times the template names a value.
 */
export function deliveryInput(webhook: Pick<WebhookRow, "name" | "input_template">, payload: unknown): unknown {
  const payloadText = typeof payload === "string" ? payload : JSON.stringify(payload);
  let input: unknown;
  if (webhook.input_template === null || webhook.input_template === undefined) {
    input = { messages: [{ role: "user", content: payloadText }] };
  } else {
    try {
      // characters are never more than UTF-8 bytes: this refuses only inputs the database would
      input = renderTemplate(webhook.input_template, payload, { maxChars: MAX_RUN_INPUT_BYTES });
    } catch (error) {
      if (error instanceof TemplateTooLargeError)
        throw inputTooLarge(webhook, `its input_template renders more than ${error.limit} characters for this payload`);
      throw error;
    }
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) return input; // the database says what an input must be
  const context = (input as Record<string, unknown>).context;
  const item = { description: `webhook ${webhook.name} delivery`, value: JSON.stringify(payload) };
  if (context !== undefined && !Array.isArray(context)) {
    throw new HttpStatusError(
      422,
      "invalid_run_input",
      `webhook ${webhook.name}: its input_template's context must be an array (the payload is appended to it)`,
    );
  }
  return { ...input, context: [...((context as unknown[] | undefined) ?? []), item] };
}

/**
 * Verifies and records one delivery of `webhookId` (raw body and headers as received): the
 * answer, or an HttpStatusError (401 invalid_signature, 404, 422, 429 over the webhook's rate
 * limit, 500 webhook_misconfigured, 503) after which nothing was written. The route and test
 * deliveries both come here. `address`: the sender's, counted against the webhook's rate limit
 * once the delivery is verified (test deliveries have none). `onVerified`: called once the
 * signature is verified (the route releases the body's share of the unverified budget). A test
 * delivery (an operator's key) is told why a webhook cannot verify; a sender is not.
 */
export async function handleDelivery(
  deps: HooksDeps,
  webhookId: string,
  headers: Headers,
  raw: Buffer,
  opts: { test?: boolean; loaded?: Loaded | null; address?: string; onVerified?: () => void } = {},
): Promise<HookAnswer> {
  const loaded = opts.loaded !== undefined ? opts.loaded : await loadWebhook(deps, webhookId);
  if (!loaded) throw notFound();
  const { webhook } = loaded;
  if (raw.length > webhook.max_body_bytes) throw tooLarge(webhook.max_body_bytes);
  const verified = verifySender(deps, loaded, headers, raw, opts.test ?? false);
  opts.onVerified?.();
  if (opts.address !== undefined && deps.limits) {
    const limited = await deps.limits.consumeKey(`${webhook.id}/${opts.address}`);
    if (limited) throw rateLimited(limited);
  }

  const payload = parsePayload(raw, header(headers["content-type"]));
  let deliveryKey: string | null = webhook.dedupe_pointer ? (keyAt(payload, webhook.dedupe_pointer) ?? null) : verified.messageId;
  if (deliveryKey !== null && deliveryKey.length > MAX_DELIVERY_KEY_CHARS) deliveryKey = `sha256:${createHash("sha256").update(deliveryKey).digest("hex")}`;
  let threadKey: string | null = null;
  if (webhook.thread_key_pointer) {
    const key = keyAt(payload, webhook.thread_key_pointer);
    if (key === undefined) {
      throw new HttpStatusError(
        422,
        "thread_key_missing",
        `the payload has no string or number at ${webhook.thread_key_pointer} (the webhook's thread_key_pointer): nothing was started`,
      );
    }
    threadKey = key;
  }
  const input = deliveryInput(webhook, payload);
  // the payload as context can take the default input over the limit too: refused here, not after sending it
  const inputBytes = Buffer.byteLength(JSON.stringify(input) ?? "");
  if (inputBytes > MAX_RUN_INPUT_BYTES) throw inputTooLarge(webhook, `its run input for this payload is ${inputBytes} bytes of JSON text`);
  let result: ReceiveResult;
  const delivery = {
    webhookId: webhook.id,
    deliveryKey,
    payload,
    payloadBytes: raw.length,
    input,
    threadKey,
    verifiedWith: verified.secretIndex,
    test: opts.test ?? false,
  };
  // a W3C traceparent header (and its tracestate): the run's trace continues the sender's
  // (api/trace-header.ts); a delivery queued behind its thread's current run starts later, in a
  // trace of its own
  const trace = traceContextOf(headers);
  try {
    result =
      trace === null
        ? await receiveWebhook(deps.pool, delivery)
        : await withTransaction(deps.pool, (c) => withTraceContext(c, trace, () => receiveWebhook(c, delivery)));
  } catch (error) {
    if (error instanceof NotFoundError) throw notFound(); // deleted or disabled meanwhile
    if (error instanceof ValidationError) throw new HttpStatusError(422, error.code, error.message, { cause: error });
    throw error;
  }
  const queued = result.queued ? { queued: true as const } : {};
  return result.duplicate
    ? { status: 200, body: { run_id: result.run_id, delivery_id: result.delivery_id, duplicate: true, ...queued } }
    : { status: 202, body: { run_id: result.run_id, delivery_id: result.delivery_id, ...queued } };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function tooLarge(limit: number): HttpStatusError {
  return new HttpStatusError(413, "too_large", `the body is over this webhook's limit of ${limit} bytes (its max_body_bytes)`);
}

/**
 * The body, up to `limit` bytes: a 413 once it is over (at most one chunk past the limit is
 * held). With `unverified`, every byte held is taken from the process's budget first (a declared
 * Content-Length at once): a 503 busy when the budget has no room. A refusal leaves the rest of
 * the body unread and the socket open, so that the answer reaches the sender (the route closes
 * the connection after it); a `for await` over the request would destroy the socket on leaving.
 */
function readBody(req: IncomingMessage, limit: number, unverified: UnverifiedBytes | null): Promise<Buffer> {
  const length = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(length) && length > limit) return Promise.reject(tooLarge(limit));
  if (unverified && Number.isFinite(length) && !unverified.take(length)) return Promise.reject(busy());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = (error: Error | null) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (error) {
        req.pause();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks, total));
      }
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) return done(tooLarge(limit));
      if (unverified && total > unverified.held && !unverified.take(total - unverified.held)) return done(busy());
      chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onError = (error: Error) => done(error);
    const onClose = () => done(new HttpStatusError(400, "aborted", "the request ended before its body did"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

// ---- test deliveries ----

/** A signed request of `webhook`'s scheme with its first set secret: the headers a real sender would send. */
function signedHeaders(webhook: WebhookRow, secret: string, body: string): Record<string, string> {
  const hmacHex = () => createHmac("sha256", Buffer.from(secret, "utf8")).update(body).digest("hex");
  switch (webhook.verify) {
    case "standard":
      return signStandard(secret, `msg_test_${randomUUID().replace(/-/g, "")}`, new Date(), body);
    case "github":
      return { "x-hub-signature-256": `sha256=${hmacHex()}`, "x-github-delivery": randomUUID() };
    case "hmac":
      return { [(webhook.signature_header ?? "x-signature").toLowerCase()]: `${webhook.signature_prefix ?? ""}${hmacHex()}` };
    case "bearer":
      return { authorization: `Bearer ${secret}` };
  }
}

/**
 * Sends a test delivery to a webhook of the key's workspace (operator): a request signed with
 * the webhook's own first usable secret for its scheme, handled by the same code as a real one
 * (in process), recorded with test = true. `payload` defaults to a small test object. Returns the
 * answer a sender would get; refusals as HttpStatusError (404: not the key's webhook, or disabled;
 * 500/503 saying why the webhook cannot verify).
 */
export async function sendTestDelivery(deps: HooksDeps, auth: Auth, webhookId: string, payload?: unknown): Promise<HookAnswer> {
  requireRole(auth, "operator", "sending a test delivery");
  if (!isUuid(webhookId)) throw new ValidationError(`webhook id must be a UUID, got "${webhookId}"`);
  const own = await withWorkspace(deps.pool, auth, (db) => getWebhook(db, webhookId));
  if (!own) throw new NotFoundError(`unknown webhook ${webhookId}`);
  if (!own.enabled) throw new HttpStatusError(409, "webhook_disabled", `webhook ${own.name} is disabled: enable it (PATCH {"enabled": true}) to test it`);
  const loaded = await loadWebhook(deps, webhookId, true);
  if (!loaded) throw new NotFoundError(`unknown webhook ${webhookId}`);
  const problem = problemError(loaded, true);
  if (problem) throw problem;
  const body = JSON.stringify(payload === undefined ? { test: true, webhook: own.name, sent_at: new Date().toISOString() } : payload);
  const headers = { "content-type": "application/json", ...signedHeaders(loaded.webhook, loaded.secrets[0]!.secret, body) };
  return handleDelivery(deps, webhookId, headers, Buffer.from(body, "utf8"), { test: true, loaded });
}

// ---- the route ----

/** POST /hooks/:id. Mount before /api's authentication and body parsing, after the Host check. */
export function hooksRouter(deps: HooksDeps): Router {
  const router = Router();
  const budget = deps.unverifiedBytesBudget ?? DEFAULT_UNVERIFIED_BYTES_BUDGET;
  router.post("/hooks/:id", async (req, res, next) => {
    const address = clientAddress(req);
    const unverified = new UnverifiedBytes(budget);
    try {
      const blocked = await deps.limits?.authBlocked(address);
      if (blocked) throw rateLimited(blocked);
      const id = String(req.params.id ?? "").toLowerCase();
      if (!isUuid(id)) throw notFound();
      const loaded = await loadWebhook(deps, id);
      if (!loaded) throw notFound();
      // refused before a byte of the body is read: a webhook that cannot verify, a bearer token that does not
      let early = false;
      if (loaded.webhook.verify === "bearer" || loaded.problem) {
        verifySender(deps, loaded, req.headers, Buffer.alloc(0), false);
        early = true; // a verified bearer: its body is the sender's, not anybody's
      }
      const raw = await readBody(req, Math.min(loaded.webhook.max_body_bytes, HARD_CAP_BYTES), early ? null : unverified);
      const answer = await handleDelivery(deps, id, req.headers, raw, { loaded, address, onVerified: () => unverified.release() });
      res.status(answer.status).json(answer.body);
    } catch (caught) {
      unverified.release();
      let error = caught;
      if (deps.limits && error instanceof HttpStatusError && (error.status === 404 || error.status === 401)) {
        const limited = await deps.limits.authFailed(address);
        if (limited) error = rateLimited(limited);
      }
      if (error instanceof RetryLaterError) res.set("Retry-After", String(error.retryAfterSeconds));
      // an unread body is not drained for the next request on this connection; a scanner of ids loses its connection
      if (!req.complete || (error instanceof HttpStatusError && [404, 413, 429, 503].includes(error.status))) res.set("connection", "close");
      next(error);
    }
  });
  router.use("/hooks", errorHandler(deps.log));
  return router;
}
