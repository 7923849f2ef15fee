-- 000024: review mends of 000023 (fair admission).
--
-- 1. A deadlock: everruns.cancel_run of an active run took the workspace's audit head (its
--    audit row: tg_runs__audit_cancel) and then its limits row (tg_runs__release_slot →
--    admit_runs), while an insert (tg_runs__admission_limits, then tg_runs__audit_start) and
--    set_workspace_admission take the limits row first. Reproduced with three sessions. The
--    trigger that admits the next run now fires first: renamed tg_runs__admit_next (triggers
--    of one event fire in name order), so every path takes a workspace's limits row before its
--    audit head.
-- 2. max_running_runs under REPEATABLE READ: admit_runs and wake_or_park locked the limits row
--    but did not write it, so a REPEATABLE READ insert whose snapshot predated an admission
--    locked it without error and counted active runs from that snapshot (reproduced: 2 active at
--    a limit of 1). They now write it (a no-op, as 000021's insert check does): such a
--    transaction fails with 40001 instead.
-- 3. The admissions of a transaction that ended or inserted a run in a workspace with a running
--    limit lock that workspace's row before looking for waiting runs (an insert and a run's end
--    could each miss the other's change and leave the slot to the sweep). Another workspace's
--    row is locked only when that workspace is under its limit: an open transaction no longer
--    holds the rows of workspaces it could not admit for.
-- 4. The fair-share window counted every registered pool, also one that died while idle (the
--    sweep frees only pools holding jobs): it now counts live_workers, which gains workspace_id.
-- 5. repair_orphaned_runs treats a job of the wrong task (a workspace's dedicated flag changed
--    while its job was locked or being added) as no job, so enqueue_step gives the run one of
--    the right task (add_job replaces the unlocked job in place).
-- 6. explain_queue: granted to roles bound with bind_role (it was the API's only); its estimate
--    counts only runs that held a slot.
--
-- Additive: a view gains a column at its end, functions are replaced with the same signatures,
-- a trigger is renamed (same function, same condition).

create or replace view everruns_private.live_workers as
 SELECT w.pool_id,
    w.hostname,
    w.pid,
    w.concurrency,
    w.backend_pid,
    w.backend_start,
    w.started_at,
    w.workspace_id
   FROM everruns_private.workers w
     JOIN pg_stat_activity a ON a.pid = w.backend_pid AND (a.backend_start = w.backend_start OR (a.backend_start IS NULL OR w.backend_start IS NULL) AND a.application_name = ('everruns-worker:'::text || w.pool_id));

drop trigger tg_runs__release_slot on everruns.runs;
create trigger tg_runs__admit_next after update of status on everruns.runs
  for each row
  when (old.status is distinct from new.status and new.status not in ('queued', 'running')
        and (old.status = 'running' or (old.status = 'queued' and old.admitted_at is not null)))
  execute function everruns_private.tg_runs__release_slot();

create or replace function everruns_private.admit_runs(p_workspaces uuid[] default null) returns integer
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
  -- 000024: the running limits of the workspaces this transaction changed are locked first, and
  -- written (a no-op): a transaction that ends a run and one that inserts one in the same
  -- workspace queue here, and each then sees the other's change (READ COMMITTED: the statements
  -- below take fresh snapshots); a REPEATABLE READ transaction whose snapshot predates another
  -- admission fails to lock it (40001) instead of counting from its stale snapshot
  for v_row in
    select l.workspace_id from everruns_private.workspace_limits l
     where l.workspace_id = any (coalesce(p_workspaces, '{}')) and l.max_running_runs is not null
     order by l.workspace_id
  loop
    update everruns_private.workspace_limits l set bucket_at = l.bucket_at where l.workspace_id = v_row.workspace_id;
  end loop;
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
      from everruns_private.live_workers w where w.workspace_id is null;  -- 000024: live ones only
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
  -- lock (those of p_workspaces: taken above).
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
    if v_lim is not null and not (v_row.workspace_id = any (coalesce(p_workspaces, '{}'))) then
      -- another workspace's limit: at it already (read without a lock), nothing to admit and
      -- nothing locked; else its row, unless another transaction holds it (that one admits for
      -- it, or the sweep), locked and written as above
      continue when (select count(*) from everruns.runs r
                      where r.workspace_id = v_row.workspace_id
                        and (r.status = 'running' or (r.status = 'queued' and r.admitted_at is not null))) >= v_lim;
      perform from everruns_private.workspace_limits l where l.workspace_id = v_row.workspace_id for update skip locked;
      continue when not found;
      update everruns_private.workspace_limits l set bucket_at = l.bucket_at where l.workspace_id = v_row.workspace_id
      returning l.max_running_runs into v_lim;
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

create or replace function everruns_private.wake_or_park(p_run everruns.runs) returns boolean
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
  -- locked and written (a no-op, 000024): see admit_runs
  update everruns_private.workspace_limits l set bucket_at = l.bucket_at
   where l.workspace_id = p_run.workspace_id
  returning l.max_running_runs into v_limit;
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
                      where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts
                        -- 000024: a job of the task its workspace no longer has (dedicated
                        -- changed while it was locked, or it was added just before) is nobody's
                        and j.task_identifier = everruns_private.step_task(r.workspace_id))
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id,
      case when v_run.status = 'waiting' then (v_run.waiting ->> 'until')::timestamptz end);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

create or replace function everruns.explain_queue(run_id uuid) returns everruns.queue_explanation
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
    select coalesce(sum(w.concurrency), 0) into v_out.slots from everruns_private.live_workers w where w.workspace_id = v_run.workspace_id;
    v_out.slots_taken := v_out.workspace_active;
  else
    -- the shared window (admit_runs)
    select coalesce(nullif(sum(w.concurrency), 0), (select s.min_window from everruns_private.scheduler s where s.id = 1), 256)
      into v_out.slots from everruns_private.live_workers w where w.workspace_id is null;
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
   where r.finished_at > now() - interval '5 minutes' and r.workspace_id = v_run.workspace_id
     and r.admitted_at is not null;  -- 000024: a run cancelled before its admission freed no slot
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

do $$
declare
  v_role name;
begin
  for v_role in select b.role_name from everruns_private.role_bindings b
                 where exists (select from pg_catalog.pg_roles r where r.rolname = b.role_name) loop
    execute format('grant execute on function everruns.explain_queue(uuid) to %I', v_role);
  end loop;
end;
$$;

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
  -- 000024: why its queued runs wait, whatever its access
  execute format('grant execute on function everruns.explain_queue(uuid) to %I', v_role);
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;
