-- 000037: the operations dashboard's observability figures (issue 19, "Console"), computed by the
-- database and read by the console through GraphQL (api/graphql/smart-tags.ts exposes them):
--
-- 1. everruns.step_latency_by_kind(window_seconds): p50/p95/p99 of committed steps' duration by
--    kind (llm, tool, wait, state, compaction, system) over the last window_seconds.
-- 2. everruns.resume_latency(window_seconds, bucket_seconds): per bucket, the attempts of the
--    steps committed, the attempts lost to a crash (worker_died, fenced_out) and p50/p95 of the
--    time from the loss to the next attempt of the run (the bench's "resumed",
--    db/sql/benchResumeLatencies.ts, from the database's own records).
-- 3. everruns.provider_step_stats(window_seconds): LLM steps by the provider of the run's pinned
--    agent version: steps, failed steps, attempts (retries and crashes included) per committed step.
--
-- All are `security invoker`: they read with the caller's rights, so row-level security confines
-- them to the caller's workspace (the API's everruns_api under its key's workspace) like any
-- select. Each reads the steps committed in the window, found by a new index on
-- run_steps.finished_at, every row of them (exact percentiles need every duration: ~2 s for a
-- week of 440,000 steps on 2 busy cores). Attempts come from run_steps.attempt (how
-- many times the committed step was begun: step_attempt, reset when the cursor moves); only steps
-- begun more than once, and attempts lost to a crash (a partial index: they are rare), are looked
-- up in run_attempts.
--
-- JIT is off in them: their plans' estimates over a week of steps cross the JIT thresholds, and
-- compiling took longer than the query (a minute for the 7-day resume chart on 2 busy cores).
--
-- Additive only: new functions and two indexes.
set local lock_timeout = '5s';

---------------------------------------------------------------------------------------------
-- 1. Step latency by kind
---------------------------------------------------------------------------------------------
create function everruns.step_latency_by_kind(window_seconds integer)
  returns table (kind text, steps integer, failed integer, p50_ms double precision, p95_ms double precision,
                 p99_ms double precision, max_ms double precision)
  language plpgsql stable strict security invoker
  set search_path = pg_catalog, pg_temp
  set jit = off
  as $$
#variable_conflict use_column
declare
  v_since timestamptz;
begin
  if window_seconds < 60 or window_seconds > 7776000 then
    raise exception 'windowSeconds must be from 60 to 7776000 (90 days), got %', window_seconds
      using errcode = '22023', hint = 'Give the window in seconds: 3600 (1 h), 86400 (24 h), 604800 (7 d).';
  end if;
  v_since := now() - make_interval(secs => window_seconds);
  return query
    select s.kind,
           count(*)::integer,
           (count(*) filter (where s.status = 'failed'))::integer,
           round((percentile_cont(0.5) within group (order by s.duration_ms))::numeric, 1)::double precision,
           round((percentile_cont(0.95) within group (order by s.duration_ms))::numeric, 1)::double precision,
           round((percentile_cont(0.99) within group (order by s.duration_ms))::numeric, 1)::double precision,
           round(max(s.duration_ms), 1)::double precision
      from everruns.run_steps s
     where s.finished_at >= v_since
     group by s.kind
     order by array_position(array['llm', 'tool', 'wait', 'state', 'compaction', 'system'], s.kind), s.kind;
end;
$$;
comment on function everruns.step_latency_by_kind(integer) is
  'Committed steps of the last windowSeconds (60 s to 90 days) by kind (llm, tool, wait, state, compaction, system): how many, how many failed, and the p50, p95, p99 and max of their duration in ms (000037).';

---------------------------------------------------------------------------------------------
-- 2. Resume after a crash, per bucket
---------------------------------------------------------------------------------------------
-- A lost attempt: its worker died (the sweep marked it worker_died, at freed_at) or a newer
-- attempt took it over (fenced_out: lost since its last event, or its start). Its resume: the
-- first later attempt of the same run (the same step again, or the next one when its commit raced
-- the loss). Lost attempts are bucketed by when they were lost (found by run_attempts_lost_idx,
-- on when they ended); `attempts` counts the attempts of the steps committed in each bucket.
-- the window's steps, read by every figure (a step's row is written once, at its commit)
create index run_steps_finished_idx on everruns.run_steps (finished_at);
create index run_attempts_lost_idx on everruns.run_attempts (ended_at) where outcome in ('worker_died', 'fenced_out');

create function everruns.resume_latency(window_seconds integer, bucket_seconds integer)
  returns table (bucket_start timestamptz, attempts integer, lost integer, resumed integer,
                 p50_ms double precision, p95_ms double precision, max_ms double precision)
  language plpgsql stable strict security invoker
  set search_path = pg_catalog, pg_temp
  set jit = off
  as $$
#variable_conflict use_column
declare
  v_since timestamptz;
  v_width interval;
begin
  if window_seconds < 60 or window_seconds > 7776000 then
    raise exception 'windowSeconds must be from 60 to 7776000 (90 days), got %', window_seconds
      using errcode = '22023', hint = 'Give the window in seconds: 3600 (1 h), 86400 (24 h), 604800 (7 d).';
  end if;
  if bucket_seconds < 60 or window_seconds / bucket_seconds > 1000 then
    raise exception 'bucketSeconds must be at least 60 and give at most 1000 buckets, got % for a window of % s', bucket_seconds, window_seconds
      using errcode = '22023', hint = 'e.g. 3600 (hourly buckets) for a window of 24 h or 7 d.';
  end if;
  v_since := now() - make_interval(secs => window_seconds);
  v_width := make_interval(secs => bucket_seconds);
  return query
    with b as (
      select generate_series(date_bin(v_width, v_since, timestamptz 'epoch'), now(), v_width) as start
    ),
    begun as (
      select date_bin(v_width, s.finished_at, timestamptz 'epoch') as start, sum(s.attempt)::integer as n
        from everruns.run_steps s
       where s.finished_at >= v_since
       group by 1
    ),
    gaps as (
      select date_bin(v_width, x.lost_at, timestamptz 'epoch') as start,
             extract(epoch from (
               (select min(n.started_at) from everruns.run_attempts n
                 where n.run_id = x.run_id and (n.seq, n.attempt) > (x.seq, x.attempt)) - x.lost_at)) * 1000 as ms
        from (select a.run_id, a.seq, a.attempt,
                     greatest(case when a.outcome = 'worker_died' then coalesce(a.freed_at, a.ended_at)
                                   else coalesce(a.last_event_at, a.started_at) end, v_since) as lost_at
                from everruns.run_attempts a
               where a.outcome in ('worker_died', 'fenced_out') and a.ended_at >= v_since) x
    ),
    lost as (
      select g.start, count(*)::integer as n, count(g.ms)::integer as resumed,
             percentile_cont(0.5) within group (order by greatest(g.ms, 0)) as p50,
             percentile_cont(0.95) within group (order by greatest(g.ms, 0)) as p95,
             max(greatest(g.ms, 0)) as mx
        from gaps g
       group by g.start
    )
    select b.start, coalesce(bg.n, 0), coalesce(l.n, 0), coalesce(l.resumed, 0),
           round(l.p50::numeric, 1)::double precision, round(l.p95::numeric, 1)::double precision,
           round(l.mx::numeric, 1)::double precision
      from b
      left join begun bg on bg.start = b.start
      left join lost l on l.start = b.start
     order by b.start;
end;
$$;
comment on function everruns.resume_latency(integer, integer) is
  'Per bucketSeconds over the last windowSeconds (oldest first, empty buckets included): the attempts of the steps committed in it, attempts lost to a crash (worker died, or fenced out by a newer attempt), how many of those a later attempt resumed, and the p50, p95 and max ms from the loss (the sweep that found the worker dead; a fenced-out attempt''s last event) to that attempt''s start (000037).';

---------------------------------------------------------------------------------------------
-- 3. LLM steps by provider: retries and errors
---------------------------------------------------------------------------------------------
-- The provider is the run's pinned agent version's (agents.config.provider: openai, anthropic,
-- scripted, ...). Attempts are every begin of the committed step (run_steps.attempt): the
-- committing one, those retried after a transient error, those lost to a crash; a step begun more
-- than once has its attempts' outcomes counted in run_attempts (runs from before 000013 have none).
create function everruns.provider_step_stats(window_seconds integer)
  returns table (provider text, steps integer, failed integer, attempts integer, retried integer, lost integer,
                 error_rate double precision, attempts_per_step double precision, p95_ms double precision)
  language plpgsql stable strict security invoker
  set search_path = pg_catalog, pg_temp
  set jit = off
  as $$
#variable_conflict use_column
declare
  v_since timestamptz;
begin
  if window_seconds < 60 or window_seconds > 7776000 then
    raise exception 'windowSeconds must be from 60 to 7776000 (90 days), got %', window_seconds
      using errcode = '22023', hint = 'Give the window in seconds: 3600 (1 h), 86400 (24 h), 604800 (7 d).';
  end if;
  v_since := now() - make_interval(secs => window_seconds);
  -- the window's LLM steps first, then the provider of each of their runs (by primary key), then
  -- the attempts of the steps begun more than once
  return query
    with s as materialized (
      select s.run_id, s.seq, s.status, s.duration_ms, greatest(s.attempt, 1) as attempts
        from everruns.run_steps s
       where s.finished_at >= v_since
         and s.kind = 'llm'
    ),
    p as materialized (
      select r.id, coalesce(v.config ->> 'provider', 'unknown') as provider
        from everruns.runs r
        join everruns.agent_versions v on v.agent_id = r.agent_id and v.version = r.agent_version
       where r.id in (select s.run_id from s)
    ),
    t as (
      select a.run_id, a.seq,
             count(*) filter (where a.outcome = 'retried') as retried,
             count(*) filter (where a.outcome in ('worker_died', 'fenced_out')) as lost
        from s
        join everruns.run_attempts a on a.run_id = s.run_id and a.seq = s.seq
       where s.attempts > 1
       group by a.run_id, a.seq
    )
    select p.provider,
           count(*)::integer,
           (count(*) filter (where s.status = 'failed'))::integer,
           sum(s.attempts)::integer,
           coalesce(sum(t.retried), 0)::integer,
           coalesce(sum(t.lost), 0)::integer,
           round(((count(*) filter (where s.status = 'failed'))::numeric / count(*)), 4)::double precision,
           round((sum(s.attempts)::numeric / count(*)), 3)::double precision,
           round((percentile_cont(0.95) within group (order by s.duration_ms))::numeric, 1)::double precision
      from s
      join p on p.id = s.run_id
      left join t on t.run_id = s.run_id and t.seq = s.seq
     group by p.provider
     order by count(*) desc, p.provider;
end;
$$;
comment on function everruns.provider_step_stats(integer) is
  'LLM steps committed in the last windowSeconds by provider (of the run''s agent version): steps, failed steps, attempts (every begin of the step: the committing one, retries after transient errors, attempts lost to crashes), the error rate (failed / steps), attempts per step and the p95 step duration in ms (000037).';

revoke execute on function
  everruns.step_latency_by_kind(integer),
  everruns.resume_latency(integer, integer),
  everruns.provider_step_stats(integer)
  from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function
      everruns.step_latency_by_kind(integer),
      everruns.resume_latency(integer, integer),
      everruns.provider_step_stats(integer)
      to everruns_api;
  end if;
end;
$$;
