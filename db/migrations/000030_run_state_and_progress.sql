-- 000030: a run's live state and progress (issue 18, "Live state and findings").
--
-- * everruns.runs.state: the run's shared state (a JSON object; null: none yet), what AG-UI
--   clients render from STATE_SNAPSHOT / STATE_DELTA. The built-in tool update_state changes it
--   (worker/tools/update-state.ts): its tool step carries the new state in its record (`state`)
--   and commit_step_locked writes it with the step's checkpoint and events, in one transaction,
--   so a crash never shows a state the checkpoints do not, and a step retried after a crash
--   starts again from the state before it. The step's row keeps it too (run_steps.state): the
--   state as of that step, which a rerun from that step starts from.
-- * A run's starting state is resolved when its first attempt begins (begin_step, cursor 1, no
--   events yet; resolve_run_state_locked), not when it is inserted: a run inserted while the
--   previous run of its thread still runs carries on from where that one got to when this one
--   starts. It is, in order: for a rerun, the state the original run started from
--   (runs.initial_state), or for a rerun from a step, the state as of that step; else the input's
--   `state` when given and not empty (AG-UI RunAgentInput.state, at most max_state_bytes() of
--   JSON: a larger one is refused at the insert, EV003); else the state of the run it continues
--   (the run it answers, or the thread's latest earlier run); else null. It is kept in
--   runs.initial_state. The first step streams it as a STATE_SNAPSHOT (worker/tasks/run_step.ts)
--   and checks it against the agent's state_schema.
-- * everruns.runs.progress: the run's last progress report (the built-in tool report_progress):
--   {"message", "fraction", "at"}, `at` from the database clock at the step's commit, which also
--   gives the step's CUSTOM everruns.progress event the same value.
--
-- Additive only: nullable columns, a new trigger, begin_step and commit_step_locked replaced with
-- the same signatures (the previous release's workers' steps carry neither `state` nor
-- `progress`, and commit as before; their begin_step result has extra fields they ignore).
set local lock_timeout = '5s';

---------------------------------------------------------------------------------------------
-- 1. The columns
---------------------------------------------------------------------------------------------
alter table everruns.runs add column state jsonb, add column progress jsonb, add column initial_state jsonb;
comment on column everruns.runs.state is
  'The run''s shared state: a JSON object its agent changes with the update_state tool (AG-UI STATE_SNAPSHOT / STATE_DELTA), committed with the step that changed it. At the start: initial_state; null: none.';
comment on column everruns.runs.progress is
  'The run''s last progress report (the report_progress tool): {"message", "fraction" (0 to 1, or null), "at" (database clock)}; null: none yet.';
comment on column everruns.runs.initial_state is
  'The state the run started from, resolved when its first attempt began: for a rerun, the original''s starting state (or its state as of the step rerun from); else the input''s non-empty state; else the state of the run it continues on its thread; null: none (or not begun yet).';
alter table everruns.run_steps add column state jsonb;
comment on column everruns.run_steps.state is
  'The run''s state as this step committed it (an update_state tool step); null: the step did not change it. A rerun from a step starts from the last one at or before it.';

-- The largest state, in bytes of JSON text (worker/tools/update-state.ts MAX_STATE_BYTES: the same).
create function everruns_private.max_state_bytes() returns integer
  language sql immutable parallel safe
  as $$ select 262144 $$;
comment on function everruns_private.max_state_bytes() is
  'The largest run state: 256 KiB of JSON text (worker/tools/update-state.ts MAX_STATE_BYTES) (000030).';

---------------------------------------------------------------------------------------------
-- 2. A run's starting state
---------------------------------------------------------------------------------------------
-- At the insert: the engine's columns are cleared, and an input state over the limit refused.
-- Fires after tg_runs__prepare (triggers of one event fire in name order), which checked the
-- input is a JSON object. Security definer: whoever may insert a run (the API, a bound role, the
-- engine) gets the same check without a grant of max_state_bytes and input_error each; it reads
-- and writes only the new row.
create function everruns_private.tg_runs__state() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
as $$
declare
  v_bytes int;
begin
  -- the engine's to write, never the caller's (as tg_runs__prepare's bookkeeping)
  new.state := null;
  new.progress := null;
  new.initial_state := null;
  if jsonb_typeof(new.input -> 'state') = 'object' then
    v_bytes := octet_length((new.input -> 'state')::text);
    if v_bytes > everruns_private.max_state_bytes() then
      perform everruns_private.input_error(format('"state" is %s bytes of JSON; a run''s state may be at most %s (256 KiB)',
                                                  v_bytes, everruns_private.max_state_bytes()));
    end if;
  end if;
  return new;
end;
$$;
revoke execute on function everruns_private.tg_runs__state() from public;
comment on function everruns_private.tg_runs__state() is
  'A new run: its state, progress and initial_state cleared (the engine''s), its input''s state refused over max_state_bytes() (EV003) (000030).';
create trigger tg_runs__state before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__state();

-- The state a run starts from (see the header), written to its state and initial_state. Called by
-- begin_step for the run's first attempt, with the run locked.
create function everruns_private.resolve_run_state_locked(p_run everruns.runs) returns jsonb
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
as $$
declare
  v_state jsonb;
  v_found boolean := false;
begin
  if p_run.rerun_of is not null then
    -- a rerun from a step (its original's committed step rerun_from_seq): the last state a step
    -- of the original committed at or before it; else (or a plain rerun, or -1: from the
    -- original's own start) where the original started
    if coalesce(p_run.rerun_from_seq, -1) >= 0 then
      select s.state into v_state from everruns.run_steps s
       where s.run_id = p_run.rerun_of and s.seq <= p_run.rerun_from_seq and s.state is not null
       order by s.seq desc limit 1;
      v_found := v_state is not null;
    end if;
    if not v_found then
      select r.initial_state into v_state from everruns.runs r where r.id = p_run.rerun_of;
    end if;
  elsif jsonb_typeof(p_run.input -> 'state') = 'object' and p_run.input -> 'state' <> '{}'::jsonb then
    -- {} counts as not given: it is what a fresh AG-UI HttpAgent sends
    v_state := p_run.input -> 'state';
  elsif p_run.parent_run_id is not null then
    select r.state into v_state from everruns.runs r where r.id = p_run.parent_run_id;
  else
    select r.state into v_state from everruns.runs r
     where r.thread_id = p_run.thread_id and (r.created_at, r.id) < (p_run.created_at, p_run.id)
     order by r.created_at desc, r.id desc limit 1;
  end if;
  update everruns.runs set state = v_state, initial_state = v_state where id = p_run.id;
  return v_state;
end;
$$;
revoke execute on function everruns_private.resolve_run_state_locked(everruns.runs) from public;
comment on function everruns_private.resolve_run_state_locked(everruns.runs) is
  'A run''s starting state, resolved at its first attempt and stored in its state and initial_state (000030).';
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    -- what begin_step (security invoker) calls with the worker's rights
    grant execute on function everruns_private.resolve_run_state_locked(everruns.runs) to everruns_worker;
  end if;
end;
$$;

-- 000023's begin_step, with: the run's starting state resolved at its first attempt (cursor 1,
-- no attempt, no events yet), in the transaction that begins it.
CREATE OR REPLACE FUNCTION everruns_private.begin_step(p_run_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
AS $function$
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
  -- 000030: the state the run starts from, once, as it starts
  if v_run.step_cursor = 1 and v_run.step_attempt = 0 and v_run.event_seq = 0 then
    v_run.state := everruns_private.resolve_run_state_locked(v_run);
    v_run.initial_state := v_run.state;
  end if;
  return everruns_private.start_attempt_locked(v_run);
end;
$function$;

---------------------------------------------------------------------------------------------
-- 3. commit_step_locked: a step's state and progress reach the run
---------------------------------------------------------------------------------------------
-- 000029's commit_step_locked, with: the step record's `state` (the run's new state) and
-- `progress` (with `at`, the database clock) written to the run, and the step's CUSTOM
-- everruns.progress event given the same value, and the step's row keeping the state it committed
-- (run_steps.state, for reruns from a step).
CREATE OR REPLACE FUNCTION everruns_private.commit_step_locked(p_run everruns.runs, p_attempt integer, p_step jsonb, p_events jsonb, p_next jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
declare
  v_seq int := p_run.step_cursor;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
  -- 000030: a progress report, stamped by the database clock
  v_progress jsonb := case when jsonb_typeof(p_step -> 'progress') = 'object'
                           then (p_step -> 'progress') || jsonb_build_object('at', now()) end;
begin
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at, state)
  values (p_run.id, v_seq, p_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(p_run.step_started_at, now()), now(),
          -- 000030: the state this step committed
          case when jsonb_typeof(p_step -> 'state') = 'object' then p_step -> 'state' end);
  if p_step ? 'consumes_signal' then
    update everruns.run_signals set consumed_at = now(), consumed_by_seq = v_seq
     where id = (p_step ->> 'consumes_signal')::bigint and run_id = p_run.id and consumed_at is null;
  end if;
  if v_progress is not null then
    -- 000030: the step's everruns.progress event carries what the run stores, `at` included
    select coalesce(jsonb_agg(case when e ->> 'type' = 'CUSTOM' and e ->> 'name' = 'everruns.progress'
                                   then jsonb_set(e, '{value}', v_progress) else e end order by ord), '[]')
      into p_events
      from jsonb_array_elements(p_events) with ordinality as x(e, ord);
  end if;
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(p_run, p_events);
  else
    perform everruns_private.append_events_locked(p_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         -- 000029: the categories (parts of input and output) are summed too, each once the run
         -- or this step has it
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8))
           || (select coalesce(jsonb_object_agg(k, coalesce((usage ->> k)::bigint, 0) + coalesce((v_usage ->> k)::bigint, 0)), '{}')
                 from unnest(array['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens']) as k
                where usage ? k or v_usage ? k),
         -- 000030: the state this step committed (update_state), and its progress report
         state = case when jsonb_typeof(p_step -> 'state') = 'object' then p_step -> 'state' else state end,
         progress = coalesce(v_progress, progress),
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
  perform everruns_private.notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
end;
$function$;
