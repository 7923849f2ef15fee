-- 000034: workflows (issue 21; docs/workflows.md).
--
-- A workflow is an agent of `"kind": "workflow"` (its config holds an Amazon States Language
-- definition; versions and runs pinned to them as for any agent). A workflow run is a run: each
-- state transition is a step (kind `state`), each park a `wait` step, both committed by
-- commit_step as every step is. What this migration adds:
--
-- * run_steps.kind 'state': a workflow state's visit finished (its output, the next state).
-- * Correlated events: everruns.send_event_by_key(name, correlation_key, payload) delivers an
--   event to every run of the caller's workspace waiting in a workflow's wait_for_event for that
--   name and key (runs.waiting {type: event, name, correlation_key}), through send_event; when
--   none waits, it is kept in everruns.pending_events (7 days; audited as signal.sent when kept)
--   and the first run that parks for that name and key gets it in the commit that parks it
--   (tg_runs__keyed_event_wait). Both take the key's
--   advisory lock first (send) or right after the run's row (park), so an event and a park racing
--   each other serialize and the one that commits second sees the other: no lost event.
-- * Branches and Map items are child runs of the workflow's own agent at the caller's pinned
--   version: tg_runs__sub_agents_park (000033) inserts a child's agent_version when its wait step
--   names one (null: the agent's current version, as before).
-- * everruns.redrive_run(run_id, from_state): a failed workflow run starts again from a state
--   (default: the one it failed in) with the input that state had, as a new run on its thread.
-- * bind_role: the two functions granted to bound write roles, pending_events readable by bound
--   roles (000033's bind_role, with them). The table is not in the GraphQL schema.
-- * assert_valid_run_input (000012's): an input with "state" (an object) or "workflow" may have
--   no message: a workflow starts from its state; the engine's branch and item runs carry
--   input.workflow. An agent's run still needs one (a model needs something to answer).
--
-- Lock order (db/CONVENTIONS.md): send_event_by_key takes the key's advisory lock, then the
-- waiting runs' rows (send_event); a park holds its run's row, then takes the key's lock.
-- * last_llm_step: a workflow's latest state step bounds the history begin_step reads.
--
-- Additive: a constraint widened, a table, new functions and a trigger; tg_runs__sub_agents_park,
-- assert_valid_run_input, last_llm_step and bind_role replaced with the same signatures.
set local lock_timeout = '5s';

alter table everruns.run_steps drop constraint run_steps_kind_check;
alter table everruns.run_steps add constraint run_steps_kind_check
  check (kind in ('llm', 'tool', 'wait', 'system', 'compaction', 'state')) not valid;

alter table everruns.run_attempts drop constraint run_attempts_step_kind_check;
alter table everruns.run_attempts add constraint run_attempts_step_kind_check
  check (step_kind in ('llm', 'tool', 'wait', 'system', 'compaction', 'state')) not valid;

---------------------------------------------------------------------------------------------
-- 1. Correlated events
---------------------------------------------------------------------------------------------
create table everruns.pending_events (
  id bigint generated always as identity primary key,
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id(),
  name text not null check (char_length(name) between 1 and 200),
  correlation_key text not null check (char_length(correlation_key) between 1 and 200),
  payload jsonb,
  sent_at timestamptz not null default now(),
  -- kept this long for a run to wait for it (a sender's retry or a stale key must not be taken by a
  -- run that waits much later); expired rows are deleted as new events arrive
  expires_at timestamptz not null default now() + interval '7 days',
  delivered_to uuid,
  delivered_at timestamptz
);
comment on table everruns.pending_events is
  E'@behavior -*\nEvents sent with everruns.send_event_by_key while no run waited for their name and correlation key; the first run that waits for them takes them (delivered_to).';
create index pending_events_key_idx on everruns.pending_events (workspace_id, name, correlation_key, id) where delivered_to is null;
alter table everruns.pending_events enable row level security;
alter table everruns.pending_events force row level security;
create policy in_workspace on everruns.pending_events using (workspace_id = (select everruns_private.current_workspace_id()))
  with check (workspace_id = (select everruns_private.current_workspace_id()));
do $$
begin
  execute format('create policy engine on everruns.pending_events to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;
revoke all on everruns.pending_events from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant select on everruns.pending_events to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant select on everruns.pending_events to everruns_worker;
  end if;
end
$$;

-- the runs waiting for a correlated event (send_event_by_key finds them by name and key)
create index runs_waiting_event_key_idx on everruns.runs (workspace_id, (waiting ->> 'name'), (waiting ->> 'correlation_key'))
  where status = 'waiting' and waiting ? 'correlation_key';

-- How many events sent by key may wait, undelivered, in one workspace.
create function everruns_private.max_pending_events() returns int
  language sql immutable parallel safe
  as $$ select 10000 $$;

create function everruns_private.event_key_lock(p_workspace_id uuid, p_name text, p_key text) returns void
  language sql volatile
  set search_path = pg_catalog, pg_temp
  as $$
  select pg_advisory_xact_lock(hashtextextended('everruns.event:' || p_workspace_id::text || ':' || p_name || ':' || p_key, 0))
$$;
revoke execute on function everruns_private.event_key_lock(uuid, text, text) from public;

create function everruns.send_event_by_key(name text, correlation_key text, payload jsonb) returns integer
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := everruns_private.current_or_default_workspace_id();
  v_run uuid;
  v_sent int := 0;
  v_bytes int;
  v_pending bigint;
begin
  if coalesce(send_event_by_key.name, '') = '' or length(send_event_by_key.name) > 200 then
    raise exception 'an event needs a name of 1 to 200 characters' using errcode = 'EV009';
  end if;
  if coalesce(send_event_by_key.correlation_key, '') = '' or length(send_event_by_key.correlation_key) > 200 then
    raise exception 'a correlation key is 1 to 200 characters' using errcode = 'EV009',
      hint = 'Send the key the workflow''s wait_for_event state names (its correlation_key), e.g. the purchase order number.';
  end if;
  v_bytes := octet_length(send_event_by_key.payload::text);
  if v_bytes > everruns_private.max_signal_payload_bytes() then
    raise exception 'the event payload is % bytes; the limit is % (max_signal_payload_bytes)', v_bytes, everruns_private.max_signal_payload_bytes()
      using errcode = 'EV011', hint = 'Send a reference to the data (an id, a URL) rather than the data itself.';
  end if;
  if everruns_private.json_too_deep(send_event_by_key.payload) then
    raise exception 'the event payload is nested deeper than % levels (max_json_depth)', everruns_private.max_json_depth()
      using errcode = 'EV011';
  end if;
  perform everruns_private.event_key_lock(v_workspace, send_event_by_key.name, send_event_by_key.correlation_key);
  for v_run in
    select r.id from everruns.runs r
     where r.workspace_id = v_workspace and r.status = 'waiting' and r.waiting ? 'correlation_key'
       and r.waiting ->> 'name' = send_event_by_key.name and r.waiting ->> 'correlation_key' = send_event_by_key.correlation_key
     order by r.id
  loop
    -- a run woken by this key already holds the event until its step takes it: a sender's resend
    -- is a duplicate, not an event for its next wait of that name (which may be for another key)
    if not exists (select from everruns.run_signals g
                    where g.run_id = v_run and g.name = send_event_by_key.name and g.consumed_at is null) then
      -- send_event locks the run and wakes it
      perform everruns.send_event(v_run, send_event_by_key.name, send_event_by_key.payload);
    end if;
    v_sent := v_sent + 1;
  end loop;
  if v_sent = 0 then
    delete from everruns.pending_events e
     where e.id in (select x.id from everruns.pending_events x
                     where x.workspace_id = v_workspace and x.expires_at < now() limit 1000);
    select count(*) into v_pending
      from (select 1 from everruns.pending_events e
             where e.workspace_id = v_workspace and e.delivered_to is null and e.expires_at > now()
             limit everruns_private.max_pending_events()) p;
    if v_pending >= everruns_private.max_pending_events() then
      raise exception 'the workspace already holds % events sent by key that no run has taken; the limit is % (max_pending_events)',
        v_pending, everruns_private.max_pending_events()
        using errcode = 'EV011', hint = 'Check the correlation keys: no workflow run waits for them.';
    end if;
    insert into everruns.pending_events (workspace_id, name, correlation_key, payload)
    values (v_workspace, send_event_by_key.name, send_event_by_key.correlation_key, send_event_by_key.payload)
    returning id into v_pending;
    -- who sent it, now (the run that takes it later records its own signal)
    perform everruns_private.audit_append(v_workspace, 'signal.sent', 'event', v_pending::text,
      jsonb_build_object('name', send_event_by_key.name, 'correlation_key', send_event_by_key.correlation_key, 'kept', true));
  end if;
  return v_sent;
end;
$$;
revoke execute on function everruns.send_event_by_key(text, text, jsonb) from public;
comment on function everruns.send_event_by_key(text, text, jsonb) is
  'Sends an event to the workflow runs of this workspace that wait for its name and correlation key (wait_for_event); returns how many; with none waiting, it is kept for the first that will (000034).';

create function everruns_private.tg_runs__keyed_event_wait() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_event everruns.pending_events;
begin
  perform everruns_private.event_key_lock(new.workspace_id, new.waiting ->> 'name', new.waiting ->> 'correlation_key');
  select * into v_event from everruns.pending_events e
   where e.workspace_id = new.workspace_id and e.delivered_to is null and e.expires_at > now()
     and e.name = new.waiting ->> 'name' and e.correlation_key = new.waiting ->> 'correlation_key'
   order by e.id limit 1;
  if found then
    update everruns.pending_events set delivered_to = new.id, delivered_at = now() where id = v_event.id;
    insert into everruns.run_signals (run_id, workspace_id, name, payload) values (new.id, new.workspace_id, v_event.name, v_event.payload);
    perform everruns_private.enqueue_step(new.id);
  end if;
  return null;
end;
$$;
revoke execute on function everruns_private.tg_runs__keyed_event_wait() from public;
comment on function everruns_private.tg_runs__keyed_event_wait() is
  'A run parks waiting for a correlated event: gives it the oldest such event sent while none waited, and wakes it (000034).';
create trigger tg_runs__keyed_event_wait after update of status on everruns.runs
  for each row when (old.status is distinct from new.status and new.status = 'waiting' and new.waiting ->> 'type' = 'event'
                     and new.waiting ? 'correlation_key')
  execute function everruns_private.tg_runs__keyed_event_wait();

---------------------------------------------------------------------------------------------
-- 2. Redrive a failed workflow run from a state
---------------------------------------------------------------------------------------------
-- Security invoker: the caller's row security and insert rights apply (an API key of the
-- workspace, a bound write role). The new run starts at the state with the input that state
-- had in the failed run (or the runs it continues); its input names the run it redrives.
create function everruns.redrive_run(run_id uuid, from_state text) returns uuid
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_config jsonb;
  v_step record;
  v_id uuid;
begin
  select * into v_run from everruns.runs r where r.id = redrive_run.run_id;
  if not found then
    raise exception 'unknown run %', redrive_run.run_id using errcode = 'EV005';
  end if;
  select v.config into v_config from everruns.agent_versions v where v.agent_id = v_run.agent_id and v.version = v_run.agent_version;
  if v_config ->> 'kind' is distinct from 'workflow' then
    raise exception 'run % is not a workflow run: only a workflow run can be redriven from a state', v_run.id
      using errcode = 'EV008', hint = 'Rerun an agent''s run instead (everruns.rerun_run).';
  end if;
  if v_run.status <> 'failed' then
    raise exception 'run % is %: only a failed workflow run can be redriven', v_run.id, v_run.status using errcode = 'EV008';
  end if;
  with recursive chain(id, parent, depth) as (
    select v_run.id, v_run.parent_run_id, 0
    union all
    select p.id, p.parent_run_id, c.depth + 1 from chain c join everruns.runs p on p.id = c.parent where c.depth < 10000
  )
  select s.name, s.input -> 'input' as input, coalesce(s.output -> 'scope', '[]'::jsonb) as scope into v_step
    from chain c join everruns.run_steps s on s.run_id = c.id
   where s.kind in ('state', 'wait') and s.output ? 'workflow'
     and (redrive_run.from_state is null or s.name = redrive_run.from_state)
   order by c.depth, s.seq desc
   limit 1;
  if not found then
    if redrive_run.from_state is null then
      raise exception 'run % has no workflow state to redrive from', v_run.id using errcode = 'EV008';
    end if;
    raise exception 'run % never reached state "%": redrive from a state it reached', v_run.id, redrive_run.from_state
      using errcode = 'EV008';
  end if;
  if jsonb_array_length(v_step.scope) > 0 then
    raise exception 'state "%" runs inside a Parallel branch or a Map item; redrive from the state that holds it', v_step.name
      using errcode = 'EV008';
  end if;
  -- the caller's own workspace by default (a bound role may not name workspace_id); a superuser
  -- acting in none names the run's
  if everruns_private.current_workspace_id() is null then
    insert into everruns.runs (workspace_id, agent_id, agent_version, thread_id, input)
    values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, v_run.thread_id,
            jsonb_build_object('messages', '[]'::jsonb,
                               'workflow', jsonb_build_object('start_at', v_step.name, 'input', v_step.input, 'redrive_of', v_run.id)))
    returning id into v_id;
  else
    insert into everruns.runs (agent_id, agent_version, thread_id, input)
    values (v_run.agent_id, v_run.agent_version, v_run.thread_id,
            jsonb_build_object('messages', '[]'::jsonb,
                               'workflow', jsonb_build_object('start_at', v_step.name, 'input', v_step.input, 'redrive_of', v_run.id)))
    returning id into v_id;
  end if;
  return v_id;
end;
$$;
revoke execute on function everruns.redrive_run(uuid, text) from public;
comment on function everruns.redrive_run(uuid, text) is
  'Starts a failed workflow run again from a state (null: the one it failed in) with the input it had there, as a new run on its thread; returns its id (000034).';

do $$
declare
  v_role name;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) to everruns_api;
  end if;
  -- roles bound already: they read the pending events of their workspace; write roles send and redrive
  for v_role in select b.role_name from everruns_private.role_bindings b
                 where exists (select from pg_catalog.pg_roles r where r.rolname = b.role_name) loop
    execute format('grant select on everruns.pending_events to %I', v_role);
  end loop;
  for v_role in select b.role_name from everruns_private.role_bindings b
                 where b.access = 'write' and exists (select from pg_catalog.pg_roles r where r.rolname = b.role_name) loop
    execute format('grant execute on function everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) to %I', v_role);
  end loop;
end
$$;

---------------------------------------------------------------------------------------------
-- 2b. A run's input: 000012's check, where a workflow's run may start with no message
---------------------------------------------------------------------------------------------
create or replace function everruns_private.assert_valid_run_input(p_input jsonb) returns void
  language plpgsql immutable
  as $$
declare
  v_msg jsonb;
  v_i int := 0;
  v_tool jsonb;
begin
  if p_input is null or jsonb_typeof(p_input) <> 'object' then
    perform everruns_private.input_error('must be a JSON object');
  end if;
  if everruns_private.json_too_deep(p_input) then
    perform everruns_private.input_error(format('nested deeper than %s levels (max_json_depth)', everruns_private.max_json_depth()));
  end if;
  if jsonb_typeof(p_input -> 'messages') is distinct from 'array' then
    perform everruns_private.input_error('"messages" must be an array');
  end if;
  -- 000012: bounded size and message count
  if octet_length(p_input::text) > everruns_private.max_run_input_bytes() then
    perform everruns_private.input_error(format('it is %s bytes of JSON text; a run input may be at most %s (max_run_input_bytes)',
                                                octet_length(p_input::text), everruns_private.max_run_input_bytes()));
  end if;
  if jsonb_array_length(p_input -> 'messages') > everruns_private.max_run_messages() then
    perform everruns_private.input_error(format('"messages" holds %s messages; a run input may hold at most %s (max_run_messages)',
                                                jsonb_array_length(p_input -> 'messages'), everruns_private.max_run_messages()));
  end if;
  -- 000011: answers are an array (the insert trigger measures it; a null or an object failed
  -- there with a bare 22023, answered 500 by the API: found by `everruns fuzz`)
  if p_input ? 'resume' and jsonb_typeof(p_input -> 'resume') <> 'array' then
    perform everruns_private.input_error('"resume" must be an array of answers to the interrupts');
  end if;
  -- 000034: a workflow's run may start from its state alone (its execution input) or from what
  -- the engine or a redrive gives (input.workflow); an agent's run needs a message
  if jsonb_array_length(p_input -> 'messages') = 0 and not (p_input ? 'resume')
     and jsonb_typeof(p_input -> 'state') is distinct from 'object' and jsonb_typeof(p_input -> 'workflow') is distinct from 'object' then
    perform everruns_private.input_error('"messages" must hold at least one message (a workflow''s run may give "state" instead)');
  end if;
  for v_msg in select value from jsonb_array_elements(p_input -> 'messages') loop
    if jsonb_typeof(v_msg) <> 'object' then
      perform everruns_private.input_error(format('messages[%s] must be an object', v_i));
    end if;
    if coalesce(v_msg ->> 'role', '') not in ('user', 'assistant', 'system', 'developer', 'tool') then
      perform everruns_private.input_error(format('messages[%s].role must be one of user, assistant, system, developer, tool', v_i));
    end if;
    if v_msg ? 'id' and jsonb_typeof(v_msg -> 'id') <> 'string' then
      perform everruns_private.input_error(format('messages[%s].id must be a string', v_i));
    end if;
    if v_msg ->> 'role' in ('user', 'system', 'developer')
       and jsonb_typeof(v_msg -> 'content') is distinct from 'string'
       and jsonb_typeof(v_msg -> 'content') is distinct from 'array' then
      perform everruns_private.input_error(format('messages[%s].content must be a string', v_i));
    end if;
    if v_msg ->> 'role' = 'tool' and (jsonb_typeof(v_msg -> 'toolCallId') is distinct from 'string'
       or jsonb_typeof(v_msg -> 'content') is distinct from 'string') then
      perform everruns_private.input_error(format('messages[%s]: a tool message needs "toolCallId" and "content" strings', v_i));
    end if;
    v_i := v_i + 1;
  end loop;
  if p_input ? 'state' and jsonb_typeof(p_input -> 'state') not in ('object', 'null') then
    perform everruns_private.input_error('"state" must be an object');
  end if;
  if p_input ? 'context' and jsonb_typeof(p_input -> 'context') <> 'array' then
    perform everruns_private.input_error('"context" must be an array');
  end if;
  if p_input ? 'tools' then
    if jsonb_typeof(p_input -> 'tools') <> 'array' then
      perform everruns_private.input_error('"tools" must be an array');
    end if;
    v_i := 0;
    for v_tool in select value from jsonb_array_elements(p_input -> 'tools') loop
      if jsonb_typeof(v_tool) <> 'object' or jsonb_typeof(v_tool -> 'name') is distinct from 'string' then
        perform everruns_private.input_error(format('tools[%s] must be an object with a "name"', v_i));
      end if;
      v_i := v_i + 1;
    end loop;
  end if;
end;
$$;


---------------------------------------------------------------------------------------------
-- 2c. A step's history: a workflow's from its latest transition on
---------------------------------------------------------------------------------------------
-- begin_step hands a step its history from the run's last LLM turn on (run_history,
-- last_llm_step); a workflow has no LLM turn, so each of its steps read every step of its run
-- and the runs it continues, and a long workflow's steps grew slower with its length. A
-- workflow's latest step (a 'state' step, or a 'wait' step with output.workflow) is its turn
-- boundary now: its engine reads where it stands itself (worker/workflow/engine.ts). An agent's
-- runs have no such steps: unchanged.
-- Two lookups, each through an index (run_steps_llm_turns_idx and the one below), the later of the
-- two: an agent's run pays what it paid before.
create index run_steps_workflow_idx on everruns.run_steps (run_id, seq)
  where kind = 'state' or (kind = 'wait' and output ? 'workflow');

create or replace function everruns_private.last_llm_step(p_run_id uuid) returns table (run_id uuid, seq int, depth int)
  language plpgsql stable rows 1
  set plan_cache_mode = force_generic_plan
  as $$
begin
  return query
  select c.id, l.seq, c.depth
  from everruns_private.run_chain(p_run_id) c
  cross join lateral (
    select max(x.seq) as seq from (
      (select s.seq from everruns.run_steps s
        where s.run_id = c.id and s.kind = 'llm' and s.status = 'succeeded'
        order by s.seq desc limit 1)
      union all
      (select s.seq from everruns.run_steps s
        where s.run_id = c.id and s.status = 'succeeded' and (s.kind = 'state' or (s.kind = 'wait' and s.output ? 'workflow'))
        order by s.seq desc limit 1)
    ) x
  ) l
  where l.seq is not null
  order by c.depth limit 1;
end;
$$;

---------------------------------------------------------------------------------------------
-- 3. Children at a pinned version (000033's tg_runs__sub_agents_park, with agent_version)
---------------------------------------------------------------------------------------------
create or replace function everruns_private.tg_runs__sub_agents_park() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_start jsonb;
  v_child record;
  v_detail text;
begin
  -- the wait step commit_step_locked just wrote (the cursor has moved past it)
  select s.output -> 'start' into v_start
    from everruns.run_steps s where s.run_id = new.id and s.seq = new.step_cursor - 1;
  -- (before the children below are inserted: an insert takes the workspace's limits row and audit
  -- head, which come after runs in the lock order)
  -- A child that ended while this step ran found this run not waiting and woke nothing; one
  -- ending now waits for these locks and sees this run waiting when this commits. Its children
  -- (a root: its whole tree, for the interrupts it reports), level by level: a caller before its
  -- children, as cancelling a run below takes them.
  perform 1
     from everruns.runs c
     join (with recursive tree as (
             select r.id, 1 as depth from everruns.runs r where r.caller_run_id = new.id
             union all
             select r.id, t.depth + 1 from everruns.runs r join tree t on r.caller_run_id = t.id
              where new.caller_run_id is null and t.depth < 20)
           select tree.id, tree.depth from tree) t on t.id = c.id
    where c.status in ('queued', 'running', 'waiting', 'interrupted')
    order by t.depth, c.id
      for share of c;
  if jsonb_typeof(v_start) = 'array' and jsonb_array_length(v_start) > 0 then
    for v_child in
      select c.run_id, c.agent_id, c.agent_version, c.input, c.tool_call_id
        from jsonb_to_recordset(v_start) as c(run_id uuid, tool_call_id text, agent_id uuid, agent_version int, input jsonb)
    loop
      begin
        -- 000034: agent_version (a workflow's branches and Map items run the caller's own pinned version; null: the agent's current one)
        insert into everruns.runs (id, workspace_id, agent_id, agent_version, input, priority, caller_run_id, caller_tool_call_id, root_run_id)
        values (v_child.run_id, new.workspace_id, v_child.agent_id, v_child.agent_version, v_child.input, new.priority, new.id, v_child.tool_call_id,
                coalesce(new.root_run_id, new.id))
        on conflict (caller_run_id, caller_tool_call_id) where caller_run_id is not null and parent_run_id is null do nothing;
      exception when sqlstate 'EV012' then
        -- The workspace is at an admission limit (max_queued_runs, runs_per_minute): this child and
        -- the rest wait. The caller wakes when the limit says (retry_after) and starts them then,
        -- under the same ids (worker/sub-agents.ts derives a child's id from its call).
        get stacked diagnostics v_detail = pg_exception_detail;
        perform everruns_private.enqueue_step(new.id, now() + make_interval(secs =>
          least(3600, greatest(1, coalesce(substring(v_detail from 'retry_after=([0-9]+)')::int, 5)))));
        return null;
      end;
    end loop;
  end if;
  if everruns_private.sub_agents_wake_due(new) then
    perform everruns_private.enqueue_step(new.id);
  end if;
  return null;
end;
$$;

---------------------------------------------------------------------------------------------
-- 4. bind_role (000033's, with the workflow functions granted to write roles and revoked from read ones)
---------------------------------------------------------------------------------------------
create or replace function everruns.bind_role(role name, workspace text, access text)
 returns void
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
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
                 'everruns.run_attempts, everruns.batches, everruns.batch_items, everruns.schedules, everruns.schedule_fires, '
                 'everruns.activations, everruns.webhooks, everruns.webhook_deliveries, everruns.notification_endpoints, '
                 'everruns.notification_deliveries, everruns.notification_attempts, everruns.mcp_tool_lists, '
                 'everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers, everruns.model_prices, everruns.pending_events to %I', v_role);  -- 000013: run_attempts; 000025: batches; 000026: triggers; 000027: MCP; 000029: model prices; 000034: pending events
  execute format('grant execute on function everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon(), everruns.runs_budget_spend(everruns.runs), '
                 'everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs), '
                 'everruns.runs_children(everruns.runs) to %I', v_role);  -- 000032: runs_budget_spend; 000033: the trees
  execute format('revoke insert, update on everruns.runs, everruns.threads, everruns.batches, everruns.batch_items from %I', v_role);
  execute format('revoke insert, update, delete on everruns.schedules, everruns.webhooks, everruns.notification_endpoints from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb), everruns.start_batch(uuid), everruns.pause_batch(uuid), '
                 'everruns.resume_batch(uuid), everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), '
                 'everruns.retry_failed_items(uuid, text[], boolean), everruns.trigger(text, jsonb, text), '
                 'everruns.resend_notification(uuid), everruns_private.render_schedule_input(jsonb, text, text, timestamptz), '
                 'everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) from %I', v_role);  -- 000034: workflows
  if bind_role.access = 'write' then
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input, priority), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant insert (id, name, agent_id, agent_version, max_parallel, priority, on_item_error, stop_after_failures, '
                   'stop_after_ratio, deadline, metadata) on everruns.batches to %I', v_role);
    execute format('grant insert (id, batch_id, workspace_id, custom_id, input) on everruns.batch_items to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid), '
                   'everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), everruns.cancel_batch(uuid), '
                   'everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean) to %I', v_role);
    -- 000034: workflows
    execute format('grant execute on function everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) to %I', v_role);
    -- 000026
    execute format('grant insert (id, name, agent_id, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, '
                   'misfire_grace_seconds, thread, paused, paused_note, pause_after_failures), '
                   'update (name, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, misfire_grace_seconds, '
                   'paused, paused_note, pause_after_failures), delete on everruns.schedules to %I', v_role);
    execute format('grant insert (id, name, agent_id, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, '
                   'dedupe_pointer, input_template, thread_key_pointer, max_body_bytes, enabled), '
                   'update (name, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, dedupe_pointer, '
                   'input_template, thread_key_pointer, max_body_bytes, enabled), delete on everruns.webhooks to %I', v_role);
    execute format('grant insert (id, name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'update (name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'delete on everruns.notification_endpoints to %I', v_role);
    execute format('grant execute on function everruns.trigger(text, jsonb, text), everruns.resend_notification(uuid), '
                   'everruns_private.render_schedule_input(jsonb, text, text, timestamptz) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;
