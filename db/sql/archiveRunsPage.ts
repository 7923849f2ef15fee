import { z } from "zod";
import type { Queryable } from "../pool.ts";

/** Timestamps in the archive: UTC, microseconds, fixed width (so that they sort as strings). */
export const utcText = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const ArchiveRunSchema = z.object({
  id: z.string(),
  workspace_name: z.string(),
  /** runs.finished_at as utcText: the day file and the order within it */
  finished_at: z.string(),
  /** the run's summary line, one JSON object (row_to_json: compact, keys in the documented order) */
  summary: z.string(),
});
export type ArchiveRun = z.infer<typeof ArchiveRunSchema>;

export interface ArchiveCursor {
  finishedAt: string;
  id: string;
}

export const ARCHIVE_START: ArchiveCursor = { finishedAt: "-infinity", id: "00000000-0000-0000-0000-000000000000" };

/**
 * Which runs a page reads, by the clock retention counts from (everruns_private.retention_clock,
 * 000038: when a run finished, or later when another run still read its history after that: the
 * continuation of an interrupted run, a rerun from one of its steps):
 * - "ended": succeeded, failed or cancelled runs, by finished_at (where their clock starts);
 * - "later": the runs whose clock moved past finished_at (every interrupted run another run
 *   continued, and runs rerun from a step), by that clock: an interrupt answered weeks later is
 *   archived by the archive of the day it was answered, before retention (which waits
 *   retention_days from that day).
 * Both come in (finished_at, id) order, the order of a day file. A run of "ended" whose clock
 * moved later is read again by "later": the same line, merged in place.
 */
export type ArchivePass = "ended" | "later";

// Keyset pages in (finished_at, id) order: a page is a range scan of runs_finished_idx from the
// last run of the page before, so memory and the cost of a page stay the same whatever the number
// of runs. Every workspace's runs come in that order, so each (workspace, day) file is written
// from start to end once per pass. The summary is built by Postgres (row_to_json keeps the column
// order and writes compact JSON; jsonb values print as stored), id and finished_at first: a day
// file's order is read back from the start of its lines. No secret is read; the workspace and the
// agent give only their names. Runs whose history retention removed are left out.
const select = (where: string) => `
select r.id, w.name as workspace_name, ${utcText("r.finished_at")} as finished_at,
       row_to_json(s)::text as summary
  from everruns.runs r
  join everruns.workspaces w on w.id = r.workspace_id
  join everruns.agents a on a.id = r.agent_id
  cross join lateral (
    select r.id, ${utcText("r.finished_at")} as finished_at, r.status, r.workspace_id, w.name as workspace,
           r.agent_id, a.name as agent_name, r.agent_version,
           r.thread_id, r.parent_run_id, r.caller_run_id, r.root_run_id, r.rerun_of, r.continued_by, r.batch_id, r.schedule_id,
           ${utcText("r.created_at")} as created_at, ${utcText("r.started_at")} as started_at,
           r.usage, (r.usage ->> 'cost_usd')::numeric as cost_usd, r.step_cursor - 1 as steps, r.event_seq as events,
           r.input, r.output, r.error, r.interrupts, r.state
  ) s
 where ${where}
   and r.history_expired_at is null
   and r.finished_at is not null
   and (r.finished_at, r.id) > ($3::timestamptz, $4::uuid)
   and ($5::uuid is null or r.workspace_id = $5)
 order by r.finished_at, r.id
 limit $6`;

const PAGES: Record<ArchivePass, string> = {
  ended: select("r.status in ('succeeded', 'failed', 'cancelled') and r.finished_at >= $1::timestamptz and r.finished_at < $2::timestamptz"),
  // every run with its history still there that finished before DATE is looked at (the clock is
  // never before finished_at): the runs within retention, a few index probes each
  later: select(`r.finished_at < $2::timestamptz
   and (r.status in ('succeeded', 'failed', 'cancelled') or (r.status = 'interrupted' and r.continued_by is not null))
   and (r.status = 'interrupted' or everruns_private.retention_clock(r) > r.finished_at)
   and everruns_private.retention_clock(r) >= $1::timestamptz and everruns_private.retention_clock(r) < $2::timestamptz`),
};

/**
 * Up to `limit` runs of `pass` whose clock is in [from, before) (from null: no lower bound), after
 * `cursor` in (finished_at, id) order, whose history is still there.
 */
export async function readArchiveRunsPage(
  db: Queryable,
  options: { pass: ArchivePass; from: string | null; before: string; cursor: ArchiveCursor; workspaceId: string | null; limit: number },
): Promise<ArchiveRun[]> {
  const { rows } = await db.query(PAGES[options.pass], [
    options.from ?? "-infinity",
    options.before,
    options.cursor.finishedAt,
    options.cursor.id,
    options.workspaceId,
    options.limit,
  ]);
  return rows.map((row) => ArchiveRunSchema.parse(row));
}
