// Outbound notifications (000026): the workspace's endpoints, their deliveries and attempts, and
// resending one, under the caller's workspace (row-level security). The worker delivers
// (deliver_notification); nothing here posts anything.
import { z } from "zod";
import { fromDatabaseError, NotFoundError } from "../errors.ts";
import { isUuid, type Queryable } from "../pool.ts";
import { givenColumns } from "./schedules.ts";

const ts = z.date();

export const NOTIFICATION_EVENTS = ["run.succeeded", "run.failed", "run.interrupted", "run.cancelled", "batch.completed"] as const;
export const NOTIFICATION_STATUSES = ["pending", "delivered", "failed"] as const;

export const NotificationEndpointRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  agent_id: z.string().nullable(),
  secret_name: z.string(),
  retry_initial_seconds: z.number(),
  enabled: z.boolean(),
  created_at: ts,
  updated_at: ts,
});
export type NotificationEndpointRow = z.infer<typeof NotificationEndpointRowSchema>;

export const NotificationAttemptRowSchema = z.object({
  attempt: z.number(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  status_code: z.number().nullable(),
  error: z.string().nullable(),
  outcome: z.string().nullable(),
});

export const NotificationDeliveryRowSchema = z.object({
  id: z.string(),
  endpoint_id: z.string(),
  event: z.string(),
  subject_id: z.string(),
  payload: z.unknown(),
  status: z.string(),
  attempts: z.number(),
  next_attempt_at: ts.nullable(),
  give_up_at: ts,
  last_status_code: z.number().nullable(),
  last_error: z.string().nullable(),
  created_at: ts,
  delivered_at: ts.nullable(),
  /** its attempts, oldest first (times as ISO text) */
  attempt_log: z.array(NotificationAttemptRowSchema),
});
export type NotificationDeliveryRow = z.infer<typeof NotificationDeliveryRowSchema>;

const ENDPOINT_COLUMNS = `e.id, e.name, e.url, e.events, e.agent_id, e.secret_name, e.retry_initial_seconds, e.enabled, e.created_at, e.updated_at`;

const DELIVERY_COLUMNS = `d.id, d.endpoint_id, d.event, d.subject_id, d.payload, d.status, d.attempts, d.next_attempt_at, d.give_up_at,
  d.last_status_code, d.last_error, d.created_at, d.delivered_at,
  coalesce((select jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at', a.started_at, 'finished_at', a.finished_at,
                                                'status_code', a.status_code, 'error', a.error, 'outcome', a.outcome)
                             order by a.attempt)
              from everruns.notification_attempts a where a.delivery_id = d.id), '[]'::jsonb) as attempt_log`;

export interface NotificationEndpointFields {
  name?: string;
  url?: string;
  events?: string[];
  agent_id?: string | null;
  secret_name?: string;
  retry_initial_seconds?: number;
  enabled?: boolean;
}

const ENDPOINT_FIELDS = [
  ["name", "text"],
  ["url", "text"],
  ["events", "text[]"],
  ["agent_id", "uuid"],
  ["secret_name", "text"],
  ["retry_initial_seconds", "double precision"],
  ["enabled", "boolean"],
] as const satisfies ReadonlyArray<readonly [keyof NotificationEndpointFields, string]>;

/** The workspace's notification endpoints, by name. */
export async function listNotificationEndpoints(db: Queryable, options: { limit: number }): Promise<NotificationEndpointRow[]> {
  const { rows } = await db.query(`select ${ENDPOINT_COLUMNS} from everruns.notification_endpoints e order by e.name limit $1`, [options.limit]);
  return rows.map((row) => NotificationEndpointRowSchema.parse(row));
}

/** One endpoint by id, or null. */
export async function getNotificationEndpoint(db: Queryable, id: string): Promise<NotificationEndpointRow | null> {
  const { rows } = await db.query(`select ${ENDPOINT_COLUMNS} from everruns.notification_endpoints e where e.id = $1`, [id]);
  return rows[0] ? NotificationEndpointRowSchema.parse(rows[0]) : null;
}

/**
 * The id of the workspace's agent named by id or name, or a NotFoundError: an endpoint's
 * optional agent filter is given like a run's agent.
 */
export async function findEndpointAgent(db: Queryable, agent: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `select a.id from everruns.agents a where a.id = $1::uuid or a.name = $2 order by (a.id = $1::uuid) desc nulls last limit 1`,
    [isUuid(agent) ? agent : null, agent],
  );
  if (!rows[0]) throw new NotFoundError(`no agent with id or name "${agent}" in this workspace`);
  return rows[0].id;
}

/** Inserts an endpoint (name, url, events and secret_name required; the table checks them too). */
export async function createNotificationEndpoint(
  db: Queryable,
  input: NotificationEndpointFields & { name: string; url: string; events: string[]; secret_name: string },
): Promise<NotificationEndpointRow> {
  const { columns, placeholders, values } = givenColumns(input as unknown as Record<string, unknown>, ENDPOINT_FIELDS, 1);
  try {
    const { rows } = await db.query(
      `with inserted as (insert into everruns.notification_endpoints (${columns.join(", ")}) values (${placeholders.join(", ")}) returning *)
       select ${ENDPOINT_COLUMNS} from inserted e`,
      values,
    );
    return NotificationEndpointRowSchema.parse(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Changes the given fields of an endpoint; null when there is none. */
export async function updateNotificationEndpoint(db: Queryable, id: string, fields: NotificationEndpointFields): Promise<NotificationEndpointRow | null> {
  const { columns, placeholders, values } = givenColumns(fields as Record<string, unknown>, ENDPOINT_FIELDS, 2);
  if (columns.length === 0) return getNotificationEndpoint(db, id);
  try {
    const { rows } = await db.query(
      `with updated as (
         update everruns.notification_endpoints set ${columns.map((c, i) => `${c} = ${placeholders[i]}`).join(", ")}
          where id = $1 returning *)
       select ${ENDPOINT_COLUMNS} from updated e`,
      [id, ...values],
    );
    return rows[0] ? NotificationEndpointRowSchema.parse(rows[0]) : null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Deletes an endpoint and its deliveries. Whether there was one. */
export async function deleteNotificationEndpoint(db: Queryable, id: string): Promise<boolean> {
  try {
    const { rowCount } = await db.query("delete from everruns.notification_endpoints where id = $1", [id]);
    return (rowCount ?? 0) > 0;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Deliveries, newest first, of one endpoint and in one status when given, with their attempts. */
export async function listNotificationDeliveries(
  db: Queryable,
  options: { limit: number; endpointId?: string | null; status?: string | null },
): Promise<NotificationDeliveryRow[]> {
  const { rows } = await db.query(
    `select ${DELIVERY_COLUMNS} from everruns.notification_deliveries d
      where ($2::uuid is null or d.endpoint_id = $2) and ($3::text is null or d.status = $3)
      order by d.created_at desc, d.id desc limit $1`,
    [options.limit, options.endpointId ?? null, options.status ?? null],
  );
  return rows.map((row) => NotificationDeliveryRowSchema.parse(row));
}

/** One delivery with its attempts, or null. */
export async function getNotificationDelivery(db: Queryable, id: string): Promise<NotificationDeliveryRow | null> {
  const { rows } = await db.query(`select ${DELIVERY_COLUMNS} from everruns.notification_deliveries d where d.id = $1`, [id]);
  return rows[0] ? NotificationDeliveryRowSchema.parse(rows[0]) : null;
}

/**
 * Sends a delivery again (everruns.resend_notification: pending again for another day, a job
 * added, audited). Unknown (another workspace's included): NotFoundError.
 */
export async function resendNotification(db: Queryable, id: string): Promise<NotificationDeliveryRow> {
  try {
    await db.query("select everruns.resend_notification($1)", [id]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
  const delivery = await getNotificationDelivery(db, id);
  if (!delivery) throw new NotFoundError(`unknown notification delivery ${id}`);
  return delivery;
}
