-- 000003: the audit log (issue "Workspaces and access control").
--
-- everruns.audit_log is, per workspace, an append-only and hash-chained record of who did what:
-- agents created, reconfigured (a new version), renamed or deleted; runs started, resumed
-- (answering an interrupted run) and cancelled; signals sent. Each row is written by a trigger
-- on the changed table, so it commits or rolls back with the change it records, whichever
-- client made it (the API, psql, a worker). Nothing is written per step: there is no trigger
-- on run_steps or run_events, and the runs triggers fire on insert and on a status change to
-- 'cancelled' only.
--
-- Each workspace's rows have seq 1, 2, 3... with no gaps, and each row's hash is sha256 over a
-- canonical encoding of its contents and the previous row's hash (everruns_private.audit_hash),
-- so editing, deleting or inserting a row breaks the chain from there on:
-- everruns.verify_audit(workspace) finds the first broken link. Rows can be neither updated nor
-- deleted (a trigger refuses UPDATE and DELETE for everyone, and TRUNCATE too), and no role is
-- granted more than SELECT on the table.
--
-- Actor: the API sets `everruns.actor` for its transaction (`set local everruns.actor =
-- 'key:<id>'`, or set_config('everruns.actor', ..., true)); without it the row records
-- 'db:' || session_user (a security definer function does not change session_user).
--
-- Details never hold secrets nor payloads: no agent config, run input, resume payload or
-- signal payload, only names, ids, versions and statuses.

---------------------------------------------------------------------------------------------
-- The log and the tip of each workspace's chain.
---------------------------------------------------------------------------------------------
create table everruns.audit_log (
  id bigint generated always as identity primary key,
  workspace_id uuid not null references everruns.workspaces,
  seq bigint not null check (seq >= 1),
  at timestamptz not null,
  actor text not null check (actor <> ''),
  action text not null,
  target_type text not null check (target_type ~ '^[a-z][a-z_]*$'),
  target_id text,
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  prev_hash bytea check (octet_length(prev_hash) = 32),
  hash bytea not null check (octet_length(hash) = 32),
  -- Known actions. A new one (keys, secrets, role bindings...) is added by a later migration:
  --   alter table everruns.audit_log drop constraint audit_log_action_check,
  --     add constraint audit_log_action_check check (action in (..., 'key.created')) not valid;
  -- (not valid: the old rows already passed the old list, and the table is never updated).
  constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent')),
  constraint audit_log_first_link check ((seq = 1) = (prev_hash is null))
);
-- One row per (workspace, seq): a fork of the chain cannot be stored even by a writer that
-- bypassed audit_append. Descending, for the usual read: a workspace's log, newest first
-- (`where workspace_id = $1 [and seq < $before] order by seq desc limit $n`).
create unique index audit_log_workspace_seq_idx on everruns.audit_log (workspace_id, seq desc);

comment on table everruns.audit_log is E'@behavior -insert -update -delete\nAppend-only, hash-chained record of changes per workspace (agents, runs, signals), written in the transaction of the change. Check it with everruns.verify_audit(workspace_id).';
comment on column everruns.audit_log.id is 'Global insertion order (identity); seq is the order within the workspace.';
comment on column everruns.audit_log.workspace_id is 'The workspace whose chain this row belongs to.';
comment on column everruns.audit_log.seq is '1, 2, 3... per workspace, with no gaps.';
comment on column everruns.audit_log.at is 'When the row was written (database clock, clock_timestamp(): increasing with seq within a workspace).';
comment on column everruns.audit_log.actor is 'Who: the API''s everruns.actor setting (e.g. key:<id>), else db:<session user>.';
comment on column everruns.audit_log.action is 'What: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, signal.sent.';
comment on column everruns.audit_log.target_type is 'The kind of object acted on: agent or run.';
comment on column everruns.audit_log.target_id is 'The id of the object acted on.';
comment on column everruns.audit_log.details is 'Names, ids, versions and statuses; never secrets, configs nor payloads.';
comment on column everruns.audit_log.prev_hash is 'The hash of the previous row of the workspace (seq - 1); null for seq 1.';
comment on column everruns.audit_log.hash is 'sha256 of the canonical encoding of this row and prev_hash (everruns_private.audit_hash).';

-- Nobody but the owner holds any right on the table; roles added later get SELECT only (never
-- INSERT, UPDATE, DELETE or TRUNCATE): rows are written by the security definer audit_append.
revoke all on everruns.audit_log from public;

create trigger tg_audit_log__immutable before update or delete on everruns.audit_log
  for each row execute function everruns_private.tg__immutable();
create trigger tg_audit_log__no_truncate before truncate on everruns.audit_log
  for each statement execute function everruns_private.tg__immutable();

-- The tip of each workspace's chain: its last seq and hash. Writers serialise on this row.
--
-- Why a row of its own, and not one of the alternatives:
-- - `select ... for update` on the workspace's row in everruns.workspaces would conflict with
--   the FOR KEY SHARE lock every foreign key check takes on it, so each run step, event and
--   signal insert of the workspace would wait for any transaction holding an audit write until
--   it commits; FOR NO KEY UPDATE avoids that but still stamps a lock on the hottest row of
--   the schema and mixes with its FK lockers into multixacts.
-- - an advisory xact lock keyed by the workspace writes nothing, but a REPEATABLE READ or
--   SERIALIZABLE transaction took its snapshot before it got the lock, so it would not see the
--   row written by the writer it waited for and would fail with a unique violation; and the
--   log alone cannot tell that its newest rows were deleted.
-- With a head row, READ COMMITTED writers queue on its row lock and read the committed tip (the
-- lock re-reads the row once it is granted); a REPEATABLE READ writer that lost the race gets a
-- serialization failure (40001), which clients retry; and verify_audit can check that the log
-- still ends where the head says.
-- Cost: one HOT update of a small row per audit row (plus the lock). The lock is held until the
-- writer commits, so audit writes of one workspace, i.e. run starts, cancels, signals and agent
-- changes, commit one at a time: per workspace at most about 1 / (commit latency) of them per
-- second. That is inherent to a gapless chain written in the transaction of the change (a row's
-- prev_hash is its predecessor's, which must have committed). Different workspaces do not wait
-- for each other; a transaction that writes to two workspaces in an order opposite to another's
-- can deadlock (Postgres aborts one of them).
create table everruns_private.audit_heads (
  workspace_id uuid primary key references everruns.workspaces,
  seq bigint not null check (seq >= 0),
  hash bytea check ((seq = 0) = (hash is null))
) with (fillfactor = 50);
comment on table everruns_private.audit_heads is 'The last seq and hash of each workspace''s audit chain; audit writers lock its row.';
revoke all on everruns_private.audit_heads from public;

---------------------------------------------------------------------------------------------
-- Hashing and appending.
---------------------------------------------------------------------------------------------
-- sha256 over the UTF-8 text of a jsonb array:
--   [workspace_id, seq, at, actor, action, target_type, target_id, details, prev_hash]
-- with workspace_id as text, seq as a number, at as UTC ISO 8601 with microseconds
-- ("2025-01-31T12:00:00.000000Z"), details as jsonb (its text form is canonical: keys sorted,
-- duplicates removed, fixed spacing), prev_hash as lowercase hex (null for seq 1). None of it
-- depends on session settings (TimeZone, DateStyle, bytea_output), so any session, and any
-- program that rebuilds the same text, gets the same hash.
create function everruns_private.audit_hash(p_workspace_id uuid, p_seq bigint, p_at timestamptz, p_actor text,
                                            p_action text, p_target_type text, p_target_id text, p_details jsonb,
                                            p_prev_hash bytea) returns bytea
  language sql stable parallel safe
  as $$
  select pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_build_array(
    p_workspace_id::text,
    p_seq,
    pg_catalog.to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    p_actor, p_action, p_target_type, p_target_id, p_details,
    pg_catalog.encode(p_prev_hash, 'hex'))::text, 'UTF8'))
$$;

-- Appends one row to the workspace's chain and returns its seq. Called by the audit triggers
-- only; security definer so that roles which may change agents or runs but hold no right on
-- the audit tables (all of them, once roles exist) are still recorded.
create function everruns_private.audit_append(p_workspace_id uuid, p_action text, p_target_type text,
                                              p_target_id text, p_details jsonb) returns bigint
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_last bigint;
  v_prev bytea;
  v_at timestamptz;
  v_actor text := coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user);
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

---------------------------------------------------------------------------------------------
-- What is recorded: one trigger per change, none per step.
--
-- The trigger functions are security definer: a trigger function needs no EXECUTE right to
-- fire, but what it calls does, and audit_append must stay uncallable by anyone (whoever could
-- call it could write rows of their choosing into the log).
---------------------------------------------------------------------------------------------
-- agent.created {name, version}; agent.deleted {name, version}
create function everruns_private.tg_agents__audit() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if tg_op = 'INSERT' then
    perform everruns_private.audit_append(new.workspace_id, 'agent.created', 'agent', new.id::text,
      jsonb_build_object('name', new.name, 'version', new.version));
  else
    perform everruns_private.audit_append(old.workspace_id, 'agent.deleted', 'agent', old.id::text,
      jsonb_build_object('name', old.name, 'version', old.version));
  end if;
  return null;
end;
$$;
create trigger tg_agents__audit after insert or delete on everruns.agents
  for each row execute function everruns_private.tg_agents__audit();

-- agent.renamed {from, to}; agent.config_updated {name, version, previous_version} (the new
-- version's config is in agent_versions). An update doing both writes both, rename first.
create function everruns_private.tg_agents__audit_update() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if old.name is distinct from new.name then
    perform everruns_private.audit_append(new.workspace_id, 'agent.renamed', 'agent', new.id::text,
      jsonb_build_object('from', old.name, 'to', new.name));
  end if;
  if old.version is distinct from new.version then
    perform everruns_private.audit_append(new.workspace_id, 'agent.config_updated', 'agent', new.id::text,
      jsonb_build_object('name', new.name, 'version', new.version, 'previous_version', old.version));
  end if;
  return null;
end;
$$;
create trigger tg_agents__audit_update after update of name, config on everruns.agents
  for each row when (old.name is distinct from new.name or old.version is distinct from new.version)
  execute function everruns_private.tg_agents__audit_update();

-- One row per run insert (after tg_runs__prepare settled agent_version, thread and parent):
--   run.started {agent_id, agent_version, thread_id}
--   approval.answered {..., parent_run_id, answers: [{interruptId, status}]}: a continuation
--     answering the approval interrupts of its parent (input.resume); the answers' payloads
--     (approved, edited arguments) are not recorded
--   run.resumed {..., parent_run_id}: a continuation with no approvals to answer (the client
--     tools' results of an interrupted run)
create function everruns_private.tg_runs__audit_start() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_details jsonb := jsonb_build_object('agent_id', new.agent_id, 'agent_version', new.agent_version,
                                        'thread_id', new.thread_id);
  v_answers jsonb;
begin
  if new.parent_run_id is null then
    perform everruns_private.audit_append(new.workspace_id, 'run.started', 'run', new.id::text, v_details);
    return null;
  end if;
  -- tg_runs__prepare checked that input.resume is an array of {interruptId, status} answering the parent
  select coalesce(jsonb_agg(jsonb_build_object('interruptId', e.value -> 'interruptId', 'status', e.value -> 'status')
                            order by e.ord), '[]'::jsonb)
    into v_answers
    from jsonb_array_elements(coalesce(new.input -> 'resume', '[]'::jsonb)) with ordinality as e(value, ord);
  v_details := v_details || jsonb_build_object('parent_run_id', new.parent_run_id);
  if jsonb_array_length(v_answers) > 0 then
    perform everruns_private.audit_append(new.workspace_id, 'approval.answered', 'run', new.id::text,
      v_details || jsonb_build_object('answers', v_answers));
  else
    perform everruns_private.audit_append(new.workspace_id, 'run.resumed', 'run', new.id::text, v_details);
  end if;
  return null;
end;
$$;
create trigger tg_runs__audit_start after insert on everruns.runs
  for each row execute function everruns_private.tg_runs__audit_start();

-- run.cancelled {previous_status}. The per-step updates of a run never call it: the trigger
-- fires only when the statement sets status, and its WHEN clause (evaluated without calling
-- the function) only for the change to 'cancelled'.
create function everruns_private.tg_runs__audit_cancel() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.audit_append(new.workspace_id, 'run.cancelled', 'run', new.id::text,
    jsonb_build_object('previous_status', old.status));
  return null;
end;
$$;
create trigger tg_runs__audit_cancel after update of status on everruns.runs
  for each row when (old.status is distinct from new.status and new.status = 'cancelled')
  execute function everruns_private.tg_runs__audit_cancel();

-- signal.sent {signal_id, name} on the run it was sent to; never the payload.
create function everruns_private.tg_run_signals__audit() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.audit_append(new.workspace_id, 'signal.sent', 'run', new.run_id::text,
    jsonb_build_object('signal_id', new.id, 'name', new.name));
  return null;
end;
$$;
create trigger tg_run_signals__audit after insert on everruns.run_signals
  for each row execute function everruns_private.tg_run_signals__audit();

---------------------------------------------------------------------------------------------
-- Verification.
---------------------------------------------------------------------------------------------
-- Returns null when the workspace's chain is intact, else a jsonb object describing its first
-- broken link: {"seq": n, "problem": p, "message": "..."} where p is
--   'missing'   rows are missing before the row found at that place (a deletion): seq is the
--               first missing seq, "found_seq" the seq of the row found instead
--   'prev_hash' the row's prev_hash is not the hash of the row before it
--   'hash'      the row's hash does not match its contents (it was edited)
--   'head'      the log ends before, or elsewhere than, the chain's recorded tip (its newest
--               rows were deleted or replaced): seq is the first seq missing or the last one
-- A workspace with no audit rows is intact. Reads the whole chain: O(rows of the workspace).
create function everruns.verify_audit(workspace uuid) returns jsonb
  language plpgsql stable security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_row record;
  v_head everruns_private.audit_heads;
  v_last_seq bigint := 0;
  v_last_hash bytea;
begin
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
comment on function everruns.verify_audit(uuid) is 'Checks a workspace''s audit chain: null when intact, else its first broken link {seq, problem, message}.';

---------------------------------------------------------------------------------------------
-- Privileges. Nothing here is callable by PUBLIC (whatever the default privileges of the
-- migrating role); the API's group role, where it exists (000002_hardening creates it), reads
-- the log and verifies it.
---------------------------------------------------------------------------------------------
revoke execute on function
  everruns_private.audit_hash(uuid, bigint, timestamptz, text, text, text, text, jsonb, bytea),
  everruns_private.audit_append(uuid, text, text, text, jsonb),
  everruns_private.tg_agents__audit(),
  everruns_private.tg_agents__audit_update(),
  everruns_private.tg_runs__audit_start(),
  everruns_private.tg_runs__audit_cancel(),
  everruns_private.tg_run_signals__audit(),
  everruns.verify_audit(uuid)
  from public;

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant select on everruns.audit_log to everruns_api;
    grant execute on function everruns.verify_audit(uuid) to everruns_api;
  end if;
end;
$$;
