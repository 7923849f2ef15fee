// How runs are admitted (everruns_private.scheduler, 000023): fair share across workspaces on
// (the default) or off (FIFO), and the admission window while no worker is registered. An
// administrator's setting (the CLI's `everruns scheduler`, on the owner's connection).
import type { Queryable } from "../pool.ts";

export interface SchedulerSettings {
  fair: boolean;
  /** Runs admitted at once over all shared workspaces while no worker is registered. */
  minWindow: number;
  /** The shared window now: the live shared workers' slots (--max-in-flight), or minWindow. */
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
       coalesce((select nullif(sum(w.concurrency), 0) from everruns_private.workers w where w.workspace_id is null), s.min_window) as window,
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

export async function readScheduler(db: Queryable): Promise<SchedulerSettings> {
  const { rows } = await db.query<SchedulerRow>(READ);
  return toSettings(rows[0]!);
}

/** Sets fair share on or off and/or min_window (null: unchanged); admits what the new setting lets in. */
export async function setScheduler(db: Queryable, fair: boolean | null, minWindow: number | null): Promise<SchedulerSettings> {
  await db.query("select everruns_private.set_scheduler($1, $2)", [fair, minWindow]);
  return readScheduler(db);
}
