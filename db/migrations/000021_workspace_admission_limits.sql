-- 000021: per-workspace admission limits (issue 14, first slice): max_queued_runs and
-- runs_per_minute, enforced when runs are inserted, exactly, also under concurrent inserts.
--
-- * everruns_private.workspace_limits: one row per limited workspace; null = unlimited, and no
--   row (the default) = unlimited in everything. Administrators change it with
--   set_workspace_limits (the CLI `everruns workspaces limits`, straight on the database),
--   audited as 'workspace.limits_set' {old, new}; workspace_limits_of shows limits and usage.
-- * tg_runs__admission_limits: a statement-level AFTER INSERT trigger on everruns.runs beside
--   tg_runs__audit_start and tg_runs__enqueue (000018). Named so that it fires first
--   (triggers of one event fire in name order): a refused statement spends nothing on jobs or
--   audit rows. For each workspace of the new rows that has a limits row it locks that row
--   (`for update`: concurrent inserts into one workspace queue there, so each one counts what
--   the previous ones committed: READ COMMITTED takes a fresh snapshot per statement of the
--   function) and then
--   (a) max_queued_runs: counts the workspace's queued runs, the new ones included; over the
--       limit raises EV012 (no retry_after: the API answers Retry-After 10);
--   (b) runs_per_minute: a token bucket of capacity runs_per_minute refilled at runs_per_minute
--       per 60 s by the database clock; too few tokens for the statement's new runs raises
--       EV012 with DETAIL 'retry_after=<seconds until enough tokens>', else takes them.
--   The raise aborts the whole statement: nothing is inserted, no token is taken.
--   The limits row is always written (tokens, or a no-op update) so that a REPEATABLE READ
--   transaction whose snapshot predates a concurrent admission fails to lock it (40001,
--   retryable) instead of counting from a stale snapshot.
-- * runs_workspace_queued_idx: counting a workspace's queued runs reads only queued runs.
--   (A workspace without a limits row pays one grouping of the statement's rows and one join
--   with the limits table per statement, and the index's upkeep.)
--
-- Additive: a new table, functions, trigger and index; the audit check only widens.

create table everruns_private.workspace_limits (
  workspace_id uuid primary key references everruns.workspaces on delete cascade,
  max_queued_runs integer check (max_queued_runs > 0),
  runs_per_minute integer check (runs_per_minute > 0),
  -- the token bucket of runs_per_minute: tokens left at bucket_at (null: full)
  bucket_tokens double precision,
  bucket_at timestamptz,
  updated_at timestamptz not null default now()
);
comment on table everruns_private.workspace_limits is 'Admission limits of a workspace (000021); null = unlimited, no row = unlimited. Change with set_workspace_limits; enforced by tg_runs__admission_limits.';
comment on column everruns_private.workspace_limits.max_queued_runs is 'At most this many runs of the workspace queued at once; an insert beyond it fails with EV012.';
comment on column everruns_private.workspace_limits.runs_per_minute is 'Token bucket: bursts of up to this many runs, refilled at this many per minute; an insert beyond it fails with EV012 and retry_after.';

create index runs_workspace_queued_idx on everruns.runs (workspace_id) where status = 'queued';

alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted',
    'workspace.created', 'key.created', 'key.revoked', 'role.bound', 'role.unbound',
    'run.rerun',
    'workspace.limits_set')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, key.created, key.revoked, role.bound, role.unbound.';

---------------------------------------------------------------------------------------------
-- Limits and usage.
---------------------------------------------------------------------------------------------
-- The workspace's limits (null: unlimited) and usage now: its queued runs and the tokens its
-- runs_per_minute bucket holds (null when runs_per_minute is unlimited). EV005 for an unknown
-- workspace. Security definer: counts every queued run of the workspace whoever asks (only
-- administrators may call it).
create function everruns_private.workspace_limits_of(p_workspace uuid)
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 queued_runs bigint, tokens double precision, updated_at timestamptz)
  language plpgsql stable security definer
  set search_path to pg_catalog, pg_temp
  as $$
begin
  if not exists (select from everruns.workspaces w where w.id = p_workspace) then
    raise exception 'unknown workspace %', p_workspace using errcode = 'EV005',
      hint = 'everruns workspaces list shows the workspaces.';
  end if;
  return query
    select w.id, w.name, l.max_queued_runs, l.runs_per_minute,
           (select count(*) from everruns.runs r where r.workspace_id = w.id and r.status = 'queued'),
           case when l.runs_per_minute is null then null
                when l.bucket_tokens is null then l.runs_per_minute::double precision
                else least(l.runs_per_minute::double precision,
                           l.bucket_tokens + l.runs_per_minute * greatest(0, extract(epoch from clock_timestamp() - l.bucket_at)::double precision) / 60)
           end,
           l.updated_at
      from everruns.workspaces w
      left join everruns_private.workspace_limits l on l.workspace_id = w.id
     where w.id = p_workspace;
end;
$$;
comment on function everruns_private.workspace_limits_of(uuid) is 'A workspace''s admission limits and usage now: queued runs, tokens of its runs_per_minute bucket (000021).';
revoke execute on function everruns_private.workspace_limits_of(uuid) from public;

-- Sets both limits of a workspace (null: unlimited; both null removes its row, so its inserts
-- cost nothing) and returns workspace_limits_of. Audited as 'workspace.limits_set' with the
-- old and new limits. A changed runs_per_minute keeps the tokens the bucket holds now (by the
-- old rate), at most the new capacity. EV005 unknown workspace, EV010 a limit below 1.
create function everruns_private.set_workspace_limits(p_workspace uuid, p_max_queued_runs integer, p_runs_per_minute integer)
  returns table (workspace_id uuid, workspace_name text, max_queued_runs integer, runs_per_minute integer,
                 queued_runs bigint, tokens double precision, updated_at timestamptz)
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_old everruns_private.workspace_limits;
  v_tokens double precision;
begin
  perform from everruns.workspaces w where w.id = p_workspace for key share;
  if not found then
    raise exception 'unknown workspace %', p_workspace using errcode = 'EV005',
      hint = 'everruns workspaces list shows the workspaces.';
  end if;
  if p_max_queued_runs is not null and p_max_queued_runs < 1 then
    raise exception 'max_queued_runs must be at least 1, got %', p_max_queued_runs using errcode = 'EV010',
      hint = 'Give null (none) for unlimited.';
  end if;
  if p_runs_per_minute is not null and p_runs_per_minute < 1 then
    raise exception 'runs_per_minute must be at least 1, got %', p_runs_per_minute using errcode = 'EV010',
      hint = 'Give null (none) for unlimited.';
  end if;

  select * into v_old from everruns_private.workspace_limits l where l.workspace_id = p_workspace for update;
  if p_max_queued_runs is null and p_runs_per_minute is null then
    delete from everruns_private.workspace_limits l where l.workspace_id = p_workspace;
  else
    -- the tokens now, by the old rate (null: a full bucket)
    if v_old.runs_per_minute is not null and v_old.bucket_tokens is not null and p_runs_per_minute is not null then
      v_tokens := least(p_runs_per_minute::double precision, v_old.runs_per_minute::double precision,
                        v_old.bucket_tokens + v_old.runs_per_minute
                          * greatest(0, extract(epoch from clock_timestamp() - v_old.bucket_at)::double precision) / 60);
    end if;
    insert into everruns_private.workspace_limits as l (workspace_id, max_queued_runs, runs_per_minute, bucket_tokens, bucket_at, updated_at)
    values (p_workspace, p_max_queued_runs, p_runs_per_minute, v_tokens, case when v_tokens is null then null else clock_timestamp() end, now())
    on conflict on constraint workspace_limits_pkey do update
      set max_queued_runs = excluded.max_queued_runs, runs_per_minute = excluded.runs_per_minute,
          bucket_tokens = excluded.bucket_tokens, bucket_at = excluded.bucket_at, updated_at = excluded.updated_at;
  end if;

  perform everruns_private.audit_append(p_workspace, 'workspace.limits_set', 'workspace', p_workspace::text,
    everruns_private.with_reason(jsonb_build_object(
      'old', jsonb_build_object('max_queued_runs', v_old.max_queued_runs, 'runs_per_minute', v_old.runs_per_minute),
      'new', jsonb_build_object('max_queued_runs', p_max_queued_runs, 'runs_per_minute', p_runs_per_minute))));
  return query select * from everruns_private.workspace_limits_of(p_workspace);
end;
$$;
comment on function everruns_private.set_workspace_limits(uuid, integer, integer) is 'Sets a workspace''s max_queued_runs and runs_per_minute (null: unlimited), audited as workspace.limits_set; returns workspace_limits_of (000021).';
revoke execute on function everruns_private.set_workspace_limits(uuid, integer, integer) from public;

---------------------------------------------------------------------------------------------
-- Enforcement at admission.
---------------------------------------------------------------------------------------------
create function everruns_private.tg_runs__admission_limits() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_ws record;
  v_queued bigint;
  v_now timestamptz;
  v_tokens double precision;
  v_retry integer;
  v_name text;
begin
  -- the limited workspaces among the new rows, locked in workspace order (a statement spans
  -- several workspaces only in an administrator's insert by hand); none: nothing more to do
  for v_ws in
    select l.workspace_id, l.max_queued_runs, l.runs_per_minute, l.bucket_tokens, l.bucket_at, n.new_runs
      from (select r.workspace_id, count(*) as new_runs from new_runs r group by r.workspace_id) n
      join everruns_private.workspace_limits l on l.workspace_id = n.workspace_id
     order by l.workspace_id
       for update of l
  loop
    if v_ws.max_queued_runs is not null then
      -- a statement after the lock: its snapshot holds what the admissions before committed,
      -- and this statement's own rows (status 'queued': tg_runs__prepare)
      select count(*) into v_queued from everruns.runs r where r.workspace_id = v_ws.workspace_id and r.status = 'queued';
      if v_queued > v_ws.max_queued_runs then
        select w.name into v_name from everruns.workspaces w where w.id = v_ws.workspace_id;
        raise exception 'workspace % is at its limit max_queued_runs %: % more runs would make % queued',
            v_name, v_ws.max_queued_runs, v_ws.new_runs, v_queued
          using errcode = 'EV012',
                hint = 'Wait for queued runs to start, or ask an administrator to raise max_queued_runs (everruns workspaces limits '
                       || v_name || ' --max-queued-runs N).';
      end if;
    end if;

    if v_ws.runs_per_minute is not null then
      -- after the lock: bucket_at only moves forward
      v_now := clock_timestamp();
      v_tokens := case when v_ws.bucket_tokens is null then v_ws.runs_per_minute::double precision
                       else least(v_ws.runs_per_minute::double precision,
                                  v_ws.bucket_tokens + v_ws.runs_per_minute
                                    * greatest(0, extract(epoch from v_now - v_ws.bucket_at)::double precision) / 60) end;
      if v_tokens < v_ws.new_runs then
        select w.name into v_name from everruns.workspaces w where w.id = v_ws.workspace_id;
        if v_ws.new_runs > v_ws.runs_per_minute then
          -- never enough tokens for this statement: say so rather than promise a time
          raise exception 'workspace % admits at most runs_per_minute % runs at once; this statement inserts %',
              v_name, v_ws.runs_per_minute, v_ws.new_runs
            using errcode = 'EV012', detail = 'retry_after=60',
                  hint = 'Insert the runs in smaller batches, or ask an administrator to raise runs_per_minute.';
        end if;
        v_retry := greatest(1, ceil((v_ws.new_runs - v_tokens) * 60 / v_ws.runs_per_minute)::integer);
        raise exception 'workspace % is at its limit runs_per_minute %: % new runs, % allowed now; retry in % s',
            v_name, v_ws.runs_per_minute, v_ws.new_runs, floor(v_tokens)::bigint, v_retry
          using errcode = 'EV012', detail = 'retry_after=' || v_retry,
                hint = 'Retry after ' || v_retry || ' s, or ask an administrator to raise runs_per_minute (everruns workspaces limits '
                       || v_name || ' --runs-per-minute N).';
      end if;
      update everruns_private.workspace_limits l
         set bucket_tokens = v_tokens - v_ws.new_runs, bucket_at = v_now
       where l.workspace_id = v_ws.workspace_id;
    else
      -- a write of the locked row all the same: a REPEATABLE READ transaction that counted from
      -- an older snapshot then fails to lock it (40001) instead of admitting past the limit
      update everruns_private.workspace_limits l set bucket_at = l.bucket_at where l.workspace_id = v_ws.workspace_id;
    end if;
  end loop;
  return null;
end;
$$;
comment on function everruns_private.tg_runs__admission_limits() is 'Refuses (EV012) a statement inserting runs beyond their workspace''s max_queued_runs or runs_per_minute (000021).';
revoke execute on function everruns_private.tg_runs__admission_limits() from public;

-- fires before tg_runs__audit_start and tg_runs__enqueue (name order)
create trigger tg_runs__admission_limits after insert on everruns.runs
  referencing new table as new_runs
  for each statement execute function everruns_private.tg_runs__admission_limits();
