-- 000023: fair execution across workspaces (issue 14): exact running limits, weighted fair share,
-- priorities, and an explanation of why a run waits.
--
-- Admission. A new run is `queued`; it is ADMITTED (runs.admitted_at set, its first run_step job
-- added) either at once, in its inserting transaction, or later, when a slot frees, by the
-- transaction that frees it. A queued run that is not admitted has no job: nothing can start it
-- but admit_runs. A run is ACTIVE (holds a worker slot or is due to) from its admission until it
-- waits, finishes or is cancelled: status 'running', or 'queued' and admitted (runs_active_idx).
--
-- * max_running_runs (everruns_private.workspace_limits): a workspace's active runs never exceed
--   it. Every admission of the workspace's runs counts its active runs after locking its limits
--   row, so concurrent admissions queue there and each sees what the one before committed
--   (the count is a statement after the lock: READ COMMITTED takes a fresh snapshot). A waiting
--   run whose timer or event wakes it while its workspace is full goes back to `queued`, not
--   admitted, keeping what it waited for (begin_step → wake_or_park); it is admitted in its turn.
-- * Fair share (everruns_private.scheduler.fair, on by default): at most `window` runs of shared
--   workspaces are active at once, where window = the live shared workers' capacity (the sum of
--   their --max-in-flight), or min_window while no worker is registered. Each workspace with
--   runs waiting has a share of the window in proportion to its weight (rounded up); a free slot
--   goes to a workspace below its share, drawn at random in proportion to the weights (all at
--   their share: to any of them, the same way). So a flood from one workspace takes the slots
--   only while nobody else waits, another's new run takes the next slot that frees, and over
--   time admissions follow the weights even where the window cannot be split exactly.
--   The window is soft: it takes no lock (a global lock held to each commit halved throughput:
--   measured 0.38x of FIFO with one, 0.67x without, everruns bench --only fairness), so two
--   transactions may both fill the last slot (one run over, for a moment), and a run inserted as
--   the last slot frees may wait for the next slot or the sweep (repair_orphaned_runs, about
--   every second). max_running_runs, which users rely on, stays exact. A waking run is due
--   already: it takes a slot over the window (never over max_running_runs).
--   Off: every run is admitted at insert (FIFO, as before 000023), except those of a workspace
--   at its max_running_runs.
--   A dedicated workspace (its own workers: everruns worker --workspace) admits by its
--   max_running_runs only and takes no shared slot; its jobs are run_step:<workspace id>.
-- * Within a workspace, runs are admitted by queue_at: created_at minus priority minutes
--   (runs.priority, -1000..1000, higher first; default the agent's config.priority, else 0; a
--   continuation keeps its parent's). A priority-100 run goes ahead of every run of its
--   workspace queued less than 100 minutes before it; an older run goes first whatever its
--   priority, so no run waits behind newer ones for ever (starvation-free: at most 2,000
--   minutes' worth of newer runs can pass a queued run).
-- * When a slot frees (tg_runs__release_slot: a run stops being active), when a worker
--   registers (more capacity), when limits change, and about every second in every worker's
--   repair_orphaned_runs call (the safety net), admit_runs fills the free slots.
-- * Daily quotas (max_tokens_per_day, max_cost_usd_per_day): counted per UTC day as LLM steps
--   commit (tg_run_steps__quota_usage, while a quota is set); begin_step tells the worker when
--   one is used up (start_attempt_locked's `quota`), and the worker parks an LLM step as waiting
--   {type: quota} until the next midnight or a raise (set_workspace_admission wakes them).
-- * explain_queue(run_id): where a queued run stands, what holds it back, and an estimate.
--
-- Additive: new columns (with defaults), tables, functions, triggers and indexes; begin_step,
-- start_attempt_locked, register_worker, repair_orphaned_runs, requeue_run, enqueue_step,
-- sweep_dead_workers, set_workspace_limits, bind_role and tg_runs__enqueue keep their
-- signatures and meaning for their callers. Runs active or waiting
-- when this migrates are admitted (they have their jobs).

alter table everruns.runs
  add column priority smallint not null default 0,
  add column admitted_at timestamptz,
  add column queue_at timestamptz;
alter table everruns.runs add constraint runs_priority_check check (priority between -1000 and 1000) not valid;
comment on column everruns.runs.priority is 'Higher first within its workspace (-1000..1000; default the agent''s config.priority, else 0): admitted as if queued priority minutes earlier.';
comment on column everruns.runs.admitted_at is 'When the run was admitted (given a worker slot); null while it waits for one.';
comment on column everruns.runs.queue_at is 'The run''s place in its workspace''s queue: created_at minus priority minutes.';

update everruns.runs set admitted_at = coalesce(started_at, created_at)
 where status in ('queued', 'running', 'waiting') and admitted_at is null;

-- queued and not admitted, in admission order per workspace
create index runs_pending_idx on everruns.runs (workspace_id, queue_at, id)
  where status = 'queued' and admitted_at is null;
-- active: holding a worker slot or due to
create index runs_active_idx on everruns.runs (workspace_id)
  where status = 'running' or (status = 'queued' and admitted_at is not null);

alter table everruns_private.workspace_limits
  add column max_running_runs integer check (max_running_runs > 0),
  add column weight integer not null default 1 check (weight between 1 and 1000),
  add column max_tokens_per_day bigint check (max_tokens_per_day > 0),
  add column max_cost_usd_per_day numeric(14, 6) check (max_cost_usd_per_day > 0),
  add column dedicated boolean not null default false;
comment on column everruns_private.workspace_limits.max_running_runs is 'At most this many runs of the workspace active (holding a worker slot or due to) at once; more wait queued.';
comment on column everruns_private.workspace_limits.weight is 'Fair share: worker slots go to workspaces in proportion to their weight (1..1000).';
comment on column everruns_private.workspace_limits.max_tokens_per_day is 'Quota: input + output tokens of the workspace''s LLM steps per UTC day; over it, new LLM steps park (waiting, type quota) until the day rolls over or the quota is raised.';
comment on column everruns_private.workspace_limits.max_cost_usd_per_day is 'Quota: cost of the workspace''s LLM steps per UTC day (USD); as max_tokens_per_day.';
comment on column everruns_private.workspace_limits.dedicated is 'The workspace''s steps run only on workers started for it (everruns worker --workspace); shared workers never take them, and its runs take no shared slot.';

-- a workspace's LLM usage per UTC day, kept while it has a quota (tg_run_steps__quota_usage)
create table everruns_private.workspace_usage_days (
  workspace_id uuid not null references everruns.workspaces on delete cascade,
  day date not null,
  tokens bigint not null default 0,
  cost_usd numeric not null default 0,
  primary key (workspace_id, day)
);
comment on table everruns_private.workspace_usage_days is 'LLM tokens and cost per workspace and UTC day, counted while the workspace has a daily quota (000023).';

-- the workers of one workspace (everruns worker --workspace): null = shared
alter table everruns_private.workers add column workspace_id uuid references everruns.workspaces on delete cascade;

create table everruns_private.scheduler (
  id integer primary key default 1 check (id = 1),
  fair boolean not null default true,
  min_window integer not null default 256 check (min_window > 0),
  updated_at timestamptz not null default now()
);
comment on table everruns_private.scheduler is 'How runs are admitted (000023): fair share across workspaces on or off (FIFO), and the window while no worker is registered. Change with set_scheduler.';
insert into everruns_private.scheduler (id) values (1);

---------------------------------------------------------------------------------------------
-- Admission.
---------------------------------------------------------------------------------------------
-- The graphile-worker task of a workspace's step jobs: run_step, or run_step:<workspace id> for
-- a dedicated workspace (only workers started with --workspace for it run that task).
create function everruns_private.step_task(p_workspace uuid) returns text
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
  select case when exists (select from everruns_private.workspace_limits l where l.workspace_id = p_workspace and l.dedicated)
              then 'run_step:' || p_workspace::text else 'run_step' end
$$;
comment on function everruns_private.step_task(uuid) is 'run_step, or run_step:<workspace id> for a dedicated workspace (000023).';
revoke execute on function everruns_private.step_task(uuid) from public;

-- Admits queued runs into free slots and gives each its first job; returns how many. Called in
-- the transaction that inserted runs, freed a slot or changed a limit. p_workspaces: the
-- workspaces whose runs changed (null: all); with fair share on every workspace competes for a
-- free slot whatever it names.
create function everruns_private.admit_runs(p_workspaces uuid[] default null) returns integer
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_fair boolean;
  v_min_window integer;
  v_window bigint;
  v_free bigint;
  v_any_dedicated boolean;
  v_ws uuid[];
  v_active bigint[];
  v_weight integer[];
  v_limit integer[];
  v_dedicated boolean[];
  v_cap double precision[];
  v_open boolean[];
  v_row record;
  v_lim integer;
  v_wt integer;
  v_ded boolean;
  v_total_weight bigint;
  v_pool integer[];
  v_pool_weight bigint;
  v_draw double precision;
  v_best integer;
  v_run uuid;
  v_ids uuid[];
  v_admitted uuid[] := '{}';
  i integer;
begin
  -- nothing waits (the common case without a backlog): one probe of runs_pending_idx
  if not exists (select from everruns.runs r where r.status = 'queued' and r.admitted_at is null) then
    return 0;
  end if;
  select s.fair, s.min_window into v_fair, v_min_window from everruns_private.scheduler s where s.id = 1;
  v_fair := coalesce(v_fair, true);
  if v_fair then
    -- the shared window: the shared workers' slots, less the active runs of shared workspaces
    -- (a dedicated workspace's runs hold its own workers' slots)
    select coalesce(nullif(sum(w.concurrency), 0), v_min_window, 256) into v_window
      from everruns_private.workers w where w.workspace_id is null;
    v_any_dedicated := exists (select from everruns_private.workspace_limits l where l.dedicated);
    v_free := v_window - (select count(*) from everruns.runs r
                           where (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))
                             and not (v_any_dedicated and exists (select from everruns_private.workspace_limits l
                                                                   where l.workspace_id = r.workspace_id and l.dedicated)));
    if v_free <= 0 and not v_any_dedicated then
      return 0;
    end if;
  end if;

  -- The workspaces with runs to admit: a loose scan of runs_pending_idx, one probe per workspace
  -- however many runs wait. A workspace with a running limit is counted under its limits row's
  -- lock: the workspaces this transaction changed (p_workspaces) wait for it; another's row
  -- that some other transaction holds is skipped (that transaction admits for it, or the sweep).
  for v_row in
    with recursive pending as (
      (select r.workspace_id from everruns.runs r
        where r.status = 'queued' and r.admitted_at is null
        order by r.workspace_id limit 1)
      union all
      select (select r.workspace_id from everruns.runs r
               where r.status = 'queued' and r.admitted_at is null and r.workspace_id > p.workspace_id
               order by r.workspace_id limit 1)
        from pending p where p.workspace_id is not null
    )
    select p.workspace_id from pending p
     where p.workspace_id is not null and (v_fair or p_workspaces is null or p.workspace_id = any (p_workspaces))
     order by p.workspace_id
  loop
    v_lim := null; v_wt := 1; v_ded := false;
    select l.max_running_runs, l.weight, l.dedicated into v_lim, v_wt, v_ded
      from everruns_private.workspace_limits l where l.workspace_id = v_row.workspace_id;
    if v_lim is not null then
      if v_row.workspace_id = any (coalesce(p_workspaces, '{}')) then
        select l.max_running_runs into v_lim from everruns_private.workspace_limits l
         where l.workspace_id = v_row.workspace_id for update;
      else
        select l.max_running_runs into v_lim from everruns_private.workspace_limits l
         where l.workspace_id = v_row.workspace_id for update skip locked;
        continue when not found;
      end if;
    end if;
    v_ws := v_ws || v_row.workspace_id;
    v_limit := v_limit || v_lim;
    v_weight := v_weight || coalesce(v_wt, 1);
    v_dedicated := v_dedicated || coalesce(v_ded, false);
    -- a statement after the lock: it sees what the admissions before committed
    v_active := v_active || (select count(*) from everruns.runs r
                              where r.workspace_id = v_row.workspace_id
                                and (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null)));
  end loop;
  if v_ws is null then
    return 0;
  end if;
  v_open := array_fill(true, array[array_length(v_ws, 1)]);

  -- FIFO (fair share off), and a dedicated workspace always: each admits what its
  -- max_running_runs leaves room for (no limit: all)
  for i in 1 .. array_length(v_ws, 1) loop
    if not v_fair or v_dedicated[i] then
      v_open[i] := false;
      with picked as (
        select r.id from everruns.runs r
         where r.workspace_id = v_ws[i] and r.status = 'queued' and r.admitted_at is null
         order by r.queue_at, r.id
         limit case when v_limit[i] is null then null else greatest(0, v_limit[i] - v_active[i]) end
           for update skip locked
      ), admitted as (
        update everruns.runs r set admitted_at = now() from picked where r.id = picked.id returning r.id
      )
      select coalesce(array_agg(a.id), '{}') into v_ids from admitted a;
      v_admitted := v_admitted || v_ids;
    end if;
  end loop;

  if v_fair and v_free > 0 then
    -- Weighted fair share, one free slot at a time. Each workspace waiting for slots has a share
    -- of the window in proportion to its weight (rounded up); the slot goes to a workspace below
    -- its share, drawn at random in proportion to the weights (when every one is at its share:
    -- to any, the same way). So a workspace that floods the queue takes the slots only while
    -- nobody else waits, another's run takes the next slot that frees, and over time each
    -- workspace's admissions follow its weight also when the window is too small to split
    -- exactly (16 slots at 1:2:4 are 2.3 / 4.6 / 9.1: a fixed split would be 12.5 / 31 / 56 %).
    v_total_weight := 0;
    for i in 1 .. array_length(v_ws, 1) loop
      if v_open[i] then
        v_total_weight := v_total_weight + v_weight[i];
      end if;
    end loop;
    v_cap := array_fill(0::double precision, array[array_length(v_ws, 1)]);
    for i in 1 .. array_length(v_ws, 1) loop
      if v_open[i] then
        v_cap[i] := ceil(v_window::double precision * v_weight[i] / v_total_weight);
      end if;
    end loop;
    while v_free > 0 loop
      -- below its share first; else any workspace that may still admit (plain loops: this runs
      -- in the transaction of every run that ends)
      v_pool := '{}';
      v_pool_weight := 0;
      for i in 1 .. array_length(v_ws, 1) loop
        if v_open[i] and (v_limit[i] is null or v_active[i] < v_limit[i]) and v_active[i] < v_cap[i] then
          v_pool := v_pool || i;
          v_pool_weight := v_pool_weight + v_weight[i];
        end if;
      end loop;
      if v_pool_weight = 0 then
        for i in 1 .. array_length(v_ws, 1) loop
          if v_open[i] and (v_limit[i] is null or v_active[i] < v_limit[i]) then
            v_pool := v_pool || i;
            v_pool_weight := v_pool_weight + v_weight[i];
          end if;
        end loop;
      end if;
      exit when v_pool_weight = 0;
      v_draw := random() * v_pool_weight;
      foreach i in array v_pool loop
        v_best := i;
        v_draw := v_draw - v_weight[i];
        exit when v_draw < 0;
      end loop;
      select r.id into v_run from everruns.runs r
       where r.workspace_id = v_ws[v_best] and r.status = 'queued' and r.admitted_at is null
       order by r.queue_at, r.id
       limit 1
         for update skip locked;
      if v_run is null then
        v_open[v_best] := false;
        continue;
      end if;
      update everruns.runs r set admitted_at = now() where r.id = v_run;
      v_admitted := v_admitted || v_run;
      v_active[v_best] := v_active[v_best] + 1;
      v_free := v_free - 1;
    end loop;
  end if;

  if cardinality(v_admitted) = 0 then
    return 0;
  end if;
  -- as tg_runs__enqueue (000018): the run's first job, the same spec enqueue_step writes
  perform graphile_worker.add_jobs(array(
    select row(everruns_private.step_task(r.workspace_id), json_build_object('run_id', r.id), null, now(), 25, 'run:' || r.id::text, null, null)::graphile_worker.job_spec
      from everruns.runs r where r.id = any (v_admitted)), false);
  return cardinality(v_admitted);
end;
$$;
comment on function everruns_private.admit_runs(uuid[]) is 'Admits queued runs into free slots by max_running_runs and weighted fair share, and gives them their first jobs (000023).';
revoke execute on function everruns_private.admit_runs(uuid[]) from public;

-- Sets how runs are admitted: fair share on or off (FIFO), and the window while no worker is
-- registered (null: unchanged). Admits what the new settings let in. Administrators only.
create function everruns_private.set_scheduler(p_fair boolean, p_min_window integer default null)
  returns table (fair boolean, min_window integer, updated_at timestamptz)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  if p_min_window is not null and p_min_window < 1 then
    raise exception 'min_window must be at least 1, got %', p_min_window using errcode = 'EV010';
  end if;
  insert into everruns_private.scheduler as s (id, fair, min_window, updated_at)
  values (1, coalesce(p_fair, true), coalesce(p_min_window, 256), now())
  on conflict (id) do update
    set fair = coalesce(p_fair, s.fair), min_window = coalesce(p_min_window, s.min_window), updated_at = now();
  perform everruns_private.admit_runs(null);
  return query select s.fair, s.min_window, s.updated_at from everruns_private.scheduler s where s.id = 1;
end;
$$;
comment on function everruns_private.set_scheduler(boolean, integer) is 'Fair share across workspaces on or off (FIFO), and the admission window while no worker is registered (000023).';
revoke execute on function everruns_private.set_scheduler(boolean, integer) from public;

---------------------------------------------------------------------------------------------
-- New runs: their place in the queue, and admission at insert.
---------------------------------------------------------------------------------------------
-- After tg_runs__prepare (name order), which pinned the agent, the parent and created_at.
create function everruns_private.tg_runs__queue_order() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_config jsonb;
begin
  if new.priority = 0 then
    -- 0 (the default): the parent's, for a continuation; else the agent version's config.priority
    if new.parent_run_id is not null then
      select r.priority into new.priority from everruns.runs r where r.id = new.parent_run_id;
    else
      select v.config into v_config from everruns.agent_versions v
       where v.agent_id = new.agent_id and v.version = new.agent_version;
      if jsonb_typeof(v_config -> 'priority') = 'number' then
        new.priority := greatest(-1000, least(1000, round((v_config ->> 'priority')::numeric)))::smallint;
      end if;
    end if;
    new.priority := coalesce(new.priority, 0);
  elsif new.priority not between -1000 and 1000 then
    raise exception 'priority must be between -1000 and 1000, got %', new.priority using errcode = 'EV003',
      hint = 'Higher runs first: a run of priority p is admitted as if queued p minutes earlier.';
  end if;
  -- the clock, not the transaction's: the runs of one statement keep their insertion order
  new.queue_at := clock_timestamp() - make_interval(mins => new.priority);
  -- admitted at once unless fair share is on or its workspace has a running limit: then the
  -- statement's tg_runs__enqueue admits what fits (admit_runs)
  if not coalesce((select s.fair from everruns_private.scheduler s where s.id = 1), true)
     and not exists (select from everruns_private.workspace_limits l
                      where l.workspace_id = new.workspace_id and l.max_running_runs is not null) then
    new.admitted_at := now();
  else
    new.admitted_at := null;
  end if;
  return new;
end;
$$;
revoke execute on function everruns_private.tg_runs__queue_order() from public;
create trigger tg_runs__queue_order before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__queue_order();

-- 000018's enqueue, for the runs admitted at insert; the others go through admit_runs.
create or replace function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_specs graphile_worker.job_spec[];
  v_pending uuid[];
begin
  -- A statement trigger fires even when the statement inserted nothing.
  select array_agg(row(everruns_private.step_task(n.workspace_id), json_build_object('run_id', n.id), null, now(), 25, 'run:' || n.id::text, null, null)::graphile_worker.job_spec)
           filter (where n.admitted_at is not null),
         array_agg(distinct n.workspace_id) filter (where n.admitted_at is null)
    into v_specs, v_pending
    from new_runs n;
  if v_specs is null and v_pending is null then
    return null;
  end if;

  -- A continuation marks the run it answers (000018).
  update everruns.runs r
     set continued_by = c.id, updated_at = now()
    from (select distinct on (x.parent_run_id) x.parent_run_id, x.id
            from (select n.parent_run_id, n.id, row_number() over () as ord
                    from new_runs n where n.parent_run_id is not null) x
           order by x.parent_run_id, x.ord desc) c
   where r.id = c.parent_run_id;

  if v_specs is not null then
    perform graphile_worker.add_jobs(v_specs, false);
  end if;
  if v_pending is not null then
    perform everruns_private.admit_runs(v_pending);
  end if;

  perform pg_notify('everruns:runs', n.id::text || ':' || n.workspace_id::text) from new_runs n;
  return null;
end;
$$;

---------------------------------------------------------------------------------------------
-- Freed slots, waking runs, workers, repair.
---------------------------------------------------------------------------------------------
create function everruns_private.tg_runs__release_slot() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.admit_runs(array[new.workspace_id]);
  return null;
end;
$$;
revoke execute on function everruns_private.tg_runs__release_slot() from public;
-- a run stops being active: it waits, finishes, is interrupted or cancelled
create trigger tg_runs__release_slot after update of status on everruns.runs
  for each row
  when (old.status is distinct from new.status and new.status not in ('queued', 'running')
        and (old.status = 'running' or (old.status = 'queued' and old.admitted_at is not null)))
  execute function everruns_private.tg_runs__release_slot();

-- A waiting run that its timer or an event wakes (begin_step, the run locked): true when it may
-- go on; false when its workspace is at max_running_runs, and then it is queued again, not
-- admitted, keeping `waiting` (its next step needs to know what it waited for), and admitted in
-- its turn (at its old place: queue_at).
create function everruns_private.wake_or_park(p_run everruns.runs) returns boolean
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_limit integer;
  v_active bigint;
begin
  if not exists (select from everruns_private.workspace_limits l
                  where l.workspace_id = p_run.workspace_id and l.max_running_runs is not null) then
    return true;
  end if;
  select l.max_running_runs into v_limit from everruns_private.workspace_limits l
   where l.workspace_id = p_run.workspace_id for update;
  if v_limit is null then
    return true;
  end if;
  select count(*) into v_active from everruns.runs r
   where r.workspace_id = p_run.workspace_id and (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null));
  if v_active < v_limit then
    return true;
  end if;
  update everruns.runs r
     set status = 'queued', admitted_at = null,
         queue_at = coalesce(r.queue_at, r.created_at - make_interval(mins => r.priority)), updated_at = now()
   where r.id = p_run.id;
  return false;
end;
$$;
revoke execute on function everruns_private.wake_or_park(everruns.runs) from public;

create or replace function everruns_private.begin_step(p_run_id uuid) returns jsonb
  language plpgsql
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found or v_run.status not in ('queued', 'running', 'waiting') then
    return null;
  end if;
  -- 000023: a run not admitted has no slot (nothing gives it a job but admit_runs); a waking run
  -- whose workspace is full waits for one
  if v_run.status = 'queued' and v_run.admitted_at is null then
    return null;
  end if;
  if v_run.status = 'waiting' and not everruns_private.wake_or_park(v_run) then
    return null;
  end if;
  return everruns_private.start_attempt_locked(v_run);
end;
$$;

-- More capacity: fill it.
create or replace function everruns_private.register_worker(p_pool_id text, p_hostname text, p_pid integer, p_concurrency integer)
  returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  insert into everruns_private.workers (pool_id, hostname, pid, concurrency, backend_pid, backend_start)
  select p_pool_id, p_hostname, p_pid, p_concurrency, a.pid, a.backend_start
  from pg_stat_activity a where a.pid = pg_backend_pid()
  on conflict (pool_id) do update
    set backend_pid = excluded.backend_pid, backend_start = excluded.backend_start;
  perform everruns_private.admit_runs(null);
end;
$$;

create or replace function everruns_private.requeue_run(p_run_id uuid) returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs where id = p_run_id;
  if not found or v_run.status not in ('queued', 'running', 'waiting')
     or (v_run.status = 'queued' and v_run.admitted_at is null) then
    return;  -- 000023: a run not admitted gets its job from admit_runs
  end if;
  perform everruns_private.enqueue_step(p_run_id);
end;
$$;

-- 000005's repair, leaving runs that wait for admission to admit_runs, which it calls first.
create or replace function everruns_private.repair_orphaned_runs() returns integer
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_run record;
  v_n int := 0;
begin
  -- 000023: the safety net of admission, on every call (about every second per worker; one
  -- index probe when nothing waits)
  perform everruns_private.admit_runs(null);
  update everruns_private.maintenance set repaired_at = now()
   where id = 1 and repaired_at < now() - interval '5 seconds';
  if not found then
    return 0;
  end if;
  perform everruns_private.sample_queue(); -- 000014
  for v_run in
    select r.id, r.status, r.waiting from everruns.runs r
    where r.status in ('queued', 'running', 'waiting')
      and not (r.status = 'queued' and r.admitted_at is null)
      and r.updated_at < now() - interval '5 seconds'
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts)
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id,
      case when v_run.status = 'waiting' then (v_run.waiting ->> 'until')::timestamptz end);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

---------------------------------------------------------------------------------------------
-- Dedicated workspaces: their step jobs are run_step:<workspace id>.
---------------------------------------------------------------------------------------------
create or replace function everruns_private.enqueue_step(p_run_id uuid, p_run_at timestamp with time zone default null)
  returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  perform graphile_worker.add_job(
    everruns_private.step_task((select r.workspace_id from everruns.runs r where r.id = p_run_id)),
    json_build_object('run_id', p_run_id),
    run_at => coalesce(p_run_at, now()),
    max_attempts => 25,
    job_key => 'run:' || p_run_id::text
  );
end;
$$;

-- 000005's sweep: a dedicated workspace's spent jobs are dropped too
create or replace function everruns_private.sweep_dead_workers(p_grace_ms integer DEFAULT 250)
 RETURNS text[]
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_dead text[];
  v_jobs int;
begin
  select array_agg(distinct j.locked_by) into v_dead
  from graphile_worker.jobs j
  where j.locked_by is not null
    and j.locked_at < now() - make_interval(secs => p_grace_ms / 1000.0)
    and not exists (select 1 from everruns_private.live_workers w where w.pool_id = j.locked_by);
  if v_dead is null then
    return '{}';
  end if;
  -- every job of a dead pool is freed, also one locked a moment before it died (a step just
  -- begun): count them all for the wake-up below
  select count(*) into v_jobs from graphile_worker.jobs j where j.locked_by = any (v_dead);
  perform everruns_private.attempts_of_dead_pools(v_dead);  -- 000013
  perform graphile_worker.force_unlock_workers(v_dead);
  delete from everruns_private.workers w where w.pool_id = any (v_dead);
  -- A job whose key a newer job of its run took over (add_job does that to a locked job and marks
  -- it spent: attempts = max_attempts) will never run again: drop it now.
  perform graphile_worker.complete_jobs(array(
    select j.id from graphile_worker.jobs j
    where (j.task_identifier = 'run_step' or j.task_identifier like 'run\_step:%') and j.key is null and j.locked_at is null
      and j.attempts >= j.max_attempts));
  -- Wake idle workers at once rather than at their next poll (graphile-worker listens on this
  -- channel for new jobs; a freed job is one to them). Measured without it: about half the
  -- resumes after kill -9 took 0.86-0.96 s (the 1 s poll).
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$function$;

-- A worker pool of one workspace (everruns worker --workspace): its slots are that workspace's.
create function everruns_private.register_worker(p_pool_id text, p_hostname text, p_pid integer, p_concurrency integer, p_workspace uuid)
  returns void
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  insert into everruns_private.workers (pool_id, hostname, pid, concurrency, backend_pid, backend_start, workspace_id)
  select p_pool_id, p_hostname, p_pid, p_concurrency, a.pid, a.backend_start, p_workspace
  from pg_stat_activity a where a.pid = pg_backend_pid()
  on conflict (pool_id) do update
    set backend_pid = excluded.backend_pid, backend_start = excluded.backend_start;
  perform everruns_private.admit_runs(null);
end;
$$;
revoke execute on function everruns_private.register_worker(text, text, integer, integer, uuid) from public;

-- The workspace `everruns worker --workspace <name or id>` serves, and whether it is dedicated:
-- for the worker's role, which reads no workspace itself. No row: no such workspace.
create function everruns_private.worker_workspace(p_ref text)
  returns table (id uuid, name text, dedicated boolean)
  language sql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
  select w.id, w.name, coalesce(l.dedicated, false)
    from everruns.workspaces w
    left join everruns_private.workspace_limits l on l.workspace_id = w.id
   where w.name = p_ref or w.id::text = lower(p_ref)
   limit 1
$$;
revoke execute on function everruns_private.worker_workspace(text) from public;

---------------------------------------------------------------------------------------------
-- Daily quotas: max_tokens_per_day, max_cost_usd_per_day.
---------------------------------------------------------------------------------------------
-- The workspace's used-up quota today (UTC), or null: {limit, used, max, resets_at, resets_in_ms}
-- (the database's clock: the worker parks for resets_in_ms).
create function everruns_private.quota_exceeded(p_workspace uuid) returns jsonb
  language plpgsql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_limits everruns_private.workspace_limits;
  v_usage everruns_private.workspace_usage_days;
  v_day date := (now() at time zone 'UTC')::date;
  v_resets timestamptz := ((now() at time zone 'UTC')::date + 1)::timestamp at time zone 'UTC';
begin
  select * into v_limits from everruns_private.workspace_limits l where l.workspace_id = p_workspace;
  if v_limits.max_tokens_per_day is null and v_limits.max_cost_usd_per_day is null then
    return null;
  end if;
  select * into v_usage from everruns_private.workspace_usage_days u where u.workspace_id = p_workspace and u.day = v_day;
  if v_limits.max_tokens_per_day is not null and coalesce(v_usage.tokens, 0) >= v_limits.max_tokens_per_day then
    return jsonb_build_object('limit', 'max_tokens_per_day', 'used', coalesce(v_usage.tokens, 0),
                              'max', v_limits.max_tokens_per_day, 'resets_at', v_resets,
                              'resets_in_ms', ceil(extract(epoch from v_resets - now()) * 1000));
  end if;
  if v_limits.max_cost_usd_per_day is not null and coalesce(v_usage.cost_usd, 0) >= v_limits.max_cost_usd_per_day then
    return jsonb_build_object('limit', 'max_cost_usd_per_day', 'used', coalesce(v_usage.cost_usd, 0),
                              'max', v_limits.max_cost_usd_per_day, 'resets_at', v_resets,
                              'resets_in_ms', ceil(extract(epoch from v_resets - now()) * 1000));
  end if;
  return null;
end;
$$;
comment on function everruns_private.quota_exceeded(uuid) is 'The workspace''s daily quota that is used up today (UTC), or null (000023).';
revoke execute on function everruns_private.quota_exceeded(uuid) from public;

-- Counts an LLM step's usage for its workspace's day while the workspace has a quota.
create function everruns_private.tg_run_steps__quota_usage() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  if exists (select from everruns_private.workspace_limits l
              where l.workspace_id = new.workspace_id
                and (l.max_tokens_per_day is not null or l.max_cost_usd_per_day is not null)) then
    insert into everruns_private.workspace_usage_days as u (workspace_id, day, tokens, cost_usd)
    values (new.workspace_id, (new.finished_at at time zone 'UTC')::date,
            coalesce((new.usage ->> 'input_tokens')::bigint, 0) + coalesce((new.usage ->> 'output_tokens')::bigint, 0),
            coalesce((new.usage ->> 'cost_usd')::numeric, 0))
    on conflict (workspace_id, day) do update
      set tokens = u.tokens + excluded.tokens, cost_usd = u.cost_usd + excluded.cost_usd;
  end if;
  return null;
end;
$$;
revoke execute on function everruns_private.tg_run_steps__quota_usage() from public;
create trigger tg_run_steps__quota_usage after insert on everruns.run_steps
  for each row when (new.kind = 'llm' and new.usage is not null)
  execute function everruns_private.tg_run_steps__quota_usage();

-- 000013's start_attempt_locked, with the workspace's used-up quota in what it returns
create or replace function everruns_private.start_attempt_locked(p_run everruns.runs, p_known boolean DEFAULT false)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
declare
  v_run everruns.runs;
  v_closed jsonb := '[]';
  v_history jsonb;
  v_worker record;
begin
  if p_run.event_seq > p_run.settled_event_seq then
    v_closed := everruns_private.settle_events_locked(p_run);
  end if;
  update everruns.runs
     set step_attempt = step_attempt + 1,
         status = 'running',
         started_at = coalesce(started_at, now()),
         step_started_at = now(),
         updated_at = now()
   where id = p_run.id
  returning * into v_run;
  -- 000013: the attempts this one supersedes end here, and this one is recorded with its worker
  if p_run.step_attempt > 0 then
    perform everruns_private.close_lost_attempts_locked(p_run.id, p_run.event_seq, v_run.event_seq);
    perform everruns_private.notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
  end if;
  select * into v_worker from everruns_private.job_worker(p_run.id);
  insert into everruns.run_attempts (run_id, seq, attempt, workspace_id, pool_id, hostname, worker_pid, events_from)
  values (v_run.id, v_run.step_cursor, v_run.step_attempt, v_run.workspace_id,
          v_worker.pool_id, v_worker.hostname, v_worker.pid, v_run.event_seq)
  on conflict (run_id, seq, attempt) do nothing;
  v_history := everruns_private.run_history(v_run.id, 'turn');
  -- `waiting` is returned as it was (the step needs to know what it waited for) and cleared
  -- at the step's commit.
  return jsonb_build_object(
    'run', case when p_known then to_jsonb(v_run) || '{"input": null}' else to_jsonb(v_run) end,
    'config', case when not p_known then
                (select config from everruns.agent_versions where agent_id = v_run.agent_id and version = v_run.agent_version) end,
    'history', v_history,
    -- LLM calls so far in this run and the runs it continues: the next call's index. The history
    -- starts at the last succeeded LLM step, and every LLM step the engine commits records its
    -- call index, so that is the last one's + 1; counted only for an LLM step written without
    -- one (by hand).
    'llm_count', coalesce(
      (select (e -> 'step' -> 'input' ->> 'call_index')::int + 1 from jsonb_array_elements(v_history) e
       where e -> 'step' ->> 'kind' = 'llm' and e -> 'step' ->> 'status' = 'succeeded' limit 1),
      (select count(*) from everruns_private.run_chain(v_run.id) c
       join everruns.run_steps s on s.run_id = c.id where s.kind = 'llm' and s.status = 'succeeded')),
    'signals', (select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'payload', g.payload) order by g.id), '[]')
                from everruns.run_signals g where g.run_id = v_run.id and g.consumed_at is null),
    'closed', v_closed,
    -- 000023: the workspace's daily quota, when it is used up (the worker parks LLM steps)
    'quota', everruns_private.quota_exceeded(v_run.workspace_id)
  );
end;
$function$;

---------------------------------------------------------------------------------------------
-- Limits, usage and the queue, for administrators and for the workspace itself.
---------------------------------------------------------------------------------------------
-- A workspace's limits (null: unlimited) and usage now. Security definer: counts every run of
-- the workspace whoever asks (administrators; the API through ops_workspace_admission).
create function everruns_private.workspace_admission(p_workspace uuid)
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 max_running_runs integer, weight integer,
                 max_tokens_per_day bigint, max_cost_usd_per_day numeric, dedicated boolean,
                 queued_runs bigint, pending_runs bigint, active_runs bigint, oldest_pending_at timestamptz,
                 tokens_today bigint, cost_usd_today numeric,
                 tokens double precision, updated_at timestamptz)
  language plpgsql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  if not exists (select from everruns.workspaces w where w.id = p_workspace) then
    raise exception 'unknown workspace %', p_workspace using errcode = 'EV005',
      hint = 'everruns workspaces list shows the workspaces.';
  end if;
  return query
    select o.workspace_id, o.workspace_name, o.max_queued_runs, o.runs_per_minute,
           l.max_running_runs, coalesce(l.weight, 1),
           l.max_tokens_per_day, l.max_cost_usd_per_day, coalesce(l.dedicated, false),
           o.queued_runs,
           (select count(*) from everruns.runs r where r.workspace_id = p_workspace and r.status = 'queued' and r.admitted_at is null),
           (select count(*) from everruns.runs r
             where r.workspace_id = p_workspace and (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))),
           (select min(r.created_at) from everruns.runs r where r.workspace_id = p_workspace and r.status = 'queued' and r.admitted_at is null),
           u.tokens, u.cost_usd,
           o.tokens, o.updated_at
      from everruns_private.workspace_limits_of(p_workspace) o
      left join everruns_private.workspace_limits l on l.workspace_id = p_workspace
      -- today's usage, counted while a quota is set (null: no quota)
      left join everruns_private.workspace_usage_days u
        on u.workspace_id = p_workspace and u.day = (now() at time zone 'UTC')::date
       and (l.max_tokens_per_day is not null or l.max_cost_usd_per_day is not null);
end;
$$;
comment on function everruns_private.workspace_admission(uuid) is 'A workspace''s limits (000021, 000023) and usage now: queued, not yet admitted, active runs, the oldest waiting (000023).';
revoke execute on function everruns_private.workspace_admission(uuid) from public;

-- Changes the limits p_limits names (keys max_queued_runs, runs_per_minute, max_running_runs,
-- max_tokens_per_day, max_cost_usd_per_day: a number, or null for unlimited; weight: 1..1000;
-- dedicated: a boolean), leaves the others, audits 'workspace.limits_set' {old, new}, admits
-- what the new limits let in and wakes the runs parked on a changed quota. EV005 unknown
-- workspace, EV010 a bad value or an unknown key.
create function everruns_private.set_workspace_admission(p_workspace uuid, p_limits jsonb)
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 max_running_runs integer, weight integer,
                 max_tokens_per_day bigint, max_cost_usd_per_day numeric, dedicated boolean,
                 queued_runs bigint, pending_runs bigint, active_runs bigint, oldest_pending_at timestamptz,
                 tokens_today bigint, cost_usd_today numeric,
                 tokens double precision, updated_at timestamptz)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_old everruns_private.workspace_limits;
  v_new everruns_private.workspace_limits;
  v_key text;
  v_value jsonb;
  v_max numeric;
  v_tokens double precision;
begin
  perform from everruns.workspaces w where w.id = p_workspace for key share;
  if not found then
    raise exception 'unknown workspace %', p_workspace using errcode = 'EV005',
      hint = 'everruns workspaces list shows the workspaces.';
  end if;
  if jsonb_typeof(p_limits) is distinct from 'object' then
    raise exception 'limits must be a JSON object, got %', coalesce(jsonb_typeof(p_limits), 'null') using errcode = 'EV010';
  end if;
  for v_key, v_value in select e.key, e.value from jsonb_each(p_limits) e loop
    if v_key not in ('max_queued_runs', 'runs_per_minute', 'max_running_runs', 'weight',
                     'max_tokens_per_day', 'max_cost_usd_per_day', 'dedicated') then
      raise exception 'unknown limit %', v_key using errcode = 'EV010',
        hint = 'The limits are max_queued_runs, runs_per_minute, max_running_runs, weight, max_tokens_per_day, max_cost_usd_per_day and dedicated.';
    end if;
    if v_key = 'dedicated' then
      if jsonb_typeof(v_value) is distinct from 'boolean' then
        raise exception 'dedicated must be true or false, got %', v_value using errcode = 'EV010';
      end if;
      continue;
    end if;
    if jsonb_typeof(v_value) = 'null' and v_key <> 'weight' then
      continue;
    end if;
    if v_key = 'max_cost_usd_per_day' then
      if jsonb_typeof(v_value) <> 'number' or (v_value #>> '{}')::numeric <= 0 or (v_value #>> '{}')::numeric >= 100000000 then
        raise exception 'max_cost_usd_per_day must be a number of dollars more than 0 and less than 100,000,000, got %', v_value
          using errcode = 'EV010', hint = 'Give null (none) for unlimited.';
      end if;
      continue;
    end if;
    v_max := case v_key when 'weight' then 1000 when 'max_tokens_per_day' then 1000000000000000 else 2147483647 end;
    if jsonb_typeof(v_value) <> 'number'
       or (v_value #>> '{}')::numeric <> trunc((v_value #>> '{}')::numeric)
       or (v_value #>> '{}')::numeric not between 1 and v_max then
      raise exception '% must be a whole number from 1 to %, got %', v_key, v_max, v_value
        using errcode = 'EV010',
              hint = case when v_key = 'weight' then 'The default weight is 1.' else 'Give null (none) for unlimited.' end;
    end if;
  end loop;

  select * into v_old from everruns_private.workspace_limits l where l.workspace_id = p_workspace for update;
  v_new.max_queued_runs := case when p_limits ? 'max_queued_runs' then (p_limits ->> 'max_queued_runs')::integer else v_old.max_queued_runs end;
  v_new.runs_per_minute := case when p_limits ? 'runs_per_minute' then (p_limits ->> 'runs_per_minute')::integer else v_old.runs_per_minute end;
  v_new.max_running_runs := case when p_limits ? 'max_running_runs' then (p_limits ->> 'max_running_runs')::integer else v_old.max_running_runs end;
  v_new.weight := case when p_limits ? 'weight' then (p_limits ->> 'weight')::integer else coalesce(v_old.weight, 1) end;
  v_new.max_tokens_per_day := case when p_limits ? 'max_tokens_per_day' then (p_limits ->> 'max_tokens_per_day')::bigint else v_old.max_tokens_per_day end;
  v_new.max_cost_usd_per_day := case when p_limits ? 'max_cost_usd_per_day' then (p_limits ->> 'max_cost_usd_per_day')::numeric else v_old.max_cost_usd_per_day end;
  v_new.dedicated := case when p_limits ? 'dedicated' then (p_limits ->> 'dedicated')::boolean else coalesce(v_old.dedicated, false) end;

  if v_new.max_queued_runs is null and v_new.runs_per_minute is null and v_new.max_running_runs is null and v_new.weight = 1
     and v_new.max_tokens_per_day is null and v_new.max_cost_usd_per_day is null and not v_new.dedicated then
    delete from everruns_private.workspace_limits l where l.workspace_id = p_workspace;
  else
    -- 000021: a changed runs_per_minute keeps the tokens the bucket holds now (by the old rate)
    if v_old.runs_per_minute is not null and v_old.bucket_tokens is not null and v_new.runs_per_minute is not null then
      v_tokens := least(v_new.runs_per_minute::double precision, v_old.runs_per_minute::double precision,
                        v_old.bucket_tokens + v_old.runs_per_minute
                          * greatest(0, extract(epoch from clock_timestamp() - v_old.bucket_at)::double precision) / 60);
    end if;
    insert into everruns_private.workspace_limits as l
      (workspace_id, max_queued_runs, runs_per_minute, bucket_tokens, bucket_at, updated_at, max_running_runs, weight,
       max_tokens_per_day, max_cost_usd_per_day, dedicated)
    values (p_workspace, v_new.max_queued_runs, v_new.runs_per_minute, v_tokens,
            case when v_tokens is null then null else clock_timestamp() end, now(), v_new.max_running_runs, v_new.weight,
            v_new.max_tokens_per_day, v_new.max_cost_usd_per_day, v_new.dedicated)
    on conflict on constraint workspace_limits_pkey do update
      set max_queued_runs = excluded.max_queued_runs, runs_per_minute = excluded.runs_per_minute,
          bucket_tokens = excluded.bucket_tokens, bucket_at = excluded.bucket_at, updated_at = excluded.updated_at,
          max_running_runs = excluded.max_running_runs, weight = excluded.weight,
          max_tokens_per_day = excluded.max_tokens_per_day, max_cost_usd_per_day = excluded.max_cost_usd_per_day,
          dedicated = excluded.dedicated;
  end if;

  -- a quota newly set counts today's usage so far (one scan of the workspace's steps; from then
  -- on tg_run_steps__quota_usage counts each LLM step as it commits)
  if v_old.max_tokens_per_day is null and v_old.max_cost_usd_per_day is null
     and (v_new.max_tokens_per_day is not null or v_new.max_cost_usd_per_day is not null) then
    insert into everruns_private.workspace_usage_days as u (workspace_id, day, tokens, cost_usd)
    select p_workspace, (now() at time zone 'UTC')::date,
           coalesce(sum(coalesce((s.usage ->> 'input_tokens')::bigint, 0) + coalesce((s.usage ->> 'output_tokens')::bigint, 0)), 0),
           coalesce(sum(coalesce((s.usage ->> 'cost_usd')::numeric, 0)), 0)
      from everruns.run_steps s
     where s.workspace_id = p_workspace and s.kind = 'llm' and s.usage is not null
       and s.finished_at >= ((now() at time zone 'UTC')::date)::timestamp at time zone 'UTC'
    on conflict on constraint workspace_usage_days_pkey do update set tokens = excluded.tokens, cost_usd = excluded.cost_usd;
  end if;
  -- a quota raised or removed: the runs parked on it try again now (each checks it anew)
  if (v_new.max_tokens_per_day is distinct from v_old.max_tokens_per_day
      or v_new.max_cost_usd_per_day is distinct from v_old.max_cost_usd_per_day) then
    perform everruns_private.enqueue_step(r.id) from everruns.runs r
     where r.workspace_id = p_workspace and r.status = 'waiting' and r.waiting ->> 'type' = 'quota';
  end if;
  -- dedicated changed: the workspace's pending jobs move to the task its workers take (add_jobs
  -- replaces a job of the same key in place, keeping its run_at); a job being run finishes where
  -- it is, and the run's next job is the new task's
  if v_new.dedicated is distinct from coalesce(v_old.dedicated, false) then
    perform graphile_worker.add_jobs(array(
      select row(everruns_private.step_task(p_workspace), json_build_object('run_id', r.id), null, j.run_at, 25, j.key, null, null)::graphile_worker.job_spec
        from graphile_worker.jobs j
        join everruns.runs r on j.key = 'run:' || r.id::text
       where r.workspace_id = p_workspace and j.locked_at is null), true);
  end if;

  perform everruns_private.audit_append(p_workspace, 'workspace.limits_set', 'workspace', p_workspace::text,
    everruns_private.with_reason(jsonb_build_object(
      'old', jsonb_build_object('max_queued_runs', v_old.max_queued_runs, 'runs_per_minute', v_old.runs_per_minute,
                                'max_running_runs', v_old.max_running_runs, 'weight', coalesce(v_old.weight, 1),
                                'max_tokens_per_day', v_old.max_tokens_per_day, 'max_cost_usd_per_day', v_old.max_cost_usd_per_day,
                                'dedicated', coalesce(v_old.dedicated, false)),
      'new', jsonb_build_object('max_queued_runs', v_new.max_queued_runs, 'runs_per_minute', v_new.runs_per_minute,
                                'max_running_runs', v_new.max_running_runs, 'weight', v_new.weight,
                                'max_tokens_per_day', v_new.max_tokens_per_day, 'max_cost_usd_per_day', v_new.max_cost_usd_per_day,
                                'dedicated', v_new.dedicated))));
  -- a raised (or removed) running limit, or a new weight, lets runs in now
  perform everruns_private.admit_runs(array[p_workspace]);
  return query select * from everruns_private.workspace_admission(p_workspace);
end;
$$;
comment on function everruns_private.set_workspace_admission(uuid, jsonb) is 'Sets the limits a JSON object names (max_queued_runs, runs_per_minute, max_running_runs, max_tokens_per_day, max_cost_usd_per_day: null unlimited; weight 1..1000; dedicated), audited as workspace.limits_set, and admits what they let in (000023).';
revoke execute on function everruns_private.set_workspace_admission(uuid, jsonb) from public;

-- 000021's setter, for the previous release's CLI: the two limits it knows, the others kept.
create or replace function everruns_private.set_workspace_limits(p_workspace uuid, p_max_queued_runs integer, p_runs_per_minute integer)
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 queued_runs bigint, tokens double precision, updated_at timestamptz)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.set_workspace_admission(p_workspace,
    jsonb_build_object('max_queued_runs', p_max_queued_runs, 'runs_per_minute', p_runs_per_minute));
  return query select * from everruns_private.workspace_limits_of(p_workspace);
end;
$$;

-- The caller's workspace's limits and usage, for every role of it (as 000022's reader).
create function everruns_private.ops_workspace_admission()
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 max_running_runs integer, weight integer,
                 max_tokens_per_day bigint, max_cost_usd_per_day numeric, dedicated boolean,
                 queued_runs bigint, pending_runs bigint, active_runs bigint, oldest_pending_at timestamptz,
                 tokens_today bigint, cost_usd_today numeric,
                 tokens double precision, updated_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select a.*
    from everruns.workspaces w
   cross join lateral everruns_private.workspace_admission(w.id) a
   where w.id = everruns_private.current_workspace_id()
$$;
comment on function everruns_private.ops_workspace_admission() is 'The caller''s workspace''s limits and usage (workspace_admission of current_workspace_id(); 000023).';
revoke execute on function everruns_private.ops_workspace_admission() from public;

---------------------------------------------------------------------------------------------
-- Why a run waits.
---------------------------------------------------------------------------------------------
create type everruns.queue_explanation as (
  run_id uuid,
  status text,
  admitted boolean,
  -- what holds it back: null (not waiting for admission), 'max_running_runs' (its workspace is
  -- at that limit), 'capacity' (every worker slot is taken: fair share decides who is next),
  -- 'next' (a slot is free: it is being admitted)
  held_by text,
  -- 1 = next of its workspace; null when not waiting for admission
  position bigint,
  priority smallint,
  workspace_active bigint,
  max_running_runs integer,
  weight integer,
  slots bigint,
  slots_taken bigint,
  -- seconds: its position over the rate at which its workspace's runs ended over the last 5
  -- minutes (each frees a slot); null when none ended
  estimated_wait_seconds double precision,
  message text
);
comment on type everruns.queue_explanation is 'Where a queued run stands and what holds it back (everruns.explain_queue).';

create function everruns.explain_queue(run_id uuid) returns everruns.queue_explanation
  language plpgsql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_out everruns.queue_explanation;
  v_name text;
  v_fair boolean;
  v_dedicated boolean;
  v_rate double precision;
begin
  select * into v_run from everruns.runs r where r.id = explain_queue.run_id;
  if not found then
    raise exception 'unknown run %', explain_queue.run_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || explain_queue.run_id::text);
  select w.name into v_name from everruns.workspaces w where w.id = v_run.workspace_id;
  select coalesce(s.fair, true) into v_fair from everruns_private.scheduler s where s.id = 1;
  v_fair := coalesce(v_fair, true);

  v_out.run_id := v_run.id;
  v_out.status := v_run.status;
  v_out.priority := v_run.priority;
  v_out.admitted := v_run.admitted_at is not null;
  select l.max_running_runs, coalesce(l.weight, 1) into v_out.max_running_runs, v_out.weight
    from everruns_private.workspace_limits l where l.workspace_id = v_run.workspace_id;
  v_out.weight := coalesce(v_out.weight, 1);
  select count(*) into v_out.workspace_active from everruns.runs r
   where r.workspace_id = v_run.workspace_id and (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null));
  select coalesce(l.dedicated, false) into v_dedicated from everruns_private.workspace_limits l where l.workspace_id = v_run.workspace_id;
  v_dedicated := coalesce(v_dedicated, false);
  if v_dedicated then
    -- its own workers' slots, all its own
    select coalesce(sum(w.concurrency), 0) into v_out.slots from everruns_private.workers w where w.workspace_id = v_run.workspace_id;
    v_out.slots_taken := v_out.workspace_active;
  else
    -- the shared window (admit_runs)
    select coalesce(nullif(sum(w.concurrency), 0), (select s.min_window from everruns_private.scheduler s where s.id = 1), 256)
      into v_out.slots from everruns_private.workers w where w.workspace_id is null;
    select count(*) into v_out.slots_taken from everruns.runs r
     where (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))
       and not exists (select from everruns_private.workspace_limits l where l.workspace_id = r.workspace_id and l.dedicated);
  end if;

  if v_run.status <> 'queued' or v_run.admitted_at is not null then
    v_out.message := case
      when v_run.status = 'queued' and v_dedicated and v_out.slots = 0
        then format('admitted, but no worker runs the dedicated workspace %s: start one with everruns worker --workspace %s', v_name, v_name)
      when v_run.status = 'queued' then 'admitted ' || to_char(v_run.admitted_at, 'YYYY-MM-DD HH24:MI:SS TZ') || ': waiting for a worker to take its first step'
      when v_run.status = 'waiting' and v_run.waiting ->> 'type' = 'quota'
        then format('waiting for its workspace''s daily quota (%s) to reset at %s or be raised',
                    v_run.waiting ->> 'limit', v_run.waiting ->> 'resets_at')
      else 'not waiting for admission: the run is ' || v_run.status end;
    return v_out;
  end if;

  select count(*) + 1 into v_out.position from everruns.runs r
   where r.workspace_id = v_run.workspace_id and r.status = 'queued' and r.admitted_at is null
     and (r.queue_at, r.id) < (v_run.queue_at, v_run.id);
  -- (each run that ends frees the slot the next one takes: its workspace's runs that ended over
  -- the last 5 minutes, per second; runs_finished_idx)
  select count(*) / 300.0 into v_rate from everruns.runs r
   where r.finished_at > now() - interval '5 minutes' and r.workspace_id = v_run.workspace_id;
  if v_rate > 0 then
    v_out.estimated_wait_seconds := round((v_out.position / v_rate)::numeric, 1);
  end if;
  v_out.held_by := case
    when v_out.max_running_runs is not null and v_out.workspace_active >= v_out.max_running_runs then 'max_running_runs'
    when v_fair and not v_dedicated and v_out.slots_taken >= v_out.slots then 'capacity'
    else 'next' end;
  v_out.message := case v_out.held_by
      when 'max_running_runs' then format('waiting for a slot: %s is at max_running_runs %s', v_name, v_out.max_running_runs)
      when 'capacity' then format('waiting for a slot: all %s worker slots are taken; %s (weight %s) has %s of them',
                                  v_out.slots, v_name, v_out.weight, v_out.workspace_active)
      else 'a slot is free: being admitted' end
    || case when v_out.position > 1 then format('; %s of its runs ahead', v_out.position - 1) else '; next in line' end
    || case when v_out.estimated_wait_seconds is not null then format('; ~%s s', round(v_out.estimated_wait_seconds::numeric)) else '' end;
  return v_out;
end;
$$;
comment on function everruns.explain_queue(uuid) is 'Where a queued run stands: what holds it back (its workspace''s max_running_runs, or every worker slot taken), its place among its workspace''s waiting runs, and an estimate of its wait (000023).';
revoke execute on function everruns.explain_queue(uuid) from public;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.ops_workspace_admission() to everruns_api;
    grant execute on function everruns.explain_queue(uuid) to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    -- what begin_step and start_attempt_locked (security invoker) call, and the pool of one workspace
    grant execute on function everruns_private.wake_or_park(everruns.runs), everruns_private.quota_exceeded(uuid),
                              everruns_private.register_worker(text, text, integer, integer, uuid),
                              everruns_private.worker_workspace(text) to everruns_worker;
  end if;
end;
$$;

---------------------------------------------------------------------------------------------
-- Who may set a run's priority: whoever may start a run (the API, roles bound with write).
---------------------------------------------------------------------------------------------
do $$
declare
  v_role name;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant insert (priority) on everruns.runs to everruns_api;
  end if;
  for v_role in select b.role_name from everruns_private.role_bindings b
                 where b.access = 'write' and exists (select from pg_catalog.pg_roles r where r.rolname = b.role_name) loop
    execute format('grant insert (priority) on everruns.runs to %I', v_role);
  end loop;
end;
$$;

-- 000013's bind_role, granting priority with the columns a role bound with write may insert
create or replace function everruns.bind_role(role name, workspace text, access text)
 RETURNS void
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_workspace everruns.workspaces;
  v_role name := bind_role.role;
begin
  if not exists (select from pg_roles r where r.rolname = v_role) then
    raise exception 'role % does not exist', v_role using errcode = 'EV010', hint = 'Create it first (create role … login).';
  end if;
  if exists (select from pg_roles r where r.rolname = v_role and (r.rolsuper or r.rolbypassrls)) then
    raise exception 'role % is a superuser or has BYPASSRLS: row-level security cannot confine it to a workspace', v_role
      using errcode = 'EV010';
  end if;
  -- Everruns' own roles, their members, and any role one of their members belongs to (a binding
  -- reaches the members of a bound role: binding a group of the API's login would confine every
  -- API key to one workspace)
  if v_role in ('everruns_api', 'everruns_worker')
     or pg_has_role(v_role, 'everruns_api', 'MEMBER') or pg_has_role(v_role, 'everruns_worker', 'MEMBER')
     or exists (select from pg_roles m
                 where not m.rolsuper and m.rolname not in ('everruns_api', 'everruns_worker')
                   and (pg_has_role(m.oid, 'everruns_api', 'MEMBER') or pg_has_role(m.oid, 'everruns_worker', 'MEMBER'))
                   and pg_has_role(m.oid, v_role, 'MEMBER')) then
    raise exception 'role % is, or is held by, one of Everruns'' own roles (everruns_api, everruns_worker); bind a role of your own', v_role
      using errcode = 'EV010';
  end if;
  if bind_role.access is null or bind_role.access not in ('read', 'write') then
    raise exception 'access must be ''read'' or ''write'', got %', coalesce(bind_role.access, 'null') using errcode = 'EV010';
  end if;
  select * into v_workspace from everruns.workspaces w
   where w.name = bind_role.workspace or w.id::text = lower(bind_role.workspace);
  if not found then
    raise exception 'unknown workspace %', bind_role.workspace using errcode = 'EV005';
  end if;
  insert into everruns_private.role_bindings (role_name, workspace_id, access) values (v_role, v_workspace.id, bind_role.access)
    on conflict (role_name) do update set workspace_id = excluded.workspace_id, access = excluded.access, created_at = now();

  execute format('grant usage on schema everruns, everruns_private to %I', v_role);
  execute format('grant select on everruns.workspaces, everruns.agents, everruns.agent_versions, everruns.threads, everruns.runs, '
                 'everruns.run_steps, everruns.run_events, everruns.run_signals, everruns.audit_log, everruns.usage_daily, '
                 'everruns.run_attempts to %I', v_role);  -- 000013: run_attempts
  execute format('revoke insert, update on everruns.runs, everruns.threads from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb) from %I', v_role);
  if bind_role.access = 'write' then
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input, priority), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;
