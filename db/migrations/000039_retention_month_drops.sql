-- 000039: retention drops whole months in practice (issue 19, "Data lifecycle").
--
-- Under 000038 retention expired runs unit by unit, oldest finished first, and deleted each
-- unit's events and steps row by row; only the unit that expired a month's last kept run left
-- its rows to the drop of the month's partitions. A benchmark of a month of 1,000 small runs
-- deleted 9,600 of its 12,000 rows one by one before the month was dropped.
--
-- everruns_private.apply_retention, redefined (same signature, still one unit per call):
--
-- 1. Drop a past month whose runs all expired (unchanged), and forget it in
--    everruns_private.retention_months_in_place.
-- 2. New: a month begun in place (the oldest in retention_months_in_place) goes on in place: its
--    next p_batch kept runs, each checked again under its locks (the month was checked whole when
--    it began). When that marks nothing and the month turned mixed (a thread of it went on, its
--    workspace's retention changed...), the events and steps of its runs marked in place are
--    deleted, up to p_batch runs per call (returned as rows_deleted with runs_expired 0), then
--    the month is forgotten.
-- 3. New: the month of the oldest run that retention would expire now (the first candidate of
--    step 4): if it is a past month with both partitions of its own and every kept run of it may
--    go (everruns_private.retention_month_expirable: runs_history_kept_idx, stopping at the first
--    that may not), it is expired in place (everruns_private.retention_expire_month_in_place): up to
--    p_batch of its kept runs are locked, checked again, marked (history_expired_at) and their
--    attempts, signals, tool dispatches, MCP pins and trace export markers deleted, but not
--    their events and steps: those go with the month's partitions, which step 1 drops once every
--    run is marked. Only that one month is checked per call, and a month that stays mixed (a
--    run waiting for an answer for months) does not keep later months from this: once its runs
--    that may go are expired row by row, the oldest candidate is of a later month.
--    Readers treat a marked run as gone (API 410, run_history and run_history_compacted leave it
--    out, the archive skips it in the snapshot it reads its rows in), so the rows left until the
--    drop are never read as history.
-- 4. Otherwise expire the candidates by deleting their rows (000038's step 2, unchanged).
set local lock_timeout = '5s';

create table everruns_private.retention_months_in_place (
  month_from timestamptz primary key,
  started_at timestamptz not null default now()
);
comment on table everruns_private.retention_months_in_place is
  'Past months whose runs apply_retention began to expire in place (marked without deleting their events and steps, which go with the month''s partitions); a row goes when the month is dropped, or when the month turned mixed and the rows of its runs marked in place were deleted (000039).';
revoke all on table everruns_private.retention_months_in_place from public;

-- Whether every run of the month from p_from whose history is kept (not legacy) may go at p_now:
-- runs_history_kept_idx, stopping at the first that may not (a run not over at once, before the
-- full check). The month's newest kept run is looked at first: a month that is mixed because its
-- last runs are not old enough yet (the usual case) is told in one probe, and one mixed by an old
-- run that stays (a run waiting for an answer) is too once the runs before it went row by row,
-- oldest first. True for a month without kept runs.
create function everruns_private.retention_month_expirable(p_from timestamptz, p_now timestamptz)
returns boolean
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if exists (select from everruns.runs r
              where r.id = (select n.id from everruns.runs n
                             where n.created_at >= p_from and n.created_at < p_from + interval '1 month'
                               and n.history_expired_at is null
                               and not n.legacy_history
                             order by n.created_at desc
                             limit 1)
                and not everruns_private.history_expirable(r, p_now)) then
    return false;
  end if;
  return not exists (select from everruns.runs r
                      where r.created_at >= p_from and r.created_at < p_from + interval '1 month'
                        and r.history_expired_at is null
                        and not r.legacy_history
                        and case when not everruns_private.run_finished_for_retention(r) then true
                                 else not everruns_private.history_expirable(r, p_now) end);
end;
$$;
comment on function everruns_private.retention_month_expirable(timestamptz, timestamptz) is
  'Whether every kept, non-legacy run created in the month from p_from may go at p_now (history_expirable); stops at the first that may not (000039).';
revoke execute on function everruns_private.retention_month_expirable(timestamptz, timestamptz) from public;

-- Marks up to p_batch kept runs of the month from p_from expired at p_now without deleting their
-- events and steps (the month's partitions are dropped once all are marked), and deletes what only
-- their history and a rerun needed. Locks as apply_retention's row path does; marks nothing (0)
-- when the month has no kept run free, its threads are busy, or one of the runs may not go any
-- more. Records the month in retention_months_in_place. Returns how many runs it marked.
create function everruns_private.retention_expire_month_in_place(p_from timestamptz, p_now timestamptz, p_batch int)
returns int
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_ids uuid[];
  v_checked int;
  v_lock_timeout text := current_setting('lock_timeout');
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
  if v_ids is null then
    return 0;
  end if;
  -- their threads' latest runs (a new run on a thread is inserted holding it), then each run
  -- checked again: one that may not go any more makes the month mixed, nothing is marked
  perform set_config('lock_timeout', '500ms', true);
  begin
    perform from everruns.runs t
     where t.id in (select (select l.id from everruns.runs l where l.thread_id = c.thread_id
                             order by l.created_at desc, l.id desc limit 1)
                      from everruns.runs c where c.id = any (v_ids))
       for share of t;
  exception when lock_not_available then
    perform set_config('lock_timeout', v_lock_timeout, true);
    return 0;
  end;
  perform set_config('lock_timeout', v_lock_timeout, true);
  select count(*) into v_checked from everruns.runs r where r.id = any (v_ids) and everruns_private.history_expirable(r, p_now);
  if v_checked < cardinality(v_ids) then
    return 0;
  end if;
  insert into everruns_private.retention_months_in_place (month_from) values (p_from) on conflict (month_from) do nothing;
  update everruns.runs r set history_expired_at = p_now where r.id = any (v_ids);
  -- what only the run's history and a rerun needed: gone with it (no rerun of it is possible now)
  delete from everruns.run_attempts a where a.run_id = any (v_ids);
  delete from everruns.run_signals g where g.run_id = any (v_ids);
  delete from everruns.tool_dispatches d where d.run_id = any (v_ids);
  delete from everruns.run_mcp_tools m where m.run_id = any (v_ids);
  delete from everruns_private.trace_exports t where t.run_id = any (v_ids);
  return cardinality(v_ids);
end;
$$;
comment on function everruns_private.retention_expire_month_in_place(timestamptz, timestamptz, int) is
  'Marks up to p_batch kept runs of the month from p_from expired at p_now, leaving their events and steps to the drop of the month''s partitions (apply_retention, 000039); returns how many (0: none free, threads busy, or the month is mixed now).';
revoke execute on function everruns_private.retention_expire_month_in_place(timestamptz, timestamptz, int) from public;

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
   where to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(m.month_from at time zone 'UTC', 'YYYYMM'))) is null
      or to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(m.month_from at time zone 'UTC', 'YYYYMM'))) is null;
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
        -- the engine's order (run_steps, then run_events), each pruned to the run's partition
        delete from everruns.run_steps s using everruns.runs r
         where r.id = any (v_delete) and s.run_id = r.id and s.run_created_at = r.created_at;
        get diagnostics v_n = row_count;
        v_rows := v_rows + v_n;
        delete from everruns.run_events e using everruns.runs r
         where r.id = any (v_delete) and e.run_id = r.id and e.run_created_at = r.created_at;
        get diagnostics v_n = row_count;
        v_rows := v_rows + v_n;
        return query select 0, v_rows, 0;
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
     and to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(v_from at time zone 'UTC', 'YYYYMM'))) is not null
     and to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(v_from at time zone 'UTC', 'YYYYMM'))) is not null
     and everruns_private.retention_month_expirable(v_from, p_now) then
    v_n := everruns_private.retention_expire_month_in_place(v_from, p_now, p_batch);
    if v_n > 0 then
      return query select v_n::int, 0::bigint, 0;
      return;
    end if;
  end if;

  -- 4. expire the candidates row by row
  -- locked as the engine locks them (their rows, skipping those held: a commit, a rerun or a
  -- continuation in flight)
  select array_agg(l.id) into v_ids
    from (select r.id from everruns.runs r where r.id = any (v_ids) order by r.id for update of r skip locked) l;
  if v_ids is null then
    return query select 0, 0::bigint, 0;
    return;
  end if;
  -- a new run on one of their threads (a continuation, a rerun, an answer) is inserted holding
  -- the thread's latest run (tg_runs__prepare): hold those too, so that one either committed and
  -- is seen by the check below (its thread is live again) or starts after this batch
  perform set_config('lock_timeout', '500ms', true);
  begin
    perform from everruns.runs t
     where t.id in (select (select l.id from everruns.runs l where l.thread_id = c.thread_id
                             order by l.created_at desc, l.id desc limit 1)
                      from everruns.runs c where c.id = any (v_ids))
       for share of t;
  exception when lock_not_available then
    perform set_config('lock_timeout', v_lock_timeout, true);
    return query select 0, 0::bigint, 0;
    return;
  end;
  perform set_config('lock_timeout', v_lock_timeout, true);
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
              and to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(r.created_at at time zone 'UTC', 'YYYYMM'))) is not null
              and to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(r.created_at at time zone 'UTC', 'YYYYMM'))) is not null
              -- runs_history_kept_idx
              and not exists (select from everruns.runs o
                               where o.created_at >= date_trunc('month', r.created_at, 'UTC')
                                 and o.created_at < date_trunc('month', r.created_at, 'UTC') + interval '1 month'
                                 and o.history_expired_at is null
                                 and not o.legacy_history));
  if v_delete is not null then
    -- the engine's order (run_steps, then run_events), each pruned to the run's partition
    delete from everruns.run_steps s using everruns.runs r
     where r.id = any (v_delete) and s.run_id = r.id
       and s.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history);
    get diagnostics v_n = row_count;
    v_rows := v_rows + v_n;
    delete from everruns.run_events e using everruns.runs r
     where r.id = any (v_delete) and e.run_id = r.id
       and e.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history);
    get diagnostics v_n = row_count;
    v_rows := v_rows + v_n;
  end if;
  -- what only the run's history and a rerun needed: gone with it (no rerun of it is possible now)
  delete from everruns.run_attempts a where a.run_id = any (v_ids);
  delete from everruns.run_signals g where g.run_id = any (v_ids);
  delete from everruns.tool_dispatches d where d.run_id = any (v_ids);
  delete from everruns.run_mcp_tools m where m.run_id = any (v_ids);
  delete from everruns_private.trace_exports t where t.run_id = any (v_ids);
  return query select cardinality(v_ids), v_rows, 0;
end;
$$;
comment on function everruns_private.apply_retention(timestamptz, int, int) is
  'One unit of retention (000038, 000039): drops the partitions of one past month whose runs have all expired; or, while every kept run of a month begun in place or of the month of the oldest run that may go now may go (history_expirable), marks up to p_batch of them expired in place (history_expired_at set; attempts, signals, MCP pins, tool dispatches and trace export markers deleted; events and steps left to the drop of the month''s partitions); or, for a month begun in place that turned mixed, deletes the events and steps of up to p_batch of its runs marked in place; or expires up to p_batch runs (about p_max_rows events and steps) whose history may go, deleting their events and steps too (those of a month about to be dropped whole stay until the drop). Returns what it did; call it again until it returns zeros.';
