-- 000018: admitting many runs at once costs per statement what it can, not per row (issue 23,
-- "`insert into everruns.runs ... select` of 2,000 rows takes ~2.3 s").
--
-- Measured before this migration (EXPLAIN ANALYZE of an insert ... select generate_series of
-- runs of one agent, rolled back; Postgres 15, 2 cores; times inflated by EXPLAIN's timing):
--
--                                  2,000 rows          10,000 rows
--   tg_runs__enqueue (AFTER row)    670-810 ms (0.37)   3,724 ms (0.37 ms/run)
--   tg_runs__audit_start (AFTER)    397-418 ms (0.20)   3,370 ms (0.34 ms/run, growing: every
--                                                        row updates the workspace's audit head,
--                                                        whose chain of row versions each next
--                                                        row walks)
--   tg_runs__prepare (BEFORE)        80-90 ms (0.04)      420 ms (0.04 ms/run)
--   7 foreign keys together            ~60 ms              ~160 ms
--   the whole statement            1,450-1,575 ms       8,714 ms (~1,150 runs/s)
--
-- The two AFTER row triggers were 3/4 of the time; the BEFORE trigger (validation, the run's
-- thread) and the foreign keys are linear and small, and stay as they were. Both AFTER row
-- triggers become statement-level triggers over the inserted rows (a transition table), under
-- the same names (db/test/audit-log.test.ts's opt-in bench toggles tg_runs__audit_start):
--
-- 1. tg_runs__enqueue: ONE graphile_worker.add_jobs call for all new runs instead of one
--    add_job per run. Same jobs: task run_step, payload {"run_id"}, run_at now(), max_attempts
--    25, job key run:<id>. add_job's default job_key_mode 'replace' is exactly
--    add_jobs(specs, job_key_preserve_run_at => false) (add_job calls it so); a new run's key is
--    new anyway. Every inserted run gets a job, as before (the row trigger had no WHEN and no
--    status condition; tg_runs__prepare makes every new run 'queued'). The parent of a
--    continuation is marked (continued_by) in one update; the everruns:runs notification
--    "<run_id>:<workspace_id>" is still sent per run (a listener needs each run).
-- 2. tg_runs__audit_start: locks each workspace's audit head once, chains the statement's
--    audit rows in memory (the same audit_hash, seq, at, actor, action and details as
--    audit_append would write, in the order the rows were inserted), inserts them in one
--    statement and moves the head once. verify_audit cannot tell the difference.
--
-- After (same probe, 10,000 rows): tg_runs__audit_start 251 ms and tg_runs__enqueue 134 ms
-- (one call each), the statement 2,095 ms under EXPLAIN; without EXPLAIN, commit included,
-- 1.65-2.0 s (5,000-6,000 runs/s), where the bare table insert (no trigger, no foreign key:
-- the heap and its nine indexes, the trigram one on input included) alone takes ~0.7 s.
-- `everruns bench --only admission` (scripts/bench/admission.ts) compares it with the per-row
-- path on the same server: 10-21x as many runs/s. The 10,000 everruns:runs notifications cost
-- ~25 ms to queue and a few ms at commit (without listeners; each listener then reads 10,000).
--
-- Additive: the trigger functions keep their names and signatures (nothing but the triggers
-- calls them); only the triggers change from FOR EACH ROW to FOR EACH STATEMENT.

---------------------------------------------------------------------------------------------
-- 1. Enqueue the new runs.
---------------------------------------------------------------------------------------------
drop trigger tg_runs__enqueue on everruns.runs;

create or replace function everruns_private.tg_runs__enqueue() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  v_specs graphile_worker.job_spec[];
begin
  -- A statement trigger fires even when the statement inserted nothing.
  select array_agg(row('run_step', json_build_object('run_id', n.id), null, now(), 25, 'run:' || n.id::text, null, null)::graphile_worker.job_spec)
    into v_specs
    from new_runs n;
  if v_specs is null then
    return null;
  end if;

  -- A continuation marks the run it answers. Two continuations of one parent in one statement
  -- (tg_runs__prepare cannot see the other's mark yet) left the last one's mark under the row
  -- trigger: so does this (row_number() follows the transition table's insertion order).
  update everruns.runs r
     set continued_by = c.id, updated_at = now()
    from (select distinct on (x.parent_run_id) x.parent_run_id, x.id
            from (select n.parent_run_id, n.id, row_number() over () as ord
                    from new_runs n where n.parent_run_id is not null) x
           order by x.parent_run_id, x.ord desc) c
   where r.id = c.parent_run_id;

  -- as enqueue_step(id) for each run (graphile-worker's public interface: add_job calls add_jobs
  -- with job_key_preserve_run_at false for its default job_key_mode 'replace')
  perform graphile_worker.add_jobs(v_specs, false);

  -- one notification per run: a workspace's watchers need each of its runs. Postgres folds
  -- identical notifications of a transaction, and these are all distinct.
  perform pg_notify('everruns:runs', n.id::text || ':' || n.workspace_id::text) from new_runs n;
  return null;
end;
$$;

create trigger tg_runs__enqueue after insert on everruns.runs
  referencing new table as new_runs
  for each statement execute function everruns_private.tg_runs__enqueue();

---------------------------------------------------------------------------------------------
-- 2. Audit the new runs: one lock and one write of each workspace's audit head per statement.
---------------------------------------------------------------------------------------------
drop trigger tg_runs__audit_start on everruns.runs;

create or replace function everruns_private.tg_runs__audit_start() returns trigger
  language plpgsql volatile security definer
  set search_path to pg_catalog, pg_temp
  as $$
declare
  -- as audit_append: a bound role is who it is, its settings cannot name another actor (one
  -- value per statement: the session and its settings do not change within one)
  v_actor text := case when everruns_private.bound_workspace(session_user) is not null then 'db:' || session_user
                       else coalesce(nullif(current_setting('everruns.actor', true), ''), 'db:' || session_user) end;
  v_workspace uuid;
  v_last bigint;
  v_prev bytea;
  v_at timestamptz;
  v_hash bytea;
  v_row record;
  v_seqs bigint[];
  v_ats timestamptz[];
  v_actions text[];
  v_targets text[];
  v_details jsonb[];
  v_prevs bytea[];
  v_hashes bytea[];
begin
  -- heads locked in workspace order (the row trigger locked them in row order; a statement
  -- spans several workspaces only in an administrator's insert by hand)
  for v_workspace in select distinct n.workspace_id from new_runs n order by 1 loop
    select h.seq, h.hash into v_last, v_prev
      from everruns_private.audit_heads h where h.workspace_id = v_workspace for update;
    if not found then
      -- as audit_append: the workspace's first audit row creates its head
      insert into everruns_private.audit_heads (workspace_id, seq, hash) values (v_workspace, 0, null)
        on conflict do nothing;
      select h.seq, h.hash into v_last, v_prev
        from everruns_private.audit_heads h where h.workspace_id = v_workspace for update;
    end if;
    v_seqs := '{}'; v_ats := '{}'; v_actions := '{}'; v_targets := '{}'; v_details := '{}'; v_prevs := '{}'; v_hashes := '{}';

    -- what tg_runs__audit_start wrote per row (000015/000016), in insertion order
    for v_row in
      with n as (
        select r.*, row_number() over () as ord from new_runs r where r.workspace_id = v_workspace
      )
      select n.id, n.ord,
             case when n.parent_run_id is null then 'run.started'
                  when jsonb_array_length(a.answers) > 0 then 'approval.answered'
                  else 'run.resumed' end as action,
             case when n.parent_run_id is null then d.details
                  when jsonb_array_length(a.answers) > 0
                    then everruns_private.with_reason(d.details || jsonb_build_object('parent_run_id', n.parent_run_id)
                                                      || jsonb_build_object('answers', a.answers))
                  else everruns_private.with_reason(d.details || jsonb_build_object('parent_run_id', n.parent_run_id)) end as details
        from n
       cross join lateral (
         select jsonb_build_object('agent_id', n.agent_id, 'agent_version', n.agent_version, 'thread_id', n.thread_id)
                || case when n.rerun_of is not null then jsonb_build_object('rerun_of', n.rerun_of) else '{}'::jsonb end as details
       ) d
       cross join lateral (
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
                  order by e.ord), '[]'::jsonb) as answers
           from jsonb_array_elements(case when n.parent_run_id is null then '[]'::jsonb
                                          else coalesce(n.input -> 'resume', '[]'::jsonb) end)
                with ordinality as e(value, ord)
       ) a
       order by n.ord
    loop
      -- after the lock: `at` increases with seq, one clock reading per row as audit_append
      v_at := clock_timestamp();
      v_last := v_last + 1;
      v_hash := everruns_private.audit_hash(v_workspace, v_last, v_at, v_actor, v_row.action, 'run', v_row.id::text,
                                            v_row.details, v_prev);
      v_seqs := array_append(v_seqs, v_last);
      v_ats := array_append(v_ats, v_at);
      v_actions := array_append(v_actions, v_row.action);
      v_targets := array_append(v_targets, v_row.id::text);
      v_details := array_append(v_details, v_row.details);
      v_prevs := array_append(v_prevs, v_prev);
      v_hashes := array_append(v_hashes, v_hash);
      v_prev := v_hash;
    end loop;

    insert into everruns.audit_log (workspace_id, seq, at, actor, action, target_type, target_id, details, prev_hash, hash)
    select v_workspace, u.seq, u.at, v_actor, u.action, 'run', u.target_id, u.details, u.prev_hash, u.hash
      from unnest(v_seqs, v_ats, v_actions, v_targets, v_details, v_prevs, v_hashes)
           as u(seq, at, action, target_id, details, prev_hash, hash)
     order by u.seq;
    update everruns_private.audit_heads set seq = v_last, hash = v_prev where workspace_id = v_workspace;
  end loop;
  return null;
end;
$$;

create trigger tg_runs__audit_start after insert on everruns.runs
  referencing new table as new_runs
  for each statement execute function everruns_private.tg_runs__audit_start();
