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
// seen within that time. The body is read up to the webhook's max_body_bytes (413 beyond; never
// more than that plus one chunk is held), and never beyond HARD_CAP_BYTES before the webhook is
// known. Each webhook and client address has its own rate limit (the API's per-key limits,
// EVERRUNS_RATE_LIMIT_PER_MINUTE and _BURST): 429 with Retry-After.
import { createHash, createHmac, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Router } from "express";
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from "rate-limiter-flexible";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool } from "../db/pool.ts";
import { receiveWebhook, webhookForDelivery, type ReceiveResult } from "../db/sql/receiveWebhook.ts";
import { getWebhook, type WebhookRow } from "../db/sql/webhooks.ts";
import { resolvePointer, renderTemplate } from "../lib/json-pointer.ts";
import type { Logger } from "../lib/logger.ts";
import { openSecret, SECRET_KEY_ENV, secretKeyFromEnv } from "../lib/secret-box.ts";
import { describeStorableProblem, findStorableProblem } from "../lib/storable-json.ts";
import { signStandard, verifyDelivery, WebhookConfigError, type Headers } from "../lib/webhook-signatures.ts";
import { requireRole, sendRateLimited, withWorkspace, type Auth } from "./auth.ts";
import { errorHandler, HttpStatusError } from "./http-errors.ts";
import { clientAddress, RATE_LIMIT_SCHEMA, RATE_LIMIT_TABLE, type RateLimited, type RateLimitSettings } from "./rate-limit.ts";

/** No body is read beyond this before the webhook (and its own limit) is known: the table's largest max_body_bytes. */
export const HARD_CAP_BYTES = 5 * 1024 * 1024;
/** How long a webhook and its opened secrets are reused (per API process). */
export const DEFAULT_HOOK_CACHE_MS = 2_000;
const CACHE_MAX = 10_000;
/** receive_webhook's delivery_key column holds at most this; a longer key is replaced by its SHA-256. */
const MAX_DELIVERY_KEY_CHARS = 500;

export interface HooksDeps {
  pool: Pool;
  log: Logger;
  /** EVERRUNS_SECRET_KEY (default: from the environment); none: every delivery is refused with 503. */
  secretKey?: Buffer | null;
  /** How long a webhook's row and opened secrets are reused (default 2000 ms; 0: read every time). */
  cacheMs?: number;
  /** Per webhook and client address (default: none). */
  limits?: HookRateLimits | null;
}

/** An answer of the hook: its status and JSON body. */
export interface HookAnswer {
  status: 200 | 202;
  /** queued: the run waits for its long-lived thread's earlier runs (GET /api/runs/:id finds it once it starts) */
  body: { run_id: string; delivery_id: string; duplicate?: true; queued?: true };
}

const notFound = () => new HttpStatusError(404, "not_found", "no such webhook (unknown, disabled, or not a webhook id)");

/** Rate limits of deliveries, per webhook and client address (as api/rate-limit.ts counts keys: in everruns_private.rate_limits). */
export class HookRateLimits {
  readonly #windows: Array<{ limiter: RateLimiterPostgres; points: number; per: string }> = [];
  readonly #log: Logger;
  #warned = false;

  constructor(pool: Pool, settings: Pick<RateLimitSettings, "perMinute" | "burst">, log: Logger) {
    this.#log = log;
    const make = (keyPrefix: string, points: number, duration: number) =>
      new RateLimiterPostgres({
        storeClient: pool,
        storeType: "pool",
        schemaName: RATE_LIMIT_SCHEMA,
        tableName: RATE_LIMIT_TABLE,
        tableCreated: true,
        keyPrefix,
        points,
        duration,
        inMemoryBlockOnConsumed: points + 1,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
      });
    if (settings.perMinute > 0) this.#windows.push({ limiter: make("evr_rl_hook", settings.perMinute, 60), points: settings.perMinute, per: "minute" });
    if (settings.burst > 0) this.#windows.push({ limiter: make("evr_rl_hook_burst", settings.burst, 1), points: settings.burst, per: "second" });
  }

  /** Counts one delivery of `webhookId` from `address`; a refusal when over a limit. */
  async consume(webhookId: string, address: string): Promise<RateLimited | null> {
    if (this.#windows.length === 0) return null;
    const results = await Promise.allSettled(this.#windows.map((w) => w.limiter.consume(`${webhookId}/${address}`)));
    let waitMs = -1;
    for (const result of results) {
      if (result.status === "fulfilled") continue;
      if (!(result.reason instanceof RateLimiterRes)) {
        if (!this.#warned) {
          this.#warned = true;
          this.#log.warn(`hook rate limit check failed, delivery let through: ${(result.reason as Error)?.message ?? String(result.reason)}`);
        }
        return null;
      }
      waitMs = Math.max(waitMs, result.reason.msBeforeNext);
    }
    if (waitMs < 0) return null;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    const limits = this.#windows.map((w) => `${w.points} per ${w.per}`).join(" and ");
    return {
      message: `too many deliveries to this webhook from this address: at most ${limits} (EVERRUNS_RATE_LIMIT_PER_MINUTE, EVERRUNS_RATE_LIMIT_BURST); retry in ${seconds} s`,
      retryAfterSeconds: seconds,
    };
  }
}

// ---- the webhook and its secrets, cached ----

interface Loaded {
  webhook: WebhookRow;
  /** the opened secrets in secret_names order; null where not set */
  secrets: (string | null)[];
  /** why no delivery can be verified now (no key, no secret set, a secret that does not open) */
  problem: HttpStatusError | null;
}

type HookCache = Map<string, { until: number; loaded: Promise<Loaded | null> }>;
// per pool: the route and test deliveries (REST, GraphQL) of one API process share it
const caches = new WeakMap<Pool, HookCache>();

function cacheOf(pool: Pool): HookCache {
  let cache = caches.get(pool);
  if (!cache) caches.set(pool, (cache = new Map() as HookCache));
  return cache;
}

async function readWebhook(deps: HooksDeps, webhookId: string): Promise<Loaded | null> {
  const found = await webhookForDelivery(deps.pool, webhookId);
  if (!found) return null;
  const { webhook } = found;
  const key = deps.secretKey === undefined ? secretKeyFromEnv() : deps.secretKey;
  if (!key) {
    return {
      webhook,
      secrets: [],
      problem: new HttpStatusError(
        503,
        "secrets_unavailable",
        `this API cannot open webhook secrets: set ${SECRET_KEY_ENV} (the key the secrets were set with) and restart it`,
      ),
    };
  }
  let problem: HttpStatusError | null = null;
  const secrets = webhook.secret_names.map((name, i) => {
    const sealed = found.secretCiphertexts[i];
    if (!sealed) return null;
    try {
      return openSecret(key, sealed, { workspaceId: webhook.workspace_id, name });
    } catch (error) {
      problem ??= new HttpStatusError(500, "webhook_misconfigured", `webhook ${webhook.name}: ${(error as Error).message}`);
      return null;
    }
  });
  if (!problem && secrets.every((s) => s === null)) {
    problem = new HttpStatusError(
      503,
      "secrets_unavailable",
      `webhook ${webhook.name} has none of its secrets set: set ${webhook.secret_names.join(" or ")} with \`everruns secrets set\``,
    );
  }
  return { webhook, secrets, problem };
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

/** The run input of a delivery: the webhook's template rendered (default: the payload as the user's message), with the payload as context. */
export function deliveryInput(webhook: Pick<WebhookRow, "name" | "input_template">, payload: unknown): unknown {
  const payloadText = typeof payload === "string" ? payload : JSON.stringify(payload);
  const input =
    webhook.input_template === null || webhook.input_template === undefined
      ? { messages: [{ role: "user", content: payloadText }] }
      : renderTemplate(webhook.input_template, payload);
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
 * answer, or an HttpStatusError (401 invalid_signature, 404, 422, 500 webhook_misconfigured,
 * 503) after which nothing was written. The route and test deliveries both come here.
 */
export async function handleDelivery(
  deps: HooksDeps,
  webhookId: string,
  headers: Headers,
  raw: Buffer,
  opts: { test?: boolean; loaded?: Loaded | null } = {},
): Promise<HookAnswer> {
  const loaded = opts.loaded !== undefined ? opts.loaded : await loadWebhook(deps, webhookId);
  if (!loaded) throw notFound();
  const { webhook } = loaded;
  if (raw.length > webhook.max_body_bytes) throw tooLarge(webhook.max_body_bytes);
  if (loaded.problem) throw loaded.problem;
  const present = loaded.secrets.flatMap((secret, i) => (secret === null ? [] : [{ secret, i }]));
  let verified;
  try {
    verified = verifyDelivery(
      {
        scheme: webhook.verify,
        secrets: present.map((p) => p.secret),
        header: webhook.signature_header,
        prefix: webhook.signature_prefix,
        toleranceSeconds: webhook.tolerance_seconds,
      },
      headers,
      raw,
    );
  } catch (error) {
    if (error instanceof WebhookConfigError) throw new HttpStatusError(500, "webhook_misconfigured", `webhook ${webhook.name}: ${error.message}`);
    throw error;
  }
  if (!verified.ok) throw new HttpStatusError(401, "invalid_signature", verified.reason);

  const payload = parsePayload(raw, header(headers["content-type"]));
  let deliveryKey: string | null = webhook.dedupe_pointer ? (keyAt(payload, webhook.dedupe_pointer) ?? null) : verified.webhookId;
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
  let result: ReceiveResult;
  try {
    result = await receiveWebhook(deps.pool, {
      webhookId: webhook.id,
      deliveryKey,
      payload,
      payloadBytes: raw.length,
      input,
      threadKey,
      verifiedWith: present[verified.secretIndex]?.i ?? null,
      test: opts.test ?? false,
    });
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

/** The body, up to `limit` bytes: a 413 once it is over (at most one chunk past the limit is held). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const length = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(length) && length > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total);
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
 * the webhook's own first set secret for its scheme, handled by the same code as a real one
 * (in process), recorded with test = true. `payload` defaults to a small test object. Returns the
 * answer a sender would get; refusals as HttpStatusError (404: not the key's webhook, or disabled).
 */
export async function sendTestDelivery(deps: HooksDeps, auth: Auth, webhookId: string, payload?: unknown): Promise<HookAnswer> {
  requireRole(auth, "operator", "sending a test delivery");
  if (!isUuid(webhookId)) throw new ValidationError(`webhook id must be a UUID, got "${webhookId}"`);
  const own = await withWorkspace(deps.pool, auth, (db) => getWebhook(db, webhookId));
  if (!own) throw new NotFoundError(`unknown webhook ${webhookId}`);
  if (!own.enabled) throw new HttpStatusError(409, "webhook_disabled", `webhook ${own.name} is disabled: enable it (PATCH {"enabled": true}) to test it`);
  const loaded = await loadWebhook(deps, webhookId, true);
  if (!loaded) throw new NotFoundError(`unknown webhook ${webhookId}`);
  if (loaded.problem) throw loaded.problem;
  const body = JSON.stringify(payload === undefined ? { test: true, webhook: own.name, sent_at: new Date().toISOString() } : payload);
  const secret = loaded.secrets.find((s) => s !== null)!;
  const headers = { "content-type": "application/json", ...signedHeaders(loaded.webhook, secret, body) };
  return handleDelivery(deps, webhookId, headers, Buffer.from(body, "utf8"), { test: true, loaded });
}

// ---- the route ----

/** POST /hooks/:id. Mount before /api's authentication and body parsing, after the Host check. */
export function hooksRouter(deps: HooksDeps): Router {
  const router = Router();
  router.post("/hooks/:id", async (req, res, next) => {
    try {
      const id = String(req.params.id ?? "");
      if (!isUuid(id)) throw notFound();
      const limited = await deps.limits?.consume(id.toLowerCase(), clientAddress(req));
      if (limited) {
        res.set("connection", "close");
        return sendRateLimited(res, limited);
      }
      const loaded = await loadWebhook(deps, id.toLowerCase());
      if (!loaded) throw notFound();
      const raw = await readBody(req, Math.min(loaded.webhook.max_body_bytes, HARD_CAP_BYTES));
      const answer = await handleDelivery(deps, id.toLowerCase(), req.headers, raw, { loaded });
      res.status(answer.status).json(answer.body);
    } catch (error) {
      if (error instanceof HttpStatusError && error.status === 413) res.set("connection", "close");
      next(error);
    }
  });
  router.use("/hooks", errorHandler(deps.log));
  return router;
}
