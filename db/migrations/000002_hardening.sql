-- 000002: hardening: who may call what, cancellations that must be real, threads that stay
-- with their agent. (Issue "Workspaces and access control", its first three reproductions.)
--
-- 1. Privileges. Postgres grants EXECUTE on every new function to PUBLIC, so any role that could
--    reach a schema could call everruns.cancel_run, everruns.send_event and the step engine's
--    security-definer functions (commit_step, sweep_dead_workers, register_worker, …), which run
--    with their owner's rights. EXECUTE is revoked from PUBLIC on every function of
--    everruns_private and of everruns, and the migrating role's default privileges revoke it from
--    every function it creates from now on (see below why this cannot be per schema). What needs
--    to call them gets it from two group roles (NOLOGIN), created here when missing:
--
--      everruns_worker   what a worker process needs: the step engine's functions, the tables
--                        they read and write with the caller's rights, graphile-worker's schema
--      everruns_api      what the API needs: read the everruns schema, create and update agents,
--                        start runs, cancel_run / resume_run / send_event, the dashboard's views
--
--    A deployment grants them to its login roles:
--
--      grant everruns_worker to my_worker_login;
--      grant everruns_api to my_api_login;
--
--    graphile-worker enables row-level security (with no policies) on its tables, and a group
--    role cannot pass that on: a worker's login role must also have BYPASSRLS
--    (alter role my_worker_login bypassrls) unless it is the role that ran the migrations.
--    Roles are global to the cluster: creating them needs CREATEROLE, and when the migrating
--    role lacks it, an administrator creates them once beforehand
--    (create role everruns_worker nologin; create role everruns_api nologin). docs/deploy.md,
--    "Database roles". A later migration that adds a function grants it to the role that calls it.
--
-- 2. `NOTIFY "everruns:cancel"` is only a hint: anyone who can connect may send it. The worker
--    aborts a step only after reading that its run really is cancelled (worker/liveness.ts).
--
-- 3. A run continues only a thread of its own agent: tg_runs__prepare refuses a run whose
--    thread_id names an existing thread of another agent (EV007), which would otherwise hand that
--    thread's whole history to this agent's model.

---------------------------------------------------------------------------------------------
-- 1. Privileges: nothing is callable by PUBLIC; two group roles get what they need.
---------------------------------------------------------------------------------------------
revoke execute on all functions in schema everruns_private from public;
revoke execute on all functions in schema everruns from public;

-- Functions this role creates from now on (in this database) are not callable by PUBLIC either.
-- This has to be the role-wide default: a per-schema default (`in schema …`) can only add to the
-- role-wide one, so `alter default privileges in schema everruns revoke … from public` does nothing.
-- It also covers the functions of later graphile-worker versions, which `everruns migrate`
-- installs as this role: everruns_worker gets those below.
alter default privileges revoke execute on functions from public;

do $$
declare
  v_role text;
begin
  foreach v_role in array array['everruns_worker', 'everruns_api'] loop
    if not exists (select from pg_catalog.pg_roles where rolname = v_role) then
      if not exists (select from pg_catalog.pg_roles where rolname = current_user and (rolsuper or rolcreaterole)) then
        raise exception 'role % does not exist, and % may not create roles: have an administrator run '
                        '"create role everruns_worker nologin; create role everruns_api nologin;" once, then migrate again '
                        '(docs/deploy.md, "Database roles")', v_role, current_user;
      end if;
      begin
        execute format('create role %I nologin', v_role);
      exception when duplicate_object or unique_violation then
        null;  -- created meanwhile by a migration of another database of this cluster
      end;
    end if;
  end loop;
end
$$;

-- everruns_worker: the step engine. Its entry points ...
grant usage on schema everruns, everruns_private, graphile_worker to everruns_worker;
grant execute on function
  everruns_private.begin_step(uuid),
  everruns_private.append_events(uuid, int, int, jsonb),
  everruns_private.commit_step(uuid, int, int, jsonb, jsonb, jsonb, jsonb),
  everruns_private.commit_step_and_begin_next(uuid, int, int, jsonb, jsonb, jsonb),
  everruns_private.reschedule_step(uuid, int, int, int, boolean, jsonb, jsonb),
  everruns_private.run_history(uuid, text),
  everruns_private.register_worker(text, text, int, int),
  everruns_private.deregister_worker(text),
  everruns_private.sweep_dead_workers(int),
  everruns_private.repair_orphaned_runs()
  to everruns_worker;
-- ... and what begin_step, append_events and run_history (security invoker) call and touch with
-- the worker's own rights. The security-definer ones above run as their owner.
grant execute on function
  everruns_private.start_attempt_locked(everruns.runs, boolean),
  everruns_private.lock_attempt(uuid, int, int),
  everruns_private.append_events_locked(everruns.runs, jsonb),
  everruns_private.settle_events_locked(everruns.runs, jsonb),
  everruns_private.closing_events(everruns.runs),
  everruns_private.run_chain(uuid),
  everruns_private.last_llm_step(uuid)
  to everruns_worker;
grant select, update on everruns.runs to everruns_worker;
grant select, insert on everruns.run_events to everruns_worker;
grant select on everruns.run_steps, everruns.run_signals, everruns.agent_versions to everruns_worker;
-- graphile-worker itself: it fetches, locks, completes and fails jobs with plain SQL on its own
-- tables (their names are its business: granted by schema, never named). Its row-level security
-- still applies to a login role that is neither their owner nor BYPASSRLS (see the header).
grant select, insert, update, delete on all tables in schema graphile_worker to everruns_worker;
grant usage, select, update on all sequences in schema graphile_worker to everruns_worker;
grant execute on all functions in schema graphile_worker to everruns_worker;
alter default privileges in schema graphile_worker grant select, insert, update, delete on tables to everruns_worker;
alter default privileges in schema graphile_worker grant usage, select, update on sequences to everruns_worker;
alter default privileges in schema graphile_worker grant execute on functions to everruns_worker;

-- everruns_api: reads the public schema; writes only through what the API writes (PostGraphile's
-- createAgent/updateAgent, startRun's INSERT) and the public functions. UPDATE on one harmless
-- column of runs and threads is what the row locks of tg_runs__prepare and resume_run
-- (`select … for update`) and the thread's touch need: no run state can be set by hand.
grant usage on schema everruns, everruns_private, graphile_worker to everruns_api;
grant select on all tables in schema everruns to everruns_api;
grant insert (id, workspace_id, name, config), update (name, config) on everruns.agents to everruns_api;
grant insert on everruns.agent_versions to everruns_api;  -- tg_agents__keep_version
grant insert (id, workspace_id, agent_id, agent_version, thread_id, parent_run_id, input), update (updated_at)
  on everruns.runs to everruns_api;
grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to everruns_api;  -- tg_runs__prepare
grant execute on function
  everruns.cancel_run(uuid),
  everruns.resume_run(uuid, jsonb),
  everruns.send_event(uuid, text, jsonb)
  to everruns_api;
-- the column default of workspace_id and what tg_runs__prepare (security invoker) calls
grant execute on function
  everruns_private.default_workspace_id(),
  everruns_private.assert_valid_run_input(jsonb),
  everruns_private.input_error(text),
  everruns_private.assert_answers(everruns.runs, jsonb)
  to everruns_api;
-- the operations dashboard (db/sql/readLiveWorkers.ts, readQueueDepth.ts)
grant select on everruns_private.live_workers to everruns_api;
grant select on graphile_worker.jobs to everruns_api;

---------------------------------------------------------------------------------------------
-- 3. A run continues only a thread of its own agent. tg_runs__prepare as in 000001, but for the
--    check of a given thread (marked "000002") before anything on it is read or locked.
---------------------------------------------------------------------------------------------
create or replace function everruns_private.tg_runs__prepare() returns trigger
  language plpgsql
  as $$
declare
  v_agent everruns.agents;
  v_thread everruns.threads;
  v_parent everruns.runs;
  v_other uuid;
begin
  select * into v_agent from everruns.agents where id = new.agent_id;
  if not found then
    raise exception 'unknown agent %', coalesce(new.agent_id::text, 'null')
      using errcode = 'EV002', hint = 'Create the agent first (everruns.agents) or check its id.';
  end if;
  if new.workspace_id <> v_agent.workspace_id then
    raise exception 'unknown agent % in workspace %', new.agent_id, new.workspace_id using errcode = 'EV002';
  end if;
  perform everruns_private.assert_valid_run_input(new.input);
  if new.status <> 'queued' then
    raise exception 'a new run starts queued; do not set status (got %)', new.status using errcode = 'EV003';
  end if;

  -- The run this one answers: given, or the thread's latest run if it waits for answers.
  if new.parent_run_id is not null then
    select * into v_parent from everruns.runs where id = new.parent_run_id for update;
    if not found then
      raise exception 'unknown parent run %', new.parent_run_id using errcode = 'EV005';
    end if;
  elsif new.thread_id is not null then
    -- 000002: a given thread that exists must be of this workspace and of this agent (a thread
    -- without an agent, made by hand, must hold no run of another agent), checked before
    -- anything on it is read or locked.
    select * into v_thread from everruns.threads where id = new.thread_id;
    if found then
      if v_thread.workspace_id <> new.workspace_id then
        raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
      end if;
      if v_thread.agent_id is null then
        select r.agent_id into v_other from everruns.runs r
         where r.thread_id = new.thread_id and r.agent_id <> new.agent_id limit 1;
      elsif v_thread.agent_id <> new.agent_id then
        v_other := v_thread.agent_id;
      end if;
      if v_other is not null then
        raise exception 'thread % belongs to agent %; a run may continue only a thread of its own agent', new.thread_id, v_other
          using errcode = 'EV007',
                hint = format('Leave thread_id out to start a new thread, or give a thread of agent %s (everruns.threads.agent_id).', new.agent_id);
      end if;
    end if;
    select * into v_parent from everruns.runs
     where thread_id = new.thread_id order by created_at desc, id desc limit 1 for update;
    if v_parent.id is not null and (v_parent.status <> 'interrupted' or v_parent.continued_by is not null) then
      v_parent := null;
    end if;
  end if;
  if v_parent.id is not null then
    if v_parent.status <> 'interrupted' or v_parent.continued_by is not null then
      raise exception 'run % is not waiting for an answer (status %)', v_parent.id, v_parent.status using errcode = 'EV008';
    end if;
    if v_parent.agent_id <> new.agent_id then
      raise exception 'run % belongs to another agent; a continuation must use agent %', v_parent.id, v_parent.agent_id using errcode = 'EV008';
    end if;
    perform everruns_private.assert_answers(v_parent, new.input -> 'resume');
    new.parent_run_id := v_parent.id;
    new.thread_id := v_parent.thread_id;
    -- the continuation carries on the same work: it keeps the agent version the work began with
    new.agent_version := coalesce(new.agent_version, v_parent.agent_version);
  elsif new.input ? 'resume' and jsonb_array_length(coalesce(new.input -> 'resume', '[]')) > 0 then
    raise exception 'this run answers interrupts (input.resume) but no run on its thread is waiting for an answer'
      using errcode = 'EV008';
  end if;

  if new.agent_version is null then
    new.agent_version := v_agent.version;
  end if;
  if new.thread_id is null then
    insert into everruns.threads (workspace_id, agent_id) values (new.workspace_id, new.agent_id)
      returning id into new.thread_id;
  else
    select * into v_thread from everruns.threads where id = new.thread_id;
    if not found then
      insert into everruns.threads (id, workspace_id, agent_id) values (new.thread_id, new.workspace_id, new.agent_id);
    elsif v_thread.workspace_id <> new.workspace_id then
      raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
    else
      update everruns.threads set updated_at = now() where id = new.thread_id;
    end if;
  end if;
  new.step_cursor := 1;
  new.step_attempt := 0;
  new.event_seq := 0;
  new.settled_event_seq := 0;
  new.waiting := null;
  new.interrupts := null;
  new.continued_by := null;
  new.created_at := now();
  new.updated_at := now();
  return new;
end;
$$;
