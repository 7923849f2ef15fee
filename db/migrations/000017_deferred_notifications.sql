-- 000017: step commits that do not serialize on NOTIFY (issue 23).
--
-- Postgres takes one database-wide lock (pg_locks: locktype object, classid pg_database, objid 0)
-- at the commit of every transaction that issued a NOTIFY and holds it through the WAL flush, so
-- such commits cannot share a flush (group commit): every worker step transaction NOTIFYs today
-- (everruns:events from the run_events trigger, everruns:runs from the status trigger and from
-- append_events_locked, commit_step_locked, start_attempt_locked, reschedule_step), and at 10
-- committers that halves the commits per second (everruns bench --only commit measures it).
--
-- A transaction may now defer its notifications: everruns_private.defer_notifications() turns
-- it on for the transaction, and everruns_private.notify(channel, payload), which every engine
-- notification of these functions goes through, then appends "<channel> <payload>" as a line
-- of the transaction-local setting everruns.deferred_notifications instead of notifying. The
-- worker reads that setting in the same statement (db/sql/deferredNotifications.ts) and sends
-- the notifications of many commits together afterwards, in one short transaction of its own
-- that writes nothing else, so its commit waits for no WAL flush (worker/notifier.ts): the notify
-- lock is held only for a moment, and the step commits group-commit again.
--
-- Without defer_notifications() nothing changes: notify() is pg_notify(), so the previous
-- release's workers (a rolling deploy, a rollback) keep notifying inside their transactions,
-- and so does everything else that fires these triggers (the API, administrators).
--
-- A notification stays a hint (CONVENTIONS.md): if a worker dies between its commit and the
-- send, listeners learn of the change at their next notification or catch-up read.
--
-- cancel_run (everruns:cancel must reach the worker at once), tg_runs__enqueue,
-- attempts_of_dead_pools, tg_workers__exit and graphile-worker's own jobs:insert keep pg_notify.

---------------------------------------------------------------------------------------------
-- 1. Deferral
---------------------------------------------------------------------------------------------
create function everruns_private.defer_notifications() returns void
  language plpgsql volatile
  as $$
begin
  -- transaction-local: the next transaction of the session notifies again
  perform pg_catalog.set_config('everruns.defer_notifications', 'on', true);
  perform pg_catalog.set_config('everruns.deferred_notifications', '', true);
end;
$$;
comment on function everruns_private.defer_notifications() is
  'Defers this transaction''s engine notifications: everruns_private.notify collects them in everruns.deferred_notifications (one "<channel> <payload>" a line) for the caller to send after its commit (000017).';

-- Security invoker on purpose: the triggers and the engine's invoker functions call it with the
-- caller's rights, and it does nothing pg_notify (executable by PUBLIC) does not.
create function everruns_private.notify(p_channel text, p_payload text) returns void
  language plpgsql volatile
  as $$
declare
  v_line text := p_channel || ' ' || p_payload;
  v_list text;
begin
  if coalesce(pg_catalog.current_setting('everruns.defer_notifications', true), '') <> 'on' then
    perform pg_catalog.pg_notify(p_channel, p_payload);
    return;
  end if;
  v_list := coalesce(pg_catalog.current_setting('everruns.deferred_notifications', true), '');
  if v_list = '' then
    perform pg_catalog.set_config('everruns.deferred_notifications', v_line, true);
  -- a line already collected is skipped, as Postgres folds a transaction's identical notifications
  elsif pg_catalog.strpos(E'\n' || v_list || E'\n', E'\n' || v_line || E'\n') = 0 then
    perform pg_catalog.set_config('everruns.deferred_notifications', v_list || E'\n' || v_line, true);
  end if;
end;
$$;
comment on function everruns_private.notify(text, text) is
  'pg_notify(channel, payload), or, in a transaction that called everruns_private.defer_notifications(), the line "<channel> <payload>" appended to everruns.deferred_notifications (000017).';

revoke execute on function everruns_private.defer_notifications() from public;
-- the triggers that call notify() fire with the rights of whoever writes the row
grant execute on function everruns_private.notify(text, text) to public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function everruns_private.defer_notifications() to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 2. The engine's notifications go through notify(): the current bodies (000001's trigger on
--    run_events, 000006's status trigger, 000013's engine functions, as db/schema.sql dumps
--    them), each pg_notify on everruns:events / everruns:runs replaced, nothing else. Owners,
--    grants and security are kept (create or replace).
---------------------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION everruns_private.tg_run_events__notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
declare
  v record;
begin
  for v in select run_id, max(seq) as seq from new_events group by run_id loop
    perform everruns_private.notify('everruns:events', v.run_id::text || ':' || v.seq);
  end loop;
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.tg_runs__notify_status()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
begin
  perform everruns_private.notify('everruns:runs', new.id::text || ':' || new.workspace_id::text);
  return null;
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.append_events_locked(p_run everruns.runs, p_events jsonb)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
      perform everruns_private.notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
    end if;
  end if;
  return p_run.event_seq + v_n;
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.commit_step_locked(p_run everruns.runs, p_attempt integer, p_step jsonb, p_events jsonb, p_next jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
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
  perform everruns_private.notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.start_attempt_locked(p_run everruns.runs, p_known boolean DEFAULT false)
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
    'closed', v_closed
  );
end;
$function$;

CREATE OR REPLACE FUNCTION everruns_private.reschedule_step(p_run_id uuid, p_seq integer, p_attempt integer, p_delay_ms integer, p_count_error boolean, p_events jsonb, p_job jsonb DEFAULT NULL::jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
  perform everruns_private.notify('everruns:runs', v_run.id::text || ':' || v_run.workspace_id::text);
  return jsonb_build_object('rescheduled', true, 'job_held', v_held);
end;
$function$;
