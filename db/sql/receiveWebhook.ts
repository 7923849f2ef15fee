// Receiving webhooks and events (000026). The hook route (POST /hooks/:id) carries no API key:
// it reads the webhook and its sealed secrets through everruns_private.webhook_for_delivery and
// records a verified delivery through everruns_private.receive_webhook, both security definer and
// granted to everruns_api. everruns.trigger starts an event's run for an API key's workspace.
import { z } from "zod";
import { fromDatabaseError } from "../errors.ts";
import type { Queryable } from "../pool.ts";
import { WebhookRowSchema, type WebhookRow } from "./webhooks.ts";

export interface WebhookForDelivery {
  webhook: WebhookRow;
  /** the sealed values of webhook.secret_names, in that order; null where the secret is not set */
  secretCiphertexts: (Buffer | null)[];
}

/** An enabled webhook and its secrets' ciphertexts, or null (unknown or disabled: the same to the sender). */
export async function webhookForDelivery(db: Queryable, webhookId: string): Promise<WebhookForDelivery | null> {
  const { rows } = await db.query(
    `select w.id, w.workspace_id, w.name, w.agent_id, w.verify, w.secret_names, w.signature_header, w.signature_prefix,
            w.tolerance_seconds, w.dedupe_pointer, w.input_template, w.thread_key_pointer, w.max_body_bytes, w.enabled,
            w.created_at, w.updated_at, f.secret_ciphertexts
       from everruns_private.webhook_for_delivery($1) f, lateral (select (f.webhook).*) w`,
    [webhookId],
  );
  const row = rows[0] as (Record<string, unknown> & { secret_ciphertexts: (Buffer | null)[] }) | undefined;
  if (!row) return null;
  return { webhook: WebhookRowSchema.parse(row), secretCiphertexts: row.secret_ciphertexts ?? [] };
}

export interface ReceivedDelivery {
  webhookId: string;
  /** de-duplicates repeats for 24 h; null: none */
  deliveryKey: string | null;
  payload: unknown;
  payloadBytes: number;
  /** the run input (rendered from the webhook's template) */
  input: unknown;
  /** the long-lived thread's key; null: a new thread */
  threadKey: string | null;
  /** which secret verified it (0-based index into secret_names) */
  verifiedWith: number | null;
  test: boolean;
}

export const ReceiveResultSchema = z.object({ delivery_id: z.string(), run_id: z.string(), duplicate: z.boolean(), queued: z.boolean() });
export type ReceiveResult = z.infer<typeof ReceiveResultSchema>;

/**
 * Records a verified delivery and inserts its run (or queues it on its thread), de-duplicated by
 * its key, in the caller's transaction: a repeat answers the first delivery's run with duplicate
 * true. An input the runs' rules refuse (EV003), an unknown webhook (EV005) come back through
 * fromDatabaseError.
 */
export async function receiveWebhook(db: Queryable, d: ReceivedDelivery): Promise<ReceiveResult> {
  try {
    const { rows } = await db.query("select * from everruns_private.receive_webhook($1, $2, $3::jsonb, $4, $5::jsonb, $6, $7::smallint, $8)", [
      d.webhookId,
      d.deliveryKey,
      JSON.stringify(d.payload),
      d.payloadBytes,
      JSON.stringify(d.input),
      d.threadKey,
      d.verifiedWith,
      d.test,
    ]);
    return ReceiveResultSchema.parse(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/**
 * An event for an agent (its id or name) of the caller's workspace: everruns.trigger starts its
 * run at once, or queues it on the long-lived thread `threadKey` behind that thread's runs.
 * Returns the run's id (fixed at once, even while queued).
 */
export async function triggerAgent(db: Queryable, input: { agent: string; payload: unknown; threadKey?: string | null }): Promise<string> {
  try {
    const { rows } = await db.query<{ run_id: string }>("select everruns.trigger($1, $2::jsonb, $3) as run_id", [
      input.agent,
      JSON.stringify(input.payload ?? null),
      input.threadKey ?? null,
    ]);
    return rows[0]!.run_id;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
