-- Batches (issue 15): many items through one agent, each item an ordinary run, at most
-- max_parallel of them at once, the next released in the transaction that ends the previous one.
--
-- * everruns.batches: the agent (its version pinned), max_parallel, priority, on_item_error,
--   deadline, an optional results_table. Statuses queued → running ⇄ paused → succeeded |
--   completed_with_errors | failed | cancelled (retry_failed_items takes an ended batch back to running).
-- * everruns.batch_items: (batch_id, custom_id) unique; the input is checked as a run input at
--   insert, so the run an item becomes can be inserted by the transaction that ends another.
--   Insert them by hand, `insert … select`, or COPY, then call everruns.start_batch(id).
-- * runs.batch_id, runs.batch_item_id: the item's current run (a continuation inherits them).
-- * Sliding window. A batch run's end (tg_runs__batch_item_end) records the item's result, writes
--   it into results_table in the same transaction, and releases at most one queued item to
--   replace it: the number of items in flight never grows there. Only the controls (start,
--   resume, retry, set_batch_parallel, the sweep) add items up to max_parallel, one at a time per
--   batch (an advisory lock), counting what has committed: never above max_parallel.
-- * Counters: insert-only delta rows (everruns_private.batch_counts), one per transaction that
--   changes a batch's items, written by the function that changes them; summed on read and folded
--   by the sweep; their per-minute count of processed items gives the throughput and the ETA.
-- * Results follow a cursor: an item's result_xid is the transaction that finished it; a reader
--   takes only rows older than its snapshot's xmin, so no later commit lands behind its cursor.
-- * results_table is set by the role that owns Everruns' schemas only: the rows are inserted with
--   its rights.
--
-- Lock order (db/CONVENTIONS.md): run row → workspace limits → audit head → batch items → batch
-- row. A run's end holds its run (and maybe limits and audit head), then its item, then the batch
-- row (no key update) only to stop it or when it may be over; everything after its item is in a
-- subtransaction, so a failure there never fails the run's commit (the sweep catches up). The
-- controls take the batch's advisory lock first, then limits, audit head and the batch row, and
-- never wait on a run a worker holds, except cancel_batch, which first takes the queued items (so
-- nothing new is released), then the runs, then the rest. An item insert takes the batch row
-- (share) last, so it never lands in a batch that has just ended.

---------------------------------------------------------------------------------------------
-- 1. Tables
---------------------------------------------------------------------------------------------
create table everruns.batches (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  name text check (name is null or char_length(name) between 1 and 200),
  agent_id uuid not null references everruns.agents,
  agent_version integer not null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'paused', 'succeeded', 'completed_with_errors', 'failed', 'cancelled')),
  max_parallel integer not null default 10 check (max_parallel between 1 and 10000),
  max_parallel_lowered boolean not null default false,
  priority smallint not null default 0 check (priority between -1000 and 1000),
  on_item_error text not null default 'continue' check (on_item_error in ('continue', 'stop_after')),
  stop_after_failures integer check (stop_after_failures >= 1),
  stop_after_ratio double precision check (stop_after_ratio > 0 and stop_after_ratio <= 1),
  deadline timestamptz,
  results_table text,
  metadata jsonb not null default '{}'::jsonb
    check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 16384),
  error jsonb,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  foreign key (agent_id, agent_version) references everruns.agent_versions (agent_id, version),
  constraint batches_stop_after_check
    check (on_item_error = 'continue' or stop_after_failures is not null or stop_after_ratio is not null)
);
comment on table everruns.batches is
  'A batch: items (everruns.batch_items) run through one agent version, at most max_parallel at once. Insert it, insert its items, then call everruns.start_batch(id).';
comment on column everruns.batches.agent_version is 'Pinned when the batch is created (the agent''s version then, unless given).';
comment on column everruns.batches.max_parallel is 'At most this many items in flight (released, not finished) at once, inside the workspace''s limits.';
comment on column everruns.batches.max_parallel_lowered is 'True from a set_batch_parallel that lowered max_parallel until no more items than it are in flight (the sweep clears it): meanwhile a run''s end counts what is in flight before it releases the next item.';
comment on column everruns.batches.priority is 'The priority of the item runs (-1000..1000), as runs.priority.';
comment on column everruns.batches.on_item_error is 'continue: failed items do not stop the batch. stop_after: the batch fails, and releases no more items, once stop_after_failures items have failed or more than stop_after_ratio of all its items.';
comment on column everruns.batches.deadline is 'When set: at this time the batch fails with deadline_exceeded, its running items cancelled and its queued ones not run.';
comment on column everruns.batches.results_table is 'A table into which each item''s result row is inserted in the same transaction as the item''s completion: the columns it has among batch_id, item_id, custom_id, status, output, error, usage, run_id, finished_at. Set by the role that owns Everruns'' schemas only (the insert, and the table''s triggers, run with its rights).';
comment on column everruns.batches.error is 'Why a failed or cancelled batch ended: {code, message}.';

create index batches_workspace_created_idx on everruns.batches (workspace_id, created_at desc);
create index batches_open_idx on everruns.batches (status) where status in ('queued', 'running', 'paused');
create index batches_unfinished_idx on everruns.batches (id) where finished_at is null;
create index batches_deadline_idx on everruns.batches (deadline) where deadline is not null and status in ('queued', 'running', 'paused');

create table everruns.batch_items (
  id uuid primary key default gen_random_uuid(),
  batch_id uuid not null references everruns.batches,
  workspace_id uuid not null references everruns.workspaces,  -- the batch's (tg_batch_items__fill_in)
  ordinal bigint generated always as identity,
  custom_id text not null check (char_length(custom_id) between 1 and 200),
  input jsonb not null,
  status text not null default 'queued' check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  run_id uuid,
  attempts integer not null default 0,
  output jsonb,
  error jsonb,
  usage jsonb,
  result_xid xid8,
  sink_error text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  constraint batch_items_custom_id_key unique (batch_id, custom_id)
);
comment on table everruns.batch_items is
  'The items of a batch: insert (batch_id, custom_id, input); custom_id defaults to the item''s ordinal. Each becomes a run when released.';
comment on column everruns.batch_items.input is 'The run input of the item (as everruns.runs.input), checked at insert.';
comment on column everruns.batch_items.run_id is 'The item''s current run (its latest attempt; a continuation after an approval replaces it).';
comment on column everruns.batch_items.result_xid is 'The transaction that finished the item: the order of the results cursor.';
comment on column everruns.batch_items.sink_error is 'Why the result row could not be inserted into the batch''s results_table (the item''s result is kept here all the same).';
create index batch_items_next_idx on everruns.batch_items (batch_id, ordinal) where status = 'queued';
create index batch_items_running_idx on everruns.batch_items (batch_id) where status = 'running';
create index batch_items_results_idx on everruns.batch_items (batch_id, result_xid, id) where result_xid is not null;
create index batch_items_status_idx on everruns.batch_items (batch_id, status, ordinal);
-- Every release and every end leaves dead index entries (an item's old versions) that the scans
-- for the next queued item and for the running ones walk until vacuum; so does every admission in
-- runs_pending_idx (each item's run is inserted pending, then admitted). Vacuum those tables after
-- 2% of their rows changed, not the default 20%: a million-item batch then never walks more than
-- some 20,000 dead entries (bench: rounds of 5,000 items lost up to 60% of their rate to the dead
-- entries of the rounds before).
alter table everruns.batch_items set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 5000,
                                      autovacuum_analyze_scale_factor = 0.02);
alter table everruns.runs set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 5000,
                               autovacuum_analyze_scale_factor = 0.02);

alter table everruns.runs add column batch_id uuid references everruns.batches,
                          add column batch_item_id uuid references everruns.batch_items;
comment on column everruns.runs.batch_id is 'The batch this run is an item of (with batch_item_id).';
create index runs_batch_active_idx on everruns.runs (batch_id, id)
  where batch_id is not null and status in ('queued', 'running', 'waiting', 'interrupted');
create index runs_batch_item_idx on everruns.runs (batch_item_id) where batch_item_id is not null;

-- Counters: insert-only delta rows, one per transaction that changes a batch's items (written by
-- add_batch_count, from the function that changed them: no trigger, no row ever updated, so two
-- runs ending at once in one batch never wait for each other). `minute` and `processed` (items
-- that succeeded or failed) give the throughput. The sweep folds a running batch's rows into one
-- per minute (the last hour) and one for what is older. Read by summing (batch_progress_of). No
-- foreign key: a delta row takes no lock of its batch (batches are never deleted).
create table everruns_private.batch_counts (
  batch_id uuid not null,
  minute timestamptz,
  total bigint not null default 0,
  queued bigint not null default 0,
  running bigint not null default 0,
  succeeded bigint not null default 0,
  failed bigint not null default 0,
  cancelled bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  cost_usd numeric not null default 0,
  processed bigint not null default 0
);
create index batch_counts_batch_minute_idx on everruns_private.batch_counts (batch_id, minute);

---------------------------------------------------------------------------------------------
-- 2. Row-level security and grants
---------------------------------------------------------------------------------------------
do $$
declare
  v_table text;
begin
  foreach v_table in array array['batches', 'batch_items'] loop
    execute format('alter table everruns.%I enable row level security', v_table);
    execute format('alter table everruns.%I force row level security', v_table);
    execute format(
      'create policy in_workspace on everruns.%I using (workspace_id = (select everruns_private.current_workspace_id())) '
      'with check (workspace_id = (select everruns_private.current_workspace_id()))', v_table);
    execute format('create policy engine on everruns.%I to everruns_worker, %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;

revoke all on everruns.batches, everruns.batch_items from public;
revoke all on everruns_private.batch_counts from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant select on everruns.batches, everruns.batch_items to everruns_api;
    grant insert (id, name, agent_id, agent_version, max_parallel, priority, on_item_error, stop_after_failures,
                  stop_after_ratio, deadline, metadata) on everruns.batches to everruns_api;
    grant insert (id, batch_id, workspace_id, custom_id, input) on everruns.batch_items to everruns_api;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 3. Items and batches as they are inserted
---------------------------------------------------------------------------------------------
-- A new batch: its agent's workspace and version, its results table checked against the creator.
-- Security invoker: row-level security hides another workspace's agent, and the results table
-- check is of the inserting role's own rights.
create function everruns_private.tg_batches__prepare() returns trigger
language plpgsql as $$
declare
  v_agent everruns.agents;
  v_rel oid;
  v_schema name;
begin
  select * into v_agent from everruns.agents a where a.id = new.agent_id;
  if not found then
    raise exception 'unknown agent %', coalesce(new.agent_id::text, 'null')
      using errcode = 'EV002', hint = 'Create the agent first (everruns.agents) or check its id.';
  end if;
  if new.workspace_id <> v_agent.workspace_id then
    if everruns_private.current_workspace_id() is null then
      new.workspace_id := v_agent.workspace_id;
    else
      raise exception 'unknown agent % in workspace %', new.agent_id, new.workspace_id using errcode = 'EV002';
    end if;
  end if;
  new.agent_version := coalesce(new.agent_version, v_agent.version);
  if new.status <> 'queued' then
    raise exception 'a new batch starts queued; do not set status (got %)', new.status
      using errcode = 'EV003', hint = 'Insert its items, then call everruns.start_batch(id).';
  end if;
  if new.deadline is not null and new.deadline <= now() then
    raise exception 'the batch''s deadline % has already passed', new.deadline using errcode = 'EV003';
  end if;
  if new.results_table is not null then
    v_rel := pg_catalog.to_regclass(new.results_table);
    if v_rel is null then
      raise exception 'results_table %: no such table', new.results_table
        using errcode = 'EV003', hint = 'Create the table first; name it schema-qualified (e.g. public.classifications).';
    end if;
    select n.nspname into v_schema
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.oid = v_rel and c.relkind in ('r', 'p');
    if v_schema is null then
      raise exception 'results_table % is not a table', new.results_table using errcode = 'EV003';
    end if;
    if v_schema in ('everruns', 'everruns_private', 'graphile_worker', 'pg_catalog', 'information_schema') or v_schema like 'pg\_%' then
      raise exception 'results_table % is in schema %, which belongs to Everruns or Postgres', new.results_table, v_schema
        using errcode = 'EV003', hint = 'Use a table of your own schema.';
    end if;
    -- the result rows are inserted by the engine, with the rights of the role that owns Everruns'
    -- schemas (the table's triggers and defaults too): only that role (or a member) names the table
    if not pg_catalog.pg_has_role(current_user,
                                  (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'everruns'), 'MEMBER') then
      raise exception 'only the role that owns Everruns'' schemas may set results_table (role % may not)', current_user
        using errcode = 'EV003',
              hint = 'Ask an administrator to create the batch, or read the results through everruns.batch_results / GET /api/batches/:id/results.';
    end if;
    if not pg_catalog.has_table_privilege(current_user, v_rel, 'INSERT') then
      raise exception 'role % may not insert into results_table %', current_user, new.results_table
        using errcode = 'EV003', hint = 'Grant it INSERT on the table, or name another table.';
    end if;
    if not exists (select from pg_catalog.pg_attribute a
                    where a.attrelid = v_rel and a.attname = 'custom_id' and a.attnum > 0 and not a.attisdropped) then
      raise exception 'results_table % has no custom_id column', new.results_table
        using errcode = 'EV003',
              hint = 'It receives the columns it has among batch_id, item_id, custom_id, status, output, error, usage, run_id, finished_at; custom_id is required.';
    end if;
    -- stored qualified, resolved once: a later search_path does not change which table it is
    select pg_catalog.format('%I.%I', n.nspname, c.relname) into new.results_table
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = v_rel;
  end if;
  new.error := null;
  new.started_at := null;
  new.finished_at := null;
  new.created_at := now();
  new.updated_at := now();
  return new;
end;
$$;
create trigger tg_batches__prepare before insert on everruns.batches
  for each row execute function everruns_private.tg_batches__prepare();

create function everruns_private.tg_batches__audit() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  perform everruns_private.audit_append(new.workspace_id, 'batch.created', 'batch', new.id::text,
    jsonb_build_object('agent_id', new.agent_id, 'agent_version', new.agent_version, 'max_parallel', new.max_parallel)
    || case when new.results_table is not null then jsonb_build_object('results_table', new.results_table) else '{}'::jsonb end);
  return null;
end;
$$;
create trigger tg_batches__audit after insert on everruns.batches
  for each row execute function everruns_private.tg_batches__audit();

-- A new item takes its batch's workspace and, without a custom_id, its ordinal. The only per-row
-- work of an item insert (a million-row COPY pays a per-row trigger a million times; what follows
-- checks each statement once), and none when both are given. Security invoker: another
-- workspace's batch is an unknown one.
create function everruns_private.tg_batch_items__fill_in() returns trigger
language plpgsql as $$
begin
  if new.workspace_id is null then
    select b.workspace_id into new.workspace_id from everruns.batches b where b.id = new.batch_id;
    if new.workspace_id is null then
      raise exception 'unknown batch %', coalesce(new.batch_id::text, 'null') using errcode = 'EV005';
    end if;
  end if;
  if new.custom_id is null then
    new.custom_id := new.ordinal::text;
  end if;
  return new;
end;
$$;
create trigger tg_batch_items__fill_in before insert on everruns.batch_items
  for each row when (new.workspace_id is null or new.custom_id is null) execute function everruns_private.tg_batch_items__fill_in();

-- Items change only through the engine's functions (users may insert them, never update or
-- delete them: no grant), which write the counters' deltas as they change them.

---------------------------------------------------------------------------------------------
-- 4. Counters
---------------------------------------------------------------------------------------------
-- One delta row of a batch's counters (and a notification on everruns:batches).
create function everruns_private.add_batch_count(
  p_batch_id uuid, p_total bigint default 0, p_queued bigint default 0, p_running bigint default 0,
  p_succeeded bigint default 0, p_failed bigint default 0, p_cancelled bigint default 0,
  p_input_tokens bigint default 0, p_output_tokens bigint default 0, p_cost_usd numeric default 0,
  p_processed bigint default 0) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into everruns_private.batch_counts
    (batch_id, minute, total, queued, running, succeeded, failed, cancelled, input_tokens, output_tokens, cost_usd, processed)
  values (p_batch_id, case when p_processed <> 0 then date_trunc('minute', now()) end, p_total, p_queued, p_running,
          p_succeeded, p_failed, p_cancelled, p_input_tokens, p_output_tokens, p_cost_usd, p_processed);
  perform everruns_private.notify('everruns:batches', p_batch_id::text);
end;
$$;

-- Folds a batch's delta rows into one per minute of the last hour and one for the rest: one
-- statement, so a reader sees the rows before or those after, the same sums; a delta inserted
-- meanwhile is not among the deleted rows and stays as it is.
create function everruns_private.fold_batch_counts(p_batch_id uuid) returns void
language sql volatile security definer set search_path = pg_catalog, pg_temp as $$
  with gone as (
    delete from everruns_private.batch_counts c where c.batch_id = p_batch_id returning c.*
  )
  insert into everruns_private.batch_counts
    (batch_id, minute, total, queued, running, succeeded, failed, cancelled, input_tokens, output_tokens, cost_usd, processed)
  select p_batch_id, case when g.minute >= now() - interval '1 hour' then g.minute end,
         sum(g.total), sum(g.queued), sum(g.running), sum(g.succeeded), sum(g.failed), sum(g.cancelled),
         sum(g.input_tokens), sum(g.output_tokens), sum(g.cost_usd), sum(g.processed)
    from gone g
   group by 2;
$$;

create function everruns_private.tg_batch_items__count_insert() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_bad record;
begin
  select i.custom_id, i.workspace_id, b.workspace_id as batch_workspace, b.status into v_bad
    from new_items i join everruns.batches b on b.id = i.batch_id
   where b.status not in ('queued', 'running', 'paused') or i.workspace_id <> b.workspace_id
   limit 1;
  if found then
    if v_bad.status not in ('queued', 'running', 'paused') then
      raise exception 'the batch has ended (status %): it takes no more items', v_bad.status using errcode = 'EV003',
        hint = 'Create a new batch, or retry its failed items (everruns.retry_failed_items).';
    end if;
    raise exception 'item % is of workspace %, its batch of workspace %', v_bad.custom_id, v_bad.workspace_id, v_bad.batch_workspace
      using errcode = 'EV003', hint = 'Leave workspace_id out when bound to the batch''s workspace, or set it to the batch''s.';
  end if;
  select i.custom_id into v_bad from new_items i
   where i.status <> 'queued' or i.run_id is not null or i.attempts <> 0 or i.output is not null or i.error is not null
      or i.usage is not null or i.result_xid is not null or i.sink_error is not null or i.started_at is not null
      or i.finished_at is not null
   limit 1;
  if found then
    raise exception 'item %: status, run_id, attempts, output, error, usage, result_xid, sink_error, started_at and finished_at are the engine''s', v_bad.custom_id
      using errcode = 'EV003', hint = 'Insert batch_id, custom_id and input only.';
  end if;
  begin
    perform everruns_private.assert_valid_run_input(i.input) from new_items i;
  exception when others then
    if (select count(*) from new_items) = 1 then
      raise;
    end if;
    -- name the first bad one (only when there is one)
    for v_bad in select i.custom_id, i.input from new_items i order by i.ordinal loop
      begin
        perform everruns_private.assert_valid_run_input(v_bad.input);
      exception when others then
        raise exception 'item %: %', v_bad.custom_id, sqlerrm using errcode = sqlstate;
      end;
    end loop;
    raise;
  end;

  perform everruns_private.add_batch_count(n.batch_id, p_total => n.count, p_queued => n.count)
     from (select i.batch_id, count(*) from new_items i group by i.batch_id order by i.batch_id) n;
  perform everruns_private.fill_batch(b.id, true)
     from everruns.batches b
    where b.id in (select distinct i.batch_id from new_items i) and b.status = 'running';
  -- last (the batch row comes last in the lock order): share-locked, a batch that ended meanwhile
  -- (finish_batch_if_done holds its row) is seen ended here; one that would end after this waits
  -- for this transaction and then sees its new items
  perform from everruns.batches b where b.id in (select distinct i.batch_id from new_items i) order by b.id for share;
  if exists (select from everruns.batches b
              where b.id in (select distinct i.batch_id from new_items i) and b.status not in ('queued', 'running', 'paused')) then
    raise exception 'the batch has ended: it takes no more items' using errcode = 'EV003',
      hint = 'Create a new batch, or retry its failed items (everruns.retry_failed_items).';
  end if;
  return null;
end;
$$;
create trigger tg_batch_items__count_insert after insert on everruns.batch_items
  referencing new table as new_items for each statement execute function everruns_private.tg_batch_items__count_insert();

-- The batch's counters: the sum of its delta rows (what has committed, and this transaction's own).
create type everruns.batch_progress as (
  total bigint,
  queued bigint,
  running bigint,
  succeeded bigint,
  failed bigint,
  cancelled bigint,
  input_tokens bigint,
  output_tokens bigint,
  cost_usd numeric,
  items_per_minute double precision,
  eta_seconds double precision
);
comment on type everruns.batch_progress is
  'A batch''s counters (maintained as items change, never counted), its throughput over the last 5 minutes and the ETA of the rest at that rate (null when nothing finished lately or nothing is left).';

create function everruns_private.batch_progress_of(p_batch everruns.batches) returns everruns.batch_progress
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v everruns.batch_progress;
  v_finished bigint;
  v_since timestamptz;
  v_seconds double precision;
begin
  select coalesce(sum(c.total), 0), coalesce(sum(c.queued), 0), coalesce(sum(c.running), 0), coalesce(sum(c.succeeded), 0),
         coalesce(sum(c.failed), 0), coalesce(sum(c.cancelled), 0), coalesce(sum(c.input_tokens), 0),
         coalesce(sum(c.output_tokens), 0), coalesce(sum(c.cost_usd), 0)
    into v.total, v.queued, v.running, v.succeeded, v.failed, v.cancelled, v.input_tokens, v.output_tokens, v.cost_usd
    from everruns_private.batch_counts c where c.batch_id = p_batch.id;
  -- the last 5 minutes, or since the batch started when that is shorter
  v_since := greatest(now() - interval '5 minutes', coalesce(p_batch.started_at, now()));
  select coalesce(sum(c.processed), 0) into v_finished
    from everruns_private.batch_counts c
   where c.batch_id = p_batch.id and c.minute >= date_trunc('minute', v_since);
  v_seconds := greatest(extract(epoch from (coalesce(p_batch.finished_at, now()) - v_since))::double precision, 1);
  v.items_per_minute := round((v_finished * 60 / v_seconds)::numeric, 2)::double precision;
  if v_finished > 0 and v.queued + v.running > 0 and p_batch.status in ('queued', 'running') then
    v.eta_seconds := round(((v.queued + v.running) * v_seconds / v_finished)::numeric, 1)::double precision;
  end if;
  return v;
end;
$$;

-- Batch.progress (a computed column) and everruns.batch_progress(id)
-- (the batch is looked up by id: a row value built by the caller proves nothing)
create function everruns.batches_progress(b everruns.batches) returns everruns.batch_progress
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
begin
  select * into v_batch from everruns.batches x where x.id = b.id;
  if not found then
    return null;
  end if;
  perform everruns_private.assert_in_workspace(v_batch.workspace_id, 'batch ' || b.id::text);
  return everruns_private.batch_progress_of(v_batch);
end;
$$;
comment on function everruns.batches_progress(everruns.batches) is 'Counts by status, tokens and cost so far, items per minute and ETA.';

-- Finished items per minute over the last `minutes` (at most 60), oldest first: the throughput chart.
create function everruns.batches_throughput(b everruns.batches, minutes integer default 30)
returns table (minute timestamptz, finished bigint)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select m.minute, coalesce(sum(c.processed), 0)::bigint
    from everruns.batches x
   cross join generate_series(date_trunc('minute', now()) - make_interval(mins => least(greatest(coalesce(minutes, 30), 1), 60) - 1),
                              date_trunc('minute', now()), interval '1 minute') as m(minute)
    left join everruns_private.batch_counts c on c.batch_id = x.id and c.minute = m.minute
   where x.id = b.id
     and (everruns_private.current_workspace_id() is null or x.workspace_id = everruns_private.current_workspace_id())
   group by m.minute order by m.minute;
$$;
comment on function everruns.batches_throughput(everruns.batches, integer) is 'Items finished per minute over the last minutes (up to 60).';

---------------------------------------------------------------------------------------------
-- 5. Releasing items
---------------------------------------------------------------------------------------------
-- Releases up to p_n queued items of the batch as runs (in ordinal order, skipping items another
-- transaction is releasing); returns how many (the caller adds the counters' delta: queued -n,
-- running +n). The runs' inserts may fail (EV012: the workspace's limits): callers that must not
-- fail call it in a subtransaction.
create function everruns_private.release_batch_items(p_batch everruns.batches, p_n integer, p_after_ordinal bigint default null)
returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_floor bigint;
  v_n integer;
  v_released integer := 0;
begin
  -- p_after_ordinal (a run's end: its own item's): look past it first. Items are released in
  -- ordinal order, so the queued ones are just ahead, and the scan does not walk the index entries
  -- of every item released before (dead until vacuum); a retried item, behind, is found after.
  foreach v_floor in array array_remove(array[p_after_ordinal, 0], null) loop
    exit when v_released >= coalesce(p_n, 0);
    with picked as (
      select i.id from everruns.batch_items i
       where i.batch_id = p_batch.id and i.status = 'queued' and i.ordinal > v_floor
       order by i.ordinal
       limit p_n - v_released
         for update skip locked
    ), started as (
      update everruns.batch_items i
         set status = 'running', attempts = i.attempts + 1, run_id = gen_random_uuid(), started_at = now(),
             finished_at = null, output = null, error = null, usage = null, result_xid = null, sink_error = null
        from picked p where i.id = p.id
      returning i.id, i.run_id, i.input, i.ordinal
    )
    insert into everruns.runs (id, workspace_id, agent_id, agent_version, input, priority, batch_id, batch_item_id)
    select s.run_id, p_batch.workspace_id, p_batch.agent_id, p_batch.agent_version, s.input, p_batch.priority, p_batch.id, s.id
      from started s order by s.ordinal;
    get diagnostics v_n = row_count;
    v_released := v_released + v_n;
  end loop;
  return v_released;
end;
$$;

-- Takes the batch's control lock, then its workspace's limits row and audit head (the lock order
-- of a run's end, which comes to the batch row last).
create function everruns_private.lock_batch_control(p_batch_id uuid, p_wait boolean) returns boolean
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_workspace uuid;
begin
  if p_wait then
    perform pg_catalog.pg_advisory_xact_lock(1650812, pg_catalog.hashtext(p_batch_id::text));
  elsif not pg_catalog.pg_try_advisory_xact_lock(1650812, pg_catalog.hashtext(p_batch_id::text)) then
    return false;
  end if;
  select b.workspace_id into v_workspace from everruns.batches b where b.id = p_batch_id;
  if p_wait then
    perform from everruns_private.workspace_limits l where l.workspace_id = v_workspace for update;
  elsif exists (select from everruns_private.workspace_limits l where l.workspace_id = v_workspace) then
    -- the sweep: a busy workspace is left for the next sweep, never waited for
    perform from everruns_private.workspace_limits l where l.workspace_id = v_workspace for update skip locked;
    if not found then
      return false;
    end if;
  end if;
  insert into everruns_private.audit_heads (workspace_id, seq, hash) values (v_workspace, 0, null) on conflict do nothing;
  if p_wait then
    perform from everruns_private.audit_heads h where h.workspace_id = v_workspace for update;
  else
    perform from everruns_private.audit_heads h where h.workspace_id = v_workspace for update skip locked;
    if not found then
      return false;
    end if;
  end if;
  return true;
end;
$$;

-- Releases items up to max_parallel (counting what has committed: a run's end replaces at most
-- its own item, so what it does meanwhile never adds to this count). The caller holds the
-- control lock. Returns how many were released; an error releasing them (the workspace's limits)
-- leaves them queued for the sweep.
create function everruns_private.fill_batch_locked(p_batch_id uuid) returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
  v_running bigint;
  v_released integer;
begin
  select * into v_batch from everruns.batches b where b.id = p_batch_id;
  if not found or v_batch.status <> 'running' then
    return 0;
  end if;
  select count(*) into v_running from everruns.batch_items i where i.batch_id = p_batch_id and i.status = 'running';
  begin
    v_released := everruns_private.release_batch_items(v_batch, v_batch.max_parallel - v_running::integer);
  exception when others then
    raise warning 'batch %: items could not be released now (%: %); they wait for the next sweep', p_batch_id, sqlstate, sqlerrm;
    return 0;
  end;
  if v_released > 0 then
    perform everruns_private.add_batch_count(p_batch_id, p_queued => -v_released, p_running => v_released);
  end if;
  return v_released;
end;
$$;

-- fill_batch_locked under the control lock; p_try: give up when another control holds it.
create function everruns_private.fill_batch(p_batch_id uuid, p_try boolean) returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not everruns_private.lock_batch_control(p_batch_id, not p_try) then
    return 0;
  end if;
  return everruns_private.fill_batch_locked(p_batch_id);
end;
$$;

---------------------------------------------------------------------------------------------
-- 6. A batch run's end
---------------------------------------------------------------------------------------------
-- Inserts the item's result row into the batch's results table: the columns the table has among
-- the result's fields. An error (a constraint of the user's table, a dropped column) is kept on
-- the item (sink_error) and never fails the run's commit.
create function everruns_private.sink_batch_result(p_table text, p_item everruns.batch_items) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_rel regclass;
  v_cols text;
  v_lock_timeout text := pg_catalog.current_setting('lock_timeout');
begin
  begin
    v_rel := pg_catalog.to_regclass(p_table);
    if v_rel is null then
      raise exception 'results_table % no longer exists', p_table;
    end if;
    select string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum) into v_cols
      from pg_catalog.pg_attribute a
     where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
       and a.attname in ('batch_id', 'item_id', 'custom_id', 'status', 'output', 'error', 'usage', 'run_id', 'finished_at');
    -- a user's table must not hold the run's commit for long: a lock on it is waited for 1 s
    perform pg_catalog.set_config('lock_timeout', '1s', true);
    execute pg_catalog.format('insert into %s (%s) select %s from pg_catalog.jsonb_populate_record(null::%s, $1)',
                              v_rel, v_cols, v_cols, v_rel)
      using jsonb_build_object('batch_id', p_item.batch_id, 'item_id', p_item.id, 'custom_id', p_item.custom_id,
                               'status', p_item.status, 'output', p_item.output, 'error', p_item.error,
                               'usage', p_item.usage, 'run_id', p_item.run_id, 'finished_at', p_item.finished_at);
    perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
  exception when others then
    perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
    update everruns.batch_items i set sink_error = left(sqlerrm, 1000) where i.id = p_item.id;
    raise warning 'batch %: the result of item % could not be inserted into %: %', p_item.batch_id, p_item.custom_id, p_table, sqlerrm;
  end;
end;
$$;

-- Ends a batch whose items are all finished (or, failed/cancelled, none running): under its row
-- lock, taken only here and by the controls, after what a run's end holds. The check is a
-- statement after the lock, so of two runs ending the batch's last items the second sees the first.
create function everruns_private.finish_batch_if_done(p_batch_id uuid) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
  v_counts everruns.batch_progress;
begin
  -- no key update: an item insert's foreign-key check (key share) does not wait for it
  select * into v_batch from everruns.batches b where b.id = p_batch_id for no key update;
  if v_batch.finished_at is not null then
    return;
  end if;
  if exists (select from everruns.batch_items i where i.batch_id = p_batch_id and i.status in ('running', 'queued')) then
    return;  -- (a failed or cancelled batch's queued items are cancelled by end_batch or the sweep)
  end if;
  if v_batch.status in ('running', 'paused') then
    v_counts := everruns_private.batch_progress_of(v_batch);
    update everruns.batches b
       set status = case when v_counts.failed + v_counts.cancelled = 0 then 'succeeded' else 'completed_with_errors' end,
           finished_at = now(), updated_at = now()
     where b.id = p_batch_id;
  elsif v_batch.status in ('failed', 'cancelled') then
    update everruns.batches b set finished_at = now(), updated_at = now() where b.id = p_batch_id;
  end if;
end;
$$;

-- Fails a running batch with on_item_error stop_after once its failures pass the bound: counted
-- under the batch row's lock, so of two failures ending at once the second sees the first.
create function everruns_private.check_batch_failures(p_batch everruns.batches) returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_counts everruns.batch_progress;
  v_message text;
begin
  perform from everruns.batches b where b.id = p_batch.id for no key update;
  v_counts := everruns_private.batch_progress_of(p_batch);
  if p_batch.stop_after_failures is not null and v_counts.failed >= p_batch.stop_after_failures then
    v_message := format('%s items failed (stop_after_failures %s)', v_counts.failed, p_batch.stop_after_failures);
  elsif p_batch.stop_after_ratio is not null and v_counts.failed > p_batch.stop_after_ratio * v_counts.total then
    v_message := format('%s of %s items failed, more than stop_after_ratio %s', v_counts.failed, v_counts.total, p_batch.stop_after_ratio);
  else
    return;
  end if;
  update everruns.batches b
     set status = 'failed', updated_at = now(),
         error = jsonb_build_object('code', 'too_many_failures',
                                    'message', 'The batch stopped: ' || v_message || '. Its queued items will not run.')
   where b.id = p_batch.id and b.status in ('running', 'paused');
end;
$$;

-- tg_runs__batch_item_end: a batch run succeeded, failed or was cancelled. Its item takes the
-- outcome; its result goes to the results table; one queued item replaces it (when the batch runs
-- and has room); the batch ends when that was its last item. All in the run's transaction. An
-- interrupted run (an approval, a client tool) keeps its item running: its continuation carries
-- the item on.
create function everruns_private.tg_runs__batch_item_end() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_item everruns.batch_items;
  v_batch everruns.batches;
  v_counts everruns.batch_progress;
  v_stopping boolean := false;
  v_released integer := 0;
begin
  update everruns.batch_items i
     set status = new.status, output = new.output, error = new.error, usage = new.usage,
         finished_at = now(), result_xid = pg_catalog.pg_current_xact_id()
   where i.id = new.batch_item_id and i.run_id = new.id and i.status = 'running'
  returning * into v_item;
  if not found then
    return null;  -- a run the item no longer follows (an earlier attempt)
  end if;
  select * into v_batch from everruns.batches b where b.id = new.batch_id;
  if v_batch.results_table is not null then
    perform everruns_private.sink_batch_result(v_batch.results_table, v_item);
  end if;

  -- What follows only advances the batch; should it fail (a deadlock, the workspace's limits),
  -- the run's commit goes on and the sweep does it within seconds. No replacement for a cancelled
  -- run (cancel_run took the audit head before its limits row: a run insert now would take them
  -- the other way round; the sweep releases it), nor for the failure that reaches stop_after's bound.
  if new.status = 'failed' and v_batch.on_item_error = 'stop_after' and v_batch.status = 'running' then
    v_counts := everruns_private.batch_progress_of(v_batch);
    v_stopping := (v_batch.stop_after_failures is not null and v_counts.failed + 1 >= v_batch.stop_after_failures)
                  or (v_batch.stop_after_ratio is not null and v_counts.failed + 1 > v_batch.stop_after_ratio * v_counts.total);
  end if;
  if v_batch.status = 'running' and new.status <> 'cancelled' and not v_stopping then
    begin
      -- its replacement (one for one: what is in flight stays as it was), unless max_parallel
      -- was lowered below what is in flight: then counted first (at most max_parallel entries)
      if not v_batch.max_parallel_lowered
         or (select count(*) from (select from everruns.batch_items i
                                    where i.batch_id = new.batch_id and i.status = 'running'
                                    limit v_batch.max_parallel) x) < v_batch.max_parallel then
        v_released := everruns_private.release_batch_items(v_batch, 1, v_item.ordinal);
      end if;
    exception when others then
      v_released := 0;
      raise warning 'batch %: the next item could not be released after run % (%: %); the sweep will', new.batch_id, new.id, sqlstate, sqlerrm;
    end;
  end if;
  -- the item's move and its replacement's, one delta row
  perform everruns_private.add_batch_count(new.batch_id,
    p_queued => -v_released,
    p_running => v_released - 1,
    p_succeeded => (new.status = 'succeeded')::int,
    p_failed => (new.status = 'failed')::int,
    p_cancelled => (new.status = 'cancelled')::int,
    p_input_tokens => coalesce((new.usage ->> 'input_tokens')::bigint, 0),
    p_output_tokens => coalesce((new.usage ->> 'output_tokens')::bigint, 0),
    p_cost_usd => coalesce((new.usage ->> 'cost_usd')::numeric, 0),
    p_processed => (new.status in ('succeeded', 'failed'))::int);
  begin
    if new.status = 'failed' and v_batch.on_item_error = 'stop_after' and v_batch.status in ('running', 'paused') then
      -- after the release (the batch row comes last in the lock order)
      perform everruns_private.check_batch_failures(v_batch);
    end if;
    if v_released = 0
       and not exists (select from everruns.batch_items i where i.batch_id = new.batch_id and i.status = 'queued') then
      perform everruns_private.finish_batch_if_done(new.batch_id);
    end if;
  exception when others then
    raise warning 'batch %: advancing it after run % failed (%: %); the sweep will', new.batch_id, new.id, sqlstate, sqlerrm;
  end;
  return null;
end;
$$;
create trigger tg_runs__batch_item_end after update of status on everruns.runs
  for each row when (new.batch_item_id is not null and old.status is distinct from new.status
                     and new.status in ('succeeded', 'failed', 'cancelled'))
  execute function everruns_private.tg_runs__batch_item_end();

-- 000023's tg_runs__queue_order, and: a continuation carries its parent's batch item on; a run
-- given a batch item (release_batch_items) takes the item's batch.
create or replace function everruns_private.tg_runs__queue_order()
 returns trigger
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  v_config jsonb;
  v_parent record;
begin
  if new.parent_run_id is not null then
    select r.priority, r.batch_id, r.batch_item_id into v_parent from everruns.runs r where r.id = new.parent_run_id;
    new.batch_id := v_parent.batch_id;
    new.batch_item_id := v_parent.batch_item_id;
  elsif new.batch_item_id is not null then
    select i.batch_id into new.batch_id from everruns.batch_items i where i.id = new.batch_item_id;
  else
    new.batch_id := null;
  end if;
  if new.priority = 0 then
    -- 0 (the default): the parent's, for a continuation; else the agent version's config.priority
    if new.parent_run_id is not null then
      new.priority := v_parent.priority;
    else
      select v.config into v_config from everruns.agent_versions v
       where v.agent_id = new.agent_id and v.version = new.agent_version;
      if jsonb_typeof(v_config -> 'priority') = 'number' then
        new.priority := greatest(-1000, least(1000, round((v_config ->> 'priority')::numeric)))::smallint;
      end if;
    end if;
    new.priority := coalesce(new.priority, 0);
  elsif new.priority not between -1000 and 1000 then
    raise exception 'priority must be between -1000 and 1000, got %', new.priority using errcode = 'EV003',
      hint = 'Higher runs first: a run of priority p is admitted as if queued p minutes earlier.';
  end if;
  -- the clock, not the transaction's: the runs of one statement keep their insertion order
  new.queue_at := clock_timestamp() - make_interval(mins => new.priority);
  -- admitted at once unless fair share is on or its workspace has a running limit: then the
  -- statement's tg_runs__enqueue admits what fits (admit_runs)
  if not coalesce((select s.fair from everruns_private.scheduler s where s.id = 1), true)
     and not exists (select from everruns_private.workspace_limits l
                      where l.workspace_id = new.workspace_id and l.max_running_runs is not null) then
    new.admitted_at := now();
  else
    new.admitted_at := null;
  end if;
  return new;
end;
$function$;

-- 000018's tg_runs__audit_start, and: a batch's item runs are audited through their batch
-- (batch.created, batch.started, batch.retried name who started them), not one run.started row
-- each — a million-item batch would write a million rows, one at a time, each holding the
-- workspace's audit head through its transaction. A continuation (an approval answered) is still.
create or replace function everruns_private.tg_runs__audit_start()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  -- as audit_append: a bound role is who it is, its settings cannot name another actor (one
  -- value per statement: the session and its settings do not change within one)
  v_actor text := case when everruns_private.bound_workspace(session_user) is not null then 'db:' || session_user
                       else coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user) end;
  v_workspace uuid;
  v_last bigint;
  v_prev bytea;
  v_at timestamptz;
  v_hash bytea;
  v_row record;
  v_seqs bigint[];
  v_ats timestamptz[];
  v_actions text[];
  v_targets text[];
  v_details jsonb[];
  v_prevs bytea[];
  v_hashes bytea[];
begin
  -- heads locked in workspace order (the row trigger locked them in row order; a statement
  -- spans several workspaces only in an administrator's insert by hand)
  for v_workspace in select distinct n.workspace_id from new_runs n
                       where n.batch_item_id is null or n.parent_run_id is not null order by 1 loop
    select h.seq, h.hash into v_last, v_prev
      from everruns_private.audit_heads h where h.workspace_id = v_workspace for update;
    if not found then
      -- as audit_append: the workspace's first audit row creates its head
      insert into everruns_private.audit_heads (workspace_id, seq, hash) values (v_workspace, 0, null)
        on conflict do nothing;
      select h.seq, h.hash into v_last, v_prev
        from everruns_private.audit_heads h where h.workspace_id = v_workspace for update;
    end if;
    v_seqs := '{}'; v_ats := '{}'; v_actions := '{}'; v_targets := '{}'; v_details := '{}'; v_prevs := '{}'; v_hashes := '{}';

    -- what tg_runs__audit_start wrote per row (000015/000016), in insertion order
    for v_row in
      with n as (
        select r.*, row_number() over () as ord from new_runs r
         where r.workspace_id = v_workspace and (r.batch_item_id is null or r.parent_run_id is not null)
      )
      select n.id, n.ord,
             case when n.parent_run_id is null then 'run.started'
                  when jsonb_array_length(a.answers) > 0 then 'approval.answered'
                  else 'run.resumed' end as action,
             case when n.parent_run_id is null then d.details
                  when jsonb_array_length(a.answers) > 0
                    then everruns_private.with_reason(d.details || jsonb_build_object('parent_run_id', n.parent_run_id)
                                                      || jsonb_build_object('answers', a.answers))
                  else everruns_private.with_reason(d.details || jsonb_build_object('parent_run_id', n.parent_run_id)) end as details
        from n
       cross join lateral (
         select jsonb_build_object('agent_id', n.agent_id, 'agent_version', n.agent_version, 'thread_id', n.thread_id)
                || case when n.rerun_of is not null then jsonb_build_object('rerun_of', n.rerun_of) else '{}'::jsonb end as details
       ) d
       cross join lateral (
         -- tg_runs__prepare checked that input.resume is an array of {interruptId, status} answering the parent
         select coalesce(jsonb_agg(
                  jsonb_build_object(
                    'interruptId', e.value -> 'interruptId',
                    'status', e.value -> 'status',
                    -- the worker's rule (worker/conversation.ts): resolved, and not payload.approved = false
                    'approved', (e.value ->> 'status') = 'resolved'
                                and coalesce(e.value #> '{payload,approved}', 'true'::jsonb) <> 'false'::jsonb,
                    'edited', coalesce(jsonb_typeof(e.value #> '{payload,arguments}') = 'object', false))
                  || case when jsonb_typeof(e.value #> '{payload,reason}') = 'string'
                               and btrim(e.value #>> '{payload,reason}') <> ''
                          then jsonb_build_object('reason', left(e.value #>> '{payload,reason}', 500))
                          else '{}'::jsonb end
                  order by e.ord), '[]'::jsonb) as answers
           from jsonb_array_elements(case when n.parent_run_id is null then '[]'::jsonb
                                          else coalesce(n.input -> 'resume', '[]'::jsonb) end)
                with ordinality as e(value, ord)
       ) a
       order by n.ord
    loop
      -- after the lock: `at` increases with seq, one clock reading per row as audit_append
      v_at := clock_timestamp();
      v_last := v_last + 1;
      v_hash := everruns_private.audit_hash(v_workspace, v_last, v_at, v_actor, v_row.action, 'run', v_row.id::text,
                                            v_row.details, v_prev);
      v_seqs := array_append(v_seqs, v_last);
      v_ats := array_append(v_ats, v_at);
      v_actions := array_append(v_actions, v_row.action);
      v_targets := array_append(v_targets, v_row.id::text);
      v_details := array_append(v_details, v_row.details);
      v_prevs := array_append(v_prevs, v_prev);
      v_hashes := array_append(v_hashes, v_hash);
      v_prev := v_hash;
    end loop;

    insert into everruns.audit_log (workspace_id, seq, at, actor, action, target_type, target_id, details, prev_hash, hash)
    select v_workspace, u.seq, u.at, v_actor, u.action, 'run', u.target_id, u.details, u.prev_hash, u.hash
      from unnest(v_seqs, v_ats, v_actions, v_targets, v_details, v_prevs, v_hashes)
           as u(seq, at, action, target_id, details, prev_hash, hash)
     order by u.seq;
    update everruns_private.audit_heads set seq = v_last, hash = v_prev where workspace_id = v_workspace;
  end loop;
  return null;
end;
$function$;

-- A continuation of a batch run becomes its item's current run.
create function everruns_private.tg_runs__batch_continuation() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  update everruns.batch_items i set run_id = n.id
    from new_runs n
   where n.batch_item_id is not null and n.parent_run_id is not null
     and i.id = n.batch_item_id and i.run_id = n.parent_run_id;
  return null;
end;
$$;
create trigger tg_runs__batch_continuation after insert on everruns.runs
  referencing new table as new_runs for each statement execute function everruns_private.tg_runs__batch_continuation();

---------------------------------------------------------------------------------------------
-- 7. Controls
---------------------------------------------------------------------------------------------
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
    'batch.parallel_set')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, key.created, key.revoked, role.bound, role.unbound, batch.created, batch.started, batch.paused, batch.resumed, batch.cancelled, batch.retried, batch.parallel_set.';

-- The batch for a control: locked for it (control lock, limits, audit head, row), EV005 when unknown.
create function everruns_private.lock_batch_for_control(p_batch_id uuid) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
begin
  select * into v_batch from everruns.batches b where b.id = p_batch_id;
  if not found then
    raise exception 'unknown batch %', p_batch_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_batch.workspace_id, 'batch ' || p_batch_id::text);
  perform everruns_private.lock_batch_control(p_batch_id, true);
  select * into v_batch from everruns.batches b where b.id = p_batch_id for no key update;
  return v_batch;
end;
$$;

-- Starts a queued batch: up to max_parallel items are released at once.
create function everruns.start_batch(batch_id uuid) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches := everruns_private.lock_batch_for_control(start_batch.batch_id);
begin
  if v_batch.status <> 'queued' then
    raise exception 'batch % has already started (status %)', v_batch.id, v_batch.status
      using errcode = 'EV008', hint = 'Resume a paused batch (everruns.resume_batch), or retry its failed items (everruns.retry_failed_items).';
  end if;
  update everruns.batches b set status = 'running', started_at = now(), updated_at = now() where b.id = v_batch.id;
  perform everruns_private.audit_append(v_batch.workspace_id, 'batch.started', 'batch', v_batch.id::text, '{}'::jsonb);
  perform everruns_private.fill_batch_locked(v_batch.id);
  -- a batch without items is done at once
  perform everruns_private.finish_batch_if_done(v_batch.id);
  select * into v_batch from everruns.batches b where b.id = start_batch.batch_id;
  return v_batch;
end;
$$;

-- Pauses a running batch: its items in flight go on; no new item starts after this commits.
create function everruns.pause_batch(batch_id uuid) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches := everruns_private.lock_batch_for_control(pause_batch.batch_id);
begin
  if v_batch.status = 'paused' then
    return v_batch;
  end if;
  if v_batch.status not in ('queued', 'running') then
    raise exception 'batch % has ended (status %)', v_batch.id, v_batch.status using errcode = 'EV008';
  end if;
  update everruns.batches b set status = 'paused', started_at = coalesce(b.started_at, now()), updated_at = now()
   where b.id = v_batch.id returning * into v_batch;
  perform everruns_private.audit_append(v_batch.workspace_id, 'batch.paused', 'batch', v_batch.id::text, '{}'::jsonb);
  return v_batch;
end;
$$;

-- Resumes a paused batch: items are released again up to max_parallel.
create function everruns.resume_batch(batch_id uuid) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches := everruns_private.lock_batch_for_control(resume_batch.batch_id);
begin
  if v_batch.status = 'running' then
    return v_batch;
  end if;
  if v_batch.status <> 'paused' then
    raise exception 'batch % is not paused (status %)', v_batch.id, v_batch.status using errcode = 'EV008';
  end if;
  update everruns.batches b set status = 'running', updated_at = now() where b.id = v_batch.id;
  perform everruns_private.audit_append(v_batch.workspace_id, 'batch.resumed', 'batch', v_batch.id::text, '{}'::jsonb);
  perform everruns_private.fill_batch_locked(v_batch.id);
  perform everruns_private.finish_batch_if_done(v_batch.id);
  select * into v_batch from everruns.batches b where b.id = resume_batch.batch_id;
  return v_batch;
end;
$$;

-- Changes max_parallel: a larger one releases items at once; a smaller one lets runs end
-- without replacements until fewer run.
create function everruns.set_batch_parallel(batch_id uuid, max_parallel integer) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches := everruns_private.lock_batch_for_control(set_batch_parallel.batch_id);
begin
  if set_batch_parallel.max_parallel is null or set_batch_parallel.max_parallel not between 1 and 10000 then
    raise exception 'max_parallel must be between 1 and 10000, got %', coalesce(set_batch_parallel.max_parallel::text, 'null')
      using errcode = 'EV003';
  end if;
  update everruns.batches b
     set max_parallel = set_batch_parallel.max_parallel,
         max_parallel_lowered = b.max_parallel_lowered or set_batch_parallel.max_parallel < b.max_parallel,
         updated_at = now()
   where b.id = v_batch.id;
  perform everruns_private.audit_append(v_batch.workspace_id, 'batch.parallel_set', 'batch', v_batch.id::text,
    jsonb_build_object('old', v_batch.max_parallel, 'new', set_batch_parallel.max_parallel));
  perform everruns_private.fill_batch_locked(v_batch.id);
  select * into v_batch from everruns.batches b where b.id = set_batch_parallel.batch_id;
  return v_batch;
end;
$$;

-- Ends a batch now: its queued items are cancelled, then its runs in flight (their items too).
-- Used by cancel_batch (cancelled) and by the sweep at a deadline (failed, deadline_exceeded).
-- Lock order: the queued items first (so nothing more is released: a run's end skips locked
-- items), then the runs in flight, in id order, then the control lock, limits, audit head, row.
create function everruns_private.end_batch(p_batch_id uuid, p_status text, p_error jsonb) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
  v_run uuid;
  v_n bigint;
begin
  update everruns.batch_items i
     set status = 'cancelled', finished_at = now(), result_xid = pg_catalog.pg_current_xact_id(), error = p_error
   where i.batch_id = p_batch_id and i.status = 'queued';
  get diagnostics v_n = row_count;
  if v_n > 0 then
    perform everruns_private.add_batch_count(p_batch_id, p_queued => -v_n, p_cancelled => v_n);
  end if;
  perform from everruns.runs r
   where r.batch_id = p_batch_id and r.status in ('queued', 'running', 'waiting', 'interrupted')
   order by r.id for update;
  v_batch := everruns_private.lock_batch_for_control(p_batch_id);
  if v_batch.status not in ('queued', 'running', 'paused') then
    return v_batch;
  end if;
  update everruns.batches b
     set status = p_status, error = p_error, started_at = coalesce(b.started_at, now()), updated_at = now()
   where b.id = p_batch_id;
  for v_run in
    select r.id from everruns.runs r
     where r.batch_id = p_batch_id and r.status in ('queued', 'running', 'waiting', 'interrupted') and r.continued_by is null
     order by r.id
  loop
    perform everruns.cancel_run(v_run);
  end loop;
  perform everruns_private.finish_batch_if_done(p_batch_id);
  select * into v_batch from everruns.batches b where b.id = p_batch_id;
  return v_batch;
end;
$$;

-- Cancels a batch: its running items are cancelled, its queued ones never run.
create function everruns.cancel_batch(batch_id uuid) returns everruns.batches
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
begin
  select * into v_batch from everruns.batches b where b.id = cancel_batch.batch_id;
  if not found then
    raise exception 'unknown batch %', cancel_batch.batch_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_batch.workspace_id, 'batch ' || cancel_batch.batch_id::text);
  if v_batch.status not in ('queued', 'running', 'paused') then
    return v_batch;
  end if;
  v_batch := everruns_private.end_batch(cancel_batch.batch_id, 'cancelled',
                                        jsonb_build_object('code', 'cancelled', 'message', 'The batch was cancelled.'));
  if v_batch.status = 'cancelled' and (v_batch.error ->> 'code') = 'cancelled' then
    perform everruns_private.audit_append(v_batch.workspace_id, 'batch.cancelled', 'batch', v_batch.id::text, '{}'::jsonb);
  end if;
  return v_batch;
end;
$$;

-- Runs failed items again (all of them, or those of the given custom ids), keeping their
-- custom_id; cancelled ones too when include_cancelled. An ended batch runs again. Returns how
-- many items were queued again.
create function everruns.retry_failed_items(batch_id uuid, custom_ids text[] default null, include_cancelled boolean default false)
returns integer
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches := everruns_private.lock_batch_for_control(retry_failed_items.batch_id);
  v_n integer;
  v_failed integer;
  v_cancelled integer;
begin
  if v_batch.status = 'queued' then
    raise exception 'batch % has not started', v_batch.id using errcode = 'EV008', hint = 'Start it (everruns.start_batch).';
  end if;
  if v_batch.deadline is not null and v_batch.deadline <= now() then
    raise exception 'batch % passed its deadline (%): its items cannot run again', v_batch.id, v_batch.deadline
      using errcode = 'EV008', hint = 'Create a new batch with the items to run (those with status failed or cancelled).';
  end if;
  if custom_ids is not null and cardinality(custom_ids) > 100000 then
    raise exception 'at most 100000 custom ids at once, got %', cardinality(custom_ids) using errcode = 'EV003';
  end if;
  with picked as (
    select i.id, i.status from everruns.batch_items i
     where i.batch_id = v_batch.id
       and (i.status = 'failed' or (retry_failed_items.include_cancelled and i.status = 'cancelled'))
       and (retry_failed_items.custom_ids is null or i.custom_id = any (retry_failed_items.custom_ids))
       for update
  ), requeued as (
    update everruns.batch_items i set status = 'queued', result_xid = null, finished_at = null
      from picked p where i.id = p.id
    returning p.status as was
  )
  select count(*), count(*) filter (where r.was = 'failed'), count(*) filter (where r.was = 'cancelled')
    into v_n, v_failed, v_cancelled
    from requeued r;
  if v_n = 0 then
    return 0;
  end if;
  perform everruns_private.add_batch_count(v_batch.id, p_queued => v_n, p_failed => -v_failed, p_cancelled => -v_cancelled);
  update everruns.batches b
     set status = case when b.status = 'paused' then 'paused' else 'running' end,
         error = null, finished_at = null, updated_at = now()
   where b.id = v_batch.id;
  perform everruns_private.audit_append(v_batch.workspace_id, 'batch.retried', 'batch', v_batch.id::text,
    jsonb_build_object('items', v_n, 'include_cancelled', retry_failed_items.include_cancelled)
    || case when retry_failed_items.custom_ids is not null then jsonb_build_object('custom_ids', cardinality(retry_failed_items.custom_ids))
            else '{}'::jsonb end);
  perform everruns_private.fill_batch_locked(v_batch.id);
  return v_n;
end;
$$;

-- The progress of one batch (EV005 when unknown).
create function everruns.batch_progress(batch_id uuid) returns everruns.batch_progress
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_batch everruns.batches;
begin
  select * into v_batch from everruns.batches b where b.id = batch_progress.batch_id;
  if not found then
    raise exception 'unknown batch %', batch_progress.batch_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_batch.workspace_id, 'batch ' || batch_progress.batch_id::text);
  return everruns_private.batch_progress_of(v_batch);
end;
$$;

-- How far a results cursor may go: below the oldest transaction still running at this
-- statement's snapshot that may have written this database's rows. The snapshot's xmin would do,
-- but it is the whole cluster's: another database's long transaction would hold every batch's
-- results back. So the snapshot's running transactions are taken one by one, leaving out those
-- pg_stat_activity shows running in another database now (one that ended since the snapshot, or
-- that this role may not see, is kept: the horizon only ever errs early).
create function everruns_private.results_horizon() returns xid8
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select coalesce(min(x.xid), pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()))
    from pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) as x(xid)
   where not exists (select from pg_catalog.pg_stat_activity a
                      where a.backend_xid is not null and a.datname is distinct from pg_catalog.current_database()
                        and a.backend_xid::text::bigint = (x.xid::text::numeric % 4294967296)::bigint);
$$;

-- The finished items after a cursor, in the order they finished: (result_xid, id) > the cursor,
-- and only of transactions below results_horizon, so no result commits later behind a cursor
-- already given. A retried item finishes again, later. Row-level security
-- applies (security invoker).
create function everruns.batch_results(batch_id uuid, after_xid xid8 default null, after_id uuid default null, max_rows integer default 1000)
returns setof everruns.batch_items
language plpgsql stable as $$
declare
  v_horizon xid8 := everruns_private.results_horizon();
begin
  if (batch_results.after_xid is null) <> (batch_results.after_id is null) then
    raise exception 'a results cursor is after_xid and after_id together (the last row''s result_xid and id)' using errcode = 'EV003';
  end if;
  return query
  select i.* from everruns.batch_items i
   where i.batch_id = batch_results.batch_id
     and i.result_xid is not null
     and i.result_xid < v_horizon
     and (batch_results.after_xid is null or (i.result_xid, i.id) > (batch_results.after_xid, batch_results.after_id))
   order by i.result_xid, i.id
   limit least(greatest(coalesce(batch_results.max_rows, 1000), 1), 10000);
end;
$$;
comment on function everruns.batch_results(uuid, xid8, uuid, integer) is
  'Finished items after the cursor (after_xid, after_id: the last row''s result_xid and id), in the order they finished.';

---------------------------------------------------------------------------------------------
-- 8. The sweep (repair_orphaned_runs, at most every 5 s)
---------------------------------------------------------------------------------------------
-- Fails batches past their deadline, releases items a run's end could not (the workspace's
-- limits, a lowered count), cancels the queued items of stopped batches in chunks, finishes
-- what is done, folds counters and prunes rates. Runs inside repair_orphaned_runs, whose
-- admission may hold workspace limits rows: what could wait on a worker's run gives up after a
-- short lock timeout (and is tried again next time).
create function everruns_private.sweep_batches() returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
  v_n bigint;
  v_lock_timeout text := pg_catalog.current_setting('lock_timeout');
begin
  for v_id in
    select b.id from everruns.batches b
     where b.deadline < now() and b.status in ('queued', 'running', 'paused')
     order by b.deadline limit 10
  loop
    begin
      perform pg_catalog.set_config('lock_timeout', '200ms', true);
      perform everruns_private.end_batch(v_id, 'failed', jsonb_build_object(
        'code', 'deadline_exceeded', 'message', 'The batch passed its deadline: its running items were cancelled and its queued ones did not run.'));
      perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
    exception when others then
      perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
      raise warning 'batch %: could not end it at its deadline now (%: %)', v_id, sqlstate, sqlerrm;
    end;
  end loop;

  for v_id in
    select b.id from everruns.batches b
     where b.status = 'running'
       and (select count(*) from (select from everruns.batch_items i where i.batch_id = b.id and i.status = 'running'
                                  limit b.max_parallel) x) < b.max_parallel
       and exists (select from everruns.batch_items i where i.batch_id = b.id and i.status = 'queued')
     limit 100
  loop
    begin
      perform everruns_private.fill_batch(v_id, true);
    exception when others then
      raise warning 'batch %: could not release its items now (%: %)', v_id, sqlstate, sqlerrm;
    end;
  end loop;

  -- a lowered max_parallel reached: runs' ends release one for one again, without counting
  for v_id in
    select b.id from everruns.batches b where b.max_parallel_lowered and b.finished_at is null limit 100
  loop
    begin
      if everruns_private.lock_batch_control(v_id, false) then
        update everruns.batches b set max_parallel_lowered = false
         where b.id = v_id
           and (select count(*) from (select from everruns.batch_items i where i.batch_id = v_id and i.status = 'running'
                                       limit b.max_parallel + 1) x) <= b.max_parallel;
      end if;
    exception when others then
      raise warning 'batch %: could not check its max_parallel now (%: %)', v_id, sqlstate, sqlerrm;
    end;
  end loop;

  -- a failure bound a run's end could not check (its check rolled back with a failed release)
  for v_id in
    select b.id from everruns.batches b
     where b.status in ('running', 'paused') and b.on_item_error = 'stop_after' and b.finished_at is null
     limit 100
  loop
    begin
      if everruns_private.lock_batch_control(v_id, false) then
        perform everruns_private.check_batch_failures(b) from everruns.batches b where b.id = v_id;
      end if;
    exception when others then
      raise warning 'batch %: could not check its failures now (%: %)', v_id, sqlstate, sqlerrm;
    end;
  end loop;

  -- the queued items of a stopped batch (stop_after) never run: cancelled in chunks, under the
  -- control lock (a retry may be reopening it)
  for v_id in
    select b.id from everruns.batches b
     where b.finished_at is null and b.status in ('failed', 'cancelled')
       and exists (select from everruns.batch_items i where i.batch_id = b.id and i.status = 'queued')
     limit 100
  loop
    continue when not everruns_private.lock_batch_control(v_id, false);
    update everruns.batch_items i
       set status = 'cancelled', finished_at = now(), result_xid = pg_catalog.pg_current_xact_id(),
           error = jsonb_build_object('code', 'batch_stopped', 'message', 'The batch stopped before this item ran.')
     where i.id in (select q.id from everruns.batch_items q where q.batch_id = v_id and q.status = 'queued'
                     order by q.ordinal limit 10000 for update skip locked)
       and (select b.status from everruns.batches b where b.id = v_id) in ('failed', 'cancelled');
    get diagnostics v_n = row_count;
    if v_n > 0 then
      perform everruns_private.add_batch_count(v_id, p_queued => -v_n, p_cancelled => v_n);
    end if;
  end loop;

  -- batches with nothing left that nobody finished (a start with no items, a run's end that
  -- could not advance its batch, the last chunk above)
  for v_id in
    select b.id from everruns.batches b
     where b.finished_at is null and b.status in ('running', 'paused', 'failed', 'cancelled')
       and not exists (select from everruns.batch_items i where i.batch_id = b.id and i.status in ('running', 'queued'))
     limit 100
  loop
    begin
      if everruns_private.lock_batch_control(v_id, false) then
        perform everruns_private.finish_batch_if_done(v_id);
      end if;
    exception when others then
      raise warning 'batch %: could not finish it now (%: %)', v_id, sqlstate, sqlerrm;
    end;
  end loop;

  -- fold the counters of batches that run or ended lately (61 rows at most stay per batch)
  for v_id in
    select b.id from everruns.batches b
     where (b.finished_at is null or b.finished_at > now() - interval '10 minutes')
       and (select count(*) from (select from everruns_private.batch_counts c where c.batch_id = b.id limit 100) x) >= 100
     limit 1000
  loop
    perform everruns_private.fold_batch_counts(v_id);
  end loop;
end;
$$;

-- 000024's repair_orphaned_runs, and the batch sweep in its throttled part.
create or replace function everruns_private.repair_orphaned_runs()
 returns integer
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  v_run record;
  v_n int := 0;
begin
  -- 000023: the safety net of admission, on every call (about every second per worker; one
  -- index probe when nothing waits)
  perform everruns_private.admit_runs(null);
  update everruns_private.maintenance set repaired_at = now()
   where id = 1 and repaired_at < now() - interval '5 seconds';
  if not found then
    return 0;
  end if;
  perform everruns_private.sample_queue(); -- 000014
  for v_run in
    select r.id, r.status, r.waiting from everruns.runs r
    where r.status in ('queued', 'running', 'waiting')
      and not (r.status = 'queued' and r.admitted_at is null)
      and r.updated_at < now() - interval '5 seconds'
      and not exists (select 1 from graphile_worker.jobs j
                      where j.key = 'run:' || r.id::text and j.attempts < j.max_attempts
                        -- 000024: a job of the task its workspace no longer has (dedicated
                        -- changed while it was locked, or it was added just before) is nobody's
                        and j.task_identifier = everruns_private.step_task(r.workspace_id))
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id,
      case when v_run.status = 'waiting' then (v_run.waiting ->> 'until')::timestamptz end);
    v_n := v_n + 1;
  end loop;
  -- 000025: batches (deadlines, items a run's end could not release)
  begin
    perform everruns_private.sweep_batches();
  exception when others then
    raise warning 'the batch sweep failed: %: %', sqlstate, sqlerrm;
  end;
  return v_n;
end;
$function$;

---------------------------------------------------------------------------------------------
-- 9. Grants of the functions
---------------------------------------------------------------------------------------------
revoke execute on function
  everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), everruns.cancel_batch(uuid),
  everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean),
  everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer),
  everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer),
  everruns_private.add_batch_count(uuid, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, numeric, bigint),
  everruns_private.fold_batch_counts(uuid), everruns_private.batch_progress_of(everruns.batches),
  everruns_private.release_batch_items(everruns.batches, integer, bigint), everruns_private.lock_batch_control(uuid, boolean),
  everruns_private.fill_batch_locked(uuid), everruns_private.fill_batch(uuid, boolean),
  everruns_private.sink_batch_result(text, everruns.batch_items), everruns_private.finish_batch_if_done(uuid),
  everruns_private.check_batch_failures(everruns.batches), everruns_private.lock_batch_for_control(uuid),
  everruns_private.end_batch(uuid, text, jsonb), everruns_private.sweep_batches(), everruns_private.results_horizon()
  from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function
      everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), everruns.cancel_batch(uuid),
      everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean),
      everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer),
      everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer),
      everruns_private.results_horizon()
      to everruns_api;
  end if;
end
$$;

-- 000023's bind_role, and batches: read access reads them, write access creates and controls them.
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
                 'everruns.run_attempts, everruns.batches, everruns.batch_items to %I', v_role);  -- 000013: run_attempts; 000025: batches
  execute format('grant execute on function everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon() to %I', v_role);
  execute format('revoke insert, update on everruns.runs, everruns.threads, everruns.batches, everruns.batch_items from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb), everruns.start_batch(uuid), everruns.pause_batch(uuid), '
                 'everruns.resume_batch(uuid), everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), '
                 'everruns.retry_failed_items(uuid, text[], boolean) from %I', v_role);
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
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;

-- 000006's unbind_role, and the batch functions bind_role grants: an unbound role has no
-- workspace, and a workspace check passes for one without (as for an administrator).
create or replace function everruns.unbind_role(role name)
 returns boolean
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  v_binding everruns_private.role_bindings;
begin
  delete from everruns_private.role_bindings b where b.role_name = unbind_role.role returning * into v_binding;
  if not found then
    return false;
  end if;
  execute format('revoke all on all tables in schema everruns from %I', unbind_role.role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb) from %I',
                 unbind_role.role);
  execute format('revoke execute on function everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), '
                 'everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean), '
                 'everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon() from %I', unbind_role.role);
  perform everruns_private.audit_append(v_binding.workspace_id, 'role.unbound', 'role', unbind_role.role::text, '{}'::jsonb);
  return true;
end;
$function$;
