// How runs are admitted (everruns_private.scheduler, 000023): fair share across workspaces on
// (the default) or off (FIFO), and the admission window while no worker is registered. An
// administrator's setting (the CLI's `everruns scheduler`, on the owner's connection).
import type { Queryable } from "../pool.ts";

export interface SchedulerSettings {
  fair: boolean;
  /** Runs admitted at once over all shared workspaces while no worker is registered. */
  minWindow: number;
  /** The shared window now, as admit_runs counts it (000024): the live shared workers' slots (--max-in-flight), or minWindow. */
  window: number;
  /** Runs of shared workspaces holding a slot or due to. */
  active: number;
  /** Queued runs waiting for admission, over all workspaces. */
  pending: number;
  updatedAt: string;
}

interface SchedulerRow {
  fair: boolean;
  min_window: number;
  window: string;
  active: string;
  pending: string;
  updated_at: Date;
}

const READ = `select s.fair, s.min_window, s.updated_at,
       coalesce((select nullif(sum(w.concurrency), 0) from everruns_private.live_workers w where w.workspace_id is null), s.min_window) as window,
       (select count(*) from everruns.runs r
         where (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))
           and not exists (select from everruns_private.workspace_limits l where l.workspace_id = r.workspace_id and l.dedicated)) as active,
       (select count(*) from everruns.runs r where r.status = 'queued' and r.admitted_at is null) as pending
  from everruns_private.scheduler s where s.id = 1`;

function toSettings(row: SchedulerRow): SchedulerSettings {
  return {
    fair: row.fair,
    minWindow: row.min_window,
    window: Number(row.window),
    active: Number(row.active),
    pending: Number(row.pending),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/** A workspace with runs waiting for a slot or holding one: what an on-call engineer looks at first. */
export interface WorkspaceQueue {
  workspace: string;
  /** Queued runs waiting for admission. */
  waiting: number;
  /** Runs holding a worker slot or due to. */
  active: number;
  /** When the longest-waiting one was queued (null: none waits). */
  oldestWaitingSince: string | null;
  weight: number;
  maxRunningRuns: number | null;
  dedicated: boolean;
}

interface WorkspaceQueueRow {
  workspace: string;
  waiting: string;
  active: string;
  oldest: Date | null;
  weight: number;
  max_running_runs: number | null;
  dedicated: boolean;
}

// counted over the two partial indexes of 000023 (runs_pending_idx, runs_active_idx): as many
// rows as runs wait or hold slots, on demand
const QUEUES = `with waiting as (
       select r.workspace_id, count(*) as n, min(r.created_at) as oldest
         from everruns.runs r where r.status = 'queued' and r.admitted_at is null group by r.workspace_id
     ), active as (
       select r.workspace_id, count(*) as n
         from everruns.runs r where r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null) group by r.workspace_id
     )
     select w.name as workspace, coalesce(q.n, 0) as waiting, coalesce(a.n, 0) as active, q.oldest,
            coalesce(l.weight, 1) as weight, l.max_running_runs, coalesce(l.dedicated, false) as dedicated
       from everruns.workspaces w
       left join waiting q on q.workspace_id = w.id
       left join active a on a.workspace_id = w.id
       left join everruns_private.workspace_limits l on l.workspace_id = w.id
      where q.n is not null or a.n is not null
      order by q.oldest nulls last, w.name`;

/** Every workspace with runs waiting for a slot or holding one, the longest wait first. */
export async function readWorkspaceQueues(db: Queryable): Promise<WorkspaceQueue[]> {
  const { rows } = await db.query<WorkspaceQueueRow>(QUEUES);
  return rows.map((r) => ({
    workspace: r.workspace,
    waiting: Number(r.waiting),
    active: Number(r.active),
    oldestWaitingSince: r.oldest ? new Date(r.oldest).toISOString() : null,
    weight: r.weight,
    maxRunningRuns: r.max_running_runs,
    dedicated: r.dedicated,
  }));
}

export async function readScheduler(db: Queryable): Promise<SchedulerSettings> {
  const { rows } = await db.query<SchedulerRow>(READ);
  return toSettings(rows[0]!);
}

/** Sets fair share on or off and/or min_window (null: unchanged); admits what the new setting lets in. */
export async function setScheduler(db: Queryable, fair: boolean | null, minWindow: number | null): Promise<SchedulerSettings> {
  await db.query("select everruns_private.set_scheduler($1, $2)", [fair, minWindow]);
  return readScheduler(db);
}
