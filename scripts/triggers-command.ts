// `everruns schedules`, `everruns webhooks`, `everruns notify` and `everruns trigger` (issue 16):
// what starts runs besides a person — schedules, signed inbound webhooks, outbound notifications
// and event-triggered activations of long-lived threads — through the REST API with an API key,
// like `everruns batch` (api/triggers.ts), so the API's roles, validation and audit apply.
//
// An object is named by its id or its name wherever a command takes one: a name is looked up in
// the list route (names are unique per workspace). Reads take --json (the API's answer as it is);
// creates print the new object's id (webhooks: its URL) alone on stdout, details on stderr, so
// ID=$(everruns schedules create …) works. Errors are one line (scripts/cli/errors.ts).
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { CATCH_UPS, LIMITS, OVERLAPS, THREADS } from "../api/trigger-inputs.ts";
import { ConfigError, NotFoundError } from "../db/errors.ts";
import type { Env } from "../db/env.ts";
import { isUuid } from "../db/pool.ts";
import { NOTIFICATION_EVENTS, NOTIFICATION_STATUSES } from "../db/sql/notificationEndpoints.ts";
import { MAX_INTERVAL_SECONDS, nextOccurrences, scheduleSpecError, type ScheduleSpec } from "../lib/schedule-times.ts";
import { sleep } from "../lib/sleep.ts";
import { generateSecret, VERIFY_SCHEMES, type VerifyScheme } from "../lib/webhook-signatures.ts";
import { apiClient, type ApiClient } from "./cli/api.ts";
import { EXIT } from "./cli/errors.ts";
import { apiSubcommand, choiceFlag, decimalFlag, jsonFlag, parseAnswer, textFlag, uuidArg, wholeFlag } from "./cli/flags.ts";
import { followRun } from "./cli/follow.ts";
import { printJson, printRows, shellQuote } from "./cli/output.ts";
import { wantsHelp } from "./workspaces-command.ts";

const API_KEY_NOTE = "Goes through the API with EVERRUNS_API_KEY, else the key everruns start keeps in .everruns/admin-key.";

export const SCHEDULES_USAGE = `Usage:
  everruns schedules list [--json]                  the workspace's schedules and when each fires next
  everruns schedules show <id|name> [--json]        a schedule, its next 5 fire times (in its time zone
                                                    and UTC) and its recent fires with their runs
  everruns schedules create <name> --agent A (--cron "EXPR" | --every 30s|5m|1h|1d) [--timezone Z]
                 [--prompt "text with {{fire_time}}" | --input file.json] [--overlap skip|buffer_one|allow|cancel_previous]
                 [--catch-up skip|once|all] [--catch-up-max N] [--thread new|shared]
                 [--pause-after-failures N] [--paused] [--json]
                 a schedule of agent A (id or name). EXPR: 5 fields "minute hour day-of-month month
                 day-of-week" (0 9 * * 1-5), 6 with seconds first, or @hourly, @daily, …; Z: an IANA
                 time zone (default UTC; Europe/Berlin). The prompt (or the run input in file.json)
                 may hold {{fire_time}}, {{fire_time_local}}, {{schedule}} and {{timezone}}.
                 --overlap: what a fire does while the previous fire's run still runs (default skip);
                 --catch-up: ticks missed while everything was down (default once: the latest; all: up to
                 --catch-up-max); --thread shared: every fire continues one thread. Prints its id.
  everruns schedules pause <id|name> [--note T]     no fires until resumed (the note says why)
  everruns schedules resume <id|name>               fires again from the next tick (missed ones are not caught up)
  everruns schedules delete <id|name>               delete it (its runs stay)
  everruns schedules fires <id|name> [--limit N] [--json]   its fires, newest first, with their runs
  everruns schedules next <id|name> [--count N] [--json]    its next N fire times (default 5, at most 1000)

${API_KEY_NOTE}`;

export const WEBHOOKS_USAGE = `Usage:
  everruns webhooks list [--json]
  everruns webhooks show <id|name> [--json]         its settings, its URL and its recent deliveries
  everruns webhooks create <name> --agent A [--verify standard|hmac|github|bearer] --secret NAME [--secret NAME2]
                 [--header H] [--prefix P] [--dedupe-pointer /p] [--thread-key-pointer /p]
                 [--template file.json] [--max-body-bytes N] [--tolerance-seconds N] [--generate-secret] [--json]
                 an inbound webhook of agent A: POST <API>/hooks/<id> starts a run, no API key needed;
                 the sender is verified with the workspace secrets named (two during a rotation).
                 --verify (default standard): Standard Webhooks (webhook-id, webhook-timestamp,
                 webhook-signature), hmac (HMAC-SHA256 hex of the body in --header, after --prefix),
                 github (X-Hub-Signature-256), bearer (Authorization: Bearer <secret>).
                 --dedupe-pointer: a JSON pointer into the payload whose value de-duplicates deliveries
                 (default: the webhook-id / X-GitHub-Delivery header); --thread-key-pointer: the value
                 names a long-lived thread, each delivery continuing it in a new run, one after another.
                 --template: the run input, its strings templates of pointers ("{{/issue/title}}").
                 Prints the webhook's URL; --generate-secret prints a fresh secret for the scheme
                 (set it with everruns secrets set NAME, and give it to the sender).
  everruns webhooks update <id|name> [--name N] [--verify S] [--secret NAME ...] [--header H] [--prefix P]
                 [--dedupe-pointer /p] [--thread-key-pointer /p] [--template file.json | --no-template]
                 [--max-body-bytes N] [--tolerance-seconds N] [--enable | --disable]
                 (an empty pointer, --dedupe-pointer "", removes it)
  everruns webhooks delete <id|name>                delete it and its delivery log (its runs stay)
  everruns webhooks deliveries <id|name> [--limit N] [--json]   received deliveries, newest first
  everruns webhooks test <id|name> [--payload JSON] send a test delivery signed with its own secret;
                                                    prints the run id

${API_KEY_NOTE}`;

export const NOTIFY_USAGE = `Usage:
  everruns notify list [--json]                     the workspace's notification endpoints
  everruns notify show <id|name> [--json]
  everruns notify create <name> --url U --events run.succeeded,run.failed [--agent A] --secret NAME
                 [--retry-initial-seconds S] [--json]
                 POSTs each event to U, signed per Standard Webhooks with the workspace secret NAME
                 (set it with everruns secrets set NAME: a whsec_ value), retried with backoff for
                 up to a day. Events: ${NOTIFICATION_EVENTS.join(", ")}.
                 --agent: only that agent's runs (default: every agent's). Prints its id.
  everruns notify update <id|name> [--name N] [--url U] [--events E,…] [--agent A | --all-agents] [--secret NAME]
                 [--retry-initial-seconds S] [--enable | --disable]
  everruns notify delete <id|name>                  delete it and its deliveries
  everruns notify deliveries [--endpoint E] [--status pending|delivered|failed] [--limit N] [--json]
                 deliveries, newest first, with their attempts
  everruns notify resend <delivery-id>              deliver it again (a new day of retries)

${API_KEY_NOTE}`;

export const TRIGGER_USAGE = `Usage:
  everruns trigger <agent> [--thread-key K] [--payload JSON | --payload-file F | -] [-f|--follow]
                 start a run of the agent (id or name) from an event payload (default {}; - : read it
                 from stdin). --thread-key: the long-lived thread of that key (created on first use)
                 continues in the new run with its history; events for one key run one after another,
                 never in parallel. Prints the run id; --follow streams the run as everruns run
                 --follow does (and waits first while the run is queued behind the thread's current one).

Exit codes with --follow as everruns run --follow: 0 succeeded, 1 failed, 3 needs an answer, 4 cancelled.
${API_KEY_NOTE}`;

// ---------------------------------------------------------------------------------------------
// Talking to the API
// ---------------------------------------------------------------------------------------------

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** One JSON request (the API's error mapping: unreachable, a refused key, 404 → NotFoundError, any other refusal with its message). */
function call<T = unknown>(api: ApiClient, method: Method, route: string, body?: unknown): Promise<T> {
  return api.request<T>(method, route, body);
}

/** The kinds of objects named by id or name, their routes and how a person lists them. */
const KINDS = {
  schedule: { route: "/api/schedules", listKey: "schedules", listCommand: "everruns schedules list" },
  webhook: { route: "/api/webhooks", listKey: "webhooks", listCommand: "everruns webhooks list" },
  endpoint: { route: "/api/notification-endpoints", listKey: "endpoints", listCommand: "everruns notify list" },
} as const;
type Kind = keyof typeof KINDS;

const Named = z.looseObject({ id: z.string(), name: z.string() });

/** The rows of a list answer: `{<listKey>: [...]}`. */
function listRows(body: unknown, listKey: string): unknown {
  return body && typeof body === "object" ? (body as Record<string, unknown>)[listKey] : undefined;
}

/** The most objects of a kind a list shows (and a name is looked up among): the API's largest page. */
const LIST_LIMIT = 1000;

async function listOf<T>(api: ApiClient, kind: Kind, schema: z.ZodType<T>): Promise<T[]> {
  const { route, listKey } = KINDS[kind];
  const body = await call(api, "GET", `${route}?limit=${LIST_LIMIT}`);
  return parseAnswer(z.array(schema), listRows(body, listKey), `GET ${route}`);
}

/** The id of the `kind` named `ref` (an id as it is; a name through the list route). */
async function resolveId(api: ApiClient, kind: Kind, ref: string): Promise<string> {
  if (isUuid(ref)) return ref.toLowerCase();
  const found = (await listOf(api, kind, Named)).find((row) => row.name === ref);
  if (!found) throw new NotFoundError(`no ${kind} named ${JSON.stringify(ref)} in this workspace (${KINDS[kind].listCommand} shows them)`);
  return found.id;
}

/** GET/POST/… on one object; a 404 names the object and where to find the right one. */
async function onObject<T = unknown>(api: ApiClient, kind: Kind, id: string, ref: string, method: Method, suffix = "", body?: unknown): Promise<T> {
  return call<T>(api, method, `${KINDS[kind].route}/${id}${suffix}`, body).catch((error: unknown) => {
    if (error instanceof NotFoundError && suffix === "") {
      throw new NotFoundError(`unknown ${kind} ${ref} (${KINDS[kind].listCommand} shows the workspace's)`);
    }
    throw error;
  });
}

// ---------------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------------

const EVERY_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "--every 30s" → 30, "5m" → 300, "1h", "1d"; a ConfigError for anything else or beyond 365 days. */
export function everySeconds(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim());
  const seconds = match ? Number(match[1]) * EVERY_UNITS[match[2]!]! : NaN;
  if (!match || !(seconds >= 1 && seconds <= MAX_INTERVAL_SECONDS)) {
    throw new ConfigError(`--every takes a whole number and s, m, h or d (30s, 5m, 1h, 1d), from 1s to 365d, got ${JSON.stringify(value)}`);
  }
  return seconds;
}

async function readJsonFile(flag: string, file: string): Promise<unknown> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(error.code === "ENOENT" ? `${flag}: no file ${file}` : `${flag}: cannot read ${file}: ${error.message}`);
  });
  return jsonFlag(`${flag} ${file}`, text);
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) console.error("reading the payload (JSON) from the terminal; end with Ctrl-D");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A JSON pointer flag: "" clears it (null); otherwise it must start with "/" (RFC 6901). */
function pointerFlag(flag: string, value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === "") return null;
  if (!value.startsWith("/"))
    throw new ConfigError(`${flag} takes a JSON pointer such as /issue/number (RFC 6901: starts with /), got ${JSON.stringify(value)}`);
  return value;
}

/** --enable or --disable: whether the object is enabled (undefined: neither given). */
function enabledFlag(values: { enable: boolean; disable: boolean }): boolean | undefined {
  if (values.enable && values.disable) throw new ConfigError("give --enable or --disable, not both");
  return values.enable || values.disable ? values.enable : undefined;
}

function usageError(usage: string, line: string): ConfigError {
  return new ConfigError(`usage: ${line} (${usage} --help)`);
}

/** The one positional a subcommand takes (an id or a name). */
function oneRef(positionals: string[], command: string, line: string): string {
  if (positionals.length !== 1 || positionals[0] === "") throw usageError(command, line);
  return positionals[0]!;
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/** `at` as wall-clock time in `timezone` with its offset from UTC: "2026-03-29 03:00:00 UTC+2". */
export function zonedTime(at: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "shortOffset",
  }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? "";
  // ICU names the offset "GMT+2", "GMT-5", and zero "GMT" or "GMT+0" depending on its version: say UTC+2, UTC-5, UTC
  const offset = part("timeZoneName")
    .replace(/^GMT/, "UTC")
    .replace(/^UTC[+-]0(:00)?$/, "UTC");
  return `${part("year")}-${part("month")}-${part("day")} ${part("hour")}:${part("minute")}:${part("second")} ${offset}`;
}

function fireTimeRows(times: Date[], timezone: string): Record<string, unknown>[] {
  return times.map((at, i) => ({ "#": i + 1, [`local (${timezone})`]: zonedTime(at, timezone), utc: at.toISOString() }));
}

// ---------------------------------------------------------------------------------------------
// everruns schedules
// ---------------------------------------------------------------------------------------------

const date = z.coerce.date();
const count = z.coerce.number();

const ScheduleSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  agent_id: z.string().nullish(),
  cron: z.string().nullish(),
  interval_seconds: count.nullish(),
  timezone: z.string(),
  overlap: z.string().nullish(),
  catch_up: z.string().nullish(),
  catch_up_max: count.nullish(),
  thread: z.string().nullish(),
  paused: z.boolean(),
  paused_note: z.string().nullish(),
  pause_after_failures: count.nullish(),
  consecutive_failures: count.nullish(),
  next_fire_at: date.nullish(),
  last_fire_at: date.nullish(),
  missed_total: count.nullish(),
  spec_error: z.string().nullish(),
  created_at: date.nullish(),
});
type Schedule = z.infer<typeof ScheduleSchema>;

const FireSchema = z.looseObject({
  id: z.string().nullish(),
  occurrence_at: date,
  status: z.string(),
  reason: z.string().nullish(),
  run_id: z.string().nullish(),
  run_status: z.string().nullish(),
  fired_at: date.nullish(),
});
type Fire = z.infer<typeof FireSchema>;

/** GET /api/schedules/:id: the schedule with its next fire times (or why none) and recent fires. */
const ScheduleDetailSchema = z.looseObject({
  next_fire_times: z.array(date).nullish(),
  next_fire_note: z.string().nullish(),
  recent_fires: z.array(FireSchema).nullish(),
});

function scheduleOf(body: unknown, what: string): Schedule {
  return parseAnswer(ScheduleSchema, body, what);
}

function everyText(seconds: number): string {
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
  ] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function whenText(s: Schedule): string {
  return s.cron ? `cron ${s.cron}` : s.interval_seconds ? `every ${everyText(s.interval_seconds)}` : "-";
}

/** The next `n` fire times of a schedule, computed here (lib/schedule-times.ts) from its next_fire_at on. */
export function upcomingFires(s: Schedule, n: number, now = new Date()): Date[] {
  if (s.paused || s.spec_error) return [];
  // intervals count from the schedule's creation, as the ticker counts them (worker/schedule-ticker.ts)
  const spec: ScheduleSpec = {
    cron: s.cron ?? null,
    intervalSeconds: s.cron ? null : (s.interval_seconds ?? null),
    timezone: s.timezone,
    anchor: s.created_at ?? now,
  };
  if (scheduleSpecError(spec)) return [];
  // from now, or from its stored next fire when that is later (the ticker never goes back), as the API does
  const after = new Date(Math.max(now.getTime(), s.next_fire_at?.getTime() ?? 0) - 1);
  return nextOccurrences(spec, after, n);
}

function scheduleRows(s: Schedule): Record<string, unknown>[] {
  const rows: Array<[string, unknown]> = [
    ["schedule", s.id],
    ["name", s.name],
    ["agent", s.agent_id],
    ["when", whenText(s)],
    ["time zone", s.timezone],
    ["status", s.paused ? `paused${s.paused_note ? `: ${s.paused_note}` : ""}` : "active"],
    ["overlap", s.overlap],
    ["catch-up", s.catch_up === "all" ? `all (at most ${s.catch_up_max ?? "?"})` : s.catch_up],
    ["thread", s.thread],
    ["pause after failures", s.pause_after_failures ?? "never"],
    ["failures in a row", s.consecutive_failures],
    ["last fire", s.last_fire_at],
    ["missed", s.missed_total],
  ];
  if (s.spec_error) rows.push(["problem", s.spec_error]);
  return rows.map(([field, value]) => ({ field, value }));
}

function fireRows(fires: Fire[], timezone: string): Record<string, unknown>[] {
  return fires.map((f) => ({
    occurrence: zonedTime(f.occurrence_at, timezone),
    ...(timezone === "UTC" ? {} : { utc: f.occurrence_at.toISOString() }),
    status: f.status,
    run: f.run_id ?? "-",
    "run status": f.run_status ?? "-",
    reason: f.reason ?? "",
  }));
}

async function schedulesList(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  if (positionals.length > 0) throw usageError("everruns schedules", "everruns schedules list [--json]");
  const schedules = await listOf(api, "schedule", ScheduleSchema);
  if (values.json) {
    printJson(schedules);
    return EXIT.ok;
  }
  const rows = schedules.map((s) => ({
    id: s.id,
    name: s.name,
    when: whenText(s),
    timezone: s.timezone,
    status: s.paused ? "paused" : s.spec_error ? "invalid" : "active",
    "next fire (UTC)": s.paused ? "-" : s.next_fire_at,
    "last fire (UTC)": s.last_fire_at,
  }));
  printRows(rows, false, 'no schedules yet (everruns schedules create <name> --agent A --cron "0 9 * * 1-5" makes one)');
  return EXIT.ok;
}

async function schedulesShow(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  const ref = oneRef(positionals, "everruns schedules", "everruns schedules show <id|name> [--json]");
  const id = await resolveId(api, "schedule", ref);
  const body = await onObject(api, "schedule", id, ref, "GET");
  if (values.json) {
    printJson(body);
    return EXIT.ok;
  }
  const schedule = scheduleOf(body, `GET /api/schedules/${id}`);
  const detail = parseAnswer(ScheduleDetailSchema, body, `GET /api/schedules/${id}`);
  printRows(scheduleRows(schedule), false, "");
  console.log("");
  if (schedule.paused) console.log("next fire times: none while paused (everruns schedules resume " + shellQuote(schedule.name) + ")");
  else if (schedule.spec_error) console.log(`next fire times: none: ${schedule.spec_error}`);
  else {
    const times = detail.next_fire_times ?? upcomingFires(schedule, 5);
    console.log("next fire times:");
    printRows(fireTimeRows(times, schedule.timezone), false, "  none");
  }
  console.log("");
  const fires = detail.recent_fires ?? (await readFires(api, id, 10));
  console.log("recent fires:");
  printRows(fireRows(fires, schedule.timezone), false, "  none yet");
  return EXIT.ok;
}

async function readFires(api: ApiClient, id: string, limit: number): Promise<Fire[]> {
  const body = await call(api, "GET", `/api/schedules/${id}/fires?limit=${limit}`);
  return parseAnswer(z.array(FireSchema), listRows(body, "fires"), `GET /api/schedules/${id}/fires`);
}

/** The body of POST /api/schedules from `schedules create`'s flags (validated here first: one clear line, no request). */
async function scheduleBody(name: string, values: Record<string, string | boolean | undefined>): Promise<Record<string, unknown>> {
  const agent = values.agent as string | undefined;
  if (!agent) throw new ConfigError("schedules create needs --agent A: the agent (id or name) each fire runs");
  const cron = values.cron as string | undefined;
  const every = values.every as string | undefined;
  if ((cron === undefined) === (every === undefined)) throw new ConfigError('schedules create needs exactly one of --cron "EXPR" and --every 30s|5m|1h|1d');
  const timezone = (values.timezone as string | undefined) ?? "UTC";
  const interval = every === undefined ? null : everySeconds(every);
  const problem = scheduleSpecError({ cron: cron ?? null, intervalSeconds: interval, timezone, anchor: new Date() });
  if (problem) throw new ConfigError(`${cron !== undefined ? `--cron ${JSON.stringify(cron)}` : "the schedule"}: ${problem}`);
  const prompt = values.prompt as string | undefined;
  const inputFile = values.input as string | undefined;
  if (prompt !== undefined && inputFile !== undefined) throw new ConfigError("give --prompt or --input, not both");
  const input =
    inputFile !== undefined
      ? await readJsonFile("--input", inputFile)
      : { messages: [{ role: "user", content: prompt ?? `Scheduled run of ${name} at {{fire_time_local}} ({{timezone}}).` }] };
  const body: Record<string, unknown> = { name, agent, timezone, input, ...(cron !== undefined ? { cron } : { interval_seconds: interval }) };
  const put = (key: string, value: unknown) => value !== undefined && (body[key] = value);
  put("overlap", choiceFlag("--overlap", values.overlap as string | undefined, OVERLAPS));
  put("catch_up", choiceFlag("--catch-up", values["catch-up"] as string | undefined, CATCH_UPS));
  put("catch_up_max", wholeFlag("--catch-up-max", values["catch-up-max"] as string | undefined, LIMITS.catch_up_max.min, LIMITS.catch_up_max.max));
  put("thread", choiceFlag("--thread", values.thread as string | undefined, THREADS));
  const pauseAfter = LIMITS.pause_after_failures;
  put("pause_after_failures", wholeFlag("--pause-after-failures", values["pause-after-failures"] as string | undefined, pauseAfter.min, pauseAfter.max));
  if (values.paused) body.paused = true;
  return body;
}

async function schedulesCreate(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      agent: { type: "string" },
      cron: { type: "string" },
      every: { type: "string" },
      timezone: { type: "string" },
      prompt: { type: "string" },
      input: { type: "string" },
      overlap: { type: "string" },
      "catch-up": { type: "string" },
      "catch-up-max": { type: "string" },
      thread: { type: "string" },
      "pause-after-failures": { type: "string" },
      paused: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const name = oneRef(positionals, "everruns schedules", "everruns schedules create <name> --agent A (--cron EXPR | --every D) [options]");
  const body = await scheduleBody(name, values);
  const answer = await call(api, "POST", "/api/schedules", body);
  const schedule = scheduleOf(answer, "POST /api/schedules");
  if (values.json) {
    printJson(answer);
    return EXIT.ok;
  }
  const next = upcomingFires(schedule, 1)[0];
  console.error(
    `created schedule ${schedule.name} (${whenText(schedule)}, ${schedule.timezone})` +
      (schedule.paused ? ": paused" : next ? `: next fire ${zonedTime(next, schedule.timezone)} (${next.toISOString()})` : ""),
  );
  console.log(schedule.id);
  return EXIT.ok;
}

async function schedulesPause(api: ApiClient, args: string[], action: "pause" | "resume"): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: action === "pause" ? { note: { type: "string" } } : {},
  });
  const ref = oneRef(positionals, "everruns schedules", `everruns schedules ${action} <id|name>${action === "pause" ? " [--note T]" : ""}`);
  const id = await resolveId(api, "schedule", ref);
  const note = (values as { note?: string }).note;
  const answer = await call(api, "POST", `/api/schedules/${id}/${action}`, action === "pause" && note !== undefined ? { note } : {}).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`unknown schedule ${ref} (everruns schedules list shows the workspace's)`);
    throw error;
  });
  const schedule = scheduleOf(answer, `POST /api/schedules/${id}/${action}`);
  if (action === "pause") console.log(`paused schedule ${schedule.name}${schedule.paused_note ? ` (${schedule.paused_note})` : ""}`);
  else {
    const next = upcomingFires(schedule, 1)[0];
    console.log(`resumed schedule ${schedule.name}${next ? `: next fire ${zonedTime(next, schedule.timezone)} (${next.toISOString()})` : ""}`);
  }
  return EXIT.ok;
}

async function deleteObject(api: ApiClient, kind: Kind, args: string[], command: string): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const ref = oneRef(positionals, command, `${command} delete <id|name>`);
  const id = await resolveId(api, kind, ref);
  await onObject(api, kind, id, ref, "DELETE");
  console.log(`deleted ${kind === "endpoint" ? "notification endpoint" : kind} ${ref}`);
  return EXIT.ok;
}

async function schedulesFires(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: "string" }, json: { type: "boolean", default: false } },
  });
  const ref = oneRef(positionals, "everruns schedules", "everruns schedules fires <id|name> [--limit N] [--json]");
  const limit = wholeFlag("--limit", values.limit, 1, 1000) ?? 20;
  const id = await resolveId(api, "schedule", ref);
  const schedule = scheduleOf(await onObject(api, "schedule", id, ref, "GET"), `GET /api/schedules/${id}`);
  const fires = await readFires(api, id, limit);
  if (values.json) {
    printJson(fires);
    return EXIT.ok;
  }
  printRows(fireRows(fires, schedule.timezone), false, `schedule ${schedule.name} has not fired yet`);
  return EXIT.ok;
}

async function schedulesNext(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { count: { type: "string" }, json: { type: "boolean", default: false } },
  });
  const ref = oneRef(positionals, "everruns schedules", "everruns schedules next <id|name> [--count N] [--json]");
  const n = wholeFlag("--count", values.count, 1, 1000) ?? 5;
  const id = await resolveId(api, "schedule", ref);
  const schedule = scheduleOf(await onObject(api, "schedule", id, ref, "GET"), `GET /api/schedules/${id}`);
  const times = upcomingFires(schedule, n);
  if (values.json) {
    printJson(times.map((t) => ({ utc: t.toISOString(), local: zonedTime(t, schedule.timezone) })));
    return EXIT.ok;
  }
  if (schedule.paused) console.log(`schedule ${schedule.name} is paused: it fires again once resumed (everruns schedules resume ${shellQuote(schedule.name)})`);
  else if (schedule.spec_error) console.log(`schedule ${schedule.name} does not fire: ${schedule.spec_error}`);
  else printRows(fireTimeRows(times, schedule.timezone), false, "no fire times");
  return EXIT.ok;
}

export async function schedulesCommand(args: string[], env: Env): Promise<number> {
  return apiSubcommand(args, env, "schedules", SCHEDULES_USAGE, {
    list: schedulesList,
    show: schedulesShow,
    create: schedulesCreate,
    pause: (api, a) => schedulesPause(api, a, "pause"),
    resume: (api, a) => schedulesPause(api, a, "resume"),
    delete: (api, a) => deleteObject(api, "schedule", a, "everruns schedules"),
    fires: schedulesFires,
    next: schedulesNext,
  });
}

// ---------------------------------------------------------------------------------------------
// everruns webhooks
// ---------------------------------------------------------------------------------------------

const WebhookSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  agent_id: z.string().nullish(),
  verify: z.string(),
  secret_names: z.array(z.string()),
  signature_header: z.string().nullish(),
  signature_prefix: z.string().nullish(),
  tolerance_seconds: count.nullish(),
  dedupe_pointer: z.string().nullish(),
  input_template: z.unknown().optional(),
  thread_key_pointer: z.string().nullish(),
  max_body_bytes: count.nullish(),
  enabled: z.boolean(),
  /** the hook's path (/hooks/<id>); the URL is the API's base URL and it */
  path: z.string().nullish(),
  url: z.string().nullish(),
});
type Webhook = z.infer<typeof WebhookSchema>;

const DeliverySchema = z.looseObject({
  id: z.string(),
  delivery_key: z.string().nullish(),
  received_at: date,
  thread_key: z.string().nullish(),
  run_id: z.string().nullish(),
  run_status: z.string().nullish(),
  duplicates: count.nullish(),
  test: z.boolean().nullish(),
});
type Delivery = z.infer<typeof DeliverySchema>;

/** Warnings the API may add to an answer (secrets named but not set yet). */
const WarningsSchema = z.looseObject({ warnings: z.array(z.string()).nullish() });

function webhookOf(body: unknown, what: string): Webhook {
  return parseAnswer(WebhookSchema, body, what);
}

/** The URL a sender posts to: the API's base URL (EVERRUNS_API_URL, as this CLI reaches it) + /hooks/<id>. */
export function hookUrl(apiUrl: string, id: string): string {
  return `${apiUrl.replace(/\/$/, "")}/hooks/${id}`;
}

function webhookRows(w: Webhook, apiUrl: string): Record<string, unknown>[] {
  const rows: Array<[string, unknown]> = [
    ["webhook", w.id],
    ["name", w.name],
    ["url", hookUrl(apiUrl, w.id)],
    ["agent", w.agent_id],
    ["status", w.enabled ? "enabled" : "disabled"],
    ["verify", w.verify === "hmac" ? `hmac (${w.signature_header ?? "?"}${w.signature_prefix ? `, prefix ${w.signature_prefix}` : ""})` : w.verify],
    ["secrets", w.secret_names.join(", ")],
    ["tolerance", w.verify === "standard" && w.tolerance_seconds ? `${w.tolerance_seconds} s` : null],
    ["dedupe by", w.dedupe_pointer ?? (w.verify === "standard" ? "webhook-id header" : w.verify === "github" ? "X-GitHub-Delivery header" : "none")],
    ["thread key", w.thread_key_pointer ?? "none (a new thread per delivery)"],
    ["input template", w.input_template ?? "default (the payload as the user message)"],
    ["max body", w.max_body_bytes ? `${w.max_body_bytes} bytes` : null],
  ];
  return rows.filter(([, value]) => value !== null).map(([field, value]) => ({ field, value }));
}

function deliveryRows(deliveries: Delivery[]): Record<string, unknown>[] {
  return deliveries.map((d) => ({
    received: d.received_at,
    key: d.delivery_key ?? "-",
    run: d.run_id ?? "-",
    "run status": d.run_status ?? "queued on its thread",
    duplicates: d.duplicates ?? 0,
    thread: d.thread_key ?? "",
    test: d.test ? "test" : "",
  }));
}

/**
 * The names among `names` that the API's warnings say are not set yet. The API answers warnings
 * as sentences ("secret X is not set yet: …"); a name is matched as a whole word of them.
 */
export function unsetSecretNames(names: string[], warnings: string[]): string[] {
  const words = new Set(warnings.flatMap((w) => w.split(/[\s,:;()]+/)));
  return names.filter((name) => words.has(name));
}

/**
 * What to do about secrets: each one not set yet (or each one, with --generate-secret) gets the
 * command that sets it; for Standard Webhooks, or when asked, with a fresh value to give the
 * other side too. A secret already set is left alone: a new value would lock its sender out.
 */
function secretReminder(verify: VerifyScheme, names: string[], unset: string[], generate: boolean): string[] {
  const lines: string[] = [];
  const suggest = generate || verify === "standard";
  for (const name of generate ? names : unset) {
    if (suggest) {
      lines.push(
        `set the secret ${name}, and give the same value to the other side, e.g. a fresh one:`,
        `  echo -n ${shellQuote(generateSecret(verify))} | everruns secrets set ${shellQuote(name)}`,
      );
    } else {
      lines.push(`set the secret ${name} to the value the sender signs with: everruns secrets set ${shellQuote(name)} (reads it from stdin)`);
    }
  }
  const set = names.filter((name) => !unset.includes(name));
  if (set.length > 0 && !generate) lines.push(`the secret${set.length > 1 ? "s" : ""} ${set.join(", ")} ${set.length > 1 ? "are" : "is"} set already`);
  return lines;
}

function webhookFields(values: Record<string, string | boolean | string[] | undefined>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => value !== undefined && (body[key] = value);
  put("verify", choiceFlag("--verify", values.verify as string | undefined, VERIFY_SCHEMES));
  const secrets = values.secret as string[] | undefined;
  if (secrets !== undefined) {
    if (secrets.length > 2) throw new ConfigError("a webhook takes one or two --secret (two during a rotation)");
    body.secret_names = secrets;
  }
  put("signature_header", values.header);
  put("signature_prefix", values.prefix);
  put("dedupe_pointer", pointerFlag("--dedupe-pointer", values["dedupe-pointer"] as string | undefined));
  put("thread_key_pointer", pointerFlag("--thread-key-pointer", values["thread-key-pointer"] as string | undefined));
  const { max_body_bytes: bodyBytes, tolerance_seconds: tolerance } = LIMITS;
  put("max_body_bytes", wholeFlag("--max-body-bytes", values["max-body-bytes"] as string | undefined, bodyBytes.min, bodyBytes.max));
  put("tolerance_seconds", wholeFlag("--tolerance-seconds", values["tolerance-seconds"] as string | undefined, tolerance.min, tolerance.max));
  if (body.verify === "hmac" && body.signature_header === undefined) {
    throw new ConfigError("--verify hmac needs --header H: the request header that carries the signature (e.g. X-Signature)");
  }
  return body;
}

const WEBHOOK_FLAGS = {
  verify: { type: "string" },
  secret: { type: "string", multiple: true },
  header: { type: "string" },
  prefix: { type: "string" },
  "dedupe-pointer": { type: "string" },
  "thread-key-pointer": { type: "string" },
  template: { type: "string" },
  "max-body-bytes": { type: "string" },
  "tolerance-seconds": { type: "string" },
  json: { type: "boolean", default: false },
} as const;

async function webhooksCreate(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...WEBHOOK_FLAGS, agent: { type: "string" }, "generate-secret": { type: "boolean", default: false } },
  });
  const name = oneRef(positionals, "everruns webhooks", "everruns webhooks create <name> --agent A --secret NAME [options]");
  if (!values.agent) throw new ConfigError("webhooks create needs --agent A: the agent (id or name) each delivery runs");
  if (!values.secret?.length)
    throw new ConfigError("webhooks create needs --secret NAME: the workspace secret the sender signs with (everruns secrets set NAME)");
  const body: Record<string, unknown> = { name, agent: values.agent, verify: "standard", ...webhookFields(values) };
  if (values.template !== undefined) body.input_template = await readJsonFile("--template", values.template);
  const answer = await call(api, "POST", "/api/webhooks", body);
  const webhook = webhookOf(answer, "POST /api/webhooks");
  const url = hookUrl(api.url, webhook.id);
  if (values.json) printJson({ ...(answer as object), url });
  else {
    console.error(`created webhook ${webhook.name} (${webhook.verify}) for agent ${values.agent}: senders POST to ${url}`);
    const warnings = parseAnswer(WarningsSchema, answer, "POST /api/webhooks").warnings ?? [];
    for (const warning of warnings) console.error(`warning: ${warning}`);
    const unset = unsetSecretNames(webhook.secret_names, warnings);
    for (const line of secretReminder(webhook.verify as VerifyScheme, webhook.secret_names, unset, values["generate-secret"])) console.error(line);
    console.log(url);
  }
  return EXIT.ok;
}

async function webhooksUpdate(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...WEBHOOK_FLAGS,
      name: { type: "string" },
      "no-template": { type: "boolean", default: false },
      enable: { type: "boolean", default: false },
      disable: { type: "boolean", default: false },
    },
  });
  const ref = oneRef(positionals, "everruns webhooks", "everruns webhooks update <id|name> [options]");
  const body = webhookFields(values);
  if (values.name !== undefined) body.name = values.name;
  if (values.template !== undefined && values["no-template"]) throw new ConfigError("give --template or --no-template, not both");
  if (values.template !== undefined) body.input_template = await readJsonFile("--template", values.template);
  if (values["no-template"]) body.input_template = null;
  const enabled = enabledFlag(values);
  if (enabled !== undefined) body.enabled = enabled;
  if (Object.keys(body).length === 0) throw new ConfigError("webhooks update: nothing to change (everruns webhooks --help lists the flags)");
  const id = await resolveId(api, "webhook", ref);
  const webhook = webhookOf(await onObject(api, "webhook", id, ref, "PATCH", "", body), `PATCH /api/webhooks/${id}`);
  if (values.json) {
    printJson(webhook);
    return EXIT.ok;
  }
  console.log(`updated webhook ${webhook.name} (${webhook.enabled ? "enabled" : "disabled"})`);
  return EXIT.ok;
}

async function webhooksList(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  if (positionals.length > 0) throw usageError("everruns webhooks", "everruns webhooks list [--json]");
  const webhooks = await listOf(api, "webhook", WebhookSchema);
  if (values.json) {
    printJson(webhooks);
    return EXIT.ok;
  }
  const rows = webhooks.map((w) => ({
    id: w.id,
    name: w.name,
    verify: w.verify,
    secrets: w.secret_names.join(","),
    status: w.enabled ? "enabled" : "disabled",
    url: hookUrl(api.url, w.id),
  }));
  printRows(rows, false, "no webhooks yet (everruns webhooks create <name> --agent A --secret NAME makes one)");
  return EXIT.ok;
}

async function webhooksShow(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  const ref = oneRef(positionals, "everruns webhooks", "everruns webhooks show <id|name> [--json]");
  const id = await resolveId(api, "webhook", ref);
  const body = await onObject(api, "webhook", id, ref, "GET");
  const webhook = webhookOf(body, `GET /api/webhooks/${id}`);
  if (values.json) {
    printJson({ ...(body as object), url: hookUrl(api.url, webhook.id) });
    return EXIT.ok;
  }
  printRows(webhookRows(webhook, api.url), false, "");
  for (const warning of parseAnswer(WarningsSchema, body, `GET /api/webhooks/${id}`).warnings ?? []) console.error(`warning: ${warning}`);
  const embedded = (body as { recent_deliveries?: unknown }).recent_deliveries;
  const deliveries = embedded !== undefined ? parseAnswer(z.array(DeliverySchema), embedded, `GET /api/webhooks/${id}`) : await readDeliveries(api, id, 10);
  console.log("\nrecent deliveries:");
  printRows(deliveryRows(deliveries), false, `  none yet (everruns webhooks test ${shellQuote(webhook.name)} sends one)`);
  return EXIT.ok;
}

async function readDeliveries(api: ApiClient, id: string, limit: number): Promise<Delivery[]> {
  const body = await call(api, "GET", `/api/webhooks/${id}/deliveries?limit=${limit}`);
  return parseAnswer(z.array(DeliverySchema), listRows(body, "deliveries"), `GET /api/webhooks/${id}/deliveries`);
}

async function webhooksDeliveries(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: "string" }, json: { type: "boolean", default: false } },
  });
  const ref = oneRef(positionals, "everruns webhooks", "everruns webhooks deliveries <id|name> [--limit N] [--json]");
  const limit = wholeFlag("--limit", values.limit, 1, 1000) ?? 20;
  const id = await resolveId(api, "webhook", ref);
  await onObject(api, "webhook", id, ref, "GET"); // an unknown id: one clear line
  const deliveries = await readDeliveries(api, id, limit);
  if (values.json) {
    printJson(deliveries);
    return EXIT.ok;
  }
  printRows(deliveryRows(deliveries), false, `no deliveries yet (everruns webhooks test ${shellQuote(ref)} sends one)`);
  return EXIT.ok;
}

const TestAnswerSchema = z.looseObject({ run_id: z.string(), delivery_id: z.string().nullish(), duplicate: z.boolean().nullish() });

async function webhooksTest(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { payload: { type: "string" } } });
  const ref = oneRef(positionals, "everruns webhooks", "everruns webhooks test <id|name> [--payload JSON]");
  const payload = values.payload === undefined ? undefined : jsonFlag("--payload", values.payload);
  const id = await resolveId(api, "webhook", ref);
  const answer = await onObject(api, "webhook", id, ref, "POST", "/test", payload === undefined ? {} : { payload });
  const sent = parseAnswer(TestAnswerSchema, answer, `POST /api/webhooks/${id}/test`);
  console.error(
    sent.duplicate
      ? `test delivery ${sent.delivery_id ?? ""} was a duplicate of an earlier one: its run ${sent.run_id}`
      : `test delivery ${sent.delivery_id ?? ""} accepted: run ${sent.run_id}`,
  );
  console.log(sent.run_id);
  return EXIT.ok;
}

export async function webhooksCommand(args: string[], env: Env): Promise<number> {
  return apiSubcommand(args, env, "webhooks", WEBHOOKS_USAGE, {
    list: webhooksList,
    show: webhooksShow,
    create: webhooksCreate,
    update: webhooksUpdate,
    delete: (api, a) => deleteObject(api, "webhook", a, "everruns webhooks"),
    deliveries: webhooksDeliveries,
    test: webhooksTest,
  });
}

// ---------------------------------------------------------------------------------------------
// everruns notify
// ---------------------------------------------------------------------------------------------

const EndpointSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  agent_id: z.string().nullish(),
  secret_name: z.string(),
  retry_initial_seconds: count.nullish(),
  enabled: z.boolean(),
});
type Endpoint = z.infer<typeof EndpointSchema>;

const NotificationSchema = z.looseObject({
  id: z.string(),
  endpoint_id: z.string(),
  event: z.string(),
  subject_id: z.string().nullish(),
  status: z.string(),
  attempts: count,
  next_attempt_at: date.nullish(),
  last_status_code: count.nullish(),
  last_error: z.string().nullish(),
  created_at: date,
  delivered_at: date.nullish(),
});

/** `text` cut to `max` characters for a table cell (--json has it whole). */
function clip(text: string | null | undefined, max: number): string | null {
  if (text === null || text === undefined) return null;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function endpointOf(body: unknown, what: string): Endpoint {
  return parseAnswer(EndpointSchema, body, what);
}

function eventsFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const events = value
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  const unknown = events.filter((e) => !(NOTIFICATION_EVENTS as readonly string[]).includes(e));
  if (events.length === 0 || unknown.length > 0) {
    throw new ConfigError(
      `--events takes a comma-separated list of ${NOTIFICATION_EVENTS.join(", ")}${unknown.length ? `; unknown: ${unknown.join(", ")}` : ""}`,
    );
  }
  return [...new Set(events)];
}

function urlFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`--url takes an http(s) URL, got ${JSON.stringify(value.slice(0, 200))}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`--url takes an http(s) URL, got ${JSON.stringify(value.slice(0, 200))}`);
  return value;
}

const ENDPOINT_FLAGS = {
  url: { type: "string" },
  events: { type: "string" },
  agent: { type: "string" },
  secret: { type: "string" },
  "retry-initial-seconds": { type: "string" },
  json: { type: "boolean", default: false },
} as const;

function endpointFields(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => value !== undefined && (body[key] = value);
  put("url", urlFlag(values.url as string | undefined));
  put("events", eventsFlag(values.events as string | undefined));
  put("agent", values.agent);
  put("secret_name", values.secret);
  const { min, max } = LIMITS.retry_initial_seconds;
  const retry = decimalFlag(
    "--retry-initial-seconds",
    values["retry-initial-seconds"] as string | undefined,
    (n) => n >= min && n <= max,
    `seconds from ${min} to ${max}`,
  );
  put("retry_initial_seconds", retry);
  return body;
}

async function notifyCreate(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: ENDPOINT_FLAGS });
  const name = oneRef(positionals, "everruns notify", "everruns notify create <name> --url U --events E,… --secret NAME [options]");
  if (values.url === undefined) throw new ConfigError("notify create needs --url U: where each event is POSTed");
  if (values.events === undefined) throw new ConfigError(`notify create needs --events: a comma-separated list of ${NOTIFICATION_EVENTS.join(", ")}`);
  if (values.secret === undefined) throw new ConfigError("notify create needs --secret NAME: the workspace secret deliveries are signed with");
  const answer = await call(api, "POST", "/api/notification-endpoints", { name, ...endpointFields(values) });
  const endpoint = endpointOf(answer, "POST /api/notification-endpoints");
  if (values.json) {
    printJson(answer);
    return EXIT.ok;
  }
  console.error(`created notification endpoint ${endpoint.name}: ${endpoint.events.join(", ")} → ${endpoint.url}`);
  const warnings = parseAnswer(WarningsSchema, answer, "POST /api/notification-endpoints").warnings ?? [];
  for (const warning of warnings) console.error(`warning: ${warning}`);
  // deliveries are signed per Standard Webhooks: a whsec_ value, which the receiver verifies with
  const unset = unsetSecretNames([endpoint.secret_name], warnings);
  for (const line of secretReminder("standard", [endpoint.secret_name], unset, false)) console.error(line);
  console.log(endpoint.id);
  return EXIT.ok;
}

async function notifyUpdate(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...ENDPOINT_FLAGS,
      name: { type: "string" },
      "all-agents": { type: "boolean", default: false },
      enable: { type: "boolean", default: false },
      disable: { type: "boolean", default: false },
    },
  });
  const ref = oneRef(positionals, "everruns notify", "everruns notify update <id|name> [options]");
  const body = endpointFields(values);
  if (values.name !== undefined) body.name = values.name;
  if (values["all-agents"] && values.agent !== undefined) throw new ConfigError("give --agent or --all-agents, not both");
  if (values["all-agents"]) body.agent = null;
  const enabled = enabledFlag(values);
  if (enabled !== undefined) body.enabled = enabled;
  if (Object.keys(body).length === 0) throw new ConfigError("notify update: nothing to change (everruns notify --help lists the flags)");
  const id = await resolveId(api, "endpoint", ref);
  const endpoint = endpointOf(await onObject(api, "endpoint", id, ref, "PATCH", "", body), `PATCH /api/notification-endpoints/${id}`);
  if (values.json) {
    printJson(endpoint);
    return EXIT.ok;
  }
  console.log(`updated notification endpoint ${endpoint.name} (${endpoint.enabled ? "enabled" : "disabled"})`);
  return EXIT.ok;
}

function endpointRow(e: Endpoint): Record<string, unknown> {
  return {
    id: e.id,
    name: e.name,
    url: e.url,
    events: e.events.join(","),
    agent: e.agent_id ?? "all",
    secret: e.secret_name,
    status: e.enabled ? "enabled" : "disabled",
  };
}

async function notifyList(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  if (positionals.length > 0) throw usageError("everruns notify", "everruns notify list [--json]");
  const endpoints = await listOf(api, "endpoint", EndpointSchema);
  if (values.json) {
    printJson(endpoints);
    return EXIT.ok;
  }
  printRows(
    endpoints.map(endpointRow),
    false,
    "no notification endpoints yet (everruns notify create <name> --url U --events run.failed --secret NAME makes one)",
  );
  return EXIT.ok;
}

async function notifyShow(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  const ref = oneRef(positionals, "everruns notify", "everruns notify show <id|name> [--json]");
  const id = await resolveId(api, "endpoint", ref);
  const body = await onObject(api, "endpoint", id, ref, "GET");
  if (values.json) {
    printJson(body);
    return EXIT.ok;
  }
  const endpoint = endpointOf(body, `GET /api/notification-endpoints/${id}`);
  const row = { ...endpointRow(endpoint), "retry first after": endpoint.retry_initial_seconds ? `${endpoint.retry_initial_seconds} s` : "-" };
  printRows(
    Object.entries(row).map(([field, value]) => ({ field, value })),
    false,
    "",
  );
  return EXIT.ok;
}

async function notifyDeliveries(api: ApiClient, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { endpoint: { type: "string" }, status: { type: "string" }, limit: { type: "string" }, json: { type: "boolean", default: false } },
  });
  if (positionals.length > 0) throw usageError("everruns notify", "everruns notify deliveries [--endpoint E] [--status S] [--limit N] [--json]");
  const query = new URLSearchParams();
  const status = choiceFlag("--status", values.status, NOTIFICATION_STATUSES);
  if (status) query.set("status", status);
  query.set("limit", String(wholeFlag("--limit", values.limit, 1, 1000) ?? 50));
  if (values.endpoint !== undefined) query.set("endpoint", await resolveId(api, "endpoint", values.endpoint));
  const body = await call(api, "GET", `/api/notifications?${query.toString()}`);
  const rows = listRows(body, "deliveries");
  if (values.json) {
    printJson(rows);
    return EXIT.ok;
  }
  const deliveries = parseAnswer(z.array(NotificationSchema), rows, "GET /api/notifications");
  printRows(
    deliveries.map((d) => ({
      id: d.id,
      event: d.event,
      subject: d.subject_id ?? "-",
      status: d.status,
      attempts: d.attempts,
      last: d.last_status_code ?? clip(d.last_error, 80) ?? "-",
      "next attempt": d.status === "pending" ? d.next_attempt_at : null,
      created: d.created_at,
    })),
    false,
    status ? `no ${status} notification deliveries` : "no notification deliveries yet",
  );
  return EXIT.ok;
}

async function notifyResend(api: ApiClient, args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const id = oneRef(positionals, "everruns notify", "everruns notify resend <delivery-id>");
  uuidArg("delivery", "everruns notify deliveries", id);
  await call(api, "POST", `/api/notifications/${id}/resend`, {}).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`unknown notification delivery ${id} (everruns notify deliveries shows them)`);
    throw error;
  });
  console.log(`notification delivery ${id} is pending again: it is sent at once, then retried with backoff for a day`);
  return EXIT.ok;
}

export async function notifyCommand(args: string[], env: Env): Promise<number> {
  return apiSubcommand(args, env, "notify", NOTIFY_USAGE, {
    list: notifyList,
    show: notifyShow,
    create: notifyCreate,
    update: notifyUpdate,
    delete: (api, a) => deleteObject(api, "endpoint", a, "everruns notify"),
    deliveries: notifyDeliveries,
    resend: notifyResend,
  });
}

// ---------------------------------------------------------------------------------------------
// everruns trigger
// ---------------------------------------------------------------------------------------------

/** How often `trigger --follow` looks whether a run queued on its thread has started. */
const QUEUED_POLL_MS = 500;

/** The event payload: --payload JSON, --payload-file F, or - (stdin); default {}. */
async function triggerPayload(values: { payload?: string; "payload-file"?: string }, stdin: boolean): Promise<unknown> {
  const given = [values.payload !== undefined, values["payload-file"] !== undefined, stdin].filter(Boolean).length;
  if (given > 1) throw new ConfigError("give one of --payload JSON, --payload-file F and - (stdin)");
  if (values.payload !== undefined) return jsonFlag("--payload", values.payload);
  if (values["payload-file"] !== undefined) return readJsonFile("--payload-file", values["payload-file"]);
  if (stdin) return jsonFlag("the payload on stdin", await readStdin());
  return {};
}

/**
 * Waits until run `runId` exists: an event for a busy thread is queued (an activation) and its run
 * is inserted when the thread's current run ends, under the id trigger answered.
 */
async function waitForRun(api: ApiClient, runId: string): Promise<void> {
  let told = false;
  for (;;) {
    try {
      await call(api, "GET", `/api/runs/${runId}`);
      return;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    if (!told) console.error(`run ${runId} is queued behind its thread's current run; waiting for it to start (Ctrl-C stops waiting)`);
    told = true;
    await sleep(QUEUED_POLL_MS);
  }
}

const TriggeredSchema = z.looseObject({ run_id: z.string() });

export async function triggerCommand(args: string[], env: Env): Promise<number> {
  if (args.length === 0 || wantsHelp(args)) {
    console.log(TRIGGER_USAGE);
    return args.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      "thread-key": { type: "string" },
      payload: { type: "string" },
      "payload-file": { type: "string" },
      follow: { type: "boolean", short: "f", default: false },
    },
  });
  const stdin = positionals[1] === "-";
  if (positionals.length < 1 || positionals.length > (stdin ? 2 : 1) || positionals[0] === "") {
    throw usageError("everruns trigger", "everruns trigger <agent> [--thread-key K] [--payload JSON | --payload-file F | -] [--follow]");
  }
  const agent = positionals[0]!;
  const threadKey = textFlag("--thread-key", values["thread-key"], 200);
  const payload = await triggerPayload(values, stdin);
  const api = apiClient(env);
  const answer = await call(api, "POST", `/api/agents/${encodeURIComponent(agent)}/trigger`, {
    payload,
    ...(threadKey !== undefined ? { thread_key: threadKey } : {}),
  }).catch((error: unknown) => {
    if (error instanceof NotFoundError) throw new NotFoundError(`no agent with id or name ${JSON.stringify(agent)} in this workspace`);
    throw error;
  });
  const { run_id: runId } = parseAnswer(TriggeredSchema, answer, `POST /api/agents/${agent}/trigger`);
  if (!values.follow) {
    console.log(runId);
    return EXIT.ok;
  }
  await waitForRun(api, runId);
  return followRun(api, runId);
}
