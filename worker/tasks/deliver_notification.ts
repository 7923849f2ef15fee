// Outbound notifications (issue 16, 000026): the graphile-worker task `deliver_notification`
// {"delivery_id"} (job key notify:<id>), queued in the transaction that ends a run or a batch
// and again by every failed attempt. One job is one attempt:
//
// 1. begin_notification_attempt records the attempt, in its own short transaction (no row: the
//    delivery is not pending any more, nothing to do). A worker that dies after this leaves the
//    attempt unfinished; the next attempt marks it interrupted.
// 2. The endpoint's signing secret (a workspace secret, sealed with EVERRUNS_SECRET_KEY) is
//    opened here, in the worker, as a step's secrets are (worker/secrets.ts).
// 3. The payload is POSTed, signed per Standard Webhooks (lib/webhook-signatures.ts) with
//    webhook-id msg_<delivery id without dashes>, the same on every attempt, so that a receiver
//    de-duplicates the repeats that at-least-once delivery sends. The request goes through the
//    egress guard (a tenant chooses the URL: loopback, private and metadata addresses are refused
//    unless EVERRUNS_EGRESS_ALLOW lists them), times out after 15 s, follows no redirect that
//    would lose the POST, and reads at most 64 KiB of the answer, which it discards.
// 4. finish_notification_attempt records the answer: a 2xx status is delivered; anything else
//    queues the next attempt itself (backoff from the endpoint's retry_initial_seconds, for a day).
//
// The task returns normally whatever the endpoint did: graphile-worker's own retries are for a
// crash of the task (the database unreachable while finishing), not for a failed delivery.
//
// Deliveries in flight are capped per worker process (EVERRUNS_NOTIFY_MAX_IN_FLIGHT, default 10):
// each may hold a slot of the pool up to 15 s, and the pool's slots are the run steps' too. A job
// that finds the cap reached re-adds itself a second later (same job key) and returns at once,
// with no attempt recorded: its slot goes back to the steps. Only shared pools register the task
// (worker/main.ts): a dedicated workspace's slots are its own.
import type { Task } from "graphile-worker";
import type { Response } from "undici";
import { z } from "zod";
import { ConfigError } from "../../db/errors.ts";
import type { Pool } from "../../db/pool.ts";
import { beginNotificationAttempt, finishNotificationAttempt, postponeNotification, type BegunNotificationAttempt } from "../../db/sql/notificationAttempts.ts";
import type { Logger } from "../../lib/logger.ts";
import { openSecret, SECRET_KEY_ENV, SecretOpenError } from "../../lib/secret-box.ts";
import { signStandard, WebhookConfigError } from "../../lib/webhook-signatures.ts";
import { egressRefusal } from "../../lib/egress/errors.ts";
import type { EgressGuard } from "../../lib/egress/guard.ts";

/** How long one attempt may take, from connecting to the end of the answer. */
export const NOTIFICATION_TIMEOUT_MS = 15_000;
/** How much of an answer is read (and thrown away) before the connection is closed. */
export const NOTIFICATION_RESPONSE_BYTES = 64 * 1024;
export const NOTIFICATION_USER_AGENT = "everruns-notify";
export const NOTIFY_MAX_IN_FLIGHT_ENV = "EVERRUNS_NOTIFY_MAX_IN_FLIGHT";
export const DEFAULT_NOTIFY_MAX_IN_FLIGHT = 10;
/** How much later a job over the cap runs again. */
export const NOTIFY_POSTPONE_MS = 1_000;

const NOTIFY_MAX_IN_FLIGHT_MESSAGE = `${NOTIFY_MAX_IN_FLIGHT_ENV} must be a whole number of deliveries from 1 to 10000`;
const NotifyMaxInFlightSchema = z.coerce
  .number({ error: NOTIFY_MAX_IN_FLIGHT_MESSAGE })
  .int(NOTIFY_MAX_IN_FLIGHT_MESSAGE)
  .min(1, NOTIFY_MAX_IN_FLIGHT_MESSAGE)
  .max(10_000, NOTIFY_MAX_IN_FLIGHT_MESSAGE);

/**
 * EVERRUNS_NOTIFY_MAX_IN_FLIGHT: notification deliveries one worker process sends at once
 * (1..10000, default 10). An invalid value is a ConfigError naming it.
 */
export function notifyMaxInFlightFromEnv(source: NodeJS.ProcessEnv = process.env): number {
  const raw = source[NOTIFY_MAX_IN_FLIGHT_ENV]?.trim();
  if (!raw) return DEFAULT_NOTIFY_MAX_IN_FLIGHT;
  const parsed = NotifyMaxInFlightSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`invalid environment: ${NOTIFY_MAX_IN_FLIGHT_MESSAGE} (got ${JSON.stringify(source[NOTIFY_MAX_IN_FLIGHT_ENV])})`);
  return parsed.data;
}

/** The deliveries in flight in this process, over every pool (one replaced after an outage may still send some). */
export interface NotificationsInFlight {
  running: number;
  /** at most this many at once; a job over it is postponed */
  max: number;
}

const DeliverNotificationPayloadSchema = z.object({ delivery_id: z.uuid() });

export interface DeliverNotificationDeps {
  pool: Pool;
  /** EVERRUNS_SECRET_KEY; undefined: every attempt fails saying to set it (and is retried). */
  secretKey: Buffer | undefined;
  log: Logger;
  /** The guard requests go through (default: the process's, over EVERRUNS_EGRESS_ALLOW). */
  egress?: EgressGuard;
  /** The process's cap (default: one of DEFAULT_NOTIFY_MAX_IN_FLIGHT for this task alone). */
  inFlight?: NotificationsInFlight;
}

/** An attempt's answer as finish_notification_attempt records it. */
interface AttemptResult {
  statusCode: number | null;
  error: string | null;
}

/** The webhook-id of a delivery: the same on every attempt and every resend. */
export function notificationMessageId(deliveryId: string): string {
  return `msg_${deliveryId.replace(/-/g, "")}`;
}

export function makeDeliverNotificationTask(deps: DeliverNotificationDeps): Task {
  const inFlight = deps.inFlight ?? { running: 0, max: DEFAULT_NOTIFY_MAX_IN_FLIGHT };
  return async (payload) => {
    const { delivery_id } = DeliverNotificationPayloadSchema.parse(payload);
    if (inFlight.running >= inFlight.max) {
      // Over the cap: the job comes back a second later and this slot is free at once. Nothing is
      // recorded on the delivery (no attempt was made). A database error fails the job, which
      // graphile-worker runs again later: the delivery is never lost.
      await postponeNotification(deps.pool, delivery_id, NOTIFY_POSTPONE_MS);
      return;
    }
    inFlight.running++;
    try {
      await deliver(delivery_id, deps);
    } finally {
      inFlight.running--;
    }
  };
}

/** One attempt of the delivery, from begin to finish. */
async function deliver(deliveryId: string, deps: DeliverNotificationDeps): Promise<void> {
  // a database error here fails the job: graphile-worker tries it again later
  const begun = await beginNotificationAttempt(deps.pool, deliveryId);
  if (!begun) return;
  const result = await attempt(begun, deps);
  // Not caught: when the answer cannot be recorded (the database is down) the job fails and
  // graphile-worker runs it again; that next attempt marks this one interrupted and sends the
  // event again, under the same webhook-id.
  const outcome = await finishNotificationAttempt(deps.pool, deliveryId, begun.attempt, result.statusCode, result.error);
  const what = `notification ${begun.event} ${deliveryId} to ${hostOf(begun.url)}, attempt ${begun.attempt}`;
  if (outcome === "delivered") deps.log.debug(`${what}: delivered (${result.statusCode})`);
  else if (outcome === "failed") deps.log.warn(`${what}: ${result.error}; given up (everruns.resend_notification sends it again)`);
  else deps.log.info(`${what}: ${result.error} (${outcome})`);
}

/** One attempt: sign and send; never throws. */
async function attempt(begun: BegunNotificationAttempt, deps: DeliverNotificationDeps): Promise<AttemptResult> {
  let headers: Record<string, string>;
  try {
    const secret = openSigningSecret(begun, deps.secretKey);
    headers = signStandard(secret, notificationMessageId(begun.deliveryId), new Date(), begun.payloadText);
  } catch (error) {
    if (error instanceof SigningSecretError || error instanceof SecretOpenError) return { statusCode: null, error: error.message };
    if (error instanceof WebhookConfigError) {
      return {
        statusCode: null,
        error: `the signing secret "${begun.secretName}" is unusable: ${error.message}; set a new one with \`everruns secrets set ${begun.secretName}\``,
      };
    }
    return { statusCode: null, error: `could not sign the notification: ${(error as Error).message}` };
  }
  return post(begun, headers, deps);
}

/** Why an attempt could not be signed: no key on this worker, or no secret of that name. */
class SigningSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SigningSecretError";
  }
}

function openSigningSecret(begun: BegunNotificationAttempt, key: Buffer | undefined): string {
  const name = begun.secretName;
  if (!begun.secretCiphertext) {
    throw new SigningSecretError(
      `the endpoint's signing secret "${name}" is not set in this workspace: set it with \`everruns secrets set ${name}\` (a Standard Webhooks secret: whsec_ + base64); the delivery is retried`,
    );
  }
  if (!key) {
    throw new SigningSecretError(
      `this worker cannot open the signing secret "${name}": ${SECRET_KEY_ENV} is not set on it (set the same key as on the API); the delivery is retried`,
    );
  }
  return openSecret(key, begun.secretCiphertext, { workspaceId: begun.workspaceId, name });
}

async function post(begun: BegunNotificationAttempt, signature: Record<string, string>, deps: DeliverNotificationDeps): Promise<AttemptResult> {
  const url = begun.url;
  const host = hostOf(url);
  const timeout = AbortSignal.timeout(NOTIFICATION_TIMEOUT_MS);
  // the guard (and undici under it) loads on the first delivery, not at worker start
  const guard = deps.egress ?? (await import("../../lib/egress/guard.ts")).defaultEgressGuard();
  let response: Response;
  try {
    response = await guard.fetch(url, {
      method: "POST",
      headers: { ...signature, "content-type": "application/json", "user-agent": NOTIFICATION_USER_AGENT },
      body: begun.payloadText,
      signal: timeout,
    });
  } catch (error) {
    // a refusal or a redirect the guard would not follow: its message says what to set
    const refusal = egressRefusal(error);
    if (refusal) return { statusCode: null, error: refusal.message };
    if (timeout.aborted) return { statusCode: null, error: `no answer from ${host} within ${NOTIFICATION_TIMEOUT_MS / 1000} s` };
    // Refused, reset or unresolvable: one text for all, as for http tools, so that an endpoint's
    // URL cannot be used to map which ports of a host are open.
    return { statusCode: null, error: `could not reach ${host}` };
  }
  try {
    await drain(response);
  } catch {
    // the status was answered; a body cut off (or too slow) changes nothing of it
  }
  // The guard follows redirects; one that turned the POST into a GET (301, 302, 303) answered
  // something else than the event, and one to another origin lost the signature headers.
  if (stripHash(response.url) !== stripHash(url) && response.url !== "") {
    return {
      statusCode: response.status,
      error: `${host} redirected the notification to ${hostOf(response.url)}: notifications are not delivered through redirects; set the endpoint's url to the final address`,
    };
  }
  if (response.status >= 200 && response.status <= 299) return { statusCode: response.status, error: null };
  return { statusCode: response.status, error: `${host} answered ${response.status} (a 2xx status is a delivery)` };
}

/** Reads the answer up to NOTIFICATION_RESPONSE_BYTES and throws it away; past that the connection is closed. */
async function drain(response: Response): Promise<void> {
  const body = response.body;
  if (!body) return;
  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    size += value.byteLength;
    if (size > NOTIFICATION_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      return;
    }
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function stripHash(url: string): string {
  try {
    const u = new URL(url);
    u.hash = "";
    return u.href;
  } catch {
    return url;
  }
}
