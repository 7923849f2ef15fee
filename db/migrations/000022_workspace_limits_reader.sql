-- 000022: the caller's workspace's admission limits and usage for the API (issue 14: "the
-- console shows each workspace's limits and usage"). workspace_limits_of (000021) takes any
-- workspace and is an administrator's function; this reader takes none: it answers for the
-- caller's workspace only (current_workspace_id(), as the ops_* readers of 000014), so every
-- role of a workspace may read its own limits and nobody another's.
--
-- Additive: one new function and its grant.

-- The caller's workspace's limits (null: unlimited) and usage now; no row when the transaction
-- acts in no workspace. Security definer: it counts the workspace's queued runs and reads the
-- private limits table, which the API's role has no rights on.
create function everruns_private.ops_workspace_limits()
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 queued_runs bigint, tokens double precision, updated_at timestamptz)
  language sql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select l.*
    from everruns.workspaces w
   cross join lateral everruns_private.workspace_limits_of(w.id) l
   where w.id = everruns_private.current_workspace_id()
$$;
comment on function everruns_private.ops_workspace_limits() is 'The caller''s workspace''s admission limits and usage (workspace_limits_of of current_workspace_id(); 000022).';

revoke execute on function everruns_private.ops_workspace_limits() from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns_private.ops_workspace_limits() to everruns_api;
  end if;
end;
$$;
