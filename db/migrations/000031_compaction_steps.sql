-- 000031: context compaction (issue 18, "Context compaction"): a new step kind, `compaction`.
--
-- When the next LLM call of a run would send more than the agent's context budget
-- (config.context, docs/context.md), the run's next step is a compaction: it asks the model to
-- summarise the oldest turns and commits {summary, through, tokens_before, tokens_after, ...}
-- with the summary call's usage. Later LLM calls send the system prompt, the latest summary and
-- the turns after `through`; the history itself stays as it was (worker/context/).
--
-- Additive only: the checks listing step kinds are widened (run_steps.kind, and
-- run_attempts.step_kind, which a commit sets from its step's kind, 000013), and
-- append_events_locked (as in 000017) learns the kind from a compaction's STEP_STARTED too, so the
-- console names the step in progress. A new function, run_history_compacted, reads a thread's
-- history from the latest summary on, for a worker that takes a long run over. The previous
-- release's workers never write the new kind; one that meets a compaction step in a thread's
-- history refuses to parse it, its job fails and is retried with graphile-worker's backoff until a
-- worker of this release takes it (docs/context.md, "Rolling deploys"). The checks are added NOT
-- VALID and left so, as 000003, 000015 and 000029 leave theirs: validating them in this
-- transaction would scan run_steps and run_attempts under the ACCESS EXCLUSIVE lock the ALTERs
-- take. Every row written since is checked; the rows before predate the new kind.
--
-- A compaction's summary call is spent like an LLM call, so workspace daily quotas (000023) count
-- it: the trigger tg_run_steps__quota_usage fires for kind 'compaction' too, and
-- set_workspace_admission's first count of a newly set quota includes those steps.
set local lock_timeout = '5s';

alter table everruns.run_steps drop constraint run_steps_kind_check;
alter table everruns.run_steps add constraint run_steps_kind_check
  check (kind in ('llm', 'tool', 'wait', 'system', 'compaction')) not valid;

alter table everruns.run_attempts drop constraint run_attempts_step_kind_check;
alter table everruns.run_attempts add constraint run_attempts_step_kind_check
  check (step_kind in ('llm', 'tool', 'wait', 'system', 'compaction')) not valid;

-- As in 000017, with 'compaction' among the kinds an attempt in flight learns from its step's name.
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
           step_kind = case when split_part(split_part(v_name, ': ', 2), ' ', 1) in ('llm', 'tool', 'wait', 'system', 'compaction')
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

-- The thread's history as run_history(run, 'thread') gives it, from the entry its latest
-- compaction covers through on (that entry included, so the worker finds where the summary
-- applies; worker/context/compaction.ts latestCompaction). What a managed LLM call sends starts
-- there: a worker that takes a long run over reads the turns since the last summary, not the
-- whole thread. No compaction, or one whose entry is no longer in the history (a rerun replaced
-- its run): the whole history. The runs and steps kept are run_history's (000016: the same CTEs);
-- entries are in its order, (created_at, run id, seq), and those before the covered entry are
-- left out before they are built.
create function everruns_private.run_history_compacted(p_run_id uuid) returns jsonb
  language plpgsql stable
  set plan_cache_mode = force_generic_plan
  as $$
declare
  v_run everruns.runs;
  v_from_at timestamptz;
  v_from_run uuid;
  v_from_seq int;
  v_result jsonb;
begin
  select * into v_run from everruns.runs where id = p_run_id;
  -- the latest compaction of the kept history, and the position of the entry it covers through
  -- when that entry is in the kept history too
  with runs as (
    select r.id, r.created_at, r.rerun_of, r.rerun_from_seq from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
  ), replaced as (
    select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
    from runs x where x.rerun_of is not null
    order by x.rerun_of, x.created_at desc, x.id desc
  ), kept as (
    select r.id, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq
    from runs r left join replaced p on p.id = r.id
    where p.id is null or p.keep_to_seq is not null
  ), latest as (
    select s.output -> 'through' as through
    from kept k join everruns.run_steps s on s.run_id = k.id
    where (not k.was_rerun or s.seq <= k.keep_to_seq) and s.kind = 'compaction' and s.status = 'succeeded'
    order by k.created_at desc, k.id desc, s.seq desc
    limit 1
  )
  select k.created_at, k.id, (l.through ->> 'seq')::int into v_from_at, v_from_run, v_from_seq
  from latest l join kept k on k.id::text = l.through ->> 'run_id'
  where case when (l.through ->> 'seq')::int = -1 then k.rerun_from_seq is null
             else not k.was_rerun or (l.through ->> 'seq')::int <= k.keep_to_seq end;
  if v_from_run is null then
    return everruns_private.run_history(p_run_id, 'thread');
  end if;

  -- As run_history(run, 'thread') (000016), from (v_from_at, v_from_run, v_from_seq) on.
  with runs as (
    select r.id, r.input, r.created_at, r.rerun_of, r.rerun_from_seq from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
  ), replaced as (
    select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
    from runs x where x.rerun_of is not null
    order by x.rerun_of, x.created_at desc, x.id desc
  ), kept as (
    select r.id, r.input, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq
    from runs r left join replaced p on p.id = r.id
    where (p.id is null or p.keep_to_seq is not null) and (r.created_at, r.id) >= (v_from_at, v_from_run)
  ), entries as (
    select k.created_at, k.id as run_id, -1 as seq,
           jsonb_build_object('kind', 'input', 'run_id', k.id, 'input', k.input) as entry
    from kept k
    where k.rerun_from_seq is null and (k.created_at, k.id, -1) >= (v_from_at, v_from_run, v_from_seq)
    union all
    select k.created_at, k.id, s.seq,
           jsonb_build_object('kind', 'step', 'run_id', k.id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from kept k join everruns.run_steps s on s.run_id = k.id
    where (not k.was_rerun or s.seq <= k.keep_to_seq) and (k.created_at, k.id, s.seq) >= (v_from_at, v_from_run, v_from_seq)
  )
  select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;
comment on function everruns_private.run_history_compacted(uuid) is 'The thread''s history (run_history(run, ''thread'')) from the entry its latest compaction covers through on (000031).';
revoke execute on function everruns_private.run_history_compacted(uuid) from public;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function everruns_private.run_history_compacted(uuid) to everruns_worker;
  end if;
end;
$$;

-- Workspace daily quotas (000023) count a compaction's summary call as they count an LLM call.
-- The trigger's function counts whatever row the trigger passes it; the trigger is created again
-- with 'compaction' among the kinds it fires for.
drop trigger tg_run_steps__quota_usage on everruns.run_steps;
create trigger tg_run_steps__quota_usage after insert on everruns.run_steps
  for each row when (new.kind in ('llm', 'compaction') and new.usage is not null)
  execute function everruns_private.tg_run_steps__quota_usage();

-- As in 000023, with compaction steps in the first count of a newly set quota.
create or replace function everruns_private.set_workspace_admission(p_workspace uuid, p_limits jsonb)
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
  -- on tg_run_steps__quota_usage counts each LLM and compaction step as it commits)
  if v_old.max_tokens_per_day is null and v_old.max_cost_usd_per_day is null
     and (v_new.max_tokens_per_day is not null or v_new.max_cost_usd_per_day is not null) then
    insert into everruns_private.workspace_usage_days as u (workspace_id, day, tokens, cost_usd)
    select p_workspace, (now() at time zone 'UTC')::date,
           coalesce(sum(coalesce((s.usage ->> 'input_tokens')::bigint, 0) + coalesce((s.usage ->> 'output_tokens')::bigint, 0)), 0),
           coalesce(sum(coalesce((s.usage ->> 'cost_usd')::numeric, 0)), 0)
      from everruns.run_steps s
     where s.workspace_id = p_workspace and s.kind in ('llm', 'compaction') and s.usage is not null
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
