-- 000038: data lifecycle (issue 19, "Data lifecycle"): the event log and the checkpoints are
-- partitioned by time, and finished runs' events and steps are removed after a per-workspace
-- retention.
--
-- 1. everruns.run_events and everruns.run_steps become `partition by range (run_created_at)`:
--    run_created_at is the partition key of the owning run, run_partition_key(runs.created_at,
--    runs.legacy_history), so all rows of one run live in one partition, the key (run_id, seq,
--    run_created_at) is exactly as unique as (run_id, seq), and a read that adds the run's key is
--    pruned to one partition. The key is a unique constraint, not a primary key, so that
--    PostGraphile keeps showing (run_id, seq) as the primary key (@primaryKey: node ids and
--    runEventByRunIdAndSeq unchanged). Monthly partitions (UTC) live in the schema
--    everruns_partitions (run_events_pYYYYMM, run_steps_pYYYYMM, and a DEFAULT partition each):
--    outside `everruns`, so neither PostGraphile nor the row-security tests see them; every
--    access goes through the parents, which have the old tables' grants and policies.
-- 2. The tables as they were become the legacy partitions, not rewritten: the new column is
--    added with a constant default ('-infinity'); their key gains the column (one index build)
--    and two checks are validated (a scan each): about 2.7 s for 1M events and 200k steps.
--    Runs created before this migration keep writing there (runs.legacy_history: their key is
--    '-infinity'), so each run's rows stay in one partition.
-- 3. everruns.workspaces.retention_days (null: forever) and everruns.runs.history_expired_at;
--    everruns_private.ensure_partitions, everruns_private.apply_retention (both called by the
--    worker's maintenance, worker/maintenance.ts) and everruns.set_workspace_retention
--    (administrators). Reruns and redrives of a run whose history expired are refused (EV008).
-- 4. The engine's reads of one run's steps and events (history, last LLM step, events after a
--    seq, last event) name the run's partition; a thread's history leaves expired runs out whole.
-- 5. A run's retention counts from everruns_private.retention_clock (a continuation or a rerun
--    from a step reading it later); a month's two partitions are created together or neither,
--    attached in the engine's order (run_steps, then run_events); runs.created_at and
--    legacy_history never change (they name the partition).
set local lock_timeout = '5s';

create schema if not exists everruns_partitions;
comment on schema everruns_partitions is
  'Partitions of everruns.run_events and everruns.run_steps (000038); read and write them through the parents only.';
revoke all on schema everruns_partitions from public;

---------------------------------------------------------------------------------------------
-- 1. Retention columns
---------------------------------------------------------------------------------------------
alter table everruns.workspaces add column retention_days integer
  constraint workspaces_retention_days_check check (retention_days between 1 and 36500);
comment on column everruns.workspaces.retention_days is
  'Days a finished run''s events and steps are kept after it finished; null keeps them forever (000038). Set with everruns.set_workspace_retention.';

alter table everruns.runs add column history_expired_at timestamptz;
comment on column everruns.runs.history_expired_at is
  'When retention removed this finished run''s events and steps (the run row stays as its summary); null while they are kept (000038).';

-- workspace.retention_set {old, new}: everruns.set_workspace_retention
alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted',
    'workspace.created', 'key.created', 'key.revoked', 'role.bound', 'role.unbound',
    'run.rerun',
    'workspace.limits_set',
    'batch.created', 'batch.started', 'batch.paused', 'batch.resumed', 'batch.cancelled', 'batch.retried',
    'batch.parallel_set',
    'schedule.created', 'schedule.updated', 'schedule.paused', 'schedule.resumed', 'schedule.deleted',
    'webhook.created', 'webhook.updated', 'webhook.deleted',
    'notification_endpoint.created', 'notification_endpoint.updated', 'notification_endpoint.deleted',
    'notification.resent',
    'mcp.connected', 'mcp.disconnected',
    'model_price.set', 'model_price.deleted',
    'workspace.retention_set')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, workspace.retention_set, key.created, key.revoked, role.bound, role.unbound, batch.created, batch.started, batch.paused, batch.resumed, batch.cancelled, batch.retried, batch.parallel_set, schedule.created, schedule.updated, schedule.paused, schedule.resumed, schedule.deleted, webhook.created, webhook.updated, webhook.deleted, notification_endpoint.created, notification_endpoint.updated, notification_endpoint.deleted, notification.resent, mcp.connected, mcp.disconnected, model_price.set, model_price.deleted.';

---------------------------------------------------------------------------------------------
-- 2. The partition key of a run
---------------------------------------------------------------------------------------------
-- runs created before this migration have their rows in the legacy partitions and keep writing
-- there: a column true for every existing row and false for new ones (added with a constant
-- default, then the default changed: no rewrite)
alter table everruns.runs add column legacy_history boolean not null default true;
alter table everruns.runs alter column legacy_history set default false;
comment on column everruns.runs.legacy_history is
  '@behavior -*
True for the runs created before 000038: their events and steps are in the legacy partitions (run_created_at ''-infinity'').';

create function everruns_private.run_partition_key(p_created_at timestamptz, p_legacy_history boolean)
returns timestamptz
language sql
immutable
parallel safe
as $$ select case when p_legacy_history then '-infinity'::timestamptz else p_created_at end $$;
comment on function everruns_private.run_partition_key(timestamptz, boolean) is
  'The run_created_at of a run''s events and steps, from its runs.created_at (which never changes) and runs.legacy_history: the run''s creation time, or ''-infinity'' for a run created before 000038 (its rows are in the legacy partitions). Add `run_created_at = run_partition_key(r.created_at, r.legacy_history)` to a read of one run''s rows to prune it to one partition (000038).';

---------------------------------------------------------------------------------------------
-- 3. The old tables become the legacy partitions
---------------------------------------------------------------------------------------------
alter table everruns.run_events rename to run_events_legacy;
alter table everruns.run_events_legacy set schema everruns_partitions;
alter table everruns.run_steps rename to run_steps_legacy;
alter table everruns.run_steps_legacy set schema everruns_partitions;

drop trigger tg_run_events__immutable on everruns_partitions.run_events_legacy;
drop trigger tg_run_events__notify on everruns_partitions.run_events_legacy;
drop trigger tg_run_steps__immutable on everruns_partitions.run_steps_legacy;
drop trigger tg_run_steps__quota_usage on everruns_partitions.run_steps_legacy;

alter table everruns_partitions.run_events_legacy add column run_created_at timestamptz not null default '-infinity';
alter table everruns_partitions.run_events_legacy alter column run_created_at drop default;
alter table everruns_partitions.run_steps_legacy add column run_created_at timestamptz not null default '-infinity';
alter table everruns_partitions.run_steps_legacy alter column run_created_at drop default;

alter table everruns_partitions.run_events_legacy drop constraint run_events_pkey;
alter table everruns_partitions.run_events_legacy add constraint run_events_legacy_key unique (run_id, seq, run_created_at);
alter table everruns_partitions.run_steps_legacy drop constraint run_steps_pkey;
alter table everruns_partitions.run_steps_legacy add constraint run_steps_legacy_key unique (run_id, seq, run_created_at);
-- the parent's kind check is valid (a partitioned table's must be): validate the legacy one (a scan)
alter table everruns_partitions.run_steps_legacy validate constraint run_steps_kind_check;
alter table everruns_partitions.run_events_legacy add constraint run_events_legacy_range check (run_created_at < '1970-01-01');
alter table everruns_partitions.run_steps_legacy add constraint run_steps_legacy_range check (run_created_at < '1970-01-01');

---------------------------------------------------------------------------------------------
-- 4. The partitioned parents
---------------------------------------------------------------------------------------------
create table everruns.run_events (
  run_id uuid not null,
  seq integer not null,
  workspace_id uuid not null,
  type text not null,
  event jsonb not null,
  created_at timestamptz not null default now(),
  run_created_at timestamptz not null,
  constraint run_events_key unique (run_id, seq, run_created_at),
  constraint run_events_run_id_fkey foreign key (run_id) references everruns.runs (id) on delete cascade,
  constraint run_events_workspace_id_fkey foreign key (workspace_id) references everruns.workspaces (id)
) partition by range (run_created_at);
comment on table everruns.run_events is '@primaryKey run_id,seq
Append-only AG-UI event log of a run: seq 1, 2, 3... with no gaps.';
comment on constraint run_events_key on everruns.run_events is '@behavior -*';
-- PostGraphile finds no index on a partitioned table, so it would offer every column as a filter
-- and an order: as before, only the indexed ones
comment on column everruns.run_events.workspace_id is '@behavior -filterBy -orderBy';
comment on column everruns.run_events.created_at is '@behavior -filterBy -orderBy';
comment on constraint run_events_workspace_id_fkey on everruns.run_events is '@backwardBehavior -*';
comment on column everruns.run_events.run_created_at is
  '@behavior -*
The partition key: everruns_private.run_partition_key(runs.created_at, runs.legacy_history) of the run (000038).';

create table everruns.run_steps (
  run_id uuid not null,
  seq integer not null,
  workspace_id uuid not null,
  kind text not null,
  name text not null,
  status text not null,
  attempt integer not null,
  input jsonb,
  output jsonb,
  error jsonb,
  usage jsonb,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  duration_ms numeric generated always as ((extract(epoch from (finished_at - started_at)) * (1000)::numeric)) stored,
  state jsonb,
  run_created_at timestamptz not null,
  constraint run_steps_kind_check check (kind = any (array['llm', 'tool', 'wait', 'system', 'compaction', 'state'])),
  constraint run_steps_key unique (run_id, seq, run_created_at),
  constraint run_steps_run_id_fkey foreign key (run_id) references everruns.runs (id) on delete cascade,
  constraint run_steps_status_check check (status = any (array['succeeded', 'failed'])),
  constraint run_steps_workspace_id_fkey foreign key (workspace_id) references everruns.workspaces (id)
) partition by range (run_created_at);
comment on table everruns.run_steps is '@primaryKey run_id,seq
One row per committed checkpoint of a run. Never written twice.';
comment on column everruns.run_steps.state is
  'The run''s state as this step committed it (an update_state tool step); null: the step did not change it. A rerun from a step starts from the last one at or before it.';
comment on constraint run_steps_key on everruns.run_steps is '@behavior -*';
comment on column everruns.run_steps.workspace_id is '@behavior -filterBy -orderBy';
comment on constraint run_steps_workspace_id_fkey on everruns.run_steps is '@backwardBehavior -*';
comment on column everruns.run_steps.kind is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.name is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.status is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.attempt is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.started_at is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.duration_ms is '@behavior -filterBy -orderBy';
comment on column everruns.run_steps.run_created_at is
  '@behavior -*
The partition key: everruns_private.run_partition_key(runs.created_at, runs.legacy_history) of the run (000038).';

create index run_steps_finished_idx on everruns.run_steps using btree (finished_at);
create index run_steps_llm_turns_idx on everruns.run_steps using btree (run_id, seq) where ((kind = 'llm') and (status = 'succeeded'));
create index run_steps_workflow_idx on everruns.run_steps using btree (run_id, seq) where ((kind = 'state') or ((kind = 'wait') and (output ? 'workflow')));

create trigger tg_run_events__immutable before update on everruns.run_events
  for each row execute function everruns_private.tg__immutable();
create trigger tg_run_events__notify after insert on everruns.run_events
  referencing new table as new_events for each statement execute function everruns_private.tg_run_events__notify();
create trigger tg_run_steps__immutable before update on everruns.run_steps
  for each row execute function everruns_private.tg__immutable();
create trigger tg_run_steps__quota_usage after insert on everruns.run_steps
  for each row when (((new.kind = any (array['llm', 'compaction'])) and (new.usage is not null)))
  execute function everruns_private.tg_run_steps__quota_usage();

-- the old tables' row-level security, policies and grants, on the parents
do $do$
declare
  v_t text;
  v_p record;
  v_g record;
begin
  foreach v_t in array array['run_events', 'run_steps'] loop
    execute format('alter table everruns.%I enable row level security', v_t);
    execute format('alter table everruns.%I force row level security', v_t);
    for v_p in
      select p.polname, p.polpermissive, p.polcmd,
             case when p.polroles = '{0}' then 'public'
                  else (select string_agg(quote_ident(pg_get_userbyid(r)), ', ') from unnest(p.polroles) r) end as roles,
             pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as with_check
        from pg_policy p where p.polrelid = format('everruns_partitions.%I', v_t || '_legacy')::regclass
    loop
      execute format('create policy %I on everruns.%I as %s for %s to %s%s%s', v_p.polname, v_t,
                     case when v_p.polpermissive then 'permissive' else 'restrictive' end,
                     case v_p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update' when 'd' then 'delete' else 'all' end,
                     v_p.roles,
                     case when v_p.qual is not null then ' using (' || v_p.qual || ')' else '' end,
                     case when v_p.with_check is not null then ' with check (' || v_p.with_check || ')' else '' end);
    end loop;
    for v_g in
      select a.privilege_type, case when a.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(a.grantee)) end as grantee
        from pg_class c, aclexplode(c.relacl) a
       where c.oid = format('everruns_partitions.%I', v_t || '_legacy')::regclass and a.grantee <> c.relowner
    loop
      execute format('grant %s on everruns.%I to %s', v_g.privilege_type, v_t, v_g.grantee);
    end loop;
  end loop;
end;
$do$;

alter table everruns.run_events attach partition everruns_partitions.run_events_legacy for values from (minvalue) to ('1970-01-01');
alter table everruns.run_steps attach partition everruns_partitions.run_steps_legacy for values from (minvalue) to ('1970-01-01');
create table everruns_partitions.run_events_pdefault partition of everruns.run_events default;
create table everruns_partitions.run_steps_pdefault partition of everruns.run_steps default;

-- a view names a table by its oid: usage_daily followed the old table to the legacy partition;
-- it reads the parent again (the same definition, 000029)
create or replace view everruns.usage_daily with (security_invoker = true) as
 SELECT r.workspace_id,
    r.agent_id,
    date_trunc('day'::text, (s.finished_at AT TIME ZONE 'UTC'::text))::date AS day,
    count(DISTINCT r.id) AS runs,
    count(*) FILTER (WHERE s.kind = 'llm'::text) AS llm_calls,
    COALESCE(sum((s.usage ->> 'input_tokens'::text)::bigint), 0::numeric) AS input_tokens,
    COALESCE(sum((s.usage ->> 'output_tokens'::text)::bigint), 0::numeric) AS output_tokens,
    round(COALESCE(sum((s.usage ->> 'cost_usd'::text)::numeric), 0::numeric), 6) AS cost_usd,
    COALESCE(sum((s.usage ->> 'cache_read_tokens'::text)::bigint), 0::numeric) AS cache_read_tokens,
    COALESCE(sum((s.usage ->> 'cache_write_tokens'::text)::bigint), 0::numeric) AS cache_write_tokens,
    COALESCE(sum((s.usage ->> 'reasoning_tokens'::text)::bigint), 0::numeric) AS reasoning_tokens
   FROM everruns.run_steps s
     JOIN everruns.runs r ON r.id = s.run_id
  GROUP BY r.workspace_id, r.agent_id, (date_trunc('day'::text, (s.finished_at AT TIME ZONE 'UTC'::text))::date);

---------------------------------------------------------------------------------------------
-- 5. The writers take the run's partition key
---------------------------------------------------------------------------------------------
create or replace function everruns_private.append_events_locked(p_run everruns.runs, p_events jsonb)
 RETURNS integer
 LANGUAGE plpgsql
AS $$
declare
  v_n int := coalesce(jsonb_array_length(p_events), 0);
  v_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
  v_name text;
begin
  if v_n = 0 then
    return p_run.event_seq;
  end if;
  insert into everruns.run_events (run_id, seq, workspace_id, type, event, run_created_at)
  select p_run.id, p_run.event_seq + e.ord, p_run.workspace_id, e.value ->> 'type',
         case when e.value ? 'timestamp' then e.value else e.value || jsonb_build_object('timestamp', v_ms) end,
         everruns_private.run_partition_key(p_run.created_at, p_run.legacy_history)  -- 000038
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
$$;

create or replace function everruns_private.commit_step_locked(p_run everruns.runs, p_attempt integer, p_step jsonb, p_events jsonb, p_next jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $$
declare
  v_seq int := p_run.step_cursor;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
  -- 000030: a progress report, stamped by the database clock
  v_progress jsonb := case when jsonb_typeof(p_step -> 'progress') = 'object'
                           then (p_step -> 'progress') || jsonb_build_object('at', now()) end;
begin
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at, state, run_created_at)
  values (p_run.id, v_seq, p_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(p_run.step_started_at, now()), now(),
          -- 000030: the state this step committed
          case when jsonb_typeof(p_step -> 'state') = 'object' then p_step -> 'state' end,
          everruns_private.run_partition_key(p_run.created_at, p_run.legacy_history));  -- 000038
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
$$;

---------------------------------------------------------------------------------------------
-- 6. Monthly partitions, created ahead
---------------------------------------------------------------------------------------------
create function everruns_private.ensure_partitions(p_now timestamptz default now(), p_months_ahead int default 2)
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
comment on function everruns_private.ensure_partitions(timestamptz, int) is
  'Creates the monthly partitions of run_events and run_steps (UTC months, everruns_partitions.<table>_pYYYYMM) from p_now''s month through p_months_ahead months later, a month''s two together or neither; returns how many it created, how many months it skipped because a parent or its DEFAULT partition was busy (the next call tries again), and how many months get none because a DEFAULT partition holds rows of them. Called by the worker''s maintenance (000038).';
revoke execute on function everruns_private.ensure_partitions(timestamptz, int) from public;

select from everruns_private.ensure_partitions();

---------------------------------------------------------------------------------------------
-- 7. Retention
---------------------------------------------------------------------------------------------
create function everruns_private.run_finished_for_retention(p_run everruns.runs)
returns boolean
language sql
immutable
as $$
  select p_run.status in ('succeeded', 'failed', 'cancelled')
      or (p_run.status = 'interrupted' and p_run.continued_by is not null)
$$;

-- The runs of a thread that are not over (the negation of run_finished_for_retention): the
-- thread's history is read by them, nothing of the thread expires (one index probe per thread)
create index runs_thread_live_idx on everruns.runs using btree (thread_id)
  where status in ('queued', 'running', 'waiting') or (status = 'interrupted' and continued_by is null);
-- retention's candidates: finished runs whose history is kept, per workspace by finished_at
create index runs_retention_idx on everruns.runs using btree (workspace_id, finished_at)
  where history_expired_at is null and finished_at is not null;
-- a month's runs whose history is kept (may the month's partitions be dropped?): one probe
create index runs_history_kept_idx on everruns.runs using btree (created_at) where history_expired_at is null;

-- When a run's retention counts from: when it finished, or later when another run still read its
-- history after that: the continuation of an interrupted run (created when the answer came, it
-- reads the interrupted run's steps) and a rerun from one of its steps (it reads the steps before
-- that one).
-- (plpgsql: its plan is kept for the session; a SQL function called from another one, as
-- history_expirable, would be planned again at every call)
create function everruns_private.retention_clock(p_run everruns.runs)
returns timestamptz
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return greatest(p_run.finished_at,
                  (select c.created_at from everruns.runs c where p_run.status = 'interrupted' and c.id = p_run.continued_by),
                  (select max(x.created_at) from everruns.runs x where x.rerun_of = p_run.id and x.rerun_from_seq is not null));
end;
$$;
comment on function everruns_private.retention_clock(everruns.runs) is
  'When retention counts a run''s days from (000038): its finished_at, or the later created_at of the run that continued it (an interrupted run) or of a rerun from one of its steps, which read its history.';
revoke execute on function everruns_private.retention_clock(everruns.runs) from public;

-- When a run's history may go: it finished (succeeded, failed, cancelled, or interrupted and
-- continued by another run) more than its workspace's retention_days before p_now, counted from
-- its retention_clock, and nothing alive needs it: no run of its thread is unfinished (a thread's
-- runs read earlier runs' steps: thread-scope history and the chain of interrupt answers), it is
-- not in a sub-agent tree with an unfinished run nor a child whose root may not go yet (children
-- go with their root), and not in a batch that still runs.
create function everruns_private.history_expirable(p_run everruns.runs, p_now timestamptz)
returns boolean
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select p_run.history_expired_at is null
     and everruns_private.run_finished_for_retention(p_run)
     and exists (select from everruns.workspaces w
                  where w.id = p_run.workspace_id and w.retention_days is not null
                    and everruns_private.retention_clock(p_run) < p_now - make_interval(days => w.retention_days))
     -- runs_thread_live_idx
     and not exists (select from everruns.runs t
                      where t.thread_id = p_run.thread_id
                        and (t.status in ('queued', 'running', 'waiting') or (t.status = 'interrupted' and t.continued_by is null)))
     and not exists (select from everruns.runs c
                      where c.root_run_id = coalesce(p_run.root_run_id, p_run.id) and not everruns_private.run_finished_for_retention(c))
     and (p_run.root_run_id is null
          or exists (select from everruns.runs root join everruns.workspaces w on w.id = root.workspace_id
                      where root.id = p_run.root_run_id and everruns_private.run_finished_for_retention(root)
                        and w.retention_days is not null
                        and everruns_private.retention_clock(root) < p_now - make_interval(days => w.retention_days)
                        and not exists (select from everruns.runs t
                                         where t.thread_id = root.thread_id
                                           and (t.status in ('queued', 'running', 'waiting') or (t.status = 'interrupted' and t.continued_by is null)))))
     and (p_run.batch_id is null
          or not exists (select from everruns.batches b where b.id = p_run.batch_id and b.status in ('running', 'paused')))
$$;

comment on function everruns_private.run_finished_for_retention(everruns.runs) is
  'Whether a run is over for retention: succeeded, failed, cancelled, or interrupted and continued by another run (000038).';
comment on function everruns_private.history_expirable(everruns.runs, timestamptz) is
  'Whether retention may remove this run''s events and steps at p_now (000038).';
revoke execute on function everruns_private.history_expirable(everruns.runs, timestamptz) from public;

-- One unit of retention work, one short transaction: drop one month whose runs all expired, or
-- expire up to p_batch runs holding together about p_max_rows events and steps (at least one
-- run): their events, steps, attempts, signals, MCP pins and tool dispatches deleted, unless
-- their month's partitions are about to be dropped whole. The worker's maintenance calls it
-- until it returns zeros.
create function everruns_private.apply_retention(p_now timestamptz default now(), p_batch int default 200, p_max_rows int default 50000)
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
  v_ids uuid[];
  v_delete uuid[];
  v_rows bigint := 0;
  v_n bigint;
  v_lock_timeout text := current_setting('lock_timeout');
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
     -- a month both p_now and the database clock have left (an injected p_now never drops the
     -- partitions this month's and next months' runs write to)
     where e.to_at <= date_trunc('month', least(p_now, now()), 'UTC')
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
      return query select 0, 0::bigint, 1;
      return;
    exception when lock_not_available then
      -- the engine is writing: the next round tries again; expire row by row meanwhile
      perform set_config('lock_timeout', v_lock_timeout, true);
    end;
  end loop;

  -- 2. the oldest finished runs whose history may go, workspace by workspace under its own
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
              and date_trunc('month', r.created_at, 'UTC') + interval '1 month' <= date_trunc('month', least(p_now, now()), 'UTC')
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
  'One unit of retention (000038): drops the partitions of one past month whose runs have all expired, or expires up to p_batch runs (about p_max_rows events and steps) whose history may go (history_expirable): sets their history_expired_at and deletes their events, steps, attempts, signals, MCP pins, tool dispatches and trace export markers (the events and steps of a month about to be dropped whole stay until the drop). Returns what it did; call it again until it returns zeros.';
revoke execute on function everruns_private.apply_retention(timestamptz, int, int) from public;

create function everruns_private.assert_history_kept(p_run everruns.runs, p_what text)
returns void
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_days int;
begin
  if p_run.history_expired_at is null then
    return;
  end if;
  select w.retention_days into v_days from everruns.workspaces w where w.id = p_run.workspace_id;
  raise exception 'run %''s history expired on % under the workspace''s retention of % days; it cannot be %',
    p_run.id, to_char(p_run.history_expired_at at time zone 'UTC', 'YYYY-MM-DD'), coalesce(v_days::text, '(now unset)'), p_what
    using errcode = 'EV008', hint = 'Start a new run on its thread instead.';
end;
$$;
comment on function everruns_private.assert_history_kept(everruns.runs, text) is
  'Raises EV008 when retention removed the run''s events and steps (000038): it cannot be rerun or redriven.';

create function everruns.set_workspace_retention(p_workspace_id uuid, p_days int)
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
  select w.retention_days into v_old from everruns.workspaces w where w.id = p_workspace_id for update;
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
comment on function everruns.set_workspace_retention(uuid, int) is
  '@behavior -*
Sets how many days a workspace keeps its finished runs'' events and steps (null: forever); administrators only, like the admission limits (000038).';
revoke execute on function everruns.set_workspace_retention(uuid, int) from public;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    -- the worker's maintenance (worker/maintenance.ts)
    grant execute on function everruns_private.ensure_partitions(timestamptz, int) to everruns_worker;
    grant execute on function everruns_private.apply_retention(timestamptz, int, int) to everruns_worker;
  end if;
end;
$$;

---------------------------------------------------------------------------------------------
-- 8. A run whose history expired is not rerun nor redriven
---------------------------------------------------------------------------------------------
create or replace function everruns.rerun_run(run_id uuid, from_seq integer)
 RETURNS uuid
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
declare
  v_run everruns.runs;
  v_later uuid;
  v_rerun uuid;
  v_steps int;
  v_from_seq int := rerun_run.from_seq;
  v_new uuid;
begin
  select * into v_run from everruns.runs r where r.id = rerun_run.run_id for update;
  if not found then
    raise exception 'unknown run %', rerun_run.run_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || rerun_run.run_id::text);
  perform everruns_private.assert_history_kept(v_run, 'rerun');  -- 000038
  if v_run.status not in ('failed', 'cancelled') then
    raise exception 'run % is %; only a failed or cancelled run can be rerun', v_run.id, v_run.status
      using errcode = 'EV008', hint = case when v_run.status in ('queued', 'running', 'waiting', 'interrupted')
                                           then 'Cancel it first, or wait for it to end.'
                                           else 'Start a new run on its thread instead.' end;
  end if;
  if v_run.parent_run_id is not null then
    raise exception 'run % answers the interrupts of run % and cannot be rerun', v_run.id, v_run.parent_run_id
      using errcode = 'EV008', hint = 'Start a new run on its thread with the instruction again.';
  end if;
  -- the row lock above orders reruns of the same run: the second one sees the first
  select r.id into v_rerun from everruns.runs r where r.rerun_of = v_run.id order by r.created_at desc limit 1;
  if v_rerun is not null then
    raise exception 'run % was already rerun as run %', v_run.id, v_rerun
      using errcode = 'EV008', hint = 'Rerun the latest attempt (run ' || v_rerun::text || ') if it failed too.';
  end if;
  if v_from_seq is not null then
    select r.id into v_later from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) > (v_run.created_at, v_run.id)
    order by r.created_at desc, r.id desc limit 1;
    if v_later is not null then
      raise exception 'run % is not the latest run of its thread (run % came after it); only the latest run can be rerun from a step', v_run.id, v_later
        using errcode = 'EV008', hint = 'Rerun it from its input instead (no step), or rerun run ' || v_later::text || ' from one of its steps.';
    end if;
    if not exists (select from everruns.run_steps s where s.run_id = v_run.id and s.seq = v_from_seq) then
      select count(*) into v_steps from everruns.run_steps s where s.run_id = v_run.id;
      raise exception 'run % has no committed step %', v_run.id, v_from_seq
        using errcode = 'EV008', hint = case when v_steps = 0 then 'It committed no step: rerun it from its input instead (no step).'
                                             else 'Choose one of its steps 0 to ' || (v_steps - 1)::text || '.' end;
    end if;
  elsif v_run.rerun_from_seq is not null then
    -- its input is already in the history (from the run it continues): continue from that input
    v_from_seq := -1;
  end if;
  insert into everruns.runs (workspace_id, agent_id, agent_version, thread_id, input, rerun_of, rerun_from_seq)
  values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, v_run.thread_id, v_run.input, v_run.id, v_from_seq)
  returning id into v_new;
  perform everruns_private.audit_append(v_run.workspace_id, 'run.rerun', 'run', v_run.id::text,
    everruns_private.with_reason(jsonb_build_object('new_run_id', v_new, 'agent_version', v_run.agent_version,
                                                    'previous_status', v_run.status)
                                 || case when rerun_run.from_seq is not null
                                         then jsonb_build_object('from_seq', rerun_run.from_seq) else '{}'::jsonb end));
  return v_new;
end;
$$;

create or replace function everruns.redrive_run(run_id uuid, from_state text)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
declare
  v_run everruns.runs;
  v_config jsonb;
  v_step record;
  v_id uuid;
begin
  select * into v_run from everruns.runs r where r.id = redrive_run.run_id;
  if not found then
    raise exception 'unknown run %', redrive_run.run_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_history_kept(v_run, 'redriven');  -- 000038
  select v.config into v_config from everruns.agent_versions v where v.agent_id = v_run.agent_id and v.version = v_run.agent_version;
  if v_config ->> 'kind' is distinct from 'workflow' then
    raise exception 'run % is not a workflow run: only a workflow run can be redriven from a state', v_run.id
      using errcode = 'EV008', hint = 'Rerun an agent''s run instead (everruns.rerun_run).';
  end if;
  if v_run.status <> 'failed' then
    raise exception 'run % is %: only a failed workflow run can be redriven', v_run.id, v_run.status using errcode = 'EV008';
  end if;
  with recursive chain(id, parent, depth) as (
    select v_run.id, v_run.parent_run_id, 0
    union all
    select p.id, p.parent_run_id, c.depth + 1 from chain c join everruns.runs p on p.id = c.parent where c.depth < 10000
  )
  select s.name, s.input -> 'input' as input, coalesce(s.output -> 'scope', '[]'::jsonb) as scope into v_step
    from chain c join everruns.run_steps s on s.run_id = c.id
   where s.kind in ('state', 'wait') and s.output ? 'workflow'
     and (redrive_run.from_state is null or s.name = redrive_run.from_state)
   order by c.depth, s.seq desc
   limit 1;
  if not found then
    if redrive_run.from_state is null then
      raise exception 'run % has no workflow state to redrive from', v_run.id using errcode = 'EV008';
    end if;
    raise exception 'run % never reached state "%": redrive from a state it reached', v_run.id, redrive_run.from_state
      using errcode = 'EV008';
  end if;
  if jsonb_array_length(v_step.scope) > 0 then
    raise exception 'state "%" runs inside a Parallel branch or a Map item; redrive from the state that holds it', v_step.name
      using errcode = 'EV008';
  end if;
  -- the caller's own workspace by default (a bound role may not name workspace_id); a superuser
  -- acting in none names the run's
  if everruns_private.current_workspace_id() is null then
    insert into everruns.runs (workspace_id, agent_id, agent_version, thread_id, input)
    values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, v_run.thread_id,
            jsonb_build_object('messages', '[]'::jsonb,
                               'workflow', jsonb_build_object('start_at', v_step.name, 'input', v_step.input, 'redrive_of', v_run.id)))
    returning id into v_id;
  else
    insert into everruns.runs (agent_id, agent_version, thread_id, input)
    values (v_run.agent_id, v_run.agent_version, v_run.thread_id,
            jsonb_build_object('messages', '[]'::jsonb,
                               'workflow', jsonb_build_object('start_at', v_step.name, 'input', v_step.input, 'redrive_of', v_run.id)))
    returning id into v_id;
  end if;
  return v_id;
end;
$$;

---------------------------------------------------------------------------------------------
-- 9. The engine's reads of one run's rows name the run's partition (pruned to it)
---------------------------------------------------------------------------------------------
create or replace function everruns_private.last_llm_step(p_run_id uuid)
 RETURNS TABLE(run_id uuid, seq integer, depth integer)
 LANGUAGE plpgsql
 STABLE ROWS 1
 SET plan_cache_mode TO 'force_generic_plan'
AS $$
begin
  return query
  select c.id, l.seq, c.depth
  from everruns_private.run_chain(p_run_id) c
  join everruns.runs r on r.id = c.id  -- 000038: each run's partition
  cross join lateral (
    select max(x.seq) as seq from (
      (select s.seq from everruns.run_steps s
        where s.run_id = c.id and s.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history) and s.kind = 'llm' and s.status = 'succeeded'
        order by s.seq desc limit 1)
      union all
      (select s.seq from everruns.run_steps s
        where s.run_id = c.id and s.run_created_at = everruns_private.run_partition_key(r.created_at, r.legacy_history) and s.status = 'succeeded' and (s.kind = 'state' or (s.kind = 'wait' and s.output ? 'workflow'))
        order by s.seq desc limit 1)
    ) x
  ) l
  where l.seq is not null
  order by c.depth limit 1;
end;
$$;

create or replace function everruns_private.run_history(p_run_id uuid, p_scope text)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $$
declare
  v_run everruns.runs;
  v_llm record;
  v_result jsonb;
begin
  if p_scope = 'thread' then
    select * into v_run from everruns.runs where id = p_run_id;
    with runs as (
      select r.id, r.input, r.created_at, r.rerun_of, r.rerun_from_seq, r.history_expired_at,
           everruns_private.run_partition_key(r.created_at, r.legacy_history) as key from everruns.runs r
      where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
    ), replaced as (
      -- each run rerun by a run up to this one, and the last of its steps that stays (null:
      -- none, nor its input). One rerun per run (rerun_run); the latest one counts for runs
      -- rerun twice before 000016.
      select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
      from runs x where x.rerun_of is not null
      order by x.rerun_of, x.created_at desc, x.id desc
    ), kept as (
      select r.id, r.input, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq, r.key
      from runs r left join replaced p on p.id = r.id
      where (p.id is null or p.keep_to_seq is not null)
        and r.history_expired_at is null  -- 000038: an expired run is left out whole, its input too
    ), entries as (
      select k.created_at, k.id as run_id, -1 as seq,
             jsonb_build_object('kind', 'input', 'run_id', k.id, 'input', k.input) as entry
      from kept k
      where k.rerun_from_seq is null  -- a rerun from a step: the rerun run's input stands for its own
      union all
      select k.created_at, k.id, s.seq,
             jsonb_build_object('kind', 'step', 'run_id', k.id, 'step', jsonb_build_object(
               'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
      from kept k join everruns.run_steps s on s.run_id = k.id and s.run_created_at = k.key
      where not k.was_rerun or s.seq <= k.keep_to_seq
    )
    select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
    return v_result;
  end if;

  -- From the last LLM turn on: the inputs of the runs from the turn's run to this one, every
  -- step of the runs after the turn's run, and the turn's run's steps from the turn on.
  select * into v_llm from everruns_private.last_llm_step(p_run_id);
  with chain as (
    select c.id, c.depth, everruns_private.run_partition_key(r.created_at, r.legacy_history) as key
      from everruns_private.run_chain(p_run_id) c join everruns.runs r on r.id = c.id
    where (v_llm.depth is null or c.depth <= v_llm.depth)
      and r.history_expired_at is null  -- 000038: an expired run is left out whole, its input too
  ), entries as (
    select c.depth, -1 as seq, jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
    from chain c join everruns.runs r on r.id = c.id
    union all
    select c.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from chain c join everruns.run_steps s on s.run_id = c.id and s.run_created_at = c.key
    where v_llm.depth is null or c.depth < v_llm.depth
    union all
    select v_llm.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from everruns.run_steps s
    where s.run_id = v_llm.run_id and s.seq >= v_llm.seq
      and s.run_created_at = (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = v_llm.run_id)
  )
  select coalesce(jsonb_agg(entry order by depth desc, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

create or replace function everruns_private.run_history_compacted(p_run_id uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $$
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
    select r.id, r.created_at, r.rerun_of, r.rerun_from_seq, r.history_expired_at,
           everruns_private.run_partition_key(r.created_at, r.legacy_history) as key from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
  ), replaced as (
    select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
    from runs x where x.rerun_of is not null
    order by x.rerun_of, x.created_at desc, x.id desc
  ), kept as (
    select r.id, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq, r.key
    from runs r left join replaced p on p.id = r.id
    where (p.id is null or p.keep_to_seq is not null)
      and r.history_expired_at is null  -- 000038: an expired run is left out whole
  ), latest as (
    select s.output -> 'through' as through
    from kept k join everruns.run_steps s on s.run_id = k.id and s.run_created_at = k.key
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
    select r.id, r.input, r.created_at, r.rerun_of, r.rerun_from_seq, r.history_expired_at,
           everruns_private.run_partition_key(r.created_at, r.legacy_history) as key from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
  ), replaced as (
    select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
    from runs x where x.rerun_of is not null
    order by x.rerun_of, x.created_at desc, x.id desc
  ), kept as (
    select r.id, r.input, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq, r.key
    from runs r left join replaced p on p.id = r.id
    where (p.id is null or p.keep_to_seq is not null) and (r.created_at, r.id) >= (v_from_at, v_from_run)
      and r.history_expired_at is null  -- 000038: an expired run is left out whole
  ), entries as (
    select k.created_at, k.id as run_id, -1 as seq,
           jsonb_build_object('kind', 'input', 'run_id', k.id, 'input', k.input) as entry
    from kept k
    where k.rerun_from_seq is null and (k.created_at, k.id, -1) >= (v_from_at, v_from_run, v_from_seq)
    union all
    select k.created_at, k.id, s.seq,
           jsonb_build_object('kind', 'step', 'run_id', k.id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from kept k join everruns.run_steps s on s.run_id = k.id and s.run_created_at = k.key
    where (not k.was_rerun or s.seq <= k.keep_to_seq) and (k.created_at, k.id, s.seq) >= (v_from_at, v_from_run, v_from_seq)
  )
  select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

create or replace function everruns_private.run_events_after(p_run_id uuid, p_after integer, p_limit integer)
 RETURNS TABLE(seq integer, type text, event jsonb)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
  select e.seq, e.type, e.event from everruns.run_events e where e.run_id = p_run_id and e.seq > p_after
    and e.run_created_at = (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = p_run_id)
    order by e.seq limit p_limit
$$;

create or replace function everruns_private.run_last_event(p_run_id uuid)
 RETURNS TABLE(seq integer, type text)
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
  select e.seq, e.type from everruns.run_events e where e.run_id = p_run_id
    and e.run_created_at = (select everruns_private.run_partition_key(r.created_at, r.legacy_history) from everruns.runs r where r.id = p_run_id)
  order by e.seq desc limit 1
$$;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    -- append_events_locked and begin_step (security invoker) call them with the worker's rights
    grant execute on function everruns_private.run_partition_key(timestamptz, boolean) to everruns_worker;
    grant execute on function everruns_private.assert_history_kept(everruns.runs, text) to everruns_worker;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    -- redrive_run (security invoker) checks the run's history with the API's rights
    grant execute on function everruns_private.run_partition_key(timestamptz, boolean) to everruns_api;
    grant execute on function everruns_private.assert_history_kept(everruns.runs, text) to everruns_api;
  end if;
end;
$$;

---------------------------------------------------------------------------------------------
-- 10. A run's partition key never changes
---------------------------------------------------------------------------------------------
-- tg_runs__prepare (its latest definition) with one change: legacy_history is the engine's to
-- set, false for every new run
CREATE OR REPLACE FUNCTION everruns_private.tg_runs__prepare()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
declare
  v_agent everruns.agents;
  v_thread everruns.threads;
  v_parent everruns.runs;
  v_other uuid;
begin
  select * into v_agent from everruns.agents where id = new.agent_id;
  if not found then
    raise exception 'unknown agent %', coalesce(new.agent_id::text, 'null')
      using errcode = 'EV002', hint = 'Create the agent first (everruns.agents) or check its id.';
  end if;
  if new.workspace_id <> v_agent.workspace_id then
    -- 000006: a run belongs to its agent's workspace. Someone without a workspace (an
    -- administrator's insert by hand) got the default one from the column default.
    if everruns_private.current_workspace_id() is null then
      new.workspace_id := v_agent.workspace_id;
    else
      raise exception 'unknown agent % in workspace %', new.agent_id, new.workspace_id using errcode = 'EV002';
    end if;
  end if;
  perform everruns_private.assert_valid_run_input(new.input);
  if new.status <> 'queued' then
    raise exception 'a new run starts queued; do not set status (got %)', new.status using errcode = 'EV003';
  end if;

  -- The run this one answers: given, or the thread's latest run if it waits for answers.
  if new.parent_run_id is not null then
    select * into v_parent from everruns.runs where id = new.parent_run_id for update;
    if not found then
      raise exception 'unknown parent run %', new.parent_run_id using errcode = 'EV005';
    end if;
  elsif new.thread_id is not null then
    -- 000002: a given thread that exists must be of this workspace and of this agent (a thread
    -- without an agent, made by hand, must hold no run of another agent), checked before
    -- anything on it is read or locked. 000006: row-level security hides another workspace's
    -- thread from this (security invoker) trigger, so that check reads the thread's workspace
    -- through a security-definer function: the same EV007, not a duplicate key on the insert below.
    if everruns_private.thread_workspace(new.thread_id) <> new.workspace_id then
      raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
    end if;
    select * into v_thread from everruns.threads where id = new.thread_id;
    if found then
      if v_thread.workspace_id <> new.workspace_id then
        raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
      end if;
      if v_thread.agent_id is null then
        select r.agent_id into v_other from everruns.runs r
         where r.thread_id = new.thread_id and r.agent_id <> new.agent_id limit 1;
      elsif v_thread.agent_id <> new.agent_id then
        v_other := v_thread.agent_id;
      end if;
      if v_other is not null then
        raise exception 'thread % belongs to agent %; a run may continue only a thread of its own agent', new.thread_id, v_other
          using errcode = 'EV007',
                hint = format('Leave thread_id out to start a new thread, or give a thread of agent %s (everruns.threads.agent_id).', new.agent_id);
      end if;
    end if;
    select * into v_parent from everruns.runs
     where thread_id = new.thread_id order by created_at desc, id desc limit 1 for update;
    if v_parent.id is not null and (v_parent.status <> 'interrupted' or v_parent.continued_by is not null) then
      v_parent := null;
    end if;
  end if;
  if v_parent.id is not null then
    if v_parent.status <> 'interrupted' or v_parent.continued_by is not null then
      raise exception 'run % is not waiting for an answer (status %)', v_parent.id, v_parent.status using errcode = 'EV008';
    end if;
    if v_parent.agent_id <> new.agent_id then
      raise exception 'run % belongs to another agent; a continuation must use agent %', v_parent.id, v_parent.agent_id using errcode = 'EV008';
    end if;
    perform everruns_private.assert_answers(v_parent, new.input -> 'resume');
    new.parent_run_id := v_parent.id;
    new.thread_id := v_parent.thread_id;
    -- the continuation carries on the same work: it keeps the agent version the work began with
    new.agent_version := coalesce(new.agent_version, v_parent.agent_version);
  elsif new.input ? 'resume' and jsonb_array_length(coalesce(new.input -> 'resume', '[]')) > 0 then
    raise exception 'this run answers interrupts (input.resume) but no run on its thread is waiting for an answer'
      using errcode = 'EV008';
  end if;

  if new.agent_version is null then
    new.agent_version := v_agent.version;
  end if;
  if new.thread_id is null then
    insert into everruns.threads (workspace_id, agent_id) values (new.workspace_id, new.agent_id)
      returning id into new.thread_id;
  else
    select * into v_thread from everruns.threads where id = new.thread_id;
    if not found then
      insert into everruns.threads (id, workspace_id, agent_id) values (new.thread_id, new.workspace_id, new.agent_id);
    elsif v_thread.workspace_id <> new.workspace_id then
      raise exception 'thread % belongs to another workspace', new.thread_id using errcode = 'EV007';
    else
      update everruns.threads set updated_at = now() where id = new.thread_id;
    end if;
  end if;
  -- Everything below is the engine's to write, never the caller's (000008: a forged `usage` of
  -- $123,456.78 showed on the dashboard): the fence, the outcome, the bookkeeping, the clock.
  new.step_cursor := 1;
  new.step_attempt := 0;
  new.step_errors := 0;
  new.step_started_at := null;
  new.event_seq := 0;
  new.settled_event_seq := 0;
  new.waiting := null;
  new.interrupts := null;
  new.continued_by := null;
  new.output := null;
  new.error := null;
  new.usage := '{"cost_usd": 0, "input_tokens": 0, "output_tokens": 0}'::jsonb;
  new.started_at := null;
  new.finished_at := null;
  new.created_at := now();
  new.legacy_history := false;  -- 000038: a new run's rows go to its month's partitions
  new.updated_at := now();
  return new;
end;
$function$;

-- created_at and legacy_history name the partition of the run's events and steps: fixed once the
-- run is inserted (a test fixture that backdates a run does it with session_replication_role =
-- replica, before the run has rows)
create function everruns_private.tg_runs__partition_key_fixed()
returns trigger
language plpgsql
as $$
begin
  raise exception 'run %: created_at and legacy_history never change (they name the partition of its events and steps)', old.id
    using errcode = 'EV006';
end;
$$;
create trigger tg_runs__partition_key_fixed before update of created_at, legacy_history on everruns.runs
  for each row when (old.created_at is distinct from new.created_at or old.legacy_history is distinct from new.legacy_history)
  execute function everruns_private.tg_runs__partition_key_fixed();
