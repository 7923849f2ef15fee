-- OAuth 2.1 for MCP servers that require it (issue 17): an operator connects a workspace to an
-- MCP server once (authorization code + PKCE, dynamic client registration where the server offers
-- it; POST /api/mcp/oauth/connect, then the browser comes back to GET /api/mcp/oauth/callback), and
-- the workspace's runs use the tokens from then on; workers refresh them.
--
-- * everruns.mcp_oauth_connections: one row per (workspace, server URL). The tokens, the client's
--   registration (its client_secret, if any) and the PKCE verifier are sealed with
--   EVERRUNS_SECRET_KEY (lib/secret-box.ts, bound to the workspace and the URL) and never readable
--   by the API's role, GraphQL or bound roles: the API seals and opens them inside the functions'
--   callers (the connect and the callback), workers open the tokens at step time.
-- * `state` is the callback's only credential: random (≥ 32 bytes), unique, valid 10 minutes by
--   the database clock (state_expires_at), cleared once used.
-- * Functions: begin (API, operator: upsert the flow's state, verifier and client), by state
--   (security definer: the unauthenticated callback's read), complete (tokens stored, connected),
--   callback failed, disconnect (API, operator); the worker's read, store of refreshed tokens and
--   mark failed (a refresh refused).
-- * Audit: mcp.connected {server_url, scopes}, mcp.disconnected {server_url}.
--
-- Additive only: a new table, new functions, a wider audit check.

---------------------------------------------------------------------------------------------
-- 1. The table
---------------------------------------------------------------------------------------------
create table everruns.mcp_oauth_connections (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  server_url text not null check (char_length(server_url) between 1 and 2000),
  status text not null default 'pending' check (status in ('pending', 'connected', 'failed')),
  scopes text[] not null default '{}' check (cardinality(scopes) <= 64),
  -- public: the client id the authorization server registered (or the operator gave)
  client_id text check (char_length(client_id) <= 1000),
  -- sealed (lib/secret-box.ts): the client's registration as JSON (client_secret included)
  client_information_sealed bytea,
  -- sealed: the OAuth tokens as JSON (access_token, refresh_token, expires_in, …)
  tokens_sealed bytea,
  -- sealed: the PKCE code verifier of the flow under way
  code_verifier_sealed bytea,
  -- the flow under way's client (registered for it, or given): the connection's once it completes
  flow_client_id text check (char_length(flow_client_id) <= 1000),
  flow_client_sealed bytea,
  state text check (char_length(state) between 43 and 200),
  state_expires_at timestamptz,
  redirect_uri text check (char_length(redirect_uri) <= 2000),
  -- the actor who began the flow under way (the callback has no API key: it acts for them)
  begun_by text check (char_length(begun_by) <= 200),
  expires_at timestamptz,
  connected_at timestamptz,
  connected_by text check (char_length(connected_by) <= 200),
  last_refreshed_at timestamptz,
  last_error text check (char_length(last_error) <= 2000),
  -- bumped by every completed connect: workers key their pooled connections on it, and a worker's
  -- refresh of an older grant never overwrites a newer one
  generation integer not null default 0,
  created_at timestamptz not null default everruns_private.clock(),
  updated_at timestamptz not null default everruns_private.clock(),
  constraint mcp_oauth_connections_workspace_url_key unique (workspace_id, server_url),
  constraint mcp_oauth_connections_state_pair check ((state is null) = (state_expires_at is null))
);
create unique index mcp_oauth_connections_state_key on everruns.mcp_oauth_connections (state) where state is not null;

comment on table everruns.mcp_oauth_connections is E'@behavior -insert -update -delete\nA workspace''s OAuth connections to MCP servers that require it: connected once by an operator (POST /api/mcp/oauth/connect), used and refreshed by workers. Tokens and client secrets are sealed and never shown.';
comment on column everruns.mcp_oauth_connections.server_url is 'The MCP server''s URL, as the agent config names it.';
comment on column everruns.mcp_oauth_connections.status is 'pending: a connect was begun and not completed; connected: runs use its tokens; failed: the tokens were refused (connect again).';
comment on column everruns.mcp_oauth_connections.scopes is 'The scopes asked for (empty: the server''s own choice).';
comment on column everruns.mcp_oauth_connections.client_id is 'The OAuth client id Everruns uses with the server''s authorization server.';
comment on column everruns.mcp_oauth_connections.client_information_sealed is E'@behavior -*\nSealed. Never readable outside the API''s connect and the worker.';
comment on column everruns.mcp_oauth_connections.tokens_sealed is E'@behavior -*\nSealed. Never readable outside the worker.';
comment on column everruns.mcp_oauth_connections.code_verifier_sealed is E'@behavior -*\nSealed. Never readable outside the callback.';
comment on column everruns.mcp_oauth_connections.flow_client_id is E'@behavior -*\nThe client id of the flow under way.';
comment on column everruns.mcp_oauth_connections.flow_client_sealed is E'@behavior -*\nSealed. The client of the flow under way.';
comment on column everruns.mcp_oauth_connections.state is E'@behavior -*\nThe callback''s credential. Never shown.';
comment on column everruns.mcp_oauth_connections.state_expires_at is E'@behavior -*\nWhen the state expires.';
comment on column everruns.mcp_oauth_connections.redirect_uri is E'@behavior -*\nThe callback URL given to the authorization server.';
comment on column everruns.mcp_oauth_connections.begun_by is E'@behavior -*\nWho began the flow under way.';
comment on column everruns.mcp_oauth_connections.generation is E'@behavior -*\nBumped by every completed connect.';
comment on column everruns.mcp_oauth_connections.expires_at is 'When the current access token expires (null: unknown, or not connected).';
comment on column everruns.mcp_oauth_connections.connected_at is 'When the connection was last completed.';
comment on column everruns.mcp_oauth_connections.connected_by is 'Who began that connect (key:<id> or db:<role>).';
comment on column everruns.mcp_oauth_connections.last_refreshed_at is 'When a worker last refreshed the tokens.';
comment on column everruns.mcp_oauth_connections.last_error is 'Why the last connect or refresh failed.';
comment on constraint mcp_oauth_connections_workspace_id_fkey on everruns.mcp_oauth_connections is '@backwardBehavior -*';

do $$
begin
  execute 'alter table everruns.mcp_oauth_connections enable row level security';
  execute 'alter table everruns.mcp_oauth_connections force row level security';
  execute 'create policy in_workspace on everruns.mcp_oauth_connections using (workspace_id = (select everruns_private.current_workspace_id())) '
          'with check (workspace_id = (select everruns_private.current_workspace_id()))';
  execute format('create policy engine on everruns.mcp_oauth_connections to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;

revoke all on everruns.mcp_oauth_connections from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    -- never the sealed columns, the state or the verifier
    grant select (id, workspace_id, server_url, status, scopes, client_id, expires_at, connected_at, connected_by,
                  last_refreshed_at, last_error, created_at, updated_at) on everruns.mcp_oauth_connections to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant select, update on everruns.mcp_oauth_connections to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 2. Audit actions
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
    'notification.resent',
    'mcp.connected', 'mcp.disconnected')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, key.created, key.revoked, role.bound, role.unbound, batch.created, batch.started, batch.paused, batch.resumed, batch.cancelled, batch.retried, batch.parallel_set, schedule.created, schedule.updated, schedule.paused, schedule.resumed, schedule.deleted, webhook.created, webhook.updated, webhook.deleted, notification_endpoint.created, notification_endpoint.updated, notification_endpoint.deleted, notification.resent, mcp.connected, mcp.disconnected.';

---------------------------------------------------------------------------------------------
-- 3. The API's functions: begin, by state, complete, callback failed, disconnect
---------------------------------------------------------------------------------------------
-- Begins (or begins again) a connect of the current workspace to p_server_url: the row's flow
-- state, its sealed verifier and client, valid 10 minutes. A connection that works keeps its
-- tokens and status until the new flow completes. Returns when the state expires.
create function everruns_private.begin_mcp_oauth(p_server_url text, p_scopes text[], p_client_id text,
                                                 p_client_information_sealed bytea, p_code_verifier_sealed bytea,
                                                 p_state text, p_redirect_uri text)
returns timestamptz
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_workspace uuid := everruns_private.current_workspace_id();
  v_until timestamptz := everruns_private.clock() + interval '10 minutes';
begin
  if v_workspace is null then
    raise exception 'no current workspace' using errcode = 'EV005', hint = 'Call it through the API (an operator''s key).';
  end if;
  if p_state is null or char_length(p_state) < 43 then
    raise exception 'an OAuth state must be at least 32 random bytes (43 base64url characters)' using errcode = '22023';
  end if;
  insert into everruns.mcp_oauth_connections as c (workspace_id, server_url, status, scopes, flow_client_id, flow_client_sealed,
                                                   code_verifier_sealed, state, state_expires_at, redirect_uri, begun_by)
  values (v_workspace, p_server_url, 'pending', coalesce(p_scopes, '{}'), p_client_id, p_client_information_sealed,
          p_code_verifier_sealed, p_state, v_until, p_redirect_uri,
          coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user))
  on conflict on constraint mcp_oauth_connections_workspace_url_key do update
    set status = case when c.status = 'connected' and c.tokens_sealed is not null then 'connected' else 'pending' end,
        scopes = excluded.scopes, flow_client_id = excluded.flow_client_id, flow_client_sealed = excluded.flow_client_sealed,
        code_verifier_sealed = excluded.code_verifier_sealed, state = excluded.state,
        state_expires_at = excluded.state_expires_at, redirect_uri = excluded.redirect_uri, begun_by = excluded.begun_by,
        updated_at = everruns_private.clock();
  return v_until;
end;
$$;

-- The flow of an unexpired state (the unauthenticated callback's read: the state is its
-- credential), with its workspace's name. No row: unknown, used or expired.
create function everruns_private.mcp_oauth_by_state(p_state text)
returns table (id uuid, workspace_id uuid, workspace_name text, server_url text, scopes text[], client_id text,
               client_information_sealed bytea, code_verifier_sealed bytea, redirect_uri text)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.id, c.workspace_id, w.name, c.server_url, c.scopes, c.flow_client_id,
         c.flow_client_sealed, c.code_verifier_sealed, c.redirect_uri
    from everruns.mcp_oauth_connections c
    join everruns.workspaces w on w.id = c.workspace_id
   where p_state is not null and c.state = p_state and c.state_expires_at > everruns_private.clock()
$$;

-- Generations of connections, unique across every row ever (a reconnect after a disconnect is a
-- new row: a refresh of the old grant must never match it).
create sequence everruns_private.mcp_oauth_generations;

-- When tokens that expire in p_expires_in seconds (the server's word) expire, by the database
-- clock: null when the server gave none, at most a year ahead (a huge value is not a date).
create function everruns_private.mcp_oauth_expiry(p_expires_in double precision) returns timestamptz
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
  select case when p_expires_in is null then null
              else everruns_private.clock() + make_interval(secs => least(greatest(p_expires_in, 0), 31536000)) end
$$;
grant execute on function everruns_private.mcp_oauth_expiry(double precision) to everruns_api, everruns_worker;

-- Completes the flow of p_state (unexpired): the tokens (sealed; the access token expires in
-- p_expires_in seconds by the database clock, null: unknown), the flow's client (sealed:
-- p_client_information_sealed, or the one begin stored), status connected, a new generation, the state and verifier cleared; audited
-- mcp.connected as the actor who began it. False when the state is unknown, used or expired.
create function everruns_private.complete_mcp_oauth(p_state text, p_tokens_sealed bytea, p_client_information_sealed bytea,
                                                    p_expires_in double precision)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row everruns.mcp_oauth_connections;
begin
  if current_setting('synchronous_commit') = 'off' then
    perform set_config('synchronous_commit', 'on', true);
  end if;
  update everruns.mcp_oauth_connections c
     set status = 'connected', tokens_sealed = p_tokens_sealed,
         client_information_sealed = coalesce(p_client_information_sealed, c.flow_client_sealed), client_id = c.flow_client_id,
         flow_client_id = null, flow_client_sealed = null,
         expires_at = everruns_private.mcp_oauth_expiry(p_expires_in), connected_at = everruns_private.clock(), connected_by = c.begun_by,
         generation = nextval('everruns_private.mcp_oauth_generations'), last_error = null, state = null, state_expires_at = null,
         code_verifier_sealed = null, updated_at = everruns_private.clock()
   where p_state is not null and c.state = p_state and c.state_expires_at > everruns_private.clock()
  returning c.* into v_row;
  if not found then
    return false;
  end if;
  -- the callback has no API key: the audit row names who began the connect
  perform set_config('everruns.actor', coalesce(v_row.begun_by, ''), true);
  perform everruns_private.audit_append(v_row.workspace_id, 'mcp.connected', 'mcp_oauth_connection', v_row.id::text,
    jsonb_build_object('server_url', v_row.server_url, 'scopes', to_jsonb(v_row.scopes)));
  return true;
end;
$$;

-- The flow of p_state failed (the authorization server's error, a refused code): its state and
-- verifier are cleared, last_error set; a connection with working tokens stays connected, else
-- it is failed. False when the state is unknown, used or expired.
create function everruns_private.fail_mcp_oauth_flow(p_state text, p_error text)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update everruns.mcp_oauth_connections c
     set status = case when c.status = 'connected' and c.tokens_sealed is not null then 'connected' else 'failed' end,
         last_error = left(coalesce(nullif(p_error, ''), 'the connect failed'), 2000), state = null, state_expires_at = null,
         code_verifier_sealed = null, flow_client_id = null, flow_client_sealed = null, updated_at = everruns_private.clock()
   where p_state is not null and c.state = p_state and c.state_expires_at > everruns_private.clock();
  return found;
end;
$$;

-- Disconnects the current workspace from p_server_url (its tokens deleted); audited
-- mcp.disconnected. False when there was no connection.
create function everruns_private.disconnect_mcp_oauth(p_server_url text)
returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_workspace uuid := everruns_private.current_workspace_id();
  v_row everruns.mcp_oauth_connections;
begin
  delete from everruns.mcp_oauth_connections c
   where c.workspace_id = v_workspace and c.server_url = p_server_url
  returning c.* into v_row;
  if not found then
    return false;
  end if;
  perform everruns_private.audit_append(v_row.workspace_id, 'mcp.disconnected', 'mcp_oauth_connection', v_row.id::text,
    jsonb_build_object('server_url', v_row.server_url));
  return true;
end;
$$;

---------------------------------------------------------------------------------------------
-- 4. The worker's functions (security invoker: the worker's engine policy and grants)
---------------------------------------------------------------------------------------------
-- A workspace's connection to p_server_url as the worker uses it (sealed tokens and client).
create function everruns_private.mcp_oauth_tokens(p_workspace_id uuid, p_server_url text)
returns table (id uuid, status text, scopes text[], client_id text, client_information_sealed bytea, tokens_sealed bytea,
               generation integer, expires_at timestamptz)
language sql stable as $$
  select c.id, c.status, c.scopes, c.client_id, c.client_information_sealed, c.tokens_sealed, c.generation, c.expires_at
    from everruns.mcp_oauth_connections c
   where c.workspace_id = p_workspace_id and c.server_url = p_server_url
$$;

-- Stores tokens a worker refreshed (expiring in p_expires_in seconds by the database clock; and the client, when the SDK restamped it; null keeps the
-- row's), for the grant of p_generation only (a connect completed since wins). Concurrent
-- refreshes of one grant: the last one wins. True when stored.
create function everruns_private.store_mcp_oauth_tokens(p_workspace_id uuid, p_server_url text, p_generation integer,
                                                        p_tokens_sealed bytea, p_client_information_sealed bytea,
                                                        p_expires_in double precision)
returns boolean language plpgsql volatile as $$
begin
  update everruns.mcp_oauth_connections c
     set tokens_sealed = p_tokens_sealed, client_information_sealed = coalesce(p_client_information_sealed, c.client_information_sealed),
         expires_at = everruns_private.mcp_oauth_expiry(p_expires_in), last_refreshed_at = everruns_private.clock(), status = 'connected', last_error = null,
         updated_at = everruns_private.clock()
   where c.workspace_id = p_workspace_id and c.server_url = p_server_url and c.generation = p_generation;
  return found;
end;
$$;

-- The server refused the tokens p_tokens_sealed (a refresh refused): the connection is failed,
-- its tokens deleted, unless they changed meanwhile (another worker's refresh, a new connect).
-- True when marked.
create function everruns_private.fail_mcp_oauth_tokens(p_workspace_id uuid, p_server_url text, p_tokens_sealed bytea, p_error text)
returns boolean language plpgsql volatile as $$
begin
  update everruns.mcp_oauth_connections c
     set status = 'failed', tokens_sealed = null, expires_at = null,
         last_error = left(coalesce(nullif(p_error, ''), 'the server refused the tokens'), 2000), updated_at = everruns_private.clock()
   where c.workspace_id = p_workspace_id and c.server_url = p_server_url and c.tokens_sealed = p_tokens_sealed;
  return found;
end;
$$;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function
      everruns_private.begin_mcp_oauth(text, text[], text, bytea, bytea, text, text),
      everruns_private.mcp_oauth_by_state(text),
      everruns_private.complete_mcp_oauth(text, bytea, bytea, double precision),
      everruns_private.fail_mcp_oauth_flow(text, text),
      everruns_private.disconnect_mcp_oauth(text)
      to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function
      everruns_private.mcp_oauth_tokens(uuid, text),
      everruns_private.store_mcp_oauth_tokens(uuid, text, integer, bytea, bytea, double precision),
      everruns_private.fail_mcp_oauth_tokens(uuid, text, bytea, text)
      to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 5. The API reads one named secret of its own workspace for a connect's client secret
---------------------------------------------------------------------------------------------
-- POST /api/mcp/oauth/connect {client_secret_name}: the API opens the secret to seal it into the
-- connection's client (the callback exchanges the code with it). Only the current workspace's
-- (the request's key), only by name; the API process never answers it.
create function everruns_private.mcp_oauth_client_secret(p_name text)
returns bytea
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.ciphertext from everruns.secrets s
   where s.workspace_id = everruns_private.current_workspace_id() and s.name = p_name
$$;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.mcp_oauth_client_secret(text) to everruns_api;
  end if;
end
$$;
