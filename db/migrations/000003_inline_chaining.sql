-- Inline chaining: the worker that commits step n of a run begins step n+1 in the same
-- transaction and runs it at once, instead of adding a job for it and waiting for a worker
-- (itself, usually) to fetch, lock and later delete that job. The job that carried step n is
-- handed over to step n+1 in that transaction (its payload now names step n+1, still locked by
-- this worker's pool), so the durability story does not change: if the process dies, the
-- sweeper frees the job as for any other crash and another worker runs step n+1; if the step
-- throws, graphile-worker retries the job, which names step n+1. Saves per step: one job
-- insert, one get_job (lock), one delete, one begin_step round trip and two fsyncs.

-- A run's last LLM turn is found with this index instead of reading every step of the run:
-- run_history('turn') was O(steps so far) per step, so O(n^2) over a long run.
create index run_steps_llm_turns_idx on everruns.run_steps (run_id, seq) where kind = 'llm' and status = 'succeeded';

-- The last succeeded LLM step of a run's chain (itself, then the runs it continues): one probe
-- of run_steps_llm_turns_idx per run of the chain.
create function everruns_private.last_llm_step(p_run_id uuid) returns table (run_id uuid, seq int, depth int)
  language plpgsql stable rows 1
  set plan_cache_mode = force_generic_plan
  as $$
begin
  return query
  select c.id, l.seq, c.depth
  from everruns_private.run_chain(p_run_id) c
  cross join lateral (
    select s.seq from everruns.run_steps s
    where s.run_id = c.id and s.kind = 'llm' and s.status = 'succeeded'
    order by s.seq desc limit 1
  ) l
  order by c.depth limit 1;
end;
$$;

-- run_history as in 000002, but every read is an index probe or range: the 'turn' scope reads
-- the LLM turn's run from that turn on (it read all of that run's steps and filtered them,
-- O(steps so far) per step), and the run row is read for the 'thread' scope only.
-- force_generic_plan: with plan_cache_mode auto, Postgres judged the generic plan of these
-- queries costlier than a custom one and re-planned them on every call (0.26 ms a call, three
-- times the execution); the generic plans are the index probes above.
create or replace function everruns_private.run_history(p_run_id uuid, p_scope text) returns jsonb
  language plpgsql stable
  set plan_cache_mode = force_generic_plan
  as $$
declare
  v_run everruns.runs;
  v_llm record;
  v_result jsonb;
begin
  if p_scope = 'thread' then
    select * into v_run from everruns.runs where id = p_run_id;
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

  -- From the last LLM turn on: the inputs of the runs from the turn's run to this one, every
  -- step of the runs after the turn's run, and the turn's run's steps from the turn on.
  select * into v_llm from everruns_private.last_llm_step(p_run_id);
  with chain as (
    select c.id, c.depth from everruns_private.run_chain(p_run_id) c
    where v_llm.depth is null or c.depth <= v_llm.depth
  ), entries as (
    select c.depth, -1 as seq, jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
    from chain c join everruns.runs r on r.id = c.id
    union all
    select c.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from chain c join everruns.run_steps s on s.run_id = c.id
    where v_llm.depth is null or c.depth < v_llm.depth
    union all
    select v_llm.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from everruns.run_steps s
    where s.run_id = v_llm.run_id and s.seq >= v_llm.seq
  )
  select coalesce(jsonb_agg(entry order by depth desc, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

-- Starts an attempt at the run's current step: the caller holds the run's row lock and has
-- checked that the step is the cursor and the run can progress. Returns what the step needs;
-- without the agent config and the run's input when p_known (the caller ran the step before
-- this one and has both: a run's input and its pinned agent version never change).
create function everruns_private.start_attempt_locked(p_run everruns.runs, p_known boolean default false) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_closed jsonb := '[]';
  v_history jsonb;
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

create or replace function everruns_private.begin_step(p_run_id uuid, p_seq int) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
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
  return everruns_private.start_attempt_locked(v_run);
end;
$$;

-- Hands the job that carried step p_seq - 1 of a run over to step p_seq: the job must still be
-- locked by p_job's pool and hold the run's job key (nothing replaced it). Returns false when
-- it is not so; then the caller enqueues the step the usual way.
-- p_job: {"id": <graphile_worker job id>, "locked_by": <pool id>}
create function everruns_private.hand_over_job(p_run_id uuid, p_seq int, p_job jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if p_job is null then
    return false;
  end if;
  update graphile_worker._private_jobs j
     set payload = json_build_object('run_id', p_run_id, 'seq', p_seq),
         locked_at = now(),       -- a fresh lock: the sweeper's grace and the 4-hour expiry restart
         attempts = 1,            -- as a job fetched once: retries of this step get the full budget
         last_error = null,
         updated_at = now(),
         revision = j.revision + 1
   where j.id = (p_job ->> 'id')::bigint
     and j.locked_by = p_job ->> 'locked_by'
     and j.key = 'run:' || p_run_id::text;
  return found;
end;
$$;

-- enqueue_step as in 000001 (the one place a step job is created), with p_job, the job the
-- caller's attempt runs in (null when there is none). When a sweeper freed that job (it judged
-- the worker dead: a lost liveness connection) and nobody has taken it since, its run key is
-- taken off first: add_job would otherwise update that unlocked job in place, and
-- graphile-worker's completion of the attempt, which deletes its job by id, would then delete
-- the run's next step with it (the run would wait for repair_orphaned_runs).
drop function everruns_private.enqueue_step(uuid, int, timestamptz);
create function everruns_private.enqueue_step(p_run_id uuid, p_seq int, p_run_at timestamptz default null,
                                              p_job jsonb default null) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  update graphile_worker._private_jobs j
     set key = null, attempts = j.max_attempts, updated_at = now(), revision = j.revision + 1
   where j.id = (p_job ->> 'id')::bigint
     and j.key = 'run:' || p_run_id::text
     and j.locked_at is null;
  select graphile_worker.add_job(
    'run_step',
    json_build_object('run_id', p_run_id, 'seq', p_seq),
    run_at => coalesce(p_run_at, now()),
    max_attempts => 25,
    job_key => 'run:' || p_run_id::text
  );
  select null::void;
$$;

-- commit_step as in 000002, and p_next may carry "job": {"id", "locked_by"}, the job the attempt
-- runs in, given to enqueue_step. "continue" with "hand_over": true hands that job over to the
-- next step (hand_over_job) instead of adding one, when it can. A wait for an event that arrived
-- while the step ran ends at once.
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
      if not (coalesce((p_next ->> 'hand_over')::boolean, false)
              and everruns_private.hand_over_job(p_run_id, p_seq + 1, p_next -> 'job')) then
        perform everruns_private.enqueue_step(p_run_id, p_seq + 1, null, p_next -> 'job');
      end if;
    when 'wait' then
      -- An event sent while this step ran found the run running and woke nothing (send_event
      -- wakes waiting runs only): then the wait ends at once and the next step takes the event.
      if p_next -> 'waiting' ->> 'type' = 'event' and exists (
           select 1 from everruns.run_signals g
           where g.run_id = p_run_id and g.name = p_next -> 'waiting' ->> 'name' and g.consumed_at is null) then
        v_delay_ms := 0;
      end if;
      perform everruns_private.enqueue_step(p_run_id, p_seq + 1, now() + make_interval(secs => v_delay_ms / 1000), p_next -> 'job');
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

-- Commits step p_seq with "continue" and, when the worker's job could be handed over, begins
-- step p_seq + 1 in the same (durable) transaction. Returns
--   {"committed": false}                     this attempt lost the fence: nothing was written
--   {"committed": true, "next": null}        committed; the next step was enqueued as a job
--   {"committed": true, "next": <begun>}     committed and the next step begun (as begin_step,
--                                            without the config and the run's input: the caller has them)
create function everruns_private.commit_step_and_begin_next(p_run_id uuid, p_seq int, p_attempt int,
                                                            p_step jsonb, p_events jsonb, p_job jsonb) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  if p_job is null then
    raise exception 'commit_step_and_begin_next: p_job is required' using errcode = '22004';
  end if;
  if not everruns_private.commit_step(p_run_id, p_seq, p_attempt, p_step, p_events,
                                      jsonb_build_object('type', 'continue', 'job', p_job, 'hand_over', true)) then
    return jsonb_build_object('committed', false);
  end if;
  -- commit_step either handed the job over (it now names step p_seq + 1) or enqueued a new one.
  perform 1 from graphile_worker._private_jobs j
   where j.id = (p_job ->> 'id')::bigint and j.locked_by = p_job ->> 'locked_by'
     and j.payload::jsonb = jsonb_build_object('run_id', p_run_id, 'seq', p_seq + 1);
  if not found then
    return jsonb_build_object('committed', true, 'next', null);
  end if;
  select * into v_run from everruns.runs where id = p_run_id;  -- locked since lock_attempt
  return jsonb_build_object('committed', true, 'next', everruns_private.start_attempt_locked(v_run, true));
end;
$$;

-- sweep_dead_workers as in 000001, but the wake-up counts every job it frees. It counted only
-- the jobs locked for longer than the grace period, while force_unlock_workers frees all of a
-- dead pool's jobs: a job locked a moment before its worker died (a step just begun, which
-- inline chaining makes common) was freed without a wake-up for it and waited for
-- graphile-worker's 1 s poll. Measured: about half the resumes after kill -9 took 0.86-0.96 s.
create or replace function everruns_private.sweep_dead_workers(p_grace_ms int default 250) returns text[]
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_dead text[];
  v_jobs int;
begin
  select array_agg(distinct j.locked_by) into v_dead
  from graphile_worker._private_jobs j
  where j.locked_by is not null
    and j.locked_at < now() - make_interval(secs => p_grace_ms / 1000.0)
    and not exists (select 1 from everruns_private.live_workers w where w.pool_id = j.locked_by);
  if v_dead is null then
    return '{}';
  end if;
  select count(*) into v_jobs from graphile_worker._private_jobs j where j.locked_by = any (v_dead);
  perform graphile_worker.force_unlock_workers(v_dead);
  delete from everruns_private.workers w where w.pool_id = any (v_dead);
  -- A job whose key was taken over by a newer job of the same run (add_job does that to a
  -- locked job, and sets its attempts to max) will never run again: drop it now.
  delete from graphile_worker._private_jobs j
   where j.key is null and j.locked_at is null and j.attempts >= j.max_attempts
     and j.task_id = (select t.id from graphile_worker._private_tasks t where t.identifier = 'run_step');
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$$;

-- Liveness across roles. register_worker and sweep_dead_workers are security definer: they read
-- pg_stat_activity with their owner's rights, and without pg_read_all_stats Postgres hides the
-- backend_start of other roles' sessions (null; pid, user and application_name stay visible).
-- So a worker connecting as another role than the owner failed to register (backend_start was
-- not null), and a worker whose backend_start the sweeper could not see looked dead. Such a
-- session is now told by its pid and its application_name, everruns-worker:<pool id>, unique
-- per pool and set by the liveness connection itself.
alter table everruns_private.workers alter column backend_start drop not null;
comment on column everruns_private.workers.backend_start is
  'The liveness backend''s start; null when the owner of register_worker may not see it (pid and application_name identify the session then).';

create or replace view everruns_private.live_workers as
  select w.* from everruns_private.workers w
  join pg_stat_activity a on a.pid = w.backend_pid
   and (a.backend_start = w.backend_start
        or ((a.backend_start is null or w.backend_start is null)
            and a.application_name = 'everruns-worker:' || w.pool_id));

-- reschedule_step as in 000001, with the job the attempt ran in (p_job, may be null), given to
-- enqueue_step as in commit_step.
drop function everruns_private.reschedule_step(uuid, int, int, int, boolean, jsonb);
create function everruns_private.reschedule_step(p_run_id uuid, p_seq int, p_attempt int,
                                                 p_delay_ms int, p_count_error boolean, p_events jsonb,
                                                 p_job jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return false;
  end;
  perform everruns_private.settle_events_locked(v_run, p_events);
  update everruns.runs
     set step_errors = step_errors + case when p_count_error then 1 else 0 end,
         step_started_at = null,
         updated_at = now()
   where id = p_run_id;
  perform everruns_private.enqueue_step(p_run_id, p_seq,
    case when p_delay_ms > 0 then now() + make_interval(secs => p_delay_ms / 1000.0) end, p_job);
  return true;
end;
$$;
