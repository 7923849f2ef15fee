-- 000042: the W3C tracestate of runs (docs/observability.md, "Traces").
--
-- W3C Trace Context: `tracestate` (vendor-specific state) travels with `traceparent`, unchanged
-- unless a vendor edits its own member. Everruns edits none: it keeps the caller's tracestate with
-- the run and sends it, as given, beside every traceparent the run sends out (http tools, MCP
-- calls, workflow http and MCP Tasks), and puts it on every exported span of the run.
--
-- * everruns.runs.trace_state: the tracestate of the trace the run continues, normalized
--   (list-members `key=value` joined by ",", no empty member, no whitespace around them), or null.
--   Only with a trace_parent: a trace of its own has no caller's state. Given by whoever gives the
--   trace_parent (the API's `tracestate` header, `everruns run --tracestate`, an insert by the
--   owner), else the transaction's `everruns.trace_state` setting when the run takes the
--   `everruns.trace_parent` setting, else the trace_state of the run it continues (a sub-agent or
--   workflow child, a continuation).
-- * everruns_private.valid_tracestate(text): the W3C level 1 syntax of a normalized tracestate
--   (lib/tracing/tracestate.ts validTracestate checks the same, and normalizes).
--
-- Additive only: a nullable column with a NOT VALID check, a function, and a new definition of the
-- insert trigger function of 000035 (the same trigger).
set local lock_timeout = '5s';

alter table everruns.runs add column trace_state text;
comment on column everruns.runs.trace_state is
  'The W3C tracestate of the trace this run continues (vendor list-members key=value joined by ","), kept as given and sent with every traceparent the run sends; null without a trace_parent or when none was given. Set at insert, as trace_parent is (000042).';

create function everruns_private.valid_tracestate(p_value text) returns boolean
  language sql immutable parallel safe
  set search_path = pg_catalog, pg_temp
  as $$
  -- at most 512 characters, 1 to 32 list-members key=value (W3C Trace Context level 1: a simple
  -- key or tenant@system; a value of printable ASCII without "," and "=", not ending in a space),
  -- no key twice
  select coalesce(length(p_value) between 1 and 512
    and (select count(*) <= 32
                and bool_and(m ~ '^([a-z][a-z0-9_*/-]{0,255}|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$')
                and count(*) = count(distinct split_part(m, '=', 1))
           from pg_catalog.unnest(pg_catalog.string_to_array(p_value, ',')) m), false)
$$;
comment on function everruns_private.valid_tracestate(text) is
  'Whether a text is a normalized W3C tracestate (list-members key=value joined by ",", at most 32, at most 512 characters, no key twice); lib/tracing/tracestate.ts checks the same (000042).';

-- a check of runs: every role that writes runs evaluates it (a pure function of its argument)
grant execute on function everruns_private.valid_tracestate(text) to public;

-- NOT VALID: every existing row is null (nothing to check), and validating would scan runs under
-- the ALTER's lock; new and updated rows are checked, with the full syntax (the insert trigger
-- drops an invalid value first, as W3C says; an update, the engine's, must write a valid one)
alter table everruns.runs
  add constraint runs_trace_state_check check (trace_state is null or everruns_private.valid_tracestate(trace_state)) not valid;

---------------------------------------------------------------------------------------------
-- The trace context of a run inserted without one (000035's function, plus trace_state)
---------------------------------------------------------------------------------------------
create or replace function everruns_private.tg_runs__trace_parent() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  v_setting text := nullif(pg_catalog.current_setting('everruns.trace_parent', true), '');
  v_state_setting text := nullif(pg_catalog.current_setting('everruns.trace_state', true), '');
  v_from everruns.runs;
  v_span text;
  v_step record;
begin
  if new.trace_parent is not null then
    -- given by the starter: its trace_state with it, when valid
    if not everruns_private.valid_tracestate(new.trace_state) then
      new.trace_state := null;
    end if;
    return new;
  end if;
  -- no trace_parent given: a trace_state given alone is dropped (it belongs to a traceparent)
  new.trace_state := null;
  -- the API's traceparent header (api/trace-header.ts); an invalid one is ignored, as W3C says
  if v_setting ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$'
     and substr(v_setting, 4, 32) <> '00000000000000000000000000000000'
     and substr(v_setting, 37, 16) <> '0000000000000000' then
    new.trace_parent := v_setting;
    -- and its tracestate header, when valid
    if everruns_private.valid_tracestate(v_state_setting) then
      new.trace_state := v_state_setting;
    end if;
    return new;
  end if;
  if new.parent_run_id is not null then
    -- a continuation (of a sub-agent child too, which tg_runs__sub_agent gave its caller's
    -- caller_run_id): under the root span of the run it answers
    select * into v_from from everruns.runs where id = new.parent_run_id;
  elsif new.caller_run_id is not null then
    -- a sub-agent or workflow child, inserted by tg_runs__sub_agents_park when its caller parks:
    -- under the caller's step that started it, the wait step just committed (the cursor has moved
    -- past it; its output.start lists every child of the turn), found by its key; else (none) under
    -- the caller's root span
    select * into v_from from everruns.runs where id = new.caller_run_id;
    select s.seq, s.attempt into v_step from everruns.run_steps s
     where s.run_id = new.caller_run_id and s.seq = v_from.step_cursor - 1;
    if found then
      v_span := substr(encode(sha256(convert_to(new.caller_run_id::text || ':' || v_step.seq || ':' || v_step.attempt || ':attempt', 'UTF8')), 'hex'), 1, 16);
    end if;
  else
    return new;
  end if;
  if v_from.id is null then
    return new;
  end if;
  v_span := coalesce(v_span, substr(encode(sha256(convert_to(v_from.id::text || ':root', 'UTF8')), 'hex'), 1, 16));
  -- the trace flags (sampled or not) of the trace it continues, else sampled
  new.trace_parent := '00-' || coalesce(substr(v_from.trace_parent, 4, 32), replace(v_from.id::text, '-', '')) || '-' || v_span
                      || '-' || coalesce(substr(v_from.trace_parent, 54, 2), '01');
  -- the tracestate of the trace it continues, unchanged (null for a trace of its own)
  new.trace_state := v_from.trace_state;
  return new;
end;
$$;
comment on function everruns_private.tg_runs__trace_parent() is
  'Insert trigger of runs: a run inserted without trace_parent takes the transaction''s everruns.trace_parent setting when valid (and everruns.trace_state when valid), else continues the trace of the run that started it, its trace_state too; a trace_state without a trace_parent is dropped (000035, 000042).';
