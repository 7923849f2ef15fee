-- Triggers (issue 16): schedules, signed inbound webhooks, event-triggered activations of
-- long-lived threads, and outbound notifications.
--
-- * everruns_private.clock(): the time schedules, de-duplication windows and notification
--   deadlines are computed from: the database's now() plus an offset only the owner can set
--   (everruns_private.clock_offset; tests move time with it, production leaves it at zero).
-- * everruns.schedules: an agent, a cron expression or an interval in a time zone, the run input
--   (a template), overlap, catch-up, pause, pause_after_failures, a new or a shared thread. The
--   cron arithmetic is the worker's (croner, lib/schedule-times.ts): a ticker in every worker
--   locks a due schedule (skip locked), computes its occurrences and calls
--   everruns_private.fire_schedule, which inserts each fired occurrence's run with its row in
--   everruns.schedule_fires, unique (schedule_id, occurrence_at): each occurrence fires at most
--   once whatever the number of workers; next_fire_at, advanced in the same transaction, fences a
--   ticker that computed from a stale row.
-- * A schedule run's end is recorded in an insert-only row (everruns_private.schedule_run_ends)
--   that the ticker folds under the schedule's lock: the run's end never waits on a schedule row,
--   so the lock order stays schedule → run everywhere (failure counts, buffered fires).
-- * everruns.activations: an event for a long-lived thread (threads.key). everruns.trigger(agent,
--   payload, thread_key) and webhooks start the event's run at once when the thread is idle, else
--   queue it; the transaction that ends the thread's last run starts the next queued one
--   (tg_runs__thread_next), so the events of one thread run one after another, never in parallel,
--   and nothing holds a worker between them. Lock order: the thread's last run → the thread row.
-- * everruns.webhooks / webhook_deliveries: POST /hooks/:id verifies the sender in the API
--   (lib/webhook-signatures.ts, secrets read through everruns_private.webhook_for_delivery), then
--   everruns_private.receive_webhook records the delivery, de-duplicates it by its key for 24 h
--   (an advisory lock per key), and inserts the run (or the activation): one transaction.
-- * everruns.notification_endpoints / notification_deliveries / notification_attempts: a run's
--   end (and a batch's) inserts one delivery per matching endpoint and a graphile-worker job
--   `deliver_notification` in the same transaction; the worker signs (Standard Webhooks, webhook-id
--   msg_<delivery id>) and posts it through the egress guard, and records each attempt; a failed
--   attempt schedules the next with backoff until a day has passed.

---------------------------------------------------------------------------------------------
-- 1. The clock
---------------------------------------------------------------------------------------------
create table everruns_private.clock_offset (
  id integer primary key default 1 check (id = 1),
  offset_by interval not null default interval '0'
);
comment on table everruns_private.clock_offset is
  'Added to now() by everruns_private.clock(): zero in production; tests move the schedules'' time with it (owner only).';
insert into everruns_private.clock_offset (id, offset_by) values (1, interval '0');
revoke all on everruns_private.clock_offset from public;

create function everruns_private.clock() returns timestamptz
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select now() + coalesce((select c.offset_by from everruns_private.clock_offset c where c.id = 1), interval '0')
$$;
comment on function everruns_private.clock() is
  'The time of schedules, de-duplication windows and notification deadlines: now() plus everruns_private.clock_offset.';

---------------------------------------------------------------------------------------------
-- 2. Tables
---------------------------------------------------------------------------------------------
create table everruns.schedules (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
  agent_id uuid not null references everruns.agents,
  cron text check (char_length(cron) between 1 and 200),
  interval_seconds integer check (interval_seconds between 1 and 31536000),
  timezone text not null default 'UTC' check (timezone ~ '^[A-Za-z0-9_+/-]{1,64}$'),
  input jsonb not null,
  overlap text not null default 'skip' check (overlap in ('skip', 'buffer_one', 'allow', 'cancel_previous')),
  catch_up text not null default 'once' check (catch_up in ('skip', 'once', 'all')),
  catch_up_max integer not null default 10 check (catch_up_max between 1 and 1000),
  misfire_grace_seconds integer not null default 60 check (misfire_grace_seconds between 1 and 86400),
  thread text not null default 'new' check (thread in ('new', 'shared')),
  thread_id uuid references everruns.threads,
  paused boolean not null default false,
  paused_note text check (char_length(paused_note) <= 1000),
  pause_after_failures integer check (pause_after_failures between 1 and 1000),
  consecutive_failures integer not null default 0,
  next_fire_at timestamptz,
  last_fire_at timestamptz,
  missed_total bigint not null default 0,
  spec_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint schedules_workspace_name_key unique (workspace_id, name),
  constraint schedules_cron_or_interval check ((cron is null) <> (interval_seconds is null)),
  constraint schedules_shared_thread_overlap check (thread = 'new' or overlap <> 'allow')
);
comment on table everruns.schedules is
  'A schedule: its agent runs at each occurrence of a cron expression or an interval, in a time zone. Each occurrence fires once (everruns.schedule_fires).';
comment on column everruns.schedules.cron is 'A cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, or a nickname (@hourly, @daily, …). Exactly one of cron and interval_seconds.';
comment on column everruns.schedules.interval_seconds is 'Every this many seconds, counted from created_at.';
comment on column everruns.schedules.timezone is 'The IANA time zone the cron expression is read in (daylight-saving changes: no double fire, no skipped day).';
comment on column everruns.schedules.input is 'The run input of each fire (as everruns.runs.input). In its strings {{fire_time}} (UTC, ISO 8601), {{fire_time_local}}, {{schedule}} and {{timezone}} are replaced.';
comment on column everruns.schedules.overlap is 'When an occurrence comes while the previous fire''s run is still active: skip it, buffer_one (start it when the active run ends; at most one waits), allow (run both; not with a shared thread), cancel_previous (cancel the active run, then start).';
comment on column everruns.schedules.catch_up is 'Occurrences missed while nothing ran (older than misfire_grace_seconds): skip them, fire once (the latest), or all (the most recent catch_up_max).';
comment on column everruns.schedules.thread is 'new: each fire starts a new thread. shared: every fire continues one long-lived thread (thread_id).';
comment on column everruns.schedules.pause_after_failures is 'Pause the schedule after this many consecutive failed runs (a succeeded run resets the count).';
comment on column everruns.schedules.next_fire_at is 'The next occurrence (null: the ticker computes it). Set by the ticker only.';
comment on column everruns.schedules.missed_total is 'Occurrences the catch-up policy did not fire.';
comment on column everruns.schedules.spec_error is 'Why the ticker cannot compute the occurrences (the schedule is paused meanwhile); cleared when cron, interval or time zone change.';
create index schedules_due_idx on everruns.schedules (next_fire_at) where not paused;
create index schedules_unset_idx on everruns.schedules (id) where not paused and next_fire_at is null;
create index schedules_agent_idx on everruns.schedules (agent_id);

create table everruns.schedule_fires (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references everruns.workspaces,
  schedule_id uuid not null references everruns.schedules on delete cascade,
  occurrence_at timestamptz not null,
  status text not null check (status in ('started', 'skipped', 'buffered', 'failed')),
  reason text,
  run_id uuid references everruns.runs,
  fired_at timestamptz not null default everruns_private.clock(),
  started_at timestamptz,
  constraint schedule_fires_occurrence_key unique (schedule_id, occurrence_at)
);
comment on table everruns.schedule_fires is
  'One row per occurrence a schedule handled: started (run_id), skipped (reason: overlap, paused), buffered (waits for the active run to end), failed (reason: why the run could not be inserted).';
create index schedule_fires_recent_idx on everruns.schedule_fires (schedule_id, occurrence_at desc);
create index schedule_fires_buffered_idx on everruns.schedule_fires (schedule_id) where status = 'buffered';
create index schedule_fires_run_idx on everruns.schedule_fires (run_id) where run_id is not null;

create table everruns_private.schedule_run_ends (
  id bigint generated always as identity primary key,
  schedule_id uuid not null,
  run_id uuid not null,
  status text not null,
  at timestamptz not null default now()
);
comment on table everruns_private.schedule_run_ends is
  'A schedule run''s end, inserted by the transaction that ended it; the ticker folds it under the schedule''s lock (failure count, buffered fire).';
create index schedule_run_ends_schedule_idx on everruns_private.schedule_run_ends (schedule_id, id);

-- No foreign key: deleting a schedule neither rewrites its runs nor waits on them (a
-- continuation's insert would hold its parent run while its key check waited on the schedule).
alter table everruns.runs add column schedule_id uuid;
comment on column everruns.runs.schedule_id is 'The schedule that fired this run (a continuation inherits it); its fires are in everruns.schedule_fires.';
create index runs_schedule_active_idx on everruns.runs (schedule_id)
  where schedule_id is not null and status in ('queued', 'running', 'waiting', 'interrupted');

alter table everruns.threads add column key text check (key ~ '^[^[:space:][:cntrl:]]{1,200}$');
comment on column everruns.threads.key is 'A long-lived thread''s name for events (everruns.trigger, webhooks): unique per agent.';
create unique index threads_agent_key_idx on everruns.threads (workspace_id, agent_id, key) where key is not null;

create table everruns.activations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references everruns.workspaces,
  agent_id uuid not null references everruns.agents,
  thread_id uuid not null references everruns.threads,
  input jsonb not null,
  source text not null check (source in ('sql', 'webhook')),
  source_id uuid,
  run_id uuid not null unique default gen_random_uuid(),
  status text not null default 'pending' check (status in ('pending', 'started', 'failed')),
  error jsonb,
  created_at timestamptz not null default clock_timestamp(),
  started_at timestamptz
);
comment on table everruns.activations is
  'An event for a long-lived thread: its run (run_id, fixed when the event arrives) starts when every earlier run of the thread has ended.';
create index activations_pending_idx on everruns.activations (thread_id, created_at, id) where status = 'pending';
create index activations_pending_age_idx on everruns.activations (created_at) where status = 'pending';
create index activations_thread_idx on everruns.activations (thread_id, created_at desc);

create table everruns.webhooks (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
  agent_id uuid not null references everruns.agents,
  verify text not null default 'standard' check (verify in ('standard', 'hmac', 'github', 'bearer')),
  secret_names text[] not null
    check (cardinality(secret_names) between 1 and 2 and array_position(secret_names, null) is null),
  signature_header text check (signature_header ~ '^[A-Za-z0-9-]{1,100}$'),
  signature_prefix text check (char_length(signature_prefix) <= 50),
  tolerance_seconds integer not null default 300 check (tolerance_seconds between 1 and 3600),
  dedupe_pointer text check (dedupe_pointer ~ '^(/[^/]*){1,32}$' and char_length(dedupe_pointer) <= 500),
  input_template jsonb check (input_template is null or pg_column_size(input_template) <= 65536),
  thread_key_pointer text check (thread_key_pointer ~ '^(/[^/]*){1,32}$' and char_length(thread_key_pointer) <= 500),
  max_body_bytes integer not null default 262144 check (max_body_bytes between 1024 and 5242880),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint webhooks_workspace_name_key unique (workspace_id, name)
);
comment on table everruns.webhooks is
  'An inbound webhook: POST /hooks/<id> verifies the sender (verify: standard, hmac, github, bearer) with the workspace secrets secret_names (two during rotation) and starts a run of the agent.';
comment on column everruns.webhooks.secret_names is 'Names of workspace secrets (everruns secrets set): one, or two while rotating (either verifies).';
comment on column everruns.webhooks.dedupe_pointer is 'A JSON pointer into the payload whose value de-duplicates deliveries for 24 h (default: the webhook-id header, or X-GitHub-Delivery).';
comment on column everruns.webhooks.input_template is 'The run input: a JSON value whose strings may hold {{/json/pointer}} (a whole-string placeholder keeps the value''s type). Default: the payload as the user message. The raw payload is added as context.';
comment on column everruns.webhooks.thread_key_pointer is 'A JSON pointer to the thread key: deliveries with the same key continue one long-lived thread, one run after another. Default: a new thread per delivery.';

create table everruns.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references everruns.workspaces,
  webhook_id uuid not null references everruns.webhooks on delete cascade,
  delivery_key text check (char_length(delivery_key) <= 500),
  received_at timestamptz not null default everruns_private.clock(),
  verified_with smallint,
  payload jsonb not null,
  payload_bytes integer not null,
  thread_key text,
  run_id uuid not null,
  duplicates integer not null default 0,
  last_duplicate_at timestamptz,
  test boolean not null default false
);
comment on table everruns.webhook_deliveries is
  'Each verified delivery of a webhook: its de-duplication key, payload, the run it started, how many repeats were answered with the same run. Rejected deliveries write nothing.';
create index webhook_deliveries_key_idx on everruns.webhook_deliveries (webhook_id, delivery_key, received_at desc)
  where delivery_key is not null;
create index webhook_deliveries_recent_idx on everruns.webhook_deliveries (webhook_id, received_at desc);

create table everruns.notification_endpoints (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
  url text not null check (url ~ '^https?://[^[:space:]]+$' and char_length(url) <= 2000),
  events text[] not null check (cardinality(events) >= 1 and events <@ array['run.succeeded', 'run.failed', 'run.interrupted',
                                                                            'run.cancelled', 'batch.completed']),
  agent_id uuid references everruns.agents,
  secret_name text not null check (secret_name ~ '^[A-Za-z0-9_.-]{1,100}$'),
  retry_initial_seconds double precision not null default 5 check (retry_initial_seconds between 0.1 and 3600),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notification_endpoints_workspace_name_key unique (workspace_id, name)
);
comment on table everruns.notification_endpoints is
  'Where to POST the workspace''s events (run.succeeded, run.failed, run.interrupted, run.cancelled, batch.completed), signed per Standard Webhooks with the workspace secret secret_name; agent_id: only that agent''s runs.';
comment on column everruns.notification_endpoints.retry_initial_seconds is 'The first retry''s delay; each next one doubles, up to an hour, until a day after the event.';
create index notification_endpoints_workspace_idx on everruns.notification_endpoints (workspace_id) where enabled;

create table everruns.notification_deliveries (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references everruns.workspaces,
  endpoint_id uuid not null references everruns.notification_endpoints on delete cascade,
  event text not null,
  subject_id uuid not null,
  payload jsonb not null,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  give_up_at timestamptz not null default everruns_private.clock() + interval '1 day',
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default everruns_private.clock(),
  delivered_at timestamptz
);
comment on table everruns.notification_deliveries is
  'One event for one endpoint. Its webhook-id is msg_<id without dashes> on every attempt (receivers de-duplicate by it). pending → delivered, or failed a day after the event (everruns.resend_notification sends it again).';
create index notification_deliveries_endpoint_idx on everruns.notification_deliveries (endpoint_id, created_at desc);
create index notification_deliveries_subject_idx on everruns.notification_deliveries (subject_id);
create index notification_deliveries_pending_idx on everruns.notification_deliveries (next_attempt_at) where status = 'pending';

create table everruns.notification_attempts (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references everruns.workspaces,
  delivery_id uuid not null references everruns.notification_deliveries on delete cascade,
  attempt integer not null,
  started_at timestamptz not null default clock_timestamp(),
  finished_at timestamptz,
  status_code integer,
  error text,
  outcome text check (outcome in ('delivered', 'failed', 'interrupted')),
  constraint notification_attempts_key unique (delivery_id, attempt)
);
comment on table everruns.notification_attempts is
  'Each attempt to deliver a notification: the answer''s status code or the error; interrupted: the worker died during it.';

---------------------------------------------------------------------------------------------
-- 3. Row-level security and grants
---------------------------------------------------------------------------------------------
do $$
declare
  v_table text;
begin
  foreach v_table in array array['schedules', 'schedule_fires', 'activations', 'webhooks', 'webhook_deliveries',
                                 'notification_endpoints', 'notification_deliveries', 'notification_attempts'] loop
    execute format('alter table everruns.%I enable row level security', v_table);
    execute format('alter table everruns.%I force row level security', v_table);
    execute format(
      'create policy in_workspace on everruns.%I using (workspace_id = (select everruns_private.current_workspace_id())) '
      'with check (workspace_id = (select everruns_private.current_workspace_id()))', v_table);
    execute format('create policy engine on everruns.%I to everruns_worker, %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;

revoke all on everruns.schedules, everruns.schedule_fires, everruns.activations, everruns.webhooks, everruns.webhook_deliveries,
  everruns.notification_endpoints, everruns.notification_deliveries, everruns.notification_attempts from public;
revoke all on everruns_private.schedule_run_ends from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant select on everruns.schedules, everruns.schedule_fires, everruns.activations, everruns.webhooks,
      everruns.webhook_deliveries, everruns.notification_endpoints, everruns.notification_deliveries,
      everruns.notification_attempts to everruns_api;
    grant insert (id, name, agent_id, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max,
                  misfire_grace_seconds, thread, paused, paused_note, pause_after_failures),
          update (name, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, misfire_grace_seconds,
                  paused, paused_note, pause_after_failures),
          delete on everruns.schedules to everruns_api;
    grant insert (id, name, agent_id, verify, secret_names, signature_header, signature_prefix, tolerance_seconds,
                  dedupe_pointer, input_template, thread_key_pointer, max_body_bytes, enabled),
          update (name, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, dedupe_pointer,
                  input_template, thread_key_pointer, max_body_bytes, enabled),
          delete on everruns.webhooks to everruns_api;
    grant insert (id, name, url, events, agent_id, secret_name, retry_initial_seconds, enabled),
          update (name, url, events, agent_id, secret_name, retry_initial_seconds, enabled),
          delete on everruns.notification_endpoints to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant select on everruns.schedules, everruns.notification_deliveries, everruns.schedule_fires, everruns.activations, everruns.webhooks, everruns.notification_endpoints,
      everruns.notification_attempts to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 4. Checks at insert and update, audit
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
    'batch.parallel_set',
    'schedule.created', 'schedule.updated', 'schedule.paused', 'schedule.resumed', 'schedule.deleted',
    'webhook.created', 'webhook.updated', 'webhook.deleted',
    'notification_endpoint.created', 'notification_endpoint.updated', 'notification_endpoint.deleted',
    'notification.resent')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, key.created, key.revoked, role.bound, role.unbound, batch.created, batch.started, batch.paused, batch.resumed, batch.cancelled, batch.retried, batch.parallel_set, schedule.created, schedule.updated, schedule.paused, schedule.resumed, schedule.deleted, webhook.created, webhook.updated, webhook.deleted, notification_endpoint.created, notification_endpoint.updated, notification_endpoint.deleted, notification.resent.';

-- Placeholders of a schedule's input, replaced in the JSON text: the values hold no character
-- JSON escapes (ISO times, names and zones of checked characters).
create function everruns_private.render_schedule_input(p_input jsonb, p_name text, p_timezone text, p_fire timestamptz)
returns jsonb language sql stable set search_path = pg_catalog, pg_temp as $$
  select replace(replace(replace(replace(p_input::text,
    '{{fire_time}}', to_char(p_fire at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
    '{{fire_time_local}}', to_char(p_fire at time zone p_timezone, 'YYYY-MM-DD"T"HH24:MI:SS')
                           || (select case when o < interval '0' then '-' else '+' end || to_char(abs(extract(epoch from o))::int / 3600, 'FM00')
                                      || ':' || to_char((abs(extract(epoch from o))::int % 3600) / 60, 'FM00')
                                 from (select (p_fire at time zone p_timezone) - (p_fire at time zone 'UTC') as o) z)),
    '{{schedule}}', p_name),
    '{{timezone}}', p_timezone)::jsonb
$$;

-- A schedule as it is inserted or changed: its agent (of its workspace), its input (a valid run
-- input once rendered), its time zone (known to the database too), and what a change resets.
-- Security invoker: row-level security hides another workspace's agent.
create function everruns_private.tg_schedules__prepare() returns trigger
language plpgsql as $$
declare
  v_agent everruns.agents;
begin
  if tg_op = 'INSERT' then
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
  elsif new.agent_id <> old.agent_id or new.workspace_id <> old.workspace_id then
    raise exception 'a schedule''s agent cannot change; create another schedule' using errcode = 'EV003';
  end if;
  -- only what changed is checked again: the ticker's own updates (next_fire_at, counters) cost nothing here
  if tg_op = 'INSERT' or new.timezone is distinct from old.timezone then
    begin
      perform now() at time zone new.timezone;
    exception when invalid_parameter_value then
      raise exception 'unknown time zone %', new.timezone
        using errcode = 'EV003', hint = 'Give an IANA time zone name, e.g. Europe/Berlin or UTC.';
    end;
  end if;
  if tg_op = 'INSERT' or (new.input, new.name, new.timezone) is distinct from (old.input, old.name, old.timezone) then
    begin
      perform everruns_private.assert_valid_run_input(
        everruns_private.render_schedule_input(new.input, new.name, new.timezone, now()));
    exception when invalid_text_representation then
      raise exception 'schedule input: a placeholder made it invalid JSON' using errcode = 'EV003';
    end;
  end if;
  if tg_op = 'INSERT'
     or new.cron is distinct from old.cron or new.interval_seconds is distinct from old.interval_seconds
     or new.timezone is distinct from old.timezone then
    new.next_fire_at := null;
    new.spec_error := null;
  end if;
  if tg_op = 'UPDATE' then
    if old.paused and not new.paused then
      -- resumed: what came due while paused is not caught up; counting starts again
      new.next_fire_at := null;
      new.consecutive_failures := 0;
      new.spec_error := null;
    end if;
    if (new.name, new.cron, new.interval_seconds, new.timezone, new.input, new.overlap, new.catch_up, new.catch_up_max,
        new.misfire_grace_seconds, new.thread, new.paused, new.paused_note, new.pause_after_failures)
       is distinct from
       (old.name, old.cron, old.interval_seconds, old.timezone, old.input, old.overlap, old.catch_up, old.catch_up_max,
        old.misfire_grace_seconds, old.thread, old.paused, old.paused_note, old.pause_after_failures) then
      new.updated_at := now();
    end if;
  end if;
  return new;
end;
$$;
create trigger tg_schedules__prepare before insert or update on everruns.schedules
  for each row execute function everruns_private.tg_schedules__prepare();

-- Audit rows of the trigger tables' changes, and a wake-up of the tickers (everruns:schedules).
create function everruns_private.tg_triggers__audit() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_kind text := case tg_table_name when 'schedules' then 'schedule' when 'webhooks' then 'webhook'
                                    else 'notification_endpoint' end;
  v_row record := case when tg_op = 'DELETE' then old else new end;
  v_action text;
begin
  if tg_op = 'INSERT' then
    v_action := v_kind || '.created';
  elsif tg_op = 'DELETE' then
    v_action := v_kind || '.deleted';
  elsif v_kind = 'schedule' and (to_jsonb(old) -> 'paused') is distinct from (to_jsonb(new) -> 'paused') then
    v_action := case when (to_jsonb(new) ->> 'paused')::boolean then 'schedule.paused' else 'schedule.resumed' end;
  else
    v_action := v_kind || '.updated';
  end if;
  perform everruns_private.audit_append(v_row.workspace_id, v_action, v_kind, v_row.id::text,
    case when v_kind = 'schedule' and v_action = 'schedule.paused'
         then jsonb_build_object('name', v_row.name, 'note', to_jsonb(v_row) ->> 'paused_note')
         else jsonb_build_object('name', v_row.name) end);
  if v_kind = 'schedule' then
    perform pg_notify('everruns:schedules', v_row.id::text);
  end if;
  return null;
end;
$$;
-- The ticker's bookkeeping (next_fire_at, counters) is not an edit; a pause it decides is
-- (actor schedule:<name>).
create trigger tg_schedules__audit after insert or delete on everruns.schedules
  for each row execute function everruns_private.tg_triggers__audit();
create trigger tg_schedules__audit_update after update on everruns.schedules
  for each row when ((old.name, old.cron, old.interval_seconds, old.timezone, old.input, old.overlap, old.catch_up,
                      old.catch_up_max, old.misfire_grace_seconds, old.paused, old.paused_note, old.pause_after_failures)
                     is distinct from
                     (new.name, new.cron, new.interval_seconds, new.timezone, new.input, new.overlap, new.catch_up,
                      new.catch_up_max, new.misfire_grace_seconds, new.paused, new.paused_note, new.pause_after_failures))
  execute function everruns_private.tg_triggers__audit();

-- A deleted schedule's run ends are nobody's.
create function everruns_private.tg_schedules__forget_run_ends() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  delete from everruns_private.schedule_run_ends e where e.schedule_id = old.id;
  return null;
end;
$$;
create trigger tg_schedules__forget_run_ends after delete on everruns.schedules
  for each row execute function everruns_private.tg_schedules__forget_run_ends();
create trigger tg_webhooks__audit after insert or update or delete on everruns.webhooks
  for each row execute function everruns_private.tg_triggers__audit();
create trigger tg_notification_endpoints__audit after insert or update or delete on everruns.notification_endpoints
  for each row execute function everruns_private.tg_triggers__audit();

-- A webhook's or endpoint's agent must be of its workspace (row-level security hides others'). An
-- administrator's insert by hand (no workspace: the column's default one) takes its agent's.
create function everruns_private.tg_trigger_agent__check() returns trigger
language plpgsql as $$
declare
  v_agent_workspace uuid;
begin
  if tg_op = 'INSERT' and new.agent_id is not null and everruns_private.current_workspace_id() is null then
    select a.workspace_id into v_agent_workspace from everruns.agents a where a.id = new.agent_id;
    new.workspace_id := coalesce(v_agent_workspace, new.workspace_id);
  end if;
  if new.agent_id is not null and not exists (select from everruns.agents a where a.id = new.agent_id and a.workspace_id = new.workspace_id) then
    raise exception 'unknown agent % in this workspace', new.agent_id
      using errcode = 'EV002', hint = 'Give an agent of the same workspace.';
  end if;
  if tg_op = 'UPDATE' then
    new.updated_at := now();
  end if;
  return new;
end;
$$;
create trigger tg_webhooks__check before insert or update on everruns.webhooks
  for each row execute function everruns_private.tg_trigger_agent__check();
create trigger tg_notification_endpoints__check before insert or update on everruns.notification_endpoints
  for each row execute function everruns_private.tg_trigger_agent__check();

---------------------------------------------------------------------------------------------
-- 5. Long-lived threads: activations
---------------------------------------------------------------------------------------------
-- Whether a run keeps its thread busy: active, or interrupted and not answered yet.
create function everruns_private.run_holds_thread(p_run everruns.runs) returns boolean
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select p_run.id is not null
     and (p_run.status in ('queued', 'running', 'waiting') or (p_run.status = 'interrupted' and p_run.continued_by is null))
$$;

-- The thread's last run, locked, then the thread row, locked: the lock order run → thread of
-- every path that starts a thread's next run (a run's end holds its run first). The last run is
-- read again after its lock until it holds still: nobody appends to a thread without locking its
-- last run first (tg_runs__prepare locks it).
create function everruns_private.lock_thread_tail(p_thread_id uuid) returns everruns.runs
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
  v_again uuid;
  v_run everruns.runs;
begin
  loop
    select r.id into v_id from everruns.runs r where r.thread_id = p_thread_id order by r.created_at desc, r.id desc limit 1;
    if v_id is not null then
      select * into v_run from everruns.runs r where r.id = v_id for update;
    end if;
    select r.id into v_again from everruns.runs r where r.thread_id = p_thread_id order by r.created_at desc, r.id desc limit 1;
    exit when v_again is not distinct from v_id;
  end loop;
  perform 1 from everruns.threads t where t.id = p_thread_id for update;
  return v_run;
end;
$$;

-- Starts the thread's oldest queued activation, the caller holding the thread's tail and row. An
-- activation whose run cannot be inserted (its agent's input rules changed, …) fails with the
-- reason and the next is tried; a workspace at its limit (EV012) leaves it queued for the sweep.
create function everruns_private.start_next_activation(p_thread_id uuid) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_act everruns.activations;
begin
  loop
    select * into v_act from everruns.activations a
     where a.thread_id = p_thread_id and a.status = 'pending'
     order by a.created_at, a.id limit 1 for update;
    if not found then
      return null;
    end if;
    begin
      insert into everruns.runs (id, workspace_id, agent_id, thread_id, input)
      values (v_act.run_id, v_act.workspace_id, v_act.agent_id, v_act.thread_id, v_act.input);
      update everruns.activations a set status = 'started', started_at = clock_timestamp() where a.id = v_act.id;
      return v_act.run_id;
    exception
      when sqlstate 'EV012' then
        return null;
      when others then
        -- a deadlock, a lock timeout, an outage: the event stays queued (the caller logs it; the
        -- sweep tries again); only what the data says (EVnnn, 22xxx, 23xxx) fails it
        if sqlstate !~ '^(EV|22|23)' then
          raise;
        end if;
        update everruns.activations a
           set status = 'failed', started_at = clock_timestamp(),
               error = jsonb_build_object('code', sqlstate, 'message', sqlerrm)
         where a.id = v_act.id;
    end;
  end loop;
end;
$$;

-- An event for an agent: a new run at once (no thread key: a new thread), or on the named
-- long-lived thread, at once when it is idle, else when its earlier runs have ended. Returns the
-- run's id either way (an activation's run id is fixed when it arrives).
create function everruns_private.activate(p_workspace_id uuid, p_agent_id uuid, p_input jsonb, p_thread_key text,
                                          p_source text, p_source_id uuid) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_thread_id uuid;
  v_tail everruns.runs;
  v_run_id uuid := gen_random_uuid();
begin
  perform everruns_private.assert_valid_run_input(p_input);
  if p_thread_key is null then
    insert into everruns.runs (id, workspace_id, agent_id, input) values (v_run_id, p_workspace_id, p_agent_id, p_input);
    return v_run_id;
  end if;
  if p_thread_key !~ '^[^[:space:][:cntrl:]]{1,200}$' then
    raise exception 'a thread key is 1 to 200 characters without spaces or control characters (got %)', left(p_thread_key, 40)
      using errcode = 'EV003';
  end if;
  select t.id into v_thread_id from everruns.threads t
   where t.workspace_id = p_workspace_id and t.agent_id = p_agent_id and t.key = p_thread_key;
  if not found then
    insert into everruns.threads (workspace_id, agent_id, key) values (p_workspace_id, p_agent_id, p_thread_key)
      on conflict (workspace_id, agent_id, key) where key is not null do nothing
      returning id into v_thread_id;
    if v_thread_id is null then
      select t.id into v_thread_id from everruns.threads t
       where t.workspace_id = p_workspace_id and t.agent_id = p_agent_id and t.key = p_thread_key;
    end if;
  end if;
  v_tail := everruns_private.lock_thread_tail(v_thread_id);
  if everruns_private.run_holds_thread(v_tail)
     or exists (select from everruns.activations a where a.thread_id = v_thread_id and a.status = 'pending')
     -- a thread without runs when its tail was read, with one now (a concurrent first event): the
     -- event queues behind it (that run's end starts it)
     or (v_tail.id is null and exists (select from everruns.runs r where r.thread_id = v_thread_id)) then
    insert into everruns.activations (workspace_id, agent_id, thread_id, input, source, source_id, run_id)
    values (p_workspace_id, p_agent_id, v_thread_id, p_input, p_source, p_source_id, v_run_id);
  else
    insert into everruns.runs (id, workspace_id, agent_id, thread_id, input)
    values (v_run_id, p_workspace_id, p_agent_id, v_thread_id, p_input);
    insert into everruns.activations (workspace_id, agent_id, thread_id, input, source, source_id, run_id, status, started_at)
    values (p_workspace_id, p_agent_id, v_thread_id, p_input, p_source, p_source_id, v_run_id, 'started', clock_timestamp());
  end if;
  return v_run_id;
end;
$$;

-- The input of an event's run: a payload that is a run input ({"messages": [...]}) as it is, else
-- the payload as the user's message (a string as it is, anything else as JSON text), with the
-- payload in the input's context.
create function everruns_private.event_input(p_payload jsonb) returns jsonb
language sql immutable set search_path = pg_catalog, pg_temp as $$
  select case
    when jsonb_typeof(p_payload) = 'object' and jsonb_typeof(p_payload -> 'messages') = 'array' then p_payload
    else jsonb_build_object(
      'messages', jsonb_build_array(jsonb_build_object('role', 'user', 'content',
        case when jsonb_typeof(p_payload) = 'string' then p_payload #>> '{}' else coalesce(p_payload, 'null'::jsonb)::text end)),
      'context', jsonb_build_array(jsonb_build_object('description', 'event payload', 'value', coalesce(p_payload, 'null'::jsonb)::text)))
  end
$$;

-- everruns.trigger(agent, payload, thread_key): an event for an agent (its id or name), from SQL.
create function everruns.trigger(agent text, payload jsonb, thread_key text default null) returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_workspace uuid := everruns_private.current_workspace_id();
  v_agent everruns.agents;
begin
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    -- the thread's last run is read again after its lock: a snapshot older than that lock would miss it
    raise exception 'everruns.trigger runs in read committed transactions only (this one is %)',
      pg_catalog.current_setting('transaction_isolation') using errcode = 'EV003';
  end if;
  select * into v_agent from everruns.agents a
   where (a.id::text = lower(trigger.agent) or a.name = trigger.agent)
     and (v_workspace is null or a.workspace_id = v_workspace)
   order by (a.id::text = lower(trigger.agent)) desc
   limit 2;
  if not found then
    raise exception 'unknown agent %', trigger.agent using errcode = 'EV002';
  end if;
  if v_workspace is null and (select count(*) from everruns.agents a where a.name = trigger.agent) > 1
     and v_agent.id::text <> lower(trigger.agent) then
    raise exception 'agent name % is used in several workspaces: give its id', trigger.agent using errcode = 'EV002';
  end if;
  return everruns_private.activate(v_agent.workspace_id, v_agent.id, everruns_private.event_input(trigger.payload),
                                   trigger.thread_key, 'sql', null);
end;
$$;
comment on function everruns.trigger(text, jsonb, text) is
  'Starts a run of the agent (id or name) for an event. With thread_key: on that long-lived thread, after every earlier run of it has ended. Returns the run id.';

-- A run's end starts its thread's next queued activation, when the run is the thread's last one
-- (the run's own lock, then the thread's: lock_thread_tail's order). In a subtransaction: it never
-- fails the commit that ends the run (the sweep catches up).
create function everruns_private.tg_runs__thread_next() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_tail uuid;
begin
  if not exists (select from everruns.activations a where a.thread_id = new.thread_id and a.status = 'pending') then
    return null;
  end if;
  begin
    select r.id into v_tail from everruns.runs r where r.thread_id = new.thread_id order by r.created_at desc, r.id desc limit 1;
    if v_tail = new.id then
      perform 1 from everruns.threads t where t.id = new.thread_id for update;
      perform everruns_private.start_next_activation(new.thread_id);
    end if;
  exception when others then
    raise warning 'thread %: could not start its next event''s run now (%: %); the sweep will', new.thread_id, sqlstate, sqlerrm;
  end;
  return null;
end;
$$;
-- Named to fire after tg_runs__admit_next and before tg_runs__audit_cancel: the run insert it
-- may make takes the workspace's limits row, which comes before the audit head.
create trigger tg_runs__admit_thread_next after update of status on everruns.runs
  for each row when (old.status is distinct from new.status and new.status in ('succeeded', 'failed', 'cancelled'))
  execute function everruns_private.tg_runs__thread_next();

-- The sweep's part: threads whose queued events wait with nothing running (a run ended by a
-- path that could not start the next, a workspace at its limit), oldest first; a workspace whose
-- run is refused has its other threads skipped this time. Never waits on a worker's run. Also
-- drops the recorded ends of runs whose schedule is gone.
create function everruns_private.sweep_activations() returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_thread record;
  v_tail everruns.runs;
  v_n int := 0;
  v_tried int := 0;
  -- workspaces whose runs were refused this sweep (at their limits): their other threads wait
  v_refused uuid[] := '{}';
  v_lock_timeout text := pg_catalog.current_setting('lock_timeout');
begin
  for v_thread in
    select p.thread_id, p.workspace_id
      from (select a.thread_id, min(a.workspace_id::text)::uuid as workspace_id, min(a.created_at) as oldest
              from everruns.activations a
             where a.status = 'pending' and a.created_at < clock_timestamp() - interval '2 seconds'
             group by a.thread_id) p
     where not everruns_private.run_holds_thread((select r from everruns.runs r where r.thread_id = p.thread_id
                                                  order by r.created_at desc, r.id desc limit 1))
     order by p.oldest
     limit 1000
  loop
    continue when v_thread.workspace_id = any (v_refused);
    exit when v_tried >= 100;
    v_tried := v_tried + 1;
    begin
      perform pg_catalog.set_config('lock_timeout', '200ms', true);
      v_tail := everruns_private.lock_thread_tail(v_thread.thread_id);
      if not everruns_private.run_holds_thread(v_tail) then
        if everruns_private.start_next_activation(v_thread.thread_id) is not null then
          v_n := v_n + 1;
        elsif exists (select from everruns.activations a where a.thread_id = v_thread.thread_id and a.status = 'pending') then
          v_refused := v_refused || v_thread.workspace_id;
        end if;
      end if;
      perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
    exception when others then
      perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
      raise warning 'thread %: could not start its next event''s run now (%: %)', v_thread.thread_id, sqlstate, sqlerrm;
    end;
  end loop;
  -- 000026: the ends of runs of schedules deleted since (nobody folds them)
  delete from everruns_private.schedule_run_ends e where not exists (select from everruns.schedules s where s.id = e.schedule_id);
  return v_n;
end;
$$;

---------------------------------------------------------------------------------------------
-- 6. Schedules: firing
---------------------------------------------------------------------------------------------
-- A schedule run's end, for the ticker (insert-only: never waits on the schedule row).
create function everruns_private.tg_runs__schedule_run_end() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  insert into everruns_private.schedule_run_ends (schedule_id, run_id, status) values (new.schedule_id, new.id, new.status);
  perform pg_notify('everruns:schedules', new.schedule_id::text);
  return null;
end;
$$;
create trigger tg_runs__schedule_run_end after update of status on everruns.runs
  for each row when (new.schedule_id is not null and old.status is distinct from new.status
                     and new.status in ('succeeded', 'failed', 'cancelled'))
  execute function everruns_private.tg_runs__schedule_run_end();

-- The schedules a ticker should look at now: due, not computed yet, or with run ends to fold;
-- less the ones it excludes (failing ones it backs off from).
create function everruns_private.due_schedules(p_limit integer, p_exclude uuid[] default '{}') returns setof uuid
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  (select s.id from everruns.schedules s
    where not s.paused and s.next_fire_at <= everruns_private.clock() and s.id <> all (p_exclude)
    order by s.next_fire_at limit p_limit)
  union
  (select s.id from everruns.schedules s where not s.paused and s.next_fire_at is null and s.id <> all (p_exclude) limit p_limit)
  union
  (select distinct e.schedule_id from everruns_private.schedule_run_ends e
    where e.schedule_id <> all (p_exclude) and exists (select from everruns.schedules s where s.id = e.schedule_id) limit p_limit)
$$;

-- A schedule for the ticker: locked (skip locked: another ticker has it; no key update: a
-- continuation's key check on it never waits), with the clock.
create function everruns_private.lock_schedule_for_tick(p_id uuid)
returns table (schedule everruns.schedules, clock timestamptz)
language sql security definer set search_path = pg_catalog, pg_temp as $$
  select s, everruns_private.clock() from everruns.schedules s where s.id = p_id for no key update skip locked
$$;

-- Whether the schedule's previous fire is still at work: an active run of the schedule (a new
-- thread per fire), or its shared thread held.
create function everruns_private.schedule_busy(p_schedule everruns.schedules) returns boolean
language plpgsql stable security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_tail everruns.runs;
begin
  if p_schedule.thread = 'shared' then
    if p_schedule.thread_id is null then
      return false;
    end if;
    select * into v_tail from everruns.runs r where r.thread_id = p_schedule.thread_id
     order by r.created_at desc, r.id desc limit 1;
    return everruns_private.run_holds_thread(v_tail);
  end if;
  return exists (select from everruns.runs r
                  where r.schedule_id = p_schedule.id
                    and (r.status in ('queued', 'running', 'waiting') or (r.status = 'interrupted' and r.continued_by is null)));
end;
$$;

-- Inserts one fire's run; the fire row says what happened. Returns the run's id; null when the
-- run cannot be inserted (its input no longer valid, …: a failed fire, counted as a failure); the
-- nil uuid when the workspace is at its limit (EV012: a skipped fire, not a failure).
create function everruns_private.start_schedule_fire(p_schedule everruns.schedules, p_occurrence timestamptz)
returns uuid
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_run_id uuid := gen_random_uuid();
  v_thread_id uuid := p_schedule.thread_id;
begin
  begin
    if p_schedule.thread = 'shared' then
      if v_thread_id is null then
        insert into everruns.threads (workspace_id, agent_id) values (p_schedule.workspace_id, p_schedule.agent_id)
          returning id into v_thread_id;
        update everruns.schedules s set thread_id = v_thread_id where s.id = p_schedule.id;
      else
        perform everruns_private.lock_thread_tail(v_thread_id);
      end if;
    end if;
    insert into everruns.runs (id, workspace_id, agent_id, thread_id, input, schedule_id)
    values (v_run_id, p_schedule.workspace_id, p_schedule.agent_id, v_thread_id,
            everruns_private.render_schedule_input(p_schedule.input, p_schedule.name, p_schedule.timezone, p_occurrence)
              || jsonb_build_object('context', jsonb_build_array(jsonb_build_object(
                   'description', 'schedule fire',
                   'value', jsonb_build_object('schedule', p_schedule.name, 'schedule_id', p_schedule.id,
                                               'fire_time', p_occurrence, 'timezone', p_schedule.timezone)::text))),
            p_schedule.id);
  exception when others then
    -- a deadlock, a lock timeout, an outage: the tick rolls back and the next one tries again;
    -- only what the data says (EVnnn, 22xxx, 23xxx) fails the fire
    if sqlstate !~ '^(EV|22|23)' then
      raise;
    end if;
    insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason)
    values (p_schedule.workspace_id, p_schedule.id, p_occurrence,
            case when sqlstate = 'EV012' then 'skipped' else 'failed' end,
            case when sqlstate = 'EV012' then 'workspace limit: ' || sqlerrm else format('%s: %s', sqlstate, sqlerrm) end)
    on conflict (schedule_id, occurrence_at) do update set status = excluded.status, reason = excluded.reason, run_id = null;
    return case when sqlstate = 'EV012' then '00000000-0000-0000-0000-000000000000'::uuid end;
  end;
  insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, run_id, started_at)
  values (p_schedule.workspace_id, p_schedule.id, p_occurrence, 'started', v_run_id, everruns_private.clock())
  on conflict (schedule_id, occurrence_at) do update set status = 'started', run_id = excluded.run_id,
                                                         reason = null, started_at = excluded.started_at;
  return v_run_id;
end;
$$;

-- Folds the schedule's recorded run ends into its count of consecutive failures (a failed run
-- adds one, a succeeded one resets it, a cancelled one changes nothing), in the order they ended.
create function everruns_private.fold_schedule_run_ends(p_schedule_id uuid, p_failures integer) returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_end record;
  v_failures integer := p_failures;
begin
  for v_end in
    select e.id, e.status from everruns_private.schedule_run_ends e where e.schedule_id = p_schedule_id order by e.id
  loop
    delete from everruns_private.schedule_run_ends e where e.id = v_end.id;
    if v_end.status = 'failed' then
      v_failures := v_failures + 1;
    elsif v_end.status = 'succeeded' then
      v_failures := 0;
    end if;
  end loop;
  return v_failures;
end;
$$;

-- The schedule, paused (with a note) when its consecutive failures reached pause_after_failures.
create function everruns_private.pause_if_failing(p_schedule everruns.schedules) returns everruns.schedules
language plpgsql immutable set search_path = pg_catalog, pg_temp as $$
begin
  if not p_schedule.paused and p_schedule.pause_after_failures is not null
     and p_schedule.consecutive_failures >= p_schedule.pause_after_failures then
    p_schedule.paused := true;
    p_schedule.paused_note := format('paused after %s consecutive failed runs', p_schedule.consecutive_failures);
  end if;
  return p_schedule;
end;
$$;

-- One tick of one schedule, the ticker holding its row (lock_schedule_for_tick) and having
-- computed, from the row it read (p_expected_next), the occurrences to fire (oldest first), how
-- many the catch-up policy dropped and the next occurrence (or why it cannot: p_spec_error).
-- Folds the runs that ended (failure count, pause, the buffered fire), then fires each occurrence
-- under the overlap policy, then advances next_fire_at. Returns the runs started. A stale
-- computation (next_fire_at moved since) fires nothing; an occurrence already handled
-- (schedule_fires' key) is never fired again.
create function everruns_private.fire_schedule(p_schedule_id uuid, p_expected_next timestamptz, p_fire timestamptz[],
                                               p_missed bigint, p_next timestamptz, p_spec_error text default null)
returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_s everruns.schedules;
  v_was_paused boolean;
  v_fire everruns.schedule_fires;
  v_occ timestamptz;
  v_run record;
  v_n int := 0;
  v_started uuid;
begin
  -- a run or thread someone else holds (an operator's open transaction) fails this tick quickly
  -- rather than holding the ticker; the next tick tries again
  perform pg_catalog.set_config('lock_timeout', '500ms', true);
  select * into v_s from everruns.schedules s where s.id = p_schedule_id for no key update;
  if not found then
    delete from everruns_private.schedule_run_ends e where e.schedule_id = p_schedule_id;
    return 0;
  end if;
  perform pg_catalog.set_config('everruns.actor', 'schedule:' || v_s.name, true);

  v_was_paused := v_s.paused;
  -- 1. the runs that ended
  v_s.consecutive_failures := everruns_private.fold_schedule_run_ends(v_s.id, v_s.consecutive_failures);
  v_s := everruns_private.pause_if_failing(v_s);

  -- 2. the buffered fire, before any newer occurrence: when nothing is at work any more (or
  -- dropped when paused)
  select * into v_fire from everruns.schedule_fires f where f.schedule_id = v_s.id and f.status = 'buffered' limit 1 for update;
  if found then
    if v_s.paused then
      update everruns.schedule_fires f set status = 'skipped', reason = 'paused' where f.id = v_fire.id;
    elsif not everruns_private.schedule_busy(v_s) then
      -- a run that ended since step 1 counts before the next one starts
      v_s.consecutive_failures := everruns_private.fold_schedule_run_ends(v_s.id, v_s.consecutive_failures);
      v_s := everruns_private.pause_if_failing(v_s);
      if v_s.paused then
        update everruns.schedule_fires f set status = 'skipped', reason = 'paused' where f.id = v_fire.id;
      else
        v_started := everruns_private.start_schedule_fire(v_s, v_fire.occurrence_at);
        if v_started is null then
          v_s.consecutive_failures := v_s.consecutive_failures + 1;
          v_s := everruns_private.pause_if_failing(v_s);
        elsif v_started <> '00000000-0000-0000-0000-000000000000' then
          v_n := v_n + 1;
        end if;
      end if;
    end if;
  end if;

  -- 3. the occurrences, if this computation is of the row as it is
  if not v_was_paused and p_expected_next is not distinct from v_s.next_fire_at then
    if p_spec_error is not null then
      v_s.paused := true;
      v_s.paused_note := left('cannot compute the occurrences: ' || p_spec_error, 1000);
      v_s.spec_error := left(p_spec_error, 1000);
    else
      foreach v_occ in array coalesce(p_fire, '{}') loop
        continue when exists (select from everruns.schedule_fires f where f.schedule_id = v_s.id and f.occurrence_at = v_occ);
        if v_s.paused then
          -- paused by failures during this tick: the rest of its occurrences are not fired
          insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason)
          values (v_s.workspace_id, v_s.id, v_occ, 'skipped', 'paused');
          continue;
        end if;
        if everruns_private.schedule_busy(v_s) and v_s.overlap <> 'allow' then
          if v_s.overlap = 'skip' then
            insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason)
            values (v_s.workspace_id, v_s.id, v_occ, 'skipped', 'overlap');
            continue;
          elsif v_s.overlap = 'buffer_one' then
            insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason)
            values (v_s.workspace_id, v_s.id, v_occ,
                    case when exists (select from everruns.schedule_fires f where f.schedule_id = v_s.id and f.status = 'buffered')
                         then 'skipped' else 'buffered' end,
                    'overlap');
            continue;
          else -- cancel_previous: the runs, then the workspace's limits row, then the cancels (lock order)
            perform 1 from everruns.runs r
             where (r.schedule_id = v_s.id or (v_s.thread = 'shared' and r.thread_id = v_s.thread_id))
               and (r.status in ('queued', 'running', 'waiting') or (r.status = 'interrupted' and r.continued_by is null))
             order by r.id for update;
            perform 1 from everruns_private.workspace_limits l where l.workspace_id = v_s.workspace_id for update;
            for v_run in
              select r.id from everruns.runs r
               where (r.schedule_id = v_s.id or (v_s.thread = 'shared' and r.thread_id = v_s.thread_id))
                 and (r.status in ('queued', 'running', 'waiting') or (r.status = 'interrupted' and r.continued_by is null))
            loop
              perform everruns.cancel_run(v_run.id);
            end loop;
          end if;
        end if;
        -- a run that ended since step 1 (schedule_busy saw it end) counts before the next one starts
        v_s.consecutive_failures := everruns_private.fold_schedule_run_ends(v_s.id, v_s.consecutive_failures);
        v_s := everruns_private.pause_if_failing(v_s);
        if v_s.paused then
          insert into everruns.schedule_fires (workspace_id, schedule_id, occurrence_at, status, reason)
          values (v_s.workspace_id, v_s.id, v_occ, 'skipped', 'paused');
          continue;
        end if;
        v_started := everruns_private.start_schedule_fire(v_s, v_occ);
        if v_started is null then
          v_s.consecutive_failures := v_s.consecutive_failures + 1;
          v_s := everruns_private.pause_if_failing(v_s);
        elsif v_started <> '00000000-0000-0000-0000-000000000000' then
          v_n := v_n + 1;
        end if;
        v_s.last_fire_at := v_occ;
        select s.thread_id into v_s.thread_id from everruns.schedules s where s.id = v_s.id;
      end loop;
      v_s.missed_total := v_s.missed_total + coalesce(p_missed, 0);
      v_s.next_fire_at := p_next;
    end if;
  end if;

  update everruns.schedules s
     set consecutive_failures = v_s.consecutive_failures, paused = v_s.paused, paused_note = v_s.paused_note,
         spec_error = v_s.spec_error, last_fire_at = v_s.last_fire_at, missed_total = v_s.missed_total,
         next_fire_at = v_s.next_fire_at
   where s.id = v_s.id;
  return v_n;
end;
$$;

---------------------------------------------------------------------------------------------
-- 7. Webhooks: receiving
---------------------------------------------------------------------------------------------
-- What the API needs to verify a delivery: the webhook (enabled) and its secrets' ciphertexts in
-- the order of secret_names (null where a secret is not set). Security definer, granted to
-- everruns_api: the route has no API key; the webhook's id is its credential's first half.
create function everruns_private.webhook_for_delivery(p_webhook_id uuid)
returns table (webhook everruns.webhooks, secret_ciphertexts bytea[])
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
  select w, array(select s.ciphertext from unnest(w.secret_names) with ordinality n(name, i)
                    left join everruns.secrets s on s.workspace_id = w.workspace_id and s.name = n.name
                   order by n.i)
    from everruns.webhooks w where w.id = p_webhook_id and w.enabled
$$;

-- A verified delivery: de-duplicated by its key for 24 h (an advisory lock per key serializes
-- concurrent repeats), recorded, and its run inserted (or queued on its thread), in one
-- transaction. A repeat returns the first delivery's run with duplicate = true. queued: the run
-- waits for its thread's earlier runs (it exists once it starts; everruns.activations has it).
create function everruns_private.receive_webhook(p_webhook_id uuid, p_delivery_key text, p_payload jsonb, p_payload_bytes integer,
                                                 p_input jsonb, p_thread_key text, p_verified_with smallint, p_test boolean default false)
returns table (delivery_id uuid, run_id uuid, duplicate boolean, queued boolean)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_w everruns.webhooks;
  v_d everruns.webhook_deliveries;
  v_run_id uuid;
begin
  select * into v_w from everruns.webhooks w where w.id = p_webhook_id and w.enabled;
  if not found then
    raise exception 'unknown webhook %', p_webhook_id using errcode = 'EV005';
  end if;
  perform pg_catalog.set_config('everruns.actor', 'webhook:' || v_w.name, true);
  if p_delivery_key is not null then
    perform pg_advisory_xact_lock(hashtextextended(p_webhook_id::text || '/' || p_delivery_key, 16));
    select * into v_d from everruns.webhook_deliveries d
     where d.webhook_id = p_webhook_id and d.delivery_key = p_delivery_key
       and d.received_at > everruns_private.clock() - interval '24 hours'
     order by d.received_at desc limit 1 for update;
    if found then
      update everruns.webhook_deliveries d set duplicates = d.duplicates + 1, last_duplicate_at = everruns_private.clock()
       where d.id = v_d.id;
      return query select v_d.id, v_d.run_id, true,
        exists (select from everruns.activations a where a.run_id = v_d.run_id and a.status = 'pending');
      return;
    end if;
  end if;
  v_run_id := everruns_private.activate(v_w.workspace_id, v_w.agent_id, p_input, p_thread_key, 'webhook', null);
  insert into everruns.webhook_deliveries (workspace_id, webhook_id, delivery_key, verified_with, payload, payload_bytes,
                                           thread_key, run_id, test)
  values (v_w.workspace_id, v_w.id, p_delivery_key, p_verified_with, p_payload, p_payload_bytes, p_thread_key, v_run_id, p_test)
  returning * into v_d;
  update everruns.activations a set source_id = v_d.id where a.run_id = v_run_id;
  return query select v_d.id, v_run_id, false,
    exists (select from everruns.activations a where a.run_id = v_run_id and a.status = 'pending');
end;
$$;

---------------------------------------------------------------------------------------------
-- 8. Notifications
---------------------------------------------------------------------------------------------
-- Queues the deliveries of one event: one per enabled endpoint of the workspace that wants it
-- (and, with agent_id, is of the agent), each with its job, in the caller's transaction.
create function everruns_private.queue_notifications(p_workspace_id uuid, p_agent_id uuid, p_event text, p_subject_id uuid,
                                                     p_data jsonb) returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
  v_n int := 0;
begin
  for v_id in
    insert into everruns.notification_deliveries (workspace_id, endpoint_id, event, subject_id, payload, next_attempt_at)
    select e.workspace_id, e.id, p_event, p_subject_id,
           jsonb_build_object('type', p_event, 'timestamp', everruns_private.clock(), 'data', p_data),
           everruns_private.clock()
      from everruns.notification_endpoints e
     where e.workspace_id = p_workspace_id and e.enabled and p_event = any (e.events)
       and (e.agent_id is null or e.agent_id = p_agent_id)
    returning id
  loop
    perform graphile_worker.add_job('deliver_notification', json_build_object('delivery_id', v_id),
                                    max_attempts => 25, job_key => 'notify:' || v_id::text);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

create function everruns_private.tg_runs__notify_endpoints() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not exists (select from everruns.notification_endpoints e where e.workspace_id = new.workspace_id and e.enabled) then
    return null;
  end if;
  begin
    perform everruns_private.queue_notifications(new.workspace_id, new.agent_id, 'run.' || new.status, new.id,
      jsonb_build_object('run_id', new.id, 'agent_id', new.agent_id,
                         'agent', (select a.name from everruns.agents a where a.id = new.agent_id),
                         'thread_id', new.thread_id, 'status', new.status,
                         -- a large output stays out of the notification (receivers read it from the API)
                         'output', case when octet_length(new.output::text) > 65536 then null else new.output end,
                         'output_omitted', coalesce(octet_length(new.output::text) > 65536, false),
                         'error', new.error,
                         'usage', new.usage, 'interrupts', new.interrupts, 'batch_id', new.batch_id,
                         'schedule_id', new.schedule_id, 'finished_at', new.finished_at, 'workspace_id', new.workspace_id));
  exception when others then
    raise warning 'run %: could not queue its notifications (%: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end;
$$;
create trigger tg_runs__notify_endpoints after update of status on everruns.runs
  for each row when (old.status is distinct from new.status
                     and new.status in ('succeeded', 'failed', 'cancelled', 'interrupted'))
  execute function everruns_private.tg_runs__notify_endpoints();

create function everruns_private.tg_batches__notify_endpoints() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not exists (select from everruns.notification_endpoints e where e.workspace_id = new.workspace_id and e.enabled) then
    return null;
  end if;
  begin
    perform everruns_private.queue_notifications(new.workspace_id, new.agent_id, 'batch.completed', new.id,
      jsonb_build_object('batch_id', new.id, 'name', new.name, 'agent_id', new.agent_id, 'status', new.status,
                         'error', new.error, 'progress', to_jsonb(everruns_private.batch_progress_of(new)),
                         'finished_at', new.finished_at, 'workspace_id', new.workspace_id));
  exception when others then
    raise warning 'batch %: could not queue its notifications (%: %)', new.id, sqlstate, sqlerrm;
  end;
  return null;
end;
$$;
create trigger tg_batches__notify_endpoints after update of status on everruns.batches
  for each row when (old.status is distinct from new.status
                     and new.status in ('succeeded', 'completed_with_errors', 'failed', 'cancelled'))
  execute function everruns_private.tg_batches__notify_endpoints();

-- What the deliverer needs: the delivery (pending), its endpoint and the signing secret's
-- ciphertext (null: not set), and the attempt it begins (recorded now: a worker that dies during
-- it leaves the row unfinished, marked interrupted by the next attempt). Null when not pending.
create function everruns_private.begin_notification_attempt(p_delivery_id uuid)
returns table (delivery everruns.notification_deliveries, url text, secret_ciphertext bytea, attempt integer)
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_d everruns.notification_deliveries;
  v_e everruns.notification_endpoints;
begin
  select * into v_d from everruns.notification_deliveries d where d.id = p_delivery_id and d.status = 'pending' for update;
  if not found then
    return;
  end if;
  select * into v_e from everruns.notification_endpoints e where e.id = v_d.endpoint_id;
  if not v_e.enabled then
    update everruns.notification_deliveries d
       set status = 'failed', last_error = 'the endpoint is disabled (enable it, then resend)', next_attempt_at = null
     where d.id = v_d.id;
    return;
  end if;
  update everruns.notification_attempts a set outcome = 'interrupted', finished_at = clock_timestamp(),
         error = 'the worker stopped during this attempt'
   where a.delivery_id = v_d.id and a.finished_at is null;
  update everruns.notification_deliveries d set attempts = d.attempts + 1 where d.id = v_d.id returning * into v_d;
  insert into everruns.notification_attempts (workspace_id, delivery_id, attempt) values (v_d.workspace_id, v_d.id, v_d.attempts);
  return query select v_d, v_e.url,
    (select s.ciphertext from everruns.secrets s where s.workspace_id = v_e.workspace_id and s.name = v_e.secret_name),
    v_d.attempts;
end;
$$;

-- An attempt's outcome: delivered (2xx), or failed and retried after a delay doubling from the
-- endpoint's retry_initial_seconds up to an hour, or failed for good once the next try would be
-- past give_up_at. The retry is a new job of the same key, in this transaction.
create function everruns_private.finish_notification_attempt(p_delivery_id uuid, p_attempt integer, p_status_code integer,
                                                             p_error text) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_d everruns.notification_deliveries;
  v_initial double precision;
  v_delay interval;
  v_ok boolean := p_status_code between 200 and 299;
begin
  select * into v_d from everruns.notification_deliveries d where d.id = p_delivery_id for update;
  if not found then
    return 'gone';
  end if;
  update everruns.notification_attempts a
     set finished_at = clock_timestamp(), status_code = p_status_code, error = left(p_error, 2000),
         outcome = case when v_ok then 'delivered' else 'failed' end
   where a.delivery_id = p_delivery_id and a.attempt = p_attempt;
  if v_d.status <> 'pending' or v_d.attempts <> p_attempt then
    return v_d.status;  -- a newer attempt (a resend) owns the delivery now
  end if;
  if v_ok then
    update everruns.notification_deliveries d
       set status = 'delivered', delivered_at = everruns_private.clock(), last_status_code = p_status_code,
           last_error = null, next_attempt_at = null
     where d.id = p_delivery_id;
    return 'delivered';
  end if;
  select e.retry_initial_seconds into v_initial from everruns.notification_endpoints e where e.id = v_d.endpoint_id;
  v_delay := make_interval(secs => least(3600, coalesce(v_initial, 5) * power(2, least(p_attempt - 1, 20))))
             * (0.9 + random() * 0.2);
  if everruns_private.clock() + v_delay > v_d.give_up_at then
    update everruns.notification_deliveries d
       set status = 'failed', last_status_code = p_status_code, last_error = left(p_error, 2000), next_attempt_at = null
     where d.id = p_delivery_id;
    return 'failed';
  end if;
  update everruns.notification_deliveries d
     set last_status_code = p_status_code, last_error = left(p_error, 2000), next_attempt_at = everruns_private.clock() + v_delay
   where d.id = p_delivery_id;
  perform graphile_worker.add_job('deliver_notification', json_build_object('delivery_id', p_delivery_id),
                                  run_at => now() + v_delay, max_attempts => 25, job_key => 'notify:' || p_delivery_id::text);
  return 'retry';
end;
$$;

-- Sends a delivery again (delivered or failed ones too), under the same webhook-id.
create function everruns.resend_notification(delivery_id uuid) returns everruns.notification_deliveries
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_d everruns.notification_deliveries;
begin
  select * into v_d from everruns.notification_deliveries d where d.id = resend_notification.delivery_id for update;
  if not found then
    raise exception 'unknown notification delivery %', resend_notification.delivery_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_d.workspace_id, 'notification delivery ' || resend_notification.delivery_id::text);
  update everruns.notification_deliveries d
     set status = 'pending', give_up_at = everruns_private.clock() + interval '1 day', next_attempt_at = everruns_private.clock()
   where d.id = v_d.id returning * into v_d;
  perform graphile_worker.add_job('deliver_notification', json_build_object('delivery_id', v_d.id),
                                  max_attempts => 25, job_key => 'notify:' || v_d.id::text);
  perform everruns_private.audit_append(v_d.workspace_id, 'notification.resent', 'notification_delivery', v_d.id::text,
    jsonb_build_object('event', v_d.event, 'endpoint_id', v_d.endpoint_id));
  return v_d;
end;
$$;

-- The sweep's part: a pending delivery whose job is gone (removed by hand, a queue restored
-- from a backup) gets one again.
create function everruns_private.sweep_notifications() returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  v_id uuid;
  v_n int := 0;
begin
  for v_id in
    select d.id from everruns.notification_deliveries d
     where d.status = 'pending' and d.next_attempt_at < everruns_private.clock() - interval '1 minute'
       and not exists (select from graphile_worker.jobs j
                        where j.key = 'notify:' || d.id::text and j.attempts < j.max_attempts)
     limit 100
  loop
    perform graphile_worker.add_job('deliver_notification', json_build_object('delivery_id', v_id),
                                    max_attempts => 25, job_key => 'notify:' || v_id::text);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;

---------------------------------------------------------------------------------------------
-- 9. The sweep (repair_orphaned_runs, at most every 5 s): threads' queued events, deliveries
-- without a job
---------------------------------------------------------------------------------------------
-- 000025's repair_orphaned_runs, and the sweeps of activations and notifications.
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
  -- 000026: threads' queued events, notification deliveries without a job
  begin
    perform everruns_private.sweep_activations();
  exception when others then
    raise warning 'the activation sweep failed: %: %', sqlstate, sqlerrm;
  end;
  begin
    perform everruns_private.sweep_notifications();
  exception when others then
    raise warning 'the notification sweep failed: %: %', sqlstate, sqlerrm;
  end;
  return v_n;
end;
$function$;


---------------------------------------------------------------------------------------------
-- 11. Runs: their order on a thread, a continuation's schedule; spent delivery jobs
---------------------------------------------------------------------------------------------
-- 000025's tg_runs__queue_order, and: a continuation carries its parent's schedule on; a run is
-- ordered after every run of its thread; a busy keyed thread refuses a plain insert.
create or replace function everruns_private.tg_runs__queue_order()
 returns trigger
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  v_config jsonb;
  v_parent record;
  v_tail everruns.runs;
begin
  if new.parent_run_id is not null then
    select r.priority, r.batch_id, r.batch_item_id, r.schedule_id into v_parent from everruns.runs r where r.id = new.parent_run_id;
    new.batch_id := v_parent.batch_id;
    new.batch_item_id := v_parent.batch_item_id;
    new.schedule_id := coalesce(new.schedule_id, v_parent.schedule_id);  -- 000026
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
  -- 000026: a run comes after every run of its thread, also one a transaction that began earlier
  -- committed meanwhile (created_at is the transaction's start: the thread's order, which
  -- tg_runs__prepare and lock_thread_tail read, would put this run before it). The thread's last
  -- run is locked by now (tg_runs__prepare), so this follows the commit order. And a keyed thread
  -- (events, everruns.trigger) takes its new runs only through its events while it is busy.
  select * into v_tail from everruns.runs r where r.thread_id = new.thread_id order by r.created_at desc, r.id desc limit 1;
  if found then
    new.created_at := greatest(new.created_at, v_tail.created_at + interval '1 microsecond');
    if new.parent_run_id is null
       and exists (select from everruns.threads t where t.id = new.thread_id and t.key is not null)
       and (everruns_private.run_holds_thread(v_tail)
            or (exists (select from everruns.activations a where a.thread_id = new.thread_id and a.status = 'pending')
                and not exists (select from everruns.activations a where a.run_id = new.id and a.status = 'pending'))) then
      raise exception 'thread % is busy (a run active or events queued) and takes new runs through everruns.trigger', new.thread_id
        using errcode = 'EV007', hint = 'Call everruns.trigger(agent, payload, thread_key): the event runs when the thread''s earlier runs have ended.';
    end if;
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

-- 000023's sweep_dead_workers, and: a spent notification job (its key taken over by its retry)
-- of a dead pool is dropped too.
create or replace function everruns_private.sweep_dead_workers(p_grace_ms integer DEFAULT 250)
 RETURNS text[]
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_dead text[];
  v_jobs int;
begin
  select array_agg(distinct j.locked_by) into v_dead
  from graphile_worker.jobs j
  where j.locked_by is not null
    and j.locked_at < now() - make_interval(secs => p_grace_ms / 1000.0)
    and not exists (select 1 from everruns_private.live_workers w where w.pool_id = j.locked_by);
  if v_dead is null then
    return '{}';
  end if;
  -- every job of a dead pool is freed, also one locked a moment before it died (a step just
  -- begun): count them all for the wake-up below
  select count(*) into v_jobs from graphile_worker.jobs j where j.locked_by = any (v_dead);
  perform everruns_private.attempts_of_dead_pools(v_dead);  -- 000013
  perform graphile_worker.force_unlock_workers(v_dead);
  delete from everruns_private.workers w where w.pool_id = any (v_dead);
  -- A job whose key a newer job of its run (000026: or of its notification delivery) took over (add_job does that to a locked job and marks
  -- it spent: attempts = max_attempts) will never run again: drop it now.
  perform graphile_worker.complete_jobs(array(
    select j.id from graphile_worker.jobs j
    where (j.task_identifier = 'run_step' or j.task_identifier like 'run\_step:%' or j.task_identifier = 'deliver_notification')
      and j.key is null and j.locked_at is null
      and j.attempts >= j.max_attempts));
  -- Wake idle workers at once rather than at their next poll (graphile-worker listens on this
  -- channel for new jobs; a freed job is one to them). Measured without it: about half the
  -- resumes after kill -9 took 0.86-0.96 s (the 1 s poll).
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$function$;

---------------------------------------------------------------------------------------------
-- 10. Grants of the functions
---------------------------------------------------------------------------------------------
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function
      everruns.trigger(text, jsonb, text), everruns.resend_notification(uuid), everruns_private.clock(),
      everruns_private.render_schedule_input(jsonb, text, text, timestamptz),
      everruns_private.webhook_for_delivery(uuid),
      everruns_private.receive_webhook(uuid, text, jsonb, integer, jsonb, text, smallint, boolean)
      to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function
      everruns_private.clock(), everruns_private.due_schedules(integer, uuid[]), everruns_private.lock_schedule_for_tick(uuid),
      everruns_private.fire_schedule(uuid, timestamptz, timestamptz[], bigint, timestamptz, text),
      everruns_private.begin_notification_attempt(uuid), everruns_private.finish_notification_attempt(uuid, integer, integer, text)
      to everruns_worker;
  end if;
end
$$;

-- 000025's bind_role, and triggers: read access reads schedules, webhooks, notifications and
-- their logs; write access creates and changes them, calls everruns.trigger and resends.
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
                 'everruns.notification_deliveries, everruns.notification_attempts to %I', v_role);  -- 000013: run_attempts; 000025: batches; 000026: triggers
  execute format('grant execute on function everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon() to %I', v_role);
  execute format('revoke insert, update on everruns.runs, everruns.threads, everruns.batches, everruns.batch_items from %I', v_role);
  execute format('revoke insert, update, delete on everruns.schedules, everruns.webhooks, everruns.notification_endpoints from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb), everruns.start_batch(uuid), everruns.pause_batch(uuid), '
                 'everruns.resume_batch(uuid), everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), '
                 'everruns.retry_failed_items(uuid, text[], boolean), everruns.trigger(text, jsonb, text), '
                 'everruns.resend_notification(uuid), everruns_private.render_schedule_input(jsonb, text, text, timestamptz) from %I', v_role);
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

-- 000025's unbind_role, and the trigger functions bind_role grants.
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
  execute format('revoke execute on function everruns.trigger(text, jsonb, text), everruns.resend_notification(uuid), '
                 'everruns_private.render_schedule_input(jsonb, text, text, timestamptz) from %I', unbind_role.role);
  perform everruns_private.audit_append(v_binding.workspace_id, 'role.unbound', 'role', unbind_role.role::text, '{}'::jsonb);
  return true;
end;
$function$;
