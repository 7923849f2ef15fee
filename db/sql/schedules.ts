// Schedules (000026): what the API and GraphQL read and change of everruns.schedules and their
// fires. Every function runs under the caller's workspace (row-level security: another
// workspace's schedule is none); the schedules trigger checks the agent, the time zone and the
// input, and the audit trigger records each change. next_fire_at and the counters are the
// ticker's: nothing here writes them.
import { z } from "zod";
import { fromDatabaseError, NotFoundError } from "../errors.ts";
import { isUuid, type Queryable } from "../pool.ts";

const ts = z.date();

export const ScheduleRowSchema = z.object({
  id: z.string(),
  name: z.string(),
  agent_id: z.string(),
  cron: z.string().nullable(),
  interval_seconds: z.number().nullable(),
  timezone: z.string(),
  input: z.unknown(),
  overlap: z.string(),
  catch_up: z.string(),
  catch_up_max: z.number(),
  misfire_grace_seconds: z.number(),
  thread: z.string(),
  thread_id: z.string().nullable(),
  paused: z.boolean(),
  paused_note: z.string().nullable(),
  pause_after_failures: z.number().nullable(),
  consecutive_failures: z.number(),
  next_fire_at: ts.nullable(),
  last_fire_at: ts.nullable(),
  missed_total: z.number(),
  spec_error: z.string().nullable(),
  created_at: ts,
  updated_at: ts,
});
export type ScheduleRow = z.infer<typeof ScheduleRowSchema>;

export const ScheduleFireRowSchema = z.object({
  id: z.string(),
  schedule_id: z.string(),
  occurrence_at: ts,
  status: z.string(),
  reason: z.string().nullable(),
  run_id: z.string().nullable(),
  /** the run's status now (null: no run, or it was deleted) */
  run_status: z.string().nullable(),
  fired_at: ts,
  started_at: ts.nullable(),
});
export type ScheduleFireRow = z.infer<typeof ScheduleFireRowSchema>;

const SCHEDULE_COLUMNS = `s.id, s.name, s.agent_id, s.cron, s.interval_seconds, s.timezone, s.input, s.overlap, s.catch_up,
  s.catch_up_max, s.misfire_grace_seconds, s.thread, s.thread_id, s.paused, s.paused_note, s.pause_after_failures,
  s.consecutive_failures, s.next_fire_at, s.last_fire_at, s.missed_total::float8 as missed_total, s.spec_error,
  s.created_at, s.updated_at`;

/** What a client may set (the columns everruns_api may insert and update). */
export interface ScheduleFields {
  name?: string;
  cron?: string | null;
  interval_seconds?: number | null;
  timezone?: string;
  input?: unknown;
  overlap?: string;
  catch_up?: string;
  catch_up_max?: number;
  misfire_grace_seconds?: number;
  thread?: string;
  paused?: boolean;
  paused_note?: string | null;
  pause_after_failures?: number | null;
}

/** A new schedule: its agent by id or name, and its fields. */
export interface NewSchedule extends ScheduleFields {
  agent: string;
  name: string;
  input: unknown;
}

// The settable columns and their SQL types, in a fixed order: only those given are written, so
// the table's defaults stay written in one place. `thread` cannot change after insert.
const SCHEDULE_FIELDS = [
  ["name", "text"],
  ["cron", "text"],
  ["interval_seconds", "integer"],
  ["timezone", "text"],
  ["input", "jsonb"],
  ["overlap", "text"],
  ["catch_up", "text"],
  ["catch_up_max", "integer"],
  ["misfire_grace_seconds", "integer"],
  ["thread", "text"],
  ["paused", "boolean"],
  ["paused_note", "text"],
  ["pause_after_failures", "integer"],
] as const satisfies ReadonlyArray<readonly [keyof ScheduleFields, string]>;

/**
 * The given fields of `fields` among `allowed` ([column, SQL type]), as column names and typed
 * `$n` placeholders numbered from `first`, with their values (jsonb as JSON text). Shared by the
 * trigger tables' inserts and updates (webhooks.ts, notificationEndpoints.ts): the column names
 * come from the fixed lists, never from the request.
 */
export function givenColumns(
  fields: Record<string, unknown>,
  allowed: ReadonlyArray<readonly [string, string]>,
  first: number,
): { columns: string[]; placeholders: string[]; values: unknown[] } {
  const given = allowed.filter(([column]) => fields[column] !== undefined);
  return {
    columns: given.map(([column]) => column),
    placeholders: given.map(([, type], i) => `$${first + i}::${type}`),
    values: given.map(([column, type]) => (type === "jsonb" && fields[column] !== null ? JSON.stringify(fields[column]) : fields[column])),
  };
}

function parseRows<T>(schema: z.ZodType<T>, rows: unknown[]): T[] {
  return rows.map((row) => schema.parse(row));
}

/** The workspace's schedules, by name (at most `limit`). */
export async function listSchedules(db: Queryable, options: { limit: number; agentId?: string | null }): Promise<ScheduleRow[]> {
  const { rows } = await db.query(
    `select ${SCHEDULE_COLUMNS} from everruns.schedules s
      where $2::uuid is null or s.agent_id = $2
      order by s.name limit $1`,
    [options.limit, options.agentId ?? null],
  );
  return parseRows(ScheduleRowSchema, rows);
}

/** One schedule by id, or null. */
export async function getSchedule(db: Queryable, id: string): Promise<ScheduleRow | null> {
  const { rows } = await db.query(`select ${SCHEDULE_COLUMNS} from everruns.schedules s where s.id = $1`, [id]);
  return rows[0] ? ScheduleRowSchema.parse(rows[0]) : null;
}

/**
 * Inserts a schedule of the agent named by `input.agent` (id or name; an id wins): finding the
 * agent and inserting is one statement, so zero rows back means no such agent in the workspace.
 * The trigger's refusals (unknown time zone, an invalid input: EV003) and a taken name (23505)
 * come back through fromDatabaseError.
 */
export async function createSchedule(db: Queryable, input: NewSchedule): Promise<ScheduleRow> {
  const { columns, placeholders, values } = givenColumns(input as unknown as Record<string, unknown>, SCHEDULE_FIELDS, 3);
  try {
    const { rows } = await db.query(
      `with inserted as (
         insert into everruns.schedules (agent_id, ${columns.join(", ")})
         select a.id, ${placeholders.join(", ")} from everruns.agents a
          where a.id = $1::uuid or a.name = $2
          order by (a.id = $1::uuid) desc nulls last
          limit 1
         returning *)
       select ${SCHEDULE_COLUMNS} from inserted s`,
      [isUuid(input.agent) ? input.agent : null, input.agent, ...values],
    );
    if (!rows[0]) throw new NotFoundError(`no agent with id or name "${input.agent}" in this workspace`);
    return ScheduleRowSchema.parse(rows[0]);
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Changes the given fields of a schedule (not its agent nor `thread`); null when there is none. */
export async function updateSchedule(db: Queryable, id: string, fields: Omit<ScheduleFields, "thread">): Promise<ScheduleRow | null> {
  const settable = SCHEDULE_FIELDS.filter(([column]) => column !== "thread");
  const { columns, placeholders, values } = givenColumns(fields, settable, 2);
  if (columns.length === 0) return getSchedule(db, id);
  try {
    const { rows } = await db.query(
      `with updated as (
         update everruns.schedules set ${columns.map((c, i) => `${c} = ${placeholders[i]}`).join(", ")}
          where id = $1 returning *)
       select ${SCHEDULE_COLUMNS} from updated s`,
      [id, ...values],
    );
    return rows[0] ? ScheduleRowSchema.parse(rows[0]) : null;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** Pauses a schedule (with an optional note: the audit log keeps it); null when there is none. */
export async function pauseSchedule(db: Queryable, id: string, note: string | null): Promise<ScheduleRow | null> {
  return updateSchedule(db, id, { paused: true, paused_note: note });
}

/** Resumes a schedule: what came due while it was paused is not caught up (the schedules trigger). */
export async function resumeSchedule(db: Queryable, id: string): Promise<ScheduleRow | null> {
  return updateSchedule(db, id, { paused: false, paused_note: null });
}

/** Deletes a schedule (its fires go with it; its runs stay, schedule_id set null). Whether there was one. */
export async function deleteSchedule(db: Queryable, id: string): Promise<boolean> {
  try {
    const { rowCount } = await db.query("delete from everruns.schedules where id = $1", [id]);
    return (rowCount ?? 0) > 0;
  } catch (error) {
    throw fromDatabaseError(error);
  }
}

/** A schedule's fires, newest occurrence first, before `before` when given, with their runs' statuses. */
export async function listScheduleFires(db: Queryable, scheduleId: string, options: { limit: number; before?: Date | null }): Promise<ScheduleFireRow[]> {
  const { rows } = await db.query(
    `select f.id, f.schedule_id, f.occurrence_at, f.status, f.reason, f.run_id, r.status as run_status, f.fired_at, f.started_at
       from everruns.schedule_fires f left join everruns.runs r on r.id = f.run_id
      where f.schedule_id = $1 and ($3::timestamptz is null or f.occurrence_at < $3)
      order by f.occurrence_at desc limit $2`,
    [scheduleId, options.limit, options.before ?? null],
  );
  return parseRows(ScheduleFireRowSchema, rows);
}
