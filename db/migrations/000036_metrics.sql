-- 000036: what /metrics reads from the database at scrape time (issue 19, "Metrics";
-- docs/observability.md, "Metrics"; api/metrics.ts, lib/metrics/).
--
-- One security-definer reader, everruns_private.metrics_snapshot, granted to everruns_api: the
-- API's login sees nothing outside a request's workspace (row-level security), but the internal
-- metrics listener reports every workspace, and a workspace admin's scrape is cut to its own
-- workspace in the API (api/metrics.ts), as the events hub's readers are (000006). One call per
-- scrape, one statement, one round trip (a process's first read: one per window, below).
--
-- Counters that grow with the runs table (runs started, finished by status, tokens, cost) are
-- not re-counted from all of it at every scrape: the caller keeps what it has counted up to a
-- cut (p_since, the previous call's `cut`) and asks only for what lies after it. `settled`: the
-- runs created, the runs ended (succeeded, failed, cancelled: statuses a run never leaves;
-- runs rows stay forever: a retention of run history drops events and steps, never runs), and the interrupted runs
-- continued (resume_run: continued_by set in the continuation's insert, by tg_runs__enqueue, so
-- at the continuation's created_at; a continued run never changes again, cancel_run refuses it)
-- between p_since and the new cut; `live`: everything after the cut, and every run that has not
-- ended (queued, running, waiting, interrupted and not continued: runs_status_created_idx and
-- runs_interrupted_idx), re-read at each call. A run's usage only changes while it has not ended,
-- so what is settled stays true.
--
-- The cut: now() - p_settle_seconds, and never after the start of the oldest transaction open
-- in this database (pg_stat_activity.xact_start): created_at and finished_at are the start of
-- the transaction that wrote them, so a run inserted or ended in a transaction still open is
-- after the cut whenever it commits (a long transaction of a bound SQL role, a cancel_run held
-- open: counted late, never lost). The owner of this function must read other roles' sessions
-- (a superuser, or a member of pg_read_all_stats; `grant pg_read_all_stats to <owner>`):
-- without it pg_stat_activity hides their xact_start, and only the settle window protects a
-- transaction of another role (one open longer than p_settle_seconds can then be missed). A
-- session left idle in a transaction holds the cut back as long as it stays open (and the live
-- part grows with it); idle_in_transaction_session_timeout bounds it. The cut never goes back
-- before p_since (a clock stepped back would count twice what is both settled and live).
--
-- The first call of a process (p_since null) starts at the oldest run, and no call settles more
-- than p_window_seconds of runs (runs_created_idx, runs_finished_idx: bounded statements, however
-- large the table; a window is a few seconds at most at a million runs a week): while the cut is
-- further, the answer is one window (`complete` false, no live part, no gauges) and the caller
-- asks again from its `cut`, keeping each window it got (a failed or timed-out read loses no
-- progress).
--
-- Gauges of the present (queued, running, waiting, interrupted runs, the step queue, workers)
-- are read whole at each complete call, per workspace.
--
-- Cost is summed as integer units of 1e-8 USD (`cost_e8`): exact in the caller's integer
-- arithmetic, so moving a run from live to settled never changes a total by rounding.
create function everruns_private.metrics_snapshot(p_since timestamptz, p_settle_seconds integer, p_window_seconds integer)
  returns jsonb
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  -- JIT compiles for hundreds of ms where the query runs for a few
  set jit = off
  as $f$
declare
  v_snapshot jsonb;
  v_since timestamptz := p_since;
  v_oldest_xact timestamptz;
  v_cut timestamptz;
  v_complete boolean;
begin
  -- granted to everruns_api, the role a GraphQL request switches to: never from inside a request
  -- (a workspace set in the session), only the API's own metrics reader
  if coalesce(current_setting('everruns.workspace_id', true), '') <> '' then
    raise exception 'metrics_snapshot reads every workspace: not from a workspace''s request'
      using errcode = 'insufficient_privilege', hint = 'Read /metrics instead (docs/observability.md, "Metrics").';
  end if;
  select min(a.xact_start) into v_oldest_xact
    from pg_catalog.pg_stat_activity a
   where a.datname = current_database() and a.state <> 'idle' and a.backend_type = 'client backend'
     and a.pid <> pg_backend_pid();
  v_cut := least(now() - make_interval(secs => greatest(p_settle_seconds, 0)), coalesce(v_oldest_xact, now()));
  if v_since is null then
    v_since := coalesce((select min(r.created_at) from everruns.runs r), v_cut);
  end if;
  v_cut := greatest(v_cut, v_since);
  v_complete := v_cut <= v_since + make_interval(secs => greatest(p_window_seconds, 1));
  if not v_complete then
    v_cut := v_since + make_interval(secs => greatest(p_window_seconds, 1));
  end if;
  -- EXECUTE ... USING: planned at each call with its values. A SQL function's generic plan cannot
  -- tell the narrow window [p_since, cut) from the whole table and scans all of it (measured at
  -- 1M runs: ~0.5 s a call instead of a few ms); the cut, a value, lets it estimate the live part,
  -- and $3 false (a catch-up window) makes the live part and the gauges one-time filters.
  execute $q$
  with settled_started as (
    select r.workspace_id, r.agent_id, count(*) as runs
      from everruns.runs r
     where r.created_at >= $1 and r.created_at < $2
     group by 1, 2
  ),
  -- runs ended in the window, and the interrupted runs continued in it (through their continuation)
  settled_runs as (
    select r.workspace_id, r.agent_id, r.status, r.usage
      from everruns.runs r
     where r.status in ('succeeded', 'failed', 'cancelled')
       and r.finished_at >= $1 and r.finished_at < $2
    union all
    select r.workspace_id, r.agent_id, r.status, r.usage
      from everruns.runs c
      join everruns.runs r on r.id = c.parent_run_id and r.continued_by = c.id
     where c.created_at >= $1 and c.created_at < $2
  ),
  settled_ended as (
    select s.workspace_id, s.agent_id, s.status,
           count(*) filter (where s.status in ('succeeded', 'failed', 'cancelled')) as runs,
           coalesce(sum((s.usage ->> 'input_tokens')::numeric), 0) as input_tokens,
           coalesce(sum((s.usage ->> 'output_tokens')::numeric), 0) as output_tokens,
           coalesce(sum(round((s.usage ->> 'cost_usd')::numeric * 1e8)), 0)::bigint as cost_e8
      from settled_runs s
     group by 1, 2, 3
  ),
  live_started as (
    select r.workspace_id, r.agent_id, count(*) as runs
      from everruns.runs r
     where $3 and r.created_at >= $2
     group by 1, 2
  ),
  -- runs not ended (their usage may still grow): `open`; runs that ended, or were continued, after the cut
  live_runs as (
    select true as open, r.workspace_id, r.agent_id, r.status, r.usage, r.created_at, r.admitted_at, r.waiting
      from everruns.runs r
     where $3 and r.status in ('queued', 'running', 'waiting')
    union all
    select true, r.workspace_id, r.agent_id, r.status, r.usage, r.created_at, r.admitted_at, r.waiting
      from everruns.runs r
     where $3 and r.status = 'interrupted' and r.continued_by is null
    union all
    select false, r.workspace_id, r.agent_id, r.status, r.usage, r.created_at, r.admitted_at, r.waiting
      from everruns.runs r
     where $3 and r.status in ('succeeded', 'failed', 'cancelled') and r.finished_at >= $2
    union all
    select false, r.workspace_id, r.agent_id, r.status, r.usage, r.created_at, r.admitted_at, r.waiting
      from everruns.runs c
      join everruns.runs r on r.id = c.parent_run_id and r.continued_by = c.id
     where $3 and c.created_at >= $2
  ),
  live_ended as (
    select l.workspace_id, l.agent_id, l.status,
           count(*) filter (where l.status in ('succeeded', 'failed', 'cancelled')) as runs,
           coalesce(sum((l.usage ->> 'input_tokens')::numeric), 0) as input_tokens,
           coalesce(sum((l.usage ->> 'output_tokens')::numeric), 0) as output_tokens,
           coalesce(sum(round((l.usage ->> 'cost_usd')::numeric * 1e8)), 0)::bigint as cost_e8
      from live_runs l
     group by 1, 2, 3
  ),
  states as (
    select l.workspace_id,
           count(*) filter (where l.status = 'running') as running,
           count(*) filter (where l.status = 'interrupted') as interrupted,
           count(*) filter (where l.status = 'queued' and l.admitted_at is null) as queued,
           min(l.created_at) filter (where l.status = 'queued' and l.admitted_at is null) as oldest_queued_at
      from live_runs l
     where l.open
     group by 1
  ),
  waiting as (
    select l.workspace_id,
           case when l.waiting ->> 'type' in ('timer', 'event', 'children', 'quota') then l.waiting ->> 'type' else 'other' end as reason,
           count(*) as runs
      from live_runs l
     where l.open and l.status = 'waiting'
     group by 1, 2
  ),
  -- step jobs (graphile-worker's public view; a step job's key is run:<id>): due now and free, or held
  jobs as (
    select r.workspace_id,
           count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()) as ready,
           min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()) as oldest_ready_at,
           count(*) filter (where j.locked_at is not null) as busy
      from graphile_worker.jobs j
      join everruns.runs r
        on r.id = case when j.key ~* '^run:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then substr(j.key, 5)::uuid end
     where $3
     group by 1
  ),
  workers as (
    select w.workspace_id, count(*) as live, coalesce(sum(w.concurrency), 0) as slots
      from everruns_private.live_workers w
     where $3
     group by 1
  ),
  names as (
    select a.id, a.name from everruns.agents a
     where a.id in (select agent_id from settled_started union select agent_id from settled_ended
                    union select agent_id from live_started union select agent_id from live_ended)
  )
  select jsonb_build_object(
    'now', now(),
    'cut', $2,
    'complete', $3,
    'workspaces', (select coalesce(jsonb_object_agg(w.id, w.name), '{}') from everruns.workspaces w),
    'agents', (select coalesce(jsonb_object_agg(n.id, n.name), '{}') from names n),
    'settled_started', (select coalesce(jsonb_agg(jsonb_build_array(s.workspace_id, s.agent_id, s.runs)), '[]') from settled_started s),
    'settled_ended', (select coalesce(jsonb_agg(jsonb_build_array(s.workspace_id, s.agent_id, s.status, s.runs, s.input_tokens, s.output_tokens, s.cost_e8)), '[]')
                        from settled_ended s),
    'live_started', (select coalesce(jsonb_agg(jsonb_build_array(s.workspace_id, s.agent_id, s.runs)), '[]') from live_started s),
    'live_ended', (select coalesce(jsonb_agg(jsonb_build_array(s.workspace_id, s.agent_id, s.status, s.runs, s.input_tokens, s.output_tokens, s.cost_e8)), '[]')
                     from live_ended s),
    'states', (select coalesce(jsonb_agg(jsonb_build_object(
                 'workspace_id', s.workspace_id, 'running', s.running, 'interrupted', s.interrupted, 'queued', s.queued,
                 'oldest_queued_s', extract(epoch from now() - s.oldest_queued_at))), '[]') from states s),
    'waiting', (select coalesce(jsonb_agg(jsonb_build_array(w.workspace_id, w.reason, w.runs)), '[]') from waiting w),
    'jobs', (select coalesce(jsonb_agg(jsonb_build_object(
               'workspace_id', j.workspace_id, 'ready', j.ready, 'busy', j.busy,
               'oldest_ready_s', extract(epoch from now() - j.oldest_ready_at))), '[]') from jobs j),
    'workers', (select coalesce(jsonb_agg(jsonb_build_object('workspace_id', w.workspace_id, 'live', w.live, 'slots', w.slots)), '[]') from workers w)
  )
  $q$ into v_snapshot using v_since, v_cut, v_complete;
  return v_snapshot;
end;
$f$;

comment on function everruns_private.metrics_snapshot(timestamptz, integer, integer) is
  'What /metrics reads from the database (000036): run counters settled between p_since and the cut (at most p_window_seconds of them), the rest live, and the gauges of the present, per workspace.';

revoke execute on function everruns_private.metrics_snapshot(timestamptz, integer, integer) from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.metrics_snapshot(timestamptz, integer, integer) to everruns_api;
  end if;
end;
$$;
