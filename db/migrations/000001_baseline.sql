-- 000001: the baseline schema of Everruns, one section per area, each function defined once.
--
-- Migrations are immutable once landed: `everruns migrate` records each file's checksum and
-- refuses to run when an applied file has changed. A change to anything here is a new migration
-- (000002_…), a small delta; db/schema.sql is the generated dump of the whole schema.
--
-- Schemas: `everruns` is the public contract (tables users insert into, functions they call);
-- `everruns_private` holds the step engine's state transitions, called by the worker.
--
-- Every state change of a run happens inside one function below, with the run's row locked
-- (`for update`). A step is fenced by (step_cursor, step_attempt): the cursor is the seq of the
-- next step to commit, the attempt is bumped each time a worker begins that step. Only the
-- latest attempt may append events or commit, so a replayed job, a zombie worker or a worker
-- that lost a race can never land a second checkpoint for the same step.
--
-- graphile-worker only dispatches, and only through its public interface (add_job,
-- remove_job, force_unlock_workers, complete_jobs, the `jobs` view): one job per run, payload
-- {"run_id"}, key `run:<id>`, meaning "advance this run"; the run's own row says which step.
--
-- Domain errors use SQLSTATEs of class 'EV' (mapped to TypeScript errors in db/errors.ts):
--   EV001 invalid agent config      EV002 unknown agent       EV003 invalid run input
--   EV004 stale step attempt        EV005 unknown run         EV006 immutable row
--   EV007 invalid thread            EV008 invalid resume      EV009 run not waiting for that event

create schema everruns;
create schema everruns_private;

---------------------------------------------------------------------------------------------
-- Workspaces: tenancy is not enforced yet, but every row carries its workspace.
---------------------------------------------------------------------------------------------
create table everruns.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null unique check (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  created_at timestamptz not null default now()
);
comment on table everruns.workspaces is 'A tenant. Every other table carries workspace_id.';

insert into everruns.workspaces (id, name) values ('00000000-0000-0000-0000-000000000001', 'default');

create function everruns_private.default_workspace_id() returns uuid
  language sql immutable parallel safe
  as $$ select '00000000-0000-0000-0000-000000000001'::uuid $$;

---------------------------------------------------------------------------------------------
-- Agents and their immutable versions.
---------------------------------------------------------------------------------------------
create table everruns.agents (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.default_workspace_id() references everruns.workspaces,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
  config jsonb not null,
  version int not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, name)
);
comment on table everruns.agents is 'An agent: model, system prompt, tools, limits. Updating config bumps version.';

create table everruns.agent_versions (
  agent_id uuid not null references everruns.agents on delete cascade,
  version int not null,
  workspace_id uuid not null references everruns.workspaces,
  config jsonb not null,
  created_at timestamptz not null default now(),
  primary key (agent_id, version)
);
comment on table everruns.agent_versions is 'Every config an agent has had. Rows are immutable; a run pins one.';

-- What an agent's config may hold is defined once, by the zod schema in db/schemas.ts (the API
-- validates with it before writing; the worker parses every config it runs and fails a run whose
-- config is invalid with `invalid_agent_config`, naming the field). The database checks only
-- what its own functions rely on: that config is a JSON object.
create function everruns_private.tg_agents__version() returns trigger
  language plpgsql
  as $$
begin
  if new.config is null or jsonb_typeof(new.config) <> 'object' then
    raise exception 'invalid agent config: must be a JSON object, got %', coalesce(jsonb_typeof(new.config), 'null')
      using errcode = 'EV001', hint = 'See "Agent config" in the README.';
  end if;
  if tg_op = 'INSERT' then
    new.version := 1;
  elsif new.config is distinct from old.config then
    new.version := old.version + 1;
    new.updated_at := now();
  else
    new.version := old.version;
  end if;
  return new;
end;
$$;
create trigger tg_agents__version before insert or update on everruns.agents
  for each row execute function everruns_private.tg_agents__version();

create function everruns_private.tg_agents__keep_version() returns trigger
  language plpgsql
  as $$
begin
  insert into everruns.agent_versions (agent_id, version, workspace_id, config)
  values (new.id, new.version, new.workspace_id, new.config)
  on conflict do nothing;
  return null;
end;
$$;
create trigger tg_agents__keep_version after insert or update on everruns.agents
  for each row execute function everruns_private.tg_agents__keep_version();

create function everruns_private.tg__immutable() returns trigger
  language plpgsql
  as $$
begin
  raise exception '% rows are immutable', tg_table_name using errcode = 'EV006';
end;
$$;
create trigger tg_agent_versions__immutable before update on everruns.agent_versions
  for each row execute function everruns_private.tg__immutable();

---------------------------------------------------------------------------------------------
-- Threads: a conversation; each run belongs to one.
---------------------------------------------------------------------------------------------
create table everruns.threads (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.default_workspace_id() references everruns.workspaces,
  agent_id uuid references everruns.agents,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table everruns.threads is 'A conversation. A new run on a thread continues it.';

---------------------------------------------------------------------------------------------
-- Runs. Insert (agent_id, input) to start one: a trigger validates the input, pins the agent
-- version, finds or creates the thread, links a continuation to the run it answers and
-- enqueues the first step, all in the inserting transaction.
---------------------------------------------------------------------------------------------
create table everruns.runs (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.default_workspace_id() references everruns.workspaces,
  agent_id uuid not null references everruns.agents,
  agent_version int not null,
  thread_id uuid not null references everruns.threads,
  parent_run_id uuid references everruns.runs,
  input jsonb not null,
  status text not null default 'queued'
    check (status in ('queued', 'running', 'waiting', 'interrupted', 'succeeded', 'failed', 'cancelled')),
  output jsonb,
  error jsonb,
  usage jsonb not null default '{"input_tokens": 0, "output_tokens": 0, "cost_usd": 0}',
  -- the step engine's fence (see the header comment)
  step_cursor int not null default 1,
  step_attempt int not null default 0,
  step_errors int not null default 0,
  step_started_at timestamptz,
  -- last event seq appended, and the last seq at which the event log was balanced
  -- (every START closed); events after it belong to an attempt still in flight
  event_seq int not null default 0,
  settled_event_seq int not null default 0,
  -- what a waiting run waits for, an interrupted run's open questions, who answered them
  waiting jsonb,
  interrupts jsonb,
  continued_by uuid references everruns.runs,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  foreign key (agent_id, agent_version) references everruns.agent_versions (agent_id, version)
);
comment on table everruns.runs is 'A run of an agent. Insert (agent_id, input) to start one.';
-- A run's row is updated several times per step (attempt, event seq, cursor): room on the page
-- keeps those updates HOT (no index writes), as long as no indexed column changes.
alter table everruns.runs set (fillfactor = 70);
create index runs_agent_created_idx on everruns.runs (agent_id, created_at desc);
create index runs_thread_created_idx on everruns.runs (thread_id, created_at);
create index runs_status_created_idx on everruns.runs (status, created_at desc);
create index runs_created_idx on everruns.runs (created_at desc);
create index runs_parent_idx on everruns.runs (parent_run_id) where parent_run_id is not null;
comment on column everruns.runs.waiting is 'What a waiting run waits for: {"type": "timer"|"event", "until", "name"?, "tool_call_id"?}.';
comment on column everruns.runs.interrupts is 'The open interrupts of an interrupted run (AG-UI Interrupt objects) and its pending client tool calls.';
comment on column everruns.runs.continued_by is 'The continuation run that answered this interrupted run.';
create index runs_interrupted_idx on everruns.runs (created_at) where status = 'interrupted' and continued_by is null;
-- runs.updated_at moves on every step: no index on it, so those updates stay HOT (see above).
-- finished_at is set once, at the end: the dashboard counts finished runs by it.
create index runs_finished_idx on everruns.runs (finished_at) where finished_at is not null;

create function everruns_private.input_error(p_problem text) returns void
  language plpgsql immutable
  as $$
begin
  raise exception 'invalid run input: %', p_problem using errcode = 'EV003',
    hint = 'Expected {"messages": [{"role": "user", "content": "..."}], "state"?: {}, "context"?: [], "tools"?: []}.';
end;
$$;

create function everruns_private.assert_valid_run_input(p_input jsonb) returns void
  language plpgsql immutable
  as $$
declare
  v_msg jsonb;
  v_i int := 0;
  v_tool jsonb;
begin
  if p_input is null or jsonb_typeof(p_input) <> 'object' then
    perform everruns_private.input_error('must be a JSON object');
  end if;
  if jsonb_typeof(p_input -> 'messages') is distinct from 'array' then
    perform everruns_private.input_error('"messages" must be an array');
  end if;
  if jsonb_array_length(p_input -> 'messages') = 0 and not (p_input ? 'resume') then
    perform everruns_private.input_error('"messages" must hold at least one message');
  end if;
  for v_msg in select value from jsonb_array_elements(p_input -> 'messages') loop
    if jsonb_typeof(v_msg) <> 'object' then
      perform everruns_private.input_error(format('messages[%s] must be an object', v_i));
    end if;
    if coalesce(v_msg ->> 'role', '') not in ('user', 'assistant', 'system', 'developer', 'tool') then
      perform everruns_private.input_error(format('messages[%s].role must be one of user, assistant, system, developer, tool', v_i));
    end if;
    if v_msg ? 'id' and jsonb_typeof(v_msg -> 'id') <> 'string' then
      perform everruns_private.input_error(format('messages[%s].id must be a string', v_i));
    end if;
    if v_msg ->> 'role' in ('user', 'system', 'developer')
       and jsonb_typeof(v_msg -> 'content') is distinct from 'string'
       and jsonb_typeof(v_msg -> 'content') is distinct from 'array' then
      perform everruns_private.input_error(format('messages[%s].content must be a string', v_i));
    end if;
    if v_msg ->> 'role' = 'tool' and (jsonb_typeof(v_msg -> 'toolCallId') is distinct from 'string'
       or jsonb_typeof(v_msg -> 'content') is distinct from 'string') then
      perform everruns_private.input_error(format('messages[%s]: a tool message needs "toolCallId" and "content" strings', v_i));
    end if;
    v_i := v_i + 1;
  end loop;
  if p_input ? 'state' and jsonb_typeof(p_input -> 'state') not in ('object', 'null') then
    perform everruns_private.input_error('"state" must be an object');
  end if;
  if p_input ? 'context' and jsonb_typeof(p_input -> 'context') <> 'array' then
    perform everruns_private.input_error('"context" must be an array');
  end if;
  if p_input ? 'tools' then
    if jsonb_typeof(p_input -> 'tools') <> 'array' then
      perform everruns_private.input_error('"tools" must be an array');
    end if;
    v_i := 0;
    for v_tool in select value from jsonb_array_elements(p_input -> 'tools') loop
      if jsonb_typeof(v_tool) <> 'object' or jsonb_typeof(v_tool -> 'name') is distinct from 'string' then
        perform everruns_private.input_error(format('tools[%s] must be an object with a "name"', v_i));
      end if;
      v_i := v_i + 1;
    end loop;
  end if;
end;
$$;

-- Checks that `p_resume` answers every open approval interrupt of `p_parent` and nothing else.
create function everruns_private.assert_answers(p_parent everruns.runs, p_resume jsonb) returns void
  language plpgsql stable
  as $$
declare
  v_open text[];
  v_given text[];
  v_missing text[];
  v_unknown text[];
begin
  select coalesce(array_agg(i ->> 'id'), '{}') into v_open
  from jsonb_array_elements(coalesce(p_parent.interrupts -> 'interrupts', '[]')) i;
  if p_resume is not null and jsonb_typeof(p_resume) <> 'array' then
    raise exception 'invalid resume: must be an array of {"interruptId", "status": "resolved" | "cancelled", "payload"?}'
      using errcode = 'EV008';
  end if;
  if exists (select 1 from jsonb_array_elements(coalesce(p_resume, '[]')) e
             where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'interruptId') is distinct from 'string'
                or coalesce(e ->> 'status', '') not in ('resolved', 'cancelled')) then
    raise exception 'invalid resume: each entry needs "interruptId" (a string) and "status": "resolved" or "cancelled"'
      using errcode = 'EV008';
  end if;
  select coalesce(array_agg(e ->> 'interruptId'), '{}') into v_given from jsonb_array_elements(coalesce(p_resume, '[]')) e;
  select coalesce(array_agg(x), '{}') into v_missing from unnest(v_open) x where x <> all (v_given);
  select coalesce(array_agg(x), '{}') into v_unknown from unnest(v_given) x where x <> all (v_open);
  if cardinality(v_missing) > 0 then
    raise exception 'run % has open interrupts that this resume does not answer: %', p_parent.id, array_to_string(v_missing, ', ')
      using errcode = 'EV008', hint = 'Answer every open interrupt: [{"interruptId": "...", "status": "resolved", "payload": {"approved": true}}].';
  end if;
  if cardinality(v_unknown) > 0 then
    raise exception 'run % has no open interrupt %', p_parent.id, array_to_string(v_unknown, ', ')
      using errcode = 'EV008';
  end if;
end;
$$;

create function everruns_private.tg_runs__prepare() returns trigger
  language plpgsql
  as $$
declare
  v_agent everruns.agents;
  v_thread everruns.threads;
  v_parent everruns.runs;
begin
  select * into v_agent from everruns.agents where id = new.agent_id;
  if not found then
    raise exception 'unknown agent %', coalesce(new.agent_id::text, 'null')
      using errcode = 'EV002', hint = 'Create the agent first (everruns.agents) or check its id.';
  end if;
  if new.workspace_id <> v_agent.workspace_id then
    raise exception 'unknown agent % in workspace %', new.agent_id, new.workspace_id using errcode = 'EV002';
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
  new.step_cursor := 1;
  new.step_attempt := 0;
  new.event_seq := 0;
  new.settled_event_seq := 0;
  new.waiting := null;
  new.interrupts := null;
  new.continued_by := null;
  new.created_at := now();
  new.updated_at := now();
  return new;
end;
$$;
create trigger tg_runs__prepare before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__prepare();

-- The one place a step job is created. A job means "advance run R": its payload is the run id
-- alone, and whoever runs it begins the step the run's cursor names (begin_step). The job key
-- `run:<id>` keeps at most one pending job per run: graphile-worker's add_job replaces a pending
-- job of that key in place (a timer moved, a wait woken early), and when the run's current job
-- is locked (the caller runs in it) it takes the key off that job and marks it spent, so the
-- job ends with the task that holds it and the new one carries the run on.
-- (plpgsql, as job_held below: its plan is kept from call to call.)
create function everruns_private.enqueue_step(p_run_id uuid, p_run_at timestamptz default null) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform graphile_worker.add_job(
    'run_step',
    json_build_object('run_id', p_run_id),
    run_at => coalesce(p_run_at, now()),
    max_attempts => 25,
    job_key => 'run:' || p_run_id::text
  );
end;
$$;

create function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if new.parent_run_id is not null then
    update everruns.runs set continued_by = new.id, updated_at = now() where id = new.parent_run_id;
  end if;
  perform everruns_private.enqueue_step(new.id);
  perform pg_notify('everruns:runs', new.id::text);
  return null;
end;
$$;
create trigger tg_runs__enqueue after insert on everruns.runs
  for each row execute function everruns_private.tg_runs__enqueue();

---------------------------------------------------------------------------------------------
-- Steps (checkpoints), events (the AG-UI log) and signals (events sent to runs).
---------------------------------------------------------------------------------------------
create table everruns.run_steps (
  run_id uuid not null references everruns.runs on delete cascade,
  seq int not null,
  workspace_id uuid not null references everruns.workspaces,
  kind text not null check (kind in ('llm', 'tool', 'wait', 'system')),
  name text not null,
  status text not null check (status in ('succeeded', 'failed')),
  attempt int not null,
  input jsonb,
  output jsonb,
  error jsonb,
  usage jsonb,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  duration_ms numeric generated always as (extract(epoch from (finished_at - started_at)) * 1000) stored,
  primary key (run_id, seq)
);
comment on table everruns.run_steps is 'One row per committed checkpoint of a run. Never written twice.';
create trigger tg_run_steps__immutable before update on everruns.run_steps
  for each row execute function everruns_private.tg__immutable();

create table everruns.run_events (
  run_id uuid not null references everruns.runs on delete cascade,
  seq int not null,
  workspace_id uuid not null references everruns.workspaces,
  type text not null,
  event jsonb not null,
  created_at timestamptz not null default now(),
  primary key (run_id, seq)
);
comment on table everruns.run_events is 'Append-only AG-UI event log of a run: seq 1, 2, 3... with no gaps.';
create trigger tg_run_events__immutable before update on everruns.run_events
  for each row execute function everruns_private.tg__immutable();

-- One NOTIFY per inserting statement, carrying ids only: "<run_id>:<last seq>".
create function everruns_private.tg_run_events__notify() returns trigger
  language plpgsql
  as $$
declare
  v record;
begin
  for v in select run_id, max(seq) as seq from new_events group by run_id loop
    perform pg_notify('everruns:events', v.run_id::text || ':' || v.seq);
  end loop;
  return null;
end;
$$;
create trigger tg_run_events__notify after insert on everruns.run_events
  referencing new table as new_events
  for each statement execute function everruns_private.tg_run_events__notify();

-- Appends AG-UI events to a locked run; stamps each with the database clock.
-- The caller holds the run's row lock and has already checked the fence.
create function everruns_private.append_events_locked(p_run everruns.runs, p_events jsonb) returns int
  language plpgsql
  as $$
declare
  v_n int := coalesce(jsonb_array_length(p_events), 0);
  v_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
begin
  if v_n = 0 then
    return p_run.event_seq;
  end if;
  insert into everruns.run_events (run_id, seq, workspace_id, type, event)
  select p_run.id, p_run.event_seq + e.ord, p_run.workspace_id, e.value ->> 'type',
         case when e.value ? 'timestamp' then e.value else e.value || jsonb_build_object('timestamp', v_ms) end
  from jsonb_array_elements(p_events) with ordinality as e(value, ord);
  update everruns.runs set event_seq = p_run.event_seq + v_n where id = p_run.id;
  return p_run.event_seq + v_n;
end;
$$;

-- END events for every stream that events after settled_event_seq opened and did not close,
-- innermost first. Used when an attempt is abandoned (crash, retry, cancel) so the log stays
-- a valid AG-UI stream.
create function everruns_private.closing_events(p_run everruns.runs) returns jsonb
  language sql stable
  as $$
  with opened as (
    select s.seq, s.type, s.event
    from everruns.run_events s
    where s.run_id = p_run.id and s.seq > p_run.settled_event_seq
      and s.type in ('TEXT_MESSAGE_START', 'TOOL_CALL_START', 'REASONING_START',
                     'REASONING_MESSAGE_START', 'STEP_STARTED')
      and not exists (
        select 1 from everruns.run_events e
        where e.run_id = p_run.id and e.seq > s.seq
          and case s.type
            when 'TEXT_MESSAGE_START' then e.type = 'TEXT_MESSAGE_END' and e.event ->> 'messageId' = s.event ->> 'messageId'
            when 'TOOL_CALL_START' then e.type = 'TOOL_CALL_END' and e.event ->> 'toolCallId' = s.event ->> 'toolCallId'
            when 'REASONING_START' then e.type = 'REASONING_END' and e.event ->> 'messageId' = s.event ->> 'messageId'
            when 'REASONING_MESSAGE_START' then e.type = 'REASONING_MESSAGE_END' and e.event ->> 'messageId' = s.event ->> 'messageId'
            when 'STEP_STARTED' then e.type = 'STEP_FINISHED' and e.event ->> 'stepName' = s.event ->> 'stepName'
          end
      )
  )
  select coalesce(jsonb_agg(
    case type
      when 'TEXT_MESSAGE_START' then jsonb_build_object('type', 'TEXT_MESSAGE_END', 'messageId', event -> 'messageId')
      when 'TOOL_CALL_START' then jsonb_build_object('type', 'TOOL_CALL_END', 'toolCallId', event -> 'toolCallId')
      when 'REASONING_START' then jsonb_build_object('type', 'REASONING_END', 'messageId', event -> 'messageId')
      when 'REASONING_MESSAGE_START' then jsonb_build_object('type', 'REASONING_MESSAGE_END', 'messageId', event -> 'messageId')
      when 'STEP_STARTED' then jsonb_build_object('type', 'STEP_FINISHED', 'stepName', event -> 'stepName')
    end order by seq desc), '[]'::jsonb)
  from opened;
$$;

-- Closes whatever an abandoned attempt left open, appends p_extra (starting the log with
-- RUN_STARTED if it is still empty) and marks the log balanced.
create function everruns_private.settle_events_locked(p_run everruns.runs, p_extra jsonb default '[]') returns jsonb
  language plpgsql
  as $$
declare
  v_closing jsonb := '[]';
  v_start jsonb := '[]';
  v_seq int;
begin
  if p_run.event_seq > p_run.settled_event_seq then
    v_closing := everruns_private.closing_events(p_run);
  end if;
  if p_run.event_seq = 0 and jsonb_array_length(coalesce(p_extra, '[]')) > 0
     and p_extra -> 0 ->> 'type' <> 'RUN_STARTED' then
    v_start := jsonb_build_array(jsonb_build_object('type', 'RUN_STARTED', 'threadId', p_run.thread_id, 'runId', p_run.id));
  end if;
  v_seq := everruns_private.append_events_locked(p_run, v_closing || v_start || coalesce(p_extra, '[]'));
  update everruns.runs set settled_event_seq = v_seq where id = p_run.id;
  return v_closing;
end;
$$;

create function everruns_private.tg_runs__notify_status() returns trigger
  language plpgsql
  as $$
begin
  perform pg_notify('everruns:runs', new.id::text);
  return null;
end;
$$;
create trigger tg_runs__notify_status after update of status on everruns.runs
  for each row when (old.status is distinct from new.status)
  execute function everruns_private.tg_runs__notify_status();

-- Events sent to runs (everruns.send_event). Kept even when no run waits for them yet, so an
-- event that arrives before the wait begins is not lost.
create table everruns.run_signals (
  id bigserial primary key,
  run_id uuid not null references everruns.runs on delete cascade,
  workspace_id uuid not null references everruns.workspaces,
  name text not null check (length(name) between 1 and 200),
  payload jsonb,
  created_at timestamptz not null default now(),
  consumed_at timestamptz,
  consumed_by_seq int
);
comment on table everruns.run_signals is 'Events sent to runs with everruns.send_event; consumed by wait_for_event.';
create index run_signals_pending_idx on everruns.run_signals (run_id, name, id) where consumed_at is null;

---------------------------------------------------------------------------------------------
-- History: what a step plans from and what an LLM call is sent.
---------------------------------------------------------------------------------------------
-- A run's last LLM turn is found with this index instead of reading every step of the run:
-- run_history('turn') was O(steps so far) per step, so O(n^2) over a long run.
create index run_steps_llm_turns_idx on everruns.run_steps (run_id, seq) where kind = 'llm' and status = 'succeeded';

-- The runs a run continues, newest first: itself, its parent, the parent's parent...
-- plpgsql, not sql, on purpose: an inlined sql function was estimated at 100 rows and joined
-- against the whole run_steps table, making begin_step grow with every run ever committed
-- (1 ms at 0 steps, 100 ms at 200,000); `rows 2` keeps the plan a primary-key probe.
create function everruns_private.run_chain(p_run_id uuid) returns table (id uuid, depth int)
  language plpgsql stable rows 2
  as $$
begin
  return query
  with recursive chain as (
    select r.id, r.parent_run_id, 0 as depth from everruns.runs r where r.id = p_run_id
    union all
    select p.id, p.parent_run_id, c.depth + 1 from everruns.runs p join chain c on p.id = c.parent_run_id
  )
  select chain.id, chain.depth from chain;
end;
$$;

-- The last succeeded LLM step of a run's chain (itself, then the runs it continues): one probe
-- of run_steps_llm_turns_idx per run of the chain.
create function everruns_private.last_llm_step(p_run_id uuid) returns table (run_id uuid, seq int, depth int)
  language plpgsql stable rows 1
  set plan_cache_mode = force_generic_plan
  as $$
begin
  return query
  select c.id, l.seq, c.depth
  from everruns_private.run_chain(p_run_id) c
  cross join lateral (
    select s.seq from everruns.run_steps s
    where s.run_id = c.id and s.kind = 'llm' and s.status = 'succeeded'
    order by s.seq desc limit 1
  ) l
  order by c.depth limit 1;
end;
$$;

-- A run's history as entries in order: {"kind": "input", run_id, input} and
-- {"kind": "step", run_id, step}. p_scope 'turn': from the last LLM turn of the run's chain
-- on (what planning the next step needs); 'thread': the whole conversation of the thread up
-- to this run (what an LLM call needs). Every read is an index probe or range: the 'turn'
-- scope reads the LLM turn's run from that turn on, and the run row is read for the 'thread'
-- scope only. force_generic_plan: with plan_cache_mode auto, Postgres judged the generic plan of these
-- queries costlier than a custom one and re-planned them on every call (0.26 ms a call, three
-- times the execution); the generic plans are the index probes above.
create function everruns_private.run_history(p_run_id uuid, p_scope text) returns jsonb
  language plpgsql stable
  set plan_cache_mode = force_generic_plan
  as $$
declare
  v_run everruns.runs;
  v_llm record;
  v_result jsonb;
begin
  if p_scope = 'thread' then
    select * into v_run from everruns.runs where id = p_run_id;
    with runs as (
      select r.id, r.input, r.created_at from everruns.runs r
      where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
    ), entries as (
      select r.created_at, r.id as run_id, -1 as seq,
             jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
      from runs r
      union all
      select r.created_at, r.id, s.seq,
             jsonb_build_object('kind', 'step', 'run_id', r.id, 'step', jsonb_build_object(
               'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
      from runs r join everruns.run_steps s on s.run_id = r.id
    )
    select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
    return v_result;
  end if;

  -- From the last LLM turn on: the inputs of the runs from the turn's run to this one, every
  -- step of the runs after the turn's run, and the turn's run's steps from the turn on.
  select * into v_llm from everruns_private.last_llm_step(p_run_id);
  with chain as (
    select c.id, c.depth from everruns_private.run_chain(p_run_id) c
    where v_llm.depth is null or c.depth <= v_llm.depth
  ), entries as (
    select c.depth, -1 as seq, jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
    from chain c join everruns.runs r on r.id = c.id
    union all
    select c.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from chain c join everruns.run_steps s on s.run_id = c.id
    where v_llm.depth is null or c.depth < v_llm.depth
    union all
    select v_llm.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from everruns.run_steps s
    where s.run_id = v_llm.run_id and s.seq >= v_llm.seq
  )
  select coalesce(jsonb_agg(entry order by depth desc, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

---------------------------------------------------------------------------------------------
-- The step engine's transitions. Each takes the run's row lock first.
---------------------------------------------------------------------------------------------
-- Starts an attempt at the run's current step: the caller holds the run's row lock and has
-- checked that the step is the cursor and the run can progress. Returns what the step needs;
-- without the agent config and the run's input when p_known (the caller ran the step before
-- this one and has both: a run's input and its pinned agent version never change).
create function everruns_private.start_attempt_locked(p_run everruns.runs, p_known boolean default false) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_closed jsonb := '[]';
  v_history jsonb;
begin
  if p_run.event_seq > p_run.settled_event_seq then
    v_closed := everruns_private.settle_events_locked(p_run);
  end if;
  update everruns.runs
     set step_attempt = step_attempt + 1,
         status = 'running',
         started_at = coalesce(started_at, now()),
         step_started_at = now(),
         updated_at = now()
   where id = p_run.id
  returning * into v_run;
  v_history := everruns_private.run_history(v_run.id, 'turn');
  -- `waiting` is returned as it was (the step needs to know what it waited for) and cleared
  -- at the step's commit.
  return jsonb_build_object(
    'run', case when p_known then to_jsonb(v_run) || '{"input": null}' else to_jsonb(v_run) end,
    'config', case when not p_known then
                (select config from everruns.agent_versions where agent_id = v_run.agent_id and version = v_run.agent_version) end,
    'history', v_history,
    -- LLM calls so far in this run and the runs it continues: the next call's index. The history
    -- starts at the last succeeded LLM step, and every LLM step the engine commits records its
    -- call index, so that is the last one's + 1; counted only for an LLM step written without
    -- one (by hand).
    'llm_count', coalesce(
      (select (e -> 'step' -> 'input' ->> 'call_index')::int + 1 from jsonb_array_elements(v_history) e
       where e -> 'step' ->> 'kind' = 'llm' and e -> 'step' ->> 'status' = 'succeeded' limit 1),
      (select count(*) from everruns_private.run_chain(v_run.id) c
       join everruns.run_steps s on s.run_id = c.id where s.kind = 'llm' and s.status = 'succeeded')),
    'signals', (select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'payload', g.payload) order by g.id), '[]')
                from everruns.run_signals g where g.run_id = v_run.id and g.consumed_at is null),
    'closed', v_closed
  );
end;
$$;

-- Begins an attempt at the run's current step (the cursor). Returns null when the run has
-- nothing to do (finished, cancelled, interrupted, or unknown). Otherwise bumps the attempt
-- (fencing out any earlier one), closes what a dead attempt left open, and returns what the
-- worker needs to plan and run the step (start_attempt_locked).
create function everruns_private.begin_step(p_run_id uuid) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found or v_run.status not in ('queued', 'running', 'waiting') then
    return null;
  end if;
  -- Nothing here needs to survive a database crash: if this bump is lost, the attempt it
  -- started is fenced out all the same (its writes carry an attempt number the database no
  -- longer has) and the step simply begins again. So skip the fsync: only commits are durable.
  perform set_config('synchronous_commit', 'off', true);
  return everruns_private.start_attempt_locked(v_run);
end;
$$;

-- Locks the run and checks the fence; raises EV004 when this attempt is no longer current.
create function everruns_private.lock_attempt(p_run_id uuid, p_seq int, p_attempt int) returns everruns.runs
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found then
    raise exception 'unknown run %', p_run_id using errcode = 'EV005';
  end if;
  if v_run.step_cursor <> p_seq or v_run.step_attempt <> p_attempt or v_run.status <> 'running' then
    raise exception 'step % attempt % of run % is no longer current (cursor %, attempt %, status %)',
      p_seq, p_attempt, p_run_id, v_run.step_cursor, v_run.step_attempt, v_run.status
      using errcode = 'EV004';
  end if;
  return v_run;
end;
$$;

-- Live events from an attempt in flight (text deltas, tool call starts), fenced.
create function everruns_private.append_events(p_run_id uuid, p_seq int, p_attempt int, p_events jsonb) returns int
  language plpgsql volatile
  as $$
begin
  -- Live events of an uncommitted attempt: losing the last few in a database crash is the same
  -- as the attempt dying a little earlier (see begin_step), so they need no fsync either.
  perform set_config('synchronous_commit', 'off', true);
  return everruns_private.append_events_locked(everruns_private.lock_attempt(p_run_id, p_seq, p_attempt), p_events);
end;
$$;

-- Whether the graphile-worker job an attempt runs in is still locked by the attempt's worker pool
-- (read through graphile-worker's public `jobs` view). p_job: {"id", "locked_by"}; null means
-- "no job" (a test or a tool calling the engine directly) and counts as held.
--
-- Why it matters: graphile-worker completes a job by deleting it by id, whoever locks it now. A
-- sweeper that judged this worker dead (its liveness connection lost while the process lived on)
-- freed its job; that job, still keyed `run:<id>`, is now the run's pending job, or another
-- worker's. The worker must then not complete it: it ends its task with JobTakenOverError, and
-- graphile-worker's failure path, which only touches a job still locked by the failing pool,
-- leaves the job to its new holder.
--
-- plpgsql, not sql, on purpose: a sql function that is not inlined is planned again on every
-- call, and planning the join behind the `jobs` view made a step a fifth dearer (`everruns bench`,
-- 10 chains: 1.26x a bare graphile-worker chain as sql, 1.06x as plpgsql); plpgsql keeps the plan.
create function everruns_private.job_held(p_job jsonb) returns boolean
  language plpgsql stable
  as $$
begin
  return p_job is null or exists (
    select 1 from graphile_worker.jobs j
    where j.id = (p_job ->> 'id')::bigint and j.locked_by = p_job ->> 'locked_by');
end;
$$;

-- Writes step p_seq's checkpoint into a run locked by lock_attempt: the checkpoint row, its
-- events, usage, the cursor, and what comes next.
-- p_step:  {kind, name, status, input, output, error, usage: {input_tokens, output_tokens, cost_usd},
--           consumes_signal?: <run_signals.id>}
-- p_events: the step's remaining events; for "fail" just the RUN_ERROR (open streams are closed here)
-- p_next:  {"type": "continue", "inline"?: true}   the next step follows at once; with inline the
--                                                   caller's job carries it (no job is added)
--        | {"type": "wait", "delay_ms": n, "waiting": {...}}   park the run until the timer fires
--                                                               or an event wakes it
--        | {"type": "interrupt", "interrupts": {...}, "output": {...}}   end it interrupted
--        | {"type": "succeed", "output": {...}}
--        | {"type": "fail", "error": {...}}
create function everruns_private.commit_step_locked(p_run everruns.runs, p_attempt int,
                                                    p_step jsonb, p_events jsonb, p_next jsonb) returns void
  language plpgsql volatile
  as $$
declare
  v_seq int := p_run.step_cursor;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
begin
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at)
  values (p_run.id, v_seq, p_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(p_run.step_started_at, now()), now());
  if p_step ? 'consumes_signal' then
    update everruns.run_signals set consumed_at = now(), consumed_by_seq = v_seq
     where id = (p_step ->> 'consumes_signal')::bigint and run_id = p_run.id and consumed_at is null;
  end if;
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(p_run, p_events);
  else
    perform everruns_private.append_events_locked(p_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8)),
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
end;
$$;

-- Commits step p_seq (commit_step_locked) in one durable transaction. p_job is the job the
-- attempt runs in (see job_held). Returns
--   {"committed": false}                      this attempt lost the fence: nothing was written
--   {"committed": true, "job_held": bool}     committed; job_held false: do not complete the job
create function everruns_private.commit_step(p_run_id uuid, p_seq int, p_attempt int, p_step jsonb,
                                             p_events jsonb, p_next jsonb, p_job jsonb default null) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return jsonb_build_object('committed', false);
  end;
  v_held := everruns_private.job_held(p_job);
  perform everruns_private.commit_step_locked(v_run, p_attempt, p_step, p_events, p_next - 'inline');
  return jsonb_build_object('committed', true, 'job_held', v_held);
end;
$$;

-- Inline chaining: commits step p_seq, whose run simply continues, and begins step p_seq + 1 in
-- the same durable transaction, to be run at once by the same worker in the job it already
-- holds. The job needs no change: it means "advance this run", and the run's cursor now names
-- the next step. A crash from here on is recovered as for any step (the sweeper frees the job,
-- whoever runs it next begins the cursor's step and fences this attempt out). Saves per step: a
-- job insert, a fetch-and-lock, a delete, a begin_step round trip and two fsyncs.
-- When the worker no longer holds p_job (see job_held), the next step is enqueued instead.
-- Returns {"committed": false} | {"committed": true, "job_held": bool, "next": <begun> | null},
-- next as begin_step returns it, without the config and the run's input (the caller has both:
-- a run's input and its pinned agent version never change).
create function everruns_private.commit_step_and_begin_next(p_run_id uuid, p_seq int, p_attempt int,
                                                            p_step jsonb, p_events jsonb, p_job jsonb) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return jsonb_build_object('committed', false);
  end;
  v_held := p_job is not null and everruns_private.job_held(p_job);
  perform everruns_private.commit_step_locked(v_run, p_attempt, p_step, p_events,
    jsonb_build_object('type', 'continue', 'inline', v_held));
  if not v_held then
    return jsonb_build_object('committed', true, 'job_held', p_job is null, 'next', null);
  end if;
  select * into v_run from everruns.runs where id = p_run_id;  -- locked since lock_attempt
  return jsonb_build_object('committed', true, 'job_held', true,
                            'next', everruns_private.start_attempt_locked(v_run, true));
end;
$$;

-- Gives step p_seq back to the queue without committing it: after a transient failure
-- (p_count_error, with a backoff delay) or when a worker shuts down (no delay). Closes what
-- the attempt opened and appends p_events (e.g. a retry notice). p_job as for commit_step.
-- Returns {"rescheduled": false} when the attempt was already fenced out, else
-- {"rescheduled": true, "job_held": bool}.
create function everruns_private.reschedule_step(p_run_id uuid, p_seq int, p_attempt int, p_delay_ms int,
                                                 p_count_error boolean, p_events jsonb, p_job jsonb default null) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_held boolean;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return jsonb_build_object('rescheduled', false);
  end;
  v_held := everruns_private.job_held(p_job);
  perform everruns_private.settle_events_locked(v_run, p_events);
  update everruns.runs
     set step_errors = step_errors + case when p_count_error then 1 else 0 end,
         step_started_at = null,
         updated_at = now()
   where id = p_run_id;
  perform everruns_private.enqueue_step(p_run_id,
    case when p_delay_ms > 0 then now() + make_interval(secs => p_delay_ms / 1000.0) end);
  return jsonb_build_object('rescheduled', true, 'job_held', v_held);
end;
$$;

---------------------------------------------------------------------------------------------
-- Public functions: cancel, resume (answer an interrupted run), send an event.
---------------------------------------------------------------------------------------------
-- Cancels a run that has not finished: closes its open streams, ends its log with RUN_FINISHED
-- {outcome: cancelled}, fences out any attempt in flight, removes its job and tells its worker to
-- abort (NOTIFY everruns:cancel). Also works on a waiting run and on an interrupted one (nobody
-- will answer it any more). Returns true when this call cancelled it.
create function everruns.cancel_run(run_id uuid) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs r where r.id = cancel_run.run_id for update;
  if not found then
    raise exception 'unknown run %', cancel_run.run_id using errcode = 'EV005';
  end if;
  if v_run.status in ('succeeded', 'failed', 'cancelled') or v_run.continued_by is not null then
    return false;
  end if;
  if v_run.status <> 'interrupted' then
    -- an interrupted run's log already ended with RUN_FINISHED
    perform everruns_private.settle_events_locked(v_run, jsonb_build_array(jsonb_build_object(
      'type', 'RUN_FINISHED', 'threadId', v_run.thread_id, 'runId', v_run.id, 'outcome', jsonb_build_object('type', 'cancelled'))));
  end if;
  update everruns.runs r
     set status = 'cancelled',
         error = jsonb_build_object('code', 'cancelled', 'message', 'The run was cancelled.'),
         step_attempt = r.step_attempt + 1,
         waiting = null,
         finished_at = now(),
         updated_at = now()
   where r.id = cancel_run.run_id;
  perform graphile_worker.remove_job('run:' || cancel_run.run_id::text);
  perform pg_notify('everruns:cancel', cancel_run.run_id::text);
  return true;
end;
$$;
comment on function everruns.cancel_run(uuid) is 'Cancels a run; an in-flight LLM or tool call is aborted.';

-- Answers an interrupted run: starts its continuation on the same thread and returns its id.
-- Calling it again with the same answers returns the same continuation.
create function everruns.resume_run(run_id uuid, resume jsonb) returns uuid
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_next everruns.runs;
  v_id uuid;
begin
  select * into v_run from everruns.runs r where r.id = resume_run.run_id for update;
  if not found then
    raise exception 'unknown run %', resume_run.run_id using errcode = 'EV005';
  end if;
  if v_run.continued_by is not null then
    select * into v_next from everruns.runs r where r.id = v_run.continued_by;
    if v_next.input -> 'resume' is not distinct from resume_run.resume then
      return v_next.id;
    end if;
    raise exception 'run % was already answered by run %, with other answers', v_run.id, v_next.id using errcode = 'EV008';
  end if;
  if v_run.status <> 'interrupted' then
    raise exception 'run % is not waiting for an answer (status %)', v_run.id, v_run.status using errcode = 'EV008';
  end if;
  insert into everruns.runs (workspace_id, agent_id, thread_id, parent_run_id, input)
  values (v_run.workspace_id, v_run.agent_id, v_run.thread_id, v_run.id,
          jsonb_build_object('messages', '[]'::jsonb, 'resume', coalesce(resume_run.resume, '[]'::jsonb)))
  returning id into v_id;
  return v_id;
end;
$$;
comment on function everruns.resume_run(uuid, jsonb) is 'Answers an interrupted run (AG-UI resume entries); returns the continuation run id.';

-- Sends an event to a run. Wakes it at once when it waits for that event name; otherwise the
-- event is kept for its next wait_for_event of that name. Returns true when it woke the run.
create function everruns.send_event(run_id uuid, name text, payload jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs r where r.id = send_event.run_id for update;
  if not found then
    raise exception 'unknown run %', send_event.run_id using errcode = 'EV005';
  end if;
  if v_run.status in ('succeeded', 'failed', 'cancelled') then
    raise exception 'run % has finished (%); it can no longer receive events', v_run.id, v_run.status using errcode = 'EV009';
  end if;
  if coalesce(send_event.name, '') = '' then
    raise exception 'an event needs a name' using errcode = 'EV009';
  end if;
  insert into everruns.run_signals (run_id, workspace_id, name, payload)
  values (v_run.id, v_run.workspace_id, send_event.name, send_event.payload);
  if v_run.status = 'waiting' and v_run.waiting ->> 'type' = 'event' and v_run.waiting ->> 'name' = send_event.name then
    -- replaces the pending timeout job (same job key): the run continues now
    perform everruns_private.enqueue_step(v_run.id);
    return true;
  end if;
  return false;
end;
$$;
comment on function everruns.send_event(uuid, text, jsonb) is 'Sends an event to a run; wakes it if it waits in wait_for_event for that name.';

---------------------------------------------------------------------------------------------
-- Worker liveness and crash recovery.
--
-- graphile-worker leaves a dead worker's jobs locked for 4 hours. Every worker process keeps
-- one idle "liveness" connection open and registers its pool id here together with that
-- connection's backend pid and start time. A worker is alive exactly while that backend is
-- in pg_stat_activity: when a process is kill -9'd the kernel closes its sockets and Postgres
-- ends the backend within milliseconds. Every worker sweeps a few times a second and frees
-- the jobs of pools that have no live backend; a live pool's jobs are never touched.
---------------------------------------------------------------------------------------------
create table everruns_private.workers (
  pool_id text primary key,
  hostname text not null,
  pid int not null,
  concurrency int not null,
  backend_pid int not null,
  backend_start timestamptz,  -- null when the owner of register_worker may not see it (see live_workers)
  started_at timestamptz not null default now()
);
comment on table everruns_private.workers is 'Worker pools that registered a liveness connection.';

-- Called on the liveness connection itself.
create function everruns_private.register_worker(p_pool_id text, p_hostname text, p_pid int, p_concurrency int) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  insert into everruns_private.workers (pool_id, hostname, pid, concurrency, backend_pid, backend_start)
  select p_pool_id, p_hostname, p_pid, p_concurrency, a.pid, a.backend_start
  from pg_stat_activity a where a.pid = pg_backend_pid()
  on conflict (pool_id) do update
    set backend_pid = excluded.backend_pid, backend_start = excluded.backend_start;
$$;

-- A worker is alive exactly while its liveness backend is. register_worker and
-- sweep_dead_workers are security definer: they read pg_stat_activity with their owner's rights,
-- and without pg_read_all_stats Postgres hides the backend_start of other roles' sessions (null;
-- pid, user and application_name stay visible). Such a session is told by its pid and its
-- application_name, everruns-worker:<pool id>, unique per pool and set by the liveness
-- connection itself.
create view everruns_private.live_workers as
  select w.* from everruns_private.workers w
  join pg_stat_activity a on a.pid = w.backend_pid
   and (a.backend_start = w.backend_start
        or ((a.backend_start is null or w.backend_start is null)
            and a.application_name = 'everruns-worker:' || w.pool_id));

-- Called on the liveness connection when a worker stops cleanly, after its last completion.
create function everruns_private.deregister_worker(p_pool_id text) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  delete from everruns_private.workers where pool_id = p_pool_id;
$$;

-- Frees the jobs of dead pools and wakes the live ones, through graphile-worker's public
-- interface only: its `jobs` view to find locked jobs, force_unlock_workers to free them,
-- complete_jobs to drop spent ones. A job is only considered once it has been locked for
-- p_grace_ms, which covers the few milliseconds between a new pool locking its first job and
-- its liveness connection registering. Returns the pools it freed.
create function everruns_private.sweep_dead_workers(p_grace_ms int default 250) returns text[]
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
  perform graphile_worker.force_unlock_workers(v_dead);
  delete from everruns_private.workers w where w.pool_id = any (v_dead);
  -- A job whose key a newer job of its run took over (add_job does that to a locked job and marks
  -- it spent: attempts = max_attempts) will never run again: drop it now.
  perform graphile_worker.complete_jobs(array(
    select j.id from graphile_worker.jobs j
    where j.task_identifier = 'run_step' and j.key is null and j.locked_at is null
      and j.attempts >= j.max_attempts));
  -- Wake idle workers at once rather than at their next poll (graphile-worker listens on this
  -- channel for new jobs; a freed job is one to them). Measured without it: about half the
  -- resumes after kill -9 took 0.86-0.96 s (the 1 s poll).
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$$;

-- Safety net, run every few seconds by one worker: a run that should progress but has no
-- runnable job (its job was removed by hand, or spent its attempts) gets one, due when the run
-- is (a waiting run's timer keeps its time). The engine never leaves a run in that state by
-- itself but for one race (a worker judged dead while alive completing a job freed from it); this
-- keeps that, and an operator's mistake, from stranding a run forever.
create function everruns_private.repair_orphaned_runs() returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run record;
  v_n int := 0;
begin
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
-- Cost, per agent and per day (database clock, UTC days).
---------------------------------------------------------------------------------------------
create view everruns.usage_daily as
  select r.workspace_id,
         r.agent_id,
         (date_trunc('day', s.finished_at at time zone 'UTC'))::date as day,
         count(distinct r.id) as runs,
         count(*) filter (where s.kind = 'llm') as llm_calls,
         coalesce(sum((s.usage ->> 'input_tokens')::bigint), 0) as input_tokens,
         coalesce(sum((s.usage ->> 'output_tokens')::bigint), 0) as output_tokens,
         round(coalesce(sum((s.usage ->> 'cost_usd')::numeric), 0), 6) as cost_usd
  from everruns.run_steps s join everruns.runs r on r.id = s.run_id
  group by 1, 2, 3;
comment on view everruns.usage_daily is 'Tokens and cost in USD per agent per UTC day, from committed steps.';
