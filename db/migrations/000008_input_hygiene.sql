-- 000008: hostile input (issue "Hostile input and resource limits", findings 3, 4 and 6).
--
-- 1. Signals are bounded. everruns.send_event (same signature) refuses, with EV011
--    (ValidationError "limit_exceeded", HTTP 400), a signal
--      - whose payload is over max_signal_payload_bytes() = 65536 bytes of JSON text
--        (payload::text: a 59 MB pile of signals made a two-step wake take 9.6 s, since every
--        unconsumed signal of a run is loaded on each of its steps);
--      - whose payload is nested deeper than max_json_depth() = 64 levels;
--      - for a run that already holds max_pending_signals() = 100 signals no wait has consumed.
--    An event name is at most 200 characters (EV009, as an empty one), not a check violation.
--    Who accepts signals: queued, running and waiting runs (a signal sent before the run reaches
--    its wait_for_event is kept for that wait), and interrupted runs too, into the same bounded
--    queue: an interrupted run takes no steps, so what it holds is never loaded, and its owners
--    may read it (run_signals); a finished run refuses them, as before (EV009).
--
-- 2. Run input is nested at most max_json_depth() levels: assert_valid_run_input (so the runs
--    trigger, for every insert) answers EV003 "invalid run input: nested deeper than 64 levels".
--    The API checks the same bound, and U+0000, lone surrogates and non-finite numbers, in every
--    body before anything serialises it (lib/storable-json.ts), naming the field. In SQL a NUL
--    cannot even reach a trigger: text refuses it (22021) and jsonb refuses "\u0000" (22P05)
--    when the value is read, and the agents name check allows [A-Za-z0-9_.-] only; the API maps
--    both SQLSTATEs (and 54001, JSON nested thousands deep) to a 400 saying what to remove.
--
-- 3. The runs insert trigger (tg_runs__prepare) resets every column a caller must not set:
--    output, error, usage, started_at, finished_at, step_errors, step_started_at, on top of the
--    fence and bookkeeping columns it already reset; status must still be 'queued' (EV003).
--
-- The limits are functions, not settings a session could change: replace one in a migration to
-- change it (db/sql/sendEvent.ts and lib/storable-json.ts hold the same numbers for the API's
-- early checks). They are executable by everyone: they only return a number, and the runs
-- trigger of a bound role (security invoker) calls json_too_deep.

create function everruns_private.max_json_depth() returns int
  language sql immutable parallel safe
  as $$ select 64 $$;
comment on function everruns_private.max_json_depth() is 'How many levels run input and signal payloads may nest (000008).';

create function everruns_private.max_signal_payload_bytes() returns int
  language sql immutable parallel safe
  as $$ select 65536 $$;
comment on function everruns_private.max_signal_payload_bytes() is 'The largest signal payload send_event accepts, in bytes of JSON text (000008).';

create function everruns_private.max_pending_signals() returns int
  language sql immutable parallel safe
  as $$ select 100 $$;
comment on function everruns_private.max_pending_signals() is 'How many unconsumed signals a run may hold (000008).';

-- True when something in p_value sits more than max_json_depth() levels below the top. One pass
-- in C (jsonpath's .** with a level: strict mode, so arrays are not unwrapped twice), stopping
-- at the first match; a few ms for a megabyte of input.
create function everruns_private.json_too_deep(p_value jsonb) returns boolean
  language sql immutable parallel safe
  as $$
  select p_value is not null
     and pg_catalog.jsonb_path_exists(p_value, pg_catalog.format('strict $.**{%s}', everruns_private.max_json_depth() + 1)::pg_catalog.jsonpath)
$$;

grant execute on function everruns_private.max_json_depth(), everruns_private.max_signal_payload_bytes(),
  everruns_private.max_pending_signals(), everruns_private.json_too_deep(jsonb) to public;

---------------------------------------------------------------------------------------------
-- 1. Signals.
---------------------------------------------------------------------------------------------
create or replace function everruns.send_event(run_id uuid, name text, payload jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_bytes int;
  v_pending int;
begin
  select * into v_run from everruns.runs r where r.id = send_event.run_id for update;
  if not found then
    raise exception 'unknown run %', send_event.run_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || send_event.run_id::text);
  if v_run.status in ('succeeded', 'failed', 'cancelled') then
    raise exception 'run % has finished (%); it can no longer receive events', v_run.id, v_run.status using errcode = 'EV009';
  end if;
  if coalesce(send_event.name, '') = '' then
    raise exception 'an event needs a name' using errcode = 'EV009';
  end if;
  if length(send_event.name) > 200 then
    raise exception 'an event name is at most 200 characters, got %', length(send_event.name) using errcode = 'EV009';
  end if;
  v_bytes := octet_length(send_event.payload::text);
  if v_bytes > everruns_private.max_signal_payload_bytes() then
    raise exception 'the event payload is % bytes; the limit is % (max_signal_payload_bytes)', v_bytes, everruns_private.max_signal_payload_bytes()
      using errcode = 'EV011', hint = 'Send a reference to the data (an id, a URL) rather than the data itself.';
  end if;
  if everruns_private.json_too_deep(send_event.payload) then
    raise exception 'the event payload is nested deeper than % levels (max_json_depth)', everruns_private.max_json_depth()
      using errcode = 'EV011';
  end if;
  -- under the run's row lock: concurrent senders count one after the other
  select count(*) into v_pending
    from (select 1 from everruns.run_signals g
           where g.run_id = v_run.id and g.consumed_at is null
           limit everruns_private.max_pending_signals()) p;
  if v_pending >= everruns_private.max_pending_signals() then
    raise exception 'run % already holds % events that no wait has consumed; the limit is % (max_pending_signals)',
      v_run.id, v_pending, everruns_private.max_pending_signals()
      using errcode = 'EV011', hint = 'Wait until the run consumes its events (wait_for_event) before sending more.';
  end if;
  insert into everruns.run_signals (run_id, workspace_id, name, payload)
  values (v_run.id, v_run.workspace_id, send_event.name, send_event.payload);
  if v_run.status = 'waiting' and v_run.waiting ->> 'type' = 'event' and v_run.waiting ->> 'name' = send_event.name then
    -- replaces the pending timeout job (same job key): the run continues now
    perform everruns_private.enqueue_step(v_run.id);
    return true;
  end if;
  return false;
end;
$$;

---------------------------------------------------------------------------------------------
-- 2. Run input depth.
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
  if jsonb_array_length(p_input -> 'messages') = 0 and not (p_input ? 'resume') then
    perform everruns_private.input_error('"messages" must hold at least one message');
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
-- 3. Columns a run's insert must not set. The whole trigger, as 000006 left it, plus the resets
--    at its end.
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
    -- 000006: a run belongs to its agent's workspace. Someone without a workspace (an
    -- administrator's insert by hand) got the default one from the column default.
    if everruns_private.current_workspace_id() is null then
      new.workspace_id := v_agent.workspace_id;
    else
      raise exception 'unknown agent % in workspace %', new.agent_id, new.workspace_id using errcode = 'EV002';
    end if;
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
    -- anything on it is read or locked. 000006: row-level security hides another workspace's
    -- thread from this (security invoker) trigger, so that check reads the thread's workspace
    -- through a security-definer function: the same EV007, not a duplicate key on the insert below.
    if everruns_private.thread_workspace(new.thread_id) <> new.workspace_id then
      raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
    end if;
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
  -- Everything below is the engine's to write, never the caller's (000008: a forged `usage` of
  -- $123,456.78 showed on the dashboard): the fence, the outcome, the bookkeeping, the clock.
  new.step_cursor := 1;
  new.step_attempt := 0;
  new.step_errors := 0;
  new.step_started_at := null;
  new.event_seq := 0;
  new.settled_event_seq := 0;
  new.waiting := null;
  new.interrupts := null;
  new.continued_by := null;
  new.output := null;
  new.error := null;
  new.usage := '{"cost_usd": 0, "input_tokens": 0, "output_tokens": 0}'::jsonb;
  new.started_at := null;
  new.finished_at := null;
  new.created_at := now();
  new.updated_at := now();
  return new;
end;
$$;
