-- 000029: usage by token category, and per-workspace model prices (issue 20, "Provider fidelity
-- and cost").
--
-- * A step's usage (run_steps.usage) may now carry, besides input_tokens, output_tokens and
--   cost_usd, the categories its provider reports: cache_read_tokens and cache_write_tokens (parts
--   of the input), reasoning_tokens (part of the output). commit_step_locked summed three keys
--   into the run's usage and dropped the rest: it now sums the categories too (a run's usage
--   carries a category once one of its steps reported it, so runs of providers without them keep
--   their three keys). usage_daily gains a column per category.
-- * everruns.model_prices: a workspace's own prices per provider and model name prefix (USD per
--   million tokens of each category), over the price table in code (worker/pricing.ts). Workers
--   read them (worker/model-prices.ts, cached per workspace), the API's members and bound roles
--   read them, operators set and delete them (GraphQL setModelPrice / deleteModelPrice, everruns
--   prices). Audited: model_price.set, model_price.deleted.
--
-- Additive only: a new table, a trigger, a wider audit check, a view with appended columns,
-- commit_step_locked and bind_role replaced with the same signatures (the previous release's
-- workers commit through the new body and lose nothing: their steps carry no categories).

---------------------------------------------------------------------------------------------
-- 1. A run's usage sums every category of its steps'
---------------------------------------------------------------------------------------------
-- 000017's commit_step_locked, with the run's usage summed by category (the `usage = ...` only).
CREATE OR REPLACE FUNCTION everruns_private.commit_step_locked(p_run everruns.runs, p_attempt integer, p_step jsonb, p_events jsonb, p_next jsonb)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
declare
  v_seq int := p_run.step_cursor;
  v_usage jsonb := coalesce(p_step -> 'usage', '{}');
  v_delay_ms numeric := coalesce((p_next ->> 'delay_ms')::numeric, 0);
begin
  insert into everruns.run_steps (run_id, seq, workspace_id, kind, name, status, attempt,
                                  input, output, error, usage, started_at, finished_at)
  values (p_run.id, v_seq, p_run.workspace_id, p_step ->> 'kind', p_step ->> 'name',
          coalesce(p_step ->> 'status', 'succeeded'), p_attempt, p_step -> 'input', p_step -> 'output',
          p_step -> 'error', p_step -> 'usage', coalesce(p_run.step_started_at, now()), now());
  if p_step ? 'consumes_signal' then
    update everruns.run_signals set consumed_at = now(), consumed_by_seq = v_seq
     where id = (p_step ->> 'consumes_signal')::bigint and run_id = p_run.id and consumed_at is null;
  end if;
  if p_next ->> 'type' = 'fail' then
    -- a failing step may have left streams open: close them before its RUN_ERROR
    perform everruns_private.settle_events_locked(p_run, p_events);
  else
    perform everruns_private.append_events_locked(p_run, p_events);
  end if;
  update everruns.runs
     set settled_event_seq = event_seq,
         -- 000029: the categories (parts of input and output) are summed too, each once the run
         -- or this step has it
         usage = jsonb_build_object(
           'input_tokens', coalesce((usage ->> 'input_tokens')::bigint, 0) + coalesce((v_usage ->> 'input_tokens')::bigint, 0),
           'output_tokens', coalesce((usage ->> 'output_tokens')::bigint, 0) + coalesce((v_usage ->> 'output_tokens')::bigint, 0),
           'cost_usd', round(coalesce((usage ->> 'cost_usd')::numeric, 0) + coalesce((v_usage ->> 'cost_usd')::numeric, 0), 8))
           || (select coalesce(jsonb_object_agg(k, coalesce((usage ->> k)::bigint, 0) + coalesce((v_usage ->> k)::bigint, 0)), '{}')
                 from unnest(array['cache_read_tokens', 'cache_write_tokens', 'reasoning_tokens']) as k
                where usage ? k or v_usage ? k),
         step_cursor = v_seq + 1,
         step_attempt = 0,
         step_errors = 0,
         step_started_at = null,
         waiting = null,
         updated_at = now()
   where id = p_run.id;
  case p_next ->> 'type'
    when 'continue' then
      if not coalesce((p_next ->> 'inline')::boolean, false) then
        perform everruns_private.enqueue_step(p_run.id);
      end if;
    when 'wait' then
      -- An event sent while this step ran found the run running and woke nothing (send_event
      -- wakes waiting runs only): then the wait ends at once and the next step takes the event.
      if p_next -> 'waiting' ->> 'type' = 'event' and exists (
           select 1 from everruns.run_signals g
           where g.run_id = p_run.id and g.name = p_next -> 'waiting' ->> 'name' and g.consumed_at is null) then
        v_delay_ms := 0;
      end if;
      perform everruns_private.enqueue_step(p_run.id, now() + make_interval(secs => v_delay_ms / 1000));
      update everruns.runs
         set status = 'waiting',
             waiting = coalesce(p_next -> 'waiting', '{}') || jsonb_build_object('until', now() + make_interval(secs => v_delay_ms / 1000))
       where id = p_run.id;
    when 'succeed' then
      update everruns.runs set status = 'succeeded', output = p_next -> 'output', finished_at = now()
       where id = p_run.id;
    when 'fail' then
      update everruns.runs set status = 'failed', error = p_next -> 'error', finished_at = now()
       where id = p_run.id;
    when 'interrupt' then
      update everruns.runs set status = 'interrupted', interrupts = p_next -> 'interrupts', output = p_next -> 'output', finished_at = now()
       where id = p_run.id;
    else
      raise exception 'commit_step: unknown next type %', p_next ->> 'type';
  end case;
  -- 000013: the attempt committed, and watchers of the run hear of its new numbers (one
  -- notification per transaction: the same payload as the status trigger's is folded into it)
  perform everruns_private.end_attempt_locked(p_run.id, v_seq, p_attempt, 'committed', null, p_step);
  perform everruns_private.notify('everruns:runs', p_run.id::text || ':' || p_run.workspace_id::text);
end;
$function$;

---------------------------------------------------------------------------------------------
-- 2. usage_daily: a column per category (appended: a replaced view keeps its columns' order)
---------------------------------------------------------------------------------------------
create or replace view everruns.usage_daily with (security_invoker = true) as
 SELECT r.workspace_id,
    r.agent_id,
    date_trunc('day'::text, (s.finished_at AT TIME ZONE 'UTC'::text))::date AS day,
    count(DISTINCT r.id) AS runs,
    count(*) FILTER (WHERE s.kind = 'llm'::text) AS llm_calls,
    COALESCE(sum((s.usage ->> 'input_tokens'::text)::bigint), 0::numeric) AS input_tokens,
    COALESCE(sum((s.usage ->> 'output_tokens'::text)::bigint), 0::numeric) AS output_tokens,
    round(COALESCE(sum((s.usage ->> 'cost_usd'::text)::numeric), 0::numeric), 6) AS cost_usd,
    COALESCE(sum((s.usage ->> 'cache_read_tokens'::text)::bigint), 0::numeric) AS cache_read_tokens,
    COALESCE(sum((s.usage ->> 'cache_write_tokens'::text)::bigint), 0::numeric) AS cache_write_tokens,
    COALESCE(sum((s.usage ->> 'reasoning_tokens'::text)::bigint), 0::numeric) AS reasoning_tokens
   FROM everruns.run_steps s
     JOIN everruns.runs r ON r.id = s.run_id
  GROUP BY r.workspace_id, r.agent_id, (date_trunc('day'::text, (s.finished_at AT TIME ZONE 'UTC'::text))::date);
comment on view everruns.usage_daily is
  'Tokens and cost in USD per agent per UTC day, from committed steps. cache_read_tokens and cache_write_tokens are parts of input_tokens, reasoning_tokens a part of output_tokens.';
comment on column everruns.usage_daily.cache_read_tokens is 'Input tokens read from the provider''s prompt cache (a part of input_tokens).';
comment on column everruns.usage_daily.cache_write_tokens is 'Input tokens written to the provider''s prompt cache (a part of input_tokens).';
comment on column everruns.usage_daily.reasoning_tokens is 'Output tokens the model spent reasoning (a part of output_tokens).';

---------------------------------------------------------------------------------------------
-- 3. everruns.model_prices
---------------------------------------------------------------------------------------------
create table everruns.model_prices (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null default everruns_private.current_or_default_workspace_id() references everruns.workspaces,
  -- the providers of worker/providers/registry.ts (a new provider widens this check)
  provider text not null check (provider in ('openai', 'anthropic', 'scripted')),
  model text not null default '' check (char_length(model) <= 200 and model !~ '[[:cntrl:][:space:]]'),
  -- NaN and Infinity fail the upper bounds
  input_per_million double precision not null check (input_per_million >= 0 and input_per_million <= 1000000),
  output_per_million double precision not null check (output_per_million >= 0 and output_per_million <= 1000000),
  cache_read_per_million double precision check (cache_read_per_million >= 0 and cache_read_per_million <= 1000000),
  cache_write_per_million double precision check (cache_write_per_million >= 0 and cache_write_per_million <= 1000000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint model_prices_workspace_provider_model_key unique (workspace_id, provider, model)
);
comment on table everruns.model_prices is E'@behavior -insert -update -delete\nA workspace''s own model prices, in USD per million tokens, over the models table (lib/models/models.json and the operator''s EVERRUNS_MODELS_FILE): the longest model prefix of the step''s provider wins ("" prices every model of the provider). Set by admin keys with the setModelPrice mutation or everruns prices set; steps that begin more than 30 s later use them. At most 200 a workspace.';
-- no Workspace.modelPricesByWorkspaceId in GraphQL: Query.allModelPrices is the key's workspace's already
comment on constraint model_prices_workspace_id_fkey on everruns.model_prices is '@backwardBehavior -*';
comment on column everruns.model_prices.provider is 'The agent config''s provider: openai, anthropic or scripted.';
comment on column everruns.model_prices.model is 'A prefix of the model names it prices (gpt-4o prices gpt-4o-2024-08-06 too); empty: every model of the provider.';
comment on column everruns.model_prices.input_per_million is 'USD per million input tokens (those neither read from nor written to a prompt cache).';
comment on column everruns.model_prices.output_per_million is 'USD per million output tokens, reasoning included.';
comment on column everruns.model_prices.cache_read_per_million is 'USD per million input tokens read from a prompt cache; null: the models table''s ratio to the input rate, else the input rate.';
comment on column everruns.model_prices.cache_write_per_million is 'USD per million input tokens written to a prompt cache; null: the models table''s ratio to the input rate, else the input rate.';
comment on column everruns.model_prices.created_at is 'When the price was first set (database clock).';
comment on column everruns.model_prices.updated_at is 'When the price was last set (database clock).';

-- At most 200 prices a workspace: every worker reads a workspace's whole list (worker/model-prices.ts)
-- and searches it on each LLM step. Two concurrent inserts may both pass the count: a soft cap.
create function everruns_private.tg_model_prices__limit() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  -- an upsert of a price it has already (insert ... on conflict do update) fires this too: let it through
  if (select count(*) from everruns.model_prices p where p.workspace_id = new.workspace_id) >= 200
     and not exists (select from everruns.model_prices p
                      where p.workspace_id = new.workspace_id and p.provider = new.provider and p.model = new.model) then
    raise exception 'workspace % has 200 model prices, the most it may have', new.workspace_id
      using errcode = 'EV011', hint = 'Delete prices it no longer needs (a shorter model prefix prices a whole family).';
  end if;
  return new;
end;
$$;
revoke execute on function everruns_private.tg_model_prices__limit() from public;
comment on function everruns_private.tg_model_prices__limit() is 'Refuses a workspace''s 201st model price (EV011; 000029).';
create trigger tg_model_prices__limit before insert on everruns.model_prices
  for each row execute function everruns_private.tg_model_prices__limit();

alter table everruns.model_prices enable row level security;
alter table everruns.model_prices force row level security;
create policy in_workspace on everruns.model_prices using (workspace_id = (select everruns_private.current_workspace_id()))
  with check (workspace_id = (select everruns_private.current_workspace_id()));
do $$
begin
  execute format('create policy engine on everruns.model_prices to everruns_worker, %I using (true) with check (true)', current_user);
end
$$;

revoke all on everruns.model_prices from public;
do $$
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_api') then
    -- written by the admins' mutations (api/graphql/model-prices.ts), read by every key; a
    -- workspace_id other than the key's fails row-level security's check
    grant select, delete on everruns.model_prices to everruns_api;
    grant insert (workspace_id, provider, model, input_per_million, output_per_million, cache_read_per_million, cache_write_per_million),
          update (input_per_million, output_per_million, cache_read_per_million, cache_write_per_million, updated_at)
      on everruns.model_prices to everruns_api;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'everruns_worker') then
    grant select on everruns.model_prices to everruns_worker;
  end if;
end
$$;

---------------------------------------------------------------------------------------------
-- 4. Audit
---------------------------------------------------------------------------------------------
alter table everruns.audit_log drop constraint audit_log_action_check,
  add constraint audit_log_action_check check (action in (
    'agent.created', 'agent.config_updated', 'agent.renamed', 'agent.deleted',
    'run.started', 'run.resumed', 'approval.answered', 'run.cancelled',
    'signal.sent',
    'secret.set', 'secret.deleted',
    'workspace.created', 'key.created', 'key.revoked', 'role.bound', 'role.unbound',
    'run.rerun',
    'workspace.limits_set',
    'batch.created', 'batch.started', 'batch.paused', 'batch.resumed', 'batch.cancelled', 'batch.retried',
    'batch.parallel_set',
    'schedule.created', 'schedule.updated', 'schedule.paused', 'schedule.resumed', 'schedule.deleted',
    'webhook.created', 'webhook.updated', 'webhook.deleted',
    'notification_endpoint.created', 'notification_endpoint.updated', 'notification_endpoint.deleted',
    'notification.resent',
    'mcp.connected', 'mcp.disconnected',
    'model_price.set', 'model_price.deleted')) not valid;
comment on column everruns.audit_log.action is E'@behavior +filterBy\nWhat: agent.created, agent.config_updated, agent.renamed, agent.deleted, run.started, run.resumed, approval.answered, run.cancelled, run.rerun, signal.sent, secret.set, secret.deleted, workspace.created, workspace.limits_set, key.created, key.revoked, role.bound, role.unbound, batch.created, batch.started, batch.paused, batch.resumed, batch.cancelled, batch.retried, batch.parallel_set, schedule.created, schedule.updated, schedule.paused, schedule.resumed, schedule.deleted, webhook.created, webhook.updated, webhook.deleted, notification_endpoint.created, notification_endpoint.updated, notification_endpoint.deleted, notification.resent, mcp.connected, mcp.disconnected, model_price.set, model_price.deleted.';

-- model_price.set {provider, model, the rates} at an insert or a change of a rate,
-- model_price.deleted {provider, model}. Security definer: it appends to the audit chain.
create function everruns_private.tg_model_prices__audit() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if tg_op = 'DELETE' then
    perform everruns_private.audit_append(old.workspace_id, 'model_price.deleted', 'model_price', old.id::text,
      jsonb_build_object('provider', old.provider, 'model', old.model));
  else
    perform everruns_private.audit_append(new.workspace_id, 'model_price.set', 'model_price', new.id::text,
      jsonb_build_object('provider', new.provider, 'model', new.model,
                         'input_per_million', new.input_per_million, 'output_per_million', new.output_per_million,
                         'cache_read_per_million', new.cache_read_per_million, 'cache_write_per_million', new.cache_write_per_million));
  end if;
  return null;
end;
$$;
comment on function everruns_private.tg_model_prices__audit() is 'Audits the model prices a workspace sets and deletes.';
create trigger tg_model_prices__audit after insert or delete on everruns.model_prices
  for each row execute function everruns_private.tg_model_prices__audit();
create trigger tg_model_prices__audit_update after update on everruns.model_prices
  for each row when ((old.input_per_million, old.output_per_million, old.cache_read_per_million, old.cache_write_per_million)
                     is distinct from
                     (new.input_per_million, new.output_per_million, new.cache_read_per_million, new.cache_write_per_million))
  execute function everruns_private.tg_model_prices__audit();

---------------------------------------------------------------------------------------------
-- 5. Bound roles read the workspace's model prices (read and write access alike: operators set them)
---------------------------------------------------------------------------------------------
-- 000027's bind_role, and model_prices among what every bound role reads. unbind_role needs no
-- change: it revokes everything on every table and view of the schema.
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
                 'everruns_private.results_horizon() to %I', v_role);
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
