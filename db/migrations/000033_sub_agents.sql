-- 000033: sub-agents (issue 18, "Sub-agents"; docs/sub-agents.md).
--
-- A tool of type "agent" starts a child run of another agent of the workspace; the calling run
-- (the caller) waits durably, status `waiting` with no worker held, and resumes with the child's
-- output as that call's tool result.
--
-- * everruns.runs.caller_run_id / caller_tool_call_id: the run whose tool call started this one,
--   and that call. root_run_id: the top of the tree (null for a run nobody called: a top-level
--   run is its own root). runs.parent_run_id keeps its meaning (the interrupted run a
--   continuation answers): a continuation of a child carries its three columns over
--   (tg_runs__sub_agent), so the caller waits for the end of the continuation. One original child
--   per call: unique (caller_run_id, caller_tool_call_id) among runs that continue nothing.
-- * Starting: the caller's tool step parks with a `children` wait; its wait step's output names
--   the children to start (`start`: run id, call id, agent id, input). When the commit sets the
--   caller `waiting` (commit_step_locked, unchanged), tg_runs__sub_agents_park inserts them, in
--   that same transaction: a crash before the commit leaves no child, a replayed step (fenced)
--   can never start one twice.
-- * Waking: when a child's call chain ends (succeeded / failed / cancelled; interrupted on the
--   root, to report it), tg_runs__sub_agents_wake gives the waiting caller its job, in the
--   transaction that ends the child (sub_agents_wake_due says when: the awaited call ended, a
--   slot freed for a call not started yet, or, on the root, a descendant awaits an answer not
--   reported in the root's log yet).
-- * Cancelling (or failing) a caller cancels its unfinished children, recursively
--   (tg_runs__sub_agents_cancel, through everruns.cancel_run).
-- * everruns.runs_tree_usage(run): the usage of a run and all its descendants (runs.usage stays
--   the run's own); everruns.runs_awaiting_descendants(run): its descendants that wait for an
--   answer; everruns.runs_children(run): the runs its calls started (GraphQL computed columns).
--
-- Lock order (db/CONVENTIONS.md): a caller's row before its children's. A caller that parks
-- locks its unfinished children (a root: its whole tree, level by level) `for share` before it
-- reads them; cancelling locks the caller, then each child. A child's end never locks its caller: it reads it and only adds its job, so a
-- park and an end racing each other serialize on the child's row, and the one that commits
-- second sees the other (no lost wake-up).
--
-- Additive only: nullable columns, indexes, new functions and triggers; replaced with the same
-- signatures: runs_budget_spend (000032: children's spend counted) and bind_role (000032: the
-- trees' functions granted to bound roles).
set local lock_timeout = '5s';

---------------------------------------------------------------------------------------------
-- 1. The columns
---------------------------------------------------------------------------------------------
-- No foreign keys on caller_run_id and root_run_id: Postgres checks a row's foreign keys again
-- when a transaction updates it a second time, taking FOR KEY SHARE on the referenced row, and a
-- step's commit updates its run several times: every child commit would lock its caller and its
-- root, against the lock order (a caller before its children) and deadlocking with a caller's park
-- or cancel. Only the engine sets them (tg_runs__sub_agent), to runs that exist, and runs are not
-- deleted from under a tree.
alter table everruns.runs
  add column caller_run_id uuid,
  add column caller_tool_call_id text check (caller_tool_call_id is null or char_length(caller_tool_call_id) between 1 and 200),
  add column root_run_id uuid,
  add constraint runs_caller_check check ((caller_run_id is null) = (caller_tool_call_id is null)
                                          and (caller_run_id is null) = (root_run_id is null));
comment on column everruns.runs.caller_run_id is
  'The run whose tool call (an "agent" tool) started this run, a sub-agent; null: nobody called it. A continuation of a child keeps it.';
comment on column everruns.runs.caller_tool_call_id is
  'The tool call of caller_run_id that started this run (its result is this run''s outcome).';
comment on column everruns.runs.root_run_id is
  'The top of this run''s tree of sub-agents (a run with no caller); null for a run with no caller (it is its own root).';

-- one original child per call (a continuation carries the same pair, and continues a run)
create unique index runs_caller_call_idx on everruns.runs (caller_run_id, caller_tool_call_id)
  where caller_run_id is not null and parent_run_id is null;
-- a caller's children and their continuations
create index runs_caller_idx on everruns.runs (caller_run_id) where caller_run_id is not null;
create index runs_root_idx on everruns.runs (root_run_id) where root_run_id is not null;

---------------------------------------------------------------------------------------------
-- 2. At the insert: a continuation keeps its caller; only the engine starts children
---------------------------------------------------------------------------------------------
-- Fires after tg_runs__prepare (name order), which resolved parent_run_id. Security invoker:
-- the role that inserts is the one checked; it reads the parent it may see (the same workspace).
create function everruns_private.tg_runs__sub_agent() returns trigger
  language plpgsql volatile
  as $$
declare
  v_parent everruns.runs;
begin
  if new.parent_run_id is not null then
    select * into v_parent from everruns.runs where id = new.parent_run_id;
    new.caller_run_id := v_parent.caller_run_id;
    new.caller_tool_call_id := v_parent.caller_tool_call_id;
    new.root_run_id := v_parent.root_run_id;
    return new;
  end if;
  if (new.caller_run_id is not null or new.caller_tool_call_id is not null or new.root_run_id is not null)
     and not pg_catalog.pg_has_role(current_user,
                                    (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'everruns'), 'MEMBER') then
    raise exception 'caller_run_id, caller_tool_call_id and root_run_id are set by the engine when an agent tool starts a sub-agent (role % may not set them)', current_user
      using errcode = 'EV003', hint = 'Leave them out: insert (agent_id, input) to start a run.';
  end if;
  return new;
end;
$$;
revoke execute on function everruns_private.tg_runs__sub_agent() from public;
comment on function everruns_private.tg_runs__sub_agent() is
  'Insert trigger of runs: a continuation keeps the caller of the run it answers; only the engine sets a caller (000033).';
create trigger tg_runs__sub_agent before insert on everruns.runs
  for each row execute function everruns_private.tg_runs__sub_agent();

---------------------------------------------------------------------------------------------
-- 3. When a waiting caller is due to run again
---------------------------------------------------------------------------------------------
-- `p_caller` waits on its children (waiting.type = 'children', worker/sub-agents.ts):
--   * the call it waits for (waiting.tool_call_id) has a child whose chain ended;
--   * or calls of its turn are not started yet (waiting.unstarted > 0) and fewer of its children
--     are unfinished than it counted when it parked (waiting.active): a slot is free;
--   * or it is a root and one of its descendants waits for an answer that its log does not
--     report yet (CUSTOM everruns.child_interrupted).
create function everruns_private.sub_agents_wake_due(p_caller everruns.runs) returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
  select p_caller.status = 'waiting' and p_caller.waiting ->> 'type' = 'children' and (
    exists (select from everruns.runs c
             where c.caller_run_id = p_caller.id and c.caller_tool_call_id = p_caller.waiting ->> 'tool_call_id'
               and c.continued_by is null and c.status in ('succeeded', 'failed', 'cancelled'))
    or (coalesce((p_caller.waiting ->> 'unstarted')::int, 0) > 0
        and (select count(*) from everruns.runs c
              where c.caller_run_id = p_caller.id and c.continued_by is null
                and c.status in ('queued', 'running', 'waiting', 'interrupted'))
            < coalesce((p_caller.waiting ->> 'active')::int, 0))
    or (p_caller.caller_run_id is null and exists (
          select from everruns.runs d
           where d.root_run_id = p_caller.id and d.status = 'interrupted' and d.continued_by is null
             and not exists (select from everruns.run_events e
                              where e.run_id = p_caller.id and e.type = 'CUSTOM'
                                and e.event ->> 'name' = 'everruns.child_interrupted'
                                and e.event -> 'value' ->> 'run_id' = d.id::text)))
  )
$$;
revoke execute on function everruns_private.sub_agents_wake_due(everruns.runs) from public;
comment on function everruns_private.sub_agents_wake_due(everruns.runs) is
  'Whether a caller waiting on its sub-agents is due to run again: its awaited call''s child ended, a slot freed for a call not started, or (a root) a descendant awaits an answer not reported yet (000033).';

---------------------------------------------------------------------------------------------
-- 4. A caller parks: its new children start, in the commit that parks it
---------------------------------------------------------------------------------------------
create function everruns_private.tg_runs__sub_agents_park() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_start jsonb;
  v_child record;
  v_detail text;
begin
  -- the wait step commit_step_locked just wrote (the cursor has moved past it)
  select s.output -> 'start' into v_start
    from everruns.run_steps s where s.run_id = new.id and s.seq = new.step_cursor - 1;
  -- (before the children below are inserted: an insert takes the workspace's limits row and audit
  -- head, which come after runs in the lock order)
  -- A child that ended while this step ran found this run not waiting and woke nothing; one
  -- ending now waits for these locks and sees this run waiting when this commits. Its children
  -- (a root: its whole tree, for the interrupts it reports), level by level: a caller before its
  -- children, as cancelling a run below takes them.
  perform 1
     from everruns.runs c
     join (with recursive tree as (
             select r.id, 1 as depth from everruns.runs r where r.caller_run_id = new.id
             union all
             select r.id, t.depth + 1 from everruns.runs r join tree t on r.caller_run_id = t.id
              where new.caller_run_id is null and t.depth < 20)
           select tree.id, tree.depth from tree) t on t.id = c.id
    where c.status in ('queued', 'running', 'waiting', 'interrupted')
    order by t.depth, c.id
      for share of c;
  if jsonb_typeof(v_start) = 'array' and jsonb_array_length(v_start) > 0 then
    for v_child in
      select c.run_id, c.agent_id, c.input, c.tool_call_id
        from jsonb_to_recordset(v_start) as c(run_id uuid, tool_call_id text, agent_id uuid, input jsonb)
    loop
      begin
        insert into everruns.runs (id, workspace_id, agent_id, input, priority, caller_run_id, caller_tool_call_id, root_run_id)
        values (v_child.run_id, new.workspace_id, v_child.agent_id, v_child.input, new.priority, new.id, v_child.tool_call_id,
                coalesce(new.root_run_id, new.id))
        on conflict (caller_run_id, caller_tool_call_id) where caller_run_id is not null and parent_run_id is null do nothing;
      exception when sqlstate 'EV012' then
        -- The workspace is at an admission limit (max_queued_runs, runs_per_minute): this child and
        -- the rest wait. The caller wakes when the limit says (retry_after) and starts them then,
        -- under the same ids (worker/sub-agents.ts derives a child's id from its call).
        get stacked diagnostics v_detail = pg_exception_detail;
        perform everruns_private.enqueue_step(new.id, now() + make_interval(secs =>
          least(3600, greatest(1, coalesce(substring(v_detail from 'retry_after=([0-9]+)')::int, 5)))));
        return null;
      end;
    end loop;
  end if;
  if everruns_private.sub_agents_wake_due(new) then
    perform everruns_private.enqueue_step(new.id);
  end if;
  return null;
end;
$$;
revoke execute on function everruns_private.tg_runs__sub_agents_park() from public;
comment on function everruns_private.tg_runs__sub_agents_park() is
  'A run parks on its sub-agents: starts the children its wait step names, then wakes it at once if one it waits for already ended (000033).';
create trigger tg_runs__sub_agents_park after update of status on everruns.runs
  for each row when (old.status is distinct from new.status and new.status = 'waiting' and new.waiting ->> 'type' = 'children')
  execute function everruns_private.tg_runs__sub_agents_park();

---------------------------------------------------------------------------------------------
-- 5. A child ends (or awaits an answer): its caller (and root) wakes when due
---------------------------------------------------------------------------------------------
create function everruns_private.tg_runs__sub_agents_wake() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_caller everruns.runs;
begin
  -- read, not locked: a caller's row comes before its children's (see the header)
  for v_caller in
    select r.* from everruns.runs r
     where r.id = new.caller_run_id
        or (new.status = 'interrupted' and r.id = new.root_run_id and r.id <> new.caller_run_id)
  loop
    -- Not when its job is already due: a worker may hold it and not have begun the step yet
    -- (the run still reads waiting), and a second job would begin the step again, fencing out
    -- the first. The step reads the children when it runs; a park that misses this end waits
    -- for this row's lock and sees it.
    if everruns_private.sub_agents_wake_due(v_caller)
       and not exists (select from graphile_worker.jobs j where j.key = 'run:' || v_caller.id::text and j.run_at <= now()) then
      perform everruns_private.enqueue_step(v_caller.id);
    end if;
  end loop;
  return null;
end;
$$;
revoke execute on function everruns_private.tg_runs__sub_agents_wake() from public;
comment on function everruns_private.tg_runs__sub_agents_wake() is
  'A sub-agent''s run ended or awaits an answer: gives its waiting caller (and root) a job when due (000033).';
create trigger tg_runs__sub_agents_wake after update of status on everruns.runs
  for each row when (new.caller_run_id is not null and old.status is distinct from new.status
                     and new.status in ('succeeded', 'failed', 'cancelled', 'interrupted'))
  execute function everruns_private.tg_runs__sub_agents_wake();

---------------------------------------------------------------------------------------------
-- 6. A caller is cancelled or fails: its unfinished children are cancelled, recursively
---------------------------------------------------------------------------------------------
create function everruns_private.tg_runs__sub_agents_cancel() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_child uuid;
begin
  for v_child in
    select c.id from everruns.runs c
     where c.caller_run_id = new.id and c.continued_by is null
       and c.status in ('queued', 'running', 'waiting', 'interrupted')
     order by c.id
  loop
    -- locks the child (after its caller, held here), cancels its own children in turn
    perform everruns.cancel_run(v_child);
  end loop;
  return null;
end;
$$;
revoke execute on function everruns_private.tg_runs__sub_agents_cancel() from public;
comment on function everruns_private.tg_runs__sub_agents_cancel() is
  'A run was cancelled or failed: cancels its unfinished sub-agents, which cancel theirs (000033).';
create trigger tg_runs__sub_agents_cancel after update of status on everruns.runs
  for each row when (old.status is distinct from new.status and new.status in ('cancelled', 'failed'))
  execute function everruns_private.tg_runs__sub_agents_cancel();

---------------------------------------------------------------------------------------------
-- 7. Reading a tree: usage rolled up, descendants awaiting an answer (GraphQL computed columns)
---------------------------------------------------------------------------------------------
-- Security invoker: row-level security applies (a tree lives in one workspace).
create function everruns.runs_tree_usage(r everruns.runs) returns jsonb
  language sql stable
  as $$
  with recursive tree as (
    select r.id, r.usage, 0 as depth
    union all
    select c.id, c.usage, t.depth + 1 from everruns.runs c join tree t on c.caller_run_id = t.id
     where t.depth < 100
  )
  select jsonb_build_object(
           'input_tokens', coalesce(sum((usage ->> 'input_tokens')::bigint), 0),
           'output_tokens', coalesce(sum((usage ->> 'output_tokens')::bigint), 0),
           'cost_usd', round(coalesce(sum((usage ->> 'cost_usd')::numeric), 0), 8),
           'runs', count(*))
         || (select coalesce(jsonb_object_agg(k, v), '{}')
               from (select k, sum((t2.usage ->> k)::bigint) as v
                       from tree t2, unnest(array['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens']) as k
                      where t2.usage ? k group by k) x)
    from tree
$$;
comment on function everruns.runs_tree_usage(everruns.runs) is
  'The usage of this run and every run below it in its tree of sub-agents (their continuations included): tokens, cost and the number of runs. runs.usage is the run''s own (000033).';

create function everruns.runs_awaiting_descendants(r everruns.runs) returns setof everruns.runs
  language sql stable
  as $$
  with recursive tree as (
    select c.* from everruns.runs c where c.caller_run_id = r.id
    union all
    select c.* from everruns.runs c join tree t on c.caller_run_id = t.id
  )
  select * from tree t where t.status = 'interrupted' and t.continued_by is null order by t.created_at, t.id
$$;
comment on function everruns.runs_awaiting_descendants(everruns.runs) is
  'The runs below this one in its tree of sub-agents that wait for an answer (interrupted, not answered): answer each with everruns.resume_run (000033).';

create function everruns.runs_children(r everruns.runs) returns setof everruns.runs
  language sql stable
  as $$
  select c.* from everruns.runs c where c.caller_run_id = r.id order by c.created_at, c.id
$$;
comment on function everruns.runs_children(everruns.runs) is
  'The runs this run''s agent tool calls started (sub-agents), and their continuations, oldest first (000033).';

do $$
begin
  revoke execute on function everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs),
                             everruns.runs_children(everruns.runs) from public;
  if exists (select from pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs),
                              everruns.runs_children(everruns.runs) to everruns_api;
  end if;
  if exists (select from pg_roles where rolname = 'everruns_worker') then
    grant execute on function everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs),
                              everruns.runs_children(everruns.runs) to everruns_worker;
  end if;
end;
$$;

-- Budgets (000032) of a caller include its sub-agents' spend: 000032's runs_budget_spend with the
-- runs below the chain (`tree`) added to its cost, tokens and tool calls, and their count as
-- `children`. Wall time stays the chain's own: children run while their caller waits, inside it.
-- The caller's budget is checked before its own steps, so children's spend counts from the step
-- after they end (their own agents' budgets bound them meanwhile).
create or replace function everruns.runs_budget_spend(r everruns.runs) returns jsonb
  language sql stable
  as $$
with recursive chain(id, parent, depth) as (
  select r.id, r.parent_run_id, 0
  union all
  select p.id, p.parent_run_id, c.depth + 1
    from chain c join everruns.runs p on p.id = c.parent and p.continued_by = c.id
   where c.depth < 10000
),
-- 000033: the runs the chain's agent tool calls started, and theirs, down the tree (children's
-- continuations carry caller_run_id): their spend is the caller's too
tree(id, depth) as (
  select d.id, 1 from everruns.runs d where d.caller_run_id in (select id from chain)
  union all
  select d.id, t.depth + 1 from everruns.runs d join tree t on d.caller_run_id = t.id where t.depth < 100
),
below as (
  select coalesce(sum((d.usage ->> 'cost_usd')::numeric), 0) as cost_usd,
         coalesce(sum(coalesce((d.usage ->> 'input_tokens')::bigint, 0) + coalesce((d.usage ->> 'output_tokens')::bigint, 0)), 0) as tokens
    from tree t join everruns.runs d on d.id = t.id
)
select jsonb_build_object(
         'chain', jsonb_agg(c.id order by c.depth desc),
         'cost_usd', coalesce(sum((x.usage ->> 'cost_usd')::numeric), 0) + (select cost_usd from below),
         'tokens', coalesce(sum(coalesce((x.usage ->> 'input_tokens')::bigint, 0) + coalesce((x.usage ->> 'output_tokens')::bigint, 0)), 0)
                   + (select tokens from below),
         'wall_seconds', round(coalesce(sum(extract(epoch from coalesce(x.finished_at, now()) - coalesce(x.started_at, now()))), 0), 3),
         'tool_calls', (select count(*) from everruns.run_steps s
                         where (s.run_id in (select id from chain) or s.run_id in (select id from tree)) and s.kind = 'tool'),
         'children', (select count(*) from tree),
         'answers', coalesce((select jsonb_agg(e.value order by c2.depth desc, e.ordinality)
                                from chain c2 join everruns.runs r2 on r2.id = c2.id,
                                     jsonb_array_elements(case when jsonb_typeof(r2.input -> 'resume') = 'array' then r2.input -> 'resume' else '[]' end)
                                       with ordinality e
                               where e.value ->> 'interruptId' like 'budget-%'), '[]'))
  from chain c join everruns.runs x on x.id = c.id
$$;

-- Bound roles (SQL integrations, everruns.bind_role) read a run's tree as the API does: 000032's
-- bind_role with runs_tree_usage, runs_awaiting_descendants and runs_children among the functions
-- granted, and the grant for the roles bound already.
create or replace function everruns.bind_role(role name, workspace text, access text)
 returns void
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
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
                 'everruns.run_steps, everruns.run_events, everruns.run_signals, everruns.audit_log, everruns.usage_daily, '
                 'everruns.run_attempts, everruns.batches, everruns.batch_items, everruns.schedules, everruns.schedule_fires, '
                 'everruns.activations, everruns.webhooks, everruns.webhook_deliveries, everruns.notification_endpoints, '
                 'everruns.notification_deliveries, everruns.notification_attempts, everruns.mcp_tool_lists, '
                 'everruns.run_mcp_tools, everruns.tool_dispatches, everruns.mcp_servers, everruns.model_prices to %I', v_role);  -- 000013: run_attempts; 000025: batches; 000026: triggers; 000027: MCP; 000029: model prices
  execute format('grant execute on function everruns.batch_progress(uuid), everruns.batch_results(uuid, xid8, uuid, integer), '
                 'everruns.batches_progress(everruns.batches), everruns.batches_throughput(everruns.batches, integer), '
                 'everruns_private.results_horizon(), everruns.runs_budget_spend(everruns.runs), '
                 'everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs), '
                 'everruns.runs_children(everruns.runs) to %I', v_role);  -- 000032: runs_budget_spend; 000033: the trees
  execute format('revoke insert, update on everruns.runs, everruns.threads, everruns.batches, everruns.batch_items from %I', v_role);
  execute format('revoke insert, update, delete on everruns.schedules, everruns.webhooks, everruns.notification_endpoints from %I', v_role);
  execute format('revoke execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), '
                 'everruns.send_event(uuid, text, jsonb), everruns.start_batch(uuid), everruns.pause_batch(uuid), '
                 'everruns.resume_batch(uuid), everruns.cancel_batch(uuid), everruns.set_batch_parallel(uuid, integer), '
                 'everruns.retry_failed_items(uuid, text[], boolean), everruns.trigger(text, jsonb, text), '
                 'everruns.resend_notification(uuid), everruns_private.render_schedule_input(jsonb, text, text, timestamptz) from %I', v_role);
  if bind_role.access = 'write' then
    execute format('grant insert (id, agent_id, agent_version, thread_id, parent_run_id, input, priority), update (updated_at) on everruns.runs to %I', v_role);
    execute format('grant insert (id, workspace_id, agent_id), update (updated_at) on everruns.threads to %I', v_role);
    execute format('grant insert (id, name, agent_id, agent_version, max_parallel, priority, on_item_error, stop_after_failures, '
                   'stop_after_ratio, deadline, metadata) on everruns.batches to %I', v_role);
    execute format('grant insert (id, batch_id, workspace_id, custom_id, input) on everruns.batch_items to %I', v_role);
    execute format('grant execute on function everruns.cancel_run(uuid), everruns.resume_run(uuid, jsonb), everruns.send_event(uuid, text, jsonb), '
                   'everruns_private.assert_valid_run_input(jsonb), everruns_private.input_error(text), '
                   'everruns_private.assert_answers(everruns.runs, jsonb), everruns_private.thread_workspace(uuid), '
                   'everruns.start_batch(uuid), everruns.pause_batch(uuid), everruns.resume_batch(uuid), everruns.cancel_batch(uuid), '
                   'everruns.set_batch_parallel(uuid, integer), everruns.retry_failed_items(uuid, text[], boolean) to %I', v_role);
    -- 000026
    execute format('grant insert (id, name, agent_id, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, '
                   'misfire_grace_seconds, thread, paused, paused_note, pause_after_failures), '
                   'update (name, cron, interval_seconds, timezone, input, overlap, catch_up, catch_up_max, misfire_grace_seconds, '
                   'paused, paused_note, pause_after_failures), delete on everruns.schedules to %I', v_role);
    execute format('grant insert (id, name, agent_id, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, '
                   'dedupe_pointer, input_template, thread_key_pointer, max_body_bytes, enabled), '
                   'update (name, verify, secret_names, signature_header, signature_prefix, tolerance_seconds, dedupe_pointer, '
                   'input_template, thread_key_pointer, max_body_bytes, enabled), delete on everruns.webhooks to %I', v_role);
    execute format('grant insert (id, name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'update (name, url, events, agent_id, secret_name, retry_initial_seconds, enabled), '
                   'delete on everruns.notification_endpoints to %I', v_role);
    execute format('grant execute on function everruns.trigger(text, jsonb, text), everruns.resend_notification(uuid), '
                   'everruns_private.render_schedule_input(jsonb, text, text, timestamptz) to %I', v_role);
  end if;
  perform everruns_private.audit_append(v_workspace.id, 'role.bound', 'role', v_role::text, jsonb_build_object('access', bind_role.access));
end;
$function$;

do $$
declare
  v_role name;
begin
  for v_role in select b.role_name from everruns_private.role_bindings b join pg_catalog.pg_roles r on r.rolname = b.role_name loop
    execute format('grant execute on function everruns.runs_tree_usage(everruns.runs), everruns.runs_awaiting_descendants(everruns.runs), '
                   'everruns.runs_children(everruns.runs) to %I', v_role);
  end loop;
end
$$;
