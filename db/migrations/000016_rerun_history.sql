-- 000016: a rerun replaces the run it reruns in the thread's history, and rerun from a chosen
-- step (issue 13, "rerun a failed run (same input, or from a chosen step as a new run on the
-- thread)").
--
-- 1. A rerun takes the place of the run it reruns. run_history(run, 'thread') (what an LLM call
--    is sent) left out nothing: a rerun's model saw the user's message twice and the failed
--    attempt's half-done tool calls. Now a run that has been rerun (by a run of the thread up to
--    the one whose history is read) is left out of the history; the rerun's own input and steps
--    stand where they are. A run is rerun at most once: a second rerun of the same run would
--    leave the first rerun (a failed attempt at the same input) in the history; rerun the
--    latest attempt instead (its rerun_of chain leads back to the first).
-- 2. Rerun from a chosen step: everruns.rerun_run(run_id, from_seq) starts a new run on the
--    thread whose history is the rerun run's input and its committed steps up to and including
--    step from_seq, and continues from there: its first step is an LLM call on that history
--    (its 'turn' history holds no LLM turn). RunInputSchema requires the messages of a run's
--    input, so the new run's input is the rerun run's (same agent version), and
--    runs.rerun_from_seq marks that the history holds the rerun run's input instead of its own
--    (a duplicate) and the rerun run's steps up to from_seq instead of none. Rules:
--    - the rerun run must be failed or cancelled, not a continuation (as for a plain rerun);
--    - it must be its thread's latest run: the new run comes last in the thread, so a run
--      started after the rerun one would sit between step from_seq and what follows it, and the
--      model would continue a conversation that had moved on (a plain rerun has no such gap:
--      it starts from an input, not from the middle of another run);
--    - from_seq must be one of its committed steps (run_steps), any status: rerunning from a
--      failed LLM step retries that call on the same history.
--    A plain rerun of a run that itself started from a step continues from the same point:
--    rerun_from_seq -1 (the rerun run's input, none of its steps), as the input it would send
--    again is already in the history.
--    The audit row (run.rerun on the original) records new_run_id and from_seq.
--
-- Additive: a nullable column, run_history and rerun_run(uuid) replaced with the same
-- signatures (the previous release's callers mean the same: a plain rerun, the thread's
-- conversation), one new overload rerun_run(uuid, int).

alter table everruns.runs add column rerun_from_seq int
  constraint runs_rerun_from_seq_check check (rerun_from_seq is null or (rerun_of is not null and rerun_from_seq >= -1));
comment on column everruns.runs.rerun_from_seq is 'For a rerun from a chosen step (everruns.rerun_run(run_id, from_seq)): the last step of the rerun run (rerun_of) this run continues from; its input repeats that run''s and is left out of the history. -1: from that run''s input, before its first step (000016).';

---------------------------------------------------------------------------------------------
-- 1 and 2. The thread's history without the runs rerun since.
---------------------------------------------------------------------------------------------
-- As in 000001, with the 'thread' scope leaving out what reruns replaced: of a run rerun by a
-- run up to this one, its entries (a plain rerun) or its steps after the step the rerun
-- continues from; of a rerun from a step, its own input. The 'turn' scope is unchanged: a run
-- plans its next step from its own chain, so a rerun from a step begins with an LLM call.
create or replace function everruns_private.run_history(p_run_id uuid, p_scope text) returns jsonb
  language plpgsql stable
  set plan_cache_mode = force_generic_plan
  as $$
declare
  v_run everruns.runs;
  v_llm record;
  v_result jsonb;
begin
  if p_scope = 'thread' then
    select * into v_run from everruns.runs where id = p_run_id;
    with runs as (
      select r.id, r.input, r.created_at, r.rerun_of, r.rerun_from_seq from everruns.runs r
      where r.thread_id = v_run.thread_id and (r.created_at, r.id) <= (v_run.created_at, v_run.id)
    ), replaced as (
      -- each run rerun by a run up to this one, and the last of its steps that stays (null:
      -- none, nor its input). One rerun per run (rerun_run); the latest one counts for runs
      -- rerun twice before 000016.
      select distinct on (x.rerun_of) x.rerun_of as id, x.rerun_from_seq as keep_to_seq
      from runs x where x.rerun_of is not null
      order by x.rerun_of, x.created_at desc, x.id desc
    ), kept as (
      select r.id, r.input, r.created_at, r.rerun_from_seq, p.id is not null as was_rerun, p.keep_to_seq
      from runs r left join replaced p on p.id = r.id
      where p.id is null or p.keep_to_seq is not null
    ), entries as (
      select k.created_at, k.id as run_id, -1 as seq,
             jsonb_build_object('kind', 'input', 'run_id', k.id, 'input', k.input) as entry
      from kept k
      where k.rerun_from_seq is null  -- a rerun from a step: the rerun run's input stands for its own
      union all
      select k.created_at, k.id, s.seq,
             jsonb_build_object('kind', 'step', 'run_id', k.id, 'step', jsonb_build_object(
               'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
      from kept k join everruns.run_steps s on s.run_id = k.id
      where not k.was_rerun or s.seq <= k.keep_to_seq
    )
    select coalesce(jsonb_agg(entry order by created_at, run_id, seq), '[]') into v_result from entries;
    return v_result;
  end if;

  -- From the last LLM turn on: the inputs of the runs from the turn's run to this one, every
  -- step of the runs after the turn's run, and the turn's run's steps from the turn on.
  select * into v_llm from everruns_private.last_llm_step(p_run_id);
  with chain as (
    select c.id, c.depth from everruns_private.run_chain(p_run_id) c
    where v_llm.depth is null or c.depth <= v_llm.depth
  ), entries as (
    select c.depth, -1 as seq, jsonb_build_object('kind', 'input', 'run_id', r.id, 'input', r.input) as entry
    from chain c join everruns.runs r on r.id = c.id
    union all
    select c.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from chain c join everruns.run_steps s on s.run_id = c.id
    where v_llm.depth is null or c.depth < v_llm.depth
    union all
    select v_llm.depth, s.seq, jsonb_build_object('kind', 'step', 'run_id', s.run_id, 'step', jsonb_build_object(
             'seq', s.seq, 'kind', s.kind, 'name', s.name, 'status', s.status, 'input', s.input, 'output', s.output))
    from everruns.run_steps s
    where s.run_id = v_llm.run_id and s.seq >= v_llm.seq
  )
  select coalesce(jsonb_agg(entry order by depth desc, seq), '[]') into v_result from entries;
  return v_result;
end;
$$;

---------------------------------------------------------------------------------------------
-- 2. Rerun, plain or from a chosen step.
---------------------------------------------------------------------------------------------
-- Starts a rerun of a failed or cancelled run and returns its id: plain (p_from_seq null: same
-- input, the run left out of the history) or from its step p_from_seq (the run's input and
-- steps up to that one, then an LLM call). Security definer (it writes the audit row and sets
-- rerun_of and rerun_from_seq, which no client may set), acting only on a run of the caller's
-- workspace, like cancel_run. Errors: EV005 unknown run; EV008 a run that is not failed or
-- cancelled, a continuation, a run already rerun, and (from a step) not its thread's latest run
-- or no such step.
create function everruns.rerun_run(run_id uuid, from_seq int) returns uuid
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_run everruns.runs;
  v_later uuid;
  v_rerun uuid;
  v_steps int;
  v_from_seq int := rerun_run.from_seq;
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
  -- the row lock above orders reruns of the same run: the second one sees the first
  select r.id into v_rerun from everruns.runs r where r.rerun_of = v_run.id order by r.created_at desc limit 1;
  if v_rerun is not null then
    raise exception 'run % was already rerun as run %', v_run.id, v_rerun
      using errcode = 'EV008', hint = 'Rerun the latest attempt (run ' || v_rerun::text || ') if it failed too.';
  end if;
  if v_from_seq is not null then
    select r.id into v_later from everruns.runs r
    where r.thread_id = v_run.thread_id and (r.created_at, r.id) > (v_run.created_at, v_run.id)
    order by r.created_at desc, r.id desc limit 1;
    if v_later is not null then
      raise exception 'run % is not the latest run of its thread (run % came after it); only the latest run can be rerun from a step', v_run.id, v_later
        using errcode = 'EV008', hint = 'Rerun it from its input instead (no step), or rerun run ' || v_later::text || ' from one of its steps.';
    end if;
    if not exists (select from everruns.run_steps s where s.run_id = v_run.id and s.seq = v_from_seq) then
      select count(*) into v_steps from everruns.run_steps s where s.run_id = v_run.id;
      raise exception 'run % has no committed step %', v_run.id, v_from_seq
        using errcode = 'EV008', hint = case when v_steps = 0 then 'It committed no step: rerun it from its input instead (no step).'
                                             else 'Choose one of its steps 0 to ' || (v_steps - 1)::text || '.' end;
    end if;
  elsif v_run.rerun_from_seq is not null then
    -- its input is already in the history (from the run it continues): continue from that input
    v_from_seq := -1;
  end if;
  insert into everruns.runs (workspace_id, agent_id, agent_version, thread_id, input, rerun_of, rerun_from_seq)
  values (v_run.workspace_id, v_run.agent_id, v_run.agent_version, v_run.thread_id, v_run.input, v_run.id, v_from_seq)
  returning id into v_new;
  perform everruns_private.audit_append(v_run.workspace_id, 'run.rerun', 'run', v_run.id::text,
    everruns_private.with_reason(jsonb_build_object('new_run_id', v_new, 'agent_version', v_run.agent_version,
                                                    'previous_status', v_run.status)
                                 || case when rerun_run.from_seq is not null
                                         then jsonb_build_object('from_seq', rerun_run.from_seq) else '{}'::jsonb end));
  return v_new;
end;
$$;
comment on function everruns.rerun_run(uuid, int) is 'Reruns a failed or cancelled run: a new run on its thread with the same agent version and input that replaces it in the history; from_seq: continuing from the run''s committed step from_seq (its latest run only), null: from its input. Returns the new run''s id (000016).';
revoke execute on function everruns.rerun_run(uuid, int) from public;

-- The plain rerun of 000015, for its callers (the previous release): the same as from_seq null.
create or replace function everruns.rerun_run(run_id uuid) returns uuid
  language sql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
  select everruns.rerun_run(rerun_run.run_id, null::int)
$$;
comment on function everruns.rerun_run(uuid) is 'Reruns a failed or cancelled run from its input: everruns.rerun_run(run_id, null) (000015, 000016).';

do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns.rerun_run(uuid, int) to everruns_api;
  end if;
end;
$$;
