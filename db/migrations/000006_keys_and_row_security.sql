-- 000006: API keys, bound SQL roles and row-level security (issue "Workspaces and access
-- control"): every row of the everruns schema is visible only inside its workspace.
--
-- Who is asking, and for which workspace (everruns_private.current_workspace_id()):
--   1. a role bound to a workspace with everruns.bind_role (a SQL integration: another system
--      that inserts runs): its binding, whatever settings it sets;
--   2. otherwise the transaction's setting `everruns.workspace_id`, which the API sets from the
--      verified API key (`set_config('everruns.workspace_id', …, true)`, PostGraphile's
--      pgSettings). Only everruns_api and everruns_worker members can reach the tables without a
--      binding, and both are our own processes.
-- The engine (everruns_worker members: the step engine works for every workspace) and the
-- schema's owner (migrations, and the security-definer functions, which run as the owner) see
-- every workspace. A security-definer function that a client calls (cancel_run, send_event,
-- set_secret, …) therefore checks the workspace itself: a run outside the caller's workspace is
-- an "unknown run", as under RLS.
--
-- Two policies per table, each for its roles (Postgres picks a statement's policies by role when
-- it plans it, so a role pays only for its own):
--   in_workspace  (everyone)  workspace_id = (select everruns_private.current_workspace_id())
--                             (an init plan: evaluated once per statement, not once per row)
--   engine        (everruns_worker and the migrating role, the owner)  true: costs nothing.
--
-- API keys: `evr_` + 43 characters of base64url (256 random bits), shown once. Stored as their
-- SHA-256 (a key has 256 bits of entropy: a slow hash adds nothing), with a 12-character
-- prefix for lists, a role (viewer < operator < admin), an optional expiry, revocation and the
-- last time used (written at most once a minute per key, so authenticating stays a read).

---------------------------------------------------------------------------------------------
-- 1. Bindings and the current workspace.
---------------------------------------------------------------------------------------------
create table everruns_private.role_bindings (
  role_name name primary key,
  workspace_id uuid not null references everruns.workspaces on delete cascade,
  access text not null check (access in ('read', 'write')),
  created_at timestamptz not null default now()
);
comment on table everruns_private.role_bindings is 'Postgres roles bound to one workspace (everruns.bind_role): a SQL integration sees only that workspace.';

-- The workspace `p_role` is bound to, directly or through a role it is a member of, when the
-- session may act as that role (it is the session's user or one of its roles: the binding of any
-- other role is nobody's business). Membership is read from pg_auth_members, not pg_has_role: a
-- superuser is a member of nothing it was not granted. A role under bindings to two workspaces is
-- bound to none of them: the nil uuid, which matches no row.
create function everruns_private.bound_workspace(p_role name) returns uuid
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  with recursive acting(oid) as (
    select r.oid from pg_roles r
     where r.rolname = p_role and (p_role = session_user or pg_has_role(session_user, p_role, 'MEMBER'))
    union
    select m.roleid from pg_auth_members m join acting a on m.member = a.oid
  ), bound as (
    select distinct b.workspace_id
      from everruns_private.role_bindings b
      join pg_roles r on r.rolname = b.role_name
      join acting a on a.oid = r.oid
  )
  select case count(*) when 0 then null when 1 then min(workspace_id::text)::uuid
              else '00000000-0000-0000-0000-000000000000'::uuid end
    from bound
$$;

-- The API acts as everruns_api (`set_config('role', …, true)` per request) with the key's
-- workspace in the setting; any other role is confined by its bindings first, and only when it has
-- none does the setting count (everruns_api and everruns_worker members: our own processes; no
-- other role has rights on the tables without a binding).
--
-- current_workspace_id() runs once per statement of every query of a protected table by any role
-- but the engine's (the policy's init plan): plpgsql, whose plans are cached per session, and
-- without a SET clause (which would cost a GUC save and restore per call); every name in it is
-- schema-qualified.
create function everruns_private.current_workspace_id() returns uuid
  language plpgsql stable
  as $$
declare
  v_setting text := pg_catalog.current_setting('everruns.workspace_id', true);
  v_workspace uuid;
begin
  if v_setting ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    v_workspace := v_setting::uuid;
  end if;
  if current_user = 'everruns_api' then
    return v_workspace;
  end if;
  return coalesce(everruns_private.bound_workspace(current_user), everruns_private.bound_workspace(session_user), v_workspace);
end;
$$;
comment on function everruns_private.current_workspace_id() is 'The workspace this transaction acts in: the role''s binding, else the everruns.workspace_id setting; null: none.';

-- For column defaults: the current workspace, else `default` (a superuser's insert by hand).
create function everruns_private.current_or_default_workspace_id() returns uuid
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
  select coalesce(everruns_private.current_workspace_id(), everruns_private.default_workspace_id())
$$;

-- A security-definer function's check of the workspace it is about to act in.
create function everruns_private.assert_in_workspace(p_workspace_id uuid, p_what text) returns void
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_current uuid := everruns_private.current_workspace_id();
begin
  if v_current is not null and p_workspace_id is distinct from v_current then
    raise exception 'unknown %', p_what using errcode = 'EV005';
  end if;
end;
$$;

grant execute on function
  everruns_private.bound_workspace(name),
  everruns_private.current_workspace_id(),
  everruns_private.current_or_default_workspace_id(),
  everruns_private.default_workspace_id()
  to public;  -- policies and column defaults call them with the querying role's rights; they reveal only the caller's own binding

alter table everruns.agents alter column workspace_id set default everruns_private.current_or_default_workspace_id();
alter table everruns.runs alter column workspace_id set default everruns_private.current_or_default_workspace_id();
alter table everruns.threads alter column workspace_id set default everruns_private.current_or_default_workspace_id();
alter table everruns.secrets alter column workspace_id set default everruns_private.current_or_default_workspace_id();

-- New audited actions.
alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted',
    'workspace.created', 'key.created', 'key.revoked', 'role.bound', 'role.unbound')) not valid;

---------------------------------------------------------------------------------------------
-- 2. API keys.
---------------------------------------------------------------------------------------------
create table everruns.api_keys (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces on delete cascade,
  name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9 _.:@-]{0,99}$'),
  role text not null check (role in ('viewer', 'operator', 'admin')),
  -- SHA-256 of the whole key
  key_hash bytea not null unique check (octet_length(key_hash) = 32),
  -- `evr_` and the next 8 characters: enough to tell keys apart, nothing to guess with
  prefix text not null check (prefix ~ '^evr_[A-Za-z0-9_-]{8}$'),
  created_by text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
comment on table everruns.api_keys is E'@behavior -*\nAPI keys of a workspace (stored as SHA-256 hashes). Create with everruns keys create or the createApiKey mutation.';
create index api_keys_workspace_idx on everruns.api_keys (workspace_id, created_at);
revoke all on everruns.api_keys from public;

-- Stores a key the caller generated and hashed (lib/api-key.ts); the key itself never reaches
-- the database. In the caller's workspace (a workspace given besides must be the same).
create function everruns_private.create_api_key(p_workspace_id uuid, p_name text, p_role text, p_key_hash bytea, p_prefix text,
                                                p_expires_at timestamptz)
  returns table (id uuid, workspace_id uuid, name text, role text, prefix text, created_by text, created_at timestamptz,
                 expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := coalesce(p_workspace_id, everruns_private.current_or_default_workspace_id());
  v_key everruns.api_keys;
begin
  perform everruns_private.assert_in_workspace(v_workspace, 'workspace ' || v_workspace::text);
  if p_expires_at is not null and p_expires_at <= now() then
    raise exception 'the expiry % is in the past', p_expires_at using errcode = 'EV010';
  end if;
  insert into everruns.api_keys (workspace_id, name, role, key_hash, prefix, created_by, expires_at)
  values (v_workspace, p_name, p_role, p_key_hash, p_prefix,
          coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user), p_expires_at)
  returning * into v_key;
  perform everruns_private.audit_append(v_workspace, 'key.created', 'api_key', v_key.id::text,
    jsonb_build_object('name', v_key.name, 'role', v_key.role, 'prefix', v_key.prefix, 'expires_at', v_key.expires_at));
  return query select v_key.id, v_key.workspace_id, v_key.name, v_key.role, v_key.prefix, v_key.created_by, v_key.created_at,
                      v_key.expires_at, v_key.revoked_at, v_key.last_used_at;
end;
$$;

-- Revokes a key of the caller's workspace; true when this call revoked it.
create function everruns_private.revoke_api_key(p_id uuid) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_key everruns.api_keys;
begin
  select * into v_key from everruns.api_keys k where k.id = p_id for update;
  if not found then
    raise exception 'unknown API key %', p_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_key.workspace_id, 'API key ' || p_id::text);
  if v_key.revoked_at is not null then
    return false;
  end if;
  update everruns.api_keys k set revoked_at = now() where k.id = p_id;
  perform everruns_private.audit_append(v_key.workspace_id, 'key.revoked', 'api_key', p_id::text,
    jsonb_build_object('name', v_key.name, 'role', v_key.role, 'prefix', v_key.prefix));
  return true;
end;
$$;

create function everruns_private.list_api_keys(p_workspace_id uuid)
  returns table (id uuid, workspace_id uuid, name text, role text, prefix text, created_by text, created_at timestamptz,
                 expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := coalesce(p_workspace_id, everruns_private.current_or_default_workspace_id());
begin
  perform everruns_private.assert_in_workspace(v_workspace, 'workspace ' || v_workspace::text);
  return query
    select k.id, k.workspace_id, k.name, k.role, k.prefix, k.created_by, k.created_at, k.expires_at, k.revoked_at, k.last_used_at
      from everruns.api_keys k
     where k.workspace_id = v_workspace
     order by k.created_at, k.id;
end;
$$;

-- The key with this hash, when it is valid now: its id, workspace and role. Notes the use at
-- most once a minute. Nothing is returned for an unknown, revoked or expired key; `reason` says
-- which for a known one (the API's 401 says it, without naming anything of the key).
create function everruns_private.authenticate_api_key(p_key_hash bytea)
  returns table (key_id uuid, workspace_id uuid, workspace_name text, role text, expires_at timestamptz, refusal text)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_key everruns.api_keys;
begin
  select * into v_key from everruns.api_keys k where k.key_hash = p_key_hash;
  if not found then
    return query select null::uuid, null::uuid, null::text, null::text, null::timestamptz, 'unknown'::text;
    return;
  end if;
  if v_key.revoked_at is not null then
    return query select v_key.id, null::uuid, null::text, null::text, null::timestamptz, 'revoked'::text;
    return;
  end if;
  if v_key.expires_at is not null and v_key.expires_at <= now() then
    return query select v_key.id, null::uuid, null::text, null::text, v_key.expires_at, 'expired'::text;
    return;
  end if;
  if v_key.last_used_at is null or v_key.last_used_at < now() - interval '1 minute' then
    update everruns.api_keys k set last_used_at = now() where k.id = v_key.id;
  end if;
  return query select v_key.id, v_key.workspace_id, w.name, v_key.role, v_key.expires_at, null::text
                 from everruns.workspaces w where w.id = v_key.workspace_id;
end;
$$;

---------------------------------------------------------------------------------------------
-- 3. Workspaces and bound roles (administrators: no application role may call these).
---------------------------------------------------------------------------------------------
create function everruns_private.create_workspace(p_name text) returns everruns.workspaces
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace everruns.workspaces;
begin
  insert into everruns.workspaces (name) values (p_name) returning * into v_workspace;
  perform everruns_private.audit_append(v_workspace.id, 'workspace.created', 'workspace', v_workspace.id::text,
    jsonb_build_object('name', v_workspace.name));
  return v_workspace;
end;
$$;

-- Binds an existing role to one workspace: it may then read (access 'read') or also start,
-- cancel, resume and signal runs (access 'write') there, and sees nothing of any other
-- workspace. Grants what that needs; binding again changes the workspace or the access.
create function everruns.bind_role(role name, workspace text, access text) returns void
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
                 'everruns.run_steps, everruns.run_events, everruns.run_signals, everruns.audit_log, everruns.usage_daily to %I', v_role);
  execute format('revoke insert, update on everruns.runs, everruns.threads from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb) from %I', v_role);
  if bind_role.access = 'write' then
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$$;

create function everruns.unbind_role(role name) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
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
  perform everruns_private.audit_append(v_binding.workspace_id, 'role.unbound', 'role', unbind_role.role::text, '{}'::jsonb);
  return true;
end;
$$;

revoke execute on function everruns.bind_role(name, text, text), everruns.unbind_role(name), everruns_private.create_workspace(text) from public;

---------------------------------------------------------------------------------------------
-- 4. Row-level security on every table of the everruns schema.
---------------------------------------------------------------------------------------------
do $$
declare
  v_table text;
begin
  foreach v_table in array array['agents', 'agent_versions', 'threads', 'runs', 'run_steps', 'run_events', 'run_signals',
                                 'secrets', 'audit_log', 'api_keys'] loop
    execute format('alter table everruns.%I enable row level security', v_table);
    execute format('alter table everruns.%I force row level security', v_table);
    execute format(
      'create policy in_workspace on everruns.%I using (workspace_id = (select everruns_private.current_workspace_id())) '
      'with check (workspace_id = (select everruns_private.current_workspace_id()))', v_table);
    execute format('create policy engine on everruns.%I to everruns_worker, %I using (true) with check (true)', v_table, current_user);
  end loop;
end
$$;
alter table everruns.workspaces enable row level security;
alter table everruns.workspaces force row level security;
-- workspaces are created by administrators only (create_workspace runs as the owner)
create policy in_workspace on everruns.workspaces using (id = (select everruns_private.current_workspace_id())) with check (false);
do $$
begin
  execute format('create policy engine on everruns.workspaces to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;
-- a view reads with its owner's rights unless told otherwise: usage_daily reads with the caller's
alter view everruns.usage_daily set (security_invoker = true);

---------------------------------------------------------------------------------------------
-- 5. Security-definer functions that clients call act only inside the caller's workspace.
---------------------------------------------------------------------------------------------
create or replace function everruns.cancel_run(run_id uuid) returns boolean
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
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || cancel_run.run_id::text);
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

create or replace function everruns.send_event(run_id uuid, name text, payload jsonb) returns boolean
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
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || send_event.run_id::text);
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

create or replace function everruns_private.set_secret(p_workspace_id uuid, p_name text, p_ciphertext bytea, p_last4 text)
  returns table (name text, last4 text, created_at timestamptz, rotated_at timestamptz)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := coalesce(p_workspace_id, everruns_private.current_or_default_workspace_id());
begin
  perform everruns_private.assert_in_workspace(v_workspace, 'workspace ' || v_workspace::text);
  return query
    insert into everruns.secrets as s (workspace_id, name, ciphertext, last4, created_at, rotated_at)
    values (v_workspace, p_name, p_ciphertext, p_last4, clock_timestamp(), clock_timestamp())
    on conflict on constraint secrets_workspace_name_key do update
      set ciphertext = excluded.ciphertext, last4 = excluded.last4, rotated_at = clock_timestamp()
    returning s.name, s.last4, s.created_at, s.rotated_at;
end;
$$;

create or replace function everruns_private.list_secrets(p_workspace_id uuid)
  returns table (name text, last4 text, created_at timestamptz, rotated_at timestamptz)
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := coalesce(p_workspace_id, everruns_private.current_or_default_workspace_id());
begin
  perform everruns_private.assert_in_workspace(v_workspace, 'workspace ' || v_workspace::text);
  return query
    select s.name, s.last4, s.created_at, s.rotated_at from everruns.secrets s where s.workspace_id = v_workspace order by s.name;
end;
$$;

create or replace function everruns_private.delete_secret(p_workspace_id uuid, p_name text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_workspace uuid := coalesce(p_workspace_id, everruns_private.current_or_default_workspace_id());
begin
  perform everruns_private.assert_in_workspace(v_workspace, 'workspace ' || v_workspace::text);
  delete from everruns.secrets s where s.workspace_id = v_workspace and s.name = p_name;
  return found;
end;
$$;

-- verify_audit: the caller's workspace only (an administrator without one: any). As in 000003,
-- with the check first.
CREATE OR REPLACE FUNCTION everruns.verify_audit(workspace uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
declare
  v_row record;
  v_head everruns_private.audit_heads;
  v_last_seq bigint := 0;
  v_last_hash bytea;
begin
  perform everruns_private.assert_in_workspace(verify_audit.workspace, 'workspace ' || verify_audit.workspace::text);
  for v_row in
    select a.seq, a.prev_hash, a.hash,
           everruns_private.audit_hash(a.workspace_id, a.seq, a.at, a.actor, a.action, a.target_type,
                                       a.target_id, a.details, a.prev_hash) as computed
      from everruns.audit_log a
     where a.workspace_id = verify_audit.workspace
     order by a.seq
  loop
    if v_row.seq <> v_last_seq + 1 then
      return jsonb_build_object('seq', v_last_seq + 1, 'problem', 'missing', 'found_seq', v_row.seq,
        'message', format('seq %s to %s missing: the row after seq %s has seq %s',
                          v_last_seq + 1, v_row.seq - 1, v_last_seq, v_row.seq));
    end if;
    if v_row.prev_hash is distinct from v_last_hash then
      return jsonb_build_object('seq', v_row.seq, 'problem', 'prev_hash',
        'message', case when v_last_seq = 0
                        then format('seq %s has a prev_hash, but it is the first row', v_row.seq)
                        else format('prev_hash of seq %s is not the hash of seq %s', v_row.seq, v_last_seq) end);
    end if;
    if v_row.hash is distinct from v_row.computed then
      return jsonb_build_object('seq', v_row.seq, 'problem', 'hash',
        'message', format('hash of seq %s does not match its contents', v_row.seq));
    end if;
    v_last_seq := v_row.seq;
    v_last_hash := v_row.hash;
  end loop;
  select * into v_head from everruns_private.audit_heads h where h.workspace_id = verify_audit.workspace;
  if coalesce(v_head.seq, 0) > v_last_seq then
    return jsonb_build_object('seq', v_last_seq + 1, 'problem', 'head',
      'message', format('seq %s to %s missing: the log ends at seq %s', v_last_seq + 1, v_head.seq, v_last_seq));
  end if;
  if coalesce(v_head.seq, 0) < v_last_seq or v_head.hash is distinct from v_last_hash then
    return jsonb_build_object('seq', v_last_seq, 'problem', 'head',
      'message', format('the log ends at seq %s, but the chain''s recorded tip is seq %s with another hash',
                        v_last_seq, coalesce(v_head.seq, 0)));
  end if;
  return null;
end;
$$;

-- The audit actor: the API's setting (`key:<id>`), else the database role; a bound role's own.
CREATE OR REPLACE FUNCTION everruns_private.audit_append(p_workspace_id uuid, p_action text, p_target_type text, p_target_id text, p_details jsonb)
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $$
declare
  v_last bigint;
  v_prev bytea;
  v_at timestamptz;
  -- a bound role is who it is: its settings cannot name another actor
  v_actor text := case when everruns_private.bound_workspace(session_user) is not null then 'db:' || session_user
                       else coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user) end;
  v_details jsonb := coalesce(p_details, '{}'::jsonb);
  v_hash bytea;
begin
  select h.seq, h.hash into v_last, v_prev
    from everruns_private.audit_heads h where h.workspace_id = p_workspace_id for update;
  if not found then
    -- the workspace's first audit row: create its head (concurrent first writers: one inserts,
    -- the others wait for it and then queue on the row lock below)
    insert into everruns_private.audit_heads (workspace_id, seq, hash) values (p_workspace_id, 0, null)
      on conflict do nothing;
    select h.seq, h.hash into v_last, v_prev
      from everruns_private.audit_heads h where h.workspace_id = p_workspace_id for update;
  end if;
  -- after the lock: `at` increases with seq
  v_at := clock_timestamp();
  v_hash := everruns_private.audit_hash(p_workspace_id, v_last + 1, v_at, v_actor, p_action, p_target_type,
                                        p_target_id, v_details, v_prev);
  insert into everruns.audit_log (workspace_id, seq, at, actor, action, target_type, target_id, details, prev_hash, hash)
  values (p_workspace_id, v_last + 1, v_at, v_actor, p_action, p_target_type, p_target_id, v_details, v_prev, v_hash);
  update everruns_private.audit_heads set seq = v_last + 1, hash = v_hash where workspace_id = p_workspace_id;
  return v_last + 1;
end;
$$;

-- The workspace of a thread, whoever may see it (null: no such thread), for tg_runs__prepare.
create function everruns_private.thread_workspace(p_thread_id uuid) returns uuid
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select t.workspace_id from everruns.threads t where t.id = p_thread_id
$$;
revoke execute on function everruns_private.thread_workspace(uuid) from public;
grant execute on function everruns_private.thread_workspace(uuid) to everruns_api;  -- and to bound roles with write access (bind_role)

---------------------------------------------------------------------------------------------
-- 6. A run belongs to its agent's workspace. tg_runs__prepare as in 000002 but for the block
--    marked 000006.
---------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION everruns_private.tg_runs__prepare()
 RETURNS trigger
 LANGUAGE plpgsql
AS $$
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

---------------------------------------------------------------------------------------------
-- 7. Run status notifications carry the workspace: `<run id>:<workspace id>`, so the API's
--    watchers of every run pass on only those of their own workspace.
---------------------------------------------------------------------------------------------
create or replace function everruns_private.tg_runs__notify_status() returns trigger
  language plpgsql
  as $$
begin
  perform pg_notify('everruns:runs', new.id::text || ':' || new.workspace_id::text);
  return null;
end;
$$;

-- as in 000001, with the workspace in the notification
create or replace function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if new.parent_run_id is not null then
    update everruns.runs set continued_by = new.id, updated_at = now() where id = new.parent_run_id;
  end if;
  perform everruns_private.enqueue_step(new.id);
  perform pg_notify('everruns:runs', new.id::text || ':' || new.workspace_id::text);
  return null;
end;
$$;

---------------------------------------------------------------------------------------------
-- 7b. The API's events hub reads run events on its own connection, outside any request, for
--     subscribers it authorised when they subscribed (api/events-hub.ts): through these
--     functions, granted to everruns_api, so the API's login needs no BYPASSRLS.
---------------------------------------------------------------------------------------------
create function everruns_private.run_events_after(p_run_id uuid, p_after int, p_limit int)
  returns table (seq int, type text, event jsonb)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select e.seq, e.type, e.event from everruns.run_events e where e.run_id = p_run_id and e.seq > p_after order by e.seq limit p_limit
$$;

create function everruns_private.run_last_event(p_run_id uuid) returns table (seq int, type text)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select e.seq, e.type from everruns.run_events e where e.run_id = p_run_id order by e.seq desc limit 1
$$;

create function everruns_private.run_event_seq(p_run_id uuid) returns int
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select r.event_seq from everruns.runs r where r.id = p_run_id
$$;

create function everruns_private.runs_updated_since(p_since timestamptz, p_limit int) returns table (id uuid, workspace_id uuid)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select r.id, r.workspace_id from everruns.runs r where r.updated_at >= p_since - interval '1 second' order by r.updated_at desc limit p_limit
$$;

-- The migrating role runs the API in a development instance (and may in a small deployment): it
-- must be able to act as everruns_api. Granting needs ADMIN on the role, which its creator has.
do $$
begin
  -- USAGE, not MEMBER: from Postgres 16 a role that created everruns_api holds it with ADMIN only,
  -- which is membership without the right to act as it
  if not exists (select from pg_roles where rolname = current_user and rolsuper) and not pg_has_role(current_user, 'everruns_api', 'USAGE') then
    execute format('grant everruns_api to %I', current_user);
  end if;
exception when insufficient_privilege then
  raise notice 'could not grant everruns_api to %: an administrator must (grant everruns_api to <the API''s login>)', current_user;
end
$$;

---------------------------------------------------------------------------------------------
-- 8. Privileges.
---------------------------------------------------------------------------------------------
revoke execute on function
  everruns_private.run_events_after(uuid, int, int),
  everruns_private.run_last_event(uuid),
  everruns_private.run_event_seq(uuid),
  everruns_private.runs_updated_since(timestamptz, int),
  everruns_private.create_api_key(uuid, text, text, bytea, text, timestamptz),
  everruns_private.revoke_api_key(uuid),
  everruns_private.list_api_keys(uuid),
  everruns_private.authenticate_api_key(bytea),
  everruns_private.assert_in_workspace(uuid, text)
  from public;
grant execute on function
  everruns_private.create_api_key(uuid, text, text, bytea, text, timestamptz),
  everruns_private.revoke_api_key(uuid),
  everruns_private.list_api_keys(uuid),
  everruns_private.authenticate_api_key(bytea),
  everruns_private.assert_in_workspace(uuid, text),
  everruns_private.run_events_after(uuid, int, int),
  everruns_private.run_last_event(uuid),
  everruns_private.run_event_seq(uuid),
  everruns_private.runs_updated_since(timestamptz, int)
  to everruns_api;
grant execute on function everruns_private.assert_in_workspace(uuid, text) to everruns_worker;
