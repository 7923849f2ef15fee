-- MCP client tools (issue 17, second half): the tool lists of MCP servers, pinned per run, and a
-- record of every MCP tool call dispatched, so that a crash during a call is never mistaken for
-- a call that did not happen.
--
-- * everruns.mcp_tool_lists: one row per listing of an MCP server's tools (tools/list) for an
--   agent version, or per failed listing (error). A successful row is also the cache: a run of the
--   same agent version, server and endpoint may take a list fetched within the agent's
--   tool_list_ttl_s (the database clock, everruns_private.clock()) instead of listing again.
-- * everruns.run_mcp_tools: the list a run uses for each server, pinned by the first step that
--   needed it (fenced by its attempt; the first pin wins). A retried or resumed step reads the
--   pin, so the tools the model saw are the tools the run calls, whatever the server lists later.
-- * everruns.tool_dispatches: before a step calls an MCP tool it records the dispatch, keyed by
--   (the run whose LLM turn made the call, tool_call_id), durably. A later attempt that finds an
--   in-flight dispatch of an earlier attempt knows the outcome is unknown (the call may have had
--   its side effect) and decides what to do (the worker: retry, fail, or interrupt the run); a
--   failure that proves the request never reached the server settles it as not_delivered.
-- * everruns.mcp_servers: the console's view of an agent's servers (latest status, tools, error).
--
-- The worker writes through the everruns_private functions below (security invoker, like the
-- step engine's: the worker's engine policies and grants); the API and bound roles read.
-- Additive only: new tables, a view, new functions, bind_role replaced with the same signature.

---------------------------------------------------------------------------------------------
-- 1. Tables
---------------------------------------------------------------------------------------------
create table everruns.mcp_tool_lists (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references everruns.workspaces,
  -- a list belongs to its agent version: deleting the agent (possible once it has no runs, whose
  -- pins reference the lists) deletes its lists, as it deletes its versions
  agent_id uuid not null references everruns.agents on delete cascade,
  agent_version integer not null,
  server text not null check (server ~ '^[A-Za-z0-9_-]{1,64}$'),
  endpoint text not null check (char_length(endpoint) between 1 and 2000),
  tools jsonb check (tools is null or (jsonb_typeof(tools) = 'array' and octet_length(tools::text) <= 2097152)),
  server_info jsonb check (server_info is null or jsonb_typeof(server_info) = 'object'),
  tools_bytes integer,
  error text check (char_length(error) <= 2000),
  fetched_at timestamptz not null default everruns_private.clock(),
  constraint mcp_tool_lists_tools_or_error check ((tools is null) <> (error is null)),
  constraint mcp_tool_lists_agent_version_fkey foreign key (agent_id, agent_version)
    references everruns.agent_versions (agent_id, version) on delete cascade
);
comment on table everruns.mcp_tool_lists is E'@behavior -insert -update -delete\nEach listing of an MCP server''s tools for an agent version (tools), or a failed one (error). Runs pin one per server (everruns.run_mcp_tools); a recent successful list of the same agent version, server and endpoint is reused within the server''s tool_list_ttl_s.';
comment on column everruns.mcp_tool_lists.server is 'The MCP server''s name in the agent config (its tools are <server>__<tool> to the model).';
comment on column everruns.mcp_tool_lists.endpoint is 'The server''s URL, or stdio:<command> for a local process.';
comment on column everruns.mcp_tool_lists.tools is 'The MCP Tool objects as the server listed them (a JSON array, at most 2 MiB); null for a failed listing.';
comment on column everruns.mcp_tool_lists.server_info is 'The server''s serverInfo from its initialize answer (name, version), if any.';
comment on column everruns.mcp_tool_lists.tools_bytes is 'The size of tools as JSON text, in bytes.';
comment on column everruns.mcp_tool_lists.error is 'Why listing failed (at most 2000 characters); null for a successful listing.';
comment on column everruns.mcp_tool_lists.fetched_at is 'When the server was listed (the database clock).';
-- the cache lookup (cached_mcp_tool_list): the newest successful list of a key
create index mcp_tool_lists_cache_idx on everruns.mcp_tool_lists (agent_id, agent_version, server, endpoint, fetched_at desc, id desc)
  where error is null;
-- the console (everruns.mcp_servers): a workspace's servers per agent, newest first (row-level
-- security's workspace_id = … is this index's first column)
create index mcp_tool_lists_console_idx on everruns.mcp_tool_lists (workspace_id, agent_id, server, fetched_at desc, id desc);

create table everruns.run_mcp_tools (
  run_id uuid not null references everruns.runs on delete cascade,
  server text not null check (server ~ '^[A-Za-z0-9_-]{1,64}$'),
  list_id bigint not null references everruns.mcp_tool_lists,
  workspace_id uuid not null references everruns.workspaces,
  pinned_at timestamptz not null default everruns_private.clock(),
  primary key (run_id, server)
);
comment on table everruns.run_mcp_tools is E'@behavior -insert -update -delete\nThe tool list a run uses for each MCP server, pinned by the first step that needed it: retried and resumed steps see the same tools.';
create index run_mcp_tools_list_idx on everruns.run_mcp_tools (list_id);

create table everruns.tool_dispatches (
  run_id uuid not null references everruns.runs on delete cascade,
  tool_call_id text not null check (char_length(tool_call_id) between 1 and 200),
  workspace_id uuid not null references everruns.workspaces,
  tool_name text not null check (char_length(tool_name) between 1 and 200),
  dispatches integer not null default 1 check (dispatches >= 1),
  first_dispatched_at timestamptz not null default everruns_private.clock(),
  last_dispatched_at timestamptz not null default everruns_private.clock(),
  -- no foreign key: bookkeeping of the run that called, not a link to keep
  last_run_id uuid not null,
  last_seq integer not null,
  last_attempt integer not null,
  authorized_by text check (char_length(authorized_by) <= 200),
  state text not null default 'in_flight' check (state in ('in_flight', 'not_delivered')),
  primary key (run_id, tool_call_id)
);
comment on table everruns.tool_dispatches is E'@behavior -insert -update -delete\nMCP tool calls dispatched, recorded durably before each call: a later attempt that finds one in flight knows its outcome is unknown. run_id is the run whose LLM turn made the call.';
comment on column everruns.tool_dispatches.dispatches is 'How many times the call was sent (each attempt that called it).';
comment on column everruns.tool_dispatches.last_run_id is 'The run whose step sent the call last: the turn''s run, or a later run of its thread (after an answer to the interrupt).';
comment on column everruns.tool_dispatches.authorized_by is 'What allowed sending it again (an answer''s interrupt id), or null.';
comment on column everruns.tool_dispatches.state is 'in_flight: sent, outcome unknown until the step commits; not_delivered: the request surely never reached the server.';

-- GraphQL: no Workspace.…ByWorkspaceId connections (row-level security scopes the root lists), and
-- no new connections on Run, Agent and AgentVersion (every query of those types would grow; the
-- root lists take a condition instead: allRunMcpTools(condition: {runId}), allToolDispatches(…),
-- allMcpToolLists(condition: {agentId}), allMcpServers(condition: {agentId})).
comment on constraint mcp_tool_lists_workspace_id_fkey on everruns.mcp_tool_lists is '@backwardBehavior -*';
comment on constraint mcp_tool_lists_agent_id_fkey on everruns.mcp_tool_lists is '@backwardBehavior -*';
comment on constraint mcp_tool_lists_agent_version_fkey on everruns.mcp_tool_lists is '@backwardBehavior -*';
comment on constraint run_mcp_tools_workspace_id_fkey on everruns.run_mcp_tools is '@backwardBehavior -*';
comment on constraint run_mcp_tools_run_id_fkey on everruns.run_mcp_tools is '@backwardBehavior -*';
comment on constraint tool_dispatches_workspace_id_fkey on everruns.tool_dispatches is '@backwardBehavior -*';
comment on constraint tool_dispatches_run_id_fkey on everruns.tool_dispatches is '@backwardBehavior -*';

---------------------------------------------------------------------------------------------
-- 2. The console's view: an agent's MCP servers
---------------------------------------------------------------------------------------------
-- One row per (workspace, agent, server) ever listed: the latest listing's endpoint and status,
-- the latest successful list (its tools, when, how many runs pinned it) and the latest failure.
-- Each column is an index lookup of mcp_tool_lists_console_idx (run_mcp_tools_list_idx for the
-- pins); the rows of the caller's workspace only (security_invoker: row-level security applies).
create view everruns.mcp_servers with (security_invoker = true) as
  select k.workspace_id,
         k.agent_id,
         a.name as agent_name,
         k.server,
         latest.endpoint,
         case when latest.error is null then 'ok' else 'error' end as status,
         ok.tools,
         jsonb_array_length(ok.tools) as tool_count,
         ok.fetched_at as listed_at,
         failed.error as last_error,
         failed.fetched_at as last_error_at,
         (select count(*)::integer from everruns.run_mcp_tools p where p.list_id = ok.id) as pinned_runs
    from (select distinct l.workspace_id, l.agent_id, l.server from everruns.mcp_tool_lists l) k
    join everruns.agents a on a.id = k.agent_id
   cross join lateral (select l.endpoint, l.error from everruns.mcp_tool_lists l
                        where l.workspace_id = k.workspace_id and l.agent_id = k.agent_id and l.server = k.server
                        order by l.fetched_at desc, l.id desc limit 1) latest
    left join lateral (select l.id, l.tools, l.fetched_at from everruns.mcp_tool_lists l
                        where l.workspace_id = k.workspace_id and l.agent_id = k.agent_id and l.server = k.server
                          and l.error is null
                        order by l.fetched_at desc, l.id desc limit 1) ok on true
    left join lateral (select l.error, l.fetched_at from everruns.mcp_tool_lists l
                        where l.workspace_id = k.workspace_id and l.agent_id = k.agent_id and l.server = k.server
                          and l.error is not null
                        order by l.fetched_at desc, l.id desc limit 1) failed on true;
comment on view everruns.mcp_servers is E'@primaryKey workspace_id,agent_id,server\n@foreignKey (agent_id) references everruns.agents (id)|@fieldName agent|@backwardBehavior -*\n@behavior -insert -update -delete\nThe MCP servers of each agent that listed one: the latest listing''s status (ok or error), the latest successful list''s tools and how many runs pinned it, the latest error.';
comment on column everruns.mcp_servers.status is 'ok: the latest listing succeeded; error: it failed (last_error).';
comment on column everruns.mcp_servers.tools is 'The latest successful list''s MCP Tool objects (null: never listed successfully).';
comment on column everruns.mcp_servers.listed_at is 'When the latest successful list was fetched.';
comment on column everruns.mcp_servers.pinned_runs is 'How many runs use the latest successful list.';

---------------------------------------------------------------------------------------------
-- 3. Row-level security and grants of the tables
---------------------------------------------------------------------------------------------
do $$
declare
  v_table text;
begin
  foreach v_table in array array['mcp_tool_lists', 'run_mcp_tools', 'tool_dispatches'] loop
    execute format('alter table everruns.%I enable row level security', v_table);
    execute format('alter table everruns.%I force row level security', v_table);
    execute format(
      'create policy in_workspace on everruns.%I using (workspace_id = (select everruns_private.current_workspace_id())) '
      'with check (workspace_id = (select everruns_private.current_workspace_id()))', v_table);
    execute format('create policy engine on everruns.%I to everruns_worker, %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;

revoke all on everruns.mcp_tool_lists, everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant select on everruns.mcp_tool_lists, everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    -- the functions below are security invoker: they write with the worker's rights
    grant select, insert on everruns.mcp_tool_lists, everruns.run_mcp_tools to everruns_worker;
    grant select, insert, update on everruns.tool_dispatches to everruns_worker;
    grant select on everruns.mcp_servers to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 4. Pinned tool lists
---------------------------------------------------------------------------------------------
-- A run's pinned lists, one per server.
create function everruns_private.pinned_mcp_tools(p_run_id uuid)
returns table (server text, list_id bigint, tools jsonb, server_info jsonb, fetched_at timestamptz)
language sql stable as $$
  select p.server, l.id, l.tools, l.server_info, l.fetched_at
    from everruns.run_mcp_tools p join everruns.mcp_tool_lists l on l.id = p.list_id
   where p.run_id = p_run_id
   order by p.server
$$;

-- The newest successful list of the run's agent version for the server and endpoint, fetched at
-- most p_max_age_seconds ago by the database clock; none when p_max_age_seconds is 0 (or less).
create function everruns_private.cached_mcp_tool_list(p_run_id uuid, p_server text, p_endpoint text,
                                                      p_max_age_seconds double precision)
returns table (list_id bigint, tools jsonb, server_info jsonb, fetched_at timestamptz)
language sql stable as $$
  select l.id, l.tools, l.server_info, l.fetched_at
    from everruns.runs r
    join everruns.mcp_tool_lists l
      on l.agent_id = r.agent_id and l.agent_version = r.agent_version and l.server = p_server
     and l.endpoint = p_endpoint and l.error is null
   where r.id = p_run_id and p_max_age_seconds > 0
     and l.fetched_at >= everruns_private.clock() - make_interval(secs => p_max_age_seconds)
   order by l.fetched_at desc, l.id desc
   limit 1
$$;

-- Pins a tool list for (run, server), fenced by the step attempt (EV004 when stale). A pin that
-- exists is returned unchanged (the first pin wins: a step retried after a crash gets the list
-- its first attempt gave the model). Else p_list_id, when given (a cached list: a successful list
-- of the run's workspace, agent version and server), or a new list of p_endpoint, p_tools (a JSON
-- array) and p_server_info is pinned, and returned. Durable before it returns, as every engine
-- transaction (000019).
create function everruns_private.pin_mcp_tool_list(p_run_id uuid, p_seq integer, p_attempt integer, p_server text,
                                                   p_list_id bigint, p_endpoint text, p_tools jsonb, p_server_info jsonb)
returns table (list_id bigint, tools jsonb, server_info jsonb, fetched_at timestamptz)
language plpgsql volatile as $$
declare
  v_run everruns.runs := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  v_list everruns.mcp_tool_lists;
begin
  if current_setting('synchronous_commit') = 'off' then
    perform set_config('synchronous_commit', 'on', true);
  end if;
  select l.* into v_list
    from everruns.run_mcp_tools p join everruns.mcp_tool_lists l on l.id = p.list_id
   where p.run_id = p_run_id and p.server = p_server;
  if found then
    return query select v_list.id, v_list.tools, v_list.server_info, v_list.fetched_at;
    return;
  end if;
  if p_list_id is not null then
    select * into v_list from everruns.mcp_tool_lists l where l.id = p_list_id;
    if not found or v_list.workspace_id <> v_run.workspace_id or v_list.agent_id <> v_run.agent_id
       or v_list.agent_version <> v_run.agent_version or v_list.server <> p_server or v_list.error is not null then
      raise exception 'tool list % is not a successful list of MCP server % for agent % version %',
        p_list_id, p_server, v_run.agent_id, v_run.agent_version
        using errcode = 'EV005', hint = 'Pin a list that cached_mcp_tool_list returned for this run, or pass null and the tools.';
    end if;
  else
    if p_tools is null or jsonb_typeof(p_tools) <> 'array' then
      raise exception 'the tools of MCP server % must be a JSON array, got %', p_server, coalesce(jsonb_typeof(p_tools), 'null')
        using errcode = '22023', hint = 'Pass the tools/list result''s tools array.';
    end if;
    insert into everruns.mcp_tool_lists (workspace_id, agent_id, agent_version, server, endpoint, tools, server_info, tools_bytes)
    values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, p_server, p_endpoint, p_tools,
            case when jsonb_typeof(p_server_info) = 'object' then p_server_info end, octet_length(p_tools::text))
    returning * into v_list;
  end if;
  insert into everruns.run_mcp_tools (run_id, server, list_id, workspace_id)
  values (p_run_id, p_server, v_list.id, v_run.workspace_id);
  return query select v_list.id, v_list.tools, v_list.server_info, v_list.fetched_at;
end;
$$;

-- A failed listing of the run's agent version (for the console; a failed list is never pinned or
-- reused). Not fenced: it records what a server answered, whichever attempt asked.
create function everruns_private.record_mcp_list_failure(p_run_id uuid, p_server text, p_endpoint text, p_error text)
returns void language plpgsql volatile as $$
declare
  v_run everruns.runs;
begin
  select * into v_run from everruns.runs r where r.id = p_run_id;
  if not found then
    raise exception 'unknown run %', p_run_id using errcode = 'EV005';
  end if;
  insert into everruns.mcp_tool_lists (workspace_id, agent_id, agent_version, server, endpoint, error)
  values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, p_server, left(p_endpoint, 2000),
          left(coalesce(nullif(p_error, ''), 'unknown error'), 2000));
end;
$$;

---------------------------------------------------------------------------------------------
-- 5. Tool dispatches
---------------------------------------------------------------------------------------------
-- A tool call's dispatch record; no row: it was never dispatched.
create function everruns_private.tool_dispatch(p_turn_run_id uuid, p_tool_call_id text)
returns table (dispatches integer, state text, authorized_by text, last_run_id uuid, last_seq integer, last_attempt integer,
               first_dispatched_at timestamptz, last_dispatched_at timestamptz)
language sql stable as $$
  select d.dispatches, d.state, d.authorized_by, d.last_run_id, d.last_seq, d.last_attempt, d.first_dispatched_at, d.last_dispatched_at
    from everruns.tool_dispatches d
   where d.run_id = p_turn_run_id and d.tool_call_id = p_tool_call_id
$$;

-- Records that step p_seq attempt p_attempt of p_run_id is about to send tool call p_tool_call_id
-- of p_turn_run_id's LLM turn (the same run, or an earlier run of its thread): fenced (EV004), one
-- more dispatch, in flight. Returns the dispatch count. The record that a side effect may have
-- happened must survive a crash: the transaction is durable before it returns (synchronous commit
-- at least on, whatever the session's setting), so call it outside any transaction of your own.
create function everruns_private.mark_tool_dispatched(p_run_id uuid, p_seq integer, p_attempt integer, p_turn_run_id uuid,
                                                      p_tool_call_id text, p_tool_name text, p_authorized_by text)
returns integer language plpgsql volatile as $$
declare
  v_run everruns.runs := everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  v_turn_thread uuid;
  v_now timestamptz := everruns_private.clock();
  v_dispatches integer;
begin
  if current_setting('synchronous_commit') = 'off' then
    perform set_config('synchronous_commit', 'on', true);
  end if;
  if p_turn_run_id <> p_run_id then
    select r.thread_id into v_turn_thread from everruns.runs r where r.id = p_turn_run_id;
    if v_turn_thread is distinct from v_run.thread_id then
      raise exception 'run % is not of the thread of run % (a tool call belongs to a run of the same thread)', p_turn_run_id, p_run_id
        using errcode = 'EV005', hint = 'Pass the run whose LLM turn made the call: this run or an earlier run of its thread.';
    end if;
  end if;
  insert into everruns.tool_dispatches as d (run_id, tool_call_id, workspace_id, tool_name, dispatches, first_dispatched_at,
                                             last_dispatched_at, last_run_id, last_seq, last_attempt, authorized_by, state)
  values (p_turn_run_id, p_tool_call_id, v_run.workspace_id, p_tool_name, 1, v_now, v_now, p_run_id, p_seq, p_attempt,
          p_authorized_by, 'in_flight')
  on conflict (run_id, tool_call_id) do update
    set dispatches = d.dispatches + 1, tool_name = excluded.tool_name, last_dispatched_at = excluded.last_dispatched_at,
        last_run_id = excluded.last_run_id, last_seq = excluded.last_seq, last_attempt = excluded.last_attempt,
        authorized_by = excluded.authorized_by, state = 'in_flight'
  returning d.dispatches into v_dispatches;
  return v_dispatches;
end;
$$;

-- The call of dispatch number p_dispatches surely never reached the server (connection refused,
-- DNS, 429/503 before any processing): the next attempt may simply call again. Fenced (EV004);
-- only when no later dispatch of the call happened meanwhile. Returns whether it settled it.
create function everruns_private.settle_tool_dispatch(p_run_id uuid, p_seq integer, p_attempt integer, p_turn_run_id uuid,
                                                      p_tool_call_id text, p_dispatches integer)
returns boolean language plpgsql volatile as $$
begin
  perform everruns_private.lock_attempt(p_run_id, p_seq, p_attempt);
  update everruns.tool_dispatches d set state = 'not_delivered'
   where d.run_id = p_turn_run_id and d.tool_call_id = p_tool_call_id and d.dispatches = p_dispatches and d.state = 'in_flight';
  return found;
end;
$$;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function
      everruns_private.pinned_mcp_tools(uuid),
      everruns_private.cached_mcp_tool_list(uuid, text, text, double precision),
      everruns_private.pin_mcp_tool_list(uuid, integer, integer, text, bigint, text, jsonb, jsonb),
      everruns_private.record_mcp_list_failure(uuid, text, text, text),
      everruns_private.tool_dispatch(uuid, text),
      everruns_private.mark_tool_dispatched(uuid, integer, integer, uuid, text, text, text),
      everruns_private.settle_tool_dispatch(uuid, integer, integer, uuid, text, integer)
      to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 6. Bound roles
---------------------------------------------------------------------------------------------
-- 000026's bind_role, and MCP: bound roles read the tool lists, pins, dispatches and servers
-- (read and write access alike: the worker writes them). unbind_role needs no change: it revokes
-- everything on every table and view of the schema.
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
                 'everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers to %I', v_role);  -- 000013: run_attempts; 000025: batches; 000026: triggers; 000027: MCP
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
