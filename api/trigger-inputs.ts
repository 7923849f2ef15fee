// The rules of what a client may set on triggers (issue 16), in one place for REST (api/triggers.ts)
// and GraphQL (api/graphql/triggers.ts), so that their limits and messages cannot drift: each
// field's zod schema and message, the checks across fields (a schedule's cron, interval, time zone
// and overlap; a webhook's hmac header), the defaults those checks assume on a create and how a
// change of cron or interval reads. What the tables check (000026) is checked here first, so that
// a mistake gets a message naming the field and what it takes, not a check constraint's name.
//
// Fields carry the tables' names (snake_case), as REST takes them; GraphQL maps its camelCase
// arguments to them at its edge (argsAsFields) and back in its messages (GRAPHQL_NAMES). The two
// surfaces differ only in those names and in how a list of allowed values reads: a field of
// choices has no message of its own, each surface's InputNames renders it.
import { z } from "zod";
import { ValidationError } from "../db/errors.ts";
import type { Queryable } from "../db/pool.ts";
import { describeIssues, jsonTextBytes } from "../db/schemas.ts";
import { findEndpointAgent, NOTIFICATION_EVENTS } from "../db/sql/notificationEndpoints.ts";
import { MAX_INTERVAL_SECONDS, scheduleSpecError } from "../lib/schedule-times.ts";
import { SECRET_NAME_PATTERN } from "../lib/secret-box.ts";
import { VERIFY_SCHEMES } from "../lib/webhook-signatures.ts";

/** A run input, a template or a payload: at most this much JSON text. */
export const MAX_INPUT_BYTES = 65_536;

export const OVERLAPS = ["skip", "buffer_one", "allow", "cancel_previous"] as const;
export const CATCH_UPS = ["skip", "once", "all"] as const;
export const THREADS = ["new", "shared"] as const;

/** The numeric limits (inclusive) of the fields that have them; the CLI checks its flags with them too. */
export const LIMITS = {
  catch_up_max: { min: 1, max: 1000 },
  misfire_grace_seconds: { min: 1, max: 86_400 },
  pause_after_failures: { min: 1, max: 1000 },
  tolerance_seconds: { min: 1, max: 3600 },
  max_body_bytes: { min: 1024, max: 5_242_880 },
  retry_initial_seconds: { min: 0.1, max: 3600 },
} as const;

/** How one surface names fields and lists allowed values in its messages. */
export interface InputNames {
  /** A field (the tables' snake_case name) as this surface's callers write it. */
  field(name: string): string;
  /** The message of a value not among `values`. */
  choices(values: readonly unknown[]): string;
}

/** REST: the tables' names; "must be skip, buffer_one, allow or cancel_previous". */
export const REST_NAMES: InputNames = {
  field: (name) => name,
  choices: (values) => `must be ${values.length > 1 ? `${values.slice(0, -1).join(", ")} or ` : ""}${String(values.at(-1))}`,
};

const camelCase = (name: string) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
const snakeCase = (name: string) => name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/** GraphQL: camelCase arguments; 'must be one of "skip", "buffer_one", …' (GraphQL's string literals). */
export const GRAPHQL_NAMES: InputNames = {
  field: camelCase,
  choices: (values) => `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`,
};

/** GraphQL's arguments under the tables' names (intervalSeconds → interval_seconds). */
export function argsAsFields(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).map(([name, value]) => [snakeCase(name), value]));
}

/**
 * `input` checked by `schema`: a ValidationError `invalid <what>: <field>: <problem>; …` naming
 * each field as `names` does (with `code`; none: invalid_input).
 */
export function parseTriggerInput<S extends z.ZodType>(schema: S, input: unknown, names: InputNames, what: string, code?: string): z.output<S> {
  const result = schema.safeParse(input, { error: (issue) => (issue.code === "invalid_value" ? names.choices(issue.values) : undefined) });
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    ...issue,
    path: issue.path.map((key, i) => (i === 0 && typeof key === "string" ? names.field(key) : key)),
  }));
  throw new ValidationError(`invalid ${what}: ${describeIssues(new z.ZodError(issues))}`, { code });
}

// ---- fields ----

const NAME_MESSAGE = "must be 1 to 100 letters, digits, _, . or -, starting with a letter or a digit";
const NAME = z.string(NAME_MESSAGE).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, NAME_MESSAGE);
const AGENT_MESSAGE = "must be an agent's id or name (at most 200 characters)";
export const AGENT = z.string(AGENT_MESSAGE).min(1, AGENT_MESSAGE).max(200, AGENT_MESSAGE);
const SECRET_NAME_MESSAGE = "must name a workspace secret: 1 to 100 letters, digits, _, . or -";
const SECRET_NAME = z.string(SECRET_NAME_MESSAGE).regex(SECRET_NAME_PATTERN, SECRET_NAME_MESSAGE);
const POINTER = z
  .string()
  .max(500, "must be at most 500 characters")
  .regex(/^(\/[^/]*){1,32}$/, "must be a JSON pointer such as /id or /pull_request/number (1 to 32 segments, each starting with /; ~1 for /, ~0 for ~)");
const NOTE = z.string().max(1000, "must be at most 1000 characters");

/** JSON of at most MAX_INPUT_BYTES (undefined: not given). */
const boundedJson = () => z.unknown().refine((v) => v === undefined || jsonTextBytes(v) <= MAX_INPUT_BYTES, `must be at most ${MAX_INPUT_BYTES} bytes of JSON`);

/** A whole number in LIMITS[field] (`unit`: " of seconds", …), one message for every way of missing it. */
function whole(field: keyof typeof LIMITS, unit = "", note = "") {
  const { min, max } = LIMITS[field];
  const message = `must be a whole number${unit} from ${min} to ${max}${note}`;
  return z.number(message).int(message).min(min, message).max(max, message);
}

const INTERVAL_MESSAGE = `must be a whole number of seconds from 1 to ${MAX_INTERVAL_SECONDS} (365 days)`;

/** Whether `text` is an http(s) URL without spaces. */
function isHttpUrl(text: string): boolean {
  if (/\s/.test(text)) return false;
  try {
    const { protocol } = new URL(text);
    return protocol === "http:" || protocol === "https:";
  } catch {
    return false;
  }
}

/** Every field of `shape` optional (a change: what is left out stays as it is). */
function allOptional<T extends Record<string, z.ZodType>>(shape: T): { [K in keyof T]: z.ZodOptional<T[K]> } {
  return Object.fromEntries(Object.entries(shape).map(([key, schema]) => [key, schema.optional()])) as { [K in keyof T]: z.ZodOptional<T[K]> };
}

// ---- schedules ----

const scheduleFields = {
  name: NAME,
  cron: z.string().trim().min(1, "must not be empty (null: no cron expression)").max(200, "must be at most 200 characters").nullable(),
  interval_seconds: z.number(INTERVAL_MESSAGE).int(INTERVAL_MESSAGE).min(1, INTERVAL_MESSAGE).max(MAX_INTERVAL_SECONDS, INTERVAL_MESSAGE).nullable(),
  timezone: z.string().regex(/^[A-Za-z0-9_+/-]{1,64}$/, 'must be an IANA time zone name such as "Europe/Berlin" or "UTC"'),
  input: boundedJson(),
  overlap: z.enum(OVERLAPS),
  catch_up: z.enum(CATCH_UPS),
  catch_up_max: whole("catch_up_max"),
  misfire_grace_seconds: whole("misfire_grace_seconds", " of seconds"),
  paused: z.boolean(),
  paused_note: NOTE.nullable(),
  pause_after_failures: whole("pause_after_failures", "", ", or null (never)").nullable(),
};

export const CreateScheduleInput = z.strictObject({
  ...allOptional(scheduleFields),
  name: scheduleFields.name,
  agent: AGENT,
  input: scheduleFields.input.refine((v) => v !== undefined && v !== null, 'is required: a run input such as {"messages": [...]}'),
  thread: z.enum(THREADS).optional(),
});

export const UpdateScheduleInput = z.strictObject(allOptional(scheduleFields));

export const PauseInput = z.strictObject({ note: NOTE.nullish() });

/** What the checks across a schedule's fields read: the schedule as it will be. */
export interface ScheduleShape {
  cron: string | null;
  interval_seconds: number | null;
  timezone: string;
  overlap: string;
  thread: string;
}

/** A new schedule as it will be: the table's defaults (000026) where a field is not given. */
export function newScheduleShape(input: z.output<typeof CreateScheduleInput>): ScheduleShape {
  return {
    cron: input.cron ?? null,
    interval_seconds: input.interval_seconds ?? null,
    timezone: input.timezone ?? "UTC",
    overlap: input.overlap ?? "skip",
    thread: input.thread ?? "new",
  };
}

/**
 * A change of a schedule, and the schedule as it will be. Given one of cron and interval_seconds
 * and not the other, the other is cleared: switching a schedule from cron to an interval (or back)
 * takes one field.
 */
export function scheduleChange<T extends { cron?: string | null; interval_seconds?: number | null; timezone?: string; overlap?: string }>(
  current: ScheduleShape,
  change: T,
): { change: T; after: ScheduleShape } {
  let switched = change;
  if (change.cron != null && change.interval_seconds === undefined) switched = { ...change, interval_seconds: null };
  if (change.interval_seconds != null && change.cron === undefined) switched = { ...change, cron: null };
  const after = { ...current };
  for (const key of ["cron", "interval_seconds", "timezone", "overlap"] as const) {
    if (switched[key] !== undefined) (after as Record<string, unknown>)[key] = switched[key];
  }
  return { change: switched, after };
}

/**
 * The checks across fields, on the schedule as it will be: a valid cron expression or interval in
 * a known time zone (lib/schedule-times.ts: the ticker's own reading; `anchor`: where intervals
 * count from), and no overlap `allow` on a shared thread (its fires run one after another).
 * Both surfaces answer the same: a ValidationError with code invalid_schedule.
 */
export function checkSchedule(s: ScheduleShape, anchor: Date): void {
  const problem = scheduleSpecError({ cron: s.cron, intervalSeconds: s.interval_seconds, timezone: s.timezone, anchor });
  if (problem) throw new ValidationError(`invalid schedule: ${problem}`, { code: "invalid_schedule" });
  if (s.thread === "shared" && s.overlap === "allow") {
    throw new ValidationError(
      'invalid schedule: overlap "allow" would run fires of a shared thread in parallel; use "skip", "buffer_one" or "cancel_previous", or thread "new"',
      { code: "invalid_schedule" },
    );
  }
}

// ---- events (everruns.trigger) ----

/** The event of POST /api/agents/:agent/trigger (GraphQL triggerAgent adds the agent). */
export const TriggerInput = z.strictObject({
  payload: boundedJson().optional(),
  thread_key: z
    .string()
    .regex(/^[^\s\p{Cc}]{1,200}$/u, "must be 1 to 200 characters without spaces or control characters (e.g. a service's name)")
    .nullish(),
});

// ---- webhooks ----

const SECRET_NAMES_MESSAGE = "must name 1 secret, or 2 while rotating";

const webhookFields = {
  name: NAME,
  verify: z.enum(VERIFY_SCHEMES),
  secret_names: z
    .array(SECRET_NAME, SECRET_NAMES_MESSAGE)
    .min(1, SECRET_NAMES_MESSAGE)
    .max(2, SECRET_NAMES_MESSAGE)
    .refine((names) => new Set(names).size === names.length, "must not name a secret twice"),
  signature_header: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/, "must be an HTTP header name: 1 to 100 letters, digits or -")
    .nullable(),
  signature_prefix: z.string().max(50, 'must be at most 50 characters (e.g. "sha256=")').nullable(),
  tolerance_seconds: whole("tolerance_seconds", " of seconds"),
  dedupe_pointer: POINTER.nullable(),
  input_template: boundedJson(),
  thread_key_pointer: POINTER.nullable(),
  max_body_bytes: whole("max_body_bytes", " of bytes", " (5 MiB)"),
  enabled: z.boolean(),
};

export const CreateWebhookInput = z.strictObject({
  ...allOptional(webhookFields),
  name: webhookFields.name,
  agent: AGENT,
  secret_names: webhookFields.secret_names,
});

export const UpdateWebhookInput = z.strictObject(allOptional(webhookFields));

export const TestDeliveryInput = z.strictObject({ payload: boundedJson().optional() });

/** What the check across a webhook's fields reads: the webhook as it will be. */
export interface WebhookShape {
  verify: string;
  signature_header: string | null;
}

/** The webhook as it will be after `change` of `current` (none: a new webhook, the table's defaults). */
export function webhookShape(change: { verify?: string; signature_header?: string | null }, current?: WebhookShape): WebhookShape {
  return {
    verify: change.verify ?? current?.verify ?? "standard",
    signature_header: change.signature_header !== undefined ? change.signature_header : (current?.signature_header ?? null),
  };
}

/**
 * hmac verifies a header the sender names: the webhook as it will be must say which. The problem
 * (`<field>: …`, named as `names` does), or null.
 */
export function webhookProblem(w: WebhookShape, names: InputNames): string | null {
  if (w.verify !== "hmac" || w.signature_header) return null;
  const header = names.field("signature_header");
  return `${header}: hmac needs ${header} (the header the sender puts its signature in)`;
}

// ---- notification endpoints ----

const URL_MESSAGE = "must be an http:// or https:// URL without spaces";

const endpointFields = {
  name: NAME,
  url: z.string(URL_MESSAGE).max(2000, "must be at most 2000 characters").refine(isHttpUrl, URL_MESSAGE),
  events: z
    .array(z.enum(NOTIFICATION_EVENTS))
    .min(1, `must list at least one of ${NOTIFICATION_EVENTS.join(", ")}`)
    .transform((events) => [...new Set(events)]),
  agent: AGENT.nullable(),
  secret_name: SECRET_NAME,
  retry_initial_seconds: z
    .number()
    .min(LIMITS.retry_initial_seconds.min, `must be from ${LIMITS.retry_initial_seconds.min} to ${LIMITS.retry_initial_seconds.max} seconds`)
    .max(LIMITS.retry_initial_seconds.max, `must be from ${LIMITS.retry_initial_seconds.min} to ${LIMITS.retry_initial_seconds.max} seconds`),
  enabled: z.boolean(),
};

export const CreateEndpointInput = z.strictObject({
  ...allOptional(endpointFields),
  name: endpointFields.name,
  url: endpointFields.url,
  events: endpointFields.events,
  secret_name: endpointFields.secret_name,
});

export const UpdateEndpointInput = z.strictObject(allOptional(endpointFields));

/** An endpoint's agent (its id or name) looked up in the session's workspace; null: every agent's runs, undefined: not given. */
export async function endpointAgentId(db: Queryable, agent: string | null | undefined): Promise<string | null | undefined> {
  if (agent === undefined || agent === null) return agent;
  return findEndpointAgent(db, agent);
}
