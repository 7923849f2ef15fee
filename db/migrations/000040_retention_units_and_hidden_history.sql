-- 000040: expired history is out of the API's sight at once, and retention's units share their
-- steps (issue 19, "Data lifecycle").
--
-- 1. The API's database role (everruns_api: every GraphQL operation, REST and AG-UI read) no
--    longer sees the events and steps of a run whose history expired. Retention marks a run
--    (runs.history_expired_at) in the transaction that deletes its events and steps, except when
--    the whole month goes (000039): then its rows stay until the month's partitions are dropped,
--    and GraphQL's Run.runEventsByRunId, Run.runStepsByRunId, Query.allRunEvents,
--    Query.allRunSteps, node and by-key lookups (and the usage_daily view, security_invoker)
--    still listed them. A restrictive policy for select, history_kept, on each of run_events and
--    run_steps leaves them out: a run whose history expired has none, however it was expired.
--    The engine (everruns_worker) and the owner are not concerned (the engine's readers leave
--    expired runs out themselves: run_history, run_history_compacted).
-- 2. apply_retention (000039) and retention_expire_month_in_place repeated three steps: holding
--    the threads' latest runs, deleting a set of runs' events and steps, and deleting what only
--    their history and a rerun needed. Each is one private function now, and so is the test of a
--    month having both partitions of its own; both functions are redefined over them, with the
--    same behaviour.
set local lock_timeout = '5s';

---------------------------------------------------------------------------------------------
-- 1. Expired history out of the API's sight
---------------------------------------------------------------------------------------------
-- runs_pkey, one probe a row: a scalar subquery (not exists could be planned as a hash of every
-- expired run of the workspace, built for each read); the run is in the key's workspace (in_workspace)
create policy history_kept on everruns.run_events as restrictive for select to everruns_api
  using ((select r.history_expired_at from everruns.runs r where r.id = run_events.run_id) is null);
create policy history_kept on everruns.run_steps as restrictive for select to everruns_api
  using ((select r.history_expired_at from everruns.runs r where r.id = run_steps.run_id) is null);
comment on policy history_kept on everruns.run_events is
  'The API (everruns_api) does not see the events of a run whose history expired (runs.history_expired_at), even while they wait for the drop of their month''s partitions (000040).';
comment on policy history_kept on everruns.run_steps is
  'The API (everruns_api) does not see the steps of a run whose history expired (runs.history_expired_at), even while they wait for the drop of their month''s partitions (000040).';

---------------------------------------------------------------------------------------------
-- 2. Retention's shared steps
---------------------------------------------------------------------------------------------
-- Whether the month from p_from has both partitions of its own (not only the DEFAULT ones).
create function everruns_private.retention_month_partitioned(p_from timestamptz)
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
  select to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(p_from at time zone 'UTC', 'YYYYMM'))) is not null
     and to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(p_from at time zone 'UTC', 'YYYYMM'))) is not null
$$;
comment on function everruns_private.retention_month_partitioned(timestamptz) is
  'Whether the month from p_from has both partitions of its own, run_steps_pYYYYMM and run_events_pYYYYMM (000040).';
revoke execute on function everruns_private.retention_month_partitioned(timestamptz) from public;

-- Holds (for share) the latest run of each thread of the runs p_ids, waiting at most 500 ms: a new
-- run on a thread (a continuation, a rerun, an answer) is inserted holding the thread's latest run
-- (tg_runs__prepare), so that one either committed before and is seen by the caller's check, or
-- starts after the caller's transaction. False when a lock was not had in time.
create function everruns_private.retention_lock_threads(p_ids uuid[])
returns boolean
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_lock_timeout text := current_setting('lock_timeout');
begin
  perform set_config('lock_timeout', '500ms', true);
  begin
    perform from everruns.runs t
     where t.id in (select (select l.id from everruns.runs l where l.thread_id = c.thread_id
                             order by l.created_at desc, l.id desc limit 1)
                      from everruns.runs c where c.id = any (p_ids))
       for share of t;
  exception when lock_not_available then
    perform set_config('lock_timeout', v_lock_timeout, true);
    return false;
  end;
  perform set_config('lock_timeout', v_lock_timeout, true);
  return true;
end;
$$;
comment on function everruns_private.retention_lock_threads(uuid[]) is
  'Holds for share the latest run of each thread of the runs p_ids (500 ms at most), so that no new run of those threads starts before the caller commits; false when a lock was not had (000040).';
revoke execute on function everruns_private.retention_lock_threads(uuid[]) from public;

-- Deletes the events and steps of the runs p_ids, in the engine's order (run_steps, then
-- run_events), each pruned to the run's partition; returns how many rows.
create function everruns_private.retention_delete_history(p_ids uuid[])
returns bigint
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_rows bigint := 0;
  v_n bigint;
begin
  delete from everruns.run_steps s using everruns.runs r
   where r.id = any (p_ids) and s.run_id = r.id
     and s.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history);
  get diagnostics v_n = row_count;
  v_rows := v_rows + v_n;
  delete from everruns.run_events e using everruns.runs r
   where r.id = any (p_ids) and e.run_id = r.id
     and e.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history);
  get diagnostics v_n = row_count;
  return v_rows + v_n;
end;
$$;
comment on function everruns_private.retention_delete_history(uuid[]) is
  'Deletes the events and steps of the runs p_ids (run_steps first, each pruned to the run''s partition); returns how many rows (000040).';
revoke execute on function everruns_private.retention_delete_history(uuid[]) from public;

-- Deletes what only the history of the runs p_ids and a rerun of them needed: their attempts,
-- signals, tool dispatches, MCP tool pins and trace export markers (no rerun of an expired run is
-- possible: EV008).
create function everruns_private.retention_forget_runs(p_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from everruns.run_attempts a where a.run_id = any (p_ids);
  delete from everruns.run_signals g where g.run_id = any (p_ids);
  delete from everruns.tool_dispatches d where d.run_id = any (p_ids);
  delete from everruns.run_mcp_tools m where m.run_id = any (p_ids);
  delete from everruns_private.trace_exports t where t.run_id = any (p_ids);
end;
$$;
comment on function everruns_private.retention_forget_runs(uuid[]) is
  'Deletes the attempts, signals, tool dispatches, MCP tool pins and trace export markers of the runs p_ids, whose history expired (000040).';
revoke execute on function everruns_private.retention_forget_runs(uuid[]) from public;

create or replace function everruns_private.retention_expire_month_in_place(p_from timestamptz, p_now timestamptz, p_batch int)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ids uuid[];
  v_checked int;
begin
  -- runs_history_kept_idx; locked as the engine locks them, skipping those held
  select array_agg(l.id) into v_ids
    from (select r.id from everruns.runs r
           where r.created_at >= p_from and r.created_at < p_from + interval '1 month'
             and r.history_expired_at is null
             and not r.legacy_history
           order by r.created_at
           limit p_batch
             for update of r skip locked) l;
  if v_ids is null or not everruns_private.retention_lock_threads(v_ids) then
    return 0;
  end if;
  -- each run checked again: one that may not go any more makes the month mixed, nothing is marked
  select count(*) into v_checked from everruns.runs r where r.id = any (v_ids) and everruns_private.history_expirable(r, p_now);
  if v_checked < cardinality(v_ids) then
    return 0;
  end if;
  insert into everruns_private.retention_months_in_place (month_from) values (p_from) on conflict (month_from) do nothing;
  update everruns.runs r set history_expired_at = p_now where r.id = any (v_ids);
  perform everruns_private.retention_forget_runs(v_ids);
  return cardinality(v_ids);
end;
$$;

create or replace function everruns_private.apply_retention(p_now timestamptz default now(), p_batch int default 200, p_max_rows int default 50000)
returns table (runs_expired int, rows_deleted bigint, partitions_dropped int)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
-- the candidates' estimates (every finished run) would compile the unit's queries (about 1 s)
set jit = off
as $$
declare
  v_month record;
  v_from timestamptz;
  v_tried timestamptz;
  v_first everruns.runs;
  v_ids uuid[];
  v_delete uuid[];
  v_rows bigint := 0;
  v_n bigint;
  v_lock_timeout text := current_setting('lock_timeout');
  -- months before this one are past for both p_now and the database clock (an injected p_now
  -- never touches the partitions this month's and next months' runs write to)
  v_past_before timestamptz := date_trunc('month', least(p_now, now()), 'UTC');
begin
  if p_batch is null or p_batch < 1 or p_batch > 10000 then
    raise exception 'batch must be from 1 to 10000, got %', p_batch using errcode = '22023';
  end if;
  if p_max_rows is null or p_max_rows < 1 then
    raise exception 'max rows must be at least 1, got %', p_max_rows using errcode = '22023';
  end if;
  -- 1. a past month whose runs have all expired: drop its partitions (the rows go with them)
  for v_month in
    select e.from_at, e.to_at, e.suffix
      from (select substr(c.relname, length('run_events_p') + 1) as suffix,
                   to_timestamp(substr(c.relname, length('run_events_p') + 1), 'YYYYMM') at time zone 'UTC' as from_at,
                   (to_timestamp(substr(c.relname, length('run_events_p') + 1), 'YYYYMM') at time zone 'UTC') + interval '1 month' as to_at
              from pg_class c
             where c.relnamespace = 'everruns_partitions'::regnamespace and c.relkind = 'r'
               and c.relname ~ '^run_events_p[0-9]{6}$') e
     where e.to_at <= v_past_before
       -- runs_history_kept_idx
       and not exists (select from everruns.runs r
                        where r.created_at >= e.from_at and r.created_at < e.to_at
                          and r.history_expired_at is null
                          and not r.legacy_history)
     order by e.from_at
     limit 1
  loop
    perform set_config('lock_timeout', '500ms', true);
    begin
      -- the engine's order: run_steps, then run_events
      execute format('drop table if exists everruns_partitions.%I', 'run_steps_p' || v_month.suffix);
      execute format('drop table everruns_partitions.%I', 'run_events_p' || v_month.suffix);
      perform set_config('lock_timeout', v_lock_timeout, true);
      delete from everruns_private.retention_months_in_place m where m.month_from = v_month.from_at;
      return query select 0, 0::bigint, 1;
      return;
    exception when lock_not_available then
      -- the engine is writing: the next round tries again; expire row by row meanwhile
      perform set_config('lock_timeout', v_lock_timeout, true);
    end;
  end loop;

  -- 2. a month begun in place goes on: its next batch, each run checked again under its locks
  -- (the month was checked whole when it began). When that marks nothing and the month is mixed
  -- now, the rows of its runs marked in place are deleted (up to p_batch runs; runs_created_idx),
  -- then it is forgotten.
  delete from everruns_private.retention_months_in_place m
   where not everruns_private.retention_month_partitioned(m.month_from);
  select m.month_from into v_tried from everruns_private.retention_months_in_place m order by m.month_from limit 1;
  if v_tried is not null then
    v_n := everruns_private.retention_expire_month_in_place(v_tried, p_now, p_batch);
    if v_n > 0 then
      return query select v_n::int, 0::bigint, 0;
      return;
    end if;
    if not everruns_private.retention_month_expirable(v_tried, p_now) then
      select array_agg(x.id) into v_delete
        from (select r.id from everruns.runs r
               where r.created_at >= v_tried and r.created_at < v_tried + interval '1 month'
                 and r.history_expired_at is not null
                 and not r.legacy_history
                 and (exists (select from everruns.run_steps s where s.run_id = r.id and s.run_created_at = r.created_at)
                      or exists (select from everruns.run_events e where e.run_id = r.id and e.run_created_at = r.created_at))
               limit p_batch) x;
      if v_delete is not null then
        return query select 0, everruns_private.retention_delete_history(v_delete), 0;
        return;
      end if;
      delete from everruns_private.retention_months_in_place m where m.month_from = v_tried;
    end if;
  end if;

  -- the oldest finished runs whose history may go, workspace by workspace under its own
  -- retention (runs_retention_idx; a workspace keeping history forever is not looked at), up to
  -- p_batch runs and about p_max_rows rows (each run's events and steps: event_seq + step_cursor)
  select array_agg(x.id order by x.finished_at, x.id) into v_ids
    from (select c.id, c.finished_at,
                 sum(c.size) over (order by c.finished_at, c.id) - c.size as rows_before
            from (select r.id, r.finished_at, r.size
                    from everruns.workspaces w
                    cross join lateral (
                      select r.id, r.finished_at, r.event_seq + r.step_cursor as size
                        from everruns.runs r
                       where r.workspace_id = w.id
                         and r.history_expired_at is null and r.finished_at is not null
                         -- finished_at <= retention_clock: only a prefilter
                         and r.finished_at < p_now - make_interval(days => w.retention_days)
                         and everruns_private.run_finished_for_retention(r)
                         -- runs_thread_live_idx: a run of a thread still running is passed over
                         -- at once (case: before the full check, which the planner would put first)
                         and case when exists (select from everruns.runs t
                                                where t.thread_id = r.thread_id
                                                  and (t.status in ('queued', 'running', 'waiting') or (t.status = 'interrupted' and t.continued_by is null)))
                                  then false
                                  else everruns_private.history_expirable(r, p_now) end
                       order by r.finished_at
                       limit p_batch) r
                   where w.retention_days is not null
                   order by r.finished_at, r.id
                   limit p_batch) c) x
   where x.rows_before < p_max_rows;
  if v_ids is null then
    return query select 0, 0::bigint, 0;
    return;
  end if;

  -- 3. the month of the oldest candidate (unless step 2 just tried it): when every kept run of it
  -- may go, expire it in place
  select * into v_first from everruns.runs r where r.id = v_ids[1];
  v_from := date_trunc('month', v_first.created_at, 'UTC');
  if not v_first.legacy_history
     and v_from is distinct from v_tried
     and v_from + interval '1 month' <= v_past_before
     and everruns_private.retention_month_partitioned(v_from)
     and everruns_private.retention_month_expirable(v_from, p_now) then
    v_n := everruns_private.retention_expire_month_in_place(v_from, p_now, p_batch);
    if v_n > 0 then
      return query select v_n::int, 0::bigint, 0;
      return;
    end if;
  end if;

  -- 4. expire the candidates row by row
  -- locked as the engine locks them (their rows, skipping those held: a commit, a rerun or a
  -- continuation in flight), then their threads' latest runs, then each checked again
  select array_agg(l.id) into v_ids
    from (select r.id from everruns.runs r where r.id = any (v_ids) order by r.id for update of r skip locked) l;
  if v_ids is null or not everruns_private.retention_lock_threads(v_ids) then
    return query select 0, 0::bigint, 0;
    return;
  end if;
  select array_agg(r.id) into v_ids
    from everruns.runs r where r.id = any (v_ids) and everruns_private.history_expirable(r, p_now);
  if v_ids is null then
    return query select 0, 0::bigint, 0;
    return;
  end if;
  update everruns.runs r set history_expired_at = p_now where r.id = any (v_ids);

  -- the rows of runs whose month will be dropped whole stay until the drop (a past month with
  -- both partitions of its own where every run has expired now); the others are deleted
  select array_agg(r.id) into v_delete
    from everruns.runs r
   where r.id = any (v_ids)
     and not (not r.legacy_history
              and date_trunc('month', r.created_at, 'UTC') + interval '1 month' <= v_past_before
              and everruns_private.retention_month_partitioned(date_trunc('month', r.created_at, 'UTC'))
              -- runs_history_kept_idx
              and not exists (select from everruns.runs o
                               where o.created_at >= date_trunc('month', r.created_at, 'UTC')
                                 and o.created_at < date_trunc('month', r.created_at, 'UTC') + interval '1 month'
                                 and o.history_expired_at is null
                                 and not o.legacy_history));
  if v_delete is not null then
    v_rows := everruns_private.retention_delete_history(v_delete);
  end if;
  perform everruns_private.retention_forget_runs(v_ids);
  return query select cardinality(v_ids), v_rows, 0;
end;
$$;
