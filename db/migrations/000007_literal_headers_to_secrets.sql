-- 000007: credentials written into agent configs before secrets existed move out of them (issue
-- "Workspaces and access control": "existing versions' literal headers are moved to secrets by a
-- migration").
--
-- Since 000004 an http tool's sensitive header (authorization, cookie, x-api-key, or a name with
-- token, secret, key, passw, auth, cookie or credential in it: db/schemas.ts isSensitiveHeader)
-- must be {"secret": "<name>"}; a literal value is refused. Configs stored before that may still
-- hold literal values, in everruns.agents and in every everruns.agent_versions row, readable by
-- anyone who can read agents. This migration replaces each such value by a reference to a secret
-- named `<agent>.<tool>.<header>.v<version>` (characters outside [A-Za-z0-9_.-] become '-') and
-- keeps the value in everruns_private.secret_imports until a process that holds
-- EVERRUNS_SECRET_KEY seals it into everruns.secrets (db/sql/secretImports.ts: every worker at
-- start). SQL cannot seal: the key never reaches the database. Until then
-- a run of such an agent fails its http call saying which secret to set.
--
-- Agent versions are immutable (tg__immutable): this is the one rewrite of history, done with the
-- immutability trigger off for the migration's transaction only; version numbers do not change.

create table everruns_private.secret_imports (
  workspace_id uuid not null references everruns.workspaces on delete cascade,
  name text not null check (name ~ '^[A-Za-z0-9_.-]{1,100}$'),
  value text not null,
  created_at timestamptz not null default now(),
  primary key (workspace_id, name)
);
comment on table everruns_private.secret_imports is 'Credentials taken out of agent configs (000007), waiting for a process with EVERRUNS_SECRET_KEY to seal them into everruns.secrets.';
revoke all on everruns_private.secret_imports from public;

-- The config with every literal sensitive header of its http tools replaced by a secret
-- reference; the values go to secret_imports.
create function everruns_private.config_without_literal_secrets(p_workspace_id uuid, p_agent_name text, p_version int, p_config jsonb)
  returns jsonb
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_tools jsonb := p_config -> 'tools';
  v_tool jsonb;
  v_headers jsonb;
  v_header record;
  v_name text;
  v_out jsonb := '[]'::jsonb;
  v_changed boolean := false;
begin
  if jsonb_typeof(v_tools) is distinct from 'array' then
    return p_config;
  end if;
  for v_tool in select value from jsonb_array_elements(v_tools) loop
    v_headers := v_tool -> 'headers';
    if jsonb_typeof(v_tool) = 'object' and jsonb_typeof(v_headers) = 'object' then
      for v_header in select key, value from jsonb_each(v_headers) loop
        if jsonb_typeof(v_header.value) = 'string'
           and v_header.key ~* '^(authorization|proxy-authorization|cookie|x-api-key)$|token|secret|key|passw|auth|cookie|credential' then
          v_name := left(regexp_replace(p_agent_name || '.' || coalesce(v_tool ->> 'name', 'tool') || '.' || lower(v_header.key),
                                        '[^A-Za-z0-9_.-]', '-', 'g'), 90) || '.v' || p_version;
          insert into everruns_private.secret_imports (workspace_id, name, value)
          values (p_workspace_id, v_name, v_header.value #>> '{}')
          on conflict (workspace_id, name) do nothing;
          v_headers := jsonb_set(v_headers, array[v_header.key], jsonb_build_object('secret', v_name));
          v_changed := true;
        end if;
      end loop;
      v_tool := jsonb_set(v_tool, '{headers}', v_headers);
    end if;
    v_out := v_out || jsonb_build_array(v_tool);
  end loop;
  if not v_changed then
    return p_config;
  end if;
  return jsonb_set(p_config, '{tools}', v_out);
end;
$$;

alter table everruns.agent_versions disable trigger tg_agent_versions__immutable;
update everruns.agent_versions v
   set config = everruns_private.config_without_literal_secrets(v.workspace_id, a.name, v.version, v.config)
  from everruns.agents a
 where a.id = v.agent_id
   and v.config is distinct from everruns_private.config_without_literal_secrets(v.workspace_id, a.name, v.version, v.config);
alter table everruns.agent_versions enable trigger tg_agent_versions__immutable;

-- the current config: the same rewrite as its version's, without a new version or an audit row
alter table everruns.agents disable trigger user;
update everruns.agents a
   set config = everruns_private.config_without_literal_secrets(a.workspace_id, a.name, a.version, a.config)
 where a.config is distinct from everruns_private.config_without_literal_secrets(a.workspace_id, a.name, a.version, a.config);
alter table everruns.agents enable trigger user;

drop function everruns_private.config_without_literal_secrets(uuid, text, int, jsonb);

-- Sealing: a process with the key reads the rows (db/sql/secretImports.ts), seals each value and
-- hands the sealed value back here, which stores it with set_secret (audited as secret.set) in the
-- transaction that deletes the plaintext. A worker may seal imports, not set any other secret.
create function everruns_private.seal_secret_import(p_workspace_id uuid, p_name text, p_ciphertext bytea, p_last4 text) returns boolean
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  delete from everruns_private.secret_imports i where i.workspace_id = p_workspace_id and i.name = p_name;
  if not found then
    return false;  -- sealed meanwhile by another process
  end if;
  perform everruns_private.set_secret(p_workspace_id, p_name, p_ciphertext, p_last4);
  return true;
end;
$$;
revoke execute on function everruns_private.seal_secret_import(uuid, text, bytea, text) from public;
grant execute on function everruns_private.seal_secret_import(uuid, text, bytea, text) to everruns_worker;
grant select on everruns_private.secret_imports to everruns_worker;
