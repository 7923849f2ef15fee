// Inbound webhooks (000026): what the API and GraphQL read and change of everruns.webhooks and
// their deliveries, under the caller's workspace (row-level security). Receiving a delivery is
// db/sql/receiveWebhook.ts (security-definer functions: the hook route has no API key).
import { z } from "zod";
import { fromDatabaseError, NotFoundError } from "../errors.ts";
import { isUuid, type Queryable } from "../pool.ts";
import { givenColumns } from "./schedules.ts";

const ts = z.date();

export const WebhookRowSchema = z.object({
  id: z.string(),
  workspace_id: z.string(),
  name: z.string(),
  agent_id: z.string(),
  verify: z.enum(["standard", "hmac", "github", "bearer"]),
  secret_names: z.array(z.string()),
  signature_header: z.string().nullable(),
  signature_prefix: z.string().nullable(),
  tolerance_seconds: z.number(),
  dedupe_pointer: z.string().nullable(),
  input_template: z.unknown(),
  thread_key_pointer: z.string().nullable(),
  max_body_bytes: z.number(),
  enabled: z.boolean(),
  created_at: ts,
  updated_at: ts,
});
export type WebhookRow = z.infer<typeof WebhookRowSchema>;

export const WebhookDeliveryRowSchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  delivery_key: z.string().nullable(),
  received_at: ts,
  verified_with: z.number().nullable(),
  /** present when asked for (listWebhookDeliveries' `payload`) */
  payload: z.unknown().optional(),
  payload_bytes: z.number(),
  thread_key: z.string().nullable(),
  run_id: z.string(),
  /** the run's status now (null: the run is still queued on its thread, or gone) */
  run_status: z.string().nullable(),
  duplicates: z.number(),
  last_duplicate_at: ts.nullable(),
  test: z.boolean(),
});
export type WebhookDeliveryRow = z.infer<typeof WebhookDeliveryRowSchema>;

/** The columns of a webhook (the table's, aliased w). Shared with receiveWebhook.ts. */
export const WEBHOOK_COLUMNS = `w.id, w.workspace_id, w.name, w.agent_id, w.verify, w.secret_names, w.signature_header, w.signature_prefix,
  w.tolerance_seconds, w.dedupe_pointer, w.input_template, w.thread_key_pointer, w.max_body_bytes, w.enabled, w.created_at, w.updated_at`;

/** What a client may set (the columns everruns_api may insert and update). */
export interface WebhookFields {
  name?: string;
  verify?: "standard" | "hmac" | "github" | "bearer";
  secret_names?: string[];
  signature_header?: string | null;
  signature_prefix?: string | null;
  tolerance_seconds?: number;
  dedupe_pointer?: string | null;
  input_template?: unknown;
  thread_key_pointer?: string | null;
  max_body_bytes?: number;
  enabled?: boolean;
}

export interface NewWebhook extends WebhookFields {
  /** the agent, by id or name (an id wins) */
  agent: string;
  name: string;
  secret_names: string[];
}

const WEBHOOK_FIELDS = [
  ["name", "text"],
  ["verify", "text"],
  ["secret_names", "text[]"],
  ["signature_header", "text"],
  ["signature_prefix", "text"],
  ["tolerance_seconds", "integer"],
  ["dedupe_pointer", "text"],
  ["input_template", "jsonb"],
  ["thread_key_pointer", "text"],
  ["max_body_bytes", "integer"],
  ["enabled", "boolean"],
] as const satisfies ReadonlyArray<readonly [keyof WebhookFields, string]>;

/** The workspace's webhooks, by name (at most `limit`). */
export async function listWebhooks(db: Queryable, options: { limit: number }): Promise<WebhookRow[]> {
  const { rows } = await db.query(`select ${WEBHOOK_COLUMNS} from everruns.webhooks w order by w.name limit $1`, [options.limit]);
  return rows.map((row) => WebhookRowSchema.parse(row));
}

/** One webhook by id, or null. */
export async function getWebhook(db: Queryable, id: string): Promise<WebhookRow | null> {
  const { rows } = await db.query(`select ${WEBHOOK_COLUMNS} from everruns.webhooks w where w.id = $1`, [id]);
  return rows[0] ? WebhookRowSchema.parse(rows[0]) : null;
}

/**
 * Inserts a webhook of the agent named by `input.agent` (id or name): one statement, so zero
 * rows back means no such agent in the workspace. The table's checks (a name, a pointer, sizes)
 * and a taken name come back through fromDatabaseError.
 */
export async function createWebhook(db: Queryable, input: NewWebhook): Promise<WebhookRow> {
  const { columns, placeholders, values } = givenColumns(input as unknown as Record<string, unknown>, WEBHOOK_FIELDS, 3);
  try {
    const { rows } = await db.query(
      `with inserted as (
         insert into everruns.webhooks (agent_id, ${columns.join(", ")})
         select a.id, ${placeholders.join(", ")} from everruns.agents a
          where a.id = $1::uuid or a.name = $2
          order by (a.id = $1::uuid) desc nulls last
          limit 1
         returning *)
       select ${WEBHOOK_COLUMNS} from inserted w`,
      [isUuid(input.agent) ? input.agent : null, input.agent, ...values],
    );
    if (!rows[0]) throw new NotFoundError(`no agent with id or name "${input.agent}" in this workspace`);
    return WebhookRowSchema.parse(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Changes the given fields of a webhook (not its agent); null when there is none. */
export async function updateWebhook(db: Queryable, id: string, fields: WebhookFields): Promise<WebhookRow | null> {
  const { columns, placeholders, values } = givenColumns(fields as Record<string, unknown>, WEBHOOK_FIELDS, 2);
  if (columns.length === 0) return getWebhook(db, id);
  try {
    const { rows } = await db.query(
      `with updated as (
         update everruns.webhooks set ${columns.map((c, i) => `${c} = ${placeholders[i]}`).join(", ")}
          where id = $1 returning *)
       select ${WEBHOOK_COLUMNS} from updated w`,
      [id, ...values],
    );
    return rows[0] ? WebhookRowSchema.parse(rows[0]) : null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Deletes a webhook and its deliveries (its runs stay). Whether there was one. */
export async function deleteWebhook(db: Queryable, id: string): Promise<boolean> {
  try {
    const { rowCount } = await db.query("delete from everruns.webhooks where id = $1", [id]);
    return (rowCount ?? 0) > 0;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/**
 * A webhook's deliveries, newest first, received before `before` when given, with their runs'
 * statuses; their payloads only when `payload` (each may be up to max_body_bytes).
 */
export async function listWebhookDeliveries(
  db: Queryable,
  webhookId: string,
  options: { limit: number; before?: Date | null; payload?: boolean },
): Promise<WebhookDeliveryRow[]> {
  const { rows } = await db.query(
    `select d.id, d.webhook_id, d.delivery_key, d.received_at, d.verified_with, d.payload_bytes, d.thread_key, d.run_id,
            r.status as run_status, d.duplicates, d.last_duplicate_at, d.test
            ${options.payload ? ", d.payload" : ""}
       from everruns.webhook_deliveries d left join everruns.runs r on r.id = d.run_id
      where d.webhook_id = $1 and ($3::timestamptz is null or d.received_at < $3)
      order by d.received_at desc, d.id desc limit $2`,
    [webhookId, options.limit, options.before ?? null],
  );
  return rows.map((row) => WebhookDeliveryRowSchema.parse(row));
}
