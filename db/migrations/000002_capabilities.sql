-- 000002: waits, external events, interrupts (approvals and client tools), continuation
-- runs on a thread, cost per agent per day.
--
-- A run that needs an answer ends `interrupted` with the open interrupts on its row; the
-- answer starts a continuation run on the same thread (parent_run_id), which carries the
-- work on from where the parent stopped. A run waiting for a timer or an external event is
-- `waiting`: it holds no worker, only a future job (its timer or timeout).

alter table everruns.runs
  add column waiting jsonb,
  add column interrupts jsonb,
  add column continued_by uuid references everruns.runs;
comment on column everruns.runs.waiting is 'What a waiting run waits for: {"type": "timer"|"event", "until", "name"?, "tool_call_id"?}.';
comment on column everruns.runs.interrupts is 'The open interrupts of an interrupted run (AG-UI Interrupt objects) and its pending client tool calls.';
comment on column everruns.runs.continued_by is 'The continuation run that answered this interrupted run.';
create index runs_interrupted_idx on everruns.runs (created_at) where status = 'interrupted' and continued_by is null;
-- runs.updated_at moves on every step: no index on it, so those updates stay HOT (see 000001).
-- finished_at is set once, at the end: the dashboard counts finished runs by it.
create index runs_finished_idx on everruns.runs (finished_at) where finished_at is not null;

-- Events sent to runs (everruns.send_event). Kept even when no run waits for them yet, so an
-- event that arrives before the wait begins is not lost.
create table everruns.run_signals (
  id bigserial primary key,
  run_id uuid not null references everruns.runs on delete cascade,
  workspace_id uuid not null references everruns.workspaces,
  name text not null check (length(name) between 1 and 200),
  payload jsonb,
  created_at timestamptz not null default now(),
  consumed_at timestamptz,
  consumed_by_seq int
);
comment on table everruns.run_signals is 'Events sent to runs with everruns.send_event; consumed by wait_for_event.';
create index run_signals_pending_idx on everruns.run_signals (run_id, name, id) where consumed_at is null;

---------------------------------------------------------------------------------------------
-- Continuations: linking an answering run to the run it answers.
---------------------------------------------------------------------------------------------

-- Checks that `p_resume` answers every open approval interrupt of `p_parent` and nothing else.
create function everruns_private.assert_answers(p_parent everruns.runs, p_resume jsonb) returns void
  language plpgsql stable
  as $$
declare
  v_open text[];
  v_given text[];
  v_missing text[];
  v_unknown text[];
begin
  select coalesce(array_agg(i ->> 'id'), '{}') into v_open
  from jsonb_array_elements(coalesce(p_parent.interrupts -> 'interrupts', '[]')) i;
  if p_resume is not null and jsonb_typeof(p_resume) <> 'array' then
    raise exception 'invalid resume: must be an array of {"interruptId", "status": "resolved" | "cancelled", "payload"?}'
      using errcode = 'EV008';
  end if;
  if exists (select 1 from jsonb_array_elements(coalesce(p_resume, '[]')) e
             where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'interruptId') is distinct from 'string'
                or coalesce(e ->> 'status', '') not in ('resolved', 'cancelled')) then
    raise exception 'invalid resume: each entry needs "interruptId" (a string) and "status": "resolved" or "cancelled"'
      using errcode = 'EV008';
  end if;
  select coalesce(array_agg(e ->> 'interruptId'), '{}') into v_given from jsonb_array_elements(coalesce(p_resume, '[]')) e;
  select coalesce(array_agg(x), '{}') into v_missing from unnest(v_open) x where x <> all (v_given);
  select coalesce(array_agg(x), '{}') into v_unknown from unnest(v_given) x where x <> all (v_open);
  if cardinality(v_missing) > 0 then
    raise exception 'run % has open interrupts that this resume does not answer: %', p_parent.id, array_to_string(v_missing, ', ')
      using errcode = 'EV008', hint = 'Answer every open interrupt: [{"interruptId": "...", "status": "resolved", "payload": {"approved": true}}].';
  end if;
  if cardinality(v_unknown) > 0 then
    raise exception 'run % has no open interrupt %', p_parent.id, array_to_string(v_unknown, ', ')
      using errcode = 'EV008';
  end if;
end;
$$;

create or replace function everruns_private.tg_runs__prepare() returns trigger
  language plpgsql
  as $$
declare
  v_agent everruns.agents;
  v_thread everruns.threads;
  v_parent everruns.runs;
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

create or replace function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if new.parent_run_id is not null then
    update everruns.runs set continued_by = new.id, updated_at = now() where id = new.parent_run_id;
  end if;
  perform everruns_private.enqueue_step(new.id, 1);
  perform pg_notify('everruns:runs', new.id::text);
  return null;
end;
$$;

-- Answers an interrupted run: starts its continuation on the same thread and returns its id.
-- Calling it again with the same answers returns the same continuation.
create function everruns.resume_run(run_id uuid, resume jsonb) returns uuid
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_next everruns.runs;
  v_id uuid;
begin
  select * into v_run from everruns.runs r where r.id = resume_run.run_id for update;
  if not found then
    raise exception 'unknown run %', resume_run.run_id using errcode = 'EV005';
  end if;
  if v_run.continued_by is not null then
    select * into v_next from everruns.runs r where r.id = v_run.continued_by;
    if v_next.input -> 'resume' is not distinct from resume_run.resume then
      return v_next.id;
    end if;
    raise exception 'run % was already answered by run %, with other answers', v_run.id, v_next.id using errcode = 'EV008';
  end if;
  if v_run.status <> 'interrupted' then
    raise exception 'run % is not waiting for an answer (status %)', v_run.id, v_run.status using errcode = 'EV008';
  end if;
  insert into everruns.runs (workspace_id, agent_id, thread_id, parent_run_id, input)
  values (v_run.workspace_id, v_run.agent_id, v_run.thread_id, v_run.id,
          jsonb_build_object('messages', '[]'::jsonb, 'resume', coalesce(resume_run.resume, '[]'::jsonb)))
  returning id into v_id;
  return v_id;
end;
$$;
comment on function everruns.resume_run(uuid, jsonb) is 'Answers an interrupted run (AG-UI resume entries); returns the continuation run id.';

---------------------------------------------------------------------------------------------
-- External events.
---------------------------------------------------------------------------------------------

-- Sends an event to a run. Wakes it at once when it waits for that event name; otherwise the
-- event is kept for its next wait_for_event of that name. Returns true when it woke the run.
create function everruns.send_event(run_id uuid, name text, payload jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs r where r.id = send_event.run_id for update;
  if not found then
    raise exception 'unknown run %', send_event.run_id using errcode = 'EV005';
  end if;
  if v_run.status in ('succeeded', 'failed', 'cancelled') then
    raise exception 'run % has finished (%); it can no longer receive events', v_run.id, v_run.status using errcode = 'EV009';
  end if;
  if coalesce(send_event.name, '') = '' then
    raise exception 'an event needs a name' using errcode = 'EV009';
  end if;
  insert into everruns.run_signals (run_id, workspace_id, name, payload)
  values (v_run.id, v_run.workspace_id, send_event.name, send_event.payload);
  if v_run.status = 'waiting' and v_run.waiting ->> 'type' = 'event' and v_run.waiting ->> 'name' = send_event.name then
    -- replaces the pending timeout job (same job key): the run continues now
    perform everruns_private.enqueue_step(v_run.id, v_run.step_cursor);
    return true;
  end if;
  return false;
end;
$$;
comment on function everruns.send_event(uuid, text, jsonb) is 'Sends an event to a run; wakes it if it waits in wait_for_event for that name.';

---------------------------------------------------------------------------------------------
-- The step engine, extended: the history a step plans from follows continuations, and a
-- commit can park the run (waiting) or end it interrupted.
---------------------------------------------------------------------------------------------

-- The runs a run continues, newest first: itself, its parent, the parent's parent...
-- plpgsql, not sql, on purpose: an inlined sql function was estimated at 100 rows and joined
-- against the whole run_steps table, making begin_step grow with every run ever committed
-- (1 ms at 0 steps, 100 ms at 200,000); `rows 2` keeps the plan a primary-key probe.
create function everruns_private.run_chain(p_run_id uuid) returns table (id uuid, depth int)
  language plpgsql stable rows 2
  as $$
begin
  return query
  with recursive chain as (
    select r.id, r.parent_run_id, 0 as depth from everruns.runs r where r.id = p_run_id
    union all
    select p.id, p.parent_run_id, c.depth + 1 from everruns.runs p join chain c on p.id = c.parent_run_id
  )
  select chain.id, chain.depth from chain;
end;
$$;

-- A run's history as entries in order: {"kind": "input", run_id, input} and
-- {"kind": "step", run_id, step}. p_scope 'turn': from the last LLM turn of the run's chain
-- on (what planning the next step needs); 'thread': the whole conversation of the thread up
-- to this run (what an LLM call needs).
create function everruns_private.run_history(p_run_id uuid, p_scope text) returns jsonb
  language plpgsql stable
  as $$
declare
  v_run everruns.runs;
  v_llm_run uuid;
  v_llm_seq int;
  v_llm_depth int;
  v_result jsonb;
begin
  select * into v_run from everruns.runs where id = p_run_id;
  if p_scope = 'thread' then
    with runs as (
      select r.id, r.input, r.created_at from everruns.runs r
      where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
    ), entries as (
      select r.created_at, r.id as run_id, -1 as seq,
             jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
      from runs r
      union all
      select r.created_at, r.id, s.seq,
             jsonb_build_object('kind', 'step', 'run_id', r.id, 'step', jsonb_build_object(
               'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
      from runs r join everruns.run_steps s on s.run_id = r.id
    )
    select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
    return v_result;
  end if;

  select s.run_id, s.seq, c.depth into v_llm_run, v_llm_seq, v_llm_depth
  from everruns_private.run_chain(p_run_id) c join everruns.run_steps s on s.run_id = c.id
  where s.kind = 'llm' and s.status = 'succeeded'
  order by c.depth, s.seq desc limit 1;
  with entries as (
    select c.depth, -1 as seq, jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
    from everruns_private.run_chain(p_run_id) c join everruns.runs r on r.id = c.id
    where v_llm_depth is null or c.depth <= v_llm_depth
    union all
    select c.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from everruns_private.run_chain(p_run_id) c join everruns.run_steps s on s.run_id = c.id
    where v_llm_depth is null or c.depth < v_llm_depth or (c.depth = v_llm_depth and s.seq >= v_llm_seq)
  )
  select coalesce(jsonb_agg(entry order by depth desc, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

create or replace function everruns_private.begin_step(p_run_id uuid, p_seq int) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_closed jsonb := '[]';
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found or v_run.step_cursor <> p_seq
     or v_run.status not in ('queued', 'running', 'waiting') then
    return null;
  end if;
  -- Nothing here needs to survive a database crash: if this bump is lost, the attempt it
  -- started is fenced out all the same (its writes carry an attempt number the database no
  -- longer has) and the step simply begins again. So skip the fsync: only commits are durable.
  perform set_config('synchronous_commit', 'off', true);
  if v_run.event_seq > v_run.settled_event_seq then
    v_closed := everruns_private.settle_events_locked(v_run);
  end if;
  update everruns.runs
     set step_attempt = step_attempt + 1,
         status = 'running',
         started_at = coalesce(started_at, now()),
         step_started_at = now(),
         updated_at = now()
   where id = p_run_id
  returning * into v_run;
  -- `waiting` is returned as it was (the step needs to know what it waited for) and cleared
  -- at the step's commit.
  return jsonb_build_object(
    'run', to_jsonb(v_run),
    'config', (select config from everruns.agent_versions where agent_id = v_run.agent_id and version = v_run.agent_version),
    'history', everruns_private.run_history(p_run_id, 'turn'),
    -- LLM calls so far in this run and the runs it continues: the next call's index
    'llm_count', (select count(*) from everruns_private.run_chain(p_run_id) c
                  join everruns.run_steps s on s.run_id = c.id where s.kind = 'llm' and s.status = 'succeeded'),
    'signals', (select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'payload', g.payload) order by g.id), '[]')
                from everruns.run_signals g where g.run_id = p_run_id and g.consumed_at is null),
    'closed', v_closed
  );
end;
$$;

-- p_step may carry "consumes_signal": <run_signals.id>; p_next may also be
--   {"type": "wait", "delay_ms": n, "waiting": {...}}   park the run (status waiting) until the
--                                                         timer fires or an event wakes it
--   {"type": "interrupt", "interrupts": {...}, "output": {...}}   end it interrupted
create or replace function everruns_private.commit_step(p_run_id uuid, p_seq int, p_attempt int,
                                                        p_step jsonb, p_events jsonb, p_next jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return false;
  end;
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at)
  values (p_run_id, p_seq, v_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(v_run.step_started_at, now()), now());
  if p_step ? 'consumes_signal' then
    update everruns.run_signals set consumed_at = now(), consumed_by_seq = p_seq
     where id = (p_step ->> 'consumes_signal')::bigint and run_id = p_run_id and consumed_at is null;
  end if;
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(v_run, p_events);
  else
    perform everruns_private.append_events_locked(v_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8)),
         step_cursor = p_seq + 1,
         step_attempt = 0,
         step_errors = 0,
         step_started_at = null,
         waiting = null,
         updated_at = now()
   where id = p_run_id;
  case p_next ->> 'type'
    when 'continue' then
      perform everruns_private.enqueue_step(p_run_id, p_seq + 1);
    when 'wait' then
      perform everruns_private.enqueue_step(p_run_id, p_seq + 1, now() + make_interval(secs => v_delay_ms / 1000));
      update everruns.runs
         set status = 'waiting',
             waiting = coalesce(p_next -> 'waiting', '{}') || jsonb_build_object('until', now() + make_interval(secs => v_delay_ms / 1000))
       where id = p_run_id;
    when 'succeed' then
      update everruns.runs set status = 'succeeded', output = p_next -> 'output', finished_at = now()
       where id = p_run_id;
    when 'fail' then
      update everruns.runs set status = 'failed', error = p_next -> 'error', finished_at = now()
       where id = p_run_id;
    when 'interrupt' then
      update everruns.runs set status = 'interrupted', interrupts = p_next -> 'interrupts', output = p_next -> 'output', finished_at = now()
       where id = p_run_id;
    else
      raise exception 'commit_step: unknown next type %', p_next ->> 'type';
  end case;
  return true;
end;
$$;

-- Cancelling also works on a waiting run (its timer job is removed) and on an interrupted one
-- (nobody will answer it any more).
create or replace function everruns.cancel_run(run_id uuid) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs r where r.id = cancel_run.run_id for update;
  if not found then
    raise exception 'unknown run %', cancel_run.run_id using errcode = 'EV005';
  end if;
  if v_run.status in ('succeeded', 'failed', 'cancelled') or v_run.continued_by is not null then
    return false;
  end if;
  if v_run.status <> 'interrupted' then
    -- an interrupted run's log already ended with RUN_FINISHED
    perform everruns_private.settle_events_locked(v_run, jsonb_build_array(jsonb_build_object(
      'type', 'RUN_FINISHED', 'threadId', v_run.thread_id, 'runId', v_run.id, 'outcome', jsonb_build_object('type', 'cancelled'))));
  end if;
  update everruns.runs r
     set status = 'cancelled',
         error = jsonb_build_object('code', 'cancelled', 'message', 'The run was cancelled.'),
         step_attempt = r.step_attempt + 1,
         waiting = null,
         finished_at = now(),
         updated_at = now()
   where r.id = cancel_run.run_id;
  perform graphile_worker.remove_job('run:' || cancel_run.run_id::text);
  perform pg_notify('everruns:cancel', cancel_run.run_id::text);
  return true;
end;
$$;

-- An orphaned waiting run is one whose timer job is gone: the repair in 000001 covers it.

---------------------------------------------------------------------------------------------
-- Cost, per agent and per day (database clock, UTC days).
---------------------------------------------------------------------------------------------
create view everruns.usage_daily as
  select r.workspace_id,
         r.agent_id,
         (date_trunc('day', s.finished_at at time zone 'UTC'))::date as day,
         count(distinct r.id) as runs,
         count(*) filter (where s.kind = 'llm') as llm_calls,
         coalesce(sum((s.usage ->> 'input_tokens')::bigint), 0) as input_tokens,
         coalesce(sum((s.usage ->> 'output_tokens')::bigint), 0) as output_tokens,
         round(coalesce(sum((s.usage ->> 'cost_usd')::numeric), 0), 6) as cost_usd
  from everruns.run_steps s join everruns.runs r on r.id = s.run_id
  group by 1, 2, 3;
comment on view everruns.usage_daily is 'Tokens and cost in USD per agent per UTC day, from committed steps.';
