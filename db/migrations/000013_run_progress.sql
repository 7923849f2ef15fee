-- 000013: live progress of a run and the history of its attempts (issue "Operator experience",
-- points 7 and 8).
--
-- 1. Attempt history. `everruns.run_attempts` has one row per attempt of every step: when it
--    began, the worker pool that held the run's job then (pool id, host, pid, from
--    everruns_private.workers, which forgets a pool when it dies), its step's name (from its
--    STEP_STARTED), the range of the event log it wrote, and how it ended:
--      committed     its checkpoint was written (commit_step_locked)
--      worker_died   its worker's liveness connection vanished; the sweeper freed its job
--                    (sweep_dead_workers), at freed_at
--      fenced_out    a newer attempt began while it was open (its job was taken over without a
--                    sweep), or it tried to write after the sweeper judged it dead
--      retried       a transient error; `error` is its everruns.retry notice (reschedule_step)
--      handed_back   its worker shut down and gave the step back (reschedule_step, no error)
--    null while it runs (or when the run was cancelled under it). Each row is written by the
--    state transition it records, in the same transaction, so the history can never disagree with
--    the fence. Runs older than this migration have no rows.
--    A dead attempt's own events are (events_from, last_event_seq]; the END events the next
--    attempt wrote to close what it left open are (last_event_seq, closed_through_seq]: the
--    console marks both instead of showing a normal STEP_FINISHED.
--
-- 2. Live numbers. `everruns:runs` (`<run id>:<workspace id>`, the runUpdated subscription) now
--    also fires on every step commit (usage, step count, cursor), when the step in progress
--    names itself (its STEP_STARTED), on a retry or hand-back, on a re-attempt, and when a sweep
--    frees a run's job; Postgres folds identical notifications of
--    one transaction, so a commit that also changes the status still sends one.
--
-- Additive only: a new table and helper functions; start_attempt_locked, append_events_locked,
-- commit_step_locked, commit_step, commit_step_and_begin_next, reschedule_step,
-- sweep_dead_workers and everruns.bind_role keep their signatures and results (bodies as in
-- 000001 and 000006 plus the blocks marked 000013).

create table everruns.run_attempts (
  run_id uuid not null references everruns.runs on delete cascade,
  seq int not null,
  attempt int not null,
  workspace_id uuid not null references everruns.workspaces,
  step_kind text check (step_kind in ('llm', 'tool', 'wait', 'system')),
  step_name text,
  pool_id text,
  hostname text,
  worker_pid int,
  started_at timestamptz not null default now(),
  ended_at timestamptz,
  last_event_at timestamptz,
  outcome text check (outcome in ('committed', 'worker_died', 'fenced_out', 'retried', 'handed_back')),
  error jsonb,
  freed_at timestamptz,
  events_from int not null,
  last_event_seq int,
  closed_through_seq int,
  primary key (run_id, seq, attempt)
);
comment on table everruns.run_attempts is E'@behavior -insert -update -delete\nEvery attempt of every step of a run: when, on which worker, and how it ended (000013).';
comment on column everruns.run_attempts.outcome is 'committed | worker_died (the sweeper freed its job) | fenced_out (a newer attempt took over) | retried (a transient error) | handed_back (its worker shut down); null while it runs.';
comment on column everruns.run_attempts.events_from is 'The run''s event seq when it began: its own events come after.';
comment on column everruns.run_attempts.last_event_seq is 'Its last own event (set when it ended).';
comment on column everruns.run_attempts.closed_through_seq is 'Of a lost attempt: the last of the END events the next attempt wrote to close what it left open.';
comment on column everruns.run_attempts.freed_at is 'When the sweeper freed the job of its dead worker.';

alter table everruns.run_attempts enable row level security;
alter table everruns.run_attempts force row level security;
create policy in_workspace on everruns.run_attempts using (workspace_id = (select everruns_private.current_workspace_id()))
  with check (workspace_id = (select everruns_private.current_workspace_id()));
do $$
begin
  execute format('create policy engine on everruns.run_attempts to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;
grant select on everruns.run_attempts to everruns_api;
grant select, insert, update on everruns.run_attempts to everruns_worker;

-- The worker pool that holds run p_run_id's job now, and its host: security definer, as it reads
-- everruns_private.workers, which the engine's role does not.
create function everruns_private.job_worker(p_run_id uuid) returns table (pool_id text, hostname text, pid int)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  return query
    select j.locked_by, w.hostname, w.pid
    from graphile_worker.jobs j
    left join everruns_private.workers w on w.pool_id = j.locked_by
    where j.key = 'run:' || p_run_id::text and j.locked_by is not null
    limit 1;
end;
$$;

-- Closes the open (or lost and not yet closed) attempts of a run whose next attempt begins:
-- their own events end at p_event_seq, the closing ones at p_closed_through.
create function everruns_private.close_lost_attempts_locked(p_run_id uuid, p_event_seq int, p_closed_through int) returns void
  language plpgsql volatile
  as $$
begin
  update everruns.run_attempts a
     set outcome = coalesce(a.outcome, 'fenced_out'),
         ended_at = coalesce(a.ended_at, now()),
         last_event_seq = p_event_seq,
         last_event_at = (select max(e.created_at) from everruns.run_events e
                          where e.run_id = p_run_id and e.seq > a.events_from and e.seq <= p_event_seq),
         closed_through_seq = case when p_closed_through > p_event_seq then p_closed_through end
   where a.run_id = p_run_id
     and (a.outcome is null or (a.outcome = 'worker_died' and a.last_event_seq is null));
end;
$$;

-- Ends the current attempt of a locked run, from the transition that ends it.
create function everruns_private.end_attempt_locked(p_run_id uuid, p_seq int, p_attempt int, p_outcome text,
                                                    p_error jsonb default null, p_step jsonb default null) returns void
  language plpgsql volatile
  as $$
begin
  update everruns.run_attempts a
     set outcome = p_outcome,
         error = p_error,
         ended_at = now(),
         last_event_at = now(),
         last_event_seq = (select r.event_seq from everruns.runs r where r.id = p_run_id),
         step_kind = coalesce(p_step ->> 'kind', a.step_kind),
         step_name = coalesce(a.step_name, p_step ->> 'name')
   where a.run_id = p_run_id and a.seq = p_seq and a.attempt = p_attempt;
end;
$$;

-- An attempt that tried to write after it lost the fence: it was alive after all.
create function everruns_private.fence_out_attempt(p_run_id uuid, p_seq int, p_attempt int) returns void
  language plpgsql volatile
  as $$
begin
  update everruns.run_attempts a
     set outcome = 'fenced_out', ended_at = coalesce(a.ended_at, now())
   where a.run_id = p_run_id and a.seq = p_seq and a.attempt = p_attempt
     and (a.outcome is null or a.outcome = 'worker_died');
end;
$$;

create or replace function everruns_private.start_attempt_locked(p_run everruns.runs, p_known boolean default false) returns jsonb
  language plpgsql volatile
  as $$
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
    perform pg_notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
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
    'closed', v_closed
  );
end;
$$;

create or replace function everruns_private.append_events_locked(p_run everruns.runs, p_events jsonb) returns int
  language plpgsql
  as $$
declare
  v_n int := coalesce(jsonb_array_length(p_events), 0);
  v_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
  v_name text;
begin
  if v_n = 0 then
    return p_run.event_seq;
  end if;
  insert into everruns.run_events (run_id, seq, workspace_id, type, event)
  select p_run.id, p_run.event_seq + e.ord, p_run.workspace_id, e.value ->> 'type',
         case when e.value ? 'timestamp' then e.value else e.value || jsonb_build_object('timestamp', v_ms) end
  from jsonb_array_elements(p_events) with ordinality as e(value, ord);
  update everruns.runs set event_seq = p_run.event_seq + v_n where id = p_run.id;
  -- 000013: the attempt in flight learns its step's name ("step 2: tool simulate_work") once
  if p_run.step_attempt > 0 and p_events @> '[{"type": "STEP_STARTED"}]' then
    select e.value ->> 'stepName' into v_name from jsonb_array_elements(p_events) e
     where e.value ->> 'type' = 'STEP_STARTED' limit 1;
    update everruns.run_attempts a
       set step_name = v_name,
           step_kind = case when split_part(split_part(v_name, ': ', 2), ' ', 1) in ('llm', 'tool', 'wait', 'system')
                            then split_part(split_part(v_name, ': ', 2), ' ', 1) end
     where a.run_id = p_run.id and a.seq = p_run.step_cursor and a.attempt = p_run.step_attempt and a.step_name is null;
    if found then
      -- the step in progress has a name now: once per attempt (folded into a commit's own)
      perform pg_notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
    end if;
  end if;
  return p_run.event_seq + v_n;
end;
$$;

create or replace function everruns_private.commit_step_locked(p_run everruns.runs, p_attempt int,
                                                               p_step jsonb, p_events jsonb, p_next jsonb) returns void
  language plpgsql volatile
  as $$
declare
  v_seq int := p_run.step_cursor;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
begin
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at)
  values (p_run.id, v_seq, p_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(p_run.step_started_at, now()), now());
  if p_step ? 'consumes_signal' then
    update everruns.run_signals set consumed_at = now(), consumed_by_seq = v_seq
     where id = (p_step ->> 'consumes_signal')::bigint and run_id = p_run.id and consumed_at is null;
  end if;
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(p_run, p_events);
  else
    perform everruns_private.append_events_locked(p_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8)),
         step_cursor = v_seq + 1,
         step_attempt = 0,
         step_errors = 0,
         step_started_at = null,
         waiting = null,
         updated_at = now()
   where id = p_run.id;
  case p_next ->> 'type'
    when 'continue' then
      if not coalesce((p_next ->> 'inline')::boolean, false) then
        perform everruns_private.enqueue_step(p_run.id);
      end if;
    when 'wait' then
      -- An event sent while this step ran found the run running and woke nothing (send_event
      -- wakes waiting runs only): then the wait ends at once and the next step takes the event.
      if p_next -> 'waiting' ->> 'type' = 'event' and exists (
           select 1 from everruns.run_signals g
           where g.run_id = p_run.id and g.name = p_next -> 'waiting' ->> 'name' and g.consumed_at is null) then
        v_delay_ms := 0;
      end if;
      perform everruns_private.enqueue_step(p_run.id, now() + make_interval(secs => v_delay_ms / 1000));
      update everruns.runs
         set status = 'waiting',
             waiting = coalesce(p_next -> 'waiting', '{}') || jsonb_build_object('until', now() + make_interval(secs => v_delay_ms / 1000))
       where id = p_run.id;
    when 'succeed' then
      update everruns.runs set status = 'succeeded', output = p_next -> 'output', finished_at = now()
       where id = p_run.id;
    when 'fail' then
      update everruns.runs set status = 'failed', error = p_next -> 'error', finished_at = now()
       where id = p_run.id;
    when 'interrupt' then
      update everruns.runs set status = 'interrupted', interrupts = p_next -> 'interrupts', output = p_next -> 'output', finished_at = now()
       where id = p_run.id;
    else
      raise exception 'commit_step: unknown next type %', p_next ->> 'type';
  end case;
  -- 000013: the attempt committed, and watchers of the run hear of its new numbers (one
  -- notification per transaction: the same payload as the status trigger's is folded into it)
  perform everruns_private.end_attempt_locked(p_run.id, v_seq, p_attempt, 'committed', null, p_step);
  perform pg_notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
end;
$$;

create or replace function everruns_private.commit_step(p_run_id uuid, p_seq int, p_attempt int, p_step jsonb,
                                                        p_events jsonb, p_next jsonb, p_job jsonb default null) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    perform everruns_private.fence_out_attempt(p_run_id, p_seq, p_attempt);  -- 000013
    return jsonb_build_object('committed', false);
  end;
  v_held := everruns_private.job_held(p_job);
  perform everruns_private.commit_step_locked(v_run, p_attempt, p_step, p_events, p_next - 'inline');
  return jsonb_build_object('committed', true, 'job_held', v_held);
end;
$$;

create or replace function everruns_private.commit_step_and_begin_next(p_run_id uuid, p_seq int, p_attempt int,
                                                                       p_step jsonb, p_events jsonb, p_job jsonb) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    perform everruns_private.fence_out_attempt(p_run_id, p_seq, p_attempt);  -- 000013
    return jsonb_build_object('committed', false);
  end;
  v_held := p_job is not null and everruns_private.job_held(p_job);
  perform everruns_private.commit_step_locked(v_run, p_attempt, p_step, p_events,
    jsonb_build_object('type', 'continue', 'inline', v_held));
  if not v_held then
    return jsonb_build_object('committed', true, 'job_held', p_job is null, 'next', null);
  end if;
  select * into v_run from everruns.runs where id = p_run_id;  -- locked since lock_attempt
  return jsonb_build_object('committed', true, 'job_held', true,
                            'next', everruns_private.start_attempt_locked(v_run, true));
end;
$$;

create or replace function everruns_private.reschedule_step(p_run_id uuid, p_seq int, p_attempt int, p_delay_ms int,
                                                            p_count_error boolean, p_events jsonb, p_job jsonb default null) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    perform everruns_private.fence_out_attempt(p_run_id, p_seq, p_attempt);  -- 000013
    return jsonb_build_object('rescheduled', false);
  end;
  v_held := everruns_private.job_held(p_job);
  perform everruns_private.settle_events_locked(v_run, p_events);
  update everruns.runs
     set step_errors = step_errors + case when p_count_error then 1 else 0 end,
         step_started_at = null,
         updated_at = now()
   where id = p_run_id;
  perform everruns_private.enqueue_step(p_run_id,
    case when p_delay_ms > 0 then now() + make_interval(secs => p_delay_ms / 1000.0) end);
  -- 000013: a retry keeps its notice's value ({step, attempt, max_attempts, delay_ms, error})
  perform everruns_private.end_attempt_locked(p_run_id, p_seq, p_attempt,
    case when p_count_error then 'retried' else 'handed_back' end,
    case when p_count_error then
      (select e.value -> 'value' from jsonb_array_elements(coalesce(p_events, '[]')) e
        where e.value ->> 'type' = 'CUSTOM' and e.value ->> 'name' = 'everruns.retry' limit 1) end);
  perform pg_notify('everruns:runs', v_run.id::text || ':' || v_run.workspace_id::text);
  return jsonb_build_object('rescheduled', true, 'job_held', v_held);
end;
$$;

-- The attempts the pools p_dead had in flight died with them (their jobs are being freed): marked
-- worker_died, and their runs' watchers hear it. Its own security definer function, so that
-- sweep_dead_workers may belong to a role that owns only everruns_private and graphile_worker
-- (db/test/liveness.test.ts runs it so).
create function everruns_private.attempts_of_dead_pools(p_dead text[]) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_lost record;
begin
  for v_lost in
    update everruns.run_attempts a
       set outcome = 'worker_died', freed_at = now(), ended_at = now()
     where a.outcome is null and a.pool_id = any (p_dead)
    returning a.run_id, a.workspace_id
  loop
    perform pg_notify('everruns:runs', v_lost.run_id::text || ':' || v_lost.workspace_id::text);
  end loop;
end;
$$;

create or replace function everruns_private.sweep_dead_workers(p_grace_ms int default 250) returns text[]
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
    where j.task_identifier = 'run_step' and j.key is null and j.locked_at is null
      and j.attempts >= j.max_attempts));
  -- Wake idle workers at once rather than at their next poll (graphile-worker listens on this
  -- channel for new jobs; a freed job is one to them). Measured without it: about half the
  -- resumes after kill -9 took 0.86-0.96 s (the 1 s poll).
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$$;

-- A bound role reads the attempts of its workspace's runs too: bind_role as in 000006 but for
-- run_attempts in its grant (roles bound before get it when bound again).
create or replace function everruns.bind_role(role name, workspace text, access text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$$;

revoke execute on function
  everruns_private.job_worker(uuid),
  everruns_private.attempts_of_dead_pools(text[]),
  everruns_private.close_lost_attempts_locked(uuid, int, int),
  everruns_private.end_attempt_locked(uuid, int, int, text, jsonb, jsonb),
  everruns_private.fence_out_attempt(uuid, int, int)
  from public;
do $$
begin
  if exists (select from pg_roles where rolname = 'everruns_worker') then
    grant execute on function
      everruns_private.job_worker(uuid),
      everruns_private.close_lost_attempts_locked(uuid, int, int),
      everruns_private.end_attempt_locked(uuid, int, int, text, jsonb, jsonb),
      everruns_private.fence_out_attempt(uuid, int, int)
      to everruns_worker;
  end if;
end
$$;
