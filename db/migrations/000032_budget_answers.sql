-- 000032: answers to run budget interrupts are checked when they are given (issue 18, "Run
-- budgets"; worker/run-budget.ts, docs/budgets.md).
--
-- A run that reaches a limit of its agent's config.budget ends interrupted with the interrupt
-- `budget-<run id>` (reason "budget"), whose metadata holds the limits in force, the spend
-- (`spent`, keyed by limit) and the limits reached (`reached`). Its answer either stops
-- ({"action": "stop"}, or the status "cancelled") or raises limits:
-- {"action": "raise", "budget": {"max_cost_usd": 10}}. A raise must name only known limits, each
-- a number above the spend it limits, and must raise every limit reached: else the continuation
-- would stop again at once. assert_answers (every path that answers an interrupt goes through
-- it: resume_run, and a run inserted with input.resume, as the AG-UI endpoint does) refuses such
-- an answer with EV008, naming the limit and the spend, as it refuses an unknown interrupt id.
--
-- Also: everruns.runs_budget_spend(run), what a run's piece of work has spent, read by the
-- worker before each step of an agent with a budget and by GraphQL (Run.budgetSpend).
--
-- Additive only: assert_answers and bind_role replaced with the same signatures (answers to other interrupts are
-- checked exactly as before), a new function.
set local lock_timeout = '5s';

-- 000001's assert_answers, with the block marked 000032 added at its end.
CREATE OR REPLACE FUNCTION everruns_private.assert_answers(p_parent everruns.runs, p_resume jsonb)
 RETURNS void
 LANGUAGE plpgsql
 STABLE
AS $function$
declare
  v_open text[];
  v_given text[];
  v_missing text[];
  v_unknown text[];
  v_answer jsonb;
  v_interrupt jsonb;
  v_budget jsonb;
  v_key text;
  v_value jsonb;
  v_spent numeric;
  v_max numeric;
begin
  select coalesce(array_agg(i ->> 'id'), '{}') into v_open
  from jsonb_array_elements(coalesce(p_parent.interrupts -> 'interrupts', '[]')) i;
  if p_resume is not null and jsonb_typeof(p_resume) <> 'array' then
    raise exception 'invalid resume: must be an array of {"interruptId", "status": "resolved" | "cancelled", "payload"?}'
      using errcode = 'EV008';
  end if;
  if exists (select 1 from jsonb_array_elements(coalesce(p_resume, '[]')) e
             where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'interruptId') is distinct from 'string'
                or coalesce(e ->> 'status', '') not in ('resolved', 'cancelled')) then
    raise exception 'invalid resume: each entry needs "interruptId" (a string) and "status": "resolved" or "cancelled"'
      using errcode = 'EV008';
  end if;
  select coalesce(array_agg(e ->> 'interruptId'), '{}') into v_given from jsonb_array_elements(coalesce(p_resume, '[]')) e;
  select coalesce(array_agg(x), '{}') into v_missing from unnest(v_open) x where x <> all (v_given);
  select coalesce(array_agg(x), '{}') into v_unknown from unnest(v_given) x where x <> all (v_open);
  if cardinality(v_missing) > 0 then
    raise exception 'run % has open interrupts that this resume does not answer: %', p_parent.id, array_to_string(v_missing, ', ')
      using errcode = 'EV008', hint = 'Answer every open interrupt: [{"interruptId": "...", "status": "resolved", "payload": {"approved": true}}].';
  end if;
  if cardinality(v_unknown) > 0 then
    raise exception 'run % has no open interrupt %', p_parent.id, array_to_string(v_unknown, ', ')
      using errcode = 'EV008';
  end if;
  -- 000032: an answer to a budget interrupt stops, or raises every limit reached above its spend;
  -- one answer per budget interrupt (a raise and a stop together would say two things)
  select string_agg(distinct e ->> 'interruptId', ', ') into v_key
    from jsonb_array_elements(coalesce(p_resume, '[]')) e
   where e ->> 'interruptId' like 'budget-%'
     and (select count(*) from jsonb_array_elements(p_resume) d where d ->> 'interruptId' = e ->> 'interruptId') > 1;
  if v_key is not null then
    raise exception 'invalid resume: % is answered more than once', v_key
      using errcode = 'EV008', hint = 'Give one answer per interrupt: a raise or a stop.';
  end if;
  for v_answer, v_interrupt in
    select e, i
      from jsonb_array_elements(coalesce(p_resume, '[]')) e
      join jsonb_array_elements(coalesce(p_parent.interrupts -> 'interrupts', '[]')) i on i ->> 'id' = e ->> 'interruptId'
     where i ->> 'reason' = 'budget' and e ->> 'status' = 'resolved'
  loop
    if jsonb_typeof(v_answer -> 'payload') is distinct from 'object'
       or coalesce(v_answer -> 'payload' ->> 'action', '') not in ('raise', 'stop') then
      raise exception 'invalid answer to %: the payload must be {"action": "raise", "budget": {...}} or {"action": "stop"}', v_answer ->> 'interruptId'
        using errcode = 'EV008', hint = 'Raise the limits reached: {"action": "raise", "budget": {"max_cost_usd": 10}}; or stop: {"action": "stop"}.';
    end if;
    continue when v_answer -> 'payload' ->> 'action' = 'stop';
    v_budget := v_answer -> 'payload' -> 'budget';
    if jsonb_typeof(v_budget) is distinct from 'object' then
      raise exception 'invalid answer to %: a raise needs "budget", an object of the new limits', v_answer ->> 'interruptId'
        using errcode = 'EV008', hint = 'e.g. {"action": "raise", "budget": {"max_cost_usd": 10}}';
    end if;
    for v_key, v_value in select * from jsonb_each(v_budget) loop
      if v_key not in ('max_cost_usd', 'max_tokens', 'max_wall_seconds', 'max_tool_calls') then
        raise exception 'invalid answer to %: "%" is not a budget limit (limits: max_cost_usd, max_tokens, max_wall_seconds, max_tool_calls)',
          v_answer ->> 'interruptId', v_key using errcode = 'EV008';
      end if;
      v_spent := coalesce((v_interrupt -> 'metadata' -> 'spent' ->> v_key)::numeric, 0);
      if jsonb_typeof(v_value) is distinct from 'number' or v_value::text::numeric <= v_spent then
        raise exception 'invalid answer to %: budget.% must be a number above the % already spent, got %',
          v_answer ->> 'interruptId', v_key, v_spent, v_value
          using errcode = 'EV008', hint = 'Raise it above the spend, or answer {"action": "stop"}.';
      end if;
      -- the bounds config.budget has (db/schemas.ts BudgetSchema): an answer (an operator's) can
      -- raise an admin's limit, but not past what the config itself may say, and counts stay whole
      v_max := case v_key when 'max_cost_usd' then 1000000 when 'max_tokens' then 1000000000000
                          when 'max_wall_seconds' then 31536000 else 10000000 end;
      if v_value::text::numeric > v_max
         or (v_key in ('max_tokens', 'max_tool_calls') and v_value::text::numeric <> trunc(v_value::text::numeric)) then
        raise exception 'invalid answer to %: budget.% must be % at most %, got %', v_answer ->> 'interruptId', v_key,
          case when v_key in ('max_tokens', 'max_tool_calls') then 'a whole number' else 'a number' end, v_max, v_value
          using errcode = 'EV008', hint = 'The limits an agent''s config.budget may set bound a raise too.';
      end if;
    end loop;
    select string_agg(r, ', ') into v_key
      from jsonb_array_elements_text(coalesce(v_interrupt -> 'metadata' -> 'reached', '[]')) r
     where not v_budget ? r;
    if v_key is not null then
      raise exception 'invalid answer to %: the raise leaves a limit reached where it is: %', v_answer ->> 'interruptId', v_key
        using errcode = 'EV008', hint = 'Raise every limit reached (metadata.reached) above its spend, or answer {"action": "stop"}.';
    end if;
  end loop;
end;
$function$;

-- Run.budgetSpend (a computed column) and the worker's budget check (db/sql/runBudgetSpend.ts):
-- what the piece of work a run belongs to has spent. The chain: the run, and back through
-- parent_run_id the runs it continues (a continuation answers its parent's interrupts: the
-- parent's continued_by names it), at most 10,000 runs. Wall time is each run's running time
-- (started to finished, or to now for a run still going): the hours a person took to answer lie
-- between two runs and do not count. Tool calls are the committed tool steps (one per call that
-- got a result). `answers`: the resume entries to `budget-…` interrupts along the chain, oldest
-- first, for the limits they raised. Security invoker: it reads with the caller's rights (row
-- security), and only the caller's own runs.
create function everruns.runs_budget_spend(r everruns.runs) returns jsonb
  language sql stable
  as $$
with recursive chain(id, parent, depth) as (
  select r.id, r.parent_run_id, 0
  union all
  select p.id, p.parent_run_id, c.depth + 1
    from chain c join everruns.runs p on p.id = c.parent and p.continued_by = c.id
   where c.depth < 10000
)
select jsonb_build_object(
         'chain', jsonb_agg(c.id order by c.depth desc),
         'cost_usd', coalesce(sum((x.usage ->> 'cost_usd')::numeric), 0),
         'tokens', coalesce(sum(coalesce((x.usage ->> 'input_tokens')::bigint, 0) + coalesce((x.usage ->> 'output_tokens')::bigint, 0)), 0),
         'wall_seconds', round(coalesce(sum(extract(epoch from coalesce(x.finished_at, now()) - coalesce(x.started_at, now()))), 0), 3),
         'tool_calls', (select count(*) from everruns.run_steps s where s.run_id in (select id from chain) and s.kind = 'tool'),
         'answers', coalesce((select jsonb_agg(e.value order by c2.depth desc, e.ordinality)
                                from chain c2 join everruns.runs r2 on r2.id = c2.id,
                                     jsonb_array_elements(case when jsonb_typeof(r2.input -> 'resume') = 'array' then r2.input -> 'resume' else '[]' end)
                                       with ordinality e
                               where e.value ->> 'interruptId' like 'budget-%'), '[]'))
  from chain c join everruns.runs x on x.id = c.id
$$;
comment on function everruns.runs_budget_spend(everruns.runs) is
  'What the run and the runs it continues have spent (cost_usd, tokens, wall_seconds, tool_calls) and their answers to budget interrupts: docs/budgets.md.';

revoke execute on function everruns.runs_budget_spend(everruns.runs) from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    grant execute on function everruns.runs_budget_spend(everruns.runs) to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant execute on function everruns.runs_budget_spend(everruns.runs) to everruns_worker;
  end if;
end
$$;

-- Bound roles (SQL integrations, everruns.bind_role) read Run.budgetSpend's function as they read
-- batches_progress: 000029's bind_role with runs_budget_spend among the functions granted, and the
-- grant for the roles bound already.
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
                 'everruns_private.results_horizon(), everruns.runs_budget_spend(everruns.runs) to %I', v_role);  -- 000032: runs_budget_spend
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
    execute format('grant execute on function everruns.runs_budget_spend(everruns.runs) to %I', v_role);
  end loop;
end
$$;
