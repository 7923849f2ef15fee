// Triggers over GraphQL (issue 16): schedules, inbound webhooks, outbound notifications and the
// activations of long-lived threads. The tables come from PostGraphile, read-only and shaped by
// smart-tags.ts (Schedule.fires, Webhook.deliveries, NotificationEndpoint.deliveries,
// NotificationDelivery.attemptLog, WebhookDelivery.run, Activation.run); this file adds:
//
// - names: Query.schedules, Query.scheduleFires, Query.webhooks, … (not allSchedules, …),
//   Query.schedule(id), … (the smart tags on the primary keys), the node fetchers …ByNodeId, and
//   each list's default order (fires and deliveries newest first, schedules by name);
// - computed fields: Schedule.nextFireTimes(count) (lib/schedule-times.ts, from the database
//   clock) and Webhook.path (/hooks/<id>);
// - mutations (roles in api/graphql/access.ts): createSchedule, updateSchedule, pauseSchedule,
//   resumeSchedule, deleteSchedule, triggerAgent (everruns.trigger), createWebhook,
//   updateWebhook, deleteWebhook, sendTestWebhookDelivery (api/hooks.ts), createNotificationEndpoint,
//   updateNotificationEndpoint, deleteNotificationEndpoint, resendNotification: each validates
//   its arguments with the rules REST shares (api/trigger-inputs.ts), runs db/sql on PostGraphile's
//   client (one transaction as the key's workspace) and answers the row re-read through its resource.
import { defaultOrderPlugin } from "./default-order.ts";
import { access, context, lambda, sideEffect, type Step } from "postgraphile/grafast";
import { sideEffectWithPgClient, TYPES, type PgClient, type PgSelectSingleStep } from "postgraphile/@dataplan/pg";
import type { NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { sql } from "postgraphile/pg-sql2";
import { extendSchema } from "postgraphile/utils";
import { z } from "zod";
import { NotFoundError, ValidationError } from "../../db/errors.ts";
import type { Queryable } from "../../db/pool.ts";
import { createNotificationEndpoint, deleteNotificationEndpoint, resendNotification, updateNotificationEndpoint } from "../../db/sql/notificationEndpoints.ts";
import { triggerAgent } from "../../db/sql/receiveWebhook.ts";
import { createSchedule, deleteSchedule, getSchedule, pauseSchedule, resumeSchedule, updateSchedule } from "../../db/sql/schedules.ts";
import { createWebhook, deleteWebhook, getWebhook, updateWebhook } from "../../db/sql/webhooks.ts";
import { MAX_INTERVAL_SECONDS, nextOccurrences, scheduleSpecError, type ScheduleSpec } from "../../lib/schedule-times.ts";
import { textProblem } from "../../lib/storable-json.ts";
import { sendTestDelivery, type HooksDeps } from "../hooks.ts";
import {
  AGENT,
  argsAsFields,
  checkSchedule,
  CreateEndpointInput,
  CreateScheduleInput,
  CreateWebhookInput,
  endpointAgentId,
  GRAPHQL_NAMES,
  newScheduleShape,
  parseTriggerInput,
  PauseInput,
  scheduleChange,
  TestDeliveryInput,
  TriggerInput,
  UpdateEndpointInput,
  UpdateScheduleInput,
  UpdateWebhookInput,
  webhookProblem,
  webhookShape,
  type WebhookShape,
} from "../trigger-inputs.ts";

/** The tables of this file: resource name → the type's name (for the root fields' names). */
const TRIGGER_TYPES: Record<string, string> = {
  schedules: "Schedule",
  schedule_fires: "ScheduleFire",
  activations: "Activation",
  webhooks: "Webhook",
  webhook_deliveries: "WebhookDelivery",
  notification_endpoints: "NotificationEndpoint",
  notification_deliveries: "NotificationDelivery",
  notification_attempts: "NotificationAttempt",
};
const TRIGGER_TYPE_NAMES = new Set(Object.values(TRIGGER_TYPES));

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

/**
 * Query.schedules (…) instead of allSchedules, as Query.batches; the node fetcher of each type is
 * <type>ByNodeId, since Query.<type>(id) is the lookup by id (the smart tags on the primary keys).
 */
export const TriggerInflectionPlugin: GraphileConfig.Plugin = {
  name: "EverrunsTriggerInflectionPlugin",
  version: "0.0.0",
  after: ["PgAllRowsPlugin", "NodeAccessorPlugin", "PgTablesPlugin"],
  inflection: {
    replace: {
      allRowsConnection(previous, _options, resource) {
        const name = previous!(resource);
        return resource.name in TRIGGER_TYPES ? lowerFirst(name.replace(/^all/, "")) : name;
      },
      nodeById(previous, _options, typeName) {
        return TRIGGER_TYPE_NAMES.has(typeName) ? `${lowerFirst(typeName)}ByNodeId` : previous!(typeName);
      },
    },
  },
};

/** Type.field → the orderBy value it has when none is given (PostGraphile's is PRIMARY_KEY_ASC: random for UUIDs). */
const DEFAULT_ORDER: Record<string, string> = {
  "Query.schedules": "NAME_ASC",
  "Query.scheduleFires": "OCCURRENCE_AT_DESC",
  "Schedule.fires": "OCCURRENCE_AT_DESC",
  "Query.activations": "CREATED_AT_DESC",
  "Query.webhooks": "NAME_ASC",
  "Query.webhookDeliveries": "RECEIVED_AT_DESC",
  "Webhook.deliveries": "RECEIVED_AT_DESC",
  "Query.notificationEndpoints": "NAME_ASC",
  "Query.notificationDeliveries": "CREATED_AT_DESC",
  "NotificationEndpoint.deliveries": "CREATED_AT_DESC",
  "NotificationDelivery.attemptLog": "ATTEMPT_ASC",
};

export const TriggerOrderPlugin = defaultOrderPlugin("EverrunsTriggerOrderPlugin", DEFAULT_ORDER);

/** The most fire times Schedule.nextFireTimes lists. */
export const MAX_NEXT_FIRE_TIMES = 100;

/** What nextFireTimes needs of a schedule row (as PostGraphile's codecs give it). */
interface ScheduleTimesRow {
  cron: string | null;
  intervalSeconds: number | null;
  timezone: string;
  createdAt: string;
  paused: boolean;
  clock: string;
}

/**
 * The next `count` occurrences of a schedule after the database clock; none when it is paused
 * (nothing fires) or its spec is invalid (the ticker pauses it, with spec_error).
 */
export function scheduleNextFireTimes(row: ScheduleTimesRow, count: unknown): string[] {
  const n = count ?? 5;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_NEXT_FIRE_TIMES) {
    throw new ValidationError(`count must be a whole number from 1 to ${MAX_NEXT_FIRE_TIMES}, got ${JSON.stringify(count)}`, { code: "invalid_argument" });
  }
  if (row.paused) return [];
  const spec: ScheduleSpec = { cron: row.cron, intervalSeconds: row.intervalSeconds, timezone: row.timezone, anchor: new Date(row.createdAt) };
  if (scheduleSpecError(spec)) return [];
  return nextOccurrences(spec, new Date(row.clock), n).map((d) => d.toISOString());
}

/** Schedule.nextFireTimes(count) and Webhook.path. */
export const TriggerFieldsPlugin = extendSchema(() => ({
  typeDefs: /* GraphQL */ `
    extend type Schedule {
      """
      The next \`count\` fire times (1..${MAX_NEXT_FIRE_TIMES}, default 5) after the database's clock,
      from the cron expression in the schedule's time zone or the interval counted from createdAt.
      Empty when the schedule is paused or cannot be computed (specError).
      """
      nextFireTimes(count: Int = 5): [Datetime!]!
    }
    extend type Webhook {
      "Where senders POST deliveries, on the API's address: /hooks/<id> (no API key: the sender is verified with the webhook's secrets)."
      path: String!
    }
  `,
  objects: {
    Schedule: {
      plans: {
        nextFireTimes($schedule: Step, fieldArgs: { getRaw(name: string): Step }) {
          const $row = $schedule as PgSelectSingleStep;
          const $fields = lambda(
            [
              $row.get("cron"),
              $row.get("interval_seconds"),
              $row.get("timezone"),
              $row.get("created_at"),
              $row.get("paused"),
              // the time schedules fire by (tests move it), read with the row
              $row.select(sql`everruns_private.clock()`, TYPES.timestamptz),
            ],
            (values: readonly unknown[]): ScheduleTimesRow => {
              const [cron, intervalSeconds, timezone, createdAt, paused, clock] = values as [string | null, number | null, string, string, boolean, string];
              return { cron, intervalSeconds, timezone, createdAt, paused, clock };
            },
          );
          return lambda([$fields, fieldArgs.getRaw("count")], ([row, count]) => scheduleNextFireTimes(row, count));
        },
      },
    },
    Webhook: {
      plans: {
        path($webhook: Step) {
          return lambda(($webhook as PgSelectSingleStep).get("id"), (id) => `/hooks/${String(id)}`);
        },
      },
    },
  },
}));

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

const raw = (client: PgClient): Queryable => (client as NodePostgresPgClient).rawClient;

const IdArgs = z.object({ id: z.guid() });
const PauseScheduleArgs = PauseInput.extend({ id: z.guid() });
const UpdateScheduleArgs = UpdateScheduleInput.extend({ id: z.guid() });
const UpdateWebhookArgs = UpdateWebhookInput.extend({ id: z.guid() });
const TestDeliveryArgs = TestDeliveryInput.extend({ id: z.guid() });
const UpdateEndpointArgs = UpdateEndpointInput.extend({ id: z.guid() });
const TriggerAgentArgs = TriggerInput.extend({ agent: AGENT });

/**
 * Arguments as GraphQL gave them (absent ones left out), checked by the rules REST shares
 * (api/trigger-inputs.ts) under the tables' names: a ValidationError naming each problem by its
 * argument, with `code`.
 */
function parseArgs<S extends z.ZodType>(schema: S, args: Record<string, unknown>, what: string, code: string): z.output<S> {
  const given = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
  for (const [name, value] of Object.entries(given)) {
    const problem = typeof value === "string" ? textProblem(value) : null;
    if (problem) throw new ValidationError(`invalid ${what}: ${name} ${problem}`, { code });
  }
  return parseTriggerInput(schema, argsAsFields(given), GRAPHQL_NAMES, what, code);
}

/** hmac verifies a header the sender names: the webhook as it will be must say which (as REST does). */
function checkWebhook(w: WebhookShape): void {
  const problem = webhookProblem(w, GRAPHQL_NAMES);
  if (problem) throw new ValidationError(`invalid webhook: ${problem}`, { code: "invalid_webhook" });
}

const notFound = (what: string, id: string) => new NotFoundError(`unknown ${what} ${id}`);

/** What sendTestWebhookDelivery needs: the API's pool (a test delivery runs as a real one does, in its own transaction: api/hooks.ts). */
export type TriggerMutationsDeps = HooksDeps;

type Plan = (parent: unknown, fieldArgs: { getRaw(name: string): Step }) => Step;

/** The mutations of schedules, events, webhooks and notifications (their roles: access.ts). */
export function makeTriggerMutationsPlugin(deps: TriggerMutationsDeps): GraphileConfig.Plugin {
  return extendSchema((build) => {
    const {
      schedules,
      webhooks,
      notification_endpoints: endpoints,
      notification_deliveries: deliveries,
      runs,
      activations,
      webhook_deliveries: webhookDeliveries,
    } = build.input.pgRegistry.pgResources;
    if (!schedules || !webhooks || !endpoints || !deliveries || !runs || !activations || !webhookDeliveries) {
      throw new Error("TriggerMutationsPlugin: the trigger tables' resources are missing (is migration 000026 applied?)");
    }
    const executor = schedules.executor;
    /** A plan that gives `fn` the named arguments (absent ones undefined) and PostGraphile's client (the key's transaction). */
    const withArgs =
      (names: string[], fn: (db: Queryable, args: Record<string, unknown>) => Promise<unknown>): Plan =>
      (_, fieldArgs) =>
        sideEffectWithPgClient(executor, Object.fromEntries(names.map((name) => [name, fieldArgs.getRaw(name)])), async (client, args) =>
          fn(raw(client), args as Record<string, unknown>),
        );
    const SCHEDULE_ARGS = [
      "name",
      "cron",
      "intervalSeconds",
      "timezone",
      "input",
      "overlap",
      "catchUp",
      "catchUpMax",
      "misfireGraceSeconds",
      "pauseAfterFailures",
    ];
    const WEBHOOK_ARGS = [
      "name",
      "verify",
      "secretNames",
      "signatureHeader",
      "signaturePrefix",
      "toleranceSeconds",
      "dedupePointer",
      "inputTemplate",
      "threadKeyPointer",
      "maxBodyBytes",
      "enabled",
    ];
    const ENDPOINT_ARGS = ["name", "url", "events", "agent", "secretName", "retryInitialSeconds", "enabled"];

    const plans: Record<string, Plan> = {
      createSchedule: withArgs(["agent", "thread", "paused", "pausedNote", ...SCHEDULE_ARGS], async (db, args) => {
        const a = parseArgs(CreateScheduleInput, args, "schedule", "invalid_schedule");
        checkSchedule(newScheduleShape(a), new Date());
        const row = await createSchedule(db, a);
        return { id: row.id };
      }),
      updateSchedule: withArgs(["id", ...SCHEDULE_ARGS], async (db, args) => {
        const { id, ...a } = parseArgs(UpdateScheduleArgs, args, "schedule", "invalid_schedule");
        const current = await getSchedule(db, id);
        if (!current) throw notFound("schedule", id);
        const { change, after } = scheduleChange(current, a);
        checkSchedule(after, current.created_at);
        if (!(await updateSchedule(db, id, change))) throw notFound("schedule", id);
        return { id };
      }),
      pauseSchedule: withArgs(["id", "note"], async (db, args) => {
        const a = parseArgs(PauseScheduleArgs, args, "pause", "invalid_schedule");
        if (!(await pauseSchedule(db, a.id, a.note ?? null))) throw notFound("schedule", a.id);
        return { id: a.id };
      }),
      resumeSchedule: withArgs(["id"], async (db, args) => {
        const a = parseArgs(IdArgs, args, "resume", "invalid_schedule");
        if (!(await resumeSchedule(db, a.id))) throw notFound("schedule", a.id);
        return { id: a.id };
      }),
      deleteSchedule: withArgs(["id"], async (db, args) => {
        const a = parseArgs(IdArgs, args, "delete", "invalid_schedule");
        return { id: a.id, deleted: await deleteSchedule(db, a.id) };
      }),
      triggerAgent: withArgs(["agent", "payload", "threadKey"], async (db, args) => {
        const a = parseArgs(TriggerAgentArgs, args, "trigger", "invalid_trigger");
        return { id: await triggerAgent(db, { agent: a.agent, payload: a.payload ?? null, threadKey: a.thread_key ?? null }) };
      }),
      createWebhook: withArgs(["agent", ...WEBHOOK_ARGS], async (db, args) => {
        const a = parseArgs(CreateWebhookInput, args, "webhook", "invalid_webhook");
        checkWebhook(webhookShape(a));
        const row = await createWebhook(db, a);
        return { id: row.id };
      }),
      updateWebhook: withArgs(["id", ...WEBHOOK_ARGS], async (db, args) => {
        const { id, ...a } = parseArgs(UpdateWebhookArgs, args, "webhook", "invalid_webhook");
        const current = await getWebhook(db, id);
        if (!current) throw notFound("webhook", id);
        checkWebhook(webhookShape(a, current));
        if (!(await updateWebhook(db, id, a))) throw notFound("webhook", id);
        return { id };
      }),
      deleteWebhook: withArgs(["id"], async (db, args) => {
        const a = parseArgs(IdArgs, args, "delete", "invalid_webhook");
        return { id: a.id, deleted: await deleteWebhook(db, a.id) };
      }),
      createNotificationEndpoint: withArgs(ENDPOINT_ARGS, async (db, args) => {
        const { agent, ...a } = parseArgs(CreateEndpointInput, args, "notification endpoint", "invalid_notification_endpoint");
        const row = await createNotificationEndpoint(db, { ...a, agent_id: (await endpointAgentId(db, agent)) ?? null });
        return { id: row.id };
      }),
      updateNotificationEndpoint: withArgs(["id", ...ENDPOINT_ARGS], async (db, args) => {
        const { id, agent, ...a } = parseArgs(UpdateEndpointArgs, args, "notification endpoint", "invalid_notification_endpoint");
        if (!(await updateNotificationEndpoint(db, id, { ...a, agent_id: await endpointAgentId(db, agent) }))) throw notFound("notification endpoint", id);
        return { id };
      }),
      deleteNotificationEndpoint: withArgs(["id"], async (db, args) => {
        const a = parseArgs(IdArgs, args, "delete", "invalid_notification_endpoint");
        return { id: a.id, deleted: await deleteNotificationEndpoint(db, a.id) };
      }),
      resendNotification: withArgs(["id"], async (db, args) => {
        const a = parseArgs(IdArgs, args, "resend", "invalid_notification");
        return { id: (await resendNotification(db, a.id)).id };
      }),
      // a test delivery goes the way of a real one (api/hooks.ts: signed with the webhook's own
      // secret, verified, recorded, its run inserted), in its own transaction under the key
      sendTestWebhookDelivery(_, fieldArgs) {
        const $args = { id: fieldArgs.getRaw("id"), payload: fieldArgs.getRaw("payload"), auth: context().get("everrunsAuth") };
        return sideEffect($args, async ({ auth, ...args }) => {
          const a = parseArgs(TestDeliveryArgs, args, "test delivery", "invalid_webhook");
          if (!auth) throw new Error("sendTestWebhookDelivery needs an API key");
          const { body } = await sendTestDelivery(deps, auth, a.id, a.payload);
          return { runId: body.run_id, deliveryId: body.delivery_id, duplicate: body.duplicate === true };
        });
      },
    };
    const field = ($result: Step, name: string) => access($result, name);
    return {
      typeDefs: /* GraphQL */ `
        type SchedulePayload {
          scheduleId: UUID!
          "The schedule after the change (its nextFireTimes included)."
          schedule: Schedule
        }
        type DeleteSchedulePayload {
          scheduleId: UUID!
          "True when the schedule existed and was deleted (its fires with it; its runs stay)."
          deleted: Boolean!
        }
        type TriggerAgentPayload {
          "The event's run: its id is fixed at once, even while it waits for the thread's earlier runs."
          runId: UUID!
          "The run; null while it is queued behind its thread's earlier runs (see activation)."
          run: Run
          "With a threadKey: the event on its long-lived thread (pending until the thread is free)."
          activation: Activation
        }
        type WebhookPayload {
          webhookId: UUID!
          "The webhook after the change; senders POST to its path."
          webhook: Webhook
        }
        type DeleteWebhookPayload {
          webhookId: UUID!
          "True when the webhook existed and was deleted (its deliveries with it; their runs stay)."
          deleted: Boolean!
        }
        type SendTestWebhookDeliveryPayload {
          "The run the test delivery started (or, for a repeat within 24 h, the first one's)."
          runId: UUID!
          deliveryId: UUID!
          "True when a delivery with the same key came within 24 h: no new run."
          duplicate: Boolean!
          run: Run
          delivery: WebhookDelivery
        }
        type NotificationEndpointPayload {
          notificationEndpointId: UUID!
          notificationEndpoint: NotificationEndpoint
        }
        type DeleteNotificationEndpointPayload {
          notificationEndpointId: UUID!
          "True when the endpoint existed and was deleted (its deliveries with it)."
          deleted: Boolean!
        }
        type ResendNotificationPayload {
          notificationDeliveryId: UUID!
          "The delivery, pending again (a day of retries from now), under the same webhook-id."
          notificationDelivery: NotificationDelivery
        }
        extend type Mutation {
          """
          Creates a schedule: the agent (its id or name) runs with \`input\` at each occurrence of
          \`cron\` (5 fields, 6 with seconds first, or @hourly, @daily, …) in \`timezone\`, or every
          \`intervalSeconds\` from now. In the input's strings {{fire_time}}, {{fire_time_local}},
          {{schedule}} and {{timezone}} are replaced at each fire.
          """
          createSchedule(
            "1 to 100 letters, digits, _, . or -; unique in the workspace."
            name: String!
            "The agent's id or name."
            agent: String!
            "A cron expression; exactly one of cron and intervalSeconds."
            cron: String
            "Every this many seconds (1..${MAX_INTERVAL_SECONDS}), counted from the schedule's creation."
            intervalSeconds: Int
            "The IANA time zone the cron expression is read in (default UTC)."
            timezone: String
            "The run input of each fire: {\\"messages\\": [{\\"role\\": \\"user\\", \\"content\\": \\"...\\"}], ...}."
            input: JSON!
            "When a fire comes while the previous fire's run is active: skip (default), buffer_one, allow (not with a shared thread), cancel_previous."
            overlap: String
            "Occurrences missed while nothing ran: skip, once (default: the latest), all (the most recent catchUpMax)."
            catchUp: String
            "1..1000 (default 10)."
            catchUpMax: Int
            "An occurrence older than this (1..86400 s, default 60) when the ticker sees it is missed (catchUp decides)."
            misfireGraceSeconds: Int
            "new (default): each fire starts a new thread; shared: every fire continues one long-lived thread. Cannot change later."
            thread: String
            "Create it paused."
            paused: Boolean
            pausedNote: String
            "Pause the schedule after this many consecutive failed runs (1..1000; default never)."
            pauseAfterFailures: Int
          ): SchedulePayload
          """
          Changes a schedule (not its agent nor thread); arguments left out stay as they are, null
          clears a nullable one. Giving cron clears intervalSeconds and the other way round. A new
          cron, interval or time zone recomputes the next fire.
          """
          updateSchedule(
            id: UUID!
            name: String
            cron: String
            intervalSeconds: Int
            timezone: String
            input: JSON
            overlap: String
            catchUp: String
            catchUpMax: Int
            misfireGraceSeconds: Int
            pauseAfterFailures: Int
          ): SchedulePayload
          "Pauses a schedule: nothing fires until resumeSchedule. The note (at most 1000 characters) is shown with it and kept in the audit log."
          pauseSchedule(id: UUID!, note: String): SchedulePayload
          "Resumes a paused schedule from now: what came due while it was paused is not caught up; its failure count starts again."
          resumeSchedule(id: UUID!): SchedulePayload
          "Deletes a schedule and its fires; its runs stay (their scheduleId becomes null)."
          deleteSchedule(id: UUID!): DeleteSchedulePayload
          """
          An event for an agent (its id or name): a run whose input is the payload (a run input
          \`{"messages": [...]}\` as it is; anything else as the user's message, with the payload as
          context). With \`threadKey\`, the run continues that long-lived thread of the agent,
          after every earlier run of it has ended (events of one thread never run in parallel).
          """
          triggerAgent(agent: String!, payload: JSON, "1 to 200 characters without spaces, e.g. a monitored service's name." threadKey: String): TriggerAgentPayload
          """
          Creates an inbound webhook: senders POST to its path (/hooks/<id>) and each verified
          delivery starts a run of the agent. The secrets are workspace secrets by name (set them
          with setSecret; two while rotating: either verifies).
          """
          createWebhook(
            "1 to 100 letters, digits, _, . or -; unique in the workspace."
            name: String!
            "The agent's id or name."
            agent: String!
            "How senders are verified: standard (Standard Webhooks, default), hmac, github, bearer."
            verify: String
            "Names of workspace secrets: one, or two while rotating."
            secretNames: [String!]!
            "hmac (required there): the header carrying the signature."
            signatureHeader: String
            "hmac: the text before the hex digest, e.g. sha256=."
            signaturePrefix: String
            "standard: how far webhook-timestamp may be from now (1..3600 s, default 300)."
            toleranceSeconds: Int
            "A JSON pointer into the payload whose value de-duplicates deliveries for 24 h (default: the webhook-id or X-GitHub-Delivery header)."
            dedupePointer: String
            "The run input: JSON whose strings may hold {{/json/pointer}} placeholders. Default: the payload as the user message."
            inputTemplate: JSON
            "A JSON pointer to a thread key: deliveries with the same key continue one long-lived thread, one run after another."
            threadKeyPointer: String
            "The largest body accepted (1024..5242880 bytes, default 262144)."
            maxBodyBytes: Int
            enabled: Boolean
          ): WebhookPayload
          "Changes a webhook (not its agent); arguments left out stay as they are, null clears a nullable one."
          updateWebhook(
            id: UUID!
            name: String
            verify: String
            secretNames: [String!]
            signatureHeader: String
            signaturePrefix: String
            toleranceSeconds: Int
            dedupePointer: String
            inputTemplate: JSON
            threadKeyPointer: String
            maxBodyBytes: Int
            enabled: Boolean
          ): WebhookPayload
          "Deletes a webhook and its delivery log; its runs stay. Senders get 404 from then on."
          deleteWebhook(id: UUID!): DeleteWebhookPayload
          """
          Sends the webhook a delivery signed with its own (first) secret, handled as a sender's
          would be (verified, de-duplicated, recorded with test = true, its run started).
          Default payload: {"test": true}.
          """
          sendTestWebhookDelivery(id: UUID!, payload: JSON): SendTestWebhookDeliveryPayload
          """
          Creates a notification endpoint: the workspace's events it lists are POSTed to \`url\`,
          signed per Standard Webhooks with the workspace secret \`secretName\`, retried with
          backoff for a day. With \`agent\`, only that agent's runs.
          """
          createNotificationEndpoint(
            "1 to 100 letters, digits, _, . or -; unique in the workspace."
            name: String!
            "http:// or https://, at most 2000 characters (the workers' egress rules apply)."
            url: String!
            "Any of run.succeeded, run.failed, run.interrupted, run.cancelled, batch.completed."
            events: [String!]!
            "Only this agent's runs (its id or name); default every agent's."
            agent: String
            "The workspace secret that signs the deliveries (a whsec_ secret: generate one and set it with setSecret)."
            secretName: String!
            "The first retry's delay (0.1..3600 s, default 5); each next one doubles, up to an hour."
            retryInitialSeconds: Float
            enabled: Boolean
          ): NotificationEndpointPayload
          "Changes a notification endpoint; arguments left out stay as they are (agent: null for every agent)."
          updateNotificationEndpoint(
            id: UUID!
            name: String
            url: String
            events: [String!]
            agent: String
            secretName: String
            retryInitialSeconds: Float
            enabled: Boolean
          ): NotificationEndpointPayload
          "Deletes a notification endpoint and its deliveries."
          deleteNotificationEndpoint(id: UUID!): DeleteNotificationEndpointPayload
          "Sends a notification delivery again (delivered and failed ones too), under the same webhook-id: receivers de-duplicate by it."
          resendNotification(id: UUID!): ResendNotificationPayload
        }
      `,
      objects: {
        Mutation: { plans: plans as never },
        SchedulePayload: {
          plans: { scheduleId: ($r: Step) => field($r, "id"), schedule: ($r: Step) => schedules.get({ id: field($r, "id") }) },
        },
        DeleteSchedulePayload: { plans: { scheduleId: ($r: Step) => field($r, "id"), deleted: ($r: Step) => field($r, "deleted") } },
        TriggerAgentPayload: {
          plans: {
            runId: ($r: Step) => field($r, "id"),
            run: ($r: Step) => runs.get({ id: field($r, "id") }),
            activation: ($r: Step) => activations.get({ run_id: field($r, "id") }),
          },
        },
        WebhookPayload: { plans: { webhookId: ($r: Step) => field($r, "id"), webhook: ($r: Step) => webhooks.get({ id: field($r, "id") }) } },
        DeleteWebhookPayload: { plans: { webhookId: ($r: Step) => field($r, "id"), deleted: ($r: Step) => field($r, "deleted") } },
        SendTestWebhookDeliveryPayload: {
          plans: {
            runId: ($r: Step) => field($r, "runId"),
            deliveryId: ($r: Step) => field($r, "deliveryId"),
            duplicate: ($r: Step) => field($r, "duplicate"),
            run: ($r: Step) => runs.get({ id: field($r, "runId") }),
            delivery: ($r: Step) => webhookDeliveries.get({ id: field($r, "deliveryId") }),
          },
        },
        NotificationEndpointPayload: {
          plans: {
            notificationEndpointId: ($r: Step) => field($r, "id"),
            notificationEndpoint: ($r: Step) => endpoints.get({ id: field($r, "id") }),
          },
        },
        DeleteNotificationEndpointPayload: {
          plans: { notificationEndpointId: ($r: Step) => field($r, "id"), deleted: ($r: Step) => field($r, "deleted") },
        },
        ResendNotificationPayload: {
          plans: {
            notificationDeliveryId: ($r: Step) => field($r, "id"),
            notificationDelivery: ($r: Step) => deliveries.get({ id: field($r, "id") }),
          },
        },
      },
    };
  });
}
