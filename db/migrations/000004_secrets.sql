-- 000004: secrets (issue "Workspaces and access control").
--
-- An agent config names secrets, never holds their values: an http tool's header may be
-- {"secret": "<name>"} and a provider's key `api_key_secret: "<name>"` (db/schemas.ts). The values
-- live here, per workspace, encrypted at rest with AES-256-GCM under EVERRUNS_SECRET_KEY
-- (lib/secret-box.ts; the additional data binds each ciphertext to its workspace and name, so a
-- ciphertext copied to another row does not open).
--
-- Write-only. The API seals a value and stores it (everruns_private.set_secret); nothing but a
-- worker ever reads a ciphertext back (everruns_private.read_secret_ciphertexts, granted to
-- everruns_worker only), and only a worker decrypts, at step time. What anyone else may read is
-- the metadata: name, the last 4 characters (null for a value under 12 characters, where 4
-- would give away too much), when it was created and last set. GraphQL shows none of the table
-- (`@behavior -*`): the API's own `secrets` field and setSecret/deleteSecret mutations
-- (api/graphql/secrets.ts) go through the functions below.
--
-- Audited: secret.set {name, rotated} and secret.deleted {name}, never a value nor a ciphertext.

---------------------------------------------------------------------------------------------
-- The table.
---------------------------------------------------------------------------------------------
create table everruns.secrets (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.default_workspace_id() references everruns.workspaces,
  name text not null constraint secrets_name_format check (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
  -- lib/secret-box.ts: version byte, 12-byte nonce, 16-byte tag, ciphertext
  ciphertext bytea not null check (octet_length(ciphertext) >= 29),
  last4 text check (char_length(last4) <= 4),
  created_at timestamptz not null default now(),
  -- when the value was last set (= created_at for a value never replaced); the worker's cache of
  -- decrypted values is keyed by it
  rotated_at timestamptz not null default now(),
  constraint secrets_workspace_name_key unique (workspace_id, name)
);
comment on table everruns.secrets is E'@behavior -*\nSecret values of a workspace, encrypted (AES-256-GCM). Write-only: set with everruns secrets set or the setSecret mutation; only workers decrypt them.';
comment on column everruns.secrets.ciphertext is E'@behavior -*\nThe sealed value (lib/secret-box.ts). Never readable outside the worker.';
comment on column everruns.secrets.last4 is 'The value''s last 4 characters, or null when it is shorter than 12 characters.';
comment on column everruns.secrets.rotated_at is 'When the value was last set.';

revoke all on everruns.secrets from public;

---------------------------------------------------------------------------------------------
-- Writing, deleting, reading.
---------------------------------------------------------------------------------------------
-- Sets (creates or replaces) a secret and returns its metadata. The caller seals the value.
create function everruns_private.set_secret(p_workspace_id uuid, p_name text, p_ciphertext bytea, p_last4 text)
  returns table (name text, last4 text, created_at timestamptz, rotated_at timestamptz)
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  return query
    insert into everruns.secrets as s (workspace_id, name, ciphertext, last4, created_at, rotated_at)
    values (coalesce(p_workspace_id, everruns_private.default_workspace_id()), p_name, p_ciphertext, p_last4,
            clock_timestamp(), clock_timestamp())
    on conflict on constraint secrets_workspace_name_key do update
      set ciphertext = excluded.ciphertext, last4 = excluded.last4, rotated_at = clock_timestamp()
    returning s.name, s.last4, s.created_at, s.rotated_at;
end;
$$;

-- Deletes a secret; true when there was one.
create function everruns_private.delete_secret(p_workspace_id uuid, p_name text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  delete from everruns.secrets s
   where s.workspace_id = coalesce(p_workspace_id, everruns_private.default_workspace_id()) and s.name = p_name;
  return found;
end;
$$;

-- The metadata of a workspace's secrets, by name.
create function everruns_private.list_secrets(p_workspace_id uuid)
  returns table (name text, last4 text, created_at timestamptz, rotated_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select s.name, s.last4, s.created_at, s.rotated_at
    from everruns.secrets s
   where s.workspace_id = coalesce(p_workspace_id, everruns_private.default_workspace_id())
   order by s.name
$$;

-- The worker's read: the sealed values of the named secrets of a workspace (missing names are
-- absent from the result).
create function everruns_private.read_secret_ciphertexts(p_workspace_id uuid, p_names text[])
  returns table (name text, ciphertext bytea, rotated_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select s.name, s.ciphertext, s.rotated_at
    from everruns.secrets s
   where s.workspace_id = p_workspace_id and s.name = any (p_names)
$$;

---------------------------------------------------------------------------------------------
-- Audit: secret.set {name, rotated}, secret.deleted {name}.
---------------------------------------------------------------------------------------------
alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted')) not valid;
comment on column everruns.audit_log.action is 'What: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, signal.sent, secret.set, secret.deleted.';
comment on column everruns.audit_log.target_type is 'The kind of object acted on: agent, run or secret.';

create function everruns_private.tg_secrets__audit() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if tg_op = 'DELETE' then
    perform everruns_private.audit_append(old.workspace_id, 'secret.deleted', 'secret', old.id::text,
      jsonb_build_object('name', old.name));
  else
    perform everruns_private.audit_append(new.workspace_id, 'secret.set', 'secret', new.id::text,
      jsonb_build_object('name', new.name, 'rotated', tg_op = 'UPDATE'));
  end if;
  return null;
end;
$$;
create trigger tg_secrets__audit after insert or update or delete on everruns.secrets
  for each row execute function everruns_private.tg_secrets__audit();

---------------------------------------------------------------------------------------------
-- Privileges: the API sets, deletes and lists; only the worker reads ciphertexts.
---------------------------------------------------------------------------------------------
revoke execute on function
  everruns_private.set_secret(uuid, text, bytea, text),
  everruns_private.delete_secret(uuid, text),
  everruns_private.list_secrets(uuid),
  everruns_private.read_secret_ciphertexts(uuid, text[]),
  everruns_private.tg_secrets__audit()
  from public;

grant select (id, workspace_id, name, last4, created_at, rotated_at) on everruns.secrets to everruns_api;
grant execute on function
  everruns_private.set_secret(uuid, text, bytea, text),
  everruns_private.delete_secret(uuid, text),
  everruns_private.list_secrets(uuid)
  to everruns_api;
grant execute on function everruns_private.read_secret_ciphertexts(uuid, text[]) to everruns_worker;
