-- 000010: agent configs are bounded (issue "Hostile input and resource limits").
--
-- An agent's config is at most max_agent_config_bytes() = 262144 bytes (256 KiB) of JSON text,
-- as Postgres writes it (config::text). Every version of it is kept (agent_versions) and every
-- step of every run of it loads it, so a 50 MB config made each step slow and each version a
-- copy. tg_agents__version (the BEFORE INSERT OR UPDATE trigger of everruns.agents) refuses a
-- larger one with EV001 (ValidationError "invalid_agent_config", HTTP 400), naming the limit,
-- for a plain SQL insert or update as for the API; the API checks the same number first
-- (db/schemas.ts MAX_AGENT_CONFIG_BYTES, measured the same way). An update that leaves the
-- config alone (a rename) is not checked: no existing agent becomes unchangeable.
--
-- The limit is a function, not a setting a session could change: replace it in a migration to
-- change it (and db/schemas.ts with it).

create function everruns_private.max_agent_config_bytes() returns int
  language sql immutable parallel safe
  as $$ select 262144 $$;
comment on function everruns_private.max_agent_config_bytes() is 'The largest agent config, in bytes of JSON text (config::text) (000010).';
grant execute on function everruns_private.max_agent_config_bytes() to public;

create or replace function everruns_private.tg_agents__version() returns trigger
  language plpgsql
  as $$
declare
  v_bytes int;
begin
  if new.config is null or jsonb_typeof(new.config) <> 'object' then
    raise exception 'invalid agent config: must be a JSON object, got %', coalesce(jsonb_typeof(new.config), 'null')
      using errcode = 'EV001', hint = 'See "Agent config" in the README.';
  end if;
  if tg_op = 'INSERT' or new.config is distinct from old.config then
    v_bytes := octet_length(new.config::text);
    if v_bytes > everruns_private.max_agent_config_bytes() then
      raise exception 'invalid agent config: it is % bytes of JSON text; the limit is % (max_agent_config_bytes)',
        v_bytes, everruns_private.max_agent_config_bytes()
        using errcode = 'EV001', hint = 'Keep large data out of the config: let the agent fetch documents with a tool rather than pasting them into its system prompt or script.';
    end if;
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
