-- 000001: the durable core.
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
-- Domain errors use SQLSTATEs of class 'EV' (mapped to TypeScript errors in db/errors.ts):
--   EV001 invalid agent config      EV002 unknown agent       EV003 invalid run input
--   EV004 stale step attempt        EV005 unknown run         EV006 immutable row
--   EV007 invalid thread

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
-- Agent config validation. The TypeScript zod schema (db/schemas.ts) states the same rules
-- for the API and the worker; this function guards plain SQL inserts. Messages name the field.
---------------------------------------------------------------------------------------------
create function everruns_private.config_error(p_field text, p_problem text) returns void
  language plpgsql immutable
  as $$
begin
  raise exception 'invalid agent config: "%" %', p_field, p_problem
    using errcode = 'EV001', hint = 'See the agent config reference in DESIGN.md.';
end;
$$;

create function everruns_private.assert_positive_int(p_config jsonb, p_key text, p_max bigint) returns void
  language plpgsql immutable
  as $$
declare
  v jsonb := p_config -> p_key;
begin
  if v is null then return; end if;
  if jsonb_typeof(v) <> 'number' or (v::text)::numeric <> trunc((v::text)::numeric)
     or (v::text)::numeric < 1 or (v::text)::numeric > p_max then
    perform everruns_private.config_error(p_key, format('must be an integer from 1 to %s, got %s', p_max, v));
  end if;
end;
$$;

create function everruns_private.assert_valid_agent_config(p_config jsonb) returns void
  language plpgsql immutable
  as $$
declare
  v_key text;
  v_tool jsonb;
  v_i int := 0;
  v_turn jsonb;
  v_builtin constant text[] := array['echo', 'sleep', 'wait_for_event', 'simulate_work'];
  v_names text[] := '{}';
  v_name text;
begin
  if p_config is null or jsonb_typeof(p_config) <> 'object' then
    raise exception 'invalid agent config: must be a JSON object' using errcode = 'EV001';
  end if;
  for v_key in select jsonb_object_keys(p_config) loop
    if v_key <> all (array['provider', 'model', 'system_prompt', 'tools', 'max_steps',
                           'llm_timeout_ms', 'retry', 'script', 'temperature', 'max_tokens',
                           'api', 'base_url', 'api_key_env', 'reasoning_effort',
                           'thinking_budget_tokens', 'prices']) then
      perform everruns_private.config_error(v_key, 'is not a known setting');
    end if;
  end loop;
  if coalesce(p_config ->> 'provider', '') not in ('openai', 'anthropic', 'scripted') then
    perform everruns_private.config_error('provider', format('must be one of openai, anthropic, scripted, got %s', coalesce((p_config -> 'provider')::text, 'nothing')));
  end if;
  if p_config ? 'model' and jsonb_typeof(p_config -> 'model') <> 'string' then
    perform everruns_private.config_error('model', 'must be a string');
  end if;
  if p_config ->> 'provider' <> 'scripted' and coalesce(p_config ->> 'model', '') = '' then
    perform everruns_private.config_error('model', 'is required for provider ' || (p_config ->> 'provider'));
  end if;
  if p_config ? 'system_prompt' and jsonb_typeof(p_config -> 'system_prompt') <> 'string' then
    perform everruns_private.config_error('system_prompt', 'must be a string');
  end if;
  perform everruns_private.assert_positive_int(p_config, 'max_steps', 100000);
  perform everruns_private.assert_positive_int(p_config, 'llm_timeout_ms', 3600000);
  perform everruns_private.assert_positive_int(p_config, 'max_tokens', 1000000);
  if p_config ? 'temperature' and (jsonb_typeof(p_config -> 'temperature') <> 'number'
     or (p_config ->> 'temperature')::numeric not between 0 and 2) then
    perform everruns_private.config_error('temperature', 'must be a number from 0 to 2');
  end if;

  if p_config ? 'api' and (p_config ->> 'api' not in ('responses', 'chat_completions') or p_config ->> 'provider' <> 'openai') then
    perform everruns_private.config_error('api', 'must be "responses" or "chat_completions", and only with provider openai');
  end if;
  if p_config ? 'base_url' and coalesce(p_config ->> 'base_url', '') !~ '^https?://' then
    perform everruns_private.config_error('base_url', 'must be an http:// or https:// URL');
  end if;
  if p_config ? 'api_key_env' and coalesce(p_config ->> 'api_key_env', '') !~ '^[A-Z_][A-Z0-9_]*$' then
    perform everruns_private.config_error('api_key_env', 'must be an environment variable name');
  end if;
  if p_config ? 'reasoning_effort' and coalesce(p_config ->> 'reasoning_effort', '') not in ('minimal', 'low', 'medium', 'high') then
    perform everruns_private.config_error('reasoning_effort', 'must be one of minimal, low, medium, high');
  end if;
  if p_config ? 'thinking_budget_tokens' and (jsonb_typeof(p_config -> 'thinking_budget_tokens') <> 'number'
     or (p_config ->> 'thinking_budget_tokens')::numeric < 1024) then
    perform everruns_private.config_error('thinking_budget_tokens', 'must be a number of at least 1024');
  end if;
  if p_config ? 'prices' and (jsonb_typeof(p_config -> 'prices') <> 'object'
     or jsonb_typeof(p_config -> 'prices' -> 'input_per_million') is distinct from 'number'
     or jsonb_typeof(p_config -> 'prices' -> 'output_per_million') is distinct from 'number') then
    perform everruns_private.config_error('prices', 'must be {"input_per_million": n, "output_per_million": n}');
  end if;

  if p_config ? 'retry' then
    if jsonb_typeof(p_config -> 'retry') <> 'object' then
      perform everruns_private.config_error('retry', 'must be an object');
    end if;
    for v_key in select jsonb_object_keys(p_config -> 'retry') loop
      if v_key <> all (array['max_attempts', 'initial_delay_ms', 'max_delay_ms', 'multiplier']) then
        perform everruns_private.config_error('retry.' || v_key, 'is not a known setting');
      end if;
      if jsonb_typeof(p_config -> 'retry' -> v_key) <> 'number' or (p_config -> 'retry' ->> v_key)::numeric < 0 then
        perform everruns_private.config_error('retry.' || v_key, 'must be a non-negative number');
      end if;
    end loop;
    if (p_config -> 'retry' ->> 'max_attempts')::numeric < 1 then
      perform everruns_private.config_error('retry.max_attempts', 'must be at least 1');
    end if;
    if (p_config -> 'retry' ->> 'multiplier')::numeric < 1 then
      perform everruns_private.config_error('retry.multiplier', 'must be at least 1');
    end if;
  end if;

  if p_config ? 'tools' then
    if jsonb_typeof(p_config -> 'tools') <> 'array' then
      perform everruns_private.config_error('tools', 'must be an array');
    end if;
    for v_tool in select value from jsonb_array_elements(p_config -> 'tools') loop
      if jsonb_typeof(v_tool) = 'string' then
        v_name := v_tool #>> '{}';
        if v_name <> all (v_builtin) then
          perform everruns_private.config_error(format('tools[%s]', v_i),
            format('is not a built-in tool (%s); declare other tools as objects with a "type"', array_to_string(v_builtin, ', ')));
        end if;
      elsif jsonb_typeof(v_tool) = 'object' then
        v_name := v_tool ->> 'name';
        if v_name is null or v_name !~ '^[A-Za-z0-9_-]{1,64}$' then
          perform everruns_private.config_error(format('tools[%s].name', v_i), 'must be 1-64 letters, digits, _ or -');
        end if;
        for v_key in select jsonb_object_keys(v_tool) loop
          if v_key <> all (array['name', 'type', 'url', 'description', 'parameters', 'requires_approval', 'timeout_ms', 'headers', 'max_response_bytes']) then
            perform everruns_private.config_error(format('tools[%s].%s', v_i, v_key), 'is not a known setting');
          end if;
        end loop;
        if coalesce(v_tool ->> 'type', 'builtin') = 'builtin' then
          if v_name <> all (v_builtin) then
            perform everruns_private.config_error(format('tools[%s].name', v_i), format('"%s" is not a built-in tool; set "type": "http" for a remote tool', v_name));
          end if;
        elsif v_tool ->> 'type' = 'http' then
          if coalesce(v_tool ->> 'url', '') !~ '^https?://' then
            perform everruns_private.config_error(format('tools[%s].url', v_i), 'must be an http:// or https:// URL');
          end if;
        else
          perform everruns_private.config_error(format('tools[%s].type', v_i), 'must be "builtin" or "http"');
        end if;
        if v_tool ? 'parameters' and jsonb_typeof(v_tool -> 'parameters') <> 'object' then
          perform everruns_private.config_error(format('tools[%s].parameters', v_i), 'must be a JSON schema object');
        end if;
        if v_tool ? 'requires_approval' and jsonb_typeof(v_tool -> 'requires_approval') <> 'boolean' then
          perform everruns_private.config_error(format('tools[%s].requires_approval', v_i), 'must be true or false');
        end if;
        perform everruns_private.assert_positive_int(v_tool, 'timeout_ms', 3600000);
      else
        perform everruns_private.config_error(format('tools[%s]', v_i), 'must be a built-in tool name or a tool object');
      end if;
      if v_name = any (v_names) then
        perform everruns_private.config_error(format('tools[%s].name', v_i), format('"%s" is declared twice', v_name));
      end if;
      v_names := v_names || v_name;
      v_i := v_i + 1;
    end loop;
  end if;

  if p_config ? 'script' then
    if jsonb_typeof(p_config -> 'script') <> 'array' then
      perform everruns_private.config_error('script', 'must be an array of turns');
    end if;
    v_i := 0;
    for v_turn in select value from jsonb_array_elements(p_config -> 'script') loop
      if jsonb_typeof(v_turn) <> 'object' then
        perform everruns_private.config_error(format('script[%s]', v_i), 'must be an object');
      end if;
      for v_key in select jsonb_object_keys(v_turn) loop
        if v_key <> all (array['text', 'tool_calls', 'delay_ms', 'error', 'times', 'reasoning']) then
          perform everruns_private.config_error(format('script[%s].%s', v_i, v_key), 'is not a known setting');
        end if;
      end loop;
      if v_turn ? 'text' and jsonb_typeof(v_turn -> 'text') <> 'string' then
        perform everruns_private.config_error(format('script[%s].text', v_i), 'must be a string');
      end if;
      if v_turn ? 'tool_calls' and (jsonb_typeof(v_turn -> 'tool_calls') <> 'array'
         or exists (select 1 from jsonb_array_elements(v_turn -> 'tool_calls') c
                    where jsonb_typeof(c) <> 'object' or jsonb_typeof(c -> 'name') is distinct from 'string')) then
        perform everruns_private.config_error(format('script[%s].tool_calls', v_i), 'must be an array of {"name", "arguments"}');
      end if;
      if v_turn ? 'error' and coalesce(v_turn ->> 'error', '') not in ('rate_limit', 'server_error', 'timeout', 'bad_request') then
        perform everruns_private.config_error(format('script[%s].error', v_i), 'must be one of rate_limit, server_error, timeout, bad_request');
      end if;
      if v_turn ? 'delay_ms' and (jsonb_typeof(v_turn -> 'delay_ms') <> 'number' or (v_turn ->> 'delay_ms')::numeric < 0) then
        perform everruns_private.config_error(format('script[%s].delay_ms', v_i), 'must be a non-negative number');
      end if;
      perform everruns_private.assert_positive_int(v_turn, 'times', 1000);
      v_i := v_i + 1;
    end loop;
  end if;
end;
$$;

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

create function everruns_private.tg_agents__version() returns trigger
  language plpgsql
  as $$
begin
  perform everruns_private.assert_valid_agent_config(new.config);
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
-- Runs.
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

-- BEFORE INSERT: validate, pin the agent version, find or create the thread.
create function everruns_private.tg_runs__prepare() returns trigger
  language plpgsql
  as $$
declare
  v_agent everruns.agents;
  v_thread everruns.threads;
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
  new.created_at := now();
  new.updated_at := now();
  return new;
end;
$$;
create trigger tg_runs__prepare before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__prepare();

-- The one place a step job is created. job_key = run id: a run has at most one pending job.
create function everruns_private.enqueue_step(p_run_id uuid, p_seq int, p_run_at timestamptz default null) returns void
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select graphile_worker.add_job(
    'run_step',
    json_build_object('run_id', p_run_id, 'seq', p_seq),
    run_at => coalesce(p_run_at, now()),
    max_attempts => 25,
    job_key => 'run:' || p_run_id::text
  );
  select null::void;
$$;

-- AFTER INSERT: the first step is enqueued in the inserting transaction.
create function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.enqueue_step(new.id, 1);
  perform pg_notify('everruns:runs', new.id::text);
  return null;
end;
$$;
create trigger tg_runs__enqueue after insert on everruns.runs
  for each row execute function everruns_private.tg_runs__enqueue();

---------------------------------------------------------------------------------------------
-- Steps (checkpoints) and events.
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

---------------------------------------------------------------------------------------------
-- The step engine's transitions. Each takes the run's row lock first.
---------------------------------------------------------------------------------------------

-- Begins an attempt at step p_seq. Returns null when there is nothing to do (run finished,
-- cancelled, or the step already committed: a replayed job). Otherwise bumps the attempt
-- (fencing out any earlier attempt), closes what a dead attempt left open, and returns what
-- the worker needs to plan and run the step.
--
-- `steps` is the whole committed history only when the next step may be an LLM turn (which
-- needs the conversation) or a dead attempt must be superseded by a snapshot; while tool
-- calls of the last LLM turn are still unanswered it is just that turn and what followed.
-- Rebuilding the whole history for every tool step made a 200-step run's begin O(n): 1.7 ms
-- of a 4.8 ms step here, against 0.5 ms for a short run.
create function everruns_private.begin_step(p_run_id uuid, p_seq int) returns jsonb
  language plpgsql volatile
  as $$
declare
  v_run everruns.runs;
  v_closed jsonb := '[]';
  v_last_llm everruns.run_steps;
  v_llm_count int;
  v_from int := 1;
begin
  select * into v_run from everruns.runs where id = p_run_id for update;
  if not found or v_run.step_cursor <> p_seq
     or v_run.status not in ('queued', 'running', 'waiting') then
    return null;
  end if;
  -- Nothing here needs to survive a database crash: if this bump is lost, the attempt it
  -- started is fenced out all the same (its writes carry an attempt number the database no
  -- longer has) and the step simply begins again. So skip the fsync: only commits are durable.
  perform set_config('synchronous_commit', 'off', true);
  if v_run.event_seq > v_run.settled_event_seq then
    v_closed := everruns_private.settle_events_locked(v_run);
  end if;
  update everruns.runs
     set step_attempt = step_attempt + 1,
         status = 'running',
         started_at = coalesce(started_at, now()),
         step_started_at = now(),
         updated_at = now()
   where id = p_run_id
  returning * into v_run;

  select * into v_last_llm from everruns.run_steps s
   where s.run_id = p_run_id and s.kind = 'llm' and s.status = 'succeeded'
   order by s.seq desc limit 1;
  select count(*) into v_llm_count from everruns.run_steps s
   where s.run_id = p_run_id and s.kind = 'llm' and s.status = 'succeeded';
  if v_last_llm.seq is not null and jsonb_array_length(v_closed) = 0
     and jsonb_array_length(coalesce(v_last_llm.output -> 'tool_calls', '[]')) >
         (select count(*) from everruns.run_steps s where s.run_id = p_run_id and s.seq > v_last_llm.seq and s.kind = 'tool') then
    v_from := v_last_llm.seq;
  end if;

  return jsonb_build_object(
    'run', to_jsonb(v_run),
    'config', (select config from everruns.agent_versions where agent_id = v_run.agent_id and version = v_run.agent_version),
    'steps', (select coalesce(jsonb_agg(jsonb_build_object(
                'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status,
                'input', s.input, 'output', s.output) order by s.seq), '[]')
              from everruns.run_steps s where s.run_id = p_run_id and s.seq >= v_from),
    'history_complete', v_from = 1,
    'llm_count', v_llm_count,
    'closed', v_closed
  );
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

-- Commits step p_seq: checkpoint row, events, usage, and what comes next, in one transaction.
-- p_step:  {kind, name, status, input, output, error, usage: {input_tokens, output_tokens, cost_usd}}
-- p_events: the step's remaining events; for "fail" just the RUN_ERROR (open streams are closed here)
-- p_next:  {"type": "continue", "delay_ms"?: n}
--        | {"type": "succeed", "output": {...}}
--        | {"type": "fail", "error": {...}}
-- Returns false when this attempt lost the fence (nothing was written).
create function everruns_private.commit_step(p_run_id uuid, p_seq int, p_attempt int,
                                             p_step jsonb, p_events jsonb, p_next jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return false;
  end;
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at)
  values (p_run_id, p_seq, v_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(v_run.step_started_at, now()), now());
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(v_run, p_events);
  else
    perform everruns_private.append_events_locked(v_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8)),
         step_cursor = p_seq + 1,
         step_attempt = 0,
         step_errors = 0,
         step_started_at = null,
         updated_at = now()
   where id = p_run_id;
  case p_next ->> 'type'
    when 'continue' then
      perform everruns_private.enqueue_step(p_run_id, p_seq + 1,
        case when v_delay_ms > 0 then now() + make_interval(secs => v_delay_ms / 1000) end);
      if v_delay_ms > 0 then
        update everruns.runs set status = 'waiting' where id = p_run_id;
      end if;
    when 'succeed' then
      update everruns.runs set status = 'succeeded', output = p_next -> 'output', finished_at = now()
       where id = p_run_id;
    when 'fail' then
      update everruns.runs set status = 'failed', error = p_next -> 'error', finished_at = now()
       where id = p_run_id;
    else
      raise exception 'commit_step: unknown next type %', p_next ->> 'type';
  end case;
  return true;
end;
$$;

-- Gives step p_seq back to the queue without committing it: after a transient failure
-- (p_count_error, with a backoff delay) or when a worker shuts down (no delay). Closes what
-- the attempt opened and appends p_events (e.g. a retry notice).
create function everruns_private.reschedule_step(p_run_id uuid, p_seq int, p_attempt int,
                                                 p_delay_ms int, p_count_error boolean, p_events jsonb) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
begin
  begin
    v_run := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  exception when sqlstate 'EV004' then
    return false;
  end;
  perform everruns_private.settle_events_locked(v_run, p_events);
  update everruns.runs
     set step_errors = step_errors + case when p_count_error then 1 else 0 end,
         step_started_at = null,
         updated_at = now()
   where id = p_run_id;
  perform everruns_private.enqueue_step(p_run_id, p_seq,
    case when p_delay_ms > 0 then now() + make_interval(secs => p_delay_ms / 1000.0) end);
  return true;
end;
$$;

---------------------------------------------------------------------------------------------
-- Public functions.
---------------------------------------------------------------------------------------------

-- Cancels a run that has not finished: closes its open streams, appends RUN_ERROR, fences out
-- any attempt in flight and tells its worker to abort (NOTIFY everruns:cancel). Returns true
-- when this call cancelled it, false when it had already finished.
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
  if v_run.status in ('succeeded', 'failed', 'cancelled') then
    return false;
  end if;
  perform everruns_private.settle_events_locked(v_run,
    jsonb_build_array(jsonb_build_object('type', 'RUN_ERROR', 'message', 'The run was cancelled.', 'code', 'cancelled')));
  update everruns.runs r
     set status = 'cancelled',
         error = jsonb_build_object('code', 'cancelled', 'message', 'The run was cancelled.'),
         step_attempt = r.step_attempt + 1,
         finished_at = now(),
         updated_at = now()
   where r.id = cancel_run.run_id;
  perform graphile_worker.remove_job('run:' || cancel_run.run_id::text);
  perform pg_notify('everruns:cancel', cancel_run.run_id::text);
  return true;
end;
$$;
comment on function everruns.cancel_run(uuid) is 'Cancels a run; an in-flight LLM or tool call is aborted.';

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
  backend_start timestamptz not null,
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

create view everruns_private.live_workers as
  select w.* from everruns_private.workers w
  join pg_stat_activity a on a.pid = w.backend_pid and a.backend_start = w.backend_start;

-- Frees the jobs of dead pools and wakes the live ones. A job is only considered once it has
-- been locked for p_grace_ms, which covers the few milliseconds between a new pool locking
-- its first job and its liveness connection registering. Returns the pools it freed.
create function everruns_private.sweep_dead_workers(p_grace_ms int default 250) returns text[]
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_dead text[];
  v_jobs int;
begin
  select array_agg(distinct j.locked_by), count(*) into v_dead, v_jobs
  from graphile_worker._private_jobs j
  where j.locked_by is not null
    and j.locked_at < now() - make_interval(secs => p_grace_ms / 1000.0)
    and not exists (select 1 from everruns_private.live_workers w where w.pool_id = j.locked_by);
  if v_dead is null then
    return '{}';
  end if;
  perform graphile_worker.force_unlock_workers(v_dead);
  delete from everruns_private.workers w where w.pool_id = any (v_dead);
  -- A job whose key was taken over by a newer job of the same run (add_job does that to a
  -- locked job, and sets its attempts to max) will never run again: drop it now.
  delete from graphile_worker._private_jobs j
   where j.key is null and j.locked_at is null and j.attempts >= j.max_attempts
     and j.task_id = (select t.id from graphile_worker._private_tasks t where t.identifier = 'run_step');
  perform pg_notify('jobs:insert', json_build_object('count', v_jobs)::text);
  return v_dead;
end;
$$;

-- Safety net, run every few seconds by one worker: a run that should progress but has no job
-- (e.g. its job was removed by hand) gets one. The engine never leaves a run in that state by
-- itself; this keeps an operator's mistake from stranding a run forever.
create function everruns_private.repair_orphaned_runs() returns int
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run record;
  v_n int := 0;
begin
  for v_run in
    select r.id, r.step_cursor from everruns.runs r
    where r.status in ('queued', 'running', 'waiting')
      and r.updated_at < now() - interval '5 seconds'
      and not exists (select 1 from graphile_worker._private_jobs j where j.key = 'run:' || r.id::text)
    for update of r skip locked
  loop
    perform everruns_private.enqueue_step(v_run.id, v_run.step_cursor);
    v_n := v_n + 1;
  end loop;
  return v_n;
end;
$$;
