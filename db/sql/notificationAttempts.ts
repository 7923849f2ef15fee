import type { Queryable } from "../pool.ts";

/** A notification delivery's attempt as begun (everruns_private.begin_notification_attempt, 000026). */
export interface BegunNotificationAttempt {
  deliveryId: string;
  workspaceId: string;
  event: string;
  /**
   * The delivery's payload as Postgres writes the jsonb out: the exact text to sign and post
   * (not parsed and serialised again, so nothing in it changes between the database and the wire).
   */
  payloadText: string;
  url: string;
  /** The endpoint's secret_name: the name the signing secret was sealed under. */
  secretName: string;
  /** The sealed signing secret (lib/secret-box.ts); null when the workspace has no secret of that name. */
  secretCiphertext: Buffer | null;
  /** The attempt this begins (1, 2, ...): finishNotificationAttempt takes it back. */
  attempt: number;
}

/**
 * Begins the next attempt of a pending delivery, one statement (its own transaction): records the
 * attempt (one a dead worker left unfinished is marked interrupted) and returns what sending it
 * needs. Null when the delivery is not pending any more (delivered, failed, or deleted with its
 * endpoint): the job has nothing to do.
 */
export async function beginNotificationAttempt(db: Queryable, deliveryId: string): Promise<BegunNotificationAttempt | null> {
  // The endpoint's secret_name is read beside it: the function returns the ciphertext, and it
  // opens only under the name it was sealed for.
  const { rows } = await db.query<{
    delivery_id: string;
    workspace_id: string;
    event: string;
    payload_text: string;
    url: string;
    secret_name: string | null;
    secret_ciphertext: Buffer | null;
    attempt: number;
  }>(
    `select (b.delivery).id as delivery_id, (b.delivery).workspace_id as workspace_id, (b.delivery).event as event,
            (b.delivery).payload::text as payload_text, b.url, e.secret_name, b.secret_ciphertext, b.attempt
       from everruns_private.begin_notification_attempt($1) b
       left join everruns.notification_endpoints e on e.id = (b.delivery).endpoint_id`,
    [deliveryId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    deliveryId: row.delivery_id,
    workspaceId: row.workspace_id,
    event: row.event,
    payloadText: row.payload_text,
    url: row.url,
    secretName: row.secret_name ?? "",
    secretCiphertext: row.secret_ciphertext,
    attempt: row.attempt,
  };
}

/**
 * What finishing an attempt made of the delivery: delivered; retry (the next attempt's job is
 * queued, in the same transaction); failed (given up: its day is over); gone (deleted with its
 * endpoint); or the status a newer attempt (a resend) left it in.
 */
export type NotificationAttemptOutcome = "delivered" | "retry" | "failed" | "gone" | "pending";

/**
 * Records an attempt's answer (everruns_private.finish_notification_attempt): `statusCode` null
 * when there was none (network error, timeout, egress refusal, no secret), `error` what went
 * wrong (null when delivered). A 2xx status is a delivery; anything else schedules the next try.
 */
export async function finishNotificationAttempt(
  db: Queryable,
  deliveryId: string,
  attempt: number,
  statusCode: number | null,
  error: string | null,
): Promise<NotificationAttemptOutcome> {
  const { rows } = await db.query<{ outcome: NotificationAttemptOutcome }>("select everruns_private.finish_notification_attempt($1, $2, $3, $4) as outcome", [
    deliveryId,
    attempt,
    statusCode,
    error,
  ]);
  return rows[0]!.outcome;
}

/**
 * Puts a delivery's job back for later without an attempt: graphile_worker.add_job with the same
 * task, payload and job key (notify:<id>) and run_at `delayMs` from now. The job running it is
 * locked, so add_job takes the key off it (it ends with the task that holds it) and adds a new
 * one; a pending job of that key (a resend meanwhile) is moved, never doubled. For a worker at its
 * cap of deliveries in flight (worker/tasks/deliver_notification.ts).
 */
export async function postponeNotification(db: Queryable, deliveryId: string, delayMs: number): Promise<void> {
  await db.query(
    `select graphile_worker.add_job('deliver_notification', json_build_object('delivery_id', $1::uuid),
                                    run_at => now() + $2::int * interval '1 millisecond', max_attempts => 25,
                                    job_key => 'notify:' || $1::uuid::text)`,
    [deliveryId, Math.max(0, Math.round(delayMs))],
  );
}
