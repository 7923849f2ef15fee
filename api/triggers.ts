// REST of triggers (issue 16, 000026): schedules, inbound webhooks, notification endpoints and
// their deliveries, and events for an agent (everruns.trigger). Reads need any role; pausing,
// resuming, triggering, test deliveries and resends `operator`; creating, changing and deleting
// `admin` (they decide what runs, unattended, and where the workspace's events go). Every query
// runs under the key's workspace (withWorkspace: row-level security), so another workspace's
// schedule, webhook or endpoint is an unknown one. Bodies are checked by zod first (naming the
// field), then by the tables' own checks and triggers (agent, time zone, run input).
import { Router, type Request } from "express";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool, type PoolClient } from "../db/pool.ts";
import { describeIssues, jsonTextBytes } from "../db/schemas.ts";
import { listSecrets } from "../db/sql/listSecrets.ts";
import {
  createNotificationEndpoint,
  deleteNotificationEndpoint,
  findEndpointAgent,
  getNotificationDelivery,
  getNotificationEndpoint,
  listNotificationDeliveries,
  listNotificationEndpoints,
  NOTIFICATION_EVENTS,
  NOTIFICATION_STATUSES,
  resendNotification,
  updateNotificationEndpoint,
} from "../db/sql/notificationEndpoints.ts";
import { triggerAgent } from "../db/sql/receiveWebhook.ts";
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listScheduleFires,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  updateSchedule,
  type ScheduleRow,
} from "../db/sql/schedules.ts";
import { createWebhook, deleteWebhook, getWebhook, listWebhookDeliveries, listWebhooks, updateWebhook } from "../db/sql/webhooks.ts";
import type { Logger } from "../lib/logger.ts";
import { MAX_INTERVAL_SECONDS, nextOccurrences, scheduleSpecError } from "../lib/schedule-times.ts";
import { SecretNameSchema } from "../lib/secret-box.ts";
import { VERIFY_SCHEMES } from "../lib/webhook-signatures.ts";
import { authOf, requireRole, withWorkspace, type Auth } from "./auth.ts";
import { sendTestDelivery, type HooksDeps } from "./hooks.ts";
import { parseBody } from "./http-errors.ts";

export interface TriggersDeps {
  pool: Pool;
  log: Logger;
  /** The hook route's dependencies (test deliveries go through it). */
  hooks: HooksDeps;
}

/** A run input or template as a JSON body field: at most this much JSON text. */
const MAX_INPUT_BYTES = 65_536;
/** How many upcoming fire times GET /api/schedules/:id lists. */
const NEXT_FIRES = 5;
/** Recent fires and deliveries shown with one schedule or webhook. */
const RECENT = 10;

const NAME = z
  .string("must be a name")
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "must be 1-100 letters, digits, _, . or - (starting with a letter or digit)");
const AGENT = z.string("must name an agent (its id or name)").min(1, "must name an agent (its id or name)").max(200);
const POINTER = z
  .string()
  .max(500, "must be at most 500 characters")
  .regex(/^(\/[^/]*){1,32}$/, 'must be a JSON pointer of 1 to 32 tokens, e.g. "/issue/number" (RFC 6901: ~1 for /, ~0 for ~)');
const boundedJson = (what: string) =>
  z.unknown().refine((v) => v === undefined || jsonTextBytes(v) <= MAX_INPUT_BYTES, `${what} must be at most ${MAX_INPUT_BYTES} bytes of JSON`);

const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const timeParam = z.iso.datetime({ offset: true, message: "must be an ISO time with its offset (2025-01-31T18:00:00Z)" }).transform((s) => new Date(s));

// ---- bodies ----

export const TriggerBodySchema = z.strictObject({
  payload: boundedJson("payload").optional(),
  thread_key: z
    .string()
    .regex(/^[^\s\p{Cc}]{1,200}$/u, "must be 1-200 characters without spaces or control characters")
    .nullish(),
});

const scheduleFields = {
  name: NAME,
  cron: z.string().min(1, "must not be empty").max(200, "must be at most 200 characters").nullish(),
  interval_seconds: z
    .number()
    .int("must be a whole number of seconds")
    .min(1, "must be at least 1")
    .max(MAX_INTERVAL_SECONDS, `must be at most ${MAX_INTERVAL_SECONDS} (365 days)`)
    .nullish(),
  timezone: z.string().regex(/^[A-Za-z0-9_+/-]{1,64}$/, "must be an IANA time zone name, e.g. Europe/Berlin or UTC"),
  input: boundedJson("input").refine((v) => v !== undefined && v !== null, 'must be a run input ({"messages": [...]})'),
  overlap: z.enum(["skip", "buffer_one", "allow", "cancel_previous"], "must be skip, buffer_one, allow or cancel_previous"),
  catch_up: z.enum(["skip", "once", "all"], "must be skip, once or all"),
  catch_up_max: z.number().int("must be a whole number").min(1, "must be at least 1").max(1000, "must be at most 1000"),
  misfire_grace_seconds: z.number().int("must be a whole number").min(1, "must be at least 1").max(86_400, "must be at most 86400"),
  paused: z.boolean(),
  paused_note: z.string().max(1000, "must be at most 1000 characters").nullish(),
  pause_after_failures: z.number().int("must be a whole number").min(1, "must be at least 1").max(1000, "must be at most 1000").nullish(),
};

export const CreateScheduleBodySchema = z.strictObject({
  agent: AGENT,
  ...scheduleFields,
  timezone: scheduleFields.timezone.optional(),
  overlap: scheduleFields.overlap.optional(),
  catch_up: scheduleFields.catch_up.optional(),
  catch_up_max: scheduleFields.catch_up_max.optional(),
  misfire_grace_seconds: scheduleFields.misfire_grace_seconds.optional(),
  paused: scheduleFields.paused.optional(),
  thread: z.enum(["new", "shared"], "must be new or shared").optional(),
});

export const UpdateScheduleBodySchema = z.strictObject({
  ...Object.fromEntries(Object.entries(scheduleFields).map(([k, v]) => [k, v.optional()])),
} as { [K in keyof typeof scheduleFields]: z.ZodOptional<(typeof scheduleFields)[K]> });

export const PauseBodySchema = z.strictObject({ note: z.string().max(1000, "must be at most 1000 characters").nullish() });

const webhookFields = {
  name: NAME,
  verify: z.enum(VERIFY_SCHEMES, `must be one of ${VERIFY_SCHEMES.join(", ")}`),
  secret_names: z
    .array(SecretNameSchema)
    .min(1, "must name 1 secret (2 while rotating)")
    .max(2, "must name at most 2 secrets (2 only while rotating)")
    .refine((names) => new Set(names).size === names.length, "must not name a secret twice"),
  signature_header: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/, "must be an HTTP header name (letters, digits, -)")
    .nullish(),
  signature_prefix: z.string().max(50, "must be at most 50 characters").nullish(),
  tolerance_seconds: z.number().int("must be a whole number").min(1, "must be at least 1").max(3600, "must be at most 3600"),
  dedupe_pointer: POINTER.nullish(),
  input_template: boundedJson("input_template").nullish(),
  thread_key_pointer: POINTER.nullish(),
  max_body_bytes: z.number().int("must be a whole number").min(1024, "must be at least 1024").max(5_242_880, "must be at most 5242880 (5 MiB)"),
  enabled: z.boolean(),
};

export const CreateWebhookBodySchema = z
  .strictObject({
    agent: AGENT,
    ...webhookFields,
    verify: webhookFields.verify.optional(),
    tolerance_seconds: webhookFields.tolerance_seconds.optional(),
    max_body_bytes: webhookFields.max_body_bytes.optional(),
    enabled: webhookFields.enabled.optional(),
  })
  .superRefine((b, ctx) => {
    if (b.verify === "hmac" && !b.signature_header) {
      ctx.addIssue({ code: "custom", path: ["signature_header"], message: "hmac needs signature_header (the header the sender puts its signature in)" });
    }
  });

export const UpdateWebhookBodySchema = z.strictObject({
  ...Object.fromEntries(Object.entries(webhookFields).map(([k, v]) => [k, v.optional()])),
} as { [K in keyof typeof webhookFields]: z.ZodOptional<(typeof webhookFields)[K]> });

export const TestDeliveryBodySchema = z.strictObject({ payload: boundedJson("payload").optional() });

const endpointFields = {
  name: NAME,
  url: z
    .string("must be a URL")
    .max(2000, "must be at most 2000 characters")
    .refine((u) => {
      try {
        const parsed = new URL(u);
        return (parsed.protocol === "http:" || parsed.protocol === "https:") && !/\s/.test(u);
      } catch {
        return false;
      }
    }, "must be an http:// or https:// URL"),
  events: z
    .array(z.enum(NOTIFICATION_EVENTS, `must be one of ${NOTIFICATION_EVENTS.join(", ")}`))
    .min(1, "must name at least one event")
    .max(NOTIFICATION_EVENTS.length),
  agent: AGENT.nullish(),
  secret_name: SecretNameSchema,
  retry_initial_seconds: z.number().min(0.1, "must be at least 0.1").max(3600, "must be at most 3600"),
  enabled: z.boolean(),
};

export const CreateEndpointBodySchema = z.strictObject({
  ...endpointFields,
  retry_initial_seconds: endpointFields.retry_initial_seconds.optional(),
  enabled: endpointFields.enabled.optional(),
});

export const UpdateEndpointBodySchema = z.strictObject({
  ...Object.fromEntries(Object.entries(endpointFields).map(([k, v]) => [k, v.optional()])),
} as { [K in keyof typeof endpointFields]: z.ZodOptional<(typeof endpointFields)[K]> });

const ListQuerySchema = z.strictObject({ limit: intParam(1, 1000).optional() });
const FiresQuerySchema = z.strictObject({ limit: intParam(1, 1000).optional(), before: timeParam.optional() });
const NotificationsQuerySchema = z.strictObject({
  endpoint: z.uuid("must be an endpoint id (a UUID)").optional(),
  status: z.enum(NOTIFICATION_STATUSES, `must be one of ${NOTIFICATION_STATUSES.join(", ")}`).optional(),
  limit: intParam(1, 1000).optional(),
});

// ---- helpers ----

function parseQuery<T>(req: Request, schema: z.ZodType<T>, what: string): T {
  const result = schema.safeParse(req.query ?? {});
  if (!result.success) throw new ValidationError(`invalid ${what}: ${describeIssues(result.error)}`);
  return result.data;
}

function idParam(req: Request, what: string): string {
  const id = String(req.params.id ?? "");
  if (!isUuid(id)) throw new ValidationError(`${what} id must be a UUID, got "${id.slice(0, 100)}"`);
  return id.toLowerCase();
}

/** Whether the request carries body bytes. */
function carriesBody(req: Request): boolean {
  const length = req.get("content-length");
  if (length !== undefined) return Number(length) > 0;
  return req.get("transfer-encoding") !== undefined;
}

/** An optional JSON body: none at all is `{}`. */
function optionalBody<T>(req: Request, schema: z.ZodType<T>, what: string): T {
  if (req.body === undefined && !carriesBody(req)) return schema.parse({});
  return parseBody(req, schema, what);
}

/** `found`, or a 404 naming what was not found. */
function found<T>(value: T | null, what: string): T {
  if (value === null) throw new NotFoundError(`unknown ${what}`);
  return value;
}

/** The cron/interval/time zone of a schedule as lib/schedule-times.ts takes them. */
function specOf(s: Pick<ScheduleRow, "cron" | "interval_seconds" | "timezone">, anchor: Date) {
  return { cron: s.cron ?? null, intervalSeconds: s.interval_seconds ?? null, timezone: s.timezone, anchor };
}

/** 400 naming the problem when cron/interval/time zone do not make a schedule. */
function checkSpec(s: Pick<ScheduleRow, "cron" | "interval_seconds" | "timezone">, anchor: Date): void {
  const problem = scheduleSpecError(specOf(s, anchor));
  if (problem) throw new ValidationError(`invalid schedule: ${problem}`, { code: "invalid_schedule" });
}

/** Names among `names` that the workspace has no secret of (yet). */
async function unsetSecrets(db: PoolClient, auth: Auth, names: readonly string[]): Promise<string[]> {
  const set = new Set((await listSecrets(db, auth.workspaceId)).map((s) => s.name));
  return names.filter((n) => !set.has(n));
}

function secretWarning(names: string[], what: string): string[] {
  if (names.length === 0) return [];
  return [
    `secret${names.length === 1 ? "" : "s"} ${names.join(", ")} ${names.length === 1 ? "is" : "are"} not set yet: ${what} until you set ${names.length === 1 ? "it" : "them"} (everruns secrets set)`,
  ];
}

/** A schedule with its next fire times (none while paused or invalid) and its recent fires. */
async function scheduleDetail(db: PoolClient, schedule: ScheduleRow) {
  let next_fire_times: string[] = [];
  let next_fire_note: string | null = null;
  if (schedule.paused) {
    next_fire_note = `paused${schedule.paused_note ? `: ${schedule.paused_note}` : ""}: nothing fires until it is resumed`;
  } else if (schedule.spec_error) {
    next_fire_note = `cannot fire: ${schedule.spec_error}`;
  } else {
    const spec = specOf(schedule, schedule.created_at);
    if (scheduleSpecError(spec) === null) {
      const after = new Date(Math.max(Date.now() - 1, (schedule.next_fire_at?.getTime() ?? Date.now()) - 1));
      next_fire_times = nextOccurrences(spec, after, NEXT_FIRES).map((d) => d.toISOString());
    }
  }
  const recent_fires = await listScheduleFires(db, schedule.id, { limit: RECENT });
  return { ...schedule, next_fire_times, next_fire_note, recent_fires };
}

// ---- the router ----

export function triggersRouter(deps: TriggersDeps): Router {
  const { pool } = deps;
  const router = Router();

  router.post("/api/agents/:agent/trigger", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "triggering an agent");
    const body = parseBody(req, TriggerBodySchema, "trigger");
    const agent = String(req.params.agent ?? "");
    const runId = await withWorkspace(pool, auth, (db) => triggerAgent(db, { agent, payload: body.payload ?? null, threadKey: body.thread_key ?? null }));
    res.status(202).location(`/api/runs/${runId}`).json({ run_id: runId });
  });

  // ---- schedules ----
  router.get("/api/schedules", async (req, res) => {
    const auth = authOf(req);
    const q = parseQuery(req, ListQuerySchema, "query");
    res.json({ schedules: await withWorkspace(pool, auth, (db) => listSchedules(db, { limit: q.limit ?? 100 })) });
  });

  router.post("/api/schedules", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "creating a schedule");
    const body = parseBody(req, CreateScheduleBodySchema, "schedule");
    checkSpec({ cron: body.cron ?? null, interval_seconds: body.interval_seconds ?? null, timezone: body.timezone ?? "UTC" }, new Date());
    const created = await withWorkspace(pool, auth, async (db) =>
      scheduleDetail(db, await createSchedule(db, { ...body, cron: body.cron ?? null, interval_seconds: body.interval_seconds ?? null })),
    );
    res.status(201).location(`/api/schedules/${created.id}`).json(created);
  });

  router.get("/api/schedules/:id", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "schedule");
    res.json(await withWorkspace(pool, auth, async (db) => scheduleDetail(db, found(await getSchedule(db, id), `schedule ${id}`))));
  });

  router.patch("/api/schedules/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "changing a schedule");
    const id = idParam(req, "schedule");
    const body = parseBody(req, UpdateScheduleBodySchema, "schedule change");
    const updated = await withWorkspace(pool, auth, async (db) => {
      const before = found(await getSchedule(db, id), `schedule ${id}`);
      const cron = body.cron !== undefined ? (body.cron ?? null) : before.cron;
      const interval = body.interval_seconds !== undefined ? (body.interval_seconds ?? null) : before.interval_seconds;
      // switching between cron and interval: giving one clears the other unless it is given too
      const merged = {
        cron: body.interval_seconds != null && body.cron === undefined ? null : cron,
        interval_seconds: body.cron != null && body.interval_seconds === undefined ? null : interval,
        timezone: body.timezone ?? before.timezone,
      };
      checkSpec(merged, before.created_at);
      const changes = { ...body, ...(body.cron !== undefined || body.interval_seconds !== undefined ? merged : {}) };
      return scheduleDetail(db, found(await updateSchedule(db, id, changes), `schedule ${id}`));
    });
    res.json(updated);
  });

  router.post("/api/schedules/:id/pause", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "pausing a schedule");
    const id = idParam(req, "schedule");
    const body = optionalBody(req, PauseBodySchema, "pause");
    res.json(await withWorkspace(pool, auth, async (db) => scheduleDetail(db, found(await pauseSchedule(db, id, body.note ?? null), `schedule ${id}`))));
  });

  router.post("/api/schedules/:id/resume", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "resuming a schedule");
    const id = idParam(req, "schedule");
    optionalBody(req, z.strictObject({}), "resume");
    res.json(await withWorkspace(pool, auth, async (db) => scheduleDetail(db, found(await resumeSchedule(db, id), `schedule ${id}`))));
  });

  router.delete("/api/schedules/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "deleting a schedule");
    const id = idParam(req, "schedule");
    if (!(await withWorkspace(pool, auth, (db) => deleteSchedule(db, id)))) throw new NotFoundError(`unknown schedule ${id}`);
    res.json({ deleted: id });
  });

  router.get("/api/schedules/:id/fires", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "schedule");
    const q = parseQuery(req, FiresQuerySchema, "query");
    const fires = await withWorkspace(pool, auth, async (db) => {
      found(await getSchedule(db, id), `schedule ${id}`);
      return listScheduleFires(db, id, { limit: q.limit ?? 100, before: q.before ?? null });
    });
    res.json({ fires });
  });

  // ---- webhooks ----
  router.get("/api/webhooks", async (req, res) => {
    const auth = authOf(req);
    const q = parseQuery(req, ListQuerySchema, "query");
    const webhooks = await withWorkspace(pool, auth, (db) => listWebhooks(db, { limit: q.limit ?? 100 }));
    res.json({ webhooks: webhooks.map((w) => ({ ...w, url_path: `/hooks/${w.id}` })) });
  });

  router.post("/api/webhooks", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "creating a webhook");
    const body = parseBody(req, CreateWebhookBodySchema, "webhook");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const webhook = await createWebhook(db, body);
      const warnings = secretWarning(await unsetSecrets(db, auth, webhook.secret_names), "deliveries are refused (503)");
      return { ...webhook, url_path: `/hooks/${webhook.id}`, warnings };
    });
    res.status(201).location(`/api/webhooks/${answer.id}`).json(answer);
  });

  router.get("/api/webhooks/:id", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "webhook");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const webhook = found(await getWebhook(db, id), `webhook ${id}`);
      const recent_deliveries = await listWebhookDeliveries(db, id, { limit: RECENT });
      const warnings = secretWarning(await unsetSecrets(db, auth, webhook.secret_names), "deliveries are refused (503)");
      return { ...webhook, url_path: `/hooks/${id}`, recent_deliveries, warnings };
    });
    res.json(answer);
  });

  router.patch("/api/webhooks/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "changing a webhook");
    const id = idParam(req, "webhook");
    const body = parseBody(req, UpdateWebhookBodySchema, "webhook change");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const before = found(await getWebhook(db, id), `webhook ${id}`);
      const verify = body.verify ?? before.verify;
      const header = body.signature_header !== undefined ? body.signature_header : before.signature_header;
      if (verify === "hmac" && !header) {
        throw new ValidationError("invalid webhook change: signature_header: hmac needs signature_header (the header the sender puts its signature in)");
      }
      const webhook = found(await updateWebhook(db, id, body), `webhook ${id}`);
      const warnings = secretWarning(await unsetSecrets(db, auth, webhook.secret_names), "deliveries are refused (503)");
      return { ...webhook, url_path: `/hooks/${id}`, warnings };
    });
    res.json(answer);
  });

  router.delete("/api/webhooks/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "deleting a webhook");
    const id = idParam(req, "webhook");
    if (!(await withWorkspace(pool, auth, (db) => deleteWebhook(db, id)))) throw new NotFoundError(`unknown webhook ${id}`);
    res.json({ deleted: id });
  });

  router.get("/api/webhooks/:id/deliveries", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "webhook");
    const q = parseQuery(req, FiresQuerySchema, "query");
    const deliveries = await withWorkspace(pool, auth, async (db) => {
      found(await getWebhook(db, id), `webhook ${id}`);
      return listWebhookDeliveries(db, id, { limit: q.limit ?? 100, before: q.before ?? null, payload: true });
    });
    res.json({ deliveries });
  });

  router.post("/api/webhooks/:id/test", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "sending a test delivery");
    const id = idParam(req, "webhook");
    const body = optionalBody(req, TestDeliveryBodySchema, "test delivery");
    const answer = await sendTestDelivery(deps.hooks, auth, id, body.payload);
    res.status(answer.status).json(answer.body);
  });

  // ---- notification endpoints and deliveries ----
  router.get("/api/notification-endpoints", async (req, res) => {
    const auth = authOf(req);
    const q = parseQuery(req, ListQuerySchema, "query");
    res.json({ endpoints: await withWorkspace(pool, auth, (db) => listNotificationEndpoints(db, { limit: q.limit ?? 100 })) });
  });

  router.post("/api/notification-endpoints", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "creating a notification endpoint");
    const { agent, ...body } = parseBody(req, CreateEndpointBodySchema, "notification endpoint");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const agentId = agent ? await findEndpointAgent(db, agent) : null;
      const endpoint = await createNotificationEndpoint(db, { ...body, agent_id: agentId });
      return { ...endpoint, warnings: secretWarning(await unsetSecrets(db, auth, [endpoint.secret_name]), "notifications fail") };
    });
    res.status(201).location(`/api/notification-endpoints/${answer.id}`).json(answer);
  });

  router.get("/api/notification-endpoints/:id", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "notification endpoint");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const endpoint = found(await getNotificationEndpoint(db, id), `notification endpoint ${id}`);
      const recent_deliveries = await listNotificationDeliveries(db, { limit: RECENT, endpointId: id });
      return { ...endpoint, recent_deliveries, warnings: secretWarning(await unsetSecrets(db, auth, [endpoint.secret_name]), "notifications fail") };
    });
    res.json(answer);
  });

  router.patch("/api/notification-endpoints/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "changing a notification endpoint");
    const id = idParam(req, "notification endpoint");
    const { agent, ...body } = parseBody(req, UpdateEndpointBodySchema, "notification endpoint change");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const agentId = agent === undefined ? undefined : agent === null ? null : await findEndpointAgent(db, agent);
      const endpoint = found(
        await updateNotificationEndpoint(db, id, { ...body, ...(agentId !== undefined && { agent_id: agentId }) }),
        `notification endpoint ${id}`,
      );
      return { ...endpoint, warnings: secretWarning(await unsetSecrets(db, auth, [endpoint.secret_name]), "notifications fail") };
    });
    res.json(answer);
  });

  router.delete("/api/notification-endpoints/:id", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "admin", "deleting a notification endpoint");
    const id = idParam(req, "notification endpoint");
    if (!(await withWorkspace(pool, auth, (db) => deleteNotificationEndpoint(db, id)))) throw new NotFoundError(`unknown notification endpoint ${id}`);
    res.json({ deleted: id });
  });

  router.get("/api/notifications", async (req, res) => {
    const auth = authOf(req);
    const q = parseQuery(req, NotificationsQuerySchema, "query");
    const deliveries = await withWorkspace(pool, auth, (db) =>
      listNotificationDeliveries(db, { limit: q.limit ?? 100, endpointId: q.endpoint ?? null, status: q.status ?? null }),
    );
    res.json({ deliveries });
  });

  router.get("/api/notifications/:id", async (req, res) => {
    const auth = authOf(req);
    const id = idParam(req, "notification delivery");
    res.json(await withWorkspace(pool, auth, async (db) => found(await getNotificationDelivery(db, id), `notification delivery ${id}`)));
  });

  router.post("/api/notifications/:id/resend", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "resending a notification");
    const id = idParam(req, "notification delivery");
    optionalBody(req, z.strictObject({}), "resend");
    res.json(await withWorkspace(pool, auth, (db) => resendNotification(db, id)));
  });

  return router;
}
