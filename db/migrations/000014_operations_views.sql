-- 000014: what the console's navigation and its Workers & queue page read (issue 13, point 11).
--
-- 1. Worker exits: a pool that stops cleanly (deregister_worker, on its own liveness connection)
--    or is swept as dead (sweep_dead_workers, on another worker's) leaves a row in
--    everruns_private.worker_exits, written by a trigger on the delete of its workers row, so
--    that neither function changes. A crash records the runs whose step was in progress and whose
--    job the sweep has just freed (read in the same transaction, after force_unlock_workers).
-- 2. Queue samples: repair_orphaned_runs (every worker calls it about once a second, the
--    database lets it work at most every 5 s) also samples the step queue per workspace, so the
--    console can draw queue depth and the oldest ready job's age over time.
-- 3. Readers for the API (security definer, granted to everruns_api, each scoped to the caller's
--    workspace): live workers with when their liveness connection was last active
--    (pg_stat_activity, which everruns_api cannot read for another role), worker exits with
--    only the caller's freed runs, queue history of the caller's workspace.
-- 4. Indexes for the lists: threads by last activity; runs' input text by trigram when pg_trgm
--    is available (the search is bounded to a recent window either way: api/graphql/conditions.ts).
--
-- Additive only: new tables, functions, a trigger and indexes; repair_orphaned_runs keeps its
-- signature and what it does, with one more statement.

---------------------------------------------------------------------------------------------
-- 1. Worker exits
---------------------------------------------------------------------------------------------
create table everruns_private.worker_exits (
  id bigint generated always as identity primary key,
  pool_id text not null,
  hostname text not null,
  pid integer not null,
  concurrency integer not null,
  started_at timestamptz not null,
  exited_at timestamptz not null default now(),
  -- false: the pool deregistered itself (a clean stop); true: its liveness connection was gone
  -- and another worker's sweep freed its jobs
  crashed boolean not null,
  -- runs whose step was in progress and whose job is free right after the sweep (a crash only)
  freed_runs uuid[] not null default '{}'
);
comment on table everruns_private.worker_exits is 'Worker pools that stopped (deregistered) or died (swept), with the runs a sweep freed; kept 7 days (000014).';
create index worker_exits_exited_idx on everruns_private.worker_exits (exited_at desc);

create or replace function everruns_private.tg_workers__exit() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_crashed boolean := old.backend_pid is distinct from pg_backend_pid();
  v_freed uuid[] := '{}';
begin
  if v_crashed then
    -- sweep_dead_workers has just unlocked the dead pool's jobs: a run whose step began and did
    -- not finish, whose job nobody holds now, was the dead pool's (or one freed by an earlier
    -- sweep and not yet taken again)
    select coalesce(array_agg(r.id order by r.id), '{}') into v_freed
      from everruns.runs r
     where r.status = 'running' and r.step_started_at is not null
       and exists (select from graphile_worker.jobs j
                    where j.key = 'run:' || r.id::text and j.locked_at is null);
  end if;
  insert into everruns_private.worker_exits (pool_id, hostname, pid, concurrency, started_at, crashed, freed_runs)
  values (old.pool_id, old.hostname, old.pid, old.concurrency, old.started_at, v_crashed, v_freed);
  delete from everruns_private.worker_exits where exited_at < now() - interval '7 days';
  return null;
end;
$$;

create trigger tg_workers__exit after delete on everruns_private.workers
  for each row execute function everruns_private.tg_workers__exit();

---------------------------------------------------------------------------------------------
-- 2. Queue samples
---------------------------------------------------------------------------------------------
create table everruns_private.queue_samples (
  sampled_at timestamptz not null default now(),
  workspace_id uuid not null references everruns.workspaces (id) on delete cascade,
  ready integer not null,
  scheduled integer not null,
  running integer not null,
  oldest_ready_ms double precision,
  primary key (workspace_id, sampled_at)
);
comment on table everruns_private.queue_samples is 'The step queue of each workspace with jobs, sampled every 5 s by repair_orphaned_runs; kept 7 days (000014).';
create index queue_samples_sampled_idx on everruns_private.queue_samples (sampled_at);

create or replace function everruns_private.sample_queue() returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  -- same definitions as the dashboard's queueDepth (db/sql/readQueueDepth.ts)
  insert into everruns_private.queue_samples (workspace_id, ready, scheduled, running, oldest_ready_ms)
  select r.workspace_id,
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now()),
         count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at > now()),
         count(*) filter (where j.locked_at is not null),
         round(extract(epoch from now() - min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts and j.run_at <= now())) * 1000)::float8
    from graphile_worker.jobs j
    join everruns.runs r on r.id = case when j.key ~ '^run:[0-9a-f-]{36}$' then substr(j.key, 5)::uuid end
   group by r.workspace_id
  on conflict do nothing;
  delete from everruns_private.queue_samples where sampled_at < now() - interval '7 days';
$$;

-- repair_orphaned_runs as in 000005, plus the queue sample (marked "000014").
create or replace function everruns_private.repair_orphaned_runs() returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run record;
  v_n int := 0;
begin
  update everruns_private.maintenance set repaired_at = now()
   where id = 1 and repaired_at < now() - interval '5 seconds';
  if not found then
    return 0;
  end if;
  perform everruns_private.sample_queue(); -- 000014
  for v_run in
    select r.id, r.status, r.waiting from everruns.runs r
    where r.status in ('queued', 'running', 'waiting')
      and r.updated_at < now() - interval '5 seconds'
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts)
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id,
      case when v_run.status = 'waiting' then (v_run.waiting ->> 'until')::timestamptz end);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

---------------------------------------------------------------------------------------------
-- 3. Readers for the API
---------------------------------------------------------------------------------------------
-- Workers serve every workspace: their ids, size and liveness are shown to every key (the API
-- hides host and pid from all but admins); what they run is read under row-level security.
create or replace function everruns_private.ops_live_workers()
  returns table (pool_id text, hostname text, pid integer, concurrency integer, started_at timestamptz, last_seen_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  -- the liveness connection sweeps every 200 ms: its last statement is when the pool was last seen
  select w.pool_id, w.hostname, w.pid, w.concurrency, w.started_at,
         coalesce(a.state_change, a.backend_start, w.started_at)
    from everruns_private.live_workers w
    left join pg_stat_activity a on a.pid = w.backend_pid
   order by w.started_at, w.pool_id
$$;

-- Exits of the last p_seconds, newest first; freed_runs only the caller's workspace's runs.
create or replace function everruns_private.ops_worker_exits(p_seconds integer, p_limit integer)
  returns table (pool_id text, hostname text, pid integer, concurrency integer, started_at timestamptz,
                 exited_at timestamptz, crashed boolean, freed_runs uuid[])
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select e.pool_id, e.hostname, e.pid, e.concurrency, e.started_at, e.exited_at, e.crashed,
         coalesce((select array_agg(f order by f) from unnest(e.freed_runs) f
                    where exists (select from everruns.runs r
                                   where r.id = f and r.workspace_id = everruns_private.current_workspace_id())), '{}')
    from everruns_private.worker_exits e
   where e.exited_at >= now() - make_interval(secs => p_seconds)
   order by e.exited_at desc
   limit least(greatest(p_limit, 1), 500)
$$;

-- The caller's workspace's queue per bucket over the last p_window_seconds (oldest first):
-- the deepest sample of each bucket; buckets without a sample had no job of the workspace
-- (while a worker sampled) and come back as zeros.
create or replace function everruns_private.ops_queue_history(p_window_seconds integer, p_bucket_seconds integer)
  returns table (bucket_start timestamptz, ready integer, scheduled integer, running integer, oldest_ready_ms double precision)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  with b as (
    select generate_series(
             to_timestamp(floor(extract(epoch from now() - make_interval(secs => p_window_seconds)) / p_bucket_seconds) * p_bucket_seconds),
             now(), make_interval(secs => p_bucket_seconds)) as bucket_start
  )
  select b.bucket_start,
         coalesce(max(s.ready), 0)::int, coalesce(max(s.scheduled), 0)::int, coalesce(max(s.running), 0)::int,
         max(s.oldest_ready_ms)
    from b
    left join everruns_private.queue_samples s
      on s.workspace_id = everruns_private.current_workspace_id()
     and s.sampled_at >= b.bucket_start and s.sampled_at < b.bucket_start + make_interval(secs => p_bucket_seconds)
   group by b.bucket_start
   order by b.bucket_start
$$;

revoke execute on function
  everruns_private.tg_workers__exit(),
  everruns_private.sample_queue(),
  everruns_private.ops_live_workers(),
  everruns_private.ops_worker_exits(integer, integer),
  everruns_private.ops_queue_history(integer, integer)
  from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function
      everruns_private.ops_live_workers(),
      everruns_private.ops_worker_exits(integer, integer),
      everruns_private.ops_queue_history(integer, integer)
      to everruns_api;
  end if;
end;
$$;

---------------------------------------------------------------------------------------------
-- 4. Indexes for the lists
---------------------------------------------------------------------------------------------
-- the threads list, newest activity first (a run on a thread bumps its updated_at)
create index threads_updated_idx on everruns.threads (updated_at desc, id desc);

-- Search of runs by their input text: a trigram index where pg_trgm can be installed; without
-- it the search scans only the recent window it is bounded to (runs_created_idx).
do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pg_trgm') then
    begin
      create extension if not exists pg_trgm with schema public;
    exception when insufficient_privilege then
      raise notice 'pg_trgm is available but this role may not install it: run search stays a bounded scan';
    end;
  end if;
  if exists (select from pg_catalog.pg_extension where extname = 'pg_trgm') then
    execute format('create index runs_input_trgm_idx on everruns.runs using gin ((input::text) %I.gin_trgm_ops)',
      (select n.nspname from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'pg_trgm'));
  end if;
end;
$$;
