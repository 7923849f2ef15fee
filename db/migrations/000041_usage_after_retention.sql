-- 000041: usage outlives retention (issue 19, "Data lifecycle").
--
-- everruns.usage_daily sums run_steps per workspace, agent and day. Retention removes the steps of
-- runs whose history expired (000038, 000039), so their days' usage shrank, then vanished; since
-- 000040 the API did not see the steps of a run marked expired at all. Usage is accounting, not
-- history: it must not depend on how long the history is kept.
--
-- * everruns.usage_daily_expired: the usage of runs whose history expired, per workspace, agent
--   and day (the day each step finished, UTC, as usage_daily), the same columns as usage_daily.
--   Written only by retention, in the transaction that marks runs expired
--   (everruns_private.retention_mark_expired, called by apply_retention and
--   retention_expire_month_in_place), from their steps, which are still there then (deleted after
--   in that transaction, or dropped with their month later): each run is counted once, when it is
--   marked. Read-only to everyone else; not in the GraphQL schema (usage_daily is).
-- * everruns.usage_daily: the steps of runs whose history is kept, plus usage_daily_expired. A run
--   is in exactly one of the two, so `runs` (distinct runs with a step that day) still adds up.
-- * The runs already marked expired whose steps are still there (marked in place under 000039,
--   waiting for their month's drop) are rolled up here; the usage of runs whose steps were
--   already deleted is gone (runs.usage keeps each run's total). Under the maintenance lock, so
--   that no retention unit marks runs between this roll-up and the new functions.
-- * 000040's policy history_kept looked the run up for every event or step the API read: 5 to 20
--   times slower over many runs (usage_daily, the dashboard's step statistics). The rows of runs
--   marked expired are only ever in the months retention_months_in_place records: a month begun in
--   place, and now also a month whose runs all expired with rows left for its drop (apply_retention
--   step 4). The policy looks runs up only for rows of those months (usually none), from a list
--   read once per statement.
-- * The retention and partition functions compute month bounds with timestamptz arithmetic
--   (+ interval '1 month', to_timestamp(YYYYMM)), which follows the session's time zone: under a
--   server or session time zone other than UTC, ensure_partitions gave the wrong ranges and
--   apply_retention looked at a shifted window when deciding a month's runs had all expired (a
--   kept run near a month's edge could lose its history with the drop). They run under
--   timezone UTC now, and so does this migration. What they may have left behind is made safe:
--   a month counts as partitioned (dropped whole, expired in place) only when both partitions
--   have exactly its UTC bounds (retention_month_partitioned), else its runs go row by row and it
--   is never dropped; ensure_partitions skips a month that a shifted partition overlaps instead
--   of failing every maintenance round; months with their own partitions that still hold rows of
--   expired runs are recorded (hidden from the API, cleaned by apply_retention's step 2).
-- * set_workspace_retention locks the workspace for no key update: retention's roll-up (a foreign
--   key to workspaces) does not wait behind a `workspaces limits` transaction.
set local lock_timeout = '5s';
set local timezone = 'UTC';
-- the lock every retention unit takes (db/sql/applyRetention.ts); waits lock_timeout at most
select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('everruns:maintenance'));

create table everruns.usage_daily_expired (
  workspace_id uuid not null references everruns.workspaces (id),
  agent_id uuid not null references everruns.agents (id),
  day date not null,
  runs bigint not null,
  llm_calls bigint not null,
  input_tokens numeric not null,
  output_tokens numeric not null,
  cost_usd numeric not null,
  cache_read_tokens numeric not null,
  cache_write_tokens numeric not null,
  reasoning_tokens numeric not null,
  primary key (workspace_id, agent_id, day)
);
comment on table everruns.usage_daily_expired is
  E'@behavior -*\nThe usage of runs whose history expired (their steps removed by retention), per workspace, agent and day (UTC, the day each step finished); written by retention when it marks runs expired; usage_daily adds it to the steps still kept (000041).';
create index usage_daily_expired_agent_idx on everruns.usage_daily_expired (agent_id);

alter table everruns.usage_daily_expired enable row level security;
alter table everruns.usage_daily_expired force row level security;
create policy in_workspace on everruns.usage_daily_expired using (workspace_id = (select everruns_private.current_workspace_id()))
  with check (workspace_id = (select everruns_private.current_workspace_id()));
do $$
begin
  execute format('create policy engine on everruns.usage_daily_expired to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;
revoke all on everruns.usage_daily_expired from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    -- usage_daily reads it with its caller's rights (security_invoker)
    grant select on everruns.usage_daily_expired to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant select on everruns.usage_daily_expired to everruns_worker;
  end if;
end
$$;

-- bound roles read usage_daily, which reads the roll-up with their rights: bind_role (its latest
-- definition, 000034) grants it, and the roles bound already get it now
create or replace function everruns.bind_role(role name, workspace text, access text)
 returns void
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  v_workspace everruns.workspaces;
  v_role name := bind_role.role;
begin
  if not exists (select from pg_roles r where r.rolname = v_role) then
    raise exception 'role % does not exist', v_role using errcode = 'EV010', hint = 'Create it first (create role … login).';
  end if;
  if exists (select from pg_roles r where r.rolname = v_role and (r.rolsuper or r.rolbypassrls)) then
    raise exception 'role % is a superuser or has BYPASSRLS: row-level security cannot confine it to a workspace', v_role
      using errcode = 'EV010';
  end if;
  -- Everruns' own roles, their members, and any role one of their members belongs to (a binding
  -- reaches the members of a bound role: binding a group of the API's login would confine every
  -- API key to one workspace)
  if v_role in ('everruns_api', 'everruns_worker')
     or pg_has_role(v_role, 'everruns_api', 'MEMBER') or pg_has_role(v_role, 'everruns_worker', 'MEMBER')
     or exists (select from pg_roles m
                 where not m.rolsuper and m.rolname not in ('everruns_api', 'everruns_worker')
                   and (pg_has_role(m.oid, 'everruns_api', 'MEMBER') or pg_has_role(m.oid, 'everruns_worker', 'MEMBER'))
                   and pg_has_role(m.oid, v_role, 'MEMBER')) then
    raise exception 'role % is, or is held by, one of Everruns'' own roles (everruns_api, everruns_worker); bind a role of your own', v_role
      using errcode = 'EV010';
  end if;
  if bind_role.access is null or bind_role.access not in ('read', 'write') then
    raise exception 'access must be ''read'' or ''write'', got %', coalesce(bind_role.access, 'null') using errcode = 'EV010';
  end if;
  select * into v_workspace from everruns.workspaces w
   where w.name = bind_role.workspace or w.id::text = lower(bind_role.workspace);
  if not found then
    raise exception 'unknown workspace %', bind_role.workspace using errcode = 'EV005';
  end if;
  insert into everruns_private.role_bindings (role_name, workspace_id, access) values (v_role, v_workspace.id, bind_role.access)
    on conflict (role_name) do update set workspace_id = excluded.workspace_id, access = excluded.access, created_at = now();

  execute format('grant usage on schema everruns, everruns_private to %I', v_role);
  execute format('grant select on everruns.workspaces, everruns.agents, everruns.agent_versions, everruns.threads, everruns.runs, '
                 'everruns.run_steps, everruns.run_events, everruns.run_signals, everruns.audit_log, everruns.usage_daily, '
                 'everruns.run_attempts, everruns.batches, everruns.batch_items, everruns.schedules, everruns.schedule_fires, '
                 'everruns.activations, everruns.webhooks, everruns.webhook_deliveries, everruns.notification_endpoints, '
                 'everruns.notification_deliveries, everruns.notification_attempts, everruns.mcp_tool_lists, '
                 'everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers, everruns.model_prices, everruns.pending_events, '
                 'everruns.usage_daily_expired to %I', v_role);  -- 000013: run_attempts; 000025: batches; 000026: triggers; 000027: MCP; 000029: model prices; 000034: pending events; 000041: usage of expired runs (usage_daily reads it)
  execute format('grant execute on function everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon(), everruns.runs_budget_spend(everruns.runs), '
                 'everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs), '
                 'everruns.runs_children(everruns.runs) to %I', v_role);  -- 000032: runs_budget_spend; 000033: the trees
  execute format('revoke insert, update on everruns.runs, everruns.threads, everruns.batches, everruns.batch_items from %I', v_role);
  execute format('revoke insert, update, delete on everruns.schedules, everruns.webhooks, everruns.notification_endpoints from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb), everruns.start_batch(uuid), everruns.pause_batch(uuid), '
                 'everruns.resume_batch(uuid), everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), '
                 'everruns.retry_failed_items(uuid, text[], boolean), everruns.trigger(text, jsonb, text), '
                 'everruns.resend_notification(uuid), everruns_private.render_schedule_input(jsonb, text, text, timestamptz), '
                 'everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) from %I', v_role);  -- 000034: workflows
  if bind_role.access = 'write' then
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input, priority), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant insert (id, name, agent_id, agent_version, max_parallel, priority, on_item_error, stop_after_failures, '
                   'stop_after_ratio, deadline, metadata) on everruns.batches to %I', v_role);
    execute format('grant insert (id, batch_id, workspace_id, custom_id, input) on everruns.batch_items to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid), '
                   'everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), everruns.cancel_batch(uuid), '
                   'everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean) to %I', v_role);
    -- 000034: workflows
    execute format('grant execute on function everruns.send_event_by_key(text, text, jsonb), everruns.redrive_run(uuid, text) to %I', v_role);
    -- 000026
    execute format('grant insert (id, name, agent_id, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, '
                   'misfire_grace_seconds, thread, paused, paused_note, pause_after_failures), '
                   'update (name, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, misfire_grace_seconds, '
                   'paused, paused_note, pause_after_failures), delete on everruns.schedules to %I', v_role);
    execute format('grant insert (id, name, agent_id, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, '
                   'dedupe_pointer, input_template, thread_key_pointer, max_body_bytes, enabled), '
                   'update (name, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, dedupe_pointer, '
                   'input_template, thread_key_pointer, max_body_bytes, enabled), delete on everruns.webhooks to %I', v_role);
    execute format('grant insert (id, name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'update (name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'delete on everruns.notification_endpoints to %I', v_role);
    execute format('grant execute on function everruns.trigger(text, jsonb, text), everruns.resend_notification(uuid), '
                   'everruns_private.render_schedule_input(jsonb, text, text, timestamptz) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;
do $$
declare
  v_role name;
begin
  for v_role in select b.role_name from everruns_private.role_bindings b
                 where exists (select from pg_catalog.pg_roles r where r.rolname = b.role_name) loop
    execute format('grant select on everruns.usage_daily_expired to %I', v_role);
  end loop;
end
$$;

-- Adds the usage of the steps of the runs p_ids to usage_daily_expired, per workspace, agent and
-- day (UTC, the day each step finished, as usage_daily). Each run once: retention_mark_expired,
-- and this migration's roll-up of the runs marked before it.
create function everruns_private.retention_roll_up_usage(p_ids uuid[])
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into everruns.usage_daily_expired as d (workspace_id, agent_id, day, runs, llm_calls, input_tokens, output_tokens, cost_usd,
                                                 cache_read_tokens, cache_write_tokens, reasoning_tokens)
  select r.workspace_id, r.agent_id, (s.finished_at at time zone 'UTC')::date,
         count(distinct r.id),
         count(*) filter (where s.kind = 'llm'),
         coalesce(sum((s.usage ->> 'input_tokens')::bigint), 0),
         coalesce(sum((s.usage ->> 'output_tokens')::bigint), 0),
         coalesce(sum((s.usage ->> 'cost_usd')::numeric), 0),
         coalesce(sum((s.usage ->> 'cache_read_tokens')::bigint), 0),
         coalesce(sum((s.usage ->> 'cache_write_tokens')::bigint), 0),
         coalesce(sum((s.usage ->> 'reasoning_tokens')::bigint), 0)
    from everruns.runs r
    join everruns.run_steps s on s.run_id = r.id and s.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history)
   where r.id = any (p_ids)
   group by 1, 2, 3
  on conflict (workspace_id, agent_id, day) do update
     set runs = d.runs + excluded.runs,
         llm_calls = d.llm_calls + excluded.llm_calls,
         input_tokens = d.input_tokens + excluded.input_tokens,
         output_tokens = d.output_tokens + excluded.output_tokens,
         cost_usd = d.cost_usd + excluded.cost_usd,
         cache_read_tokens = d.cache_read_tokens + excluded.cache_read_tokens,
         cache_write_tokens = d.cache_write_tokens + excluded.cache_write_tokens,
         reasoning_tokens = d.reasoning_tokens + excluded.reasoning_tokens;
end;
$$;
comment on function everruns_private.retention_roll_up_usage(uuid[]) is
  'Adds the usage of the steps of the runs p_ids to usage_daily_expired (per workspace, agent and UTC day); called once per run, as it is marked expired (000041).';
revoke execute on function everruns_private.retention_roll_up_usage(uuid[]) from public;

-- Marks the runs p_ids expired at p_now (history_expired_at), first adding the usage of their
-- steps to usage_daily_expired, then deletes what only their history and a rerun needed
-- (retention_forget_runs). The caller holds their rows (for update) and checked each may go.
-- Their events and steps stay: the caller deletes them, or they go with their month's partitions.
create function everruns_private.retention_mark_expired(p_ids uuid[], p_now timestamptz)
returns void
language plpgsql
volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  -- each run is rolled up once: its callers hold its row and checked it may go (history_expirable)
  if exists (select from everruns.runs r where r.id = any (p_ids) and r.history_expired_at is not null) then
    raise exception 'retention_mark_expired: a run of % is marked expired already', p_ids using errcode = 'P0001';
  end if;
  perform everruns_private.retention_roll_up_usage(p_ids);
  update everruns.runs r set history_expired_at = p_now where r.id = any (p_ids);
  perform everruns_private.retention_forget_runs(p_ids);
end;
$$;
comment on function everruns_private.retention_mark_expired(uuid[], timestamptz) is
  'Marks the runs p_ids expired at p_now, adding the usage of their steps to usage_daily_expired first and deleting their transient rows (retention_forget_runs); their events and steps are the caller''s to delete, or go with their month (000041).';
revoke execute on function everruns_private.retention_mark_expired(uuid[], timestamptz) from public;

-- usage_daily: the steps of runs whose history is kept, plus the usage of those whose expired
-- (the same columns and types)
create or replace view everruns.usage_daily with (security_invoker = true) as
select u.workspace_id, u.agent_id, u.day,
       sum(u.runs)::bigint as runs,
       sum(u.llm_calls)::bigint as llm_calls,
       sum(u.input_tokens) as input_tokens,
       sum(u.output_tokens) as output_tokens,
       round(sum(u.cost_usd), 6) as cost_usd,
       sum(u.cache_read_tokens) as cache_read_tokens,
       sum(u.cache_write_tokens) as cache_write_tokens,
       sum(u.reasoning_tokens) as reasoning_tokens
  from (select r.workspace_id, r.agent_id, (s.finished_at at time zone 'UTC')::date as day,
               count(distinct r.id) as runs,
               count(*) filter (where s.kind = 'llm') as llm_calls,
               coalesce(sum((s.usage ->> 'input_tokens')::bigint), 0) as input_tokens,
               coalesce(sum((s.usage ->> 'output_tokens')::bigint), 0) as output_tokens,
               coalesce(sum((s.usage ->> 'cost_usd')::numeric), 0) as cost_usd,
               coalesce(sum((s.usage ->> 'cache_read_tokens')::bigint), 0) as cache_read_tokens,
               coalesce(sum((s.usage ->> 'cache_write_tokens')::bigint), 0) as cache_write_tokens,
               coalesce(sum((s.usage ->> 'reasoning_tokens')::bigint), 0) as reasoning_tokens
          from everruns.run_steps s
          join everruns.runs r on r.id = s.run_id
         where r.history_expired_at is null
         group by 1, 2, 3
        union all
        select e.workspace_id, e.agent_id, e.day, e.runs, e.llm_calls, e.input_tokens, e.output_tokens, e.cost_usd,
               e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens
          from everruns.usage_daily_expired e) u
 group by u.workspace_id, u.agent_id, u.day;

-- the runs marked in place before this migration whose steps wait for their month's drop: rolled
-- up now (as retention_mark_expired would have; their history_expired_at is kept)
select everruns_private.retention_roll_up_usage(array(select r.id from everruns.runs r where r.history_expired_at is not null));

-- the two places that mark runs expired, over retention_mark_expired (otherwise as 000040)
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
  perform everruns_private.retention_mark_expired(v_ids, p_now);
  return cardinality(v_ids);
end;
$$;

-- Whether the month from p_from has both partitions of its own, of exactly its bounds (UTC). An
-- ensure_partitions before 000041 under a session time zone other than UTC attached partitions
-- named for a month with bounds shifted by the zone's offset (Australia/Sydney: April to May 1st
-- 01:00 UTC): dropping one would drop rows of the next month's runs, and its record would hide
-- rows the drop never removes. Such a month is treated as one without partitions of its own:
-- never dropped, its runs expired row by row. (The bounds are compared as text under fixed
-- settings: pg_get_expr renders them in the session's time zone and date style.)
create or replace function everruns_private.retention_month_partitioned(p_from timestamptz)
returns boolean
language sql
stable
set search_path = pg_catalog, pg_temp
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
  select p_from = date_trunc('month', p_from, 'UTC')
     and (select count(*) = 2
            from pg_class c
           where c.oid in (to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(p_from, 'YYYYMM'))),
                           to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(p_from, 'YYYYMM'))))
             and c.relispartition
             and pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES FROM (%L) TO (%L)', p_from, p_from + interval '1 month'))
$$;
comment on function everruns_private.retention_month_partitioned(timestamptz) is
  'Whether the month from p_from has both partitions of its own, run_steps_pYYYYMM and run_events_pYYYYMM, of exactly the month''s bounds (UTC); only such a month is dropped whole or expired in place (000040, 000041).';

create or replace function everruns_private.ensure_partitions(p_now timestamptz default now(), p_months_ahead int default 2)
returns table (created int, skipped int, held_by_default int)
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_month timestamptz := date_trunc('month', p_now, 'UTC');
  v_from timestamptz;
  v_to timestamptz;
  v_suffix text;
  v_t text;
  v_name text;
  v_new int;
  v_created int := 0;
  v_skipped int := 0;
  v_held int := 0;
  v_lock_timeout text := current_setting('lock_timeout');
begin
  if p_months_ahead is null or p_months_ahead < 0 or p_months_ahead > 24 then
    raise exception 'months ahead must be from 0 to 24, got %', p_months_ahead using errcode = '22023';
  end if;
  for i in 0 .. p_months_ahead loop
    v_from := v_month + make_interval(months => i);
    v_to := v_from + interval '1 month';
    v_suffix := to_char(v_from at time zone 'UTC', 'YYYYMM');
    continue when to_regclass('everruns_partitions.run_steps_p' || v_suffix) is not null
              and to_regclass('everruns_partitions.run_events_p' || v_suffix) is not null;
    -- attaching takes SHARE UPDATE EXCLUSIVE on the parent (the engine's inserts go on) and
    -- ACCESS EXCLUSIVE on its DEFAULT partition, which it scans for rows of the month (empty
    -- unless maintenance fell behind): wait briefly, the next round tries again. Set outside
    -- the block below: a setting made inside it would be undone with it.
    perform set_config('lock_timeout', '500ms', true);
    begin
      v_new := 0;
      -- the month's two partitions in one subtransaction, both or neither, in the engine's order
      -- (commit_step writes run_steps, then run_events): each created as a table of its own with
      -- the parent's columns and a check of the month (so attaching it does not scan it), then
      -- attached
      foreach v_t in array array['run_steps', 'run_events'] loop
        v_name := v_t || '_p' || v_suffix;
        continue when to_regclass(format('everruns_partitions.%I', v_name)) is not null;
        execute format('create table everruns_partitions.%I (like everruns.%I including defaults including generated including constraints, '
                       'constraint %I check (run_created_at >= %L and run_created_at < %L))',
                       v_name, v_t, v_name || '_range', v_from, v_to);
        execute format('alter table everruns.%I attach partition everruns_partitions.%I for values from (%L) to (%L)',
                       v_t, v_name, v_from, v_to);
        v_new := v_new + 1;
      end loop;
      v_created := v_created + v_new;
    exception
      when lock_not_available then
        v_skipped := v_skipped + 1;
        raise notice 'partitions of % not created: a parent or its DEFAULT partition is busy; the next round tries again', v_suffix;
      when invalid_object_definition then
        -- 000041: a partition of another range overlaps the month (attached with wrong bounds by
        -- an earlier ensure_partitions under a session time zone other than UTC): the month gets
        -- none; its rows go to the neighbour or DEFAULT, and retention deletes them row by row
        v_skipped := v_skipped + 1;
        raise notice 'partitions of % not created: a partition with other bounds overlaps that month (%)', v_suffix, sqlerrm;
      when check_violation then
        -- a DEFAULT partition already holds rows of this month (maintenance fell behind): they
        -- stay there (retention deletes them row by row), the month gets no partitions
        v_held := v_held + 1;
        raise notice 'partitions of % not created: a DEFAULT partition (everruns_partitions.*_pdefault) holds rows of that month', v_suffix;
    end;
    perform set_config('lock_timeout', v_lock_timeout, true);
  end loop;
  return query select v_created, v_skipped, v_held;
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
  v_whole boolean;
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
       -- 000041: only partitions of exactly the month's bounds (never one attached with others)
       and everruns_private.retention_month_partitioned(e.from_at)
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
  -- a month whose partitions were dropped is forgotten
  delete from everruns_private.retention_months_in_place m
   where to_regclass(format('everruns_partitions.%I', 'run_steps_p' || to_char(m.month_from at time zone 'UTC', 'YYYYMM'))) is null
      or to_regclass(format('everruns_partitions.%I', 'run_events_p' || to_char(m.month_from at time zone 'UTC', 'YYYYMM'))) is null;
  -- 000041: a month without a kept run left waits for its drop (step 1): not this step's, unless
  -- its partitions are not of exactly its bounds (never dropped: its rows go row by row)
  select m.month_from into v_tried from everruns_private.retention_months_in_place m
   where not everruns_private.retention_month_partitioned(m.month_from)
      or exists (select from everruns.runs r
                  where r.created_at >= m.month_from and r.created_at < m.month_from + interval '1 month'
                    and r.history_expired_at is null and not r.legacy_history)
   order by m.month_from limit 1;
  if v_tried is not null then
    v_whole := everruns_private.retention_month_partitioned(v_tried);
    if v_whole then
      v_n := everruns_private.retention_expire_month_in_place(v_tried, p_now, p_batch);
      if v_n > 0 then
        return query select v_n::int, 0::bigint, 0;
        return;
      end if;
    end if;
    if not v_whole or not everruns_private.retention_month_expirable(v_tried, p_now) then
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
  perform everruns_private.retention_mark_expired(v_ids, p_now);

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
  -- 000041: a month whose rows of expired runs wait for its drop is recorded (history_kept)
  insert into everruns_private.retention_months_in_place (month_from)
  select distinct date_trunc('month', r.created_at, 'UTC') from everruns.runs r
   where r.id = any (v_ids) and not r.id = any (coalesce(v_delete, '{}'))
  on conflict (month_from) do nothing;
  return query select cardinality(v_ids), v_rows, 0;
end;
$$;

-- the months whose partitions may hold rows of runs marked expired, for the API's policy
create function everruns_private.months_holding_expired_history()
returns timestamptz[]
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(array_agg(m.month_from), '{}') from everruns_private.retention_months_in_place m
$$;
comment on function everruns_private.months_holding_expired_history() is
  'The months (UTC) whose partitions may hold events and steps of runs marked expired: begun in place, or left whole for their drop (retention_months_in_place). Read once per statement by the policy history_kept (000041).';
revoke execute on function everruns_private.months_holding_expired_history() from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.months_holding_expired_history() to everruns_api;
  end if;
end
$$;

-- whether the run's history is kept (not marked expired). A function of cost 1, not a subquery:
-- the planner costed 000040's subquery for every row, and a plan over many steps (usage_daily)
-- crossed the JIT thresholds and spent about a second compiling (security definer: never inlined
-- into a subquery again; it tells only whether a run of a row the caller reads has expired)
create function everruns_private.run_history_kept(p_run_id uuid)
returns boolean
language sql
stable
security definer
cost 1
set search_path = pg_catalog, pg_temp
as $$
  select not exists (select from everruns.runs r where r.id = p_run_id and r.history_expired_at is not null)
$$;
comment on function everruns_private.run_history_kept(uuid) is
  'Whether the history of run p_run_id is kept (not marked expired); the policy history_kept calls it for rows of the months months_holding_expired_history lists (000041).';
revoke execute on function everruns_private.run_history_kept(uuid) from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.run_history_kept(uuid) to everruns_api;
  end if;
end
$$;

-- history_kept: nothing to check while no month holds such rows (the usual case: a boolean read
-- once per statement); else the run looked up only for rows of those months
alter policy history_kept on everruns.run_events
  using ((select cardinality(everruns_private.months_holding_expired_history()) = 0)
         or date_trunc('month', run_created_at, 'UTC') <> all ((select everruns_private.months_holding_expired_history())::timestamptz[])
         or everruns_private.run_history_kept(run_id));
alter policy history_kept on everruns.run_steps
  using ((select cardinality(everruns_private.months_holding_expired_history()) = 0)
         or date_trunc('month', run_created_at, 'UTC') <> all ((select everruns_private.months_holding_expired_history())::timestamptz[])
         or everruns_private.run_history_kept(run_id));

-- month arithmetic in UTC, whatever the session's time zone
alter function everruns_private.apply_retention(timestamptz, int, int) set timezone = 'UTC';
alter function everruns_private.ensure_partitions(timestamptz, int) set timezone = 'UTC';
alter function everruns_private.retention_month_expirable(timestamptz, timestamptz) set timezone = 'UTC';
alter function everruns_private.retention_expire_month_in_place(timestamptz, timestamptz, int) set timezone = 'UTC';
-- the retention clock's day arithmetic (retention_days before p_now) in UTC too, wherever it is
-- called from (the due count of `everruns workspaces limits`)
alter function everruns_private.history_expirable(everruns.runs, timestamptz) set timezone = 'UTC';

create or replace function everruns.set_workspace_retention(p_workspace_id uuid, p_days int)
returns everruns.workspaces
language plpgsql
volatile
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_old int;
  v_ws everruns.workspaces;
begin
  -- for no key update (000041): retention's roll-up (usage_daily_expired's foreign key) takes key
  -- share on the workspace, and must not wait behind a `workspaces limits` transaction
  select w.retention_days into v_old from everruns.workspaces w where w.id = p_workspace_id for no key update;
  if not found then
    raise exception 'unknown workspace %', p_workspace_id using errcode = 'EV005',
      hint = 'everruns workspaces list shows the workspaces.';
  end if;
  if p_days is not null and (p_days < 1 or p_days > 36500) then
    raise exception 'retention must be from 1 to 36500 days, got %', p_days using errcode = 'EV010',
      hint = 'Give a number of days, or null to keep finished runs'' history forever.';
  end if;
  update everruns.workspaces w set retention_days = p_days where w.id = p_workspace_id returning * into v_ws;
  perform everruns_private.audit_append(p_workspace_id, 'workspace.retention_set', 'workspace', p_workspace_id::text,
    everruns_private.with_reason(jsonb_build_object('old', v_old, 'new', p_days)));
  return v_ws;
end;
$$;


-- months with their own partitions that still hold events or steps of runs marked expired, which
-- 000039 and 000040 may have left unrecorded (a month window computed in a session's time zone
-- other than UTC missed a kept run, so the rows were left for a drop that never came): recorded,
-- so the API does not see them and step 2 deletes them
insert into everruns_private.retention_months_in_place (month_from)
select e.from_at
  from (select to_date(substr(c.relname, length('run_events_p') + 1), 'YYYYMM')::timestamp at time zone 'UTC' as from_at
          from pg_class c
         where c.relnamespace = 'everruns_partitions'::regnamespace and c.relkind = 'r'
           and c.relname ~ '^run_events_p[0-9]{6}$') e
 where e.from_at + interval '1 month' <= date_trunc('month', now(), 'UTC')
   and exists (select from everruns.runs r
                where r.created_at >= e.from_at and r.created_at < e.from_at + interval '1 month'
                  and r.history_expired_at is not null and not r.legacy_history
                  and (exists (select from everruns.run_steps s where s.run_id = r.id and s.run_created_at = r.created_at)
                       or exists (select from everruns.run_events v where v.run_id = r.id and v.run_created_at = r.created_at)))
on conflict (month_from) do nothing;
