-- 000015: operator actions with a trail (issue 13, "Operator actions with a trail").
--
-- 1. A reason for what an operator does. The API (or a psql session) sets the transaction's
--    `everruns.reason` (set_config('everruns.reason', ..., true), like `everruns.actor`) before
--    cancelling, answering or sending an event; the audit triggers record it as details.reason
--    (at most 500 characters; empty: none). run.cancelled, approval.answered and signal.sent.
-- 2. approval.answered records the decision of each answer: {interruptId, status, approved,
--    edited, reason}: approved is the worker's rule (worker/conversation.ts: resolved and
--    payload.approved not false), edited whether new arguments were given (never the
--    arguments themselves: a payload stays out of the log), reason the rejection's reason the
--    model is told. The approvals history reads it from the log, not from the continuation.
-- 3. Rerun: everruns.rerun_run(run_id) starts a new run on the same thread with the same agent
--    version and input as a failed or cancelled run, in one transaction with its audit row
--    (run.rerun on the original run: {new_run_id, agent_version, reason}; the new run's own
--    run.started follows from the runs trigger as for any run). runs.rerun_of links the new
--    run to the one it reruns. A continuation (a run answering interrupts) is not rerun: its
--    input answers a run that is already answered; rerun the work from its thread instead.
--    "From a chosen step" is not offered: a run's history is read from every run of its thread
--    (run_history), so a run that began at step N of another would also see that run's later
--    steps; it needs the history to skip a rerun run's steps, a change to the step engine.
-- 4. The audit log can be filtered by action and by target in GraphQL (indexes, and the
--    columns' filterBy behaviour): the approvals history reads approval.answered entries only,
--    newest first, instead of the newest 1,000 entries of every kind.
--
-- Additive: a column, an action, an index each, three trigger functions replaced with the same
-- signatures (they only add details), one new function.

---------------------------------------------------------------------------------------------
-- 1 and 2. Reasons and decisions in the audit log.
---------------------------------------------------------------------------------------------
-- The operator's reason of this transaction, or null.
create function everruns_private.audit_reason() returns text
  language sql stable
  as $$
  select nullif(pg_catalog.left(pg_catalog.btrim(coalesce(pg_catalog.current_setting('everruns.reason', true), '')), 500), '')
$$;
comment on function everruns_private.audit_reason() is 'The transaction''s everruns.reason setting (an operator''s reason for an action), trimmed, at most 500 characters; null when unset (000015).';
revoke execute on function everruns_private.audit_reason() from public;

-- details || {reason} when there is one
create function everruns_private.with_reason(p_details jsonb) returns jsonb
  language sql stable
  as $$
  select case when everruns_private.audit_reason() is null then p_details
              else p_details || pg_catalog.jsonb_build_object('reason', everruns_private.audit_reason()) end
$$;
revoke execute on function everruns_private.with_reason(jsonb) from public;

-- As in 000003, plus each answer's decision and the operator's reason.
create or replace function everruns_private.tg_runs__audit_start() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_details jsonb := jsonb_build_object('agent_id', new.agent_id, 'agent_version', new.agent_version,
                                        'thread_id', new.thread_id);
  v_answers jsonb;
begin
  if new.rerun_of is not null then
    v_details := v_details || jsonb_build_object('rerun_of', new.rerun_of);
  end if;
  if new.parent_run_id is null then
    perform everruns_private.audit_append(new.workspace_id, 'run.started', 'run', new.id::text, v_details);
    return null;
  end if;
  -- tg_runs__prepare checked that input.resume is an array of {interruptId, status} answering the parent
  select coalesce(jsonb_agg(
           jsonb_build_object(
             'interruptId', e.value -> 'interruptId',
             'status', e.value -> 'status',
             -- the worker's rule (worker/conversation.ts): resolved, and not payload.approved = false
             'approved', (e.value ->> 'status') = 'resolved'
                         and coalesce(e.value #> '{payload,approved}', 'true'::jsonb) <> 'false'::jsonb,
             'edited', coalesce(jsonb_typeof(e.value #> '{payload,arguments}') = 'object', false))
           || case when jsonb_typeof(e.value #> '{payload,reason}') = 'string'
                        and btrim(e.value #>> '{payload,reason}') <> ''
                   then jsonb_build_object('reason', left(e.value #>> '{payload,reason}', 500))
                   else '{}'::jsonb end
           order by e.ord), '[]'::jsonb)
    into v_answers
    from jsonb_array_elements(coalesce(new.input -> 'resume', '[]'::jsonb)) with ordinality as e(value, ord);
  v_details := v_details || jsonb_build_object('parent_run_id', new.parent_run_id);
  if jsonb_array_length(v_answers) > 0 then
    perform everruns_private.audit_append(new.workspace_id, 'approval.answered', 'run', new.id::text,
      everruns_private.with_reason(v_details || jsonb_build_object('answers', v_answers)));
  else
    perform everruns_private.audit_append(new.workspace_id, 'run.resumed', 'run', new.id::text,
      everruns_private.with_reason(v_details));
  end if;
  return null;
end;
$$;

create or replace function everruns_private.tg_runs__audit_cancel() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.audit_append(new.workspace_id, 'run.cancelled', 'run', new.id::text,
    everruns_private.with_reason(jsonb_build_object('previous_status', old.status)));
  return null;
end;
$$;

create or replace function everruns_private.tg_run_signals__audit() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform everruns_private.audit_append(new.workspace_id, 'signal.sent', 'run', new.run_id::text,
    everruns_private.with_reason(jsonb_build_object('signal_id', new.id, 'name', new.name)));
  return null;
end;
$$;

---------------------------------------------------------------------------------------------
-- 3. Rerun.
---------------------------------------------------------------------------------------------
alter table everruns.runs add column rerun_of uuid references everruns.runs;
comment on column everruns.runs.rerun_of is 'The failed or cancelled run this one reruns (everruns.rerun_run): same thread, agent version and input.';
create index runs_rerun_of_idx on everruns.runs (rerun_of) where rerun_of is not null;

alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted',
    'workspace.created', 'key.created', 'key.revoked', 'role.bound', 'role.unbound',
    'run.rerun')) not valid;

-- Starts a rerun of a failed or cancelled run and returns its id. Security definer (it writes
-- the audit row and sets rerun_of, which no client may set), acting only on a run of the
-- caller's workspace, like cancel_run. Errors: EV005 unknown run; EV008 a run that is not
-- failed or cancelled, or a continuation.
create function everruns.rerun_run(run_id uuid) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_new uuid;
begin
  select * into v_run from everruns.runs r where r.id = rerun_run.run_id for update;
  if not found then
    raise exception 'unknown run %', rerun_run.run_id using errcode = 'EV005';
  end if;
  perform everruns_private.assert_in_workspace(v_run.workspace_id, 'run ' || rerun_run.run_id::text);
  if v_run.status not in ('failed', 'cancelled') then
    raise exception 'run % is %; only a failed or cancelled run can be rerun', v_run.id, v_run.status
      using errcode = 'EV008', hint = case when v_run.status in ('queued', 'running', 'waiting', 'interrupted')
                                           then 'Cancel it first, or wait for it to end.'
                                           else 'Start a new run on its thread instead.' end;
  end if;
  if v_run.parent_run_id is not null then
    raise exception 'run % answers the interrupts of run % and cannot be rerun', v_run.id, v_run.parent_run_id
      using errcode = 'EV008', hint = 'Start a new run on its thread with the instruction again.';
  end if;
  insert into everruns.runs (workspace_id, agent_id, agent_version, thread_id, input, rerun_of)
  values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, v_run.thread_id, v_run.input, v_run.id)
  returning id into v_new;
  perform everruns_private.audit_append(v_run.workspace_id, 'run.rerun', 'run', v_run.id::text,
    everruns_private.with_reason(jsonb_build_object('new_run_id', v_new, 'agent_version', v_run.agent_version,
                                                    'previous_status', v_run.status)));
  return v_new;
end;
$$;
comment on function everruns.rerun_run(uuid) is 'Reruns a failed or cancelled run: a new run on its thread with the same agent version and input; returns the new run''s id (000015).';
revoke execute on function everruns.rerun_run(uuid) from public;

---------------------------------------------------------------------------------------------
-- 4. Filtering the audit log by action and target.
---------------------------------------------------------------------------------------------
create index audit_log_action_idx on everruns.audit_log (workspace_id, action, seq desc);
create index audit_log_target_idx on everruns.audit_log (workspace_id, target_id, seq desc) where target_id is not null;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, key.created, key.revoked, role.bound, role.unbound.';
comment on column everruns.audit_log.target_id is E'@behavior +filterBy\nThe id of the object acted on.';

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns.rerun_run(uuid) to everruns_api;
  end if;
end;
$$;
