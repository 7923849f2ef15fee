// The schedule ticker's calls (worker/schedule-ticker.ts; the functions are in
// db/migrations/000026_triggers.sql, section 6): which schedules to look at, one schedule locked
// with the database clock, and the fire that records what the ticker computed from it.
import { z } from "zod";
import type { Queryable } from "../pool.ts";

/**
 * The ids of the schedules a ticker should look at now, at most `limit` of each kind: due
 * (next_fire_at reached), not computed yet (next_fire_at null), or with run ends to fold; none of
 * `exclude` (the ones the ticker backs off from, or has tried this tick), so that they never take
 * the limit's places.
 */
export async function dueSchedules(db: Queryable, limit: number, exclude: readonly string[] = []): Promise<string[]> {
  const { rows } = await db.query<{ id: unknown }>("select s as id from everruns_private.due_schedules($1, $2::uuid[]) s", [limit, exclude]);
  return rows.map((row) => z.uuid().parse(row.id));
}

const TickedScheduleSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  cron: z.string().nullable(),
  interval_seconds: z.number().int().nullable(),
  timezone: z.string(),
  catch_up: z.enum(["skip", "once", "all"]),
  catch_up_max: z.number().int(),
  misfire_grace_seconds: z.number().int(),
  paused: z.boolean(),
  next_fire_at: z.date().nullable(),
  /** next_fire_at as Postgres writes it (microseconds kept): handed back as fire_schedule's expected value */
  next_fire_at_text: z.string().nullable(),
  created_at: z.date(),
  /** everruns_private.clock() in the locking transaction */
  clock: z.date(),
});
/** A schedule as the ticker computes from it, with the database clock of its transaction. */
export type TickedSchedule = z.infer<typeof TickedScheduleSchema>;

/**
 * Locks schedule `id` for this transaction (skip locked) and reads it with the database clock.
 * null when another ticker holds it or it is gone. Call inside a transaction, first: the row stays
 * locked until fireSchedule's commit.
 */
export async function lockScheduleForTick(db: Queryable, id: string): Promise<TickedSchedule | null> {
  const { rows } = await db.query(
    `select (t.schedule).id, (t.schedule).name, (t.schedule).cron, (t.schedule).interval_seconds, (t.schedule).timezone,
            (t.schedule).catch_up, (t.schedule).catch_up_max, (t.schedule).misfire_grace_seconds, (t.schedule).paused,
            (t.schedule).next_fire_at, (t.schedule).next_fire_at::text as next_fire_at_text, (t.schedule).created_at, t.clock
       from everruns_private.lock_schedule_for_tick($1) t`,
    [id],
  );
  return rows[0] === undefined ? null : TickedScheduleSchema.parse(rows[0]);
}

export interface ScheduleFirePlan {
  /** the schedule's next_fire_at as lockScheduleForTick read it (its text): a stale plan fires nothing */
  expectedNext: string | null;
  /** occurrences to fire, oldest first */
  fire: Date[];
  /** occurrences the catch-up policy dropped */
  missed: number;
  /** the schedule's next occurrence (null only with specError) */
  next: Date | null;
  /** why the occurrences cannot be computed: the schedule is paused with it */
  specError?: string | null;
}

/**
 * Folds the schedule's ended runs, fires the plan's occurrences under its overlap policy and
 * advances next_fire_at (everruns_private.fire_schedule); returns the runs started.
 */
export async function fireSchedule(db: Queryable, id: string, plan: ScheduleFirePlan): Promise<number> {
  const { rows } = await db.query<{ started: unknown }>(
    "select everruns_private.fire_schedule($1, $2::timestamptz, $3::timestamptz[], $4, $5, $6) as started",
    [id, plan.expectedNext, plan.fire, plan.missed, plan.next, plan.specError ?? null],
  );
  return z.number().int().parse(rows[0]?.started);
}
