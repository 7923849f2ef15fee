// REST of triggers (issue 16, 000026): schedules, inbound webhooks, notification endpoints and
// their deliveries, and events for an agent (everruns.trigger). Reads need any role; pausing,
// resuming, triggering, test deliveries and resends `operator`; creating, changing and deleting
// `admin` (they decide what runs, unattended, and where the workspace's events go). Every query
// runs under the key's workspace (withWorkspace: row-level security), so another workspace's
// schedule, webhook or endpoint is an unknown one. Bodies are checked first by the rules GraphQL
// shares (api/trigger-inputs.ts: naming the field), then by the tables' own checks and triggers
// (agent, time zone, run input).
import { Router, type Request } from "express";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../db/errors.ts";
import { isUuid, type Pool, type PoolClient } from "../db/pool.ts";
import { listSecrets } from "../db/sql/listSecrets.ts";
import {
  createNotificationEndpoint,
  deleteNotificationEndpoint,
  getNotificationDelivery,
  getNotificationEndpoint,
  listNotificationDeliveries,
  listNotificationEndpoints,
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
import { nextOccurrences, scheduleSpecError } from "../lib/schedule-times.ts";
import { authOf, requireRole, withWorkspace, type Auth } from "./auth.ts";
import { sendTestDelivery, type HooksDeps } from "./hooks.ts";
import { carriesBody, parseBody, parseQuery } from "./http-errors.ts";
import {
  checkSchedule,
  CreateEndpointInput,
  CreateScheduleInput,
  CreateWebhookInput,
  endpointAgentId,
  newScheduleShape,
  parseTriggerInput,
  PauseInput,
  REST_NAMES,
  scheduleChange,
  TestDeliveryInput,
  TriggerInput,
  UpdateEndpointInput,
  UpdateScheduleInput,
  UpdateWebhookInput,
  webhookProblem,
  webhookShape,
  type WebhookShape,
} from "./trigger-inputs.ts";

export interface TriggersDeps {
  pool: Pool;
  log: Logger;
  /** The hook route's dependencies (test deliveries go through it). */
  hooks: HooksDeps;
}

/** How many upcoming fire times GET /api/schedules/:id lists. */
const NEXT_FIRES = 5;
/** Recent fires and deliveries shown with one schedule or webhook. */
const RECENT = 10;

const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,10}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const timeParam = z.iso.datetime({ offset: true, message: "must be an ISO time with its offset (2025-01-31T18:00:00Z)" }).transform((s) => new Date(s));

const ListQuerySchema = z.strictObject({ limit: intParam(1, 1000).optional() });
const FiresQuerySchema = z.strictObject({ limit: intParam(1, 1000).optional(), before: timeParam.optional() });
const NotificationsQuerySchema = z.strictObject({
  endpoint: z.uuid("must be an endpoint id (a UUID)").optional(),
  status: z.enum(NOTIFICATION_STATUSES, `must be one of ${NOTIFICATION_STATUSES.join(", ")}`).optional(),
  limit: intParam(1, 1000).optional(),
});

// ---- helpers ----

function idParam(req: Request, what: string): string {
  const id = String(req.params.id ?? "");
  if (!isUuid(id)) throw new ValidationError(`${what} id must be a UUID, got "${id.slice(0, 100)}"`);
  return id.toLowerCase();
}

/** The JSON body checked by one of api/trigger-inputs.ts's schemas (a 400 naming each field). */
function inputBody<S extends z.ZodType>(req: Request, schema: S, what: string): z.output<S> {
  return parseTriggerInput(schema, parseBody(req, z.unknown(), what), REST_NAMES, what);
}

/** An optional JSON body: none at all is `{}`. */
function optionalBody<S extends z.ZodType>(req: Request, schema: S, what: string): z.output<S> {
  if (req.body === undefined && !carriesBody(req)) return parseTriggerInput(schema, {}, REST_NAMES, what);
  return inputBody(req, schema, what);
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

/** A 400 `invalid <what>: …` when the webhook as it will be lacks what its scheme needs. */
function checkWebhook(w: WebhookShape, what: string): void {
  const problem = webhookProblem(w, REST_NAMES);
  if (problem) throw new ValidationError(`invalid ${what}: ${problem}`);
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
    const body = inputBody(req, TriggerInput, "trigger");
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
    const body = inputBody(req, CreateScheduleInput, "schedule");
    checkSchedule(newScheduleShape(body), new Date());
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
    const body = inputBody(req, UpdateScheduleInput, "schedule change");
    const updated = await withWorkspace(pool, auth, async (db) => {
      const before = found(await getSchedule(db, id), `schedule ${id}`);
      const { change, after } = scheduleChange(before, body);
      checkSchedule(after, before.created_at);
      return scheduleDetail(db, found(await updateSchedule(db, id, change), `schedule ${id}`));
    });
    res.json(updated);
  });

  router.post("/api/schedules/:id/pause", async (req, res) => {
    const auth = authOf(req);
    requireRole(auth, "operator", "pausing a schedule");
    const id = idParam(req, "schedule");
    const body = optionalBody(req, PauseInput, "pause");
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
    const body = inputBody(req, CreateWebhookInput, "webhook");
    checkWebhook(webhookShape(body), "webhook");
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
    const body = inputBody(req, UpdateWebhookInput, "webhook change");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const before = found(await getWebhook(db, id), `webhook ${id}`);
      checkWebhook(webhookShape(body, before), "webhook change");
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
    const body = optionalBody(req, TestDeliveryInput, "test delivery");
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
    const { agent, ...body } = inputBody(req, CreateEndpointInput, "notification endpoint");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const endpoint = await createNotificationEndpoint(db, { ...body, agent_id: (await endpointAgentId(db, agent)) ?? null });
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
    const { agent, ...body } = inputBody(req, UpdateEndpointInput, "notification endpoint change");
    const answer = await withWorkspace(pool, auth, async (db) => {
      const agentId = await endpointAgentId(db, agent);
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
