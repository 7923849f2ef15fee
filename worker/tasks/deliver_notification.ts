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
import type { Task } from "graphile-worker";
import type { Response } from "undici";
import { z } from "zod";
import type { Pool } from "../../db/pool.ts";
import { beginNotificationAttempt, finishNotificationAttempt, type BegunNotificationAttempt } from "../../db/sql/notificationAttempts.ts";
import type { Logger } from "../../lib/logger.ts";
import { openSecret, SECRET_KEY_ENV, SecretOpenError } from "../../lib/secret-box.ts";
import { signStandard, WebhookConfigError } from "../../lib/webhook-signatures.ts";
import { egressRefusal } from "../egress/errors.ts";
import type { EgressGuard } from "../egress/guard.ts";

/** How long one attempt may take, from connecting to the end of the answer. */
export const NOTIFICATION_TIMEOUT_MS = 15_000;
/** How much of an answer is read (and thrown away) before the connection is closed. */
export const NOTIFICATION_RESPONSE_BYTES = 64 * 1024;
export const NOTIFICATION_USER_AGENT = "everruns-notify";

const DeliverNotificationPayloadSchema = z.object({ delivery_id: z.uuid() });

export interface DeliverNotificationDeps {
  pool: Pool;
  /** EVERRUNS_SECRET_KEY; undefined: every attempt fails saying to set it (and is retried). */
  secretKey: Buffer | undefined;
  log: Logger;
  /** The guard requests go through (default: the process's, over EVERRUNS_EGRESS_ALLOW). */
  egress?: EgressGuard;
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
  return async (payload) => {
    const { delivery_id } = DeliverNotificationPayloadSchema.parse(payload);
    // a database error here fails the job: graphile-worker tries it again later
    const begun = await beginNotificationAttempt(deps.pool, delivery_id);
    if (!begun) return;
    const result = await attempt(begun, deps);
    // Not caught: when the answer cannot be recorded (the database is down) the job fails and
    // graphile-worker runs it again; that next attempt marks this one interrupted and sends the
    // event again, under the same webhook-id.
    const outcome = await finishNotificationAttempt(deps.pool, delivery_id, begun.attempt, result.statusCode, result.error);
    const what = `notification ${begun.event} ${delivery_id} to ${hostOf(begun.url)}, attempt ${begun.attempt}`;
    if (outcome === "delivered") deps.log.debug(`${what}: delivered (${result.statusCode})`);
    else if (outcome === "failed") deps.log.warn(`${what}: ${result.error}; given up (everruns.resend_notification sends it again)`);
    else deps.log.info(`${what}: ${result.error} (${outcome})`);
  };
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
  const guard = deps.egress ?? (await import("../egress/guard.ts")).defaultEgressGuard();
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
